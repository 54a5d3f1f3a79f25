"""Fine-tuning jobs as the API changes them: create (every field checked, 400 naming it), cancel,
pause and resume. A running job is changed by asking the worker (`requested_action`), which
acts between two training steps; a job that is not running is changed at once."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import replace
from pathlib import Path

from gesso.governance.authorisation import Principal
from gesso.jobs.model_ids import SUFFIX_RULE, fine_tuned_model_name, is_fine_tuned, is_valid_suffix
from gesso.jobs.request_errors import BadRequest
from gesso.service.fine_tuning.schemas import FineTuningJobCreate, Hyperparameters
from gesso.service.http.errors import ApiError, not_found
from gesso.service.policy.content_policy import enforce_content_policy
from gesso.service.runtime.app_state import ServiceState
from gesso.store.file_records import FINE_TUNE_PURPOSE, find_file
from gesso.store.finetune_checkpoint_blobs import checkpoints_prefix
from gesso.store.finetune_job_data import remove_job_data
from gesso.store.finetune_queue import config_without_paths
from gesso.store.finetune_records import add_event, find_job, forget_stored_checkpoints, set_status
from gesso.store.ids import new_id
from gesso.store.tables import FileRecord, FineTuningJobRecord, Tenant
from gesso.train.finetune_bounds import HyperparameterOutOfRange, check_total_steps, epochs_within
from gesso.train.lora_loop import check_finetune_config
from gesso.train.run_config import FinetuneRunConfig, load_run_config

ACTION_WAIT_S = 10.0
_rng = random.SystemRandom()


def create_job(state: ServiceState, principal: Principal, body: FineTuningJobCreate) -> FineTuningJobRecord:
    """Check the request and write the job (status `validating_files`); the worker takes it from there.

    Raises BadRequest naming the first bad field.
    """
    if is_fine_tuned(body.model):
        raise BadRequest("fine-tuning a fine-tuned model is not supported; name its base model", "model")
    if body.model not in state.model_names():
        raise BadRequest(f"unknown model {body.model!r} (models: {', '.join(state.model_names()) or 'none'})", "model")
    hyper = _hyperparameters(body)
    if body.integrations:
        raise BadRequest("integrations are not supported: nothing leaves this deployment", "integrations")
    suffix = body.suffix or ""
    if suffix and not is_valid_suffix(suffix):
        raise BadRequest(f"suffix must be {SUFFIX_RULE}", "suffix")
    if body.seed is not None and not 0 <= body.seed < 2**31:
        raise BadRequest("seed must be between 0 and 2147483647", "seed")
    with state.sessions() as session:
        training = _dataset_file(session, principal.tenant_id, body.training_file, "training_file")
        validation = (_dataset_file(session, principal.tenant_id, body.validation_file, "validation_file")
                      if body.validation_file else None)
        tenant_name = session.get(Tenant, principal.tenant_id).name
    config = _run_config(state, body, hyper, training)
    # the texts a job adds to every caption and to the model's public name
    enforce_content_policy(state, principal, [("hyperparameters.trigger", config.trigger), ("suffix", suffix)])
    if not config.trigger and (training.uncaptioned_count or (validation and validation.uncaptioned_count)):
        raise BadRequest(
            f"{training.uncaptioned_count} training image(s) have no caption: set hyperparameters.trigger",
            "hyperparameters.trigger")
    job_id = new_id("ftjob")
    public = {"n_epochs": config.n_epochs, "batch_size": config.batch_size,
              "learning_rate_multiplier": config.learning_rate_multiplier, "rank": config.rank,
              "trigger": config.trigger}
    job = FineTuningJobRecord(
        id=job_id,
        tenant_id=principal.tenant_id,
        api_key_id=principal.key_id,
        model=body.model,
        training_file=training.id,
        validation_file=validation.id if validation else None,
        suffix=suffix,
        seed=config.seed,
        trigger=config.trigger,
        rank=config.rank,
        hyperparameters_json=json.dumps(public),
        config_json=json.dumps(config_without_paths(config)),
        metadata_json=json.dumps(body.metadata or {}),
        status="validating_files",
        model_name=fine_tuned_model_name(body.model, tenant_name, suffix, job_id),
        work_dir=str((state.settings.data_dir / "finetunes" / principal.tenant_id / job_id).resolve()),
        step=0,
        total_steps=0,
        attempts=0,
        created_at=time.time(),
    )
    with state.sessions.begin() as session:
        session.add(job)
        session.flush()
        add_event(session, job, f"Created fine-tuning job: {job_id}")
    state.finetuning.worker.wake()
    return job


def _hyperparameters(body: FineTuningJobCreate) -> Hyperparameters:
    if body.method is not None:
        if body.method.type != "supervised":
            raise BadRequest(f"method {body.method.type!r} is not supported; Gesso trains LoRA adapters "
                             "('supervised')", "method.type")
        nested = body.method.supervised.hyperparameters if body.method.supervised else None
        if nested is not None and body.hyperparameters is not None:
            raise BadRequest("give hyperparameters either in method.supervised or at the top level, not both",
                             "hyperparameters")
        if nested is not None:
            return nested
    return body.hyperparameters or Hyperparameters()


def _dataset_file(session, tenant_id: str, file_id: str, param: str) -> FileRecord:  # noqa: ANN001
    record = find_file(session, tenant_id, file_id)
    if record is None:
        raise BadRequest(f"{param}: no file with id {file_id!r}", param)
    if record.purpose != FINE_TUNE_PURPOSE or record.status != "processed":
        raise BadRequest(f"{param}: file {file_id!r} is not a processed '{FINE_TUNE_PURPOSE}' file", param)
    return record


def _run_config(state: ServiceState, body: FineTuningJobCreate, hyper: Hyperparameters,
                training: FileRecord) -> FinetuneRunConfig:
    """The server's defaults (`finetune_config`) with the request's values; "auto" keeps a default."""
    defaults = load_run_config(state.settings.finetune_config, FinetuneRunConfig)
    given = {name: value for name in ("n_epochs", "batch_size", "learning_rate_multiplier", "rank")
             if (value := getattr(hyper, name)) is not None and value != "auto"}
    if "learning_rate_multiplier" in given:
        given["learning_rate_multiplier"] = float(given["learning_rate_multiplier"])
    if hyper.trigger is not None:
        given["trigger"] = hyper.trigger.strip()
    config = replace(
        defaults, **given, base_model=body.model, dataset_sha256=training.sha256,
        seed=body.seed if body.seed is not None else _rng.randrange(2**31),
    )
    max_steps = state.settings.finetune_max_steps
    if "n_epochs" not in given:  # "auto": the default, shortened to fit the server's step cap
        config = replace(config, n_epochs=epochs_within(max_steps, training.image_count, config.batch_size,
                                                        config.n_epochs))
    try:
        check_total_steps(config.n_epochs, config.batch_size, training.image_count, max_steps)
    except HyperparameterOutOfRange as exc:
        raise BadRequest(str(exc), f"hyperparameters.{exc.name}") from None
    # a checkpoint (with sample images) at least every epoch, as OpenAI keeps one per epoch
    steps_per_epoch = math.ceil(training.image_count / config.batch_size) if config.batch_size > 0 else 1
    config = replace(config, checkpoint_every=max(1, min(config.checkpoint_every, steps_per_epoch)))
    try:
        check_finetune_config(config)
    except ValueError as exc:
        name = str(exc).split(" ")[0]
        raise BadRequest(str(exc), f"hyperparameters.{name}" if name in Hyperparameters.model_fields else
                         name) from None
    return config


def change_job(state: ServiceState, principal: Principal, job_id: str, action: str) -> FineTuningJobRecord:
    """cancel | pause | resume. Raises 404 for a missing or foreign job, 409 when the job's
    status does not allow the action."""
    with state.sessions.begin() as session:
        job = find_job(session, principal.tenant_id, job_id)
        if job is None:
            raise not_found("fine-tuning job", job_id)
        status = job.status
        immediate = {
            "cancel": ("validating_files", "queued", "paused"),
            "pause": ("validating_files", "queued"),
            "resume": ("paused",),
        }[action]
        values = {"cancel": {"status": "cancelled", "finished_at": time.time()},
                  "pause": {"status": "paused"}, "resume": {"status": "queued"}}[action]
        if status in immediate and not set_status(session, job_id, (status,), requested_action=None, **values):
            status = "running"  # the worker claimed it a moment ago: ask the worker instead
        if status in immediate:
            add_event(session, job, {"cancel": "The job was cancelled", "pause": "The job was paused",
                                     "resume": "The job was resumed"}[action])
            if action == "cancel":
                forget_stored_checkpoints(session, job_id)
        elif status == "running" and action in ("cancel", "pause"):
            set_status(session, job_id, ("running",), requested_action=action)
        else:
            raise ApiError(409, f"a {status} fine-tuning job cannot be {action}{'l' if action == 'cancel' else ''}ed",
                           code="invalid_job_status")
    if action == "cancel" and status in immediate:
        state.blobs.delete_prefix(checkpoints_prefix(principal.tenant_id, job_id))  # a resume point no more
        remove_job_data(Path(job.work_dir))  # this machine's copy; other workers' go at their next sweep
    state.finetuning.worker.wake()
    if status == "running":
        _wait_for_worker(state, principal.tenant_id, job_id)
    with state.sessions() as session:
        return find_job(session, principal.tenant_id, job_id)


def _wait_for_worker(state: ServiceState, tenant_id: str, job_id: str) -> None:
    """Give the worker a moment to act, so the answer usually shows the new status."""
    deadline = time.monotonic() + ACTION_WAIT_S
    while time.monotonic() < deadline:
        with state.sessions() as session:
            job = find_job(session, tenant_id, job_id)
        if job.status != "running" or job.requested_action is None:
            return
        time.sleep(0.05)
