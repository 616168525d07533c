"""Integration tests use the session broker and topic fixtures of tests/conftest.py, and
`run_worker`: a worker process on fresh topics, started as operators start one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import pytest

from consumer.devkit.harness import WorkerProcess, stop_all
from tests.conftest import Topics, fresh_topics
from tests.kafka_helpers import REPO, worker_env_for

__all__ = ["RunWorker", "RunningWorker"]

#: The event a worker logs when the group gives it partitions.
ASSIGNED = "partitions assigned"


class RunningWorker(WorkerProcess):
    """A worker process (`python -m consumer <command>`) with the topics and the consumer
    group it serves; its environment is `env`."""

    def __init__(
        self, topics: Topics, env: Mapping[str, str], log_path: Path, command: Sequence[str]
    ) -> None:
        super().__init__(env, log_path, ("-m", "consumer", *command), cwd=REPO)
        self.topics = topics


class RunWorker(Protocol):
    """The `run_worker` factory: see its docstring."""

    def __call__(
        self,
        *,
        partitions: int = ...,
        model: Path | None = ...,
        topics: Topics | None = ...,
        like: RunningWorker | None = ...,
        bootstrap: str | None = ...,
        kafka: Mapping[str, str] | None = ...,
        command: Sequence[str] = ...,
        assigned: int = ...,
        env: Mapping[str, str] | None = ...,
        **settings: str,
    ) -> RunningWorker: ...


@pytest.fixture
def run_worker(bootstrap: str, tiny_model_path: Path, tmp_path: Path) -> Iterator[RunWorker]:
    """Factory: start a worker and return it (a `RunningWorker`); teardown stops every worker
    it started that still runs (SIGTERM, a kill if it overruns).

    - `partitions`: the worker gets fresh uuid-named input/output topics of that many
      partitions, a DLQ topic and a consumer group (`tests.conftest.fresh_topics`);
    - `topics`: the worker serves these instead, made by the test (on the TLS broker, or
      with `extra` topics its settings name: `topics(partitions=2, extra={"shadow": 1})`);
    - `like`: another member like that worker: its topics, group and environment (a second
      member of one group, or a restart after a kill);
    - `bootstrap`, `kafka`: another broker than the session's, with the librdkafka
      properties its clients need (TLS, a proxy); fresh topics are made there;
    - `model`: `MODEL_PATH` (default: the session's tiny model);
    - `settings`: environment variables on top, as operators set them (`SHADOW_MODEL_PATH`);
      `env`: more of them as a mapping, for a helper that passes its own on (settings win);
    - `command`: what follows `python -m consumer` (`run --processes 2`, `feedback`, `serve`);
    - `assigned`: wait until that many members logged `partitions assigned` (0: do not wait;
      `run --processes N` has N members).
    """
    session_bootstrap = bootstrap
    started: list[RunningWorker] = []

    def run(
        *,
        partitions: int = 4,
        model: Path | None = None,
        topics: Topics | None = None,
        like: RunningWorker | None = None,
        bootstrap: str | None = None,
        kafka: Mapping[str, str] | None = None,
        command: Sequence[str] = ("run",),
        assigned: int = 0,
        env: Mapping[str, str] | None = None,
        **settings: str,
    ) -> RunningWorker:
        if like is not None:
            if topics is not None or bootstrap is not None or kafka is not None:
                raise TypeError("like= brings its own topics, broker and client properties")
            served, variables = like.topics, dict(like.env)
        else:
            broker = bootstrap or session_bootstrap
            served = topics or fresh_topics(broker, partitions, kafka)
            variables = worker_env_for(served, broker, tiny_model_path, kafka)
        if model is not None:
            variables["MODEL_PATH"] = str(model)
        variables.update(env or {})
        variables.update(settings)
        log = tmp_path / f"{command[0]}-{len(started)}.log"
        worker = RunningWorker(served, variables, log, command)
        worker.start()
        started.append(worker)
        if assigned:
            worker.wait_for_event(ASSIGNED, count=assigned)
        return worker

    yield run
    stop_all(started, timeout_s=15)
