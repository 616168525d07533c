"""Worker processes as the demo, the tests and the benchmarks start them.

A worker is `python -m consumer run`, exactly as operators run it, with its settings in the
environment and its output (JSON log lines, one event a line) captured in a file. This module
builds that environment for the embedded broker, starts the process, reads its log events,
finds the port its HTTP server picked (`METRICS_PORT=0`), and stops it: SIGTERM first, a kill
only when it overruns its timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from consumer.config.kafka import env_name_of_property
from consumer.devkit.broker import EMBEDDED_CLIENT_PROPERTIES, EMBEDDED_WORKER_SETTINGS

__all__ = [
    "RUN",
    "WorkerError",
    "WorkerProcess",
    "kafka_variables",
    "parse_events",
    "stop_all",
    "worker_environment",
]

#: The interpreter's arguments that start a worker: `content-classifier run`.
RUN = ("-m", "consumer", "run")
#: The event a worker logs once its HTTP server listens, with the port it got.
_LISTENING = "http server listening"


class WorkerError(RuntimeError):
    """A worker process exited, or did not log what was waited for in time."""


def kafka_variables(properties: Mapping[str, str]) -> dict[str, str]:
    """librdkafka properties as the `KAFKA_<NAME>` variables a worker reads them from."""
    return {env_name_of_property(prop): value for prop, value in properties.items()}


def worker_environment(
    bootstrap: str,
    settings: Mapping[str, str] | None = None,
    *,
    kafka: Mapping[str, str] | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a worker on the broker at `bootstrap`, as operators set it.

    `base` (by default this process's environment without its `KAFKA_` variables, which
    belong to whoever started us, not to the broker under test), then the embedded broker's
    client properties and `kafka` (librdkafka properties) as `KAFKA_<NAME>`, and its worker
    settings (a stopped worker does not leave the group), then `settings` (variables such as
    `INPUT_TOPIC`, which win), and the bootstrap servers last.
    """
    if base is None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env = dict(base)
    env.update(kafka_variables({**EMBEDDED_CLIENT_PROPERTIES, **(kafka or {})}))
    env.update(EMBEDDED_WORKER_SETTINGS)
    env.update(settings or {})
    env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    return env


def parse_events(text: str, names: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The JSON log events in a worker's output, in order (those named, if any names).

    Lines that are not JSON objects (librdkafka's own output, a traceback) are not events. A
    last line without its line break is still being written and is left for the next read.
    """
    wanted = set(names)
    lines = text.split("\n")[:-1]  # the part after the last break is incomplete
    events = []
    for line in lines:
        if line.startswith("{"):
            event = orjson.loads(line)
            if not wanted or event.get("event") in wanted:
                events.append(event)
    return events


class WorkerProcess:
    """One worker (or benchmark baseline) process with its output appended to `log_path`.

    `argv` is what follows the interpreter: `RUN` and the options of `run` (`--processes N`),
    or another module of the same shape (`-m bench.baselines passthrough`).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        argv: Sequence[str] = RUN,
        *,
        cwd: Path | None = None,
        append: bool = True,
    ) -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.argv = tuple(argv)
        self.cwd = cwd
        self.append = append
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise WorkerError("the worker process was not started")
        return self._process

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit code, or None while the process runs."""
        return self.process.poll()

    def start(self) -> WorkerProcess:
        self._log = self.log_path.open("ab" if self.append else "wb")
        self._process = subprocess.Popen(
            [sys.executable, *self.argv],
            env=self.env,
            cwd=self.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, *names: str) -> list[dict[str, Any]]:
        """The process's JSON log events so far, in order (those named, if any)."""
        return parse_events(self.log(), names)

    def wait_for_log(self, needle: str, timeout_s: float = 30.0) -> None:
        """Until `needle` appears in the output (a baseline prints plain lines, not events)."""
        self._wait(lambda: needle in self.log(), repr(needle), timeout_s)

    def wait_for_event(self, name: str, timeout_s: float = 30.0, count: int = 1) -> dict[str, Any]:
        """The first event called `name`, once the process has logged `count` of them (a
        `run --processes N` logs one for each of its members)."""
        found: list[dict[str, Any]] = []

        def logged() -> bool:
            found[:] = self.events(name)
            return len(found) >= count

        self._wait(logged, f"event {name!r}" if count == 1 else f"{count} x {name!r}", timeout_s)
        return found[0]

    def _wait(self, done: Callable[[], bool], what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if done():
                return
            if self.returncode is not None:
                raise WorkerError(f"worker exited {self.returncode}:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        raise WorkerError(f"{what} not logged within {timeout_s} s:\n{self.log()[-3000:]}")

    def logged_http_port(self) -> int | None:
        """The port the HTTP server logged it listens on, or None before it did."""
        events = self.events(_LISTENING)
        return int(events[0]["port"]) if events else None

    def http_port(self, timeout_s: float = 30.0) -> int:
        """The HTTP server's port, waiting for the server to listen."""
        return int(self.wait_for_event(_LISTENING, timeout_s)["port"])

    def probe(self, path: str) -> tuple[int, bytes]:
        """GET a path of the worker's HTTP server: (status, body)."""
        url = f"http://127.0.0.1:{self.http_port()}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def send_signal(self, sig: int = signal.SIGTERM) -> None:
        """Signal the process if it still runs (SIGTERM: drain, commit, exit)."""
        if self.returncode is None:
            self.process.send_signal(sig)

    def wait(self, timeout_s: float = 30.0) -> int:
        """The exit code, killing the process if it has not exited within `timeout_s`."""
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        finally:
            if self.returncode is not None:
                self._close_log()

    def terminate(self, timeout_s: float = 30.0) -> tuple[int, float]:
        """SIGTERM, then a kill after `timeout_s`; the exit code and the seconds it took.
        A worker that overran raises `subprocess.TimeoutExpired` (after its kill)."""
        started = time.monotonic()
        self.send_signal(signal.SIGTERM)
        code = self.wait(timeout_s)
        return code, time.monotonic() - started

    def wait_or_kill(self, timeout_s: float = 30.0) -> int:
        """The exit code, killing the process first if it overruns `timeout_s`."""
        try:
            return self.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return self.process.wait()

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then a kill after `timeout_s`: the exit code whichever ended it."""
        self.send_signal(signal.SIGTERM)
        return self.wait_or_kill(timeout_s)

    def kill(self) -> None:
        """SIGKILL: no revoke, no commit (a crash); nothing if it already exited."""
        if self.returncode is None:
            self.process.kill()
            self.process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def stop_all(workers: Sequence[WorkerProcess], timeout_s: float = 30.0) -> list[int]:
    """SIGTERM to every worker at once (they drain in parallel), then each one's exit code;
    one that overruns `timeout_s` is killed."""
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    return [worker.wait_or_kill(timeout_s) for worker in workers]
