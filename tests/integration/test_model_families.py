"""The transformer and cascade families served by the same worker on a real broker: every
record gets one verdict from the configured model, the cascade counts texts per stage, and a
running worker hot-reloads from a scikit-learn model to a transformer."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import orjson
import pytest

from consumer.contracts.messages import Verdict
from tests.conftest import labelled_texts
from tests.integration.conftest import RunWorker
from tests.kafka_helpers import produce, read_topic

pytestmark = pytest.mark.integration

COUNT = 600


def stage_count(metrics: bytes, stage: str) -> float:
    found = re.search(
        rf'content_classifier_model_stage_texts_total{{stage="{stage}"}} ([0-9.e+]+)'.encode(),
        metrics,
    )
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("family", ["transformer", "cascade"])
def test_a_worker_serves_every_record_with_the_model_family(
    bootstrap: str,
    run_worker: RunWorker,
    tiny_transformer_path: Path,
    tiny_cascade_path: Path,
    family: str,
) -> None:
    folder = tiny_transformer_path if family == "transformer" else tiny_cascade_path
    name = orjson.loads((folder / "manifest.json").read_bytes())["name"]
    worker = run_worker(partitions=2, model=folder, MODEL_THREADS="1", BATCH_MAX_MESSAGES="200")
    t = worker.topics
    rows = labelled_texts(COUNT, seed=21)
    records = [
        (f"k{i % 7}".encode(), orjson.dumps({"id": f"m{i}", "text": text}), None)
        for i, (text, _) in enumerate(rows)
    ]
    produce(bootstrap, t.input, records)
    out = read_topic(bootstrap, t.output, t.partitions, expect=COUNT)
    verdicts = [Verdict.model_validate_json(o.value or b"") for o in out]
    assert sorted(v.id for v in verdicts) == sorted(f"m{i}" for i in range(COUNT))
    assert {v.model.name for v in verdicts} == {name}
    assert all(v.action in {"allow", "review", "block"} for v in verdicts)
    status, metrics = worker.probe("/metrics")
    assert status == 200
    if family == "cascade":
        fast, routed = stage_count(metrics, "fast"), stage_count(metrics, "transformer")
        assert fast + routed == COUNT
        assert routed > 0
    else:
        assert stage_count(metrics, "fast") == 0
    assert worker.terminate()[0] == 0


def test_a_running_worker_reloads_from_scikit_learn_to_a_transformer(
    bootstrap: str,
    run_worker: RunWorker,
    tiny_model_path: Path,
    tiny_transformer_path: Path,
    tmp_path: Path,
) -> None:
    serving = tmp_path / "serving"
    shutil.copytree(tiny_model_path, serving)
    worker = run_worker(partitions=1, model=serving, MODEL_RELOAD_INTERVAL_S="0.5")
    t = worker.topics

    def names_of(batch: str, count: int, already: int) -> set[str]:
        produce(
            bootstrap,
            t.input,
            (
                (None, orjson.dumps({"id": f"{batch}{i}", "text": f"hello {i}"}), None)
                for i in range(count)
            ),
        )
        out = read_topic(bootstrap, t.output, t.partitions, expect=already + count)
        verdicts = [Verdict.model_validate_json(o.value or b"") for o in out]
        return {v.model.name for v in verdicts if v.id.startswith(batch)}

    assert names_of("a", 50, 0) == {"tiny"}
    # The transformer's files first, its manifest last: the watcher acts on the manifest.
    for name in ("model.onnx", "tokenizer.json", "MODEL_CARD.md", "manifest.json"):
        shutil.copy(tiny_transformer_path / name, serving / name)
    worker.wait_for_log("new model verified and warmed up")
    assert names_of("b", 50, 50) == {"tiny-transformer"}
    assert worker.terminate()[0] == 0
