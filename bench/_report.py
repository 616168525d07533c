"""The markdown report of `bench.stream`: the scenarios' table, the latency phase, and the
targets with the ratios measured round by round."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
from datetime import UTC, datetime
from pathlib import Path

from bench._soak import Soak
from bench._throughput import MODEL_BUSY, Result

__all__ = ["machine", "paired", "report"]


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
