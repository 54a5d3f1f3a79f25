"""LoRA fine-tuning of the denoiser on one dataset folder, with flow matching.

Latents and caption states are cached once (the fine-tune data is small); each step then draws a
batch, regresses the velocity (the base loop's `flow_matching_loss` and `make_batch`) and updates
only the adapter. Every `checkpoint_every` steps a checkpoint holds the adapter, the optimiser and
every RNG state, so a killed run resumes bit for bit; it doubles as a usable adapter folder and
gets a grid of the fixed validation prompts. Progress goes to an `on_event` callback; a `control`
callback is asked before each step whether to cancel or pause.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from gesso.data.dataset_format import DatasetRow, read_rows
from gesso.model.adapters import (
    ADAPTER_CONFIG,
    AdapterSpec,
    adapter_weights,
    add_lora,
    detach_adapter,
    denoiser_fingerprint,
    load_adapter_weights,
    save_adapter,
)
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.train.finetune_bounds import check_hyperparameter
from gesso.train.checkpoints import latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint
from gesso.train.lora_features import cache_caption_features, validation_loss
from gesso.train.lora_step import SINGLE, RankPlan, lora_step, rank_batch_size, shard_features, step_seed
from gesso.train.run_config import FinetuneRunConfig
from gesso.train.sample_grid import save_grid

ADAPTER_NAME = "finetune"
CANCEL, PAUSE = "cancel", "pause"
SAMPLES_FILE = "samples.png"
# settings that define the run: a resume with any of them changed would not continue the same run
RUN_DEFINING = (
    "base_model", "n_epochs", "batch_size", "learning_rate", "learning_rate_multiplier", "rank", "alpha",
    "trigger", "seed", "caption_dropout", "max_steps", "mixed_precision",
)


@dataclass(frozen=True)
class TrainingEvent:
    """One thing worth telling the job's owner. kind: started | metrics | checkpoint | succeeded |
    paused | cancelled."""

    kind: str
    step: int
    total_steps: int
    message: str
    loss: float | None = None
    valid_loss: float | None = None
    checkpoint: Path | None = None
    samples: Path | None = None
    adapter: Path | None = None


@dataclass(frozen=True)
class FinetuneResult:
    status: str  # succeeded | paused | cancelled
    step: int
    total_steps: int
    adapter_dir: Path | None  # the final adapter folder when succeeded
    checkpoints: list[Path]


EventSink = Callable[[TrainingEvent], None]
Control = Callable[[], str | None]  # returns CANCEL, PAUSE or None


def check_finetune_config(config: FinetuneRunConfig) -> None:
    """Raise ValueError naming the first setting out of range (the API's ranges, and the rest)."""
    for name in ("n_epochs", "batch_size", "learning_rate_multiplier", "rank", "trigger"):
        check_hyperparameter(name, getattr(config, name))
    checks = [
        (config.learning_rate > 0, "learning_rate must be positive"),
        (config.alpha >= 0, "alpha must not be negative"),
        (0 <= config.caption_dropout < 1, "caption_dropout must be in [0, 1)"),
        (config.max_steps >= 0, "max_steps must not be negative"),
        (config.checkpoint_every >= 1, "checkpoint_every must be at least 1"),
        (config.keep_checkpoints >= 1, "keep_checkpoints must be at least 1"),
        (config.mixed_precision in ("no", "bf16"), "mixed_precision must be 'no' or 'bf16'"),
        (0 <= config.seed < 2**63, "seed must be a non-negative 64-bit integer"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def caption_with_trigger(text: str, trigger: str) -> str:
    """'acme, red mug' from trigger 'acme' and caption 'red mug'; either may be empty."""
    return ", ".join(part for part in (trigger.strip(), text.strip()) if part)


def total_steps(config: FinetuneRunConfig, images: int) -> int:
    return config.max_steps or config.n_epochs * math.ceil(images / config.batch_size)


def train_lora(
    config: FinetuneRunConfig,
    on_event: EventSink | None = None,
    control: Control | None = None,
    progress: bool = True,
    pipe: GessoPipeline | None = None,
    ranks: RankPlan = SINGLE,
) -> FinetuneResult:
    """Train (or resume, from the latest checkpoint in `out_dir`) a LoRA adapter.

    `pipe`: an already loaded copy of the base pipeline to train on (not one that serves
    requests meanwhile); the adapter is removed from it again at the end. By default the base is
    loaded from `base_model_dir`. `ranks`: this process's part in a data-parallel run (default:
    the only one); only rank 0 writes checkpoints and the adapter and emits events. Returns the
    outcome; the final adapter is written to `out_dir/adapter`. Raises ValueError for bad
    settings, missing captions without a trigger, or an `out_dir` that holds another run.
    """
    check_finetune_config(config)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out_dir = Path(config.out_dir)
    rows = read_rows(Path(config.data_dir))
    captions = _captions(rows, config.trigger)
    if pipe is None:
        pipe = GessoPipeline.load(config.base_model_dir, device=device)
        pipe.set_progress_bar_config(disable=True)
    transformer = pipe.transformer
    features, features_key = cache_caption_features(pipe, Path(config.data_dir), rows, captions, out_dir / "cache")
    validation = None
    if config.validation_data_dir:
        valid_rows = read_rows(Path(config.validation_data_dir))
        valid_captions = _captions(valid_rows, config.trigger)
        validation, _ = cache_caption_features(
            pipe, Path(config.validation_data_dir), valid_rows, valid_captions, out_dir / "cache"
        )
    spec = AdapterSpec(
        rank=config.rank,
        alpha=config.alpha or float(config.rank),
        base_model=config.base_model,
        base_fingerprint=denoiser_fingerprint(transformer),
        metadata={
            "trigger": config.trigger,
            "dataset_sha256": config.dataset_sha256,
            "images": len(rows),
            "hyperparameters": {k: getattr(config, k) for k in RUN_DEFINING},
        },
    )
    with torch.random.fork_rng(devices=[]):  # seeded LoRA init without moving the process's RNG
        torch.manual_seed(config.seed)
        params = add_lora(transformer, spec, ADAPTER_NAME)
    run = _Run(
        config=config,
        pipe=pipe,
        spec=spec,
        params=params,
        optimizer=torch.optim.AdamW(
            params, lr=config.learning_rate * config.learning_rate_multiplier, weight_decay=0.01
        ),
        generator=torch.Generator().manual_seed(config.seed),
        features=features,
        validation=validation,
        prompts=config.validation_prompts or captions[:4],
        total=total_steps(config, len(rows)),
        meta={"config": asdict(config), "features_key": features_key},
        emit=(on_event if ranks.leads else None) or (lambda event: None),
        ranks=ranks,
    )
    try:
        return _loop(run, control, progress)
    finally:
        detach_adapter(transformer, ADAPTER_NAME)
        transformer.eval()


@dataclass
class _Run:
    """One fine-tune's state while it runs."""

    config: FinetuneRunConfig
    pipe: GessoPipeline
    spec: AdapterSpec
    params: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    features: dict[str, torch.Tensor]
    validation: dict[str, torch.Tensor] | None
    prompts: list[str]
    total: int
    meta: dict
    emit: EventSink
    ranks: RankPlan = SINGLE

    @property
    def checkpoints_dir(self) -> Path:
        return Path(self.config.out_dir) / "checkpoints"

    @property
    def weights(self) -> "_AdapterState":
        return _AdapterState(self.pipe.transformer, ADAPTER_NAME)


def _loop(run: _Run, control: Control | None, progress: bool) -> FinetuneResult:
    config, transformer, total, ranks = run.config, run.pipe.transformer, run.total, run.ranks
    step = 0
    if (ckpt := latest_checkpoint(run.checkpoints_dir)) is not None:
        _check_same_run(ckpt, config, run.meta["features_key"])
        step, state = load_checkpoint(ckpt, {"adapter": run.weights}, run.optimizer)
        run.generator.set_state(state["generator"])
    verb = "Resumed" if step else "Started"
    run.emit(TrainingEvent("started", step, total, f"{verb} fine-tuning at step {step} of {total}"))
    saved_at = step if ckpt is not None else -1
    device = next(transformer.parameters()).device
    model, features = ranks.wrap(transformer), shard_features(run.features, ranks.rank, ranks.world)
    batch_size = rank_batch_size(config.batch_size, ranks.world)
    # plain torch autocast, not accelerate: its process-wide state refuses a second precision,
    # and a server runs many fine-tunes in one process
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.mixed_precision == "bf16")
    window: list[float] = []
    transformer.train()
    with tqdm(total=total, initial=step, desc="finetune", disable=not progress) as bar:
        while step < total:
            action = ranks.agree(control() if control else None)
            if action == CANCEL:
                run.emit(TrainingEvent("cancelled", step, total, f"Fine-tuning cancelled at step {step}"))
                return FinetuneResult("cancelled", step, total, None, list_checkpoints(run.checkpoints_dir))
            if action == PAUSE:
                if saved_at != step:
                    _checkpoint(run, step, None)
                run.emit(TrainingEvent("paused", step, total, f"Fine-tuning paused at step {step}"))
                return FinetuneResult("paused", step, total, None, list_checkpoints(run.checkpoints_dir))
            if ranks.distributed:
                run.generator.manual_seed(step_seed(config.seed, ranks.rank, step))
            loss = lora_step(model, run.params, run.optimizer, features, batch_size, config.caption_dropout,
                             run.generator, autocast)
            step += 1
            window.append(loss)
            bar.update(1)
            bar.set_postfix(loss=f"{window[-1]:.4f}")
            if step % config.log_every == 0 or step == total:
                mean = sum(window) / len(window)
                message = f"Step {step}/{total}: training loss={mean:.4f}"
                run.emit(TrainingEvent("metrics", step, total, message, loss=mean))
                window.clear()
            if step % config.checkpoint_every == 0 or step == total:
                _checkpoint(run, step, loss)
                saved_at = step
    if not ranks.leads:
        return FinetuneResult("succeeded", step, total, None, [])
    final = save_adapter(Path(config.out_dir) / "adapter", transformer, ADAPTER_NAME, run.spec)
    (final / "train_config.json").write_text(json.dumps(asdict(config), indent=2))
    run.emit(TrainingEvent("succeeded", step, total, "The job has successfully completed", adapter=final))
    return FinetuneResult("succeeded", step, total, final, list_checkpoints(run.checkpoints_dir))


def _checkpoint(run: _Run, step: int, loss: float | None) -> None:
    """Save, render the validation prompts, measure the held-out loss, tell the caller (rank 0;
    the other ranks only hear of it)."""
    if not run.ranks.leads:
        run.ranks.checkpointed(step, None)
        return
    config = run.config
    ckpt = save_checkpoint(
        run.checkpoints_dir, step, {"adapter": run.weights}, run.optimizer,
        {"generator": run.generator.get_state()}, {**run.meta, "loss": loss}, keep=config.keep_checkpoints,
    )
    # the checkpoint is also an adapter folder: its weights file has the adapter's name and layout
    (ckpt / ADAPTER_CONFIG).write_text(json.dumps(run.spec.to_json(), indent=2))
    transformer = run.pipe.transformer
    transformer.eval()
    try:
        valid = validation_loss(transformer, run.validation, config.seed) if run.validation is not None else None
        samples = None
        if run.prompts:
            images = run.pipe(run.prompts, seed=config.seed, num_inference_steps=config.sample_steps,
                              guidance_scale=config.sample_guidance, output_type="pt")
            samples = save_grid(images, ckpt / SAMPLES_FILE, columns=min(4, len(run.prompts)))
    finally:
        transformer.train()
    message = f"Checkpoint at step {step}" + (f": validation loss={valid:.4f}" if valid is not None else "")
    run.emit(TrainingEvent(
        "checkpoint", step, run.total, message, loss=loss, valid_loss=valid, checkpoint=ckpt, samples=samples
    ))
    run.ranks.checkpointed(step, ckpt)


def _captions(rows: list[DatasetRow], trigger: str) -> list[str]:
    captions = [caption_with_trigger(row.text, trigger) for row in rows]
    missing = [row.line for row, caption in zip(rows, captions) if not caption]
    if missing:
        raise ValueError(
            f"{len(missing)} image(s) have no caption and no trigger word is set (first: line {missing[0]})"
        )
    return captions


def _check_same_run(ckpt: Path, config: FinetuneRunConfig, features_key: str) -> None:
    meta = json.loads((ckpt / "meta.json").read_text())
    before = meta.get("config", {})
    changed = [k for k in RUN_DEFINING if before.get(k) != getattr(config, k)]
    if changed:
        raise ValueError(
            f"{config.out_dir} holds a run with other settings ({', '.join(changed)}); use a new out_dir"
        )
    if meta.get("features_key") != features_key:
        raise ValueError(f"{config.out_dir} holds a run on other data or another base model; use a new out_dir")


class _AdapterState(torch.nn.Module):
    """The adapter's LoRA weights seen as a module, so `save_checkpoint` stores only them (the
    frozen base is never copied) and `load_checkpoint` puts them back exactly."""

    def __init__(self, transformer: torch.nn.Module, name: str):
        super().__init__()
        self._owner = [transformer]  # a list, so the denoiser is not registered as a submodule
        self._name = name

    def state_dict(self, *args, **kwargs) -> dict[str, torch.Tensor]:  # noqa: ARG002
        return adapter_weights(self._owner[0], self._name)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):  # noqa: ARG002
        load_adapter_weights(self._owner[0], self._name, dict(state_dict))
