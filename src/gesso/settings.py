"""The one settings object, read once at start from `GESSO_*` variables (or a .env file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
WorkerKind = Literal["images", "fine-tunes", "all"]
WORKER_KINDS: tuple[str, ...] = get_args(WorkerKind)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GESSO_", env_file=".env", extra="ignore")

    data_dir: Path = Path("gesso-data")
    models_dir: Path = REPO_ROOT / "models"
    default_model: str = "gesso-base"
    device: str = "auto"  # auto | cpu | cuda
    # auto: bf16 autocast on CPU only with native bf16 (AMX, AVX512-BF16) and from the batch size a
    # short calibration (cached under <data_dir>/cache) measured faster; fp32 | bf16 force one
    cpu_precision: Literal["auto", "fp32", "bf16"] = "auto"
    torch_threads: int | None = None  # CPU threads for torch in all; default OMP_NUM_THREADS or the cores
    max_images_per_request: int = 10
    max_steps: int = 100
    default_steps: int = 12
    default_guidance: float = 4.0
    default_sampler: str = "dpm"  # DPM-Solver++ at 12 steps matches Euler at 20 (model card)
    # -- server ------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str | None = None  # default: sqlite:///<data_dir>/gesso.db (WAL)
    # s3://bucket/prefix for an S3-compatible store (endpoint and credentials from boto3's own
    # AWS_* variables or profile); default: files under <data_dir>/blobs
    blob_url: str | None = None
    public_base_url: str | None = None  # for `url` responses; default: the request's base URL
    first_tenant: str = "default"
    # false: this process answers the API only (`gesso serve --no-worker`); `gesso worker` runs jobs
    embedded_worker: bool = True
    worker_kind: WorkerKind = "all"  # what `gesso worker` runs (its --kind)
    # -- a Ray cluster (docs/DEPLOY.md) -------------------------------------------
    # embedded: the workers run the models in their own process; ray: they hand the work to a Ray
    # cluster (Serve for generation, Train for fine-tunes) at ray_address. The rows stay the truth.
    engine: Literal["embedded", "ray"] = "embedded"
    ray_address: str | None = None  # host:port of the cluster's head (GCS); setting it selects ray
    # -- generation on Ray Serve (engine/ray_serve_deployment.py; docs/DEPLOY.md) --------------
    ray_serve_app: str = Field("gesso-generation", min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_-]+$")
    ray_serve_deploy: bool = True  # false: the app is deployed by the cluster (KubeRay RayService)
    ray_serve_replica_cpus: float = Field(1.0, gt=0, le=256)  # CPUs reserved by each replica
    ray_serve_replica_gpus: float = Field(0.0, ge=0, le=8)  # 1: one replica per GPU
    ray_serve_min_replicas: int = Field(1, ge=0, le=1024)  # 0: scale to zero when idle
    ray_serve_max_replicas: int = Field(1, ge=1, le=1024)  # with 1 GPU each: the GPUs to use
    ray_serve_target_ongoing_requests: float = Field(8.0, gt=0, le=1024)  # jobs per replica the autoscaler aims at
    ray_serve_batch_wait_s: float = Field(0.05, ge=0, le=5)  # how long a replica waits to fill a batch
    ray_serve_max_adapters: int = Field(4, ge=1, le=64)  # LoRA adapters kept loaded per replica
    ray_serve_batches_in_flight: int = Field(2, ge=1, le=64)  # claimed batches a worker runs at once
    ray_serve_job_resends: int = Field(2, ge=0, le=10)  # a job whose replica died is sent again this often
    # a fine-tune on Ray Train: this many DDP ranks, each with these CPUs and GPUs (NCCL on GPUs,
    # gloo on CPUs); Ray Train's sealed checkpoint copies go under the storage path (a folder every
    # node sees, or s3://bucket/prefix; default <data_dir>/ray-train)
    ray_train_workers: int = Field(1, ge=1, le=256)
    ray_train_cpus_per_worker: float = Field(1.0, gt=0, le=1024)
    ray_train_gpus_per_worker: float = Field(0.0, ge=0, le=16)
    ray_train_storage_path: str | None = None
    max_batch_images: int = 8  # images per pipeline call; 1 turns batching off
    batch_wait_s: float = Field(0.05, ge=0, le=5)  # the longest pause between arrivals a part-filled batch waits for
    max_queued_jobs: int = 256  # queued + running jobs before new requests get 429
    job_max_attempts: int = 3  # a job interrupted this often is failed instead of re-run
    request_timeout_s: float = 600.0  # how long a synchronous request waits for its job
    max_body_bytes: int = 25 * 1024 * 1024
    max_upload_pixels: int = 4096 * 4096
    rate_limit_per_minute: int = 600  # per API key, unless the key sets its own
    tenant_images_per_day: int = 10_000  # per tenant, unless the tenant sets its own
    image_url_ttl_s: int = 3600
    edit_strength: float = 0.8  # image-to-image strength when an edit has no mask
    variation_strength: float = 0.7
    # -- the edge: which Host names this server, the interactive API docs ----------------------
    # Host names (no port; `*.suffix`, or `*` for any) a request may carry; others get 400
    # invalid_host. Empty: localhost, 127.0.0.1, ::1, the bind host and public_base_url's host.
    allowed_hosts: list[str] = []
    api_docs: bool = False  # `/docs`, `/redoc` from assets the fastapi-offline package ships (no CDN)
    # -- governance --------------------------------------------------------------
    egress_mode: str = "strict"  # strict (block and audit) | monitor (audit only)
    egress_allowed_endpoints: list[str] = []  # "host:port" of the database, object store, cluster
    audit_checkpoint_every: int = 100  # sign a checkpoint after every N audit records
    # master key, URL-signing key, audit signing key, provenance certificates; default
    # <data_dir>/keys. Replicas and workers must share it (a mounted secret or shared volume)
    keys_dir: Path | None = None
    master_key_file: Path | None = None  # default: <keys_dir>/master.key; or GESSO_MASTER_KEY
    retention_sweep_every_s: float = 3600.0  # how often the server applies retention; 0 turns it off
    # -- fine-tuning -------------------------------------------------------------
    finetune_upload_max_bytes: int = 512 * 1024 * 1024  # a fine-tune upload (zip, tar, JSONL)
    finetune_upload_max_members: int = 10_000  # files in an archive, lines in a JSONL upload
    finetune_upload_max_total_bytes: int = 1024 * 1024 * 1024  # uncompressed, all members together
    finetune_config: Path = REPO_ROOT / "configs" / "finetune.yaml"  # defaults for hyperparameters
    adapter_cache_size: int = 8  # LoRA adapters kept attached per loaded pipeline
    # -- fine-tuning: bounds on hostile uploads and jobs -------------------------------------------
    finetune_upload_max_ratio: float = 20.0  # whole archive: uncompressed / upload bytes, past the floor
    finetune_upload_ratio_floor_bytes: int = 8 * 1024 * 1024  # any archive may expand this far
    finetune_upload_max_unlisted: int = 64  # members metadata.jsonl does not name (never extracted)
    tenant_storage_budget_bytes: int = 10 * 1024 * 1024 * 1024  # a tenant's stored uploads; 0: none
    finetune_max_steps: int = 50_000  # n_epochs x steps per epoch of one fine-tune
    # -- reliability: check order, locked database, leases, shutdown, overload ---------------------
    auth_failures_per_minute: int = Field(60, ge=1)  # failed authentications per source address before 429
    refusal_audit_window_s: float = Field(60.0, ge=0)  # repeated refusals in a window become one summary
    refusal_audit_summary_every: int = Field(100, ge=1)  # ... or a summary every N repeats, whichever is first
    database_busy_timeout_s: float = Field(5.0, gt=0, le=300)  # how long one statement waits for a lock
    job_lease_s: float = Field(60.0, ge=1)  # a running job's lease; renewed by its worker, re-claimed once lapsed
    shutdown_grace_s: float = Field(20.0, ge=0)  # SIGTERM: the running batch may finish this long, then handed back
    header_read_timeout_s: float = Field(10.0, gt=0)  # a connection must send its request headers within this
    max_expected_wait_s: float = Field(60.0, ge=0)  # a synchronous request that would wait longer: 429; 0: off
    # -- replicas and separate workers ---------------------------------------------------------
    job_poll_s: float = Field(0.25, gt=0)  # how often a request reads a job that another process runs
    preview_every_s: float = Field(0.5, ge=0)  # least time between two stored previews of one job

    @model_validator(mode="after")
    def _replica_bounds(self) -> "Settings":
        if self.ray_serve_min_replicas > self.ray_serve_max_replicas:
            raise ValueError("GESSO_RAY_SERVE_MIN_REPLICAS must not exceed GESSO_RAY_SERVE_MAX_REPLICAS")
        return self

    @property
    def uses_ray(self) -> bool:
        return self.engine == "ray" or bool(self.ray_address)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
