"""Hot reload: a new model at MODEL_PATH replaces the serving one between batches.

A watcher thread looks at the model folder every MODEL_RELOAD_INTERVAL_S. When the manifest, its
signature or the model file changes, it loads and verifies the new artifact exactly as start-up
does (the signature under MODEL_SIGNING_KEY when set, sha256 and scikit-learn version, all
before unpickling), warms it up with one prediction, and offers it to the worker, which
switches at the start of its next batch. A refused artifact is
logged and counted, and the old model keeps serving; the watcher tries again only when the
folder changes again (a manifest written before its model file, for one).
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from consumer.config.logs import get_logger
from consumer.config.settings import Settings
from consumer.model.artifact import (
    MANIFEST_NAME,
    MODEL_FILE,
    SIGNATURE_NAME,
    SigningKey,
    load_model,
)
from consumer.model.classifier import Classifier
from consumer.serving.metrics import ModelMetrics

__all__ = ["ModelWatcher", "fingerprint"]

log = get_logger(__name__)

_WARM_UP_TEXTS = ["warm-up text for a freshly loaded model"]


def fingerprint(folder: Path) -> str:
    """Changes whenever the manifest's or its signature's bytes, or the model file's size or
    mtime change."""
    digest = hashlib.sha256()
    for name in (MANIFEST_NAME, SIGNATURE_NAME, MODEL_FILE):
        path = folder / name
        try:
            stat = path.stat()
        except OSError:
            digest.update(f"{name}:missing".encode())
            continue
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        if name != MODEL_FILE:
            digest.update(path.read_bytes())
    return digest.hexdigest()


class ModelWatcher:
    """Polls a model folder; `take()` hands the worker a verified new model, once."""

    def __init__(
        self,
        folder: Path,
        current: Classifier,
        interval_s: float,
        metrics: ModelMetrics,
        signing_key: SigningKey | None = None,
        threads: int = 0,
    ) -> None:
        self.folder = folder
        self._signing_key = signing_key
        self._threads = threads
        self.interval_s = interval_s
        self.metrics = metrics
        self._seen = fingerprint(folder)
        self._serving_version = current.version
        self._ready: Classifier | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="model-watcher", daemon=True)

    @classmethod
    def from_settings(
        cls, settings: Settings, current: Classifier, metrics: ModelMetrics
    ) -> ModelWatcher | None:
        """The started watcher of MODEL_PATH, or None when MODEL_RELOAD_INTERVAL_S is 0."""
        if settings.model_reload_interval_s <= 0:
            return None
        return cls(
            settings.model_path,
            current,
            settings.model_reload_interval_s,
            metrics,
            signing_key=settings.model_signing_key,
            threads=settings.model_threads,
        ).start()

    def start(self) -> ModelWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def take(self) -> Classifier | None:
        """The new model, if one is ready (the worker calls this between batches)."""
        with self._lock:
            ready, self._ready = self._ready, None
        return ready

    def check(self) -> None:
        """Look once: load, verify and warm up a changed artifact (runs on the watcher)."""
        now = fingerprint(self.folder)
        if now == self._seen:
            return
        self._seen = now
        try:
            candidate = load_model(
                self.folder, signing_key=self._signing_key, threads=self._threads
            )
            candidate.classify(_WARM_UP_TEXTS)
        except Exception as exc:  # any failure to load or predict refuses the artifact
            self.metrics.model_reloads.labels("refused").inc()
            log.error(
                "new model refused; the current one keeps serving",
                model_path=str(self.folder),
                serving_version=self._serving_version,
                error=str(exc),
            )
            return
        if candidate.version == self._serving_version:
            return
        with self._lock:
            self._ready = candidate
        self._serving_version = candidate.version
        self.metrics.model_reloads.labels("loaded").inc()
        log.info(
            "new model verified and warmed up",
            model=candidate.name,
            model_version=candidate.version,
        )

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # the watcher must never die: the next change is tried again
                log.exception("model watcher failed")
