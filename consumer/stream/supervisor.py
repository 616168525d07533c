"""`content-classifier run --processes N`: N workers of one consumer group on one machine.

A worker runs its model on one core (scikit-learn's text models hold the GIL), so a machine
with N cores runs N worker processes; the consumer group spreads the partitions over them.
Each child is a whole `content-classifier run` with the same settings, except that a fixed
`METRICS_PORT` becomes one port per child (`METRICS_PORT`, `+1`, ...). SIGTERM and SIGINT
are passed on to every child. A local run is all or nothing: when one child exits by itself
the others are stopped too, and the exit code is the first non-zero one. Under Kubernetes run
one process per pod instead, and let the Deployment (or KEDA) count them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

from consumer.config.logs import get_logger
from consumer.config.settings import Settings

__all__ = ["process_count", "run_processes"]

log = get_logger(__name__)

_GRACE_S = 5.0


def process_count(requested: int) -> int:
    """`0` means one process per core."""
    return requested if requested > 0 else (os.cpu_count() or 1)


def _child_env(settings: Settings, index: int) -> dict[str, str]:
    env = dict(os.environ)
    if settings.metrics_port:
        env["METRICS_PORT"] = str(settings.metrics_port + index)
    return env


def run_processes(count: int, settings: Settings) -> int:
    """Start `count` workers, pass signals on, and wait for all of them."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping the worker processes", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "consumer", "run"],
            env=_child_env(settings, index),
            stdin=subprocess.DEVNULL,
        )
        for index in range(count)
    ]
    log.info("worker processes started", processes=count, pids=[c.pid for c in children])
    first_exit: int | None = None
    while not stop.is_set():
        ended = [code for code in (c.poll() for c in children) if code is not None]
        if ended:
            first_exit = next((code for code in ended if code != 0), ended[0])
            log.warning("a worker process exited; stopping the others", exit_code=first_exit)
            break
        stop.wait(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + settings.shutdown_timeout_s + _GRACE_S
    codes: list[int] = []
    for child in children:
        try:
            codes.append(child.wait(max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            child.kill()
            codes.append(child.wait())
    failed = [code for code in codes if code != 0]
    if first_exit:
        return first_exit
    return failed[0] if failed else 0
