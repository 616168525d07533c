"""Building a cascade folder from a fast model and a transformer (`consumer.model.cascade`).

    content-classifier train --recipe cascade --transformer models/malicious-content-transformer \
        --out models/malicious-content-cascade

The recipe refits the default model (the fast stage; the same rows and seed as
`--recipe default`, so the same model) and uses its out-of-fold probabilities on the rows the
transformer set aside for validation: neither stage has seen those rows. On them:

* the band: the `routed_share` of rows whose fast logit lies nearest the fast model's
  threshold, as an interval of probability around it (symmetric in logit space);
* the stacking map: a logistic regression of the label on the fast logit and the transformer
  margin, fitted on the rows in the band;
* the policy: thresholds chosen on the cascade's probabilities of all validation rows.

`build_cascade` does the same for any two model folders and labelled validation texts.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from consumer.model.artifact import (
    CASCADE_FAMILY,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    SigningKey,
    load_model,
    sha256_of,
    write_manifest,
)
from consumer.model.cascade import Cascade, CascadeParams, logit
from consumer.model.transformer import TransformerTextModel
from consumer.quality.drift import ScoreBaseline
from consumer.training.datasets import load_all
from consumer.training.policy import binary_metrics, choose_policy, cross_fitted, isotonic_map
from consumer.training.recipes import (
    DEFAULT_MODEL_NAME,
    DEFAULT_RECIPE,
    fit_recipe,
    recipe_examples,
    validation_indices,
)

__all__ = [
    "CASCADE_MODEL_NAME",
    "DEFAULT_ROUTED_SHARE",
    "build_cascade",
    "fit_cascade_params",
    "train_cascade",
]

CASCADE_MODEL_NAME = f"{DEFAULT_MODEL_NAME}-cascade"
#: The share of traffic the transformer reads: a fifth keeps the cascade's cost near the fast
#: model's (docs/model.md measures the trade-off).
DEFAULT_ROUTED_SHARE = 0.2


def fit_cascade_params(
    p_fast: np.ndarray, margin: np.ndarray, y: np.ndarray, routed_share: float, threshold: float
) -> CascadeParams:
    """The band routing `routed_share` of the rows nearest `threshold`, and the stacking map
    fitted on the rows inside it. `margin` is the transformer's for every row."""
    if not 0.0 < routed_share <= 1.0:
        raise ValueError(f"routed_share must be in (0, 1], not {routed_share}")
    centre = float(logit(np.array([threshold]))[0])
    distance = np.abs(logit(p_fast) - centre)
    k = max(1, round(routed_share * len(distance)))
    reach = float(np.sort(distance)[k - 1])
    low = float(1.0 / (1.0 + np.exp(-(centre - reach))))
    # `high` is exclusive: nudge it past the farthest routed row.
    high = float(min(1.0, np.nextafter(1.0 / (1.0 + np.exp(-(centre + reach))), 2.0)))
    band = CascadeParams(low, high, 0.0, 1.0, 0.0)
    inside = band.routed(np.asarray(p_fast, dtype=np.float64))
    features = np.column_stack([logit(p_fast[inside]), margin[inside]])
    labels = np.asarray(y)[inside]
    if len(set(labels.tolist())) < 2:
        raise ValueError("the uncertain band holds rows of one label only: cannot fit stacking")
    stack = LogisticRegression(C=1e4, max_iter=1000).fit(features, labels)
    return CascadeParams(
        low=round(low, 6),
        high=round(high, 6),
        fast_weight=float(stack.coef_[0][0]),
        margin_weight=float(stack.coef_[0][1]),
        bias=float(stack.intercept_[0]),
        routed_share=round(float(inside.mean()), 4),
    )


def _copy_stage(source: Path, target: Path) -> dict[str, Any]:
    """Copy a model folder's manifest, card and listed files; its entry in the cascade's
    manifest pins the copied manifest's sha256."""
    manifest = load_model(source).manifest
    target.mkdir(parents=True, exist_ok=True)
    names = {MANIFEST_NAME, "MODEL_CARD.md", SIGNATURE_NAME}
    names |= set(manifest.get("files", {})) | {str(manifest.get("file", ""))}
    for name in sorted(n for n in names if n and (source / n).is_file()):
        shutil.copyfile(source / name, target / name)
    return {
        "path": target.name,
        "manifest_sha256": sha256_of(target / MANIFEST_NAME),
        "name": manifest["name"],
        "version": manifest["version"],
        "family": manifest.get("family", "sklearn"),
    }


