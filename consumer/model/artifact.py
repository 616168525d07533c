"""Model artifacts: a folder with `manifest.json`, `MODEL_CARD.md` and the files of its family.

* `sklearn` (the default when a manifest names no family): `model.joblib`, a pickled
  scikit-learn estimator.
* `transformer`: `model.onnx` (an encoder with a binary head) and `tokenizer.json`, served by
  `consumer.model.transformer` with onnxruntime; the manifest's `files` maps each file to its
  sha256, and every one is checked before any is parsed.
* `cascade`: a folder holding a model folder per stage (`fast`, `transformer`) and a manifest
  that pins the sha256 of each stage's manifest, so one signature covers the whole tree.

joblib is pickle: unpickling an unverified file runs whatever code it carries. So loading
checks, before anything is unpickled, that the manifest names a file inside its own folder,
that the file's sha256 matches the manifest, and that the artifact was built with the
scikit-learn version installed here. Any mismatch raises `ModelArtifactError`.

The sha256 protects the model file only as far as the manifest can be trusted. Where the model
store is shared, a signing key (`MODEL_SIGNING_KEY`) makes the manifest itself trustworthy:
`manifest.json.sig` holds an HMAC-SHA256 of the manifest's exact bytes, and with a key
configured an unsigned or wrongly signed manifest is refused before anything else is read.
The bytes verified are the bytes used: the manifest is parsed, and the model unpickled, from
the very bytes that were checked, so a file swapped in between is never loaded.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import orjson
import sklearn
from pydantic import SecretStr

from consumer.model.classifier import Classifier, Policy, ProbabilisticModel
from consumer.quality.drift import ScoreBaseline

__all__ = [
    "CASCADE_FAMILY",
    "MANIFEST_NAME",
    "ONNX_FILE",
    "SIGNATURE_NAME",
    "SKLEARN_FAMILY",
    "TOKENIZER_FILE",
    "TRANSFORMER_FAMILY",
    "ModelArtifactError",
    "SigningKey",
    "load_model",
    "save_model",
    "sha256_of",
    "sign_manifest",
    "signature_of",
    "write_manifest",
]

MANIFEST_NAME = "manifest.json"
MODEL_FILE = "model.joblib"
ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
SKLEARN_FAMILY = "sklearn"
TRANSFORMER_FAMILY = "transformer"
CASCADE_FAMILY = "cascade"
CASCADE_STAGES = ("fast", "transformer")
# What a manifest must hold besides name, version and labels, by family.
_REQUIRED: dict[str, tuple[str, ...]] = {
    SKLEARN_FAMILY: ("sha256", "sklearn_version"),
    TRANSFORMER_FAMILY: ("files", "max_length"),
    CASCADE_FAMILY: ("stages", "routing"),
}
SIGNATURE_NAME = "manifest.json.sig"
_SIGNATURE_SCHEME = "hmac-sha256"

SigningKey = SecretStr | str | bytes


class ModelArtifactError(RuntimeError):
    """The model folder is missing, inconsistent or untrusted; nothing was unpickled."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _key_bytes(key: SigningKey) -> bytes:
    raw = key.get_secret_value() if isinstance(key, SecretStr) else key
    return raw.encode() if isinstance(raw, str) else raw


def signature_of(manifest_bytes: bytes, key: SigningKey) -> str:
    """The content of `manifest.json.sig`: `hmac-sha256:<hex>` of the manifest's bytes."""
    digest = hmac.new(_key_bytes(key), manifest_bytes, hashlib.sha256).hexdigest()
    return f"{_SIGNATURE_SCHEME}:{digest}"


def sign_manifest(folder: Path | str, key: SigningKey) -> Path:
    """Write `manifest.json.sig` for the manifest as it is now; returns its path."""
    folder = Path(folder)
    signature = folder / SIGNATURE_NAME
    tmp = folder / f".{SIGNATURE_NAME}.{os.getpid()}.tmp"
    tmp.write_text(signature_of((folder / MANIFEST_NAME).read_bytes(), key) + "\n")
    tmp.replace(signature)
    return signature


