"""Policies per source in the loop: each verdict's label and action are decided by the policy
its input's `source` (or POLICY_METADATA_KEY's metadata value) selects in POLICY_FILE.

The file is read and validated at start-up (a bad one stops the worker, naming the line) and
looked at again every MODEL_RELOAD_INTERVAL_S between batches: a changed file that validates
replaces the policies from the next batch; one that does not is refused with a log line and
`content_classifier_policy_reloads_total{result="refused"}`, and the previous policies keep
serving. Only binary models with a positive label have thresholds to set: with any other
model the policies are left unused (and a warning logged once per model).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from consumer.config.logs import get_logger
from consumer.config.settings import Settings, SettingsError
from consumer.model.classifier import Classifier, Prediction
from consumer.model.policies import MODEL_POLICY, PolicyFileError, PolicySet, load_policies
from consumer.serving.metrics import ModelMetrics

__all__ = ["Routed", "SourcePolicies"]

log = get_logger(__name__)


def _fingerprint(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable: {exc.strerror}"


class Routed(Protocol):
    """What a policy is chosen by: a decoded Kafka input, or a request to the HTTP API."""

    @property
    def source(self) -> str | None: ...

    @property
    def metadata(self) -> dict[str, str] | None: ...


R = TypeVar("R", bound=Routed)


class SourcePolicies:
    """The current policy set, which input field selects from it, and its reloading."""

    def __init__(
        self,
        path: Path,
        metrics: ModelMetrics,
        *,
        metadata_key: str | None = None,
        interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.metadata_key = metadata_key
        self._metrics = metrics
        self._interval_s = interval_s
        self._clock = clock
        self._seen = _fingerprint(path)
        self.current: PolicySet = load_policies(path)
        self._checked = clock()
        self._warned_version: str | None = None
        self._warned_categories: tuple[str, int] | None = None
        log.info("policies loaded", policy_file=str(path), policies=self.current.names())

    @classmethod
    def from_settings(cls, settings: Settings, metrics: ModelMetrics) -> SourcePolicies | None:
        """The policies of POLICY_FILE, or None when it is unset; a bad file stops start-up
        with a SettingsError naming POLICY_FILE and the line."""
        if settings.policy_file is None:
            return None
        try:
            return cls(
                settings.policy_file,
                metrics,
                metadata_key=settings.policy_metadata_key,
                interval_s=settings.model_reload_interval_s or float("inf"),
            )
        except PolicyFileError as exc:
            raise SettingsError(f"POLICY_FILE: {exc}") from None

    def value_of(self, item: Routed) -> str | None:
        if self.metadata_key is None:
            return item.source
        return (item.metadata or {}).get(self.metadata_key)

    def apply(
        self, classifier: Classifier, classified: list[tuple[R, Prediction]]
    ) -> list[tuple[R, Prediction]]:
        """Each record decided by its source's policy (in place: the list is returned)."""
        if not classified:
            return classified
        if classifier.positive is None:
            if self._warned_version != classifier.version:
                self._warned_version = classifier.version
                log.warning(
                    "the model has no positive label: POLICY_FILE's thresholds do not apply",
                    model=classifier.name,
                    model_version=classifier.version,
                )
            return classified
        self._warn_of_unknown_categories(classifier)
        items = [item for item, _ in classified]
        predictions = self.decide(classifier, items, [p for _, p in classified], self.current)
        classified[:] = zip(items, predictions, strict=True)
        counts = Counter((p.policy, p.action or "none") for p in predictions)
        for (name, action), n in counts.items():
            self._metrics.policy_verdicts.labels(name, action).inc(n)
        return classified

    def _warn_of_unknown_categories(self, classifier: Classifier) -> None:
        """Once per model version (and policy set): categories the file names that the
        model does not know have no verdicts to decide."""
        key = (classifier.version, id(self.current))
        if self._warned_categories == key:
            return
        self._warned_categories = key
        unknown = sorted(self.current.categories() - set(classifier.categories))
        if unknown:
            log.warning(
                "POLICY_FILE names categories the model does not know; they decide nothing",
                categories=unknown,
                model=classifier.name,
                model_version=classifier.version,
                model_categories=list(classifier.categories),
            )

    def decide(
        self,
        decider: Classifier,
        items: Sequence[Routed],
        predictions: list[Prediction],
        policies: PolicySet,
    ) -> list[Prediction]:
        """Each item's prediction decided again by its source's policy in `policies`, in place
        (the list is returned); those under the model's own policy are left as they are.
        `decider` is a binary model with a positive label. Counts nothing: the primary's
        `apply` and the shadow share it."""
        groups: dict[str, list[int]] = {}
        choose, value_of = policies.choose, self.value_of
        for index, item in enumerate(items):
            groups.setdefault(choose(value_of(item)), []).append(index)
        groups.pop(MODEL_POLICY, None)
        for name, indexes in groups.items():
            policy = policies.resolve(name, decider.policy)
            decided = decider.redecide([predictions[i] for i in indexes], policy, name)
            for index, prediction in zip(indexes, decided, strict=True):
                predictions[index] = prediction
        return predictions

    def reload_if_changed(self) -> bool:
        """Between batches, every interval: take a changed file if it validates."""
        now = self._clock()
        if now - self._checked < self._interval_s:
            return False
        self._checked = now
        seen = _fingerprint(self.path)
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            policies = load_policies(self.path)
        except PolicyFileError as exc:
            self._metrics.policy_reloads.labels("refused").inc()
            log.error("policy file refused; the previous policies keep serving", error=str(exc))
            return False
        self.current = policies
        self._metrics.policy_reloads.labels("loaded").inc()
        log.info("policies reloaded", policy_file=str(self.path), policies=policies.names())
        return True
