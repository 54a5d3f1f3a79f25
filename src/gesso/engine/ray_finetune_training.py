"""A claimed fine-tune trained on Ray Train: the driver side, run by the fine-tune worker in
place of its in-process training (same job contract: events in, a `FinetuneResult` out).

The driver seals the job's data and its resume checkpoint under the tenant's key and puts them
in Ray's object store, starts a `TorchTrainer` of `workers` ranks (`ray_finetune_rank.py`), and
while it runs forwards the job row's requested action (pause, cancel; or a lost lease) to rank
0 through the job's channel and turns rank 0's events back into `TrainingEvent`s with local
files: a checkpoint folder, its sample grid, the final adapter, which the queue then stores
(sealed) as for the embedded worker. Ray Train persists its own copy of each checkpoint, sealed,
under `<storage_path>/<job>/`, from which a restarted rank group resumes; the job's stored
checkpoints stay the resume point across attempts.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from gesso.engine.ray_finetune_rank import ADAPTER, CHECKPOINT, DATASET, TRAVELLING, VALIDATION, train_rank
from gesso.engine.ray_job_channel import open_channel
from gesso.engine.sealed_folders import open_into, seal_folder
from gesso.jobs.fine_tunes import ClaimedFineTune, FileSealing
from gesso.train.checkpoints import latest_checkpoint, list_checkpoints
from gesso.train.lora_loop import CANCEL, Control, EventSink, FinetuneResult, TrainingEvent

log = logging.getLogger("gesso.finetune")
RESTARTS = 1  # a rank group that lost a process is restarted once, from Ray's latest checkpoint


@dataclass(frozen=True)
class RayTrainOptions:
    """How a fine-tune is placed on the cluster (from the settings)."""

    workers: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    storage_path: str = ""  # a folder every node sees, or s3://bucket/prefix
    control_every_s: float = 0.2


class RayFineTuneTraining:
    """`training(job, on_event, control) -> FinetuneResult` for `FineTuneWorker`.

    `sealing(tenant_id, job_id)`: the job's FileSealing; `connect()`: join the cluster (raises
    when it cannot be used)."""

    def __init__(self, options: RayTrainOptions, sealing: Callable[[str, str], FileSealing],
                 connect: Callable[[], None]):
        self.options = options
        self.sealing = sealing
        self.connect = connect

    def __call__(self, job: ClaimedFineTune, on_event: EventSink, control: Control) -> FinetuneResult:
        import ray

        self.connect()
        sealing = self.sealing(job.tenant_id, job.id)
        config, out_dir = job.config, Path(job.config.out_dir)
        data = seal_folder(sealing, Path(config.data_dir), DATASET)
        if config.validation_data_dir:
            data.update(seal_folder(sealing, Path(config.validation_data_dir), VALIDATION))
        resume = latest_checkpoint(out_dir / "checkpoints")
        channel = open_channel()
        spec = {
            "config": asdict(config), "sealing": sealing, "channel": channel, "data": ray.put(data),
            "resume": ray.put(seal_folder(sealing, resume, f"{CHECKPOINT}/{resume.name}", TRAVELLING))
            if resume is not None else None,
            "threads": max(1, int(self.options.cpus_per_worker)), "control_every_s": self.options.control_every_s,
        }
        run = _Fit(self._trainer(job, spec))
        pump = _EventPump(sealing, out_dir, config.keep_checkpoints, on_event)
        try:
            outcome = pump.follow(run, channel, control, self.options.control_every_s)
        finally:
            ray.kill(channel)
        if outcome["status"] != "paused":
            run.forget_storage()
        return FinetuneResult(outcome["status"], outcome["step"], outcome["total_steps"], pump.adapter,
                              list_checkpoints(out_dir / "checkpoints"))

    def _trainer(self, job: ClaimedFineTune, spec: dict):  # noqa: ANN202 - a TorchTrainer
        from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
        from ray.train.torch import TorchTrainer

        options = self.options
        resources = {"CPU": options.cpus_per_worker}
        if options.gpus_per_worker:
            resources["GPU"] = options.gpus_per_worker
        return TorchTrainer(
            train_rank,
            train_loop_config=spec,
            scaling_config=ScalingConfig(num_workers=options.workers, use_gpu=options.gpus_per_worker > 0,
                                         resources_per_worker=resources),
            run_config=RunConfig(
                name=f"attempt-{uuid.uuid4().hex[:8]}", storage_path=f"{options.storage_path.rstrip('/')}/{job.id}",
                checkpoint_config=CheckpointConfig(num_to_keep=job.config.keep_checkpoints),
                failure_config=FailureConfig(max_failures=RESTARTS),
            ),
        )


class _Fit:
    """`trainer.fit()` on a thread of its own; `error` holds what it raised."""

    def __init__(self, trainer):  # noqa: ANN001
        self.trainer = trainer
        self.error: BaseException | None = None
        self.result = None
        self.thread = threading.Thread(target=self._run, name="gesso-ray-fit", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = self.trainer.fit()
        except BaseException as error:  # noqa: BLE001 - re-raised by the driver's thread
            self.error = error

    def forget_storage(self) -> None:
        """Remove Ray's copies of the job's checkpoints once the job ended (they resume nothing)."""
        if self.result is None:
            return
        try:
            fs, path = self.result.filesystem, self.result.path
            fs.delete_dir(path.rsplit("/", 1)[0])
        except Exception:  # noqa: BLE001 - a leftover folder of ciphertext is harmless
            log.warning("could not remove Ray's checkpoints of a finished fine-tune", exc_info=True)


class _EventPump:
    """Rank 0's events as `TrainingEvent`s with their files opened under the job's folder."""

    def __init__(self, sealing: FileSealing, out_dir: Path, keep: int, on_event: EventSink):
        self.sealing, self.out_dir, self.keep, self.on_event = sealing, out_dir, keep, on_event
        self.adapter: Path | None = None
        self.outcome: dict | None = None

    def follow(self, run: _Fit, channel, control: Control, every_s: float) -> dict:  # noqa: ANN001
        import ray

        sent = None
        try:
            while run.thread.is_alive():
                action = control()
                if action != sent:
                    channel.request.remote(action)
                    sent = action
                self._deliver(ray.get(channel.drain.remote()))
                run.thread.join(every_s)
            self._deliver(ray.get(channel.drain.remote()))
        except BaseException:
            channel.request.remote(CANCEL)  # an event could not be stored: stop the ranks, then say why
            run.thread.join()
            raise
        if run.error is not None:
            first = (str(run.error).strip().splitlines() or [type(run.error).__name__])[0]
            raise RuntimeError(f"the Ray Train run failed: {first[:300]}") from run.error
        if self.outcome is None:
            raise RuntimeError("the Ray Train run ended without a result")
        return self.outcome

    def _deliver(self, events: list[dict]) -> None:
        for raw in events:
            if raw["kind"] == "result":
                self.outcome = raw
                continue
            checkpoint = samples = adapter = None
            files = raw.get("files") or {}
            if raw["kind"] == "checkpoint" and files:
                name = next(iter(files)).split("/")[1]
                checkpoint = open_into(self.sealing, files, f"{CHECKPOINT}/{name}", self.out_dir / "checkpoints" / name)
                samples = checkpoint / "samples.png"
                samples = samples if samples.is_file() else None
                for old in list_checkpoints(self.out_dir / "checkpoints")[:-self.keep]:
                    _remove(old)
            elif raw["kind"] == "succeeded" and files:
                adapter = self.adapter = open_into(self.sealing, files, ADAPTER, self.out_dir / "adapter")
            self.on_event(TrainingEvent(raw["kind"], raw["step"], raw["total_steps"], raw["message"],
                                        loss=raw["loss"], valid_loss=raw["valid_loss"], checkpoint=checkpoint,
                                        samples=samples, adapter=adapter))


def _remove(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
