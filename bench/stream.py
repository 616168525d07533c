"""The stream benchmark: the model alone, a passthrough, our worker with 1 and N processes, and
a per-message consumer, side by side in one invocation on the embedded broker; then our worker
at half of its maximum rate for latency percentiles and memory over time.

    .venv/bin/python bench/stream.py [--messages 50000] [--partitions 4] [--soak-seconds 600]

Every scenario reads the same texts (real labelled texts from ../shared/data through the
package's dataset loaders, or generated ones where that is absent, said so in the output).
Each stream scenario gets a fresh broker (so that none inherits the batches of the ones
before it: the embedded broker's costs grow with the batches it holds), the input written in
full *before* its processes start, so that producing the input does not compete with them
for the CPU. A scenario is measured from its first output to its last by the outputs' own
timestamps (CreateTime, set when each was produced; the embedded broker's group join is
slow), counting the outputs produced in that span (not the first batch's, which open it),
with the CPU seconds its processes spent in that span and their peak RSS; its notes give
each process's main thread's share of the span on a core and waiting for one, and its other
threads' (librdkafka's) share on a core. The model
alone runs `predict_proba` on the same texts in batches of BATCH_MAX_MESSAGES in a process
of its own; "model alone, broker busy" runs it again while a passthrough paced at that
round's 1-worker rate moves records through the broker: whether the broker's and the
clients' work at a worker's rate slows the model down on a machine whose cores they share.

The latency phase runs one worker with the default settings while the input arrives at half
of the 1-process rate, for `--soak-seconds`: end-to-end latency is each verdict's timestamp
minus the time its input was produced (carried in the input's id), and the worker's RSS is
sampled every 10 s (RSS flat over a 10-minute run is a target). The passthrough then runs the
same way (same rate, same time, the worker's client settings), which gives the latency the
broker itself adds. Each of the two gets a fresh broker, and the outputs are read after the
input stops, so that reading them does not load the broker during the measurement (the
embedded broker's fetches cost more the more batches a partition holds). Prints markdown
tables.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from consumer.devkit.broker import EMBEDDED_CLIENT_PROPERTIES, EmbeddedBroker, create_topics  # noqa: E402


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


# -- inputs -----------------------------------------------------------------------------


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


def produce_all(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True}
    )
    for key, value in records:
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("the benchmark's input was not acknowledged")


# -- processes --------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (`run --processes N` starts children)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = [pid], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        tree += children
        frontier = children
    return tree


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def worker_pids(tree: list[int], processes: int) -> list[int]:
    """The worker processes of a `process_tree`: its root, or with `run --processes N` the
    root's children (the root only supervises them)."""
    return tree[1:] if processes > 1 else tree[:1]


def main_thread_ns(pids: list[int]) -> dict[int, tuple[int, int, int]]:
    """Each process's main thread: nanoseconds on a core and waiting in a run queue for one;
    and its other threads' (librdkafka's) nanoseconds on a core (`/proc/PID/task/*/
    schedstat`). A main thread that is on a core for the whole span and never waits is held
    back by nothing but its own work."""
    times = {}
    for pid in pids:
        main, others = (0, 0), 0
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                on_core, waiting, _ = (task / "schedstat").read_text().split()
                if task.name == str(pid):
                    main = (int(on_core), int(waiting))
                else:
                    others += int(on_core)
        except (OSError, ValueError):
            continue
        times[pid] = (*main, others)
    return times


