"""Hot reload on a running worker: a new model serves from the next batch; a bad one never does."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from consumer.contracts.messages import Verdict
from consumer.training.file_model import train_file
from tests.integration.conftest import RunWorker
from tests.kafka_helpers import produce, read_topic

pytestmark = pytest.mark.integration


def test_a_running_worker_switches_to_a_new_model_and_refuses_a_bad_one(
    bootstrap: str,
    run_worker: RunWorker,
    tiny_model_path: Path,
    tmp_path: Path,
) -> None:
    serving = tmp_path / "serving"
    shutil.copytree(tiny_model_path, serving)
    next_version = train_file(
        tiny_model_path.parent / "train.jsonl",  # the data the session's tiny model used
        tmp_path / "next",
        name="tiny",
        version="10.0.0",
    )
    worker = run_worker(partitions=2, model=serving, MODEL_RELOAD_INTERVAL_S="0.5")
    t = worker.topics

    def versions_of(batch: str, count: int, already: int) -> set[str]:
        records = (
            (None, orjson.dumps({"id": f"{batch}{i}", "text": f"hello {i}"}), None)
            for i in range(count)
        )
        produce(bootstrap, t.input, records)
        out = read_topic(bootstrap, t.output, t.partitions, expect=already + count)
        verdicts = [Verdict.model_validate_json(o.value or b"") for o in out]
        return {v.model.version for v in verdicts if v.id.startswith(batch)}

    assert versions_of("a", 100, 0) == {"9.9.9"}

    shutil.copy(next_version / "model.joblib", serving / "model.joblib")
    shutil.copy(next_version / "manifest.json", serving / "manifest.json")
    worker.wait_for_log("new model verified and warmed up")
    assert versions_of("b", 100, 100) == {"10.0.0"}
    assert '"model switched"' in worker.log()

    manifest = orjson.loads((serving / "manifest.json").read_bytes())
    manifest.update(version="11.0.0", sha256="f" * 64)
    (serving / "manifest.json").write_bytes(orjson.dumps(manifest))
    worker.wait_for_log("new model refused")
    assert versions_of("c", 100, 200) == {"10.0.0"}, "the old model keeps serving"
    assert worker.returncode is None
    status, metrics = worker.probe("/metrics")
    assert status == 200
    assert b'content_classifier_model_reloads_total{result="refused"} 1.0' in metrics
    assert b'version="10.0.0"' in metrics
    assert worker.terminate()[0] == 0
