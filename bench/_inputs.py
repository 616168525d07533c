"""The benchmarks' input: labelled texts (or generated ones), encoded as the worker's input
records, written to fresh topics before the measured processes start, and read back."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from consumer.devkit.broker import create_topics

#: The repository's root: the measured processes run there (`python -m bench.baselines`).
REPO = Path(__file__).resolve().parents[1]

__all__ = ["REPO", "encode_inputs", "load_texts", "output_reader", "produce_all", "topics_for"]


def load_texts(count: int, seed: int) -> tuple[list[str], str]:
    """`count` texts (repeated if the data has fewer) and where they came from."""
    try:
        from consumer.training.datasets import default_data_root, load_all

        examples = load_all(default_data_root())
        origin = f"{len(examples):,} labelled texts from {default_data_root()}"
        texts = [e.text for e in examples if e.text.strip() and len(e.text) <= 10_000]
    except Exception as exc:  # no ../shared/data: generated texts, said so in the output
        origin = f"generated texts ({type(exc).__name__}: no labelled data)"
        rng = random.Random(seed)
        words = ["please", "help", "me", "reset", "my", "card", "ignore", "previous"]
        texts = [" ".join(rng.choices(words, k=rng.randint(4, 30))) for _ in range(count)]
    random.Random(seed).shuffle(texts)
    return (texts * (count // max(1, len(texts)) + 1))[:count], origin


def encode_inputs(texts: list[str]) -> list[tuple[bytes, bytes]]:
    return [
        (f"k{number % 64}".encode(), orjson.dumps({"id": f"m{number}", "text": text}))
        for number, text in enumerate(texts)
    ]


def produce_all(
    bootstrap: str,
    topic: str,
    records: list[tuple[bytes, bytes]],
    headers: list[tuple[str, str | bytes | None]] | None = None,
) -> None:
    """Produce every record (with the same `headers` each, when given) and wait for them."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True}
    )
    for key, value in records:
        while True:
            try:
                producer.produce(topic, key=key, value=value, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("the benchmark's input was not acknowledged")


def topics_for(bootstrap: str, partitions: int) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    names = {
        "INPUT_TOPIC": f"in-{suffix}",
        "OUTPUT_TOPIC": f"out-{suffix}",
        "DLQ_TOPIC": f"dlq-{suffix}",
        "GROUP_ID": f"group-{suffix}",
    }
    create_topics(
        bootstrap,
        [
            (names["INPUT_TOPIC"], partitions),
            (names["OUTPUT_TOPIC"], partitions),
            (names["DLQ_TOPIC"], 1),
        ],
    )
    return names


def output_reader(bootstrap: str, topic: str, partitions: int) -> Consumer:
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
            # Few, large fetches: each fetch of the embedded broker lists a partition's batches.
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
            "fetch.max.bytes": 64 * 1024 * 1024,
        }
    )
    reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    return reader
