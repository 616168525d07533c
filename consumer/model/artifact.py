"""Model artifacts: a folder with `model.joblib`, `manifest.json` and `MODEL_CARD.md`.

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import orjson
import sklearn
from pydantic import SecretStr

from consumer.model.classifier import Classifier, Policy, ProbabilisticModel

__all__ = [
    "MANIFEST_NAME",
    "SIGNATURE_NAME",
    "ModelArtifactError",
    "SigningKey",
    "load_model",
    "save_model",
    "sha256_of",
    "sign_manifest",
    "signature_of",
]

MANIFEST_NAME = "manifest.json"
MODEL_FILE = "model.joblib"
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
    manifest_path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise ModelArtifactError(f"model folder {folder} does not exist (set MODEL_PATH)")
    if not manifest_path.is_file():
        raise ModelArtifactError(f"model folder {folder} has no {MANIFEST_NAME}")
    manifest_bytes = manifest_path.read_bytes()
    if signing_key is not None:
        _verify_signature(folder, manifest_bytes, signing_key)
    try:
        manifest = orjson.loads(manifest_bytes)
    except orjson.JSONDecodeError as exc:
        raise ModelArtifactError(f"{manifest_path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise ModelArtifactError(f"{manifest_path} is not a JSON object")
    for key in ("name", "version", "labels", "sha256", "sklearn_version"):
        if key not in manifest:
            raise ModelArtifactError(f"{manifest_path} has no {key!r}")
    return manifest


def _artifact_file(folder: Path, manifest: dict[str, Any]) -> Path:
    """The model file the manifest names; it must lie inside the model folder."""
    name = manifest.get("file", MODEL_FILE)
    root = folder.resolve()
    path = (root / str(name)).resolve()
    if root not in path.parents:
        raise ModelArtifactError(
            f"manifest names {name!r}, which lies outside the model folder {folder}"
        )
    if not path.is_file():
        raise ModelArtifactError(f"model file {path} does not exist")
    return path


def load_model(folder: Path | str, *, signing_key: SigningKey | None = None) -> Classifier:
    """Verify and load a model folder. Raises `ModelArtifactError` before unpickling on any
    mismatch of signature (with a `signing_key`), sha256, location or scikit-learn version."""
    folder = Path(folder)
    manifest = _read_manifest(folder, signing_key)
    path = _artifact_file(folder, manifest)
    built_with = str(manifest["sklearn_version"])
    if built_with != sklearn.__version__:
        raise ModelArtifactError(
            f"model {folder} was built with scikit-learn {built_with}, "
            f"this worker runs {sklearn.__version__}: retrain it or install that version"
        )
    # Hash and unpickle the same bytes: a file replaced after the check is never loaded.
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(actual, str(manifest["sha256"])):
        raise ModelArtifactError(
            f"sha256 mismatch for {path}: manifest says {manifest['sha256']}, file is {actual}; "
            "refusing to unpickle a file that is not the one the manifest describes"
        )
    estimator = joblib.load(io.BytesIO(data))
    labels = tuple(str(label) for label in manifest["labels"])
    classes = tuple(str(c) for c in getattr(estimator, "classes_", ()))
    if classes != labels:
        raise ModelArtifactError(f"manifest labels {labels} differ from the model's {classes}")
    return Classifier(
        name=str(manifest["name"]),
        version=str(manifest["version"]),
        labels=labels,
        policy=Policy.from_manifest(manifest.get("policy")),
        estimator=estimator,
        manifest=manifest,
    )


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
        "name": name,
        "version": version,
        "labels": [str(c) for c in estimator.classes_],
        "file": MODEL_FILE,
        "sha256": sha256_of(path),
        "sklearn_version": sklearn.__version__,
        "policy": (policy or Policy()).to_manifest(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    (folder / MANIFEST_NAME).write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    if model_card is not None:
        (folder / "MODEL_CARD.md").write_text(model_card, encoding="utf-8")
    if signing_key is not None:
        sign_manifest(folder, signing_key)
    return folder
