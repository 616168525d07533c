"""The worker's own per-record cost, without the model and without Kafka's produce:
`Worker.process` on real confluent-kafka records (read once from the embedded broker), with
an estimator that answers fixed probabilities at once and a producer that reports every
delivery as it is produced. What is left is decode, the policy, verdict JSON, the batch
bookkeeping and the metrics: the part of a worker's time that is this package's own code.

    .venv/bin/python -m bench.hot_path [--batch 500] [--rounds 7]

Prints the fastest and the median round in microseconds a record (the fastest is the
least disturbed by other work on the machine), for three variants in one invocation: records
without headers; records with a W3C trace context and a correlation id that each verdict
carries (CARRY_HEADERS); and those again with a span per batch (OpenTelemetry's SDK with its
batch processor and an exporter that drops the spans: the cost of tracing on, without the
network).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from confluent_kafka import Consumer, TopicPartition
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from bench._inputs import encode_inputs, load_texts, produce_all
from consumer.config.settings import Settings
from consumer.devkit.broker import EmbeddedBroker, create_topics
from consumer.model.artifact import load_model
from consumer.stream.collector import settle_collector
from consumer.stream.tracing import NO_TRACING, BatchTracing, OtelTracing
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
    trace: list[tuple[str, str | bytes | None]] = [
        ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ("tracestate", b"vendor=value"),
        ("x-correlation-id", b"9f1c4a52-7d7e-4d3c-9a7e-1f0b8c2d3e4f"),
    ]
    with EmbeddedBroker() as broker:
        create_topics(broker.bootstrap_servers, [("in", 4), ("traced", 4)])
        produce_all(broker.bootstrap_servers, "in", encode_inputs(texts))
        produce_all(broker.bootstrap_servers, "traced", encode_inputs(texts), trace)
        plain = read_records(broker.bootstrap_servers, "in", args.batch)
        traced = read_records(broker.bootstrap_servers, "traced", args.batch)
    settle_collector(args.batch)  # as `content-classifier run` does
    variants = [
        ("no headers, tracing off", "in", plain, NO_TRACING),
        ("trace context carried, tracing off", "traced", traced, NO_TRACING),
        ("trace context carried, span per batch", "traced", traced, span_per_batch("traced")),
    ]
    results = []
    for name, topic, records, tracing in variants:
        fastest, median = measure(topic, records, tracing, args)
        results.append(fastest)
        print(
            f"Worker.process without the model or Kafka's produce, {len(records)} records a "
            f"batch, {name}: fastest round {fastest:.2f} us a record, median {median:.2f} "
            f"({fastest / results[0]:.2f}x the first)"
        )


def read_records(bootstrap: str, topic: str, count: int) -> list[Any]:
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"hot-path-{topic}"})
    reader.assign([TopicPartition(topic, p, 0) for p in range(4)])
    records: list[Any] = []
    while len(records) < count:
        records += [m for m in reader.consume(count, 1.0) if not m.error()]
    reader.close()
    return records


class DropSpans(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def span_per_batch(topic: str) -> OtelTracing:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropSpans()))
    return OtelTracing(provider, topic)


def measure(
    topic: str, records: list[Any], tracing: BatchTracing, args: argparse.Namespace
) -> tuple[float, float]:
    """The fastest and the median round, in microseconds a record."""
    settings = Settings(
        input_topic=topic, batch_max_messages=args.batch, carry_headers="x-correlation-id"
    )
    classifier = dataclasses.replace(
        load_model(settings.model_path), estimator=FixedAnswers(args.batch)
    )
    consumer, producer = CommitNothing(), AcknowledgingProducer()
    worker = Worker(
        settings,
        classifier,
        lambda **_: consumer,  # type: ignore[arg-type]
        lambda **_: producer,
        tracing=tracing,
    )
    worker.connect()
    worker.rebalance.on_assign(None, [TopicPartition(topic, p) for p in range(4)])
    for _ in range(20):
        worker.process(records)
    rounds = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        for _ in range(args.calls):
            worker.process(records)
        rounds.append((time.perf_counter() - started) / (args.calls * len(records)) * 1e6)
    rounds.sort()
    tracing.shutdown()
    return rounds[0], rounds[len(rounds) // 2]


if __name__ == "__main__":
    main()
