"""Generation speed and memory of the shipped model on this machine."""

from __future__ import annotations

from typing import Callable

import torch

from gesso.engine.device import pick_device
from gesso.engine.model_registry import resolve_model
from gesso.engine.pipeline_cache import pipeline_cache_for
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.settings import get_settings

from benchmarks.timing import interleaved_medians, machine, peak_rss_of

# bf16_from_batch values: the plan chosen for this machine, bf16 autocast always, never (plain fp32).
POLICY = "policy"
PRECISIONS = {POLICY: POLICY, "bf16 always": 1, "fp32 always": None}


def _call(pipe: GessoPipeline, steps: int, images: int, from_batch: object = POLICY) -> Callable[[], object]:
    policy = pipe.bf16_from_batch

    def call() -> object:
        pipe.bf16_from_batch = policy if from_batch == POLICY else from_batch
        try:
            return pipe("red apple", num_images_per_prompt=images, seed=0, num_inference_steps=steps, output_type="pt")
        finally:
            pipe.bf16_from_batch = policy

    return call


def run(runs: int = 9) -> str:
    settings = get_settings()
    path = resolve_model(settings.default_model, settings.models_dir)
    cache = pipeline_cache_for(settings, pick_device(settings.device))
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

    plan = cache.plans[str(path.resolve())]
    lines += ["", f"CPU precision of the denoiser at default settings, on {machine()} "
              f"(torch capability {torch.backends.cpu.get_cpu_capability()}). The plan chosen here: {plan.reason}.", "",
              "| precision | 1 image | batch of 8 |", "| --- | --- | --- |"]
    lines += [f"| {label} | {t[label, 1]:.3f} s | {t[label, 8]:.3f} s |" for label in PRECISIONS]

    peak = peak_rss_of(
        "from gesso.engine.pipeline_cache import pipeline_cache_for\n"
        "from gesso.engine.model_registry import resolve_model\n"
        "from gesso.settings import get_settings\n"
        "import torch\n"
        "s = get_settings()\n"
        "p = pipeline_cache_for(s, torch.device('cpu')).get(resolve_model(s.default_model, s.models_dir), s.default_sampler)\n"
        "p('red apple', num_images_per_prompt=8, seed=0, num_inference_steps=s.default_steps, output_type='pt')\n"
    )
    lines += ["", f"Peak resident memory of a process that loads the model and generates a batch of 8: "
              f"**{peak:.2f} GiB**.", ""]
    return "\n".join(lines)
