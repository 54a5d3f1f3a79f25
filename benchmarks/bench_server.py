"""Server throughput with 16 concurrent clients: dynamic batching on against off, side by side.

Each configuration is a fresh `gesso serve` (uvicorn on loopback) with the shipped model; 16
client threads use the official `openai` SDK, each sending `requests_per_client` generations.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

import openai

from gesso.settings import get_settings
from tests.service.server_process import ServerProcess

CLIENTS = 16


def _admin_key(server: ServerProcess) -> str:
    lines = server.printed_lines()
    return lines[lines.index(next(line for line in lines if "admin API key" in line)) + 1]


def _measure(max_batch: int, requests_per_client: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(
            Path(tmp), get_settings().models_dir, max_batch_images=max_batch, rate_limit_per_minute=100_000,
            tenant_images_per_day=1_000_000, max_queued_jobs=1024,
        )
        server.start(timeout=180)
        try:
            client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=_admin_key(server), max_retries=0, timeout=600)
            client.images.generate(model="gesso-base", prompt="warm up", n=1)  # model loaded, caches warm
            latencies: list[float] = []
            lock = threading.Lock()

            def worker(k: int) -> None:
                for i in range(requests_per_client):
                    start = time.perf_counter()
                    client.images.generate(model="gesso-base", prompt=f"red apple {k} {i}", n=1)
                    with lock:
                        latencies.append(time.perf_counter() - start)

            started = time.perf_counter()
            threads = [threading.Thread(target=worker, args=(k,)) for k in range(CLIENTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
        finally:
            server.stop()
    latencies.sort()
    return {
        "images_per_s": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p95": latencies[int(0.95 * (len(latencies) - 1))],
        "requests": len(latencies),
    }


def run(requests_per_client: int = 4, repeats: int = 3) -> str:
    rows = []
    ratios = []
    for r in range(repeats):
        on = _measure(16, requests_per_client)
        off = _measure(1, requests_per_client)
        ratios.append(on["images_per_s"] / off["images_per_s"])
        rows.append((r + 1, on, off))
    lines = [
        f"## Server: {CLIENTS} concurrent clients, dynamic batching on (max 16) vs off",
        "",
        f"Each client sends {requests_per_client} `images.generate` calls (n=1, default settings) through the",
        "official `openai` SDK to a fresh `gesso serve` on loopback; the two servers run one after the other",
        "in the same repeat.",
        "",
        "| repeat | batching | images/s | p50 latency | p95 latency |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r, on, off in rows:
        lines.append(f"| {r} | on | {on['images_per_s']:.2f} | {on['p50']:.2f} s | {on['p95']:.2f} s |")
        lines.append(f"| {r} | off | {off['images_per_s']:.2f} | {off['p50']:.2f} s | {off['p95']:.2f} s |")
    lines += ["", f"Throughput ratio on/off, median of {repeats} repeats: **{statistics.median(ratios):.2f}x**.", ""]
    return "\n".join(lines)
