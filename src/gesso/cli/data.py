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
    styles: Annotated[str, typer.Option(help="Comma-separated: google, twitter, fluent3d.")] = "google,twitter",
    cache: Annotated[Path, typer.Option(help="Where npm tarballs are kept.")] = Path(".npm-packs"),
    limit: Annotated[Optional[int], typer.Option(help="At most this many images per style.")] = None,
) -> None:
    """Fetch the emoji npm packages (npm pack) and write images + metadata.jsonl."""
    from gesso.data.emoji_corpus import build_emoji_corpus
    from gesso.data.npm_packages import PackageFetchError
    from gesso.data.validation import validate_dataset

    try:
        rows = build_emoji_corpus(out, cache, tuple(s.strip() for s in styles.split(",") if s.strip()), limit=limit)
    except (ValueError, PackageFetchError) as exc:
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
