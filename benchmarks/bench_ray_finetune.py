"""A LoRA fine-tune's step time on Ray Train: 1 rank against 2 DDP ranks (gloo on CPU), side by
side in one run, same global batch and the same CPUs per rank.

The ranks run the fine-tune loop (`train_lora` with the Ray ranks' `RankPlan`) on the shipped
model and 32 generated images; the step time is rank 0's wall clock between its first and last
step events, so loading and feature caching are left out. Uses the cluster at GESSO_RAY_ADDRESS,
or starts a local one for the run.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

STEPS, BATCH, IMAGES, ROUNDS = 30, 8, 32, 2


def _write_dataset(folder: Path) -> Path:
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(IMAGES):
        colour = ("red", "blue", "green", "orange")[i % 4]
        image = Image.new("RGB", (64, 64), "white")
        ImageDraw.Draw(image).ellipse((8 + i % 8, 8, 56, 56 - i % 8), fill=colour)
        image.save(folder / f"{i:03d}.png")
        lines.append(json.dumps({"file_name": f"{i:03d}.png", "text": f"a {colour} blob"}))
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def _rank(spec: dict) -> None:
    import ray.train
    import ray.train.torch
    import torch

    from gesso.engine.ray_finetune_rank import _broadcast, _report_without_checkpoint, _wrap_ddp
    from gesso.model.pipeline_gesso import GessoPipeline
    from gesso.train.lora_loop import train_lora
    from gesso.train.lora_step import RankPlan
    from gesso.train.run_config import FinetuneRunConfig

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.set_num_threads(spec["threads"])
    out = Path(tempfile.mkdtemp(prefix=f"bench-ft-{rank}-"))
    config = FinetuneRunConfig(data_dir=spec["data"], out_dir=str(out), base_model_dir=spec["model"],
                               max_steps=STEPS, batch_size=BATCH, checkpoint_every=10 * STEPS, log_every=1,
                               mixed_precision="no", validation_prompts=[])
    pipe = GessoPipeline.load(config.base_model_dir, device=ray.train.torch.get_device())
    pipe.set_progress_bar_config(disable=True)
    stamps: list[float] = []

    def on_event(event) -> None:  # noqa: ANN001
        if event.kind == "metrics":
            stamps.append(time.perf_counter())

    plan = RankPlan(rank=rank, world=world, wrap=_wrap_ddp(world), agree=_broadcast(torch.device("cpu")),
                    checkpointed=_report_without_checkpoint)
    train_lora(config, on_event=on_event, progress=False, pipe=pipe, ranks=plan)
    if rank == 0:
        Path(spec["result"]).write_text(json.dumps({"step_s": (stamps[-1] - stamps[0]) / (len(stamps) - 1)}))


def _step_time(workers: int, cpus: int, data: Path, model: Path, tmp: Path) -> float:
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    result = tmp / f"result-{workers}-{time.monotonic_ns()}.json"
    TorchTrainer(
        _rank,
        train_loop_config={"threads": cpus, "data": str(data), "model": str(model), "result": str(result)},
        scaling_config=ScalingConfig(num_workers=workers, resources_per_worker={"CPU": cpus}),
        run_config=RunConfig(storage_path=str(tmp / "ray-train"), name=f"bench-{workers}-{time.monotonic_ns()}"),
    ).fit()
    return json.loads(result.read_text())["step_s"]


def run() -> str:
    import ray

    from gesso.engine.model_registry import resolve_model
    from gesso.settings import get_settings

    settings = get_settings()
    model = resolve_model(settings.default_model, settings.models_dir)
    cores = os.cpu_count() or 2
    cpus = max(1, cores // 2)  # two ranks of `cpus` fill the machine; one rank gets the same share
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local run writes no token file for others
    if settings.ray_address:
        ray.init(address=settings.ray_address, log_to_driver=False)
    else:
        ray.init(num_cpus=2 * cpus, include_dashboard=False, log_to_driver=False)
    times: dict[int, list[float]] = {1: [], 2: []}
    try:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            data = _write_dataset(tmp / "data")
            for _ in range(ROUNDS):
                for workers in times:
                    times[workers].append(_step_time(workers, cpus, data, model, tmp))
    finally:
        ray.shutdown()
    one, two = (statistics.median(times[w]) for w in (1, 2))
    return "\n".join([
        f"## LoRA fine-tune on Ray Train: 1 rank against 2 DDP ranks ({STEPS} steps, global batch {BATCH}, "
        f"{cpus} CPU(s) per rank, shipped model)",
        "",
        "| ranks | median step time | images/s |",
        "| --- | --- | --- |",
        f"| 1 | {one * 1000:.0f} ms | {BATCH / one:.1f} |",
        f"| 2 | {two * 1000:.0f} ms | {BATCH / two:.1f} |",
        "",
        f"Median of {ROUNDS} rounds, the two variants alternating. Each of 2 ranks draws half the batch, "
        f"so a step of 2 ranks is {one / two:.2f}x as fast as one rank's.",
        "",
    ])


if __name__ == "__main__":
    print(run())  # noqa: T201 (a CLI script)
