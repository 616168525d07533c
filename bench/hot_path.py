"""The worker's own per-record cost, without the model and without Kafka's produce:
`Worker.process` on real confluent-kafka records (read once from the embedded broker), with
an estimator that answers fixed probabilities at once and a producer that reports every
delivery as it is produced. What is left is decode, the policy, verdict JSON, the batch
bookkeeping and the metrics: the part of a worker's time that is this package's own code.

    .venv/bin/python -m bench.hot_path [--batch 500] [--rounds 7]

Prints the fastest and the median round in microseconds a record (the fastest is the
least disturbed by other work on the machine).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from confluent_kafka import Consumer, TopicPartition

from bench._inputs import encode_inputs, load_texts, produce_all
from consumer.config.settings import Settings
from consumer.devkit.broker import EmbeddedBroker, create_topics
from consumer.model.artifact import load_model
from consumer.stream.collector import settle_collector
from consumer.stream.worker import Worker

__all__ = ["main"]


class FixedAnswers:
    """An estimator that answers at once (the model's own time is not measured here)."""

    classes_ = ("benign", "malicious")

    def __init__(self, size: int) -> None:
        self.positive = np.random.default_rng(1).random(size)

    def predict_proba(self, texts: Sequence[str]) -> Any:
        p = self.positive[: len(texts)]
        return np.stack([1 - p, p], axis=1)


class AcknowledgingProducer:
    """Reports every verdict delivered as it is produced."""

    def __len__(self) -> int:
        return 0

    def produce(self, topic: str, *args: Any, **kwargs: Any) -> None:
        report = args[3] if len(args) > 3 else kwargs["on_delivery"]
        report(None, None)

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


class CommitNothing:
    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        pass

    def commit(self, **kwargs: Any) -> None:
        pass

    def pause(self, partitions: list[TopicPartition]) -> None:
        pass

    def resume(self, partitions: list[TopicPartition]) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=100, help="batches per round")
    args = parser.parse_args()
    texts, _ = load_texts(args.batch, 11)
    with EmbeddedBroker() as broker:
        create_topics(broker.bootstrap_servers, [("in", 4)])
        produce_all(broker.bootstrap_servers, "in", encode_inputs(texts))
        reader = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "hot-path"})
        reader.assign([TopicPartition("in", p, 0) for p in range(4)])
        records: list[Any] = []
        while len(records) < args.batch:
            records += [m for m in reader.consume(args.batch, 1.0) if not m.error()]
        reader.close()
    settings = Settings(input_topic="in", batch_max_messages=args.batch)
    classifier = dataclasses.replace(
        load_model(settings.model_path), estimator=FixedAnswers(args.batch)
    )
    consumer, producer = CommitNothing(), AcknowledgingProducer()
    worker = Worker(settings, classifier, lambda **_: consumer, lambda **_: producer)  # type: ignore[arg-type]
    worker.connect()
    worker.rebalance.on_assign(None, [TopicPartition("in", p) for p in range(4)])
    settle_collector(settings.batch_max_messages)  # as `content-classifier run` does
    for _ in range(20):
        worker.process(records)
    rounds = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        for _ in range(args.calls):
            worker.process(records)
        rounds.append((time.perf_counter() - started) / (args.calls * len(records)) * 1e6)
    rounds.sort()
    print(
        f"Worker.process without the model or Kafka's produce, {len(records)} records a batch: "
        f"fastest round {rounds[0]:.2f} us a record, median {rounds[len(rounds) // 2]:.2f}"
    )


if __name__ == "__main__":
    main()
