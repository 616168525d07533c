"""`content-classifier serve` under load against the model alone, in one invocation.

A real server process (the default model, anonymous, batching on) is loaded by a light
HTTP/1.1 client: `--concurrency` keep-alive connections on one asyncio loop, each sending
requests back to back for `--seconds`, first with one text a request, then with
`--texts` texts a request. The client writes prepared request bytes and reads the answer
by its Content-Length, so it costs the shared cores a fraction of what a full HTTP client
would and the figure is the server's. Then the same texts go through `Classifier.classify`
in batches of `--concurrency` texts in this process: the model alone, what batching can
at best reach. A third run sends one text a request to a server on asyncio and h11
(bench/_plain_serve.py), the baseline of the uvloop and httptools it runs on. The CPU each
side used is printed with the figures.

    .venv/bin/python -m bench.serve [--concurrency 32] [--texts 32] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import orjson

from bench._inputs import load_texts
from consumer.config.paths import default_model_path
from consumer.devkit.broker import free_port
from consumer.model.artifact import load_model

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    texts: int
    latencies: list[float]
    elapsed: float
    server_cpu: float
    client_cpu: float

    def line(self, label: str) -> str:
        p50, p99 = np.percentile(np.asarray(self.latencies) * 1000, [50, 99])
        return (
            f"{label}: {len(self.latencies) / self.elapsed:,.0f} requests/s, "
            f"{self.texts / self.elapsed:,.0f} texts/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
            f"server CPU {self.server_cpu / self.elapsed:.0%}, "
            f"client CPU {self.client_cpu / self.elapsed:.0%}"
        )


def request(body: bytes) -> bytes:
    head = (
        b"POST /v1/classify HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % len(body)
    )
    return head + body


async def connection(
    port: int, requests: list[bytes], first: int, step: int, deadline: float, out: list[float]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    at = first
    try:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            writer.write(requests[at % len(requests)])
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            out.append(time.perf_counter() - started)
            if not status.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"{status!r}: {body[:200]!r}")
            at += step
    finally:
        writer.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def load(
    port: int, server: int, requests: list[bytes], size: int, concurrency: int, seconds: float
) -> Run:
    latencies: list[float] = []

    async def clients() -> None:
        deadline = time.monotonic() + seconds
        await asyncio.gather(
            *(
                connection(port, requests, i, concurrency, deadline, latencies)
                for i in range(concurrency)
            )
        )

    server_before, client_before = cpu_seconds(server), time.process_time()
    started = time.monotonic()
    asyncio.run(clients())
    elapsed = time.monotonic() - started
    return Run(
        texts=len(latencies) * size,
        latencies=latencies,
        elapsed=elapsed,
        server_cpu=cpu_seconds(server) - server_before,
        client_cpu=time.process_time() - client_before,
    )


def start(port: int, plain: bool = False) -> subprocess.Popen[bytes]:
    """A server process; `plain` on asyncio and h11 (bench/_plain_serve.py)."""
    env = {**os.environ, "SERVE_PORT": str(port), "SERVE_ANONYMOUS": "true"}
    env["LOG_LEVEL"] = "WARNING"
    command = ["-m", "bench._plain_serve"] if plain else ["-m", "consumer", "serve"]
    process = subprocess.Popen([sys.executable, *command], env=env, cwd=REPO)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("serve did not become ready")


def mean_batch(port: int) -> float:
    """Texts a model call so far, from the server's own metrics."""
    samples = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in httpx.get(f"http://127.0.0.1:{port}/metrics").text.splitlines()
        if line.startswith("content_classifier_http_batch_texts_")
    }
    count = samples.get("content_classifier_http_batch_texts_count", 0.0)
    return samples.get("content_classifier_http_batch_texts_sum", 0.0) / count if count else 0.0


def model_alone(texts: list[str], size: int, seconds: float) -> float:
    classifier = load_model(default_model_path())
    classifier.classify(texts[:size])
    done, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        at = done % (len(texts) - size)
        classifier.classify(texts[at : at + size])
        done += size
    return done / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--texts", type=int, default=32, help="texts a request, second run")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    texts, _ = load_texts(5000, 17)
    single = [request(orjson.dumps({"text": text})) for text in texts]
    many = [
        request(orjson.dumps({"texts": texts[at : at + args.texts]}))
        for at in range(0, len(texts) - args.texts, args.texts)
    ]
    port = free_port()
    server = start(port)
    try:
        load(port, server.pid, single, 1, args.concurrency, 2.0)  # warm-up
        one = load(port, server.pid, single, 1, args.concurrency, args.seconds)
        one_batch = mean_batch(port)
        batch = load(port, server.pid, many, args.texts, args.concurrency, args.seconds)
    finally:
        server.terminate()
        server.wait(30)
    port = free_port()
    server = start(port, plain=True)
    try:
        load(port, server.pid, single, 1, args.concurrency, 2.0)
        plain = load(port, server.pid, single, 1, args.concurrency, args.seconds)
        plain_batch = mean_batch(port)
    finally:
        server.terminate()
        server.wait(30)
    alone = model_alone(texts, args.concurrency, min(args.seconds, 10.0))
    print(one.line(f"serve, {args.concurrency} connections, one text a request"))
    print(f"  texts a model call, one text a request (warm-up included): {one_batch:.1f}")
    print(batch.line(f"serve, {args.concurrency} connections, {args.texts} texts a request"))
    print(plain.line(f"serve on asyncio and h11, {args.concurrency} connections, one text"))
    print(f"  texts a model call (warm-up included): {plain_batch:.1f}")
    one_rate, batch_rate = one.texts / one.elapsed, batch.texts / batch.elapsed
    print(
        f"model alone in batches of {args.concurrency}: {alone:,.0f} texts/s; "
        f"ratios {one_rate / alone:.3f} (one text) and {batch_rate / alone:.3f} "
        f"({args.texts} texts); uvloop and httptools over asyncio and h11: "
        f"{one_rate / (plain.texts / plain.elapsed):.2f}x"
    )


if __name__ == "__main__":
    main()
