"""How close generation comes to the machine's limit: FLOPs of one image (counted by
torch.utils.flop_counter) over its measured time, against this machine's sustained matmul FLOP/s
measured in the same run."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from gesso.engine.device import pick_device
from gesso.engine.model_registry import resolve_model
from gesso.engine.pipeline_cache import pipeline_cache_for
from gesso.settings import get_settings

from benchmarks.timing import interleaved_medians, machine

MATMUL_SIZE = 1024


def counted_flops(fn) -> int:  # noqa: ANN001
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def sustained_matmul_flops(dtype: torch.dtype, runs: int) -> float:
    """FLOP/s of back-to-back square matmuls, the best case for these cores at this precision."""
    a = torch.randn(MATMUL_SIZE, MATMUL_SIZE, dtype=dtype)
    b = torch.randn(MATMUL_SIZE, MATMUL_SIZE, dtype=dtype)
    repeats = 8

    def block() -> None:
        for _ in range(repeats):
            torch.mm(a, b)

    seconds = interleaved_medians({"mm": block}, runs)["mm"]
    return 2 * MATMUL_SIZE**3 * repeats / seconds


def run(runs: int = 7) -> str:
    settings = get_settings()
    path = resolve_model(settings.default_model, settings.models_dir)
    pipe = pipeline_cache_for(settings, pick_device(settings.device)).get(path, settings.default_sampler)
    steps, guidance = settings.default_steps, settings.default_guidance
    size = pipe.native_size // pipe.vae_scale_factor
    channels = pipe.transformer.config.in_channels
    states, mask = pipe.encode_prompts(["red apple", ""])
    latents = torch.randn(2, channels, size, size)  # the conditional and negative halves
    t = pipe.scheduler.timesteps[:1] if len(pipe.scheduler.timesteps) else torch.tensor([500.0])

    def denoiser_step() -> object:
        return pipe._denoise(latents, t[0], states, mask)

    def decode() -> object:
        return pipe.decode_latents(latents[:1])

    def image() -> object:
        return pipe("red apple", seed=0, num_inference_steps=steps, guidance_scale=guidance, output_type="pt")

    pipe.scheduler.set_timesteps(steps)
    t = pipe.scheduler.timesteps
    flops = {"denoiser step": counted_flops(denoiser_step), "decoder": counted_flops(decode),
             "one image": counted_flops(image)}
    parts = {"denoiser step": denoiser_step, "decoder": decode, "one image": image}
    seconds = interleaved_medians(parts, runs, warmup=2)  # the first call pays oneDNN set-up
    peak32 = sustained_matmul_flops(torch.float32, runs)
    peak16 = sustained_matmul_flops(torch.bfloat16, runs)
    lines = ["## Fraction of the machine's limit", "",
             f"On {machine()} (torch capability {torch.backends.cpu.get_cpu_capability()}). FLOPs are "
             "counted with `torch.utils.flop_counter` (matmuls and convolutions; elementwise work is not "
             f"counted); times are medians of {runs}, interleaved. The limit is this machine's sustained "
             f"{MATMUL_SIZE}x{MATMUL_SIZE} fp32 matmul rate, **{peak32 / 1e9:.1f} GFLOP/s** "
             f"(bf16: {peak16 / 1e9:.1f} GFLOP/s), measured in the same run.", "",
             "| part | GFLOP | median | achieved GFLOP/s | fraction of the fp32 limit |",
             "| --- | --- | --- | --- | --- |"]
    for name in flops:
        achieved = flops[name] / seconds[name]
        lines.append(f"| {name} | {flops[name] / 1e9:.3f} | {seconds[name] * 1000:.1f} ms | "
                     f"{achieved / 1e9:.1f} | {achieved / peak32:.0%} |")
    lines += ["", f"One image is {steps} denoiser steps on a batch of 2 (guidance) plus one decode, at "
              f"the default settings.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())  # noqa: T201
