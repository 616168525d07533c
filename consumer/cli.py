"""`content-classifier`: one entry point, one subcommand per job.

This module builds the parser from the command groups of `consumer.commands` (each holds its
commands' arguments next to their handlers) and dispatches; it turns the errors that mean bad
settings, files or data into a one-line message and exit 2. Nothing here or in the groups
imports a subpackage: `--help` and a bad argument load no model, client or training code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from consumer import __version__
from consumer.commands import (
    CommandGroup,
    Handler,
    classify,
    dev,
    feedback,
    serve,
    signing,
    topics,
    training,
    worker,
)

__all__ = ["build_parser", "main"]

EXIT_CONFIG = 2

#: The command groups, in the order `--help` lists their commands.
_GROUPS: tuple[CommandGroup, ...] = (
    worker,
    training,
    classify,
    serve,
    signing,
    topics,
    feedback,
    dev,
)


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and its options; `main` dispatches on `command`."""
    parser = argparse.ArgumentParser(
        prog="content-classifier",
        description="Classify content from a Kafka topic with a scikit-learn model.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in _GROUPS:
        group.register(sub)
    return parser


#: Error types that mean bad settings, files or data (a message and EXIT_CONFIG, no
#: traceback), by module: looked up only in modules already imported, because an exception
#: of such a type can only come from a loaded module, and `run` must not import the devkit
#: or the tools just to name their errors.
_REFUSALS = (
    ("consumer.config.settings", "SettingsError"),
    ("consumer.devkit.broker", "BrokerError"),
    ("consumer.tools.produce", "ProduceError"),
    ("consumer.tools.replay", "ReplayError"),
    ("consumer.tools.feedback_topics", "FeedbackError"),
)

#: The handler of each command of `build_parser()`.
_HANDLERS: dict[str, Handler] = {
    command: handler for group in _GROUPS for command, handler in group.HANDLERS.items()
}

#: Subpackages the container image leaves out (it holds only what `run` needs).
_OPTIONAL = ("consumer.training", "consumer.devkit")


def _loaded(module: str, name: str) -> tuple[type[BaseException], ...]:
    loaded = sys.modules.get(module)
    return (getattr(loaded, name),) if loaded is not None else ()


def _refusal(command: str, exc: Exception) -> str | None:
    """The one-line message for an error that means bad settings, files or data, or for a
    command whose code this installation leaves out; None for a bug (keep the traceback)."""
    if isinstance(exc, ModuleNotFoundError):
        if ".".join((exc.name or "").split(".")[:2]) not in _OPTIONAL:
            return None
        return f"{exc.name} is not part of this image: use the full package"
    if isinstance(exc, _loaded("consumer.model.artifact", "ModelArtifactError")):
        return f"model refused: {exc}"
    refusals: tuple[type[BaseException], ...] = (FileNotFoundError,)
    for module, name in _REFUSALS:
        refusals += _loaded(module, name)
    if isinstance(exc, refusals) or (
        isinstance(exc, ValueError)
        and command in {"train", "evaluate", "classify", "replay-dlq", "export-feedback"}
    ):
        return str(exc)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(_HANDLERS[args.command](args))
    except Exception as exc:
        message = _refusal(args.command, exc)
        if message is None:
            raise
        print(f"content-classifier {args.command}: {message}", file=sys.stderr)
        return EXIT_CONFIG
