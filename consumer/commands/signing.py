"""`sign-model`: a model folder's manifest signed with MODEL_SIGNING_KEY."""

from __future__ import annotations

import argparse
from pathlib import Path

from consumer.commands import Handler

__all__ = ["HANDLERS", "register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sign = sub.add_parser(
        "sign-model",
        help="sign a model folder's manifest (manifest.json.sig) with MODEL_SIGNING_KEY",
    )
    sign.add_argument("model", help="model folder")


def _cmd_sign_model(args: argparse.Namespace) -> int:
    from consumer.config.settings import load_settings
    from consumer.model.artifact import load_model, sign_manifest

    key = load_settings().model_signing_key
    if key is None:
        raise SystemExit(
            "sign-model: set MODEL_SIGNING_KEY (or MODEL_SIGNING_KEY_FILE) to the signing key"
        )
    folder = Path(args.model)
    # Sign only what verifies: sha256 and scikit-learn version are checked first.
    load_model(folder)
    signature = sign_manifest(folder, key)
    load_model(folder, signing_key=key)
    print(f"wrote {signature}")
    return 0


HANDLERS: dict[str, Handler] = {
    "sign-model": _cmd_sign_model,
}
