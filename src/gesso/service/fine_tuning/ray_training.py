"""The Ray Train side of fine-tuning, built from the settings: where ranks run and with what,
how the job's files are sealed on the cluster (`governance.ray_job_sealing`), and joining the
cluster, whose failure hands the job back to the queue instead of failing it."""

from __future__ import annotations

import time

from gesso.engine.ray_finetune_training import RayFineTuneTraining, RayTrainOptions
from gesso.governance.ray_job_sealing import TenantFileSealing
from gesso.governance.ray_runtime import RayUnavailable, connect, require_resources
from gesso.jobs.queue_errors import QueueUnavailable
from gesso.settings import Settings

UNREACHABLE_WAIT_S = 10.0  # before an unusable cluster hands the job back (it is claimed again)


def ray_train_options(settings: Settings) -> RayTrainOptions:
    return RayTrainOptions(
        workers=settings.ray_train_workers,
        cpus_per_worker=settings.ray_train_cpus_per_worker,
        gpus_per_worker=settings.ray_train_gpus_per_worker,
        storage_path=settings.ray_train_storage_path or str((settings.data_dir / "ray-train").resolve()),
    )


def ray_finetune_training(settings: Settings) -> RayFineTuneTraining:
    options = ray_train_options(settings)

    def join() -> None:
        try:
            connect(settings)
            require_resources(cpus=options.workers * options.cpus_per_worker,
                              gpus=options.workers * options.gpus_per_worker)
        except RayUnavailable as error:
            time.sleep(UNREACHABLE_WAIT_S)
            raise QueueUnavailable(str(error)) from None

    return RayFineTuneTraining(options, lambda tenant, job: TenantFileSealing(settings, tenant, job), join)
