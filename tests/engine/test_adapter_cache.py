"""Adapter cache: on-demand loading, LRU eviction, reload of rewritten adapters, batch isolation."""

import os

import pytest
import torch

from gesso.engine.adapter_cache import AdapterCache, plan_adapter_batches
from gesso.engine.batching import run_batch
from gesso.jobs.generation_request import GenerationRequest
from gesso.model.adapters import (
    AdapterError,
    attach_adapter,
    attached_adapters,
)
from gesso.model.pipeline_gesso import GessoPipeline
from tests.engine.random_adapters import make_adapter


@pytest.fixture(scope="module")
def adapters(tiny_pipeline_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    return {name: make_adapter(tiny_pipeline_dir, root / name, seed) for seed, name in enumerate(["a", "b"], start=1)}


def alone(pipe_dir, adapter_dir, request):
    """The images one request gets on a fresh pipeline with only its own adapter."""
    pipe = GessoPipeline.load(pipe_dir)
    if adapter_dir is not None:
        attach_adapter(pipe.transformer, adapter_dir, "only")
    return pipe([request.prompt] * request.n, num_inference_steps=request.steps, guidance_scale=request.guidance,
                seed=request.seed, output_type="pt")


def level_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference of two uint8 images, in levels."""
    return float((a.int() - b.int()).abs().float().mean())


def test_requests_for_different_adapters_never_share_a_batch(tiny_pipeline_dir, adapters):
    make = lambda prompt, seed: GenerationRequest(prompt=prompt, n=2, seed=seed, steps=2, size=(32, 32))
    requests = [make("red circle", 1), make("red circle", 1), make("blue square", 5), make("red circle", 9)]
    owners = ["a", "b", None, "a"]  # any adapter id; here the keys of `adapters`
    plan = plan_adapter_batches(requests, owners, max_batch=8)
    assert sorted(len(slots) for _, slots in plan) == [2, 2, 4]
    for adapter, slots in plan:
        assert {owners[s.request] for s in slots} == {adapter}

    pipe, cache = GessoPipeline.load(tiny_pipeline_dir), AdapterCache()
    images: dict[tuple[int, int], torch.Tensor] = {}
    for adapter, slots in plan:
        with cache.use(pipe, adapters.get(adapter)) as p:
            for slot, image in zip(slots, run_batch(p, requests, slots)):
                images[slot.request, slot.index] = image
    for i, (request, owner) in enumerate(zip(requests, owners)):
        expected = alone(tiny_pipeline_dir, adapters.get(owner), request)
        got = torch.stack([images[i, k] for k in range(request.n)])
        # the same images up to the last bits, which depend on the batch size (CPU kernels, bf16
        # from a batch of 4 images up); another adapter's images are tens of levels away
        assert level_gap(got, expected) < 2.0, f"request {i} got another adapter's images"
    # same prompt and seed, different adapters: different images
    assert level_gap(images[0, 0], images[1, 0]) > 10.0


def test_adapters_load_once_and_the_least_recently_used_is_evicted(tiny_pipeline_dir, adapters, tmp_path):
    pipe, cache = GessoPipeline.load(tiny_pipeline_dir), AdapterCache(max_adapters=1)
    base = pipe("red circle", seed=2, num_inference_steps=2, output_type="pt")
    with cache.use(pipe, adapters["a"]) as p:
        with_a = p("red circle", seed=2, num_inference_steps=2, output_type="pt")
    with cache.use(pipe, adapters["a"]):
        pass
    assert cache.loads == 1 and len(attached_adapters(pipe.transformer)) == 1
    with cache.use(pipe, adapters["b"]):
        pass
    assert cache.loads == 2 and len(attached_adapters(pipe.transformer)) == 1  # a was evicted
    assert [k.split(":")[0] for k in cache.loaded(pipe)] == [str(adapters["b"].resolve())]
    with cache.use(pipe, None) as p:
        assert torch.equal(p("red circle", seed=2, num_inference_steps=2, output_type="pt"), base)
    with cache.use(pipe, adapters["a"]) as p:
        assert torch.equal(p("red circle", seed=2, num_inference_steps=2, output_type="pt"), with_a)
    assert cache.loads == 3


def test_a_rewritten_adapter_is_reloaded_and_a_bad_one_is_refused(tiny_pipeline_dir, adapters, tmp_path):
    folder = make_adapter(tiny_pipeline_dir, tmp_path / "moving", seed=1)
    pipe, cache = GessoPipeline.load(tiny_pipeline_dir), AdapterCache()
    with cache.use(pipe, folder) as p:
        first = p("red circle", seed=2, num_inference_steps=2, output_type="pt")
    make_adapter(tiny_pipeline_dir, folder, seed=7)  # retrained in place
    os.utime(folder / "adapter.safetensors", ns=(1, 10**18))
    with cache.use(pipe, folder) as p:
        second = p("red circle", seed=2, num_inference_steps=2, output_type="pt")
    assert cache.loads == 2 and not torch.equal(first, second)
    with pytest.raises(AdapterError):
        with cache.use(pipe, tmp_path / "missing"):
            pass
