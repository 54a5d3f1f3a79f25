"""Server throughput with 16 concurrent clients: dynamic batching on against off, side by side.

Each configuration is a fresh `gesso serve` (uvicorn on loopback) with the shipped model; 16
client threads use the official `openai` SDK, each sending `requests_per_client` generations.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

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


def _pipeline_images_per_s(batch: int) -> Callable[[], float]:
    """The in-process pipeline at the server's batch size and default settings (what the server
    would reach if serving cost nothing)."""
    from gesso.engine.device import pick_device
    from gesso.engine.model_registry import resolve_model
    from gesso.engine.pipeline_cache import pipeline_cache_for

    settings = get_settings()
    pipe = pipeline_cache_for(settings, pick_device(settings.device)).get(
        resolve_model(settings.default_model, settings.models_dir), settings.default_sampler)
    pipe.set_progress_bar_config(disable=True)

    def measure() -> float:
        runs = []
        for _ in range(2):
            start = time.perf_counter()
            pipe(["warm up"] * batch, seed=list(range(batch)), num_inference_steps=settings.default_steps,
                 guidance_scale=settings.default_guidance, output_type="pt")
            runs.append(batch / (time.perf_counter() - start))
        return statistics.median(runs)

    return measure


def run(requests_per_client: int = 4, repeats: int = 3) -> str:
    rows = []
    ratios, to_pipeline = [], []
    pipeline = _pipeline_images_per_s(16)
    pipeline()  # loaded and warm
    for r in range(repeats):
        alone = pipeline()
        on = _measure(16, requests_per_client)
        off = _measure(1, requests_per_client)
        ratios.append(on["images_per_s"] / off["images_per_s"])
        to_pipeline.append(on["images_per_s"] / alone)
        rows.append((r + 1, on, off, alone))
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
    for r, on, off, alone in rows:
        lines.append(f"| {r} | on | {on['images_per_s']:.2f} | {on['p50']:.2f} s | {on['p95']:.2f} s |")
        lines.append(f"| {r} | off | {off['images_per_s']:.2f} | {off['p50']:.2f} s | {off['p95']:.2f} s |")
        lines.append(f"| {r} | in-process pipeline, batch of 16 | {alone:.2f} | - | - |")
    lines += ["", f"Throughput ratio on/off, median of {repeats} repeats: **{statistics.median(ratios):.2f}x**.",
              f"Server (batching on) against the in-process pipeline at the same batch size, median of {repeats} "
              f"repeats: **{statistics.median(to_pipeline):.2f}x** (the per-image costs after sampling are in the "
              "next section).", ""]
    return "\n".join(lines)
