"""The stream benchmark: the model alone, a passthrough, our worker, and a per-message
consumer, side by side in one invocation on the embedded broker.

    .venv/bin/python bench/stream.py [--messages 20000] [--partitions 4] [--json out.json]

Every scenario runs in its own process on the same texts (real labelled texts from
../shared/data, or generated ones where that is absent) and is measured from its first
output to its last (the embedded broker's group join is slow), with its CPU seconds and peak
RSS. Rates come from the output records' own timestamps (CreateTime, set when each was
produced), so the reader's speed does not count. Then one worker runs at half of its measured
maximum rate for a while to give end-to-end latency percentiles (output timestamp minus
input timestamp). Prints a markdown table with the ratios the targets are stated in.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from consumer.broker import EMBEDDED_CLIENT_PROPERTIES, EmbeddedBroker, create_topics  # noqa: E402

CLIENT = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}


@dataclass
class Result:
    scenario: str
    messages: int
    seconds: float
    rate: float
    cpu_seconds: float
    peak_rss_mb: float


def load_texts(count: int, seed: int) -> list[str]:
    try:
        from consumer.datasets import default_data_root, load_all

        examples = load_all(default_data_root())
        rng = random.Random(seed)
        rng.shuffle(examples)
        texts = [e.text for e in examples if len(e.text) <= 10_000]
    except Exception:  # no ../shared/data: generated texts, said so in the output
        rng = random.Random(seed)
        words = [
            "please",
            "help",
            "me",
            "reset",
            "my",
            "card",
            "ignore",
            "previous",
            "instructions",
            "the",
            "film",
        ]
        texts = [" ".join(rng.choices(words, k=rng.randint(4, 30))) for _ in range(count)]
    return (texts * (count // max(1, len(texts)) + 1))[:count]


def proc_usage(pid: int) -> tuple[float, float]:
    """CPU seconds (user+system) and peak RSS in MB of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    status = Path(f"/proc/{pid}/status").read_text()
    hwm = next(line for line in status.splitlines() if line.startswith("VmHWM"))
    return cpu, int(hwm.split()[1]) / 1024


def produce_all(bootstrap: str, topic: str, texts: list[str], rate: float | None = None) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True}
    )
    started = time.monotonic()
    for number, text in enumerate(texts):
        if rate is not None:
            due = started + number / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        value = orjson.dumps({"id": f"m{number}", "text": text})
        while True:
            try:
                producer.produce(topic, key=f"k{number % 64}".encode(), value=value)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(60)


def read_outputs(
    bootstrap: str, topic: str, partitions: int, expect: int, timeout_s: float
) -> list:
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out = []
    deadline = time.monotonic() + timeout_s
    while len(out) < expect and time.monotonic() < deadline:
        for message in reader.consume(5000, 0.5):
            if not message.error():
                out.append(message)
    reader.close()
    return out


def span_rate(outputs: list) -> tuple[float, float]:
    stamps = sorted(m.timestamp()[1] for m in outputs)
    seconds = max(1e-3, (stamps[-1] - stamps[0]) / 1000)
    return seconds, len(outputs) / seconds


def topics_for(bootstrap: str, partitions: int) -> tuple[str, str, str, str]:
    suffix = uuid.uuid4().hex[:8]
    names = (f"in-{suffix}", f"out-{suffix}", f"dlq-{suffix}", f"group-{suffix}")
    create_topics(bootstrap, [(names[0], partitions), (names[1], partitions), (names[2], 1)])
    return names


