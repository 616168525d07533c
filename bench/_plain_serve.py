"""`content-classifier serve` on asyncio and h11 instead of uvloop and httptools: the
baseline `bench.serve` compares the C loop and parser against. `uvicorn.run` is wrapped to
override the two choices `consumer.serve.main` makes; nothing else differs."""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

from consumer.cli import main

_run = uvicorn.run


def _plain(app: Any, **options: Any) -> None:
    _run(app, **{**options, "loop": "asyncio", "http": "h11"})


uvicorn.run = _plain
sys.argv = ["content-classifier", "serve"]
raise SystemExit(main())
