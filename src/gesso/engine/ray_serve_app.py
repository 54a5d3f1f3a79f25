"""The generation application on Ray Serve, built from Gesso's settings: replica resources,
autoscaling, batching and multiplexing bounds; deployed by a Gesso worker (`serve.run`) or by
the cluster itself (KubeRay `RayService`, `import_path: gesso.engine.ray_serve_app:build_app`,
which reads the same `GESSO_*` variables from the replicas' runtime env)."""

from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle

from gesso.engine.ray_serve_deployment import DEPLOYMENT_NAME, ReplicaConfig, generation_deployment
from gesso.settings import Settings


def replica_config(settings: Settings) -> ReplicaConfig:
    return ReplicaConfig(
        models_dir=str(settings.models_dir.resolve()),
        device=settings.device,
        cpu_precision=settings.cpu_precision,
        sampler=settings.default_sampler,
        max_batch_images=max(1, settings.max_batch_images),
        max_request_images=settings.max_images_per_request,
        batch_wait_s=settings.ray_serve_batch_wait_s,
        max_adapters=settings.ray_serve_max_adapters,
        preload_model=settings.default_model,
    )


def deployment_options(settings: Settings, runtime_env: dict | None = None) -> dict[str, Any]:
    """`generation_deployment.options(...)`: resources per replica and the autoscaling bounds. A
    replica takes at least one batch plus one waiting, so Serve's batching can fill the next."""
    actor_options: dict[str, Any] = {"num_cpus": settings.ray_serve_replica_cpus}
    if settings.ray_serve_replica_gpus:
        actor_options["num_gpus"] = settings.ray_serve_replica_gpus
    if runtime_env:
        actor_options["runtime_env"] = runtime_env
    largest_batch = max(settings.max_batch_images, settings.max_images_per_request)
    return {
        "ray_actor_options": actor_options,
        "max_ongoing_requests": max(2 * largest_batch, int(settings.ray_serve_target_ongoing_requests) * 2),
        "autoscaling_config": {
            "min_replicas": settings.ray_serve_min_replicas,
            "initial_replicas": max(1, settings.ray_serve_min_replicas),
            "max_replicas": settings.ray_serve_max_replicas,
            "target_ongoing_requests": settings.ray_serve_target_ongoing_requests,
        },
    }


def generation_app(settings: Settings, runtime_env: dict | None = None) -> serve.Application:
    return generation_deployment.options(**deployment_options(settings, runtime_env)).bind(replica_config(settings))


def build_app(args: dict[str, str] | None = None) -> serve.Application:
    """The application builder for a Serve config file (KubeRay): settings from the replicas'
    environment (`GESSO_*` in the runtime env), `args` overriding them by setting name."""
    return generation_app(Settings(**(args or {})))


def deploy_generation(settings: Settings, runtime_env: dict | None = None) -> DeploymentHandle:
    """The handle of the generation application: deployed (or updated) from `settings` when
    `ray_serve_deploy`, else the one the cluster already runs under `ray_serve_app`."""
    if settings.ray_serve_deploy:
        return serve.run(
            generation_app(settings, runtime_env), name=settings.ray_serve_app, route_prefix=None, blocking=False
        )
    return serve.get_deployment_handle(DEPLOYMENT_NAME, app_name=settings.ray_serve_app)