def main_thread_note(
    before: dict[int, tuple[int, int, int]], after: dict[int, tuple[int, int, int]], span_s: float
) -> str:
    shares = [
        [(end - start) / 1e9 / span_s for start, end in zip(before[pid], after[pid], strict=True)]
        for pid in before
        if pid in after
    ]
    on_core, waiting, others = (", ".join(f"{s[i]:.1%}" for s in shares) for i in range(3))
    return (
        f"main thread on a core {on_core} of the span, waiting for one {waiting}; "
        f"the other threads on a core {others}"
    )


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores, from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """CPU seconds that neither the measured processes, nor the broker, nor this benchmark
    spent: other users of the machine, whose load the figures of a run share."""

    def __init__(self, broker_pid: int) -> None:
        self.broker_pid = broker_pid
        self._start = 0.0
        self._broker_start = 0.0

    def _ours(self, pids: list[int]) -> float:
        own = os.times()
        return cpu_seconds([*pids, self.broker_pid]) + own.user + own.system

    def start(self, pids: list[int]) -> None:
        self._start = machine_cpu_seconds() - self._ours(pids)
        self._broker_start = cpu_seconds([self.broker_pid])

    def broker_seconds(self) -> float:
        """CPU seconds the broker spent since `start`: it shares the two cores."""
        return cpu_seconds([self.broker_pid]) - self._broker_start

    def seconds(self, pids: list[int]) -> float:
        return max(0.0, machine_cpu_seconds() - self._ours(pids) - self._start)


def memory_mb(pid: int, field_name: str) -> float:
    """VmRSS or VmHWM (peak) of a live process, in MB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    line = next((ln for ln in status.splitlines() if ln.startswith(field_name)), None)
    return int(line.split()[1]) / 1024 if line else 0.0


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(40)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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


def start_scenario(
    command: list[str],
    env: dict[str, str],
    bootstrap: str,
    records: list[tuple[bytes, bytes]],
    partitions: int,
    log_path: Path,
) -> tuple[Consumer, subprocess.Popen[bytes]]:
    """Fresh topics with `records` written in full, a reader of the output topic from its
    start, and `command` started on them and that broker (its output appended to
    `log_path`)."""
    names = topics_for(bootstrap, partitions)
    produce_all(bootstrap, names["INPUT_TOPIC"], records)
    reader = output_reader(bootstrap, names["OUTPUT_TOPIC"], partitions)
    return reader, launch(command, env, bootstrap, names, log_path)


def launch(
    command: list[str], env: dict[str, str], bootstrap: str, names: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """`command` started on `bootstrap` and the topics `names`, its output appended to
    `log_path`."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            env={**env, **names, "KAFKA_BOOTSTRAP_SERVERS": bootstrap},
            cwd=REPO,
            stdout=log,
            stderr=log,
        )


def run_stream(
    name: str,
    command: list[str],
    processes: int,
    env: dict[str, str],
    bootstrap: str,
    records: list[tuple[bytes, bytes]],
    partitions: int,
    log_path: Path,
    other: OtherLoad,
) -> Result:
    """Write the input, start the processes, measure from the first output to the last."""
    reader, process = start_scenario(command, env, bootstrap, records, partitions, log_path)
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
        revoked = log_path.read_text(errors="replace").count('"partitions revoked"')
    finally:
        reader.close()
        stop(process)
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
    texts: list[str], batch: int, name: str = "model alone (predict_proba in process)"
) -> Result:
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
        "for i in range(0, len(texts), batch):\n"
        "    model.estimator.predict_proba(texts[i:i + batch])\n"
        "seconds = time.perf_counter() - started\n"
        "used, busy = cpu() - cpu0, machine() - machine0\n"
        "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
        "print(orjson.dumps({'seconds': seconds, 'cpu': used, 'other': max(0.0, busy - used),"
        " 'rss_mb': usage.ru_maxrss / 1024, 'model': f'{model.name} {model.version}'}).decode())\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE
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
        [f"model {measured['model']}"],
        round(measured["other"], 1),
    )


MODEL_BUSY = "model alone, broker busy (a passthrough at the 1-worker rate alongside)"


