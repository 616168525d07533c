"""`serve`: the model over HTTP (consumer.serve), settings from the environment."""

from __future__ import annotations

import argparse

from consumer.commands import Handler

__all__ = ["HANDLERS", "register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser(
        "serve",
        help="the model over HTTP: POST /v1/classify, /v1/explain, probes, metrics, and a page "
        "for analysts at / (settings SERVE_*)",
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    from consumer.config.logs import configure_logging
    from consumer.config.settings import load_settings
    from consumer.serve.main import serve

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return serve(settings)


HANDLERS: dict[str, Handler] = {
    "serve": _cmd_serve,
}
