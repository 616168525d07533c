"""The verdicts' score distribution, and its drift from the serving model's baseline.

Every batch's scores go into `content_classifier_score` (by model version and action) and
into a sliding window (`consumer.quality.drift.DriftWindow`) whose population stability index
against the model's training baseline is `content_classifier_score_psi`; the window's share
of each label is `content_classifier_window_label_share`. A model switch starts a new window
against the new model's baseline.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from consumer.config.logs import get_logger
from consumer.config.settings import Settings
from consumer.model.classifier import Classifier, Prediction
from consumer.quality.drift import DriftWindow
from consumer.serving.metrics import ModelMetrics, observe_many

__all__ = ["REFRESH_S", "ScoreMonitor"]

log = get_logger(__name__)

#: Between batches the gauges are refreshed this often, so an idle worker's window empties.
REFRESH_S = 5.0


class ScoreMonitor:
    """Owns the drift window of the serving model and the score metrics."""

    def __init__(
        self,
        settings: Settings,
        metrics: ModelMetrics,
        classifier: Classifier,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._refreshed = clock()
        self._version = ""
        self.new_model(classifier)

    def new_model(self, classifier: Classifier) -> None:
        """Measure the next verdicts against `classifier`'s baseline, in a fresh window."""
        if self._version:
            with contextlib.suppress(KeyError):
                self._metrics.score_psi.remove(self._version)
        self.classifier = classifier
        self._version = classifier.version
        self._by_action = {
            action: self._metrics.score.labels(classifier.version, action)
            for action in ("allow", "review", "block", "none")
        }
        settings = self._settings
        self.window = DriftWindow(
            classifier.score_baseline,
            settings.drift_window_s,
            settings.drift_min_verdicts,
            self._clock,
        )
        if classifier.score_baseline is None:
            log.warning(
                "the model has no score baseline: score drift is not measured",
                model=classifier.name,
                model_version=classifier.version,
            )

    def observe(self, predictions: Sequence[Prediction], labels: Mapping[str, int]) -> None:
        """Count one batch's verdicts' scores (`Classifier.scores_of`), labels and
        categories."""
        self._metrics.count_kinds(predictions)
        scores = self.classifier.scores_of(predictions)
        if not len(scores):
            return
        actions = [p.action or "none" for p in predictions]
        first = actions[0]
        if actions.count(first) == len(actions):
            observe_many(self._by_action[first], scores)
        else:
            column = np.asarray(actions)
            for action in set(actions):
                observe_many(self._by_action[action], scores[column == action])
        self.window.add(scores, labels)
        self.publish()

    def refresh(self) -> None:
        """Between batches: publish the window now and then, so that it ages while idle."""
        if self._clock() - self._refreshed >= REFRESH_S:
            self.publish()

    def publish(self) -> None:
        """The window's verdicts, label shares and PSI to the gauges."""
        self._refreshed = self._clock()
        state = self.window.state()
        metrics = self._metrics
        metrics.window_verdicts.set(state.verdicts)
        for label, share in state.label_shares.items():
            metrics.window_label_share.labels(label).set(share)
        metrics.score_psi.labels(self._version).set(state.psi)
