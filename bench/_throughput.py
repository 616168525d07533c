"""The throughput scenarios of `bench.stream`: a process (a worker or a baseline) on input
written in full beforehand, measured from its first output to its last; the model alone in a
process of its own, with the broker idle or busy."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from confluent_kafka import Consumer

from bench._inputs import REPO, output_reader, produce_all, topics_for
from bench._measure import (
    OtherLoad,
    cpu_seconds,
    main_thread_note,
    main_thread_ns,
    memory_mb,
    process_tree,
    worker_pids,
)
from consumer.devkit.harness import WorkerProcess, worker_environment

#: Seconds a measured process gets to drain and exit on SIGTERM before it is killed.
STOP_TIMEOUT_S = 40.0

__all__ = [
    "MODEL_BUSY",
    "STOP_TIMEOUT_S",
    "Result",
    "launch",
    "median_of",
    "model_alone",
    "model_alone_busy",
    "run_stream",
    "start_scenario",
]


@dataclass
class Result:
    scenario: str
    processes: int
    messages: int
    seconds: float
    rate: float
    cpu_seconds: float
    peak_rss_mb: float
    notes: list[str] = field(default_factory=list)
    #: CPU seconds other users of the machine spent during the measured span.
    other_cpu_seconds: float = 0.0
    #: CPU seconds the broker spent during the measured span.
    broker_cpu_seconds: float = 0.0


def start_scenario(
    argv: Sequence[str],
    settings: Mapping[str, str],
    bootstrap: str,
    records: list[tuple[bytes, bytes]],
    partitions: int,
    log_path: Path,
    before: Callable[[Mapping[str, str]], object] | None = None,
) -> tuple[Consumer, WorkerProcess]:
    """Fresh topics with `records` written in full, a reader of the output topic from its
    start, and `argv` started on them and that broker (its output appended to
    `log_path`). `before` is called with the topics' names just before `argv` starts (to
    start a companion process on them)."""
    names = topics_for(bootstrap, partitions)
    produce_all(bootstrap, names["INPUT_TOPIC"], records)
    if before is not None:
        before(names)
    reader = output_reader(bootstrap, names["OUTPUT_TOPIC"], partitions)
    return reader, launch(argv, settings, bootstrap, names, log_path)


def launch(
    argv: Sequence[str],
    settings: Mapping[str, str],
    bootstrap: str,
    names: Mapping[str, str],
    log_path: Path,
) -> WorkerProcess:
    """`argv` (a worker or a baseline) started on `bootstrap` and the topics `names`, with
    the embedded broker's client properties and `settings`, its output appended to
    `log_path`."""
    env = worker_environment(bootstrap, {**settings, **names})
    return WorkerProcess(env, log_path, argv, cwd=REPO).start()


def run_stream(
    name: str,
    argv: Sequence[str],
    processes: int,
    settings: Mapping[str, str],
    bootstrap: str,
    records: list[tuple[bytes, bytes]],
    partitions: int,
    log_path: Path,
    other: OtherLoad,
    before: Callable[[Mapping[str, str]], object] | None = None,
) -> Result:
    """Write the input, start the processes, measure from the first output to the last."""
    reader, process = start_scenario(
        argv, settings, bootstrap, records, partitions, log_path, before
    )
    stamps = array("q")
    count = 0
    cpu_at_first = 0.0
    pids: list[int] = []
    threads_at_first: dict[int, tuple[int, int, int]] = {}
    first_seen = 0.0
    try:
        deadline = time.monotonic() + 600
        while count < len(records) and time.monotonic() < deadline:
            batch = [m for m in reader.consume(10_000, 0.2) if not m.error()]
            if not batch:
                continue
            if count == 0:
                pids = process_tree(process.pid)
                cpu_at_first = cpu_seconds(pids)
                other.start(pids)
                threads_at_first = main_thread_ns(worker_pids(pids, processes))
                first_seen = time.monotonic()
            count += len(batch)
            stamps.extend(m.timestamp()[1] for m in batch)
        pids = process_tree(process.pid)
        cpu = cpu_seconds(pids) - cpu_at_first
        other_cpu = other.seconds(pids)
        broker_cpu = other.broker_seconds()
        threads = main_thread_ns(list(threads_at_first))
        span_s = time.monotonic() - first_seen
        peak = max(memory_mb(p, "VmHWM") for p in worker_pids(pids, processes))
        revoked = len(process.events("partitions revoked"))
    finally:
        reader.close()
        process.stop(STOP_TIMEOUT_S)
    # The span from the first output to the last holds the work of every batch but the first
    # (whose outputs open it): its outputs, those stamped within a millisecond of the first,
    # are not counted in the rate.
    first_stamp, last_stamp = (min(stamps), max(stamps)) if stamps else (0, 0)
    opening = sum(1 for stamp in stamps if stamp <= first_stamp + 1)
    seconds = max(1e-3, (last_stamp - first_stamp) / 1000)
    notes = []
    if count < len(records):
        notes.append(f"only {count} of {len(records)} outputs within the time limit")
    if revoked:
        notes.append(f"{revoked} rebalances during the run")
    if threads_at_first:
        notes.append(main_thread_note(threads_at_first, threads, span_s))
    return Result(
        name,
        processes,
        count,
        round(seconds, 2),
        round((count - opening) / seconds),
        round(cpu, 1),
        round(peak),
        notes,
        round(other_cpu, 1),
        round(broker_cpu, 1),
    )


def median_of(runs: list[Result]) -> Result:
    """The run with the median rate, noting every round's rate."""
    ordered = sorted(runs, key=lambda r: r.rate)
    median = ordered[(len(ordered) - 1) // 2]
    if len(runs) > 1:
        rates = ", ".join(f"{r.rate:,.0f}" for r in runs)
        median.notes = [*median.notes, f"median of {len(runs)} rounds: {rates}/s"]
    return median


def model_alone(
    texts: list[str],
    batch: int,
    name: str = "model alone (predict_proba in process)",
    model_path: str | None = None,
) -> Result:
    """`predict_proba` on `texts` in batches of `batch` in a process of its own (the model at
    `model_path`, or MODEL_PATH's); its notes give the p50 and p99 time of a batch."""
    code = (
        "import os, resource, sys, time, orjson\n"
        "from consumer.model.artifact import load_model\n"
        "from consumer.config.settings import load_settings\n"
        "from consumer.stream.collector import settle_collector\n"
        "texts = orjson.loads(sys.stdin.buffer.read())\n"
        "model = load_model(load_settings().model_path)\n"
        f"batch = {batch}\n"
        "settle_collector(batch)  # the garbage collector as `content-classifier run` sets it\n"
        "model.estimator.predict_proba(texts[:10])\n"
        "def cpu():\n"
        "    u = resource.getrusage(resource.RUSAGE_SELF)\n"
        "    return u.ru_utime + u.ru_stime\n"
        "def machine():\n"
        "    f = [int(v) for v in open('/proc/stat').readline().split()[1:]]\n"
        "    return (sum(f[:8]) - f[3] - f[4]) / os.sysconf('SC_CLK_TCK')\n"
        "machine0, cpu0, started = machine(), cpu(), time.perf_counter()\n"
        "times = []\n"
        "for i in range(0, len(texts), batch):\n"
        "    t0 = time.perf_counter()\n"
        "    model.estimator.predict_proba(texts[i:i + batch])\n"
        "    times.append(time.perf_counter() - t0)\n"
        "seconds = time.perf_counter() - started\n"
        "times.sort()\n"
        "p50 = times[len(times) // 2]\n"
        "p99 = times[min(len(times) - 1, int(len(times) * 0.99))]\n"
        "used, busy = cpu() - cpu0, machine() - machine0\n"
        "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
        "print(orjson.dumps({'seconds': seconds, 'cpu': used, 'other': max(0.0, busy - used),"
        " 'rss_mb': usage.ru_maxrss / 1024, 'model': f'{model.name} {model.version}',"
        " 'p50_ms': p50 * 1000, 'p99_ms': p99 * 1000}).decode())\n"
    )
    env = {**os.environ, "MODEL_PATH": model_path} if model_path else None
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    stdout, _ = process.communicate(orjson.dumps(texts))
    measured = orjson.loads(stdout.decode().strip().splitlines()[-1])
    seconds = measured["seconds"]
    return Result(
        name,
        1,
        len(texts),
        round(seconds, 2),
        round(len(texts) / seconds),
        round(measured["cpu"], 1),
        round(measured["rss_mb"]),
        [
            f"model {measured['model']}",
            f"batch of {batch}: p50 {measured['p50_ms']:.1f} ms, p99 {measured['p99_ms']:.1f} ms",
        ],
        round(measured["other"], 1),
    )


MODEL_BUSY = "model alone, broker busy (a passthrough at the 1-worker rate alongside)"


def model_alone_busy(
    texts: list[str],
    batch: int,
    rate: float,
    settings: Mapping[str, str],
    bootstrap: str,
    records: list[tuple[bytes, bytes]],
    partitions: int,
    log_path: Path,
) -> Result:
    """The model alone while the broker and a client move records at `rate`: the worker's
    broker traffic without the worker (`bench.baselines passthrough --rate`). On a machine
    whose cores also run the broker, this is the model's own rate with that traffic going
    on, the most a worker at that rate could reach."""
    # Enough input that the passthrough is still busy when the model finishes.
    reader, process = start_scenario(
        ("-m", "bench.baselines", "passthrough", "--rate", str(rate)),
        settings,
        bootstrap,
        records * 3,
        partitions,
        log_path,
    )
    try:
        deadline = time.monotonic() + 60
        while not (count := len([m for m in reader.consume(100, 0.2) if not m.error()])):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the paced passthrough produced nothing: see {log_path}")
        result = model_alone(texts, batch, MODEL_BUSY)
        finished = time.time()
        process.stop(STOP_TIMEOUT_S)
        last_stamp = 0
        while batch_read := [m for m in reader.consume(10_000, 1.0) if not m.error()]:
            count += len(batch_read)
            last_stamp = max(last_stamp, *(m.timestamp()[1] for m in batch_read))
    finally:
        reader.close()
        process.stop(STOP_TIMEOUT_S)
    result.notes.append(f"passthrough paced at {rate:,.0f}/s")
    if count >= len(records) * 3 and last_stamp / 1000 < finished:
        result.notes.append("the passthrough ran out of input before the model finished")
    return result
