"""The database tables: tenants, API keys (hashes only), jobs and the images they made.

Times are Unix seconds (float), which is what the OpenAI response shapes carry.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[float] = mapped_column(Float)
    # None: the server-wide `tenant_images_per_day`
    images_per_day: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100), default="")
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings; the secret never is
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # None: the server-wide `rate_limit_per_minute`
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Job(Base):
    """One accepted image request. Written before any work starts; `status` moves
    queued -> running -> succeeded | failed (running -> queued again after a crash or a
    shutdown; a running job whose lease expired is claimed again)."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_jobs_tenant_idempotency"),
        Index("ix_jobs_status_created", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    api_key_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))  # generate | edit | variation
    status: Mapped[str] = mapped_column(String(20))
    model: Mapped[str] = mapped_column(String(200))
    batch_key: Mapped[str] = mapped_column(String(300))
    spec_json: Mapped[str] = mapped_column(Text)
    n: Mapped[int] = mapped_column(Integer)
    response_format: Mapped[str] = mapped_column(String(20))
    input_image_blob: Mapped[str | None] = mapped_column(String(300), nullable=True)
    input_mask_blob: Mapped[str | None] = mapped_column(String(300), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64), default="")
    safety_identifier: Mapped[str | None] = mapped_column(String(200), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(60), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    completed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # while running: the worker that holds the job, and until when (it renews; past it, any
    # worker may claim the job again)
    lease_owner: Mapped[str | None] = mapped_column(String(80), nullable=True)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class ImageRecord(Base):
    """One generated image; `(job_id, index)` is unique, so a job's set is written once."""

    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("job_id", "index", name="uq_images_job_index"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    blob_key: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(40))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)


class JobPreview(Base):
    """One streamed preview of a running job, for requests waiting on another replica; the
    preview itself is a sealed blob (`blob_key`). Kept a short while after the job ends."""

    __tablename__ = "job_previews"

    job_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    image_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    partial_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    blob_key: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[float] = mapped_column(Float)


# -- governance -------------------------------------------------------------------------


class AuditRecordRow(Base):
    """One record of a hash chain (`governance.audit_chain`); `chain` is a tenant id or
    "deployment". Storage order (`id`) is what `audit verify` checks for reordering."""

    __tablename__ = "audit_records"
    __table_args__ = (UniqueConstraint("chain", "seq", name="uq_audit_chain_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(40), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    time: Mapped[str] = mapped_column(String(40))
    tenant: Mapped[str | None] = mapped_column(String(40), nullable=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60), index=True)
    target: Mapped[str] = mapped_column(String(300))
    details_json: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpointRow(Base):
    """An Ed25519-signed statement that a chain had `record_hash` at `seq`."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(40), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    record_hash: Mapped[str] = mapped_column(String(64))
    time: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(40))
    signature: Mapped[str] = mapped_column(String(200))


class TenantDataKey(Base):
    """A tenant's data key, only ever wrapped by the master key; deleting the row shreds the
    tenant's blobs and sealed job specs."""

    __tablename__ = "tenant_data_keys"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    wrapped_key: Mapped[str] = mapped_column(Text)  # WrappedKey.to_json()
    created_at: Mapped[float] = mapped_column(Float)


class TenantGovernance(Base):
    """A tenant's governance settings; a missing row means every default."""

    __tablename__ = "tenant_governance"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    prompt_mode: Mapped[str] = mapped_column(String(10), default="hash")  # store | hash
    blocked_terms_json: Mapped[str] = mapped_column(Text, default="[]")
    blocked_concepts_json: Mapped[str] = mapped_column(Text, default="[]")
    semantic_threshold: Mapped[float] = mapped_column(Float, default=0.55)
    low_semantic_threshold: Mapped[float] = mapped_column(Float, default=0.70)
    image_retention_days: Mapped[float | None] = mapped_column(Float, nullable=True)
    job_retention_days: Mapped[float | None] = mapped_column(Float, nullable=True)
    model_approval_required: Mapped[bool] = mapped_column(Boolean, default=False)
    prompt_revision: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    updated_at: Mapped[float] = mapped_column(Float)


class ImageOriginRow(Base):
    """What provenance verification looks up by the watermark id of a delivered image."""

    __tablename__ = "image_origins"

    watermark_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40), index=True)
    job_id: Mapped[str] = mapped_column(String(40), index=True)
    index: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(200))
    created: Mapped[str] = mapped_column(String(40))
    pixel_sha256: Mapped[str] = mapped_column(String(64))


# -- files and fine-tuning --------------------------------------------------------------


class FileRecord(Base):
    """An uploaded fine-tune dataset (zip, tar or JSONL), checked when it arrived; its bytes are
    a blob, never a plain file."""

    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(300))
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10))  # zip | tar | jsonl
    image_count: Mapped[int] = mapped_column(Integer)
    uncaptioned_count: Mapped[int] = mapped_column(Integer, default=0)  # needs a trigger to train
    status: Mapped[str] = mapped_column(String(20))  # processed
    blob_key: Mapped[str] = mapped_column(String(300))
    preview_blob_key: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[str] = mapped_column(String(40))  # api key id
    created_at: Mapped[float] = mapped_column(Float)


