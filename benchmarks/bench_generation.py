"""Generation speed and memory of the shipped model on this machine."""

from __future__ import annotations

from typing import Callable

from gesso.engine.device import pick_device
from gesso.engine.model_registry import resolve_model
from gesso.engine.pipeline_cache import PipelineCache
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.settings import get_settings

from benchmarks.timing import interleaved_medians, peak_rss_of

# bf16_min_batch values: the pipeline's own policy, bf16 autocast always, and never (plain fp32).
PRECISIONS = {"policy": None, "bf16 always": 0, "fp32 always": 10**9}


def _call(pipe: GessoPipeline, steps: int, images: int, min_batch: int | None = None) -> Callable[[], object]:
    policy = pipe.bf16_min_batch

    def call() -> object:
        pipe.bf16_min_batch = policy if min_batch is None else min_batch
        try:
            return pipe("red apple", num_images_per_prompt=images, seed=0, num_inference_steps=steps, output_type="pt")
        finally:
            pipe.bf16_min_batch = policy

    return call


def run(runs: int = 9) -> str:
    settings = get_settings()
    path = resolve_model(settings.default_model, settings.models_dir)
    cache = PipelineCache(pick_device(settings.device))
    default = cache.get(path, settings.default_sampler)
    euler = cache.get(path, "euler")
    steps = settings.default_steps
    # One round times every variant in turn; the policy at default settings is in both tables.
    calls = {("euler 20", n): _call(euler, 20, n) for n in (1, 8)}
    calls.update({(label, n): _call(default, steps, n, mb) for label, mb in PRECISIONS.items() for n in (1, 8)})
    t = interleaved_medians(calls, runs)
    lines = ["## Generation (shipped model)", "",
             f"Medians of {runs} runs; every variant below was timed in turn within each round.", "",
             "| what | sampler | steps | median |", "| --- | --- | --- | --- |"]
    for key, sampler, k, label in (("policy", settings.default_sampler, steps, "default settings"),
                                   ("euler 20", "euler", 20, "Euler at 20 steps, for comparison")):
        lines.append(f"| 1 image, {label} | {sampler} | {k} | {t[key, 1]:.3f} s |")
        lines.append(f"| batch of 8, {label} | {sampler} | {k} | {t[key, 8]:.3f} s ({8 / t[key, 8]:.1f} img/s) |")

    policy = default.bf16_min_batch
    lines += ["", f"CPU precision of the denoiser at default settings. The policy runs bf16 autocast from a "
              f"guided batch of {policy} ({policy // 2} images) up and fp32 below it:", "",
              "| precision | 1 image | batch of 8 |", "| --- | --- | --- |"]
    lines += [f"| {label} | {t[label, 1]:.3f} s | {t[label, 8]:.3f} s |" for label in PRECISIONS]

    peak = peak_rss_of(
        "from gesso.engine.pipeline_cache import PipelineCache\n"
        "from gesso.engine.model_registry import resolve_model\n"
        "from gesso.settings import get_settings\n"
        "import torch\n"
        "s = get_settings()\n"
        "p = PipelineCache(torch.device('cpu')).get(resolve_model(s.default_model, s.models_dir), s.default_sampler)\n"
        "p('red apple', num_images_per_prompt=8, seed=0, num_inference_steps=s.default_steps, output_type='pt')\n"
    )
    lines += ["", f"Peak resident memory of a process that loads the model and generates a batch of 8: "
              f"**{peak:.2f} GiB**.", ""]
    return "\n".join(lines)
