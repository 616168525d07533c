"""`demo`, `broker` and `schemas`: the developer's commands (the embedded broker, the demo on
it, the contracts' JSON Schema files). The devkit is imported by the handlers only: the image
leaves it out."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from consumer.commands import Handler

__all__ = ["HANDLERS", "register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="the whole job on the embedded broker, with a summary")
    demo.add_argument("--messages", type=int, default=50_000)
    demo.add_argument("--workers", type=int, default=2)
    demo.add_argument("--seed", type=int, default=7)

    broker = sub.add_parser("broker", help="start the embedded broker and print its address")
    broker.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    broker.add_argument(
        "--create-topics", action="store_true", help="create the input, output and DLQ topics"
    )
    broker.add_argument("--partitions", type=int, default=4)

    schemas = sub.add_parser("schemas", help="write the JSON Schema files of the contracts")
    schemas.add_argument(
        "--out", help="folder (default: the checkout's schemas/, else ./schemas when installed)"
    )


def _cmd_broker(args: argparse.Namespace) -> int:
    from consumer.devkit.broker import EmbeddedBroker, create_topics

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with EmbeddedBroker(port=args.port) as broker:
        if args.create_topics:
            from consumer.config.settings import load_settings

            settings = load_settings(kafka_bootstrap_servers=broker.bootstrap_servers)
            create_topics(
                broker.bootstrap_servers,
                [
                    (settings.input_topic, args.partitions),
                    (settings.output_topic, args.partitions),
                    (settings.dlq_topic, 1),
                ],
            )
        print(broker.bootstrap_servers, flush=True)
        print(
            f"embedded broker on {broker.bootstrap_servers}; "
            f"export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers} "
            "KAFKA_SESSION_TIMEOUT_MS=6000; "
            "Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
        stop.wait()
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from consumer.devkit.demo import run_demo

    return run_demo(messages=args.messages, workers=args.workers, seed=args.seed)


def _cmd_schemas(args: argparse.Namespace) -> int:
    from consumer.contracts.schemas import write_schemas

    for path in write_schemas(Path(args.out) if args.out else None):
        print(path)
    return 0


HANDLERS: dict[str, Handler] = {
    "demo": _cmd_demo,
    "broker": _cmd_broker,
    "schemas": _cmd_schemas,
}
