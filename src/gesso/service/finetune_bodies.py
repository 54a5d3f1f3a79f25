"""Rows -> the OpenAI response objects of the files and fine-tuning API (file, fine_tuning.job,
fine_tuning.job.event, fine_tuning.job.checkpoint, model), with Gesso's extra fields."""

from __future__ import annotations

import json
from typing import Any

from gesso.store.tables import FileRecord, FineTuneCheckpoint, FineTunedModel, FineTuneEvent, FineTuningJobRecord


def file_body(record: FileRecord, base_url: str) -> dict[str, Any]:
    return {
        "id": record.id,
        "object": "file",
        "bytes": record.bytes,
        "created_at": int(record.created_at),
        "filename": record.filename,
        "purpose": record.purpose,
        "status": record.status,
        "expires_at": None,
        "status_details": None,
        "sha256": record.sha256,
        "image_count": record.image_count,
        "uncaptioned_count": record.uncaptioned_count,
        "kind": record.kind,
        "preview_url": f"{base_url}/v1/files/{record.id}/preview",
    }


def job_body(job: FineTuningJobRecord) -> dict[str, Any]:
    hyperparameters = json.loads(job.hyperparameters_json)
    error = None
    if job.status == "failed":
        error = {"code": job.error_code, "message": job.error_message, "param": job.error_param}
    return {
        "id": job.id,
        "object": "fine_tuning.job",
        "created_at": int(job.created_at),
        "error": error,
        "fine_tuned_model": job.fine_tuned_model,
        "finished_at": int(job.finished_at) if job.finished_at else None,
        "hyperparameters": hyperparameters,
        "model": job.model,
        "organization_id": job.tenant_id,
        "result_files": [],
        "seed": job.seed,
        "status": job.status,
        "trained_tokens": None,  # images, not tokens: see `progress`
        "training_file": job.training_file,
        "validation_file": job.validation_file,
        "estimated_finish": None,
        "integrations": [],
        "metadata": json.loads(job.metadata_json) or None,
        "method": {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
        "user_provided_suffix": job.suffix or None,
        # Gesso extensions
        "progress": {"step": job.step, "total_steps": job.total_steps},
        "requested_action": job.requested_action,
        "lineage": {
            "base_model": job.model,
            "dataset_sha256": json.loads(job.config_json).get("dataset_sha256"),
            "training_file": job.training_file,
            "validation_file": job.validation_file,
            "created_by": job.api_key_id,
        },
    }


def samples_url(base_url: str, job_id: str, checkpoint_id: str) -> str:
    """Where a checkpoint's sample grid is served."""
    return f"{base_url}/v1/fine_tuning/jobs/{job_id}/checkpoints/{checkpoint_id}/samples"


def event_body(event: FineTuneEvent, base_url: str) -> dict[str, Any]:
    data = json.loads(event.data_json) if event.data_json else None
    if data and data.get("sample_images"):  # a checkpoint event whose sample grid is stored
        data["sample_images"] = samples_url(base_url, event.job_id, data["checkpoint"])
    return {
        "id": event.id,
        "object": "fine_tuning.job.event",
        "created_at": int(event.created_at),
        "level": event.level,
        "message": event.message,
        "data": data,
        "type": event.type,
    }


def checkpoint_body(row: FineTuneCheckpoint, job: FineTuningJobRecord, base_url: str) -> dict[str, Any]:
    metrics = {"step": float(row.step), "train_loss": row.train_loss}
    if row.valid_loss is not None:
        metrics.update(valid_loss=row.valid_loss, full_valid_loss=row.valid_loss)
    return {
        "id": row.id,
        "object": "fine_tuning.job.checkpoint",
        "created_at": int(row.created_at),
        "fine_tuned_model_checkpoint": f"{job.model_name}:ckpt-step-{row.step}",
        "fine_tuning_job_id": job.id,
        "metrics": metrics,
        "step_number": row.step,
        "sample_images": samples_url(base_url, job.id, row.id) if row.samples_blob_key else None,
    }


def model_body(model: FineTunedModel, owner: str) -> dict[str, Any]:
    """A `/v1/models` entry (its lineage is on the job that made it: `lineage` there)."""
    return {"id": model.id, "object": "model", "created": int(model.created_at), "owned_by": owner}
