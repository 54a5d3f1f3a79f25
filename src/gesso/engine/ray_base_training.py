"""`gesso train base --workers N`: the base denoiser's loop (`train/base_loop.py`) as N DDP
ranks of a Ray Train `TorchTrainer` (gloo on CPU, NCCL on GPU).

Every rank reads the run's `out_dir` (rank 0 writes the feature cache, the checkpoints and the
final pipeline there), so on a cluster it is a folder every node mounts at the same path, like
the data and the autoencoder; a stopped run resumes from its latest checkpoint there, on any
number of ranks. The organisation's own training data never leaves its cluster.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from pathlib import Path

from gesso.engine.ray_finetune_training import RayTrainOptions
from gesso.train.run_config import BaseRunConfig


def train_base_on_ray(config: BaseRunConfig, options: RayTrainOptions) -> Path:
    """Run the base loop on `options.workers` ranks of the cluster this process joined; returns
    the final pipeline's folder. Raises RuntimeError with one line when the run fails."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    resources = {"CPU": options.cpus_per_worker}
    if options.gpus_per_worker:
        resources["GPU"] = options.gpus_per_worker
    trainer = TorchTrainer(
        _base_rank,
        train_loop_config={"config": asdict(config), "threads": max(1, int(options.cpus_per_worker))},
        scaling_config=ScalingConfig(num_workers=options.workers, use_gpu=options.gpus_per_worker > 0,
                                     resources_per_worker=resources),
        run_config=RunConfig(name=f"base-{uuid.uuid4().hex[:8]}", storage_path=options.storage_path),
    )
    try:
        trainer.fit()
    except Exception as error:  # noqa: BLE001 - Ray wraps the rank's error in its own types
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise RuntimeError(f"base training on Ray failed: {first[:300]}") from error
    final = Path(config.out_dir) / "final"  # rank 0 wrote it in the shared out_dir
    if not (final / "train_config.json").is_file():
        raise RuntimeError(f"base training on Ray ended without a pipeline in {final}")
    return final


def _base_rank(spec: dict) -> None:
    import ray.train
    import torch

    from gesso.train.base_loop import train_base

    torch.set_num_threads(spec["threads"])
    final = train_base(BaseRunConfig(**spec["config"]), progress=ray.train.get_context().get_world_rank() == 0)
    ray.train.report({"final": str(final)})
