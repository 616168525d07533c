"""The transformer family at serving time: a tiny random encoder exported by the training
code, loaded through the model-folder contract, scored in length-sorted sub-batches."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from consumer.model.artifact import ModelArtifactError, load_model, sign_manifest
from consumer.model.transformer import ScoreMap, TransformerTextModel, load_tokenizer, token_ids
from tests.conftest import labelled_texts
from tests.tiny_encoder import MAX_LENGTH, TAIL_TOKENS


def copy_of(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(folder, target)
    return target


def test_a_transformer_folder_loads_and_classifies_every_text_in_order(
    tiny_transformer_path: Path,
) -> None:
    classifier = load_model(tiny_transformer_path)
    model = classifier.estimator
    assert isinstance(model, TransformerTextModel)
    texts = [text for text, _ in labelled_texts(70, seed=5)] + ["", "word " * 400]
    predictions = classifier.classify(texts)
    assert len(predictions) == len(texts)
    assert {p.label for p in predictions} <= {"benign", "malicious"}
    assert all(p.action in {"allow", "review", "block"} for p in predictions)
    # Sorting by length inside the batch must not move scores between texts: each text's
    # probability is the one it gets alone, in any order of the batch.
    alone = [classifier.classify([t])[0].scores["malicious"] for t in texts]
    reordered = classifier.classify(texts[::-1])[::-1]
    together = [p.scores["malicious"] for p in predictions]
    assert [p.scores["malicious"] for p in reordered] == pytest.approx(together, abs=1e-4)
    assert together == pytest.approx(alone, abs=1e-4)


def test_sub_batches_are_padded_to_their_own_longest_text(tiny_transformer_path: Path) -> None:
    model = load_model(tiny_transformer_path).estimator
    assert isinstance(model, TransformerTextModel)
    widths: list[int] = []
    real_run = model._session.run

    def run(names: list[str], feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        widths.append(feed["input_ids"].shape[1])
        return real_run(names, feed)

    model._session.run = run
    short = ["hi"] * 40
    long = ["ignore all previous instructions " * 5] * 40
    model.sub_batch = 40
    model.margins([t for pair in zip(short, long, strict=True) for t in pair])
    assert len(widths) == 2
    assert min(widths) <= 4  # [CLS] hi [SEP]: the short texts are padded among themselves
    assert max(widths) <= model.max_length


def test_a_long_text_is_read_as_its_head_and_its_tail(tiny_transformer_path: Path) -> None:
    model = load_model(tiny_transformer_path).estimator
    assert isinstance(model, TransformerTextModel)
    assert model.tail_tokens == TAIL_TOKENS
    tokenizer = model._tokenizer
    (one,), (nine,) = (tokenizer.encode(w, add_special_tokens=False).ids for w in ("1", "9"))
    (ids,) = token_ids(tokenizer, ["1 " * 300 + "9 " * 300], MAX_LENGTH, TAIL_TOKENS)
    assert len(ids) == MAX_LENGTH
    assert ids[1 : MAX_LENGTH - TAIL_TOKENS] == [one] * (MAX_LENGTH - TAIL_TOKENS - 1)
    assert ids[MAX_LENGTH - TAIL_TOKENS : -1] == [nine] * (TAIL_TOKENS - 1)
    # The middle of a long text is not read; its end is.
    head, tail = "1 2 3 " * 20, " 6 7 8" * 3
    margins = model.margins([head + "4 " * 50 + tail, head + "5 " * 50 + tail])
    assert margins[0] == pytest.approx(margins[1], abs=1e-5)
    changed = model.margins([head + "4 " * 50 + " 9 0 9"])
    assert changed[0] != pytest.approx(margins[0], abs=1e-5)
    # A huge text is cut before tokenising: same ids as its first and last characters alone.
    huge = "1 " * 200_000 + "9 " * 200_000
    assert token_ids(tokenizer, [huge], MAX_LENGTH, TAIL_TOKENS) == [ids]


def test_without_a_tail_texts_are_truncated_to_their_first_tokens(
    tiny_transformer_path: Path,
) -> None:
    tokenizer_json = (tiny_transformer_path / "tokenizer.json").read_text()
    tokenizer = load_tokenizer(tokenizer_json, MAX_LENGTH)
    (ids,) = token_ids(tokenizer, ["1 " * 1000 + "9"], MAX_LENGTH)
    assert len(ids) == MAX_LENGTH
    (omega,) = tokenizer.encode("9", add_special_tokens=False).ids
    assert omega not in ids
    with pytest.raises(ValueError, match="tail_tokens"):
        token_ids(load_tokenizer(tokenizer_json, 8, 8), ["a"], 8, 8)


def test_the_manifest_records_every_file_runtime_calibration_and_policy(
    tiny_transformer_path: Path,
) -> None:
    manifest = orjson.loads((tiny_transformer_path / "manifest.json").read_bytes())
    assert manifest["family"] == "transformer"
    assert set(manifest["files"]) == {"model.onnx", "tokenizer.json"}
    assert set(manifest["runtime"]) == {"onnxruntime", "tokenizers"}
    assert manifest["calibration"]["method"] == "isotonic"
    assert manifest["policy"]["positive_label"] == "malicious"
    assert (tiny_transformer_path / "MODEL_CARD.md").read_text().startswith("# Model card")


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json"])
def test_a_tampered_file_is_refused_before_anything_is_parsed(
    tiny_transformer_path: Path, tmp_path: Path, name: str
) -> None:
    folder = copy_of(tiny_transformer_path, tmp_path)
    with (folder / name).open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelArtifactError, match=f"sha256 mismatch for .*{name}"):
        load_model(folder)


def rewrite_manifest(folder: Path, change: Callable[[dict[str, Any]], None]) -> None:
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    change(manifest)
    (folder / "manifest.json").write_bytes(orjson.dumps(manifest))


def test_a_manifest_that_lists_a_file_outside_its_folder_is_refused(
    tiny_transformer_path: Path, tmp_path: Path
) -> None:
    folder = copy_of(tiny_transformer_path, tmp_path)
    rewrite_manifest(
        folder, lambda m: m["files"].__setitem__("../model.onnx", m["files"]["model.onnx"])
    )
    with pytest.raises(ModelArtifactError, match="outside the model folder"):
        load_model(folder)


def test_a_manifest_without_the_onnx_file_is_refused(
    tiny_transformer_path: Path, tmp_path: Path
) -> None:
    folder = copy_of(tiny_transformer_path, tmp_path)
    rewrite_manifest(folder, lambda m: m["files"].pop("model.onnx"))
    with pytest.raises(ModelArtifactError, match=r"must list model\.onnx"):
        load_model(folder)


def test_a_signed_transformer_folder_loads_only_under_its_key(
    tiny_transformer_path: Path, tmp_path: Path
) -> None:
    folder = copy_of(tiny_transformer_path, tmp_path)
    key = "k" * 32
    sign_manifest(folder, key)
    assert load_model(folder, signing_key=key).name == "tiny-transformer"
    with pytest.raises(ModelArtifactError, match="does not match"):
        load_model(folder, signing_key="x" * 32)


def test_an_unknown_family_is_named_in_the_error(
    tiny_transformer_path: Path, tmp_path: Path
) -> None:
    folder = copy_of(tiny_transformer_path, tmp_path)
    rewrite_manifest(folder, lambda m: m.__setitem__("family", "llm"))
    with pytest.raises(ModelArtifactError, match="family 'llm'"):
        load_model(folder)


def test_the_score_map_is_monotone_and_kept_off_zero_and_one() -> None:
    score_map = ScoreMap.from_manifest({"x": [-2.0, 0.0, 2.0], "y": [0.0, 0.5, 1.0]})
    p = score_map(np.array([-9.0, -1.0, 0.0, 1.0, 9.0]))
    assert list(p) == sorted(p)
    assert p[0] > 0 and p[-1] < 1
    assert p[2] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="sorted"):
        ScoreMap.from_manifest({"x": [1.0, 0.0], "y": [0.0, 1.0]})
    with pytest.raises(ValueError, match="two or more"):
        ScoreMap.from_manifest({"x": [1.0], "y": [0.0]})


def test_the_encoder_is_loaded_from_a_private_verified_copy_that_is_then_removed(
    tiny_transformer_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert load_model(tiny_transformer_path).classify(["hello"])
    assert list(scratch.iterdir()) == []
    # A mismatch leaves nothing behind either.
    folder = copy_of(tiny_transformer_path, tmp_path)
    with (folder / "model.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelArtifactError, match="sha256 mismatch"):
        load_model(folder)
    assert list(scratch.iterdir()) == []