def _verify_signature(folder: Path, manifest_bytes: bytes, key: SigningKey) -> None:
    path = folder / SIGNATURE_NAME
    try:
        given = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise ModelArtifactError(
            f"model {folder} is not signed ({SIGNATURE_NAME} is missing) and MODEL_SIGNING_KEY "
            "is set: refusing an unsigned model; sign it with `content-classifier sign-model`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelArtifactError(f"cannot read {path}: {exc}") from None
    if not hmac.compare_digest(given.encode(), signature_of(manifest_bytes, key).encode()):
        raise ModelArtifactError(
            f"{path} does not match {MANIFEST_NAME} under MODEL_SIGNING_KEY: the manifest was "
            "changed after signing or signed with another key; refusing to load it"
        )


def _read_manifest(folder: Path, signing_key: SigningKey | None = None) -> dict[str, Any]:
    """The manifest, parsed from the very bytes whose signature was checked."""
    manifest_path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise ModelArtifactError(f"model folder {folder} does not exist (set MODEL_PATH)")
    if not manifest_path.is_file():
        raise ModelArtifactError(f"model folder {folder} has no {MANIFEST_NAME}")
    manifest_bytes = manifest_path.read_bytes()
    if signing_key is not None:
        _verify_signature(folder, manifest_bytes, signing_key)
    return _parse_manifest(manifest_path, manifest_bytes)


def _parse_manifest(manifest_path: Path, manifest_bytes: bytes) -> dict[str, Any]:
    try:
        manifest = orjson.loads(manifest_bytes)
    except orjson.JSONDecodeError as exc:
        raise ModelArtifactError(f"{manifest_path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise ModelArtifactError(f"{manifest_path} is not a JSON object")
    family = manifest.get("family", SKLEARN_FAMILY)
    if family not in _REQUIRED:
        raise ModelArtifactError(
            f"{manifest_path} names family {family!r}; this worker serves {sorted(_REQUIRED)}"
        )
    for key in ("name", "version", "labels", *_REQUIRED[family]):
        if key not in manifest:
            raise ModelArtifactError(f"{manifest_path} has no {key!r}")
    return manifest


def _inside(folder: Path, name: str) -> Path:
    """`folder/name`, which must lie inside `folder` and be a file."""
    root = folder.resolve()
    path = (root / name).resolve()
    if root not in path.parents:
        raise ModelArtifactError(
            f"manifest names {name!r}, which lies outside the model folder {folder}"
        )
    if not path.is_file():
        raise ModelArtifactError(f"model file {path} does not exist")
    return path


def _verified_bytes(folder: Path, name: str, expected: str) -> bytes:
    """The bytes of `folder/name` if their sha256 is `expected`. The bytes hashed are the
    bytes used: a file replaced after the check is never loaded."""
    path = _inside(folder, name)
    data = path.read_bytes()
    _check_sha256(path, hashlib.sha256(data).hexdigest(), expected)
    return data


def _check_sha256(path: Path, actual: str, expected: str) -> None:
    if not hmac.compare_digest(actual, str(expected)):
        raise ModelArtifactError(
            f"sha256 mismatch for {path}: manifest says {expected}, file is {actual}; "
            "refusing to load a file that is not the one the manifest describes"
        )


def _verified_copy(folder: Path, name: str, expected: str, into: Path) -> Path:
    """A private copy of `folder/name` in `into`, hashed as it is copied; refused unless its
    sha256 is `expected`. The copy is what gets loaded, so a file replaced after the check is
    never loaded, and the file is never held whole in Python's memory (onnxruntime reads it
    itself: about 100 MB less resident memory for a 90 MB encoder than loading from bytes)."""
    path = _inside(folder, name)
    target = into / path.name
    digest = hashlib.sha256()
    with path.open("rb") as source, target.open("wb") as copy:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
            copy.write(chunk)
    _check_sha256(path, digest.hexdigest(), expected)
    return target


def load_model(
    folder: Path | str, *, signing_key: SigningKey | None = None, threads: int = 0
) -> Classifier:
    """Verify and load a model folder of any family. Raises `ModelArtifactError` before
    anything is unpickled or parsed on any mismatch of signature (with a `signing_key`),
    sha256, location or library version. `threads` bounds an ONNX session (0: one per core)."""
    folder = Path(folder)
    manifest = _read_manifest(folder, signing_key)
    estimator = _load_estimator(folder, manifest, threads)
    labels = tuple(str(label) for label in manifest["labels"])
    classes = tuple(str(c) for c in getattr(estimator, "classes_", ()))
    if classes != labels:
        raise ModelArtifactError(f"manifest labels {labels} differ from the model's {classes}")
    categories = tuple(str(c) for c in manifest.get("categories") or ())
    known = tuple(str(c) for c in getattr(estimator, "categories_", ()))
    if categories != known:
        raise ModelArtifactError(
            f"manifest categories {categories} differ from the model's {known}"
        )
    return Classifier(
        name=str(manifest["name"]),
        version=str(manifest["version"]),
        labels=labels,
        policy=Policy.from_manifest(manifest.get("policy")),
        estimator=estimator,
        manifest=manifest,
        score_baseline=_score_baseline(folder, manifest),
        categories=categories,
        languages=tuple(str(language) for language in manifest.get("languages") or ()),
    )


def _score_baseline(folder: Path, manifest: dict[str, Any]) -> ScoreBaseline | None:
    """The manifest's training score distribution (drift is measured against it), if any."""
    data = manifest.get("score_baseline")
    if data is None:
        return None
    try:
        return ScoreBaseline.from_manifest(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelArtifactError(f"{folder / MANIFEST_NAME}: score_baseline: {exc}") from None


def _load_estimator(folder: Path, manifest: dict[str, Any], threads: int) -> ProbabilisticModel:
    family = manifest.get("family", SKLEARN_FAMILY)
    if family == TRANSFORMER_FAMILY:
        return _load_transformer(folder, manifest, threads)
    if family == CASCADE_FAMILY:
        return _load_cascade(folder, manifest, threads)
    return _load_sklearn(folder, manifest)


def _load_sklearn(folder: Path, manifest: dict[str, Any]) -> ProbabilisticModel:
    built_with = str(manifest["sklearn_version"])
    if built_with != sklearn.__version__:
        raise ModelArtifactError(
            f"model {folder} was built with scikit-learn {built_with}, "
            f"this worker runs {sklearn.__version__}: retrain it or install that version"
        )
    data = _verified_bytes(folder, str(manifest.get("file", MODEL_FILE)), manifest["sha256"])
    estimator: ProbabilisticModel = joblib.load(io.BytesIO(data))
    return estimator


def _load_transformer(folder: Path, manifest: dict[str, Any], threads: int) -> ProbabilisticModel:
    from consumer.model.transformer import ScoreMap, TransformerTextModel

    files = manifest["files"]
    if not isinstance(files, dict) or not {ONNX_FILE, TOKENIZER_FILE} <= set(files):
        raise ModelArtifactError(
            f"{folder / MANIFEST_NAME} must list {ONNX_FILE} and {TOKENIZER_FILE} in 'files'"
        )
    # Every file is checked before any is parsed; the encoder from a private verified copy
    # (in a fresh 0700 temporary folder, removed once onnxruntime has read it).
    with tempfile.TemporaryDirectory(prefix="content-classifier-model-") as private:
        onnx = _verified_copy(folder, ONNX_FILE, files[ONNX_FILE], Path(private))
        data = {
            name: _verified_bytes(folder, name, digest)
            for name, digest in files.items()
            if name != ONNX_FILE
        }
        try:
            calibration = manifest.get("calibration")
            return TransformerTextModel(
                onnx,
                data[TOKENIZER_FILE].decode("utf-8"),
                classes=[str(label) for label in manifest["labels"]],
                max_length=int(manifest["max_length"]),
                calibration=ScoreMap.from_manifest(calibration) if calibration else None,
                threads=threads,
                tail_tokens=int(manifest.get("tail_tokens", 0)),
                categories=[str(c) for c in manifest.get("categories") or ()],
            )
        except ImportError as exc:
            raise ModelArtifactError(f"model {folder}: {exc}") from None
        except Exception as exc:  # onnxruntime and tokenizers raise their own error types
            raise ModelArtifactError(f"model {folder} could not be loaded: {exc}") from None


def _load_cascade(folder: Path, manifest: dict[str, Any], threads: int) -> ProbabilisticModel:
    """Each stage is a model folder inside this one; this manifest pins the sha256 of each
    stage's manifest, which pins the stage's files, so one signature covers the cascade."""
    from consumer.model.cascade import Cascade, CascadeParams

    stages: dict[str, ProbabilisticModel] = {}
    for stage in CASCADE_STAGES:
        entry = manifest["stages"].get(stage) if isinstance(manifest["stages"], dict) else None
        if not isinstance(entry, dict) or "path" not in entry or "manifest_sha256" not in entry:
            raise ModelArtifactError(
                f"{folder / MANIFEST_NAME}: stage {stage!r} needs a path and a manifest_sha256"
            )
        stage_dir = _inside(folder, f"{entry['path']}/{MANIFEST_NAME}").parent
        stage_bytes = _verified_bytes(stage_dir, MANIFEST_NAME, entry["manifest_sha256"])
        stage_manifest = _parse_manifest(stage_dir / MANIFEST_NAME, stage_bytes)
        if stage_manifest.get("family", SKLEARN_FAMILY) == CASCADE_FAMILY:
            raise ModelArtifactError(f"stage {stage!r} of {folder} is itself a cascade")
        stages[stage] = _load_estimator(stage_dir, stage_manifest, threads)
    try:
        params = CascadeParams.from_manifest(manifest["routing"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelArtifactError(f"{folder / MANIFEST_NAME}: bad 'routing': {exc}") from None
    return Cascade(stages["fast"], stages["transformer"], params)


def save_model(
    folder: Path | str,
    estimator: ProbabilisticModel,
    *,
    name: str,
    version: str,
    policy: Policy | None = None,
    extra: dict[str, Any] | None = None,
    model_card: str | None = None,
    signing_key: SigningKey | None = None,
) -> Path:
    """Write `model.joblib`, `manifest.json` (with its sha256) and `MODEL_CARD.md`; with a
    `signing_key`, also `manifest.json.sig`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_FILE
    tmp = folder / f".{MODEL_FILE}.{os.getpid()}.tmp"
    joblib.dump(estimator, tmp, compress=3)
    tmp.replace(path)
    manifest: dict[str, Any] = {
        "labels": [str(c) for c in estimator.classes_],
        **_categories_of(estimator),
        "file": MODEL_FILE,
        "sha256": sha256_of(path),
        "sklearn_version": sklearn.__version__,
        **(extra or {}),
    }
    return write_manifest(
        folder,
        manifest,
        name=name,
        version=version,
        policy=policy,
        model_card=model_card,
        signing_key=signing_key,
    )


def write_manifest(
    folder: Path,
    manifest: dict[str, Any],
    *,
    name: str,
    version: str,
    policy: Policy | None = None,
    model_card: str | None = None,
    signing_key: SigningKey | None = None,
) -> Path:
    """Write `manifest.json` (name, version, policy, creation time and `manifest`), the model
    card and, with a `signing_key`, `manifest.json.sig`; the family's files are already in
    `folder` and their sha256 in `manifest`."""
    data: dict[str, Any] = {
        "name": name,
        "version": version,
        "policy": (policy or Policy()).to_manifest(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **manifest,
    }
    (folder / MANIFEST_NAME).write_bytes(
        orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    if model_card is not None:
        (folder / "MODEL_CARD.md").write_text(model_card, encoding="utf-8")
    if signing_key is not None:
        sign_manifest(folder, signing_key)
    return folder


def _categories_of(estimator: Any) -> dict[str, list[str]]:
    """The manifest's `categories`, for an estimator that scores kinds of harm."""
    categories = getattr(estimator, "categories_", None)
    return {} if categories is None else {"categories": [str(c) for c in categories]}
