"""The latency phase of `bench.stream`: one process with the input arriving at a steady rate
for a while; end-to-end latency percentiles (overall and per window) and RSS over time."""

from __future__ import annotations

import time
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from confluent_kafka import KafkaError, Message, Producer

from bench._inputs import output_reader, topics_for
from bench._measure import OtherLoad, memory_mb
from bench._throughput import STOP_TIMEOUT_S, launch

#: How long the group may take to assign the partitions before the phase gives up.
ASSIGNED_TIMEOUT_S = 600.0

__all__ = ["ASSIGNED_TIMEOUT_S", "Soak", "by_window", "percentiles", "soak"]


@dataclass
class Soak:
    rate: float
    seconds: float
    sent: int = 0
    received: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    p999_ms: float = 0.0
    max_ms: float = 0.0
    rss_mb: list[tuple[int, float]] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    #: CPU seconds per second that other users of the machine spent during the run.
    other_cores: float = 0.0
    #: (window start s, p50 ms, p99 ms) per window of the input's send time.
    windows: list[tuple[int, float, float]] = field(default_factory=list)
    #: The same from the input's acknowledgement by the broker instead of its produce call:
    #: without the time the input waited in its own producer (`linger.ms`).
    acked_p50_ms: float = 0.0
    acked_p95_ms: float = 0.0
    acked_p99_ms: float = 0.0
    acked_p999_ms: float = 0.0
    acked_max_ms: float = 0.0
    acked_windows: list[tuple[int, float, float]] = field(default_factory=list)


def soak(
    argv: Sequence[str],
    settings: Mapping[str, str],
    bootstrap: str,
    texts: list[str],
    partitions: int,
    rate: float,
    seconds: float,
    log_path: Path,
    other: OtherLoad,
    window_s: float = 60.0,
    linger_ms: int = 5,
) -> Soak:
    names = topics_for(bootstrap, partitions)
    worker = launch(argv, settings, bootstrap, names, log_path)
    result = Soak(round(rate), seconds)
    delays, acked_delays = array("d"), array("d")
    sent_at = array("q")
    #: Per input number: when the broker acknowledged it (ms since the epoch; 0: not yet).
    acked_ms = array("q", bytes(8 * (int(rate * seconds) + 1)))

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is None:  # the value starts with b'{"id":"m<number>-<sent ms>",'
            value = message.value() or b""
            acked_ms[int(value[8:].split(b"-", 1)[0])] = int(time.time() * 1000)

    def read() -> None:
        reader = output_reader(bootstrap, names["OUTPUT_TOPIC"], partitions)
        give_up = time.monotonic() + 120 + seconds
        while result.received < result.sent and time.monotonic() < give_up:
            for message in reader.consume(10_000, 0.2):
                if message.error():
                    continue
                number, sent = orjson.loads(message.value() or b"null")["id"][1:].split("-", 1)
                produced_ms, sent_ms = message.timestamp()[1], int(sent)
                delays.append(produced_ms - sent_ms)
                acked_delays.append(produced_ms - acked_ms[int(number)])
                sent_at.append(sent_ms)
                result.received += 1
        reader.close()

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": linger_ms,
            "enable.idempotence": True,
            "on_delivery": delivered,
        }
    )
    try:
        # The worker logs it as an event, a baseline as a plain line.
        worker.wait_for_log("partitions assigned", timeout_s=ASSIGNED_TIMEOUT_S)
        other.start([worker.pid])
        values = [orjson.dumps({"text": t})[1:] for t in texts[:20_000]]  # b'"text":...}'
        started = time.monotonic()
        next_sample = started
        number = 0
        while (now := time.monotonic()) - started < seconds:
            due = int((now - started) * rate)
            sent_ms = int(time.time() * 1000)
            while number < due:
                value = b'{"id":"m%d-%d",' % (number, sent_ms) + values[number % len(values)]
                producer.produce(names["INPUT_TOPIC"], key=b"k%d" % (number % 64), value=value)
                number += 1
            producer.poll(0)
            if now >= next_sample:
                result.rss_mb.append(
                    (round(now - started), round(memory_mb(worker.pid, "VmRSS"), 1))
                )
                next_sample += 10
            time.sleep(0.002)
        result.other_cores = round(other.seconds([worker.pid]) / (time.monotonic() - started), 2)
        producer.flush(30)
        result.sent = number
        result.peak_rss_mb = round(memory_mb(worker.pid, "VmHWM"), 1)
        read()  # the worker catches up meanwhile; its verdicts' timestamps are what counts
    finally:
        worker.stop(STOP_TIMEOUT_S)
    result.windows = by_window(sent_at, delays, window_s)
    result.acked_windows = by_window(sent_at, acked_delays, window_s)
    result.p50_ms, result.p95_ms, result.p99_ms, result.p999_ms, result.max_ms = percentiles(delays)
    (
        result.acked_p50_ms,
        result.acked_p95_ms,
        result.acked_p99_ms,
        result.acked_p999_ms,
        result.acked_max_ms,
    ) = percentiles(acked_delays)
    return result


def percentiles(delays: Sequence[float]) -> tuple[float, float, float, float, float]:
    """p50, p95, p99, p99.9 and the maximum (0 for no values)."""
    ordered = sorted(delays)
    if not ordered:
        return 0.0, 0.0, 0.0, 0.0, 0.0
    p50, p95, p99, p999 = (
        float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])
        for q in (0.5, 0.95, 0.99, 0.999)
    )
    return p50, p95, p99, p999, float(ordered[-1])


def by_window(
    sent_at: Sequence[int], delays: Sequence[float], window_s: float
) -> list[tuple[int, float, float]]:
    """(window start s, p50, p99) per window of the inputs' send time."""
    if not sent_at:
        return []
    start_ms, windows = min(sent_at), dict[int, list[float]]()
    for at, delay in zip(sent_at, delays, strict=True):
        windows.setdefault(int((at - start_ms) // (window_s * 1000)), []).append(delay)
    rows = []
    for index, values in sorted(windows.items()):
        p50, _, p99, _, _ = percentiles(values)
        rows.append((round(index * window_s), p50, p99))
    return rows
