"""The container image, checked without a Docker engine: hadolint on the Dockerfile, the shape
of the stages (slim Python 3.11 base, non-root user, exec-form entry point, health check, the
model baked in), the build context, the health check command against a real /healthz, and
that the image holds only what `run` needs: the subpackages `run` imports, not training or
devkit, whose commands then say they are not part of the image. (`make wheel-check` builds
and runs the build stage's wheel itself.)"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from consumer.stream.health import Health, HealthServer
from consumer.stream.metrics import Metrics
from tests.deploy.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, args in instructions():
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, args))
    return found


def arg_defaults() -> dict[str, str]:
    defaults: dict[str, str] = {}
    for keyword, args in instructions():
        if keyword == "ARG" and "=" in args:
            name, _, value = args.partition("=")
            defaults.setdefault(name, value)
    return defaults


def test_hadolint_is_clean(deploy_tools: Path) -> None:
    result = subprocess.run(
        [str(deploy_tools / "hadolint"), "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_refuses_an_image_that_ends_as_root(deploy_tools: Path, tmp_path: Path) -> None:
    """The lint above would catch a change that makes the worker run as root."""
    as_root = tmp_path / "Dockerfile"
    as_root.write_text(DOCKERFILE.read_text().replace("USER ${APP_UID}:${APP_UID}", "USER root"))
    result = subprocess.run(
        [str(deploy_tools / "hadolint"), "--failure-threshold", "style", str(as_root)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0 and "DL3002" in result.stdout, result.stdout


def test_multi_stage_on_slim_python_311() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2, "a build stage and a runtime stage"
    base = arg_defaults()["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", base), base
    for stage in all_stages:
        image = stage[0][1].split()[0]
        assert image in {"${PYTHON_IMAGE}", base}, f"unexpected base {image}"
    runtime = all_stages[-1]
    copies = [args for keyword, args in runtime if keyword == "COPY"]
    assert any(args.startswith("--from=build /opt/venv") for args in copies)
    runs = " ".join(args for keyword, args in runtime if keyword == "RUN")
    for tool in ("apt-get", "gcc", "build-essential", "pip install"):
        assert tool not in runs, f"{tool} in the final stage"


def test_runs_as_a_numeric_non_root_user() -> None:
    runtime = stages()[-1]
    (user,) = [args for keyword, args in runtime if keyword == "USER"]
    uid = user.split(":")[0]
    uid = arg_defaults().get(uid.strip("${}"), uid)
    assert uid.isdigit() and int(uid) >= 1000, "numeric, so runAsNonRoot can verify it"
    assert uid == "10001", "the chart's runAsUser"


def test_the_worker_user_owns_none_of_the_code_or_the_model() -> None:
    """Root owns what the image copies, so even a writable root file system would not let
    the worker change its own code or model."""
    for keyword, args in stages()[-1]:
        if keyword == "COPY":
            assert "--chown" not in args and "--chmod" not in args, args
        if keyword == "RUN":
            assert "chown" not in args and "chmod" not in args, args


def test_entrypoint_is_exec_form_and_runs_the_worker() -> None:
    runtime = stages()[-1]
    (entrypoint,) = [args for keyword, args in runtime if keyword == "ENTRYPOINT"]
    (cmd,) = [args for keyword, args in runtime if keyword == "CMD"]
    assert json.loads(entrypoint) == ["content-classifier"], "exec form: SIGTERM reaches it"
    assert json.loads(cmd) == ["run"]


def test_model_is_baked_in_and_overridable() -> None:
    runtime = stages()[-1]
    env = " ".join(args for keyword, args in runtime if keyword == "ENV")
    model_path = re.search(r"MODEL_PATH=(\S+)", env)
    assert model_path, "MODEL_PATH set, so a mounted folder can replace it"
    copies = [args.split() for keyword, args in runtime if keyword == "COPY"]
    assert ["models/malicious-content", model_path.group(1)] in copies
    for name in ("manifest.json", "model.joblib", "MODEL_CARD.md"):
        assert (ROOT / "models" / "malicious-content" / name).is_file()


def test_healthcheck_probes_healthz() -> None:
    runtime = stages()[-1]
    (check,) = [args for keyword, args in runtime if keyword == "HEALTHCHECK"]
    assert "--start-period" in check
    command = json.loads(check[check.index("CMD") + 3 :].strip())
    assert command[0] == "python" and "/healthz" in command[-1]


def healthcheck_command() -> list[str]:
    (check,) = [args for keyword, args in stages()[-1] if keyword == "HEALTHCHECK"]
    command: list[str] = json.loads(check[check.index("CMD") + 3 :].strip())
    return [sys.executable, *command[1:]]


def test_healthcheck_command_follows_the_worker_health(tmp_path: Path) -> None:
    health = Health(model_loaded=True, group_joined=True, broker_reachable=True)
    server = HealthServer(health, Metrics(), port=0, host="127.0.0.1").start()
    try:
        env = {**os.environ, "METRICS_PORT": str(server.port)}
        ok = subprocess.run(healthcheck_command(), env=env, capture_output=True, timeout=30)
        assert ok.returncode == 0, ok.stderr
        health.last_turn = time.monotonic() - 3600  # a hung loop: /healthz answers 503
        hung = subprocess.run(healthcheck_command(), env=env, capture_output=True, timeout=30)
        assert hung.returncode != 0
    finally:
        server.stop()


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore semantics, enough for these patterns: the last match wins."""
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.rstrip("/")
        candidates = [path] + [
            str(Path(*Path(path).parts[:i])) for i in range(1, len(Path(path).parts))
        ]
        if any(
            fnmatch.fnmatch(c, body) or fnmatch.fnmatch(c, body.replace("**/", "*/"))
            for c in candidates
        ):
            verdict = not negate
    return verdict


