"""The two baselines of `bench.stream`, run as processes with the worker's settings and its
librdkafka configuration (`consumer.stream.clients`):

- `passthrough`: consume a batch (BATCH_MAX_MESSAGES, BATCH_MAX_WAIT_MS), produce the same
  bytes, wait for acknowledgements, commit; no model (what the broker and client allow at
  all, and the broker's own share of the end-to-end latency). `--rate N` paces it to N
  records a second: the broker traffic of a worker at that rate, without the worker.
- `per-message`: poll one record, predict one, produce, commit: the consumer people write
  by hand.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time

import orjson
from confluent_kafka import Consumer, Producer

from consumer.config.settings import load_settings
from consumer.model.artifact import load_model
from consumer.stream.clients import consumer_config, producer_config

__all__ = ["main"]


def main(kind: str, rate: float | None = None) -> None:
    settings = load_settings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # `commit()` without offsets commits what was consumed: offsets are stored as consumed.
    consumer = Consumer({**consumer_config(settings), "enable.auto.offset.store": True})
    producer = Producer(producer_config(settings))
    # The benchmark starts its clock once the group has assigned the partitions.
    consumer.subscribe(
        [settings.input_topic],
        on_assign=lambda _consumer, _partitions: print("partitions assigned", flush=True),
    )
    wait_s = settings.batch_max_wait_ms / 1000
    try:
        if kind == "passthrough":
            forwarded, started = 0, 0.0
            while not stop.is_set():
                batch = [
                    m
                    for m in consumer.consume(settings.batch_max_messages, wait_s)
                    if not m.error()
                ]
                if not batch:
                    continue
                for message in batch:
                    producer.produce(
                        settings.output_topic, key=message.key(), value=message.value()
                    )
                producer.flush(30)
                consumer.commit(asynchronous=False)
                if rate:
                    started = started or time.monotonic()
                    forwarded += len(batch)
                    time.sleep(max(0.0, started + forwarded / rate - time.monotonic()))
        else:
            model = load_model(settings.model_path)
            while not stop.is_set():
                polled = consumer.poll(0.1)
                if polled is None or polled.error():
                    continue
                message = polled
                text = orjson.loads(message.value() or b"null")["text"]
                prediction = model.classify([text])[0]
                verdict = {"label": prediction.label, "score": prediction.score}
                producer.produce(
                    settings.output_topic, key=message.key(), value=orjson.dumps(verdict)
                )
                producer.flush(30)
                consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["passthrough", "per-message"])
    parser.add_argument("--rate", type=float, help="passthrough: records a second at most")
    args = parser.parse_args()
    main(args.kind, args.rate)
