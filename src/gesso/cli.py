"""`gesso ...` commands: thin wrappers over the layers; bad input exits 2 with one line."""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer

from gesso.cli_governance import record_cli_event, register_governance_commands
from gesso.settings import get_settings

app = typer.Typer(help="Gesso: in-house image generation.", no_args_is_help=True, add_completion=False)
data_app = typer.Typer(help="Datasets: build the emoji corpus, validate a folder.", no_args_is_help=True)
train_app = typer.Typer(help="Training: autoencoder, base denoiser, recogniser.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")


def fail(message: str) -> NoReturn:
    """One line on stderr, exit code 2: the CLI's shape for bad input."""
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(2)


@app.command()
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
) -> None:
    """Generate PNGs and print their paths, one per line."""
    from gesso.engine import file_generation

    settings = get_settings()
    if (prompt is None) == (prompts_file is None):
        fail("give either a PROMPT or --prompts-file")
    if not 1 <= batch_size <= 64:
        fail("--batch-size must be between 1 and 64")
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
        )
    except file_generation.GenerationInputError as exc:
        fail(str(exc))
    for path in paths:
        typer.echo(str(path))


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
        fail(f"{len(report.problems)} bad row(s); first: {report.problems[0]}")
    typer.echo(report.summary())


@train_app.command("autoencoder")
def train_autoencoder_cmd(
    config: Annotated[Path, typer.Option(help="YAML run config.")] = Path("configs/autoencoder.yaml"),
    max_steps: Annotated[Optional[int], typer.Option(help="Override max_steps.")] = None,
    out_dir: Annotated[Optional[str], typer.Option(help="Override out_dir.")] = None,
) -> None:
    """Train (or resume) the autoencoder from a committed config."""
    from gesso.train.autoencoder_loop import train_autoencoder
    from gesso.train.run_config import AutoencoderRunConfig

    cfg = _load_config(config, AutoencoderRunConfig, {"max_steps": max_steps, "out_dir": out_dir})
    typer.echo(str(train_autoencoder(cfg)))


@train_app.command("base")
def train_base_cmd(
    config: Annotated[Path, typer.Option(help="YAML run config.")] = Path("configs/base.yaml"),
    max_steps: Annotated[Optional[int], typer.Option(help="Override max_steps.")] = None,
    out_dir: Annotated[Optional[str], typer.Option(help="Override out_dir.")] = None,
    init_from: Annotated[Optional[str], typer.Option(help="Override init_from (a pipeline folder).")] = None,
) -> None:
    """Train (or resume) the base denoiser from a committed config; prints the pipeline folder."""
    from gesso.train.base_loop import WarmStartError, train_base
    from gesso.train.run_config import BaseRunConfig

    cfg = _load_config(config, BaseRunConfig, {"max_steps": max_steps, "out_dir": out_dir, "init_from": init_from})
    try:
        typer.echo(str(train_base(cfg)))
    except WarmStartError as exc:
        fail(str(exc))


@train_app.command("recogniser")
def train_recogniser_cmd(
    config: Annotated[Path, typer.Option(help="YAML run config.")] = Path("configs/recogniser.yaml"),
    max_steps: Annotated[Optional[int], typer.Option(help="Override max_steps.")] = None,
    out_dir: Annotated[Optional[str], typer.Option(help="Override out_dir.")] = None,
) -> None:
    """Train the independent recogniser that `gesso eval` uses."""
    from gesso.train.recogniser_loop import train_recogniser
    from gesso.train.run_config import RecogniserRunConfig

    cfg = _load_config(config, RecogniserRunConfig, {"max_steps": max_steps, "out_dir": out_dir})
    typer.echo(str(train_recogniser(cfg)))


@train_app.command("reproduce")
def train_reproduce_cmd(
    configs: Annotated[Path, typer.Option(help="Folder with autoencoder/base/recogniser YAML.")] = Path("configs"),
    cache: Annotated[Path, typer.Option(help="Where npm tarballs are kept.")] = Path(".npm-packs"),
) -> None:
    """Reproduce models/gesso-base and models/gesso-recogniser from scratch (resumable)."""
    from gesso.train.reproduce import reproduce_base_model

    for name in ("autoencoder.yaml", "base.yaml", "recogniser.yaml"):
        if not (configs / name).is_file():
            fail(f"config file {configs / name} not found")
    seconds = reproduce_base_model(configs, get_settings().models_dir, cache)
    typer.echo(" ".join(f"{k}={v}s" for k, v in seconds.items()))


