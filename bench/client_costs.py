"""What confluent-kafka itself costs per message on the worker's thread, on the embedded
broker: `produce` with and without a delivery callback, `produce_batch`, and serving the
delivery reports in `poll` with a Python callback, with none, and with
`delivery.report.only.error` (confluent-kafka then skips the Python call for a success).

    .venv/bin/python -m bench.client_costs [--rounds 3]

Verdict-sized values (about 400 bytes), 500 a batch as the worker produces them; each batch
is given 20 ms to be acknowledged before its reports are served, so `poll` only serves.
Prints the median of the rounds in microseconds a message.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import orjson
from confluent_kafka import Producer

from consumer.devkit.broker import EmbeddedBroker, create_topics

__all__ = ["main"]

BATCH = 500
BATCHES = 40


class Counting:
    """A batch's delivery callback as the worker's (`acks.Batch.report`): one decrement."""

    pending = 0

    def report(self, error: Any, message: Any) -> None:
        if error is None:
            self.pending -= 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    values = [
        orjson.dumps({"id": f"m{i}", "label": "benign", "score": 0.97, "pad": "x" * 330})
        for i in range(BATCH)
    ]
    keys = [f"k{i % 64}".encode() for i in range(BATCH)]
    produce_us: dict[str, list[float]] = defaultdict(list)
    serve_us: dict[str, list[float]] = defaultdict(list)
    with EmbeddedBroker() as broker:
        create_topics(broker.bootstrap_servers, [("out", 4)])
        config = {
            "bootstrap.servers": broker.bootstrap_servers,
            "linger.ms": 5,
            "compression.type": "lz4",
            "enable.idempotence": True,
            "acks": "all",
        }
        plain = Producer(config)
        only_errors = Producer({**config, "delivery.report.only.error": True})
        for producer in (plain, only_errors):
            producer.produce("out", b"warm-up")
            producer.flush(10)
        report = Counting().report

        def positional(producer: Producer, callback: Callable[..., None] | None) -> None:
            produce = producer.produce
            if callback is None:
                for value, key in zip(values, keys, strict=True):
                    produce("out", value, key, -1)
            else:
                for value, key in zip(values, keys, strict=True):
                    produce("out", value, key, -1, callback)

        def batch(producer: Producer, callback: Callable[..., None] | None) -> None:
            messages = [{"value": v, "key": k} for v, k in zip(values, keys, strict=True)]
            producer.produce_batch("out", messages, on_delivery=callback)

        variants: list[tuple[str, Producer, Callable[..., None], Callable[..., None] | None]] = [
            ("produce, Python callback", plain, positional, report),
            ("produce, no callback", plain, positional, None),
            ("produce_batch, Python callback", plain, batch, report),
            (
                "produce, Python callback, delivery.report.only.error",
                only_errors,
                positional,
                report,
            ),
        ]
        for _ in range(args.rounds):
            for name, producer, send, callback in variants:
                sent = served = 0.0
                for _ in range(BATCHES):
                    started = time.perf_counter()
                    send(producer, callback)
                    sent += time.perf_counter() - started
                    time.sleep(0.02)
                    started = time.perf_counter()
                    producer.poll(0)
                    served += time.perf_counter() - started
                producer.flush(30)
                produce_us[name].append(sent / (BATCH * BATCHES) * 1e6)
                serve_us[name].append(served / (BATCH * BATCHES) * 1e6)
    print("| per message | produce us | serve the delivery report us |")
    print("|---|---|---|")
    for name in produce_us:
        print(
            f"| {name} | {statistics.median(produce_us[name]):.2f} "
            f"| {statistics.median(serve_us[name]):.2f} |"
        )


if __name__ == "__main__":
    main()
