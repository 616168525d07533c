"""A `content-classifier serve` process on a free port, with an API key file, for tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from consumer.devkit.broker import free_port
from tests.kafka_helpers import REPO

KEY = "analyst-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None and httpx.get(f"{self.url}/healthz").status_code == 200


def start_server(tmp_path: Path, **settings: str) -> Server:
    keys = tmp_path / "keys"
    keys.write_text(f"# the analysts' key\nanalyst:{KEY}\n")
    port = free_port()
    env = {
        **os.environ,
        "SERVE_PORT": str(port),
        "SERVE_API_KEYS_FILE": str(keys),
        "SERVE_BODY_TIMEOUT_S": "1",
        "MAX_TEXT_CHARS": "2000",
        "SERVE_MAX_TEXTS": "100",
        "SERVE_MAX_BODY_BYTES": "65536",
        **settings,
    }
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "consumer", "serve"],
        env=env,
        cwd=REPO,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return Server(url, port, process, log)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"serve did not become ready: {log.read_text()}")