def test_dockerignore_keeps_the_context_small_and_complete() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "consumer/training/recipes.py",
        "consumer/training/lexicon.py",
        "consumer/devkit/broker.py",
        "consumer/devkit/demo.py",
        ".tools/deploy/helm",
        "tests/conftest.py",
        "demo-output/report.md",
        "models/banking-intents/model.joblib",
        "models/malicious-content/evaluation/report.json",
    ):
        assert ignored(path, patterns), f"{path} would be sent to the build"
    sources = []
    for keyword, args in instructions():
        if keyword == "COPY" and not args.startswith("--from"):
            sources += args.split()[:-1]
    for source in sources:
        matches = sorted(ROOT.glob(source))
        assert matches, f"{source} matches nothing"
        for match in matches:
            path = str(match.relative_to(ROOT))
            assert not ignored(path, patterns), f"{path} is copied but ignored"
    for path in (
        "consumer/cli.py",
        "consumer/stream/worker.py",
        "models/malicious-content/model.joblib",
        "pyproject.toml",
        "setup.py",
    ):
        assert not ignored(path, patterns), path


#: Subpackages the image leaves out, and the operator tools it keeps but `run` never needs.
LEFT_OUT = ("consumer.training", "consumer.devkit")

#: `run` up to its first Kafka client: settings, the model (loaded, unpickled), the worker's
#: modules; an unknown librdkafka property then stops it with exit 2, no broker needed.
RUN_IMPORTS = """
import sys
from consumer.cli import main
code = main(["run"])
print("EXIT", code)
for module in sorted(m for m in sys.modules if m.startswith("consumer")):
    print(module)
"""


@pytest.fixture(scope="module")
def run_imports() -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "MODEL_PATH"}
    env.update(KAFKA_NO_SUCH_PROPERTY="1", PYTHONPATH=str(ROOT), METRICS_PORT="0")
    result = subprocess.run(
        [sys.executable, "-c", RUN_IMPORTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = result.stdout.splitlines()
    assert "EXIT 2" in lines, result.stdout + result.stderr
    assert '"model loaded"' in result.stdout + result.stderr, "got past model loading"
    return lines[lines.index("EXIT 2") + 1 :]


def build_sources() -> list[str]:
    """What the build stage copies from the context."""
    return [
        source
        for keyword, args in stages()[0]
        if keyword == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    ]


def test_run_imports_neither_training_nor_devkit_nor_tools(run_imports: list[str]) -> None:
    assert "consumer.stream.worker" in run_imports and "consumer.model.artifact" in run_imports
    for module in run_imports:
        assert not module.startswith((*LEFT_OUT, "consumer.tools")), module


def test_the_image_copies_what_run_imports_and_no_training_or_devkit(
    run_imports: list[str],
) -> None:
    sources = build_sources()
    packages = [s for s in sources if s.startswith("consumer")]
    assert "consumer" not in packages and "consumer/" not in packages, "the whole package"
    for source in packages:
        assert not source.startswith(("consumer/training", "consumer/devkit")), source
    copied = {str(p.relative_to(ROOT)) for s in packages for p in ROOT.glob(s)}
    for module in run_imports:
        parts = module.split(".")
        folder = "/".join(parts[:2])
        assert folder in copied or f"{folder}.py" in copied or len(parts) == 1, (
            f"run imports {module}, which the image does not copy"
        )
    assert "consumer/tools" in copied, "classify, produce and replay-dlq stay in the image"


#: A command whose code the image leaves out, run with that code absent.
LEFT_OUT_COMMAND = """
import sys
for name in {left_out!r}:
    sys.modules[name] = None  # the image has no such subpackage
from consumer.cli import main
sys.exit(main({argv!r}))
"""


@pytest.mark.parametrize(
    "argv",
    [["train", "--recipe", "default", "--out", "m"], ["evaluate", "--model", "m"], ["demo"],
     ["broker"]],
)  # fmt: skip
def test_commands_outside_the_image_say_so(argv: list[str], tmp_path: Path) -> None:
    code = LEFT_OUT_COMMAND.format(left_out=LEFT_OUT, argv=argv)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert f"content-classifier {argv[0]}: consumer." in result.stderr, result.stderr
    assert "is not part of this image: use the full package" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("name", ["pyproject.toml", "setup.py", "requirements.lock", "README.md"])
def test_build_inputs_exist(name: str) -> None:
    assert (ROOT / name).is_file()
