"""The group's worker processes, and the model folder they serve (hot reload)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson

from consumer.devkit.chaos.observe import Timeline
from consumer.devkit.harness import RUN, WorkerError, WorkerProcess

__all__ = ["Members", "rewrite_model", "serving_model"]


class Members:
    """The group's worker processes, each known by a label (`m0.2`: member m0's third start):
    steady members `m0`, `m1`... (started again after a kill or a stop) and joiners that come
    and go. Each process logs to `<label>.log`."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_dir: Path,
        timeline: Timeline,
        shutdown_s: float,
        argv: Sequence[str] = RUN,
    ) -> None:
        self.env, self.log_dir, self.timeline, self.shutdown_s = env, log_dir, timeline, shutdown_s
        self.argv = tuple(argv)
        #: Every process started, by label, and the label each member name runs now.
        self.processes: dict[str, WorkerProcess] = {}
        self.current: dict[str, str] = {}
        self.exit_codes: dict[str, int | None] = {}
        self._starts = Counter[str]()
        self._lock = threading.Lock()

    def start(self, name: str) -> str:
        """Start member `name` (again); returns the new process's label."""
        with self._lock:
            label = f"{name}.{self._starts[name]}"
            self._starts[name] += 1
        worker = WorkerProcess(self.env, self.log_dir / f"{label}.log", self.argv, append=False)
        worker.start()
        with self._lock:
            self.processes[label] = worker
            self.current[name] = label
            self.exit_codes[label] = None
        self.timeline.add("member started", member=label, pid=worker.pid)
        return label

    def kill(self, name: str) -> str:
        """SIGKILL member `name`'s current process; returns its label."""
        label = self.current[name]
        worker = self.processes[label]
        worker.kill()
        self.exit_codes[label] = worker.returncode
        self.timeline.add("member killed", member=label)
        return label

    def term(self, label: str) -> int:
        """SIGTERM the process `label` and wait for it (a kill if it overruns): its exit code."""
        started = time.monotonic()
        code = self.processes[label].stop(self.shutdown_s + 10)
        self.exit_codes[label] = code
        took = round(time.monotonic() - started, 2)
        self.timeline.add("member stopped", member=label, code=code, took_s=took)
        return code

    def visit(self, label: str, hold_s: float) -> None:
        """Let the process `label` run `hold_s` once it has subscribed (`worker started`: a
        slow start does not eat the visit), then stop it."""
        with contextlib.suppress(WorkerError):
            self.processes[label].wait_for_event("worker started", timeout_s=60)
        time.sleep(hold_s)
        self.term(label)

    def running(self) -> dict[str, WorkerProcess]:
        with self._lock:
            return {k: w for k, w in self.processes.items() if w.returncode is None}

    def ports(self) -> dict[str, int]:
        ports = {}
        for label, worker in self.running().items():
            port = worker.logged_http_port()
            if port is not None:
                ports[label] = port
        return ports

    def stop_all(self) -> None:
        running = self.running()
        for worker in running.values():
            worker.send_signal(signal.SIGTERM)
        for label, worker in running.items():
            self.exit_codes[label] = worker.wait_or_kill(self.shutdown_s + 10)


def serving_model(source: Path, folder: Path) -> Path:
    """A copy of the model that the workers serve and a `reload` rewrites."""
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(source, folder)
    return folder


def rewrite_model(folder: Path, number: int) -> str:
    """A new version of the served model: the same file under a new manifest version, written
    whole (rename) so that a watcher never reads half of it."""
    manifest_path = folder / "manifest.json"
    manifest = orjson.loads(manifest_path.read_bytes())
    base = str(manifest.get("chaos_base_version") or manifest["version"])
    manifest.update(version=f"{base}-chaos.{number}", chaos_base_version=base)
    scratch = folder / ".manifest.json.tmp"
    scratch.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    os.replace(scratch, manifest_path)
    return str(manifest["version"])
