"""The demo's verdict-quality figures: read from the workers' and the feedback consumer's
own `/metrics` (as an operator's Prometheus would), with a chart of the score distribution
beside the model's training baseline."""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from consumer.quality.drift import ScoreBaseline

__all__ = ["QualityFigures", "quality_lines", "read_quality", "score_chart", "scrape_text"]


def scrape_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        return str(response.read().decode())


def _floats() -> defaultdict[Any, float]:
    return defaultdict(float)


@dataclass(slots=True)
class QualityFigures:
    """Sums over the workers (and the feedback consumer) of what the quality metrics say."""

    score_buckets: defaultdict[float, float] = field(default_factory=_floats)  # cumulative
    psi: list[float] = field(default_factory=list)  # one per worker
    agreement: defaultdict[tuple[str, str], float] = field(default_factory=_floats)
    shadow_batches: defaultdict[str, float] = field(default_factory=_floats)
    feedback: defaultdict[tuple[str, str], float] = field(default_factory=_floats)
    feedback_rejected: defaultdict[str, float] = field(default_factory=_floats)

    @property
    def agreement_share(self) -> float:
        total = sum(self.agreement.values())
        same = sum(n for (p, s), n in self.agreement.items() if p == s)
        return same / total if total else float("nan")

    def precision_recall(self, positive: str) -> tuple[float, float, int]:
        upheld = self.feedback[(positive, positive)]
        predicted = sum(n for (p, _), n in self.feedback.items() if p == positive)
        decided = sum(n for (_, d), n in self.feedback.items() if d == positive)
        nan = float("nan")
        return (
            upheld / predicted if predicted else nan,
            upheld / decided if decided else nan,
            int(sum(self.feedback.values())),
        )

    def score_counts(self) -> list[tuple[float, float, float]]:
        """(low, high, count) of each score bucket, from the cumulative buckets."""
        bounds = sorted(le for le in self.score_buckets if le != float("inf"))
        out, low, below = [], 0.0, 0.0
        for high in bounds:
            cumulative = self.score_buckets[high]
            out.append((low, high, cumulative - below))
            low, below = high, cumulative
        return out


def read_quality(texts: Iterable[str]) -> QualityFigures:
    figures = QualityFigures()
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                name, labels, value = sample.name, sample.labels, sample.value
                if name == "content_classifier_score_bucket":
                    figures.score_buckets[float(labels["le"])] += value
                elif name == "content_classifier_score_psi" and value == value:  # not NaN
                    figures.psi.append(value)
                elif name == "content_classifier_shadow_agreement_total":
                    figures.agreement[(labels["primary_label"], labels["shadow_label"])] += value
                elif name == "content_classifier_shadow_batches_total":
                    figures.shadow_batches[labels["result"]] += value
                elif name == "content_classifier_feedback_total":
                    key = (labels["predicted_label"], labels["decided_label"])
                    figures.feedback[key] += value
                elif name == "content_classifier_feedback_rejected_total":
                    figures.feedback_rejected[labels["reason"]] += value
    return figures


def score_chart(figures: QualityFigures, baseline: ScoreBaseline | None, path: Path) -> Path | None:
    """The verdicts' score distribution beside the baseline's, as densities over [0, 1]."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    counts = figures.score_counts()
    total = sum(c for _, _, c in counts)
    if not total:
        return None
    figure, axis = plt.subplots(figsize=(9, 4.5), dpi=110)
    axis.bar(
        [low for low, _, _ in counts],
        [c / total / (high - low) for low, high, c in counts],
        width=[high - low for low, high, _ in counts],
        align="edge",
        alpha=0.6,
        color="tab:blue",
        label=f"verdicts in the demo ({total:,.0f})",
    )
    if baseline is not None:
        edges = [0.0, *baseline.edges, 1.0]
        densities = [
            share / max(high - low, 1e-6)
            for share, low, high in zip(baseline.shares, edges[:-1], edges[1:], strict=True)
        ]
        axis.step(
            edges,
            [*densities, densities[-1]],
            where="post",
            color="tab:red",
            label=f"training baseline ({baseline.rows:,} out-of-fold scores)",
        )
    psi = sum(figures.psi) / len(figures.psi) if figures.psi else float("nan")
    axis.set_yscale("log")
    axis.set_xlabel("score (probability of the positive label)")
    axis.set_ylabel("density (log scale)")
    axis.set_title(f"Score distribution against the baseline (PSI {psi:.3f})")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def quality_lines(figures: QualityFigures, positive: str, feedback_sent: int) -> Sequence[str]:
    precision, recall, counted = figures.precision_recall(positive)
    pairs = "  ".join(f"{p}->{s}={n:,.0f}" for (p, s), n in sorted(figures.agreement.items()))
    batches = "  ".join(f"{k}={v:,.0f}" for k, v in sorted(figures.shadow_batches.items()))
    rejected = sum(figures.feedback_rejected.values())
    psi = ", ".join(f"{v:.3f}" for v in figures.psi) or "not measured"
    return [
        f"  shadow agreement {figures.agreement_share:.3f} of "
        f"{sum(figures.agreement.values()):,.0f} records  ({pairs})",
        f"  shadow batches   {batches}",
        f"  live precision   {precision:.3f}  recall {recall:.3f}  ({positive}; {counted} "
        f"decisions counted of {feedback_sent} sent, {rejected:.0f} rejected)",
        f"  score drift      PSI per worker: {psi}",
    ]
