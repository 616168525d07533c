"""Live progress of the demo, read from the workers' own `/metrics`, and its closing report.

The monitor scrapes every worker (the port each one logs at start), sums what they report
(records consumed, verdicts, dead letters, consumer lag), prints a progress line a second and
keeps the time series for the report: `report.md` with a PNG chart of throughput and lag.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from prometheus_client.parser import text_string_to_metric_families

from consumer.devkit.harness import WorkerProcess

__all__ = ["LiveMonitor", "Sample", "write_report"]

_SUMS = {
    "content_classifier_records_consumed": "consumed",
    "content_classifier_verdicts": "verdicts",
    "content_classifier_dead_letters": "dead_letters",
    "content_classifier_consumer_lag": "lag",
}


@dataclass(frozen=True, slots=True)
class Sample:
    seconds: float
    consumed: float
    verdicts: float
    dead_letters: float
    lag: float

    @property
    def done(self) -> float:
        return self.verdicts + self.dead_letters


def scrape(port: int) -> dict[str, float]:
    """Totals of one worker's metrics that the demo shows."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=2) as response:
        text = response.read().decode()
    totals = dict.fromkeys(_SUMS.values(), 0.0)
    for family in text_string_to_metric_families(text):
        name = _SUMS.get(family.name)
        if name is None:
            continue
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            totals[name] += sample.value
    return totals


class LiveMonitor:
    def __init__(
        self,
        workers: Sequence[WorkerProcess],
        total: int,
        out: TextIO = sys.stderr,
        every_s: float = 0.25,
    ) -> None:
        self.workers = list(workers)
        self.total = total
        self.out = out
        self.every_s = every_s
        self.samples: list[Sample] = []
        self._ports: dict[int, int] = {}
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-monitor", daemon=True)
        self._last_print = 0.0

    def start(self) -> LiveMonitor:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join()
        last = self.sample()  # a last look while the workers still run
        if last is not None:
            self.out.write(self._line(last) + "\n")
        return self.samples

    def sample(self) -> Sample | None:
        totals = dict.fromkeys(_SUMS.values(), 0.0)
        for number, worker in enumerate(self.workers):
            port = self._ports.get(number) or worker.logged_http_port()
            if port is None:
                continue
            self._ports[number] = port
            try:
                for key, value in scrape(port).items():
                    totals[key] += value
            except OSError:
                continue  # a worker starting or stopping
        sample = Sample(time.monotonic() - self._started, **totals)
        self.samples.append(sample)
        return sample

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            sample = self.sample()
            if sample is not None and sample.seconds - self._last_print >= 1.0:
                self._last_print = sample.seconds
                self.out.write(self._line(sample) + "\n")
                self.out.flush()

    def _line(self, sample: Sample) -> str:
        window = [s for s in self.samples if s.seconds >= sample.seconds - 2.0]
        rate = 0.0
        if len(window) > 1 and window[-1].seconds > window[0].seconds:
            rate = (window[-1].done - window[0].done) / (window[-1].seconds - window[0].seconds)
        if sample.consumed == 0:
            return f"  [{sample.seconds:5.1f}s] waiting for the workers to join the group"
        return (
            f"  [{sample.seconds:5.1f}s] consumed {sample.consumed:>8,.0f}/{self.total:,}"
            f"  verdicts {sample.verdicts:>8,.0f}  dead letters {sample.dead_letters:>4,.0f}"
            f"  lag {sample.lag:>8,.0f}  rate {rate:>7,.0f}/s"
        )


def write_report(samples: Sequence[Sample], summary: Sequence[str], folder: Path) -> Path:
    """`report.md` and `throughput-lag.png` (when matplotlib is installed) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    chart = _chart(samples, folder / "throughput-lag.png")
    lines = ["# content-classifier demo report", "", "```", *summary, "```", ""]
    if chart is not None:
        lines += [f"![throughput and lag]({chart.name})", ""]
    else:
        lines += [
            "(install matplotlib for the chart: `pip install 'content-classifier[train]'`)",
            "",
        ]
    lines += [
        "Throughput is verdicts plus dead letters acknowledged per second, and lag the consumer",
        "lag the workers report from librdkafka's statistics, both read from the workers' own",
        "`/metrics` every quarter of a second.",
        "",
    ]
    report = folder / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report


def _chart(samples: Sequence[Sample], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    if len(samples) < 2:
        return None
    times = [s.seconds for s in samples]
    rates = [0.0] + [
        max(0.0, (b.done - a.done) / (b.seconds - a.seconds)) if b.seconds > a.seconds else 0.0
        for a, b in itertools.pairwise(samples)
    ]
    figure, throughput_axis = plt.subplots(figsize=(9, 4.5), dpi=110)
    throughput_axis.plot(times, rates, color="tab:blue", label="throughput (messages/s)")
    throughput_axis.set_xlabel("seconds since the workers started")
    throughput_axis.set_ylabel("messages/s", color="tab:blue")
    lag_axis = throughput_axis.twinx()
    lag_axis.plot(times, [s.lag for s in samples], color="tab:red", label="consumer lag")
    lag_axis.set_ylabel("consumer lag (records)", color="tab:red")
    throughput_axis.set_title("content-classifier demo: throughput and consumer lag")
    throughput_axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
