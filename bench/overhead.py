"""Where a worker's time goes per record: the model alone, then the same texts through a
worker in this process (real clients, the embedded broker), timed stage by stage.

    .venv/bin/python -m bench.overhead [--messages 60000]

The input is written before the worker starts; the first batch (group join, warm-up) is left
out. Stages are timed by wrapping the worker's own functions, so the figures include the
wrappers' cost (well under a microsecond a record). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, cast

from confluent_kafka import Consumer

import consumer.stream.inference as inference
import consumer.stream.worker as pipeline
from bench._inputs import encode_inputs, load_texts, produce_all, topics_for
from consumer.config.settings import load_settings
from consumer.devkit.broker import EMBEDDED_CLIENT_PROPERTIES, EmbeddedBroker
from consumer.devkit.harness import kafka_variables
from consumer.model.artifact import load_model
from consumer.stream import clients
from consumer.stream.clients import build_consumer, build_producer
from consumer.stream.collector import settle_collector
from consumer.stream.delivery import Delivery
from consumer.stream.inference import Inference

__all__ = ["main"]

STAGES = {
    "consume": "consume (librdkafka hands over the records)",
    "classify_isolating": "model + policy (`Classifier.classify`)",
    "handoff": "hand-off to the classify thread and back",
    "decode": "decode and validate",
    "verdict_values": "verdict JSON",
    "produce": "produce",
    "serve": "delivery reports, settle, commit",
    "_observe_latency": "latency histogram",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=60_000)
    args = parser.parse_args()
    count = args.messages
    texts, origin = load_texts(count, 11)
    spent: dict[str, float] = defaultdict(float)

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*a: Any, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*a, **k)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    with EmbeddedBroker() as broker:
        names = topics_for(broker.bootstrap_servers, 4)
        produce_all(broker.bootstrap_servers, names["INPUT_TOPIC"], encode_inputs(texts))
        os.environ.update(names, KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers)
        os.environ.update(kafka_variables(EMBEDDED_CLIENT_PROPERTIES))
        settings = load_settings()
        classifier = load_model(settings.model_path)
        batch = settings.batch_max_messages
        # The collector as `content-classifier run` sets it, for the model alone as well.
        settle_collector(batch)
        classifier.estimator.predict_proba(texts[:batch])
        started = time.perf_counter()
        for start in range(0, count, batch):
            classifier.estimator.predict_proba(texts[start : start + batch])
        alone = (time.perf_counter() - started) / count

        for module, name in (
            (inference, "classify_isolating"),
            (pipeline, "decode"),
            (pipeline, "verdict_values"),
        ):
            setattr(module, name, timed(name, getattr(module, name)))

        class TimedConsumer(Consumer):
            consume = timed("consume", Consumer.consume)

        clients.Consumer = TimedConsumer  # type: ignore[misc]
        worker = pipeline.Worker(
            settings,
            classifier,
            # confluent-kafka's stubs spell the loop's Protocols differently (as in
            # consumer/commands/worker.py).
            lambda **cb: cast(pipeline.ConsumerLike, build_consumer(settings, **cb)),
            lambda **cb: cast(pipeline.ProducerLike, build_producer(settings, **cb)),
        )
        # The worker's steps are built when it connects (in run): theirs are timed on the class.
        steps = ((Delivery, "produce"), (Delivery, "serve"), (Inference, "classify"))
        for owner, name in (*steps, (worker, "_observe_latency")):
            setattr(owner, name, timed(name, getattr(owner, name)))

        # This thread waits on events the worker's thread sets, never polling: a thread that
        # wakes up to check would take the GIL from the worker every few milliseconds.
        marks: dict[str, float] = {}
        begun, done = threading.Event(), threading.Event()
        process = worker.process

        def measured_process(records: Any) -> Any:
            result = process(records)
            if not begun.is_set():
                marks["first"] = worker.totals.records
                spent.clear()
                marks["started"] = time.perf_counter()
                begun.set()
            elif worker.totals.records >= count and not done.is_set():
                marks["ended"] = time.perf_counter()
                done.set()
            return result

        worker.process = measured_process  # type: ignore[method-assign]
        thread = threading.Thread(target=worker.run)
        thread.start()
        done.wait()
        first = int(marks["first"])
        per_record = (marks["ended"] - marks["started"]) / (count - first)
        worker.stop()
        thread.join()

    measured = count - first
    spent["handoff"] = spent["classify"] - spent["classify_isolating"]
    print(f"{measured:,} records ({origin}); batch {batch}; one process\n")
    print("| stage | microseconds a record |")
    print("|---|---|")
    print(f"| model alone: predict_proba, same texts and batch size | {alone * 1e6:.1f} |")
    for name, label in STAGES.items():
        print(f"| worker: {label} | {spent[name] / measured * 1e6:.1f} |")
    other = per_record - sum(spent[name] for name in STAGES) / measured
    print(f"| worker: everything else (the loop, batch bookkeeping) | {other * 1e6:.1f} |")
    print(f"| worker: total, wall clock | {per_record * 1e6:.1f} |")
    print(f"\nworker / model alone: {alone / per_record:.2f} x")


if __name__ == "__main__":
    main()
