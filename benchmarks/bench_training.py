"""Training throughput of each base config (stage 1 and stage 2): Gesso's step (cached features,
bf16) against a plain diffusers training step on the same model (encode every batch, fp32)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from gesso.data.dataset_format import DatasetRow, read_rows
from gesso.model.denoiser import build_denoiser
from gesso.model.guidance import logit_normal_timesteps, noisy_sample, velocity_target
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.model.text_encoder import encode_text
from gesso.train.base_loop import concept_weights, denoiser_config, flow_matching_loss, make_batch
from gesso.train.captions import caption_variants
from gesso.train.image_tensors import load_images, to_model_range
from gesso.train.run_config import BaseRunConfig, load_run_config

from benchmarks.timing import interleaved_medians


CONFIGS = (Path("configs/base.yaml"), Path("configs/base-stage2.yaml"))
# rows, images in model range, captions, and the cached features Gesso's step draws from
BenchInputs = tuple[list[DatasetRow], torch.Tensor, list[str], dict[str, torch.Tensor]]


def run(steps: int = 5, batch_size: int | None = None) -> str:
    from gesso.engine.model_registry import resolve_model
    from gesso.settings import get_settings

    settings = get_settings()
    pipe = GessoPipeline.load(resolve_model(settings.default_model, settings.models_dir))
    inputs: dict[tuple[str, int], BenchInputs] = {}  # the stages share their corpus: load it once
    sections = []
    for path in CONFIGS:
        cfg = load_run_config(path, BaseRunConfig)
        batch = batch_size or cfg.batch_size
        if (cfg.data_dir, batch) not in inputs:
            inputs[cfg.data_dir, batch] = _inputs(pipe, Path(cfg.data_dir), batch)
        sections.append(_bench_config(path, cfg, pipe, inputs[cfg.data_dir, batch], steps, batch))
    return "\n".join(sections)


def _inputs(pipe: GessoPipeline, data_dir: Path, batch: int) -> BenchInputs:
    rows = read_rows(data_dir)[: batch * 4]
    images = to_model_range(load_images(data_dir, rows, pipe.native_size))
    captions = [caption_variants(r)[0] for r in rows]
    with torch.no_grad():
        latents = torch.cat([pipe.encode_image(images[i : i + 64]) for i in range(0, len(images), 64)])
        states, masks = encode_text(captions, pipe.text_encoder, pipe.tokenizer)
        empty_s, empty_m = encode_text([""], pipe.text_encoder, pipe.tokenizer)
    features = {
        "latents": latents, "states": states.half().unsqueeze(1), "masks": masks.to(torch.uint8).unsqueeze(1),
        "empty_states": empty_s.half(), "empty_mask": empty_m.to(torch.uint8),
    }
    return rows, images, captions, features


def _bench_config(
    config_path: Path, cfg: BaseRunConfig, pipe: GessoPipeline, inputs: BenchInputs, steps: int, batch: int
) -> str:
    rows, images, captions, features = inputs
    # Gesso's step: features computed once (outside the timed step), bf16 autocast, and
    # torch.compile when the config turns it on (its compilation falls in the warm-up step).
    weights = concept_weights(rows) if cfg.balance_concepts else None
    gen = torch.Generator().manual_seed(0)
    model = build_denoiser(denoiser_config(cfg)).train()
    forward = torch.compile(model) if cfg.compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def gesso_step() -> None:
        lat, st, mk = make_batch(features, batch, cfg.caption_dropout, gen, weights)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = flow_matching_loss(forward, lat, st, mk, gen)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    # The plain step: what a straightforward diffusers training script does per batch.
    def plain_step() -> None:
        idx = torch.randint(0, len(rows), (batch,), generator=gen)
        with torch.no_grad():
            z = pipe.encode_image(images[idx])
            st, mk = encode_text([captions[i] for i in idx], pipe.text_encoder, pipe.tokenizer)
        t = logit_normal_timesteps(batch, gen)
        noise = torch.randn(z.shape, generator=gen)
        pred = model(noisy_sample(z, noise, t), encoder_hidden_states=st, encoder_attention_mask=mk,
                     timestep=t * 1000, return_dict=False)[0]
        loss = F.mse_loss(pred, velocity_target(z, noise))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    medians = interleaved_medians({"gesso": gesso_step, "plain": plain_step}, steps)
    t_gesso, t_plain = medians["gesso"], medians["plain"]
    compiled = ", torch.compile" if cfg.compile else ""
    return "\n".join([
        f"## Base training throughput (config `{config_path}`)", "",
        "| step | batch | median step | images/s |", "| --- | --- | --- | --- |",
        f"| Gesso: cached latents + text states, bf16 autocast{compiled} | {batch} | {t_gesso:.3f} s | {batch / t_gesso:.1f} |",
        f"| plain diffusers step: encode every batch, fp32 | {batch} | {t_plain:.3f} s | {batch / t_plain:.1f} |",
        "", f"Ratio (Gesso / plain, the two steps taken in turn, median of {steps} steps each): "
        f"**{t_plain / t_gesso:.2f}x**.", "",
    ])
