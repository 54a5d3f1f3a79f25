"""Generation speed and memory of the shipped model on this machine."""

from __future__ import annotations

from gesso.engine.device import pick_device
from gesso.engine.model_registry import resolve_model
from gesso.engine.pipeline_cache import PipelineCache
from gesso.settings import get_settings

from benchmarks.timing import median_seconds, peak_rss_of


def run(runs: int = 7) -> str:
    settings = get_settings()
    path = resolve_model(settings.default_model, settings.models_dir)
    device = pick_device(settings.device)
    lines = ["## Generation (shipped model, default settings)", ""]
    lines.append("| what | sampler | steps | median | runs |")
    lines.append("| --- | --- | --- | --- | --- |")
    for sampler, steps in (("euler", settings.default_steps), ("dpm", 12)):
        pipe = PipelineCache(device).get(path, sampler)
        one, _ = median_seconds(lambda: pipe("red apple", seed=0, num_inference_steps=steps, output_type="pt"), runs)
        eight, _ = median_seconds(
            lambda: pipe("red apple", num_images_per_prompt=8, seed=0, num_inference_steps=steps, output_type="pt"), runs
        )
        lines.append(f"| 1 image | {sampler} | {steps} | {one:.3f} s | {runs} |")
        lines.append(f"| batch of 8 | {sampler} | {steps} | {eight:.3f} s ({8 / eight:.1f} img/s) | {runs} |")
    peak = peak_rss_of(
        "from gesso.engine.pipeline_cache import PipelineCache\n"
        "from gesso.engine.model_registry import resolve_model\n"
        "from gesso.settings import get_settings\n"
        "import torch\n"
        "s = get_settings()\n"
        "p = PipelineCache(torch.device('cpu')).get(resolve_model(s.default_model, s.models_dir))\n"
        "p('red apple', num_images_per_prompt=8, seed=0, num_inference_steps=s.default_steps, output_type='pt')\n"
    )
    lines += ["", f"Peak resident memory of a process that loads the model and generates a batch of 8: "
              f"**{peak:.2f} GiB**.", ""]
    return "\n".join(lines)
