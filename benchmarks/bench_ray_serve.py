"""Generation on Ray Serve against the embedded path, on a local Ray cluster of this machine:
images/s at the same batch size and the same cores (the overhead ratio), and the cost of
switching between two fine-tuned adapters with multiplexing (both kept per replica) and without
(one slot per replica: every switch loads the adapter again)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import torch

from benchmarks.timing import interleaved_medians
from gesso.engine.device import pick_device
from gesso.engine.job_execution import execute_jobs
from gesso.engine.model_registry import resolve_model
from gesso.engine.pipeline_cache import pipeline_cache_for
from gesso.jobs.generation_request import GenerationRequest
from gesso.jobs.image_jobs import ClaimedJob
from gesso.settings import get_settings
from tests.engine.random_adapters import make_adapter

BATCH = 8
REPLICA_CPUS = 1  # both paths get one core: the ratio is Serve's overhead, not more compute


def _jobs(model: str, steps: int, count: int, tag: str) -> list[ClaimedJob]:
    request = GenerationRequest(prompt="red apple", model=model, n=1, steps=steps, seed=0, size=(64, 64))
    return [ClaimedJob(f"{tag}-{i}", request) for i in range(count)]


def _serve_call(dispatch, jobs: list[ClaimedJob]) -> Callable[[], object]:  # noqa: ANN001 - JobDispatch
    def call() -> object:
        responses = [dispatch.send(job) for job in jobs]
        return [response.result(timeout_s=600) for response in responses]

    return call


def _alternating(dispatch, models: list[str], steps: int) -> Callable[[], object]:  # noqa: ANN001
    def call() -> object:
        for model in models * 2:  # a, b, a, b: every request switches adapter
            dispatch.send(_jobs(model, steps, 1, "switch")[0]).result(timeout_s=600)

    return call


def run(runs: int = 5) -> str:
    import ray
    from ray import serve

    from gesso.engine.ray_job_dispatch import AdapterRefs, JobDispatch
    from gesso.engine.ray_serve_app import generation_app

    settings = get_settings()
    model_dir = resolve_model(settings.default_model, settings.models_dir)
    steps = settings.default_steps
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2 * REPLICA_CPUS, include_dashboard=False, log_to_driver=False, configure_logging=False)
    root = Path(tempfile.mkdtemp(prefix="gesso-bench-adapters-"))
    adapters = {f"ft:{settings.default_model}:bench:{name}:ftjob_{name}": make_adapter(model_dir, root / name, seed, scale=0.05, base_model="bench")
                for seed, name in ((1, "ink"), (2, "chalk"))}
    lookup = lambda name: (settings.default_model, adapters[name]) if name in adapters else None  # noqa: E731
    try:
        serve.start(proxy_location="Disabled")
        handles = {}
        for slots in (2, 1):
            variant = settings.model_copy(update={
                "ray_serve_replica_cpus": REPLICA_CPUS, "ray_serve_max_adapters": slots, "max_batch_images": BATCH,
                "ray_serve_min_replicas": 1, "ray_serve_max_replicas": 1, "ray_serve_batch_wait_s": 0.05})
            handles[slots] = serve.run(generation_app(variant), name=f"bench-serve-{slots}", route_prefix=None)
        held, one_slot = (JobDispatch(handles[n], AdapterRefs(lookup)) for n in (2, 1))
        torch.set_num_threads(REPLICA_CPUS)
        pipe = pipeline_cache_for(settings, pick_device(settings.device)).get(model_dir, settings.default_sampler)
        jobs = _jobs(settings.default_model, steps, BATCH, "bench")
        t = interleaved_medians({
            "embedded": lambda: execute_jobs(pipe, jobs, BATCH),
            "serve": _serve_call(held, jobs),
            "switch held": _alternating(held, list(adapters), steps),
            "switch reload": _alternating(one_slot, list(adapters), steps),
        }, runs)
    finally:
        serve.shutdown()
        ray.shutdown()
    embedded, served = BATCH / t["embedded"], BATCH / t["serve"]
    held_s, reload_s = t["switch held"] / 4, t["switch reload"] / 4
    return "\n".join([
        "## Generation on Ray Serve", "",
        f"A local Ray cluster on this machine, one replica of {REPLICA_CPUS} CPU; the embedded path on "
        f"{REPLICA_CPUS} torch thread. {BATCH} single-image jobs at {steps} steps, 64x64, sent together; "
        f"medians of {runs} rounds, every variant timed in turn within each round.", "",
        "| what | median |", "| --- | --- |",
        f"| embedded `execute_jobs`, batch of {BATCH} | {embedded:.2f} images/s |",
        f"| Ray Serve (`@serve.batch`), {BATCH} requests | {served:.2f} images/s |",
        f"| overhead ratio (embedded / Serve) | {embedded / served:.2f}x |",
        f"| one request after an adapter switch, multiplexed (2 adapters held) | {held_s * 1000:.0f} ms |",
        f"| one request after an adapter switch, 1 slot (adapter loaded each time) | {reload_s * 1000:.0f} ms |",
        "",
    ])


if __name__ == "__main__":
    print(run())  # noqa: T201 (a CLI script)
