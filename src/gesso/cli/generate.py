"""`gesso generate`: PNG files from a prompt or a JSONL prompts file."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated, Optional

import typer

from gesso.cli.errors import fail


def generate(
    prompt: Annotated[Optional[str], typer.Argument(help="What to draw.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Model name or pipeline folder.")] = None,
    n: Annotated[int, typer.Option("--n", help="Images per prompt.")] = 1,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the first image (image k: seed+k).")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Sampling steps.")] = None,
    guidance: Annotated[Optional[float], typer.Option(help="Classifier-free guidance scale.")] = None,
    size: Annotated[Optional[str], typer.Option(help="WIDTHxHEIGHT; the model's native size by default.")] = None,
    negative: Annotated[str, typer.Option(help="Negative prompt.")] = "",
    sampler: Annotated[Optional[str], typer.Option(help="euler or dpm.")] = None,
    prompts_file: Annotated[Optional[Path], typer.Option(help="JSONL of {id, prompt, ...} lines.")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per pipeline call.")] = 8,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out"),
    adapter: Annotated[Optional[Path], typer.Option(help="LoRA adapter folder (from `gesso finetune create`).")] = None,
    background: Annotated[str, typer.Option(
        help="opaque (on white) or transparent (RGBA, from a model with an alpha channel).")] = "opaque",
    revise_prompt: Annotated[bool, typer.Option(
        help="Map a plain-language prompt onto a concept the model knows (its prompt vocabulary); "
             "each revision is said on stderr and kept in the PNG.")] = True,
) -> None:
    """Generate PNGs and print their paths, one per line."""
    from gesso.settings import get_settings

    settings = get_settings()
    if (prompt is None) == (prompts_file is None):
        fail("give either a PROMPT or --prompts-file")
    if not 1 <= batch_size <= 64:
        fail("--batch-size must be between 1 and 64")
    if background not in ("opaque", "transparent"):
        fail(f"--background must be opaque or transparent, not {background!r}")
    # the model stack (torch, diffusers, transformers) loads only once the arguments are known good
    from gesso.engine import file_generation

    try:
        paths = file_generation.generate_to_files(
            settings,
            prompt=prompt,
            prompts_file=prompts_file,
            model=model or settings.default_model,
            n=n,
            seed=seed,
            steps=steps,
            guidance=guidance,
            size=size,
            negative=negative,
            sampler=sampler or settings.default_sampler,
            batch_size=batch_size,
            out_dir=out,
            rng=random.Random(),
            adapter=adapter,
            background=background,
            revise_prompt=revise_prompt,
            on_revision=lambda given, revised: typer.echo(f"revised prompt: {given!r} -> {revised!r}", err=True),
        )
    except file_generation.GenerationInputError as exc:
        fail(str(exc))
    for path in paths:
        typer.echo(str(path))