def run_processes(
    name: str,
    commands: list[list[str]],
    env: dict[str, str],
    bootstrap: str,
    texts: list[str],
    partitions: int,
    out_topic: str,
    in_topic: str,
) -> Result:
    """Start the processes, let them join, stream the texts, measure first to last output."""
    procs = [
        subprocess.Popen(
            command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for command in commands
    ]
    try:
        time.sleep(6)  # the embedded broker's group join (about half of session.timeout.ms)
        produce_all(bootstrap, in_topic, texts)
        outputs = read_outputs(bootstrap, out_topic, partitions, len(texts), timeout_s=600)
        usage = [proc_usage(p.pid) for p in procs]
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    seconds, rate = span_rate(outputs)
    return Result(
        name,
        len(outputs),
        round(seconds, 2),
        round(rate),
        round(sum(cpu for cpu, _ in usage), 1),
        round(max(rss for _, rss in usage), 0),
    )


def model_alone(texts: list[str], batch: int) -> Result:
    code = (
        "import sys, time, orjson\n"
        "from consumer.model import load_model\n"
        "from consumer.settings import DEFAULT_MODEL_PATH\n"
        "texts = orjson.loads(sys.stdin.buffer.read())\n"
        "model = load_model(DEFAULT_MODEL_PATH)\n"
        "model.classify(texts[:10])\n"
        f"batch = {batch}\n"
        "started = time.perf_counter()\n"
        "for i in range(0, len(texts), batch):\n"
        "    model.classify(texts[i:i + batch])\n"
        "seconds = time.perf_counter() - started\n"
        "import resource\n"
        "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
        "print(orjson.dumps({'seconds': seconds, 'cpu': usage.ru_utime + usage.ru_stime,"
        " 'rss_mb': usage.ru_maxrss / 1024}).decode())\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    stdout, _ = process.communicate(orjson.dumps(texts))
    measured = orjson.loads(stdout.decode().strip().splitlines()[-1])
    seconds = measured["seconds"]
    return Result(
        "model alone (predict_proba in process)",
        len(texts),
        round(seconds, 2),
        round(len(texts) / seconds),
        round(measured["cpu"], 1),
        round(measured["rss_mb"]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--batch", type=int, default=None, help="model-alone batch (default: BATCH_MAX_MESSAGES)"
    )
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()

    from consumer.settings import Settings

    batch = args.batch or Settings().batch_max_messages
    texts = load_texts(args.messages, args.seed)
    results: list[Result] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedBroker(log_path=Path(tmp) / "broker.log") as broker,
    ):
        bootstrap = broker.bootstrap_servers
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
        base_env.update(
            KAFKA_BOOTSTRAP_SERVERS=bootstrap,
            METRICS_PORT="0",
            LOG_LEVEL="WARNING",
            **{
                "KAFKA_" + k.replace(".", "_").upper(): v
                for k, v in EMBEDDED_CLIENT_PROPERTIES.items()
            },
        )

        results.append(model_alone(texts, batch))
        print(results[-1], file=sys.stderr)

        for name, _module, count in (
            ("passthrough (consume, produce, commit; no model)", "bench.baselines", None),
            ("worker, 1 process", None, 1),
            (f"worker, {os.cpu_count()} processes", None, os.cpu_count() or 2),
            (
                "per-message consumer (poll one, predict one, produce, commit)",
                "bench.baselines",
                None,
            ),
        ):
            in_topic, out_topic, dlq_topic, group = topics_for(bootstrap, args.partitions)
            env = {
                **base_env,
                "INPUT_TOPIC": in_topic,
                "OUTPUT_TOPIC": out_topic,
                "DLQ_TOPIC": dlq_topic,
                "GROUP_ID": group,
            }
            if count is None:
                kind = "passthrough" if name.startswith("passthrough") else "per-message"
                commands = [[sys.executable, "-m", "bench.baselines", kind]]
                sample = texts if kind == "passthrough" else texts[: max(500, len(texts) // 20)]
            else:
                commands = [[sys.executable, "-m", "consumer", "run"]] * count
                sample = texts
            results.append(
                run_processes(
                    name, commands, env, bootstrap, sample, args.partitions, out_topic, in_topic
                )
            )
            print(results[-1], file=sys.stderr)

        one = results[2].rate
        latency = measure_latency(
            base_env, bootstrap, texts, args.partitions, one / 2, args.latency_seconds
        )

    table(results, latency, batch, args)
    if args.json:
        Path(args.json).write_bytes(
            orjson.dumps(
                {"results": [asdict(r) for r in results], "latency": latency},
                option=orjson.OPT_INDENT_2,
            )
        )


def measure_latency(
    base_env: dict[str, str],
    bootstrap: str,
    texts: list[str],
    partitions: int,
    rate: float,
    seconds: float,
) -> dict[str, float]:
    in_topic, out_topic, dlq_topic, group = topics_for(bootstrap, partitions)
    env = {
        **base_env,
        "INPUT_TOPIC": in_topic,
        "OUTPUT_TOPIC": out_topic,
        "DLQ_TOPIC": dlq_topic,
        "GROUP_ID": group,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "consumer", "run"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(6)
        count = int(rate * seconds)
        sample = (texts * (count // len(texts) + 1))[:count]
        produce_all(bootstrap, in_topic, sample, rate=rate)
        outputs = read_outputs(bootstrap, out_topic, partitions, count, timeout_s=120)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    inputs = read_outputs(bootstrap, in_topic, partitions, count, timeout_s=60)
    sent = {(m.partition(), m.offset()): m.timestamp()[1] for m in inputs}
    delays = []
    for m in outputs:
        source = orjson.loads(m.value())["source"]
        delays.append(m.timestamp()[1] - sent[(source["partition"], source["offset"])])
    delays.sort()

    def pct(q: float) -> float:
        return float(delays[min(len(delays) - 1, int(q * len(delays)))])

    return {
        "rate": round(rate),
        "count": len(delays),
        "p50_ms": pct(0.5),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": float(delays[-1]),
    }


def table(
    results: list[Result], latency: dict[str, float], batch: int, args: argparse.Namespace
) -> None:
    model, _passthrough, one, many, per_message = results
    print(
        f"\n{args.messages} messages, {args.partitions} partitions, batch {batch}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}\n"
    )
    print("| scenario | messages | seconds | messages/s | CPU s | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for r in results:
        rss = f"{r.peak_rss_mb:.0f}" if r.peak_rss_mb else "-"
        cells = [r.scenario, r.messages, r.seconds, f"{r.rate:,.0f}", r.cpu_seconds, rss]
        print("| " + " | ".join(str(cell) for cell in cells) + " |")
    print()
    print("| target | measured | met |")
    print("|---|---|---|")
    rows = [
        ("1 worker process >= 0.90 x the model alone", one.rate / model.rate, 0.90),
        ("1 worker process >= 30 x the per-message baseline", one.rate / per_message.rate, 30),
        (f"{os.cpu_count()} processes >= 1.5 x one process", many.rate / one.rate, 1.5),
    ]
    for text, ratio, target in rows:
        print(f"| {text} | {ratio:.2f} | {'yes' if ratio >= target else 'no'} |")
    print(
        f"| p99 end-to-end latency <= 100 ms at half the maximum rate ({latency['rate']}/s) "
        f"| p50 {latency['p50_ms']:.0f} ms, p95 {latency['p95_ms']:.0f} ms, "
        f"p99 {latency['p99_ms']:.0f} ms "
        f"| {'yes' if latency['p99_ms'] <= 100 else 'no'} |"
    )
    print(
        f"| RSS <= 300 MB per process | {max(one.peak_rss_mb, many.peak_rss_mb):.0f} MB | "
        f"{'yes' if max(one.peak_rss_mb, many.peak_rss_mb) <= 300 else 'no'} |"
    )


if __name__ == "__main__":
    main()
