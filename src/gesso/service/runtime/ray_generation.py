"""The image worker of `engine: ray`: join the cluster, check it has the replicas' resources,
deploy (or find) the generation application on Ray Serve, and build the worker that claims jobs
from the database and runs them there. Fine-tuned adapters are unsealed here, in the Gesso
process that holds the keyring, and reach the replicas as object references (docs/SECURITY.md)."""

from __future__ import annotations

import logging
import threading

from gesso.engine.progress_events import JobEvents
from gesso.engine.ray_image_worker import RayImageWorker
from gesso.engine.worker import WorkerObserver
from gesso.governance.ray_runtime import (
    RayUnavailable,
    connect,
    require_resources,
    worker_runtime_env,
)
from gesso.settings import Settings
from gesso.store.fine_tuned_adapters import adapter_location

log = logging.getLogger("gesso.ray")
_handles: dict[str, object] = {}
_handles_lock = threading.Lock()


def prepare_ray_engine(settings: Settings):  # noqa: ANN201 - a ray.serve DeploymentHandle
    """Join the cluster, check its resources and deploy the generation application (once per
    process and application name); returns its handle. RayUnavailable in one sentence when the
    cluster cannot be used or the application does not start."""
    connect(settings)
    with _handles_lock:
        handle = _handles.get(settings.ray_serve_app)
        if handle is not None:
            return handle
        replicas = max(1, settings.ray_serve_min_replicas)
        require_resources(cpus=settings.ray_serve_replica_cpus * replicas,
                          gpus=settings.ray_serve_replica_gpus * replicas)
        from ray import serve

        from gesso.engine.ray_serve_app import deploy_generation

        try:
            if settings.ray_serve_deploy:
                serve.start(proxy_location="Disabled")  # handles only: no HTTP proxy on the cluster
            handle = deploy_generation(settings, worker_runtime_env(settings))
        except Exception as error:  # noqa: BLE001 - Serve's errors are long; the operator gets one line
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise RayUnavailable(f"the generation application {settings.ray_serve_app!r} did not start on "
                                 f"the Ray cluster: {first}") from None
        log.info("generation application ready on Ray Serve", extra={"app": settings.ray_serve_app})
        _handles[settings.ray_serve_app] = handle
        return handle


def forget_ray_engine() -> None:
    """Drop the cached handles (after `serve.shutdown()`, in tests)."""
    with _handles_lock:
        _handles.clear()


def build_ray_image_worker(runtime, events: JobEvents, observer: WorkerObserver | None = None) -> RayImageWorker:  # noqa: ANN001 - a JobRuntime
    """The Ray engine's image worker (built, not started), completing jobs through governance's
    stamping like the embedded one."""
    from gesso.engine.ray_job_dispatch import AdapterRefs, JobDispatch

    settings = runtime.settings
    handle = prepare_ray_engine(settings)
    fetched = (settings.data_dir / "adapters").resolve()
    adapters = AdapterRefs(lambda name: adapter_location(runtime.sessions, runtime.blobs, name, fetched))
    return RayImageWorker(
        runtime.governance.stamping(runtime.queue),
        JobDispatch(handle, adapters),
        events,
        settings.max_batch_images,
        batches_in_flight=settings.ray_serve_batches_in_flight,
        resends=settings.ray_serve_job_resends,
        observer=observer,
        heartbeat_s=max(0.5, settings.job_lease_s / 3),
    )
