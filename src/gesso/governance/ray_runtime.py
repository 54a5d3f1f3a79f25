"""How a Gesso process joins a Ray cluster, and what every Ray worker process runs first.

Every worker the cluster starts for Gesso (Serve replicas, Train workers, tasks) gets the offline
switches in its environment and runs `setup_worker_process` before any Gesso code: it installs the
egress guard with the same allow-list as the process that connected (loopback, the database, the
object store, the cluster's own addresses). Connection problems become one clear sentence
(`RayUnavailable`) for the command line and the logs.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from urllib.parse import urlparse

from gesso.offline import OFFLINE_ENV, force_offline
from gesso.settings import Settings

log = logging.getLogger("gesso.ray")

NAMESPACE = "gesso"
ALLOWED_ENV = "GESSO_RAY_EGRESS_ALLOWED"
MODE_ENV = "GESSO_RAY_EGRESS_MODE"
SETUP_HOOK = "gesso.governance.ray_runtime.setup_worker_process"
CONNECT_TIMEOUT_S = 15.0


class RayUnavailable(RuntimeError):
    """The cluster cannot be used: unreachable, misconfigured, or without the resources asked."""


def cluster_endpoints(settings: Settings, environ: dict[str, str] | None = None) -> list[str]:
    """What a Ray worker of Gesso may reach: the database, the object store and the cluster head,
    on top of the operator's configured endpoints (loopback is always allowed)."""
    from gesso.governance.egress_wiring import allowed_endpoints

    env = os.environ if environ is None else environ
    endpoints = allowed_endpoints(settings)
    if settings.ray_address:
        endpoints.append(settings.ray_address.removeprefix("ray://").split("/")[0])
    endpoint_url = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint_url:
        parsed = urlparse(endpoint_url)
        if parsed.hostname:
            endpoints.append(f"{parsed.hostname}:{parsed.port}" if parsed.port else parsed.hostname)
    return sorted(set(endpoints))


def worker_runtime_env(settings: Settings, environ: dict[str, str] | None = None) -> dict:
    """The `runtime_env` every Gesso job on the cluster runs under."""
    env = os.environ if environ is None else environ
    passed = {
        name: value
        for name, value in env.items()
        if name.startswith(("GESSO_", "AWS_")) and name not in (ALLOWED_ENV, MODE_ENV)
    }
    env_vars = {
        **passed,
        **OFFLINE_ENV,
        ALLOWED_ENV: json.dumps(cluster_endpoints(settings, env)),
        MODE_ENV: settings.egress_mode,
    }
    return {"env_vars": env_vars, "worker_process_setup_hook": SETUP_HOOK}


def setup_worker_process() -> None:
    """Run by Ray in every worker process before any task or actor code: offline switches and
    the egress guard, from the variables `worker_runtime_env` set."""
    from gesso.governance.egress_guard import enable_egress_guard

    force_offline()
    allowed = json.loads(os.environ.get(ALLOWED_ENV, "[]"))
    enable_egress_guard(allowed, mode=os.environ.get(MODE_ENV, "strict"))  # type: ignore[arg-type]


_JOINING = threading.Lock()


def connect(settings: Settings) -> None:
    """Join the cluster at `settings.ray_address` (idempotent in one process, and safe from
    several threads: the image and fine-tune workers of one process share the connection).

    Raises RayUnavailable with one sentence when no address is set or the cluster does not answer.
    """
    with _JOINING:
        _join(settings)


def _join(settings: Settings) -> None:
    import ray

    if ray.is_initialized():
        return
    if not settings.ray_address:
        raise RayUnavailable("the Ray engine needs GESSO_RAY_ADDRESS (host:port of the cluster head)")
    probe_head(settings.ray_address)
    try:
        ray.init(
            address=settings.ray_address,
            namespace=NAMESPACE,
            runtime_env=worker_runtime_env(settings),
            log_to_driver=False,
            configure_logging=False,
        )
    except (ConnectionError, RuntimeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RayUnavailable(f"cannot reach the Ray cluster at {settings.ray_address}: {first}") from None
    log.info("joined the Ray cluster", extra={"ray_address": settings.ray_address})



def probe_head(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """A plain TCP connect to the head first: ray.init itself retries an unreachable head for
    minutes before it gives up."""
    import socket

    host, _, port = address.removeprefix("ray://").split("/")[0].rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"GESSO_RAY_ADDRESS must be host:port, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise RayUnavailable(f"cannot reach the Ray cluster at {address}: {error.strerror or error}") from None


def require_resources(cpus: float = 0.0, gpus: float = 0.0) -> None:
    """Raise RayUnavailable unless the cluster has at least these CPUs and GPUs in all."""
    import ray

    total = ray.cluster_resources()
    missing = [
        f"{need:g} {name} (the cluster has {total.get(name, 0):g})"
        for name, need in (("CPU", cpus), ("GPU", gpus))
        if need > total.get(name, 0)
    ]
    if missing:
        raise RayUnavailable("the Ray cluster lacks the resources asked: " + ", ".join(missing))
