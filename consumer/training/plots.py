"""The evaluation report's figures (PNG, matplotlib imported only when drawing)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from consumer.training.heldout import TARGETS, HeldOutResult
from consumer.training.policy import expected_calibration_error

__all__ = [
    "plot_calibration",
    "plot_confusion",
    "plot_per_class",
    "plot_per_source",
    "plot_pr",
    "reliability",
]


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pr(path: Path, proba: np.ndarray, y: np.ndarray, threshold: float) -> None:
    from sklearn.metrics import precision_recall_curve

    plt = pyplot()
    precision, recall, thresholds = precision_recall_curve(y, proba)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot(recall, precision, lw=1.5)
    at = int(np.searchsorted(thresholds, threshold))
    if at < len(thresholds):
        ax.plot(recall[at], precision[at], "o", color="C3", label=f"threshold {threshold:.3f}")
        ax.legend(loc="lower left")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (random split)")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def reliability(
    proba: np.ndarray, y: np.ndarray, bins: int = 15
) -> tuple[list[float], list[float]]:
    index = np.minimum((proba * bins).astype(int), bins - 1)
    conf, acc = [], []
    for b in range(bins):
        mask = index == b
        if mask.any():
            conf.append(float(proba[mask].mean()))
            acc.append(float(y[mask].mean()))
    return conf, acc


def plot_calibration(
    path: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str
) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    for name, (proba, y) in curves.items():
        conf, acc = reliability(proba, y)
        ece = expected_calibration_error(proba, y)
        ax.plot(conf, acc, "o-", ms=4, label=f"{name} (ECE {ece:.3f})")
    ax.set(xlabel="predicted probability", ylabel="observed frequency", title=title)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_confusion(path: Path, matrix: np.ndarray, labels: Sequence[str], title: str) -> None:
    plt = pyplot()
    size = 4.5 if len(labels) <= 4 else 12
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ticks = range(len(labels))
    small = len(labels) > 4
    ax.set_xticks(list(ticks), labels, rotation=90 if small else 0, fontsize=4 if small else 9)
    ax.set_yticks(list(ticks), labels, fontsize=4 if small else 9)
    if not small:
        for i in ticks:
            for j in ticks:
                colour = "white" if matrix[i, j] > matrix.max() / 2 else "black"
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", color=colour)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=130 if small else 110)
    plt.close(fig)


def plot_per_source(path: Path, results: Sequence[HeldOutResult]) -> None:
    plt = pyplot()
    rows = sorted(results, key=lambda r: (r.category.startswith("benign"), r.category, r.source))
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.2))
    colours = {
        "harmful_request": "C3",
        "prompt_injection": "C1",
        "abusive": "C4",
        "benign_prompt": "C0",
        "benign_prose": "C2",
        "benign_contrast": "C9",
        "benign_lookalike": "C8",
    }
    names = [f"{r.source} ({r.category})" for r in rows]
    ax.barh(range(len(rows)), [r.rate for r in rows], color=[colours[r.category] for r in rows])
    for i, r in enumerate(rows):
        if r.category in TARGETS:
            ax.plot([TARGETS[r.category][1]] * 2, [i - 0.4, i + 0.4], color="black", lw=1.5)
        ax.text(r.rate + 0.01, i, f"{r.rate:.2f}", va="center", fontsize=7)
    ax.set_yticks(range(len(rows)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    ax.set(
        xlabel="share flagged malicious (recall for malicious rows, FPR for benign rows)",
        title="Held-out sources (model refitted without each); | = target",
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_per_class(path: Path, names: Sequence[str], values: Sequence[float], title: str) -> None:
    plt = pyplot()
    order = np.argsort(values)
    fig, ax = plt.subplots(figsize=(7, 0.14 * len(names) + 1.2))
    ax.barh(range(len(names)), [values[i] for i in order])
    ax.set_yticks(range(len(names)), [names[i] for i in order], fontsize=5)
    ax.set_xlim(0, 1)
    ax.set(xlabel="F1", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# reports
