"""One rank of a fine-tune on Ray Train: the LoRA loop (`train_lora`) under DDP.

Each rank opens the sealed dataset (and the resume checkpoint, if any) the driver put in Ray's
object store into a private temporary folder, loads its own copy of the base pipeline, and runs
the shared loop with a `RankPlan`: the denoiser wrapped in DDP (gloo on CPU, NCCL on GPU), its
share of the rows, rank 0's pause or cancel broadcast to all. Rank 0 seals each checkpoint,
reports it to Ray Train (persisted under the run's storage path: ciphertext only) and pushes it,
with the other events and the final adapter, to the job's channel.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from pathlib import Path

import torch

from gesso.engine.sealed_folders import open_into, seal_folder
from gesso.jobs.fine_tunes import FileSealing
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.train.lora_loop import CANCEL, PAUSE, SAMPLES_FILE, TrainingEvent, train_lora
from gesso.train.lora_step import RankPlan
from gesso.train.run_config import FinetuneRunConfig

TRAVELLING = (".safetensors", ".json")
ACTIONS = (None, CANCEL, PAUSE)
DATASET, VALIDATION, RESUME, CHECKPOINT, ADAPTER = "dataset", "validation", "resume", "checkpoint", "adapter"


def train_rank(spec: dict) -> None:
    """Ray Train's `train_loop_per_worker`. `spec`: config (a FinetuneRunConfig as a dict),
    sealing (FileSealing), channel (JobChannel actor), data and resume (object refs of sealed
    files; resume may be None), threads, control_every_s."""
    import ray
    import ray.train

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.set_num_threads(spec["threads"])
    sealing: FileSealing = spec["sealing"]
    work = Path(tempfile.mkdtemp(prefix=f"gesso-ft-rank{rank}-"))
    try:
        sealed = ray.get(spec["data"])
        config = FinetuneRunConfig(**spec["config"])
        config = dataclasses.replace(
            config, out_dir=str(work), data_dir=str(open_into(sealing, sealed, DATASET, work / DATASET)),
            validation_data_dir=str(open_into(sealing, sealed, VALIDATION, work / VALIDATION))
            if config.validation_data_dir else "",
        )
        _restore(sealing, spec, work / "checkpoints")
        device = ray.train.torch.get_device()
        pipe = GessoPipeline.load(config.base_model_dir, device=device)
        pipe.set_progress_bar_config(disable=True)
        channel = spec["channel"]
        events = _Rank0Events(sealing, channel) if rank == 0 else None
        plan = RankPlan(
            rank=rank, world=world, wrap=_wrap_ddp(world), agree=_broadcast(device),
            checkpointed=events.report if events else _report_without_checkpoint,
        )
        control = _poll(channel, spec["control_every_s"]) if rank == 0 else None
        result = train_lora(config, on_event=events.emit if events else None, control=control, progress=False,
                            pipe=pipe, ranks=plan)
        if events is not None:
            channel.push.remote({"kind": "result", "status": result.status, "step": result.step,
                                 "total_steps": result.total_steps})
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _restore(sealing: FileSealing, spec: dict, checkpoints: Path) -> None:
    """The resume point: Ray's own latest checkpoint of this run (after a worker was restarted),
    else the job's last stored checkpoint that the driver sent."""
    import ray
    import ray.train

    restored = ray.train.get_checkpoint()
    if restored is not None:
        with restored.as_directory() as folder:
            sealed = {p.relative_to(folder).as_posix(): p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}
    elif spec["resume"] is not None:
        sealed = ray.get(spec["resume"])
    else:
        return
    for name in {key.split("/")[1] for key in sealed if key.startswith(CHECKPOINT + "/")}:
        open_into(sealing, sealed, f"{CHECKPOINT}/{name}", checkpoints / name)


def _wrap_ddp(world: int):  # noqa: ANN202
    def wrap(module: torch.nn.Module) -> torch.nn.Module:
        if world <= 1:
            return module
        import ray.train.torch

        return ray.train.torch.prepare_model(module)

    return wrap


def _broadcast(device: torch.device):  # noqa: ANN202
    """Rank 0's action to every rank (one small tensor per step)."""
    import torch.distributed as dist

    def agree(action: str | None) -> str | None:
        if not dist.is_initialized() or dist.get_world_size() == 1:
            return action
        code = torch.tensor([ACTIONS.index(action) if action in ACTIONS else 0], device=device)
        dist.broadcast(code, 0)
        return ACTIONS[int(code.item())]

    return agree


def _poll(channel, every_s: float):  # noqa: ANN001, ANN202
    """The driver's requested action, read from the channel at most every `every_s`."""
    import ray

    last = {"at": 0.0, "action": None}

    def control() -> str | None:
        now = time.monotonic()
        if now - last["at"] >= every_s:
            last["at"] = now
            last["action"] = ray.get(channel.action.remote())
        return last["action"]

    return control


def _report_without_checkpoint(step: int, folder: Path | None) -> None:  # noqa: ARG001
    import ray.train

    ray.train.report({"step": step})


class _Rank0Events:
    """Rank 0's events to the channel, their files sealed; each checkpoint also reported to Ray."""

    def __init__(self, sealing: FileSealing, channel):  # noqa: ANN001
        self.sealing, self.channel = sealing, channel
        self._checkpoint: dict[str, bytes] = {}

    def emit(self, event: TrainingEvent) -> None:
        files: dict[str, bytes] = {}
        if event.kind == "checkpoint" and event.checkpoint is not None:
            prefix = f"{CHECKPOINT}/{event.checkpoint.name}"
            files = seal_folder(self.sealing, event.checkpoint, prefix, TRAVELLING)
            self._checkpoint = dict(files)
            if event.samples is not None:
                files[f"{prefix}/{SAMPLES_FILE}"] = self.sealing.seal(f"{prefix}/{SAMPLES_FILE}",
                                                                     event.samples.read_bytes())
        elif event.kind == "succeeded" and event.adapter is not None:
            files = seal_folder(self.sealing, event.adapter, ADAPTER)
        self.channel.push.remote({
            "kind": event.kind, "step": event.step, "total_steps": event.total_steps, "message": event.message,
            "loss": event.loss, "valid_loss": event.valid_loss, "files": files,
        })

    def report(self, step: int, folder: Path | None) -> None:  # noqa: ARG002
        """Ray Train's checkpoint of this step: the sealed files, never the plain ones."""
        import ray.train

        staged = Path(tempfile.mkdtemp(prefix="gesso-sealed-ckpt-"))
        try:
            for name, data in self._checkpoint.items():
                (staged / name).parent.mkdir(parents=True, exist_ok=True)
                (staged / name).write_bytes(data)
            ray.train.report({"step": step}, checkpoint=ray.train.Checkpoint.from_directory(staged))
        finally:
            shutil.rmtree(staged, ignore_errors=True)
