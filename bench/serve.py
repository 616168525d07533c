"""`content-classifier serve` under load against the model alone, in one invocation.

A real server process (the default model, anonymous, batching on) and `--concurrency`
clients on one asyncio loop, each sending one-text requests back to back for `--seconds`;
then the same texts through `Classifier.classify` in batches of `--concurrency` texts in
this process (the model alone: what batching can at best reach). Both share the machine's
cores with their load generator, as stated in docs/benchmarks.md.

    .venv/bin/python -m bench.serve [--concurrency 32] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from bench._inputs import load_texts
from consumer.config.paths import default_model_path
from consumer.devkit.broker import free_port
from consumer.model.artifact import load_model

REPO = Path(__file__).resolve().parents[1]


async def load(url: str, texts: list[str], concurrency: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def one(worker: int) -> None:
            at = worker
            while time.monotonic() < deadline:
                started = time.perf_counter()
                response = await client.post("/v1/classify", json={"text": texts[at % len(texts)]})
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text}")
                at += concurrency

        await asyncio.gather(*(one(i) for i in range(concurrency)))
    return latencies


def start(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SERVE_PORT": str(port), "SERVE_ANONYMOUS": "true"}
    env["LOG_LEVEL"] = "WARNING"
    process = subprocess.Popen([sys.executable, "-m", "consumer", "serve"], env=env, cwd=REPO)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("serve did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    texts, _ = load_texts(5000, 17)
    port = free_port()
    server = start(port)
    try:
        url = f"http://127.0.0.1:{port}"
        asyncio.run(load(url, texts, args.concurrency, 2.0))  # warm-up
        started = time.monotonic()
        latencies = asyncio.run(load(url, texts, args.concurrency, args.seconds))
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(30)
    served = len(latencies) / elapsed
    p50, p99 = np.percentile(np.asarray(latencies) * 1000, [50, 99])
    classifier = load_model(default_model_path())
    size = args.concurrency
    classifier.classify(texts[:size])
    done, started = 0, time.monotonic()
    while time.monotonic() - started < min(args.seconds, 10.0):
        classifier.classify(texts[done % 4000 : done % 4000 + size])
        done += size
    alone = done / (time.monotonic() - started)
    print(
        f"serve, {args.concurrency} concurrent clients, one text a request: "
        f"{served:,.0f} texts/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
        f"model alone in batches of {size}: {alone:,.0f} texts/s; ratio {served / alone:.3f}"
    )


if __name__ == "__main__":
    main()
