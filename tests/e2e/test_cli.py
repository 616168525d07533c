"""The command line as a user runs it: subprocesses, real broker, real files."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from confluent_kafka.admin import AdminClient

from consumer.config.paths import default_model_path
from consumer.contracts.messages import Verdict
from consumer.devkit.harness import WorkerProcess
from tests.conftest import Topics, labelled_texts
from tests.kafka_helpers import REPO, produce, read_topic

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "consumer"]


def cli(
    *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CLI, *args], env=env, input=stdin, capture_output=True, timeout=300, cwd=cwd, check=False
    )


def test_console_script_and_module_both_run() -> None:
    script = Path(sys.executable).parent / "content-classifier"
    assert script.is_file(), "the console script is installed with the package"
    for command in ([str(script), "--help"], [*CLI, "--help"]):
        result = subprocess.run(command, capture_output=True, timeout=60, check=False)
        assert result.returncode == 0
        for sub in ("run", "train", "classify", "produce", "demo", "broker"):
            assert sub.encode() in result.stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BATCH_MAX_MESSAGES", "many"),
        ("SHUTDOWN_TIMEOUT_S", "-3"),
        ("KAFKA_NOT_A_REAL_PROPERTY", "1"),
        ("KAFKA_SESSION_TIMEOUT_MS", "soon"),
        ("KAFKA_ENABLE_AUTO_COMMIT", "true"),
    ],
)
def test_run_refuses_a_bad_setting_naming_the_variable(variable: str, value: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env[variable] = value
    result = cli("run", env=env)
    assert result.returncode == 2
    assert variable in result.stderr.decode()
    assert b"Traceback" not in result.stderr


def test_run_refuses_a_tampered_model(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(default_model_path(), folder)
    with (folder / "model.joblib").open("r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    env = {**os.environ, "MODEL_PATH": str(folder)}
    result = cli("run", env=env)
    assert result.returncode == 2
    assert "sha256 mismatch" in result.stderr.decode()


def test_sign_model_then_only_the_signed_model_runs_under_the_key(
    tmp_path: Path, tiny_model_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_path, folder)
    key = tmp_path / "signing-key"
    key.write_text("a-signing-key-from-a-mounted-secret\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "MODEL_SIGNING"))}
    signed_env = {**env, "MODEL_PATH": str(folder), "MODEL_SIGNING_KEY_FILE": str(key)}
    rows = b'{"id": "r1", "text": "how do I reset my card pin"}\n'

    unsigned = cli("classify", "-", env=signed_env, stdin=rows)
    assert unsigned.returncode == 2
    assert "not signed" in unsigned.stderr.decode()

    signed = cli("sign-model", str(folder), env=signed_env)
    assert signed.returncode == 0, signed.stderr.decode()
    assert (folder / "manifest.json.sig").is_file()
    assert b"a-signing-key" not in signed.stdout + signed.stderr
    result = cli("classify", "-", env=signed_env, stdin=rows)
    assert result.returncode == 0, result.stderr.decode()
    assert Verdict.model_validate_json(result.stdout).id == "r1"

    no_key = cli("sign-model", str(folder), env=env)
    assert no_key.returncode != 0 and "MODEL_SIGNING_KEY" in no_key.stderr.decode()


def test_train_then_classify_a_file(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    rows = ["text,label"] + [f'"{text}",{label}' for text, label in labelled_texts(400)]
    data.write_text("\n".join(rows) + "\n")
    folder = tmp_path / "my-model"
    result = cli("train", "--data", str(data), "--out", str(folder), "--name", "mine")
    assert result.returncode == 0, result.stderr.decode()
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    assert manifest["name"] == "mine" and manifest["labels"] == ["benign", "malicious"]

    rows_in = tmp_path / "in.jsonl"
    texts = labelled_texts(30, seed=5)
    lines = [orjson.dumps({"id": f"r{i}", "text": text}) for i, (text, _) in enumerate(texts)]
    rows_in.write_bytes(b"\n".join([*lines, b"{broken", b'{"text": ""}']) + b"\n")
    result = cli("classify", str(rows_in), "--model", str(folder))
    assert result.returncode == 0
    verdicts = [Verdict.model_validate_json(line) for line in result.stdout.splitlines()]
    assert [v.id for v in verdicts] == [f"r{i}" for i in range(30)]
    assert [v.label for v in verdicts] == [label for _, label in texts]
    assert {v.model.name for v in verdicts} == {"mine"}
    errors = result.stderr.decode()
    assert "row 31: decode" in errors and "row 32: validate" in errors

    strict = cli("classify", str(rows_in), "--model", str(folder), "--strict")
    assert strict.returncode == 1

    piped = cli(
        "classify", "-", env={**os.environ, "MODEL_PATH": str(folder)}, stdin=b"\n".join(lines)
    )
    assert piped.returncode == 0
    assert len(piped.stdout.splitlines()) == 30


def test_train_explains_a_bad_file(tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("words,kind\nhello,benign\n")
    result = cli("train", "--data", str(data), "--out", str(tmp_path / "m"))
    assert result.returncode != 0
    assert "text" in result.stderr.decode() and "label" in result.stderr.decode()


def test_broker_command_prints_a_working_address() -> None:
    process = subprocess.Popen(
        [*CLI, "broker", "--create-topics"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        address = process.stdout.readline().decode().strip()
        assert address.startswith("127.0.0.1:")
        topics = AdminClient({"bootstrap.servers": address}).list_topics(timeout=10).topics
        assert {"content.raw", "content.verdicts", "content.dlq"} <= set(topics)
        assert len(topics["content.raw"].partitions) == 4
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def test_produce_then_run_with_the_shipped_model(
    bootstrap: str,
    topics: Callable[..., Topics],
    worker_env: Callable[..., dict[str, str]],
    start_worker: Callable[[dict[str, str]], WorkerProcess],
    tmp_path: Path,
) -> None:
    t = topics(partitions=2)
    env = worker_env(t)
    del env["MODEL_PATH"]  # the shipped default model
    source = tmp_path / "content.jsonl"
    source.write_bytes(
        b"".join(
            orjson.dumps({"id": f"p{i}", "text": text}) + b"\n"
            for i, (text, _) in enumerate(labelled_texts(300))
        )
    )
    sent = cli("produce", str(source), "--quiet", env=env)
    assert sent.returncode == 0, sent.stderr.decode()
    assert f"sent 300 records to {t.input}".encode() in sent.stdout

    worker = start_worker(env)
    verdicts = read_topic(bootstrap, t.output, t.partitions, expect=300)
    assert sorted(Verdict.model_validate_json(v.value or b"").id for v in verdicts) == sorted(
        f"p{i}" for i in range(300)
    )
    parsed = [Verdict.model_validate_json(v.value or b"") for v in verdicts]
    assert {v.model.name for v in parsed} == {"malicious-content"}
    # Every verdict names the kinds of harm and the language; a malicious one its kind.
    kinds = {"harmful_request", "hate_harassment", "prompt_injection"}
    assert all(v.categories is not None and set(v.categories) == kinds for v in parsed)
    assert all(v.language is not None for v in parsed)
    flagged = [v for v in parsed if v.label == "malicious"]
    assert flagged and all(v.category in kinds for v in flagged)
    assert all(v.category is None for v in parsed if v.label == "benign")
    code, _ = worker.terminate()
    assert code == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_worker_cleanly_within_the_timeout(
    bootstrap: str,
    topics: Callable[..., Topics],
    worker_env: Callable[..., dict[str, str]],
    start_worker: Callable[[dict[str, str]], WorkerProcess],
    sig: signal.Signals,
) -> None:
    t = topics(partitions=2)
    worker = start_worker(worker_env(t, SHUTDOWN_TIMEOUT_S="5"))
    worker.wait_for_event("partitions assigned")
    # Keep records flowing while the signal lands, so a batch is likely in flight.
    produce(
        bootstrap, t.input, ((None, orjson.dumps({"text": f"m{i}"}), None) for i in range(3000))
    )
    started = time.monotonic()
    worker.send_signal(sig)
    code = worker.wait(30)
    assert code == 0, worker.log()[-2000:]
    assert time.monotonic() - started < 5
    assert "worker stopped" in worker.log()


def test_a_worker_stopped_while_it_loads_its_model_exits_0(
    topics: Callable[..., Topics],
    worker_env: Callable[..., dict[str, str]],
    start_worker: Callable[[dict[str, str]], WorkerProcess],
) -> None:
    # The shipped model takes seconds to load: the signal lands before the loop starts.
    env = worker_env(topics(partitions=1), MODEL_PATH=str(default_model_path()))
    worker = start_worker(env)
    worker.wait_for_event("starting")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.log()[-2000:]
    assert "SIGTERM before the worker started" in worker.log()
    assert not worker.events("worker started")


def test_demo_runs_end_to_end_and_prints_its_summary(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    result = cli("demo", "--messages", "1500", env=env, cwd=tmp_path)
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()[-3000:]
    assert "accounted for    1503/1503" in out
    assert "dead letters     3" in out
    assert "worker exits     [0, 0]" in out
    accuracy = float(out.split("accuracy")[1].split()[0])
    assert accuracy > 0.8
    assert (tmp_path / "demo-output" / "worker-0.log").is_file()
    report = (tmp_path / "demo-output" / "report.md").read_text()
    assert "accounted for    1503/1503" in report
    assert (tmp_path / "demo-output" / "throughput-lag.png").stat().st_size > 10_000
    assert "consumed" in result.stderr.decode(), "live progress while it runs"
    # The quality loop: a shadow, moderators' feedback counted, the score distribution.
    assert "feedback exit    0" in out
    shadowed = re.search(r"shadow agreement (\S+) of (\S+) records", out)
    assert (
        shadowed and float(shadowed.group(1)) > 0.8 and int(shadowed.group(2).replace(",", "")) > 0
    )
    decisions = re.search(r"\((\w+); (\d+) decisions counted of (\d+) sent, 0 rejected\)", out)
    assert decisions and decisions.group(2) == decisions.group(3) and int(decisions.group(2)) > 0
    assert re.search(r"score drift      PSI per worker: \d", out)
    assert "## Verdict quality" in report
    assert (tmp_path / "demo-output" / "score-distribution.png").stat().st_size > 10_000


@pytest.mark.parametrize("fixture", ["tiny_transformer_path", "tiny_cascade_path"])
def test_classify_serves_the_transformer_and_cascade_families(
    tmp_path: Path, request: pytest.FixtureRequest, fixture: str
) -> None:
    folder: Path = request.getfixturevalue(fixture)
    rows_in = tmp_path / "in.jsonl"
    texts = labelled_texts(40, seed=9)
    lines = [orjson.dumps({"id": f"r{i}", "text": text}) for i, (text, _) in enumerate(texts)]
    rows_in.write_bytes(b"\n".join([*lines, b'{"text": ""}']) + b"\n")
    result = cli("classify", str(rows_in), "--model", str(folder))
    assert result.returncode == 0, result.stderr.decode()
    verdicts = [Verdict.model_validate_json(line) for line in result.stdout.splitlines()]
    assert [v.id for v in verdicts] == [f"r{i}" for i in range(40)]
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    assert {v.model.name for v in verdicts} == {manifest["name"]}
    assert "row 41: validate" in result.stderr.decode()
