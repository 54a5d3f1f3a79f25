"""Export a trained pipeline for shipping: fp16 safetensors in the diffusers layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from gesso.model.pipeline_gesso import GessoPipeline


def export_pipeline(trained_dir: Path, out_dir: Path) -> int:
    """Write `trained_dir`'s pipeline to `out_dir` in fp16; return the total bytes of weights."""
    pipe = GessoPipeline.load(trained_dir, dtype=torch.float32)
    pipe.transformer.to(torch.float16)
    pipe.vae.to(torch.float16)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp)
    for keep in ("README.md", "eval.json", "compute.json", "NOTES.md"):  # the card's inputs
        if (out_dir / keep).is_file():
            shutil.copy2(out_dir / keep, tmp / keep)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return sum(f.stat().st_size for f in out_dir.rglob("*.safetensors"))
