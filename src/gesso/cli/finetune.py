"""`gesso finetune ...`: train a LoRA adapter on your own images; the brand-style demonstration."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from gesso.cli.errors import fail, fail_with_problems
from gesso.cli.run_configs import load_config

if TYPE_CHECKING:
    from gesso.settings import Settings

finetune_app = typer.Typer(help="Fine-tuning: LoRA adapters on your own images.", no_args_is_help=True)


@finetune_app.command("create")
def finetune_create(
    data: Annotated[Path, typer.Option(help="Dataset folder (metadata.jsonl + images), or a zip/tar/JSONL upload.")],
    suffix: Annotated[str, typer.Option(help="Name of the fine-tuned model: a-z, 0-9, '-', '_' (max 40).")],
    model: Annotated[Optional[str], typer.Option(help="Base model name or pipeline folder.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Passes over the data (n_epochs).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images per training step.")] = None,
    lr_mult: Annotated[Optional[float], typer.Option(help="learning_rate_multiplier.")] = None,
    rank: Annotated[Optional[int], typer.Option(help="LoRA rank.")] = None,
    trigger: Annotated[Optional[str], typer.Option(help="Word prepended to every caption; captions become optional.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Training seed.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder (checkpoints, adapter); resumes if it holds a run.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML run config (default: configs/finetune.yaml).")] = None,
) -> None:
    """Validate the data, train a LoRA adapter (resuming an interrupted run), print the adapter folder."""
    import hashlib
    import json

    from gesso.data.validation import validate_dataset
    from gesso.engine.model_registry import UnknownModel, resolve_model
    from gesso.jobs.model_ids import SUFFIX_RULE, is_valid_suffix
    from gesso.settings import get_settings
    from gesso.train.finetune_bounds import check_run_hyperparameters
    from gesso.train.lora_loop import check_finetune_config, train_lora
    from gesso.train.run_config import FinetuneRunConfig

    settings = get_settings()
    if not is_valid_suffix(suffix):  # the rule the service applies to `suffix`
        fail(f"--suffix must be {SUFFIX_RULE}")
    base = model or settings.default_model
    try:
        base_dir = resolve_model(base, settings.models_dir)
    except UnknownModel as exc:
        fail(str(exc))
    out = out or settings.data_dir / "finetunes" / suffix
    if not data.exists():
        fail(f"{data} not found")
    dataset_sha256 = ""
    if data.is_file():
        data, dataset_sha256 = _stored_upload(data, out, trigger, settings)
    report = validate_dataset(data, require_captions=not trigger)
    if not report.ok:
        fail_with_problems(report.problems)
    if not dataset_sha256:  # a folder: the digest of its file list and image digests
        dataset_sha256 = hashlib.sha256(json.dumps(sorted(report.sha256.items())).encode()).hexdigest()
    cfg = load_config(config or settings.finetune_config, FinetuneRunConfig, {
        "data_dir": str(data), "base_model": base, "base_model_dir": str(base_dir), "out_dir": str(out),
        "n_epochs": epochs, "batch_size": batch_size, "learning_rate_multiplier": lr_mult, "rank": rank,
        "trigger": trigger, "seed": seed, "dataset_sha256": dataset_sha256,
    })
    try:
        check_run_hyperparameters(cfg.n_epochs, cfg.batch_size, cfg.learning_rate_multiplier, cfg.rank, cfg.trigger,
                                  len(report.rows), settings.finetune_max_steps)
        check_finetune_config(cfg)
        result = train_lora(cfg, on_event=_print_checkpoint)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(str(result.adapter_dir))


def _stored_upload(upload: Path, out: Path, trigger: str | None, settings: Settings) -> tuple[Path, str]:
    """Extract a zip/tar/JSONL upload into `out/dataset` once; a resumed run must name the same upload."""
    from gesso.data.upload_archives import UploadRejected, file_sha256, store_upload
    from gesso.service.fine_tuning.state import upload_limits

    folder, digest_file = out / "dataset", out / "dataset.sha256"
    if folder.is_dir() and digest_file.is_file():
        digest = file_sha256(upload)
        if digest_file.read_text().strip() != digest:
            fail(f"{out} holds a run on another upload; use a new --out")
        return folder, digest
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder, ignore_errors=True)  # stored by a run killed before it wrote the digest
    try:
        limits = upload_limits(settings)  # the limits the service applies to fine-tune uploads
        stored = store_upload(upload, folder, trigger=trigger or None, limits=limits)
    except UploadRejected as exc:
        fail_with_problems(exc.problems)
    digest_file.write_text(stored.sha256)
    return stored.root, stored.sha256


def _print_checkpoint(event) -> None:  # noqa: ANN001 - a train.lora_loop event
    if event.kind == "checkpoint":
        sys.stderr.write(f"{event.message}: {event.checkpoint}\n")


@finetune_app.command("demo")
def finetune_demo(
    steps: Annotated[int, typer.Option(help="LoRA steps.")] = 500,
    learning_rate_multiplier: Annotated[float, typer.Option(help="Scales the LoRA learning rate (1e-3).")] = 1.0,
    out_dir: Annotated[Path, typer.Option(help="Where the run, report and comparison grid go.")] = Path("runs/style-demo"),
) -> None:
    """The brand-style demonstration: LoRA on Fluent 3D images of 100 concepts, measured on others."""
    if steps < 1:
        fail("--steps must be at least 1")
    if not 0 < learning_rate_multiplier <= 10:
        fail("--learning-rate-multiplier must be in (0, 10]")
    for corpus in ("corpus/base", "corpus/fluent3d"):
        if not (Path(corpus) / "metadata.jsonl").is_file():
            fail(f"{corpus} is missing: run `gesso data build-emoji` (with --styles fluent3d for the 3D set)")
    from gesso.train.style_demo import StyleDemoConfig, run_style_demo

    report = run_style_demo(
        StyleDemoConfig(steps=steps, learning_rate_multiplier=learning_rate_multiplier, out_dir=str(out_dir))
    )
    for key in ("finetune_seconds", "p3d_base", "p3d_adapter", "p3d_fluent_reference", "top5_base", "top5_adapter"):
        typer.echo(f"{key}: {report[key]:.3f}")