@app.command("eval")
def eval_cmd(
    model: Annotated[Optional[str], typer.Option(help="Model name or pipeline folder.")] = None,
    recogniser: Annotated[Path, typer.Option(help="Recogniser folder.")] = Path("models/gesso-recogniser"),
    paraphrases: Annotated[Path, typer.Option(help="YAML list of {prompt, concept}.")] = Path("configs/paraphrases.yaml"),
    limit: Annotated[Optional[int], typer.Option(help="Evaluate this many concepts (spread evenly).")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Sampling steps.")] = None,
    guidance: Annotated[Optional[float], typer.Option(help="Guidance scale.")] = None,
    sampler: Annotated[Optional[str], typer.Option(help="euler or dpm.")] = None,
    reference: Annotated[Optional[Path], typer.Option(help="Corpus folder for the reference diversity.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the report as JSON.")] = None,
    card: Annotated[bool, typer.Option(help="Store the report in the model folder and regenerate its card.")] = False,
) -> None:
    """Prompt adherence (recogniser top-1/top-5 over all concepts, paraphrases) and diversity."""
    import json

    from gesso.engine.device import pick_device
    from gesso.engine.model_registry import UnknownModel, resolve_model
    from gesso.engine.pipeline_cache import pipeline_cache_for
    from gesso.model.samplers import SAMPLERS, unknown_sampler
    from gesso.train.evaluation import ParaphraseError, evaluate, reference_set
    from gesso.train.recogniser_net import load_recogniser

    settings = get_settings()
    sampler = sampler or settings.default_sampler
    if sampler not in SAMPLERS:
        fail(unknown_sampler(sampler))
    try:
        model_dir = resolve_model(model or settings.default_model, settings.models_dir)
    except UnknownModel as exc:
        fail(str(exc))
    if not (recogniser / "model.safetensors").is_file():
        fail(f"no recogniser in {recogniser} (train one with `gesso train recogniser`)")
    if not paraphrases.is_file():
        fail(f"paraphrase file {paraphrases} not found")
    if card and not (reference and (reference / "metadata.jsonl").is_file()):
        fail("--card needs --reference pointing at the training corpus (its counts go in the card)")
    pipe = pipeline_cache_for(settings, pick_device(settings.device)).get(model_dir, sampler)
    net, labels = load_recogniser(recogniser)
    ref = reference_set(reference, labels) if reference else None
    try:
        report = evaluate(
            pipe, net, labels, paraphrases,
            steps=steps or settings.default_steps,
            guidance=settings.default_guidance if guidance is None else guidance,
            limit=limit, reference_images=ref,
        )
    except ParaphraseError as exc:
        fail(str(exc))
    for key, value in report.as_dict().items():
        typer.echo(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    if json_out:
        json_out.write_text(json.dumps(report.as_dict(), indent=2))
    if card:
        from gesso.train.model_card import refresh_model_card

        typer.echo(str(refresh_model_card(model_dir, reference, report.as_dict())))


def _load_config(path: Path, cls: type, overrides: dict):
    from gesso.train.run_config import load_run_config

    if not path.is_file():
        fail(f"config file {path} not found")
    try:
        return load_run_config(path, cls, overrides)
    except (ValueError, TypeError) as exc:
        fail(str(exc))


# -- server, tenants and keys --------------------------------------------------------
keys_app = typer.Typer(help="API keys: create them (the secret is shown once).", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants: the unit of isolation for keys, jobs and images.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(tenants_app, name="tenants")
register_governance_commands(app, keys_app, tenants_app)  # audit, provenance, retention, erase


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Address to listen on.")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the OpenAI-compatible API; on first start, create a tenant and print its admin key."""
    from gesso.service.server import serve as run_server

    settings = get_settings().model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    if not 0 < settings.port < 65536:
        fail(f"port {settings.port} is out of range")
    run_server(settings, typer.echo)


@tenants_app.command("create")
def tenants_create(
    name: Annotated[str, typer.Argument(help="Tenant name: a-z, 0-9, '-', '_'.")],
    images_per_day: Annotated[Optional[int], typer.Option(help="Image quota per 24 hours.")] = None,
) -> None:
    """Create a tenant; prints its id."""
    from gesso.governance.tenants import create_tenant
    from gesso.store.database import database_url, open_database

    settings = get_settings()
    sessions = open_database(database_url(settings.data_dir, settings.database_url))
    try:
        with sessions.begin() as session:
            tenant = create_tenant(session, name, images_per_day)
    except ValueError as exc:
        fail(str(exc))
    record_cli_event("tenant", tenant.id, tenant.id)  # audited
    typer.echo(tenant.id)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant name or id.")],
    role: Annotated[str, typer.Option(help="admin, developer, viewer or auditor.")],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    rate_limit: Annotated[Optional[int], typer.Option(help="Requests per minute for this key.")] = None,
) -> None:
    """Create an API key and print its secret (shown only this once; only a hash is kept)."""
    from gesso.governance.api_keys import issue_key_for_tenant
    from gesso.store.database import database_url, open_database

    settings = get_settings()
    sessions = open_database(database_url(settings.data_dir, settings.database_url))
    try:
        key, secret = issue_key_for_tenant(sessions, tenant, role, name=name, rate_limit_per_minute=rate_limit)
    except ValueError as exc:
        fail(str(exc))
    record_cli_event("key", key.tenant_id, key.id, role=key.role)  # audited
    typer.echo(secret)

# -- fine-tuning -----------------------------------------------------------------------
finetune_app = typer.Typer(help="Fine-tuning: LoRA adapters on your own images.", no_args_is_help=True)
app.add_typer(finetune_app, name="finetune")
SUFFIX_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"


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
    import re

    from gesso.data.validation import validate_dataset
    from gesso.engine.model_registry import UnknownModel, resolve_model
    from gesso.train.finetune_bounds import check_run_hyperparameters
    from gesso.train.lora_loop import check_finetune_config, train_lora
    from gesso.train.run_config import FinetuneRunConfig

    settings = get_settings()
    if not re.match(SUFFIX_PATTERN, suffix):
        fail("--suffix must be 1-40 of a-z, 0-9, '-', '_' and start with a letter or digit")
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
        _fail_with_problems([str(p) for p in report.problems])
    if not dataset_sha256:  # a folder: the digest of its file list and image digests
        dataset_sha256 = hashlib.sha256(json.dumps(sorted(report.sha256.items())).encode()).hexdigest()
    cfg = _load_config(config or settings.finetune_config, FinetuneRunConfig, {
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


def _stored_upload(upload: Path, out: Path, trigger: str | None, settings) -> tuple[Path, str]:
    """Extract a zip/tar/JSONL upload into `out/dataset` once; a resumed run must name the same upload."""
    from gesso.data.upload_archives import ArchiveLimits, UploadRejected, file_sha256, store_upload

    folder, digest_file = out / "dataset", out / "dataset.sha256"
    if folder.is_dir() and digest_file.is_file():
        digest = file_sha256(upload)
        if digest_file.read_text().strip() != digest:
            fail(f"{out} holds a run on another upload; use a new --out")
        return folder, digest
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder, ignore_errors=True)  # stored by a run killed before it wrote the digest
    try:
        limits = ArchiveLimits(
            max_upload_bytes=settings.finetune_upload_max_bytes,
            max_members=settings.finetune_upload_max_members,
            max_total_bytes=settings.finetune_upload_max_total_bytes,
        )
        stored = store_upload(upload, folder, trigger=trigger or None, limits=limits)
    except UploadRejected as exc:
        _fail_with_problems([str(p) for p in exc.problems])
    digest_file.write_text(stored.sha256)
    return stored.root, stored.sha256


def _print_checkpoint(event) -> None:
    if event.kind == "checkpoint":
        sys.stderr.write(f"{event.message}: {event.checkpoint}\n")


def _fail_with_problems(problems: list[str]) -> NoReturn:
    """One line: how many problems, and the first (`gesso data validate DIR` lists them all)."""
    fail(f"{len(problems)} bad row(s); first: {problems[0]}")


@finetune_app.command("demo")
def finetune_demo(
    steps: Annotated[int, typer.Option(help="LoRA steps.")] = 500,
    learning_rate_multiplier: Annotated[float, typer.Option(help="Scales the LoRA learning rate (1e-3).")] = 1.0,
    out_dir: Annotated[Path, typer.Option(help="Where the run, report and comparison grid go.")] = Path("runs/style-demo"),
) -> None:
    """The brand-style demonstration: LoRA on Fluent 3D images of 100 concepts, measured on others."""
    from gesso.train.style_demo import StyleDemoConfig, run_style_demo

    if steps < 1:
        fail("--steps must be at least 1")
    if not 0 < learning_rate_multiplier <= 10:
        fail("--learning-rate-multiplier must be in (0, 10]")
    for corpus in ("corpus/base", "corpus/fluent3d"):
        if not (Path(corpus) / "metadata.jsonl").is_file():
            fail(f"{corpus} is missing: run `gesso data build-emoji` (with --styles fluent3d for the 3D set)")
    report = run_style_demo(
        StyleDemoConfig(steps=steps, learning_rate_multiplier=learning_rate_multiplier, out_dir=str(out_dir))
    )
    for key in ("finetune_seconds", "p3d_base", "p3d_adapter", "p3d_fluent_reference", "top5_base", "top5_adapter"):
        typer.echo(f"{key}: {report[key]:.3f}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