def build_cascade(
    out: Path,
    fast_dir: Path,
    transformer_dir: Path,
    texts: list[str],
    y: np.ndarray,
    *,
    routed_share: float = DEFAULT_ROUTED_SHARE,
    p_fast: np.ndarray | None = None,
    name: str = CASCADE_MODEL_NAME,
    version: str,
    extra: dict[str, Any] | None = None,
    signing_key: SigningKey | None = None,
) -> Path:
    """A cascade folder of copies of the two stages, its band and stacking fitted on
    (`texts`, `y`). `p_fast`: the fast stage's probabilities of `texts` if they must not be
    its own (out-of-fold ones, when it was trained on these rows)."""
    fast = load_model(fast_dir)
    transformer = load_model(transformer_dir)
    if not isinstance(transformer.estimator, TransformerTextModel):
        raise ValueError(f"{transformer_dir} is not a transformer model folder")
    y = np.asarray(y, dtype=np.int8)
    if p_fast is None:
        p_fast = np.asarray(fast.estimator.predict_proba(texts), dtype=np.float64)[:, 1]
    margin = transformer.estimator.margins(texts)
    params = fit_cascade_params(p_fast, margin, y, routed_share, fast.policy.threshold)
    # The stacking map's threshold and metrics from cross-fitted probabilities (the map
    # fitted on one half of the rows, applied to the other), not from its own rows.
    features = np.column_stack([p_fast, margin])

    def fit(train: np.ndarray, labels: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        half = fit_cascade_params(
            train[:, 0], train[:, 1], labels, routed_share, fast.policy.threshold
        )
        return lambda rows: np.where(
            half.routed(rows[:, 0]), half.stacked(rows[:, 0], rows[:, 1]), rows[:, 0]
        )

    proba = cross_fitted(features, y, fit, seed=len(texts))
    policy = choose_policy(proba, y, DEFAULT_RECIPE)
    # The transformer's own map was fitted on these rows: its column is cross-fitted too.
    p_transformer = cross_fitted(margin, y, isotonic_map, seed=len(texts))
    metrics = {
        "validation": {
            "cascade": binary_metrics(proba, y, policy.threshold),
            "fast": binary_metrics(p_fast, y, fast.policy.threshold),
            "transformer": binary_metrics(p_transformer, y, transformer.policy.threshold),
            "routed_share": params.routed_share,
        }
    }
    out.mkdir(parents=True, exist_ok=True)
    stages = {
        "fast": _copy_stage(fast_dir, out / "fast"),
        "transformer": _copy_stage(transformer_dir, out / "transformer"),
    }
    manifest = {
        "family": CASCADE_FAMILY,
        "labels": list(fast.labels),
        **({"categories": list(fast.categories)} if fast.categories else {}),
        "stages": stages,
        "routing": params.to_manifest(),
        "metrics": metrics,
        "score_baseline": ScoreBaseline.from_scores(proba).to_manifest(
            "quantile bins of cross-fitted validation scores"
        ),
        **(extra or {}),
    }
    card = _cascade_card(name, version, manifest, policy.threshold)
    write_manifest(
        out,
        manifest,
        name=name,
        version=version,
        policy=policy,
        model_card=card,
        signing_key=signing_key,
    )
    # Check what was written loads as a cascade.
    if not isinstance(load_model(out, signing_key=signing_key).estimator, Cascade):
        raise RuntimeError(f"{out} did not load as a cascade")
    return out


def _cascade_card(name: str, version: str, manifest: dict[str, Any], threshold: float) -> str:
    routing = manifest["routing"]
    stages = manifest["stages"]
    validation = manifest["metrics"]["validation"]
    lines = [
        f"# Model card: {name} {version}",
        "",
        "A cascade: the fast stage scores every text; texts whose fast probability lies in "
        f"[{routing['low']}, {routing['high']}) go to the transformer stage "
        f"({routing['routed_share']:.0%} of the validation rows), and their probability is a "
        "logistic map of both stages' scores fitted on the rows of that band.",
        "",
        "## Stages",
        "",
        *(
            f"- `{stage}`: {entry['name']} {entry['version']} ({entry['family']}), "
            f"folder `{entry['path']}/`"
            for stage, entry in stages.items()
        ),
        "",
        f"`malicious` when the cascade's P(malicious) >= {threshold} (F1-optimal on validation).",
        "",
        "## Validation (rows neither stage trained on)",
        "",
        "| model | F1 | precision | recall | ECE |",
        "|---|---|---|---|---|",
        *(
            f"| {key} | {m['f1']} | {m['precision']} | {m['recall']} | {m['ece']} |"
            for key, m in validation.items()
            if isinstance(m, dict)
        ),
        "",
    ]
    return "\n".join(lines)


def train_cascade(
    data_root: Path,
    out: Path,
    *,
    fast_dir: Path,
    transformer_dir: Path,
    version: str,
    routed_share: float = DEFAULT_ROUTED_SHARE,
    signing_key: SigningKey | None = None,
) -> Path:
    """The cascade of the default model and a transformer fine-tuned by `--recipe
    transformer`, its band and stacking fitted on the transformer's validation rows with the
    fast model's out-of-fold probabilities (neither stage has seen them)."""
    transformer = load_model(transformer_dir).manifest
    if transformer.get("recipe") != "transformer":
        raise ValueError(f"{transformer_dir} was not made by --recipe transformer")
    seed = int(transformer["seed"])
    excluded = transformer.get("excluded_sources") or []
    examples = recipe_examples(load_all(data_root), DEFAULT_RECIPE, seed, exclude=excluded)
    fitted = fit_recipe(examples, DEFAULT_RECIPE, seed)
    fast = load_model(fast_dir)
    probe = [e.text for e in examples[:: max(1, len(examples) // 300)]]
    refit = np.asarray(fitted.model.predict_proba(probe))[:, 1]
    given = np.asarray(fast.estimator.predict_proba(probe))[:, 1]
    if not np.allclose(refit, given, atol=1e-6):
        raise ValueError(
            f"{fast_dir} is not the default recipe's model for seed {seed} without "
            f"{excluded or 'exclusions'}: its out-of-fold scores cannot be recomputed"
        )
    held = validation_indices(
        len(examples), int(transformer["recipe_params"]["validation_rows"]), seed
    )
    rows = [examples[i] for i in held.tolist()]
    return build_cascade(
        out,
        fast_dir,
        transformer_dir,
        [e.text for e in rows],
        fitted.y[held],
        routed_share=routed_share,
        p_fast=fitted.oof_proba[held],
        version=version,
        extra={
            "recipe": "cascade",
            "languages": ["en"],
            "seed": seed,
            "excluded_sources": excluded,
        },
        signing_key=signing_key,
    )
