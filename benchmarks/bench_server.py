"""Server throughput with 16 concurrent clients: dynamic batching on against off, side by side.

Each configuration is a fresh `gesso serve` (uvicorn on loopback) with the shipped model; 16
client threads use the official `openai` SDK, each sending `requests_per_client` generations.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from benchmarks.sdk_load import drive, sdk_client
from gesso.settings import get_settings
from tests.service.server_process import ServerProcess

CLIENTS = 16


def _measure(max_batch: int, requests_per_client: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(
            Path(tmp), get_settings().models_dir, max_batch_images=max_batch, rate_limit_per_minute=100_000,
            tenant_images_per_day=1_000_000, max_queued_jobs=1024,
        )
        server.start(timeout=180)
        try:
            client = sdk_client(server.url, server.admin_key())
            client.images.generate(model="gesso-base", prompt="warm up", n=1)  # model loaded, caches warm
            return drive(client, CLIENTS, requests_per_client)
        finally:
            server.stop()


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
