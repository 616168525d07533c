"""The commands of `content-classifier`, one module per group.

Each module holds its commands' arguments (`register`, which adds their subparsers) next to
their handlers (`HANDLERS`, command name to handler); `consumer.cli` builds the parser from
the groups and dispatches. A handler imports what it runs when it runs: importing a group
loads no model, client or training code, so `--help` stays fast and the image, which has no
training or devkit code, can still parse every command.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Protocol

__all__ = ["CommandGroup", "Handler", "tally"]

#: A command's handler: the parsed arguments in, the exit code out.
Handler = Callable[[argparse.Namespace], int]


class CommandGroup(Protocol):
    """What `consumer.cli` needs of a group's module."""

    @property
    def HANDLERS(self) -> Mapping[str, Handler]: ...  # a module constant

    def register(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


def tally(counts: Mapping[str, int]) -> str:
    """`a=1, b=2` in key order, or `none`: the counts a command's summary line reports."""
    return ", ".join(f"{key}={n}" for key, n in sorted(counts.items())) or "none"