class FineTuningJobRecord(Base):
    """One fine-tune. Status: validating_files -> queued -> running -> succeeded | failed |
    cancelled; running <-> paused on request; running survives a restart (it resumes). A running
    job is leased to one worker (`lease_owner`) until `lease_expires_at`; its heartbeat renews it."""

    __tablename__ = "fine_tuning_jobs"
    __table_args__ = (Index("ix_fine_tuning_jobs_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    api_key_id: Mapped[str] = mapped_column(String(40))  # who started it
    model: Mapped[str] = mapped_column(String(200))  # the base model's name
    training_file: Mapped[str] = mapped_column(String(40))  # no FK: the job outlives its file
    validation_file: Mapped[str | None] = mapped_column(String(40), nullable=True)
    suffix: Mapped[str] = mapped_column(String(64), default="")
    seed: Mapped[int] = mapped_column(BigInteger)
    trigger: Mapped[str] = mapped_column(String(64), default="")
    rank: Mapped[int] = mapped_column(Integer)
    hyperparameters_json: Mapped[str] = mapped_column(Text)  # n_epochs, batch_size, learning_rate_multiplier
    config_json: Mapped[str] = mapped_column(Text)  # the full FinetuneRunConfig (without paths)
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(20))
    requested_action: Mapped[str | None] = mapped_column(String(10), nullable=True)  # cancel | pause
    fine_tuned_model: Mapped[str | None] = mapped_column(String(300), nullable=True)
    model_name: Mapped[str] = mapped_column(String(300))  # what fine_tuned_model will be
    work_dir: Mapped[str] = mapped_column(String(500))  # dataset copy, checkpoints, adapter
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # interruptions (crashes), not claims
    error_code: Mapped[str | None] = mapped_column(String(60), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_param: Mapped[str | None] = mapped_column(String(60), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(80), nullable=True)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class FineTuneEvent(Base):
    """One event of a fine-tune (OpenAI's `fine_tuning.job.event`); `seq` orders them."""

    __tablename__ = "fine_tuning_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("fine_tuning_jobs.id"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40), index=True)
    level: Mapped[str] = mapped_column(String(10))  # info | warn | error
    type: Mapped[str] = mapped_column(String(10))  # message | metrics
    message: Mapped[str] = mapped_column(Text)
    data_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


class FineTuneCheckpoint(Base):
    """A checkpoint a fine-tune wrote; one per (job, step), rewritten if a resumed run saves it again."""

    __tablename__ = "fine_tuning_checkpoints"
    __table_args__ = (UniqueConstraint("job_id", "step", name="uq_fine_tuning_checkpoints_job_step"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("fine_tuning_jobs.id"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40), index=True)
    step: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    valid_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    folder: Mapped[str] = mapped_column(String(500))
    samples_blob_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # where its files were uploaded (the resume point on any machine); None once pruned or the job ended
    blob_prefix: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


class FineTunedModel(Base):
    """A succeeded fine-tune's adapter, usable as `model` by its tenant only, with its lineage."""

    __tablename__ = "fine_tuned_models"

    id: Mapped[str] = mapped_column(String(300), primary_key=True)  # ft:<base>:<tenant>:<suffix>:<job>
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    job_id: Mapped[str] = mapped_column(String(40), unique=True)
    base_model: Mapped[str] = mapped_column(String(200))
    training_file: Mapped[str] = mapped_column(String(40), index=True)
    validation_file: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    dataset_sha256: Mapped[str] = mapped_column(String(64))
    hyperparameters_json: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(40))  # api key id
    adapter_blob_prefix: Mapped[str] = mapped_column(String(300))
    adapter_dir: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[float] = mapped_column(Float)


class ModelApproval(Base):
    """Approval of a tenant's fine-tuned model, for tenants that require it: `pending`
    until an admin approves; a pending model serves only the key that created it."""

    __tablename__ = "model_approvals"

    model_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20))  # approved (a missing row: pending)
    decided_by: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[float] = mapped_column(Float)


class RateBucket(Base):
    """One token bucket of a request rate limit (`governance.rate_limits`), shared by replicas."""

    __tablename__ = "rate_buckets"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)  # e.g. key:<api key id>
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)  # Unix seconds: replicas share wall time


class WorkerThroughput(Base):
    """One image worker's measured seconds per image (a moving average over its runs), written
    by that worker and read by every replica's admission; `updated_at` says it is still alive."""

    __tablename__ = "worker_throughput"

    owner: Mapped[str] = mapped_column(String(80), primary_key=True)  # the worker's lease owner name
    seconds_per_image: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)  # Unix seconds: replicas share wall time
