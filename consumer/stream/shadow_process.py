"""The shadow model in a process of its own.

In the worker's process a shadow would share the interpreter lock with the primary: a
scikit-learn shadow (its text preparation is Python) halved the primary's throughput when it
ran on a thread beside it (docs/benchmarks.md, "The cost of the quality features"). In a
child process at nice +10 it shares only the cores, and the kernel gives the primary's
process the CPU first. The child loads and verifies the model folder itself (the same
`load_model`: sha256, signature, library versions) and answers each batch of texts with its
predictions over a pipe; the parent never loads the shadow model.

`ShadowProcess` looks like a `Classifier` to `Shadow` (`name`, `version`, `classify`), and
`decider` is the model's labels and policy without its estimator: POLICY_FILE decides the
shadow's scores in the parent, which holds the policies and their reloads. A folder change is
noticed by `reloader()` (the fingerprint `ModelWatcher` uses), and the child then loads the
new folder and keeps the old model if the new one is refused.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from consumer.config.logs import get_logger
from consumer.model.artifact import ModelArtifactError
from consumer.model.classifier import Classifier, Policy, Prediction
from consumer.serving.reload import fingerprint
from consumer.stream.metrics import Metrics

__all__ = ["SHADOW_PROCESS_NICE", "ShadowProcess"]

log = get_logger(__name__)

SHADOW_PROCESS_NICE = 10
#: Loading a model folder (a transformer's encoder included) takes seconds; beyond this the
#: child is taken to be stuck.
_LOAD_TIMEOUT_S = 300.0
_WARM_UP = ["warm-up text for a freshly loaded shadow model"]


#: What the child answers once a model is loaded:
#: ("ready", name, version, labels, policy, categories, languages).
_Ready = tuple[str, str, str, list[str], dict[str, Any], list[str], list[str]]


def _load(path: str, signing_key: str | None, threads: int) -> Any:
    from consumer.model.artifact import load_model

    classifier = load_model(path, signing_key=signing_key, threads=threads)
    classifier.classify(_WARM_UP)
    return classifier


def _ready(classifier: Classifier) -> _Ready:
    name, version, labels = classifier.name, classifier.version, list(classifier.labels)
    policy, categories = classifier.policy.to_manifest(), list(classifier.categories)
    return ("ready", name, version, labels, policy, categories, list(classifier.languages))


class _InChild:
    """The estimator of a `decider`: the model itself is in the child process."""

    classes_: tuple[str, ...] = ()

    def predict_proba(self, texts: Sequence[str]) -> Any:
        raise RuntimeError("the shadow model scores in its own process")


def _serve(conn: Connection, path: str, signing_key: str | None, threads: int) -> None:
    """The child: load, then answer ("classify", texts) and ("reload",) until ("stop",)."""
    with contextlib.suppress(OSError):
        os.nice(SHADOW_PROCESS_NICE)
    try:
        classifier = _load(path, signing_key, threads)
    except Exception as exc:  # reported to the parent, which refuses to start
        conn.send(("error", str(exc)))
        return
    conn.send(_ready(classifier))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return  # the parent is gone
        if message[0] == "classify":
            try:
                predictions = classifier.classify(message[1])
                conn.send(("ok", [tuple(p) for p in predictions]))
            except Exception as exc:  # one failing batch; the next is tried again
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
        elif message[0] == "reload":
            try:
                classifier = _load(path, signing_key, threads)
                conn.send(_ready(classifier))
            except Exception as exc:  # the old model keeps serving
                conn.send(("error", str(exc)))
        else:
            return


class ShadowProcess:
    """A model folder served by a child process; `classify` blocks (without the GIL) until
    the child answers."""

    def __init__(self, path: Path, *, signing_key: str | None = None, threads: int = 1) -> None:
        self.path = path
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(child, str(path), signing_key, threads),
            name="shadow-model",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._seen = fingerprint(path)
        #: The served model's name, version, labels and policy (its estimator is the child's).
        self.decider = self._ready(f"shadow model {path}")

    def _ready(self, what: str) -> Classifier:
        if not self._conn.poll(_LOAD_TIMEOUT_S):
            raise ModelArtifactError(f"{what} did not load within {_LOAD_TIMEOUT_S:.0f} s")
        reply = self._conn.recv()
        if reply[0] != "ready":
            raise ModelArtifactError(str(reply[1]))
        _, name, version, labels, policy, categories, languages = reply
        return Classifier(
            str(name),
            str(version),
            tuple(labels),
            Policy.from_manifest(policy),
            _InChild(),
            categories=tuple(categories),
            languages=tuple(languages),
        )

    @property
    def name(self) -> str:
        return self.decider.name

    @property
    def version(self) -> str:
        return self.decider.version

    @property
    def labels(self) -> tuple[str, ...]:
        return self.decider.labels

    @property
    def reference(self) -> dict[str, str]:
        """The shadow model as its verdicts name it, like `Classifier.reference`."""
        return {"name": self.name, "version": self.version}

    def classify(self, texts: Sequence[str]) -> list[Prediction]:
        try:
            self._conn.send(("classify", list(texts)))
            reply = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise RuntimeError(f"the shadow model's process is gone ({exc})") from None
        if reply[0] != "ok":
            raise RuntimeError(str(reply[1]))
        return [Prediction(*p) for p in reply[1]]

    def reloader(
        self, metrics: Metrics, interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> Callable[[], ShadowProcess | None]:
        """A check for the shadow's `new_models`: every `interval_s`, a changed folder is
        loaded by the child; returns this object once it serves the new version."""
        checked = [clock()]

        def check() -> ShadowProcess | None:
            if clock() - checked[0] < interval_s:
                return None
            checked[0] = clock()
            now = fingerprint(self.path)
            if now == self._seen:
                return None
            self._seen = now
            try:
                self._conn.send(("reload",))
                decider = self._ready(f"shadow model {self.path}")
            except (ModelArtifactError, EOFError, OSError) as exc:
                metrics.shadow_reloads.labels("refused").inc()
                log.error(
                    "new shadow refused; the current one keeps scoring",
                    model_path=str(self.path),
                    error=str(exc),
                )
                return None
            metrics.shadow_reloads.labels("loaded").inc()
            if decider.version == self.version:
                return None
            self.decider = decider
            return self

        return check

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self._conn.send(("stop",))
        self._process.join(1)
        if self._process.is_alive():
            # A child busy with a batch on a loaded machine: kill it, and reap it so that no
            # zombie is left behind.
            self._process.kill()
            self._process.join(5)
