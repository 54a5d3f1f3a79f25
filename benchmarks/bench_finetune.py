"""A 500-step LoRA fine-tune of the shipped model at its native size: wall clock and peak memory.

Each run is a fresh process (so its peak resident memory is its own) on 100 Fluent 3D images.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from gesso.data.dataset_format import read_rows
from gesso.train.style_demo import write_subset

CHILD = """
import json, resource, sys, time
from gesso.train.lora_loop import train_lora
from gesso.train.run_config import FinetuneRunConfig
cfg = FinetuneRunConfig(data_dir=sys.argv[1], out_dir=sys.argv[2], base_model_dir=sys.argv[3], max_steps=500,
                        batch_size=4, checkpoint_every=100)
start = time.perf_counter()
train_lora(cfg, progress=False)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024}))
"""


def run(runs: int = 3) -> str:
    from gesso.engine.model_registry import resolve_model
    from gesso.settings import get_settings

    settings = get_settings()
    model_dir = resolve_model(settings.default_model, settings.models_dir)
    fluent = Path("corpus/fluent3d")
    if not (fluent / "metadata.jsonl").is_file():
        return "## LoRA fine-tune\n\nSkipped: build corpus/fluent3d first (`gesso data build-emoji --styles fluent3d --out corpus/fluent3d`).\n"
    rows = [r for r in read_rows(fluent) if r.extra["label"] == r.extra["concept"]][:100]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        data = write_subset(rows, fluent, Path(tmp) / "data")
        for k in range(runs):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(data), str(Path(tmp) / f"run{k}"), str(model_dir)],
                capture_output=True, text=True, check=True,
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    seconds = statistics.median(r["seconds"] for r in results)
    peak = max(r["peak_gib"] for r in results)
    return "\n".join([
        "## LoRA fine-tune of the shipped model (500 steps, batch 4, rank 8, 64x64, checkpoints every 100)",
        "",
        "| runs | median wall clock | peak resident memory (max of runs) |",
        "| --- | --- | --- |",
        f"| {runs} | {seconds / 60:.2f} min | {peak:.2f} GiB |",
        "",
        "Includes loading the model, caching latents and text states, 5 checkpoints with sample grids.",
        "",
    ])