def model_alone_busy(
    texts: list[str],
    batch: int,
    rate: float,
    env: dict[str, str],
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
        [sys.executable, "-m", "bench.baselines", "passthrough", "--rate", str(rate)],
        env,
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
        stop(process)
        last_stamp = 0
        while batch_read := [m for m in reader.consume(10_000, 1.0) if not m.error()]:
            count += len(batch_read)
            last_stamp = max(last_stamp, *(m.timestamp()[1] for m in batch_read))
    finally:
        reader.close()
        stop(process)
    result.notes.append(f"passthrough paced at {rate:,.0f}/s")
    if count >= len(records) * 3 and last_stamp / 1000 < finished:
        result.notes.append("the passthrough ran out of input before the model finished")
    return result


# -- latency and memory at half rate ----------------------------------------------------


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
    command: list[str],
    env: dict[str, str],
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
    worker = launch(command, env, bootstrap, names, log_path)
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
        while "partitions assigned" not in log_path.read_text(errors="replace"):
            time.sleep(0.2)
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
        stop(worker)
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


# -- report -----------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores (nproc), {model}, Python {platform.python_version()}"


def paired(
    rounds: dict[str, list[Result]], numerator: str, denominator: str, fallback: float
) -> tuple[float, str]:
    """The ratio of two scenarios' rates: the median of each round's ratio (the two ran
    within minutes of each other, so the machine's drift cancels), with every round's
    ratio and the ratio of the medians; `fallback` with one round."""
    pairs = zip(rounds.get(numerator, []), rounds.get(denominator, []), strict=False)
    ratios = [a.rate / b.rate for a, b in pairs if b.rate]
    if len(ratios) < 2:
        return fallback, ""
    shown = ", ".join(f"{r:.3f}" for r in ratios)
    return statistics.median(ratios), f" (median by round: {shown}; medians {fallback:.2f} x)"


def report(
    results: list[Result],
    rounds: dict[str, list[Result]],
    latency: Soak,
    floor: Soak,
    batch: int,
    wait_ms: int,
    args: argparse.Namespace,
    origin: str,
) -> str:
    by_name = {r.scenario: r for r in results}
    model = by_name["model alone (predict_proba in process)"]
    one = by_name["worker, 1 process"]
    many = next(r for r in results if r.scenario.startswith("worker,") and r.processes > 1)
    per_message = by_name["per-message consumer (poll one, predict one, produce, commit)"]
    lines = [
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}; embedded broker; "
        f"{args.messages:,} messages over {args.partitions} partitions "
        f"(the per-message consumer: {per_message.messages:,}); {origin}; "
        f"BATCH_MAX_MESSAGES={batch}, BATCH_MAX_WAIT_MS={wait_ms}",
        "",
        "| scenario | processes | messages | seconds | messages/s | CPU s | broker CPU s "
        "| peak RSS MB | other users' CPU s | notes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cells = [
            r.scenario,
            r.processes,
            f"{r.messages:,}",
            r.seconds,
            f"{r.rate:,.0f}",
            r.cpu_seconds,
            r.broker_cpu_seconds,
            f"{r.peak_rss_mb:.0f}",
            r.other_cpu_seconds,
            "; ".join(r.notes),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    rss = [mb for _, mb in latency.rss_mb]
    settled = [mb for t, mb in latency.rss_mb if t >= 60] or rss
    growth = (settled[-1] - settled[0]) if settled else 0.0
    peak = max(one.peak_rss_mb, many.peak_rss_mb, latency.peak_rss_mb)
    lines += [
        "",
        f"Latency and memory: one worker, default settings, input at {latency.rate:,.0f}/s "
        f"(half the 1-process rate) for {latency.seconds:.0f} s; {latency.received:,} of "
        f"{latency.sent:,} verdicts; end to end p50 {latency.p50_ms:.0f} ms, "
        f"p95 {latency.p95_ms:.0f} ms, p99 {latency.p99_ms:.0f} ms, "
        f"p99.9 {latency.p999_ms:.0f} ms, "
        f"max {latency.max_ms:.0f} ms; from the input's acknowledgement by the broker (without "
        f"the input's own wait in its producer, linger.ms {args.soak_linger_ms}) "
        f"p50 {latency.acked_p50_ms:.0f} ms, p95 {latency.acked_p95_ms:.0f} ms, "
        f"p99 {latency.acked_p99_ms:.0f} ms, p99.9 {latency.acked_p999_ms:.0f} ms, "
        f"max {latency.acked_max_ms:.0f} ms; other users of the machine kept "
        f"{latency.other_cores:.2f} cores busy on average; RSS (MB) every 10 s: "
        + ", ".join(f"{mb:.0f}" for mb in rss),
        "",
        f"The passthrough at the same rate (the broker's own latency, on a fresh broker): "
        f"{floor.received:,} of {floor.sent:,} records; p50 {floor.p50_ms:.0f} ms, "
        f"p99 {floor.p99_ms:.0f} ms, max {floor.max_ms:.0f} ms.",
        "",
        "| input sent during (s) | worker p50 ms | worker p99 ms | worker p50 ms from ack "
        "| worker p99 ms from ack | passthrough p50 ms | passthrough p99 ms |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {start}-{start + args.window_seconds:.0f} | {p50:.0f} | {p99:.0f} | "
            + " | ".join(
                f"{v:.0f}"
                for windows in (latency.acked_windows, floor.windows)
                for w in windows
                if w[0] == start
                for v in w[1:]
            )
            + " |"
            for start, p50, p99 in latency.windows
        ),
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    rows = [
        ("1 worker process >= 0.90 x the model alone", "worker1", "model", 0.90),
        ("1 worker process >= 30 x the per-message consumer", "worker1", "permessage", 30),
        (f"{many.processes} processes >= 1.5 x one process", "workerN", "worker1", 1.5),
    ]
    rates = {"model": model, "worker1": one, "workerN": many, "permessage": per_message}
    for text, numerator, denominator, target in rows:
        ratio, detail = paired(
            rounds, numerator, denominator, rates[numerator].rate / rates[denominator].rate
        )
        lines.append(f"| {text} | {ratio:.2f} x{detail} | {'yes' if ratio >= target else 'no'} |")
    busy = by_name.get(MODEL_BUSY)
    if busy is not None:
        ratio, detail = paired(rounds, "modelbusy", "model", busy.rate / model.rate)
        lines.append(
            f"| (not a target) the model alone with the broker busy at the worker's rate / "
            f"the model alone | {ratio:.2f} x{detail} | |"
        )
    lines.append(
        f"| p99 end-to-end latency <= 100 ms at half the maximum rate | {latency.p99_ms:.0f} ms "
        f"from the input's produce call; {latency.acked_p99_ms:.0f} ms from its "
        f"acknowledgement | {'yes' if latency.p99_ms <= 100 else 'no'} |"
    )
    lines.append(
        f"| RSS <= 300 MB per process | peak {peak:.0f} MB | {'yes' if peak <= 300 else 'no'} |"
    )
    lines.append(
        f"| RSS flat over the {latency.seconds / 60:.0f}-minute run | "
        f"{growth:+.1f} MB from minute 1 to the end | {'yes' if abs(growth) <= 10 else 'no'} |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--soak-seconds", type=float, default=600.0)
    parser.add_argument(
        "--window-seconds", type=float, default=60.0, help="latency percentiles per window"
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="rounds of the throughput scenarios; each scenario's median round is reported",
    )
    parser.add_argument(
        "--soak-rate",
        type=float,
        help="input rate of the latency phase (default: half the 1-process rate)",
    )
    parser.add_argument(
        "--soak-linger-ms",
        type=int,
        default=5,
        help="linger.ms of the latency phase's producer: a longer one writes fewer, larger "
        "batches, which the embedded broker sustains for longer (its fetches list every batch "
        "a partition holds); the latency then includes up to this much producer wait",
    )
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for every worker process (to compare settings)",
    )
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--log-dir", help="keep the processes' logs here (default: discarded)")
    parser.add_argument(
        "--only",
        help="comma-separated scenarios: "
        "model,passthrough,worker1,modelbusy,workerN,permessage,soak,soakfloor "
        "(modelbusy: the model alone with a passthrough at that round's worker1 rate)",
    )
    args = parser.parse_args()

    from consumer.config.settings import Settings

    defaults = Settings()
    batch, wait_ms = defaults.batch_max_messages, defaults.batch_max_wait_ms
    texts, origin = load_texts(args.messages, args.seed)
    records = encode_inputs(texts)
    cores = os.cpu_count() or 2
    only = set(args.only.split(",")) if args.only else None
    latency = floor = Soak(0, 0)
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
        env.update(
            METRICS_PORT="0",
            LOG_LEVEL="INFO",
            MODEL_RELOAD_INTERVAL_S="0",
            **{
                "KAFKA_" + k.replace(".", "_").upper(): v
                for k, v in EMBEDDED_CLIENT_PROPERTIES.items()
            },
        )
        env.update(item.split("=", 1) for item in args.worker_env)
        run = [sys.executable, "-m", "consumer", "run"]
        baseline = [sys.executable, "-m", "bench.baselines"]
        scenarios = [
            (
                "passthrough",
                "passthrough (consume, produce, commit; no model)",
                [*baseline, "passthrough"],
                1,
                records,
            ),
            ("worker1", "worker, 1 process", run, 1, records),
            (
                "workerN",
                f"worker, {cores} processes",
                [*run, "--processes", str(cores)],
                cores,
                records,
            ),
            (
                "permessage",
                "per-message consumer (poll one, predict one, produce, commit)",
                [*baseline, "per-message"],
                1,
                records[: max(1000, len(records) // 20)],
            ),
        ]
        logs = Path(args.log_dir) if args.log_dir else Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        # Rounds: every scenario once per round, so that a noisy stretch of the machine
        # touches the model alone and the worker alike; each scenario's median counts.
        rounds: dict[str, list[Result]] = {}
        for round_number in range(args.repeat):
            if only is None or "model" in only:
                rounds.setdefault("model", []).append(model_alone(texts, batch))
                print(rounds["model"][-1], file=sys.stderr, flush=True)
            for key, name, command, processes, sample in scenarios:
                if only is not None and key not in only:
                    continue
                log_path = logs / f"{key}-{round_number}.log"
                # A fresh broker for every run: the embedded broker's costs grow with the
                # batches it holds, which would count against whichever scenario runs later.
                with EmbeddedBroker(log_path=Path(tmp) / f"broker-{key}.log") as broker:
                    rounds.setdefault(key, []).append(
                        run_stream(
                            name,
                            command,
                            processes,
                            env,
                            broker.bootstrap_servers,
                            sample,
                            args.partitions,
                            log_path,
                            OtherLoad(broker.pid or 0),
                        )
                    )
                print(rounds[key][-1], file=sys.stderr, flush=True)
                if key == "worker1" and (only is None or "modelbusy" in only):
                    with EmbeddedBroker(log_path=Path(tmp) / "broker-modelbusy.log") as broker:
                        rounds.setdefault("modelbusy", []).append(
                            model_alone_busy(
                                texts,
                                batch,
                                rounds[key][-1].rate,
                                env,
                                broker.bootstrap_servers,
                                records,
                                args.partitions,
                                logs / f"modelbusy-{round_number}.log",
                            )
                        )
                    print(rounds["modelbusy"][-1], file=sys.stderr, flush=True)
        results: list[Result] = [median_of(runs) for runs in rounds.values()]
        one = next((r.rate for r in results if r.scenario == "worker, 1 process"), 0)
        rate = args.soak_rate if args.soak_rate else one / 2
        soaks = [
            ("soak", run, "soak.log"),
            ("soakfloor", [*baseline, "passthrough"], "soak-passthrough.log"),
        ]
        measured: dict[str, Soak] = {}
        for key, command, log_name in soaks:
            if only is not None and key not in only:
                continue
            # A fresh broker each: the embedded broker slows down as its log grows.
            with EmbeddedBroker(log_path=Path(tmp) / f"broker-{key}.log") as fresh:
                measured[key] = soak(
                    command,
                    env,
                    fresh.bootstrap_servers,
                    texts,
                    args.partitions,
                    rate,
                    args.soak_seconds,
                    logs / log_name,
                    OtherLoad(fresh.pid or 0),
                    args.window_seconds,
                    args.soak_linger_ms,
                )
            print(key, measured[key], file=sys.stderr, flush=True)
        latency = measured.get("soak", latency)
        floor = measured.get("soakfloor", floor)
    if args.json:
        Path(args.json).write_bytes(
            orjson.dumps(
                {
                    "results": [asdict(r) for r in results],
                    "latency": asdict(latency),
                    "passthrough_latency": asdict(floor),
                },
                option=orjson.OPT_INDENT_2,
            )
        )
    if only is None:
        print(report(results, rounds, latency, floor, batch, wait_ms, args, origin))


if __name__ == "__main__":
    main()
