"""`gesso data ...`: build the emoji corpus, validate a dataset folder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from gesso.cli.errors import fail, fail_with_problems

data_app = typer.Typer(help="Datasets: build the emoji corpus, validate a folder.", no_args_is_help=True)


@data_app.command("build-emoji")
def build_emoji(
    out: Annotated[Path, typer.Option(help="Dataset folder to write.")],
    styles: Annotated[
        str,
        typer.Option(help="Comma-separated. Raster (64 px): google, twitter, fluent3d. "
                     "Vector (rendered at --size, with alpha): noto, twemoji, fluent-flat."),
    ] = "google,twitter",
    size: Annotated[Optional[int], typer.Option(help="Pixels per side for vector styles (default 128).")] = None,
    held_out: Annotated[
        Optional[Path], typer.Option(help="Paraphrase YAML whose prompts are never written as captions.")
    ] = None,
    cache: Annotated[Path, typer.Option(help="Where npm tarballs are kept.")] = Path(".npm-packs"),
    limit: Annotated[Optional[int], typer.Option(help="At most this many images per style.")] = None,
) -> None:
    """Fetch the emoji npm packages (npm pack) and write images + metadata.jsonl."""
    from gesso.data.emoji_corpus import STYLES as RASTER_STYLES
    from gesso.data.emoji_corpus import build_emoji_corpus
    from gesso.data.npm_packages import PackageFetchError
    from gesso.data.validation import validate_dataset
    from gesso.data.vector_emoji_corpus import VECTOR_STYLES, build_vector_emoji_corpus, read_held_out_prompts

    chosen = tuple(s.strip() for s in styles.split(",") if s.strip())
    unknown = [s for s in chosen if s not in VECTOR_STYLES and s not in RASTER_STYLES]
    if unknown or not chosen:
        fail(f"unknown style(s): {', '.join(unknown) or '(none given)'}; choose from "
             f"{', '.join([*RASTER_STYLES, *VECTOR_STYLES])}")
    vector = [s for s in chosen if s in VECTOR_STYLES]
    if vector and len(vector) != len(chosen):
        raster = ", ".join(s for s in chosen if s in RASTER_STYLES)
        fail(f"--styles mixes vector ({', '.join(vector)}) and raster ({raster}) sets; build them apart")
    if size is not None and not vector:
        fail("--size applies to vector styles only (raster sets are 64 px)")
    if size is not None and not 16 <= size <= 1024:
        fail(f"--size must be between 16 and 1024, got {size}")
    try:
        if vector:
            prompts = read_held_out_prompts(held_out) if held_out else ()
            rows = build_vector_emoji_corpus(out, cache, chosen, size or 128, limit, prompts)
        else:
            rows = build_emoji_corpus(out, cache, chosen, limit=limit)
    except (ValueError, OSError, PackageFetchError) as exc:
        fail(str(exc))
    report = validate_dataset(out)
    if not report.ok:
        fail(report.summary().replace("\n", "; "))
    typer.echo(f"{len(rows)} images in {out}")


@data_app.command("validate")
def validate(
    folder: Annotated[Path, typer.Argument(help="Dataset folder with metadata.jsonl.")],
    allow_missing_captions: Annotated[bool, typer.Option(help="Accept empty captions.")] = False,
) -> None:
    """Check a dataset folder; list every bad row and exit 2 if there is one."""
    from gesso.data.validation import validate_dataset

    report = validate_dataset(folder, require_captions=not allow_missing_captions)
    if not report.ok:
        for problem in report.problems[1:]:
            sys.stderr.write(f"  {problem}\n")
        fail_with_problems(report.problems)
    typer.echo(report.summary())
