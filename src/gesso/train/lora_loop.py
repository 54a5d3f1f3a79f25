"""LoRA fine-tuning of the denoiser on one dataset folder, with flow matching.

Latents and caption states are cached once (the fine-tune data is small); each step then draws a
batch, regresses the velocity (the base loop's `flow_matching_loss` and `make_batch`) and updates
only the adapter. Every `checkpoint_every` steps a checkpoint holds the adapter, the optimiser and
every RNG state, so a killed run resumes bit for bit; it doubles as a usable adapter folder and
gets a grid of the fixed validation prompts. Progress goes to an `on_event` callback; a `control`
callback is asked before each step whether to cancel or pause.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file
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
from gesso.model.text_encoder import encode_text
from gesso.train.base_loop import flow_matching_loss, make_batch
from gesso.train.finetune_bounds import check_hyperparameter
from gesso.train.checkpoints import latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint
from gesso.train.image_tensors import load_images, to_model_range
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
) -> FinetuneResult:
    """Train (or resume, from the latest checkpoint in `out_dir`) a LoRA adapter.

    `pipe`: an already loaded copy of the base pipeline to train on (not one that serves
    requests meanwhile); the adapter is removed from it again at the end. By default the base is
    loaded from `base_model_dir`. Returns the outcome; the final adapter is written to
    `out_dir/adapter`. Raises ValueError for bad settings, missing captions without a trigger, or
    an `out_dir` that holds another run.
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
        emit=on_event or (lambda event: None),
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

    @property
    def checkpoints_dir(self) -> Path:
        return Path(self.config.out_dir) / "checkpoints"

    @property
    def weights(self) -> "_AdapterState":
        return _AdapterState(self.pipe.transformer, ADAPTER_NAME)


def _loop(run: _Run, control: Control | None, progress: bool) -> FinetuneResult:
    config, transformer, total = run.config, run.pipe.transformer, run.total
    step = 0
    if (ckpt := latest_checkpoint(run.checkpoints_dir)) is not None:
        _check_same_run(ckpt, config, run.meta["features_key"])
        step, state = load_checkpoint(ckpt, {"adapter": run.weights}, run.optimizer)
        run.generator.set_state(state["generator"])
    verb = "Resumed" if step else "Started"
    run.emit(TrainingEvent("started", step, total, f"{verb} fine-tuning at step {step} of {total}"))
    saved_at = step if ckpt is not None else -1
    device = next(transformer.parameters()).device
    # plain torch autocast, not accelerate: its process-wide state refuses a second precision,
    # and a server runs many fine-tunes in one process
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.mixed_precision == "bf16")
    window: list[float] = []
    transformer.train()
    with tqdm(total=total, initial=step, desc="finetune", disable=not progress) as bar:
        while step < total:
            action = control() if control else None
            if action == CANCEL:
                run.emit(TrainingEvent("cancelled", step, total, f"Fine-tuning cancelled at step {step}"))
                return FinetuneResult("cancelled", step, total, None, list_checkpoints(run.checkpoints_dir))
            if action == PAUSE:
                if saved_at != step:
                    _checkpoint(run, step, None)
                run.emit(TrainingEvent("paused", step, total, f"Fine-tuning paused at step {step}"))
                return FinetuneResult("paused", step, total, None, list_checkpoints(run.checkpoints_dir))
            latents, states, mask = make_batch(
                run.features, config.batch_size, config.caption_dropout, run.generator
            )
            with autocast:
                loss = flow_matching_loss(
                    transformer, latents.to(device), states.to(device), mask.to(device), run.generator
                )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(run.params, 1.0)
            run.optimizer.step()
            run.optimizer.zero_grad(set_to_none=True)
            step += 1
            window.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{window[-1]:.4f}")
            if step % config.log_every == 0 or step == total:
                mean = sum(window) / len(window)
                message = f"Step {step}/{total}: training loss={mean:.4f}"
                run.emit(TrainingEvent("metrics", step, total, message, loss=mean))
                window.clear()
            if step % config.checkpoint_every == 0 or step == total:
                _checkpoint(run, step, loss.item())
                saved_at = step
    final = save_adapter(Path(config.out_dir) / "adapter", transformer, ADAPTER_NAME, run.spec)
    (final / "train_config.json").write_text(json.dumps(asdict(config), indent=2))
    run.emit(TrainingEvent("succeeded", step, total, "The job has successfully completed", adapter=final))
    return FinetuneResult("succeeded", step, total, final, list_checkpoints(run.checkpoints_dir))


@torch.no_grad()
def cache_caption_features(
    pipe: GessoPipeline, data_dir: Path, rows: list[DatasetRow], captions: list[str], cache_dir: Path
) -> tuple[dict[str, torch.Tensor], str]:
    """Latents and one caption's token states per image, in `make_batch`'s layout (one variant).

    Returns ({latents (N, C, h, w), states (N, 1, L, D) fp16, masks (N, 1, L) uint8, empty_*}, key);
    read from `cache_dir/features-<key>.safetensors` when the same images, captions and model
    were cached before.
    """
    digest = hashlib.sha256(denoiser_fingerprint(pipe.transformer).encode())
    digest.update(json.dumps(dict(pipe.vae.config), sort_keys=True, default=str).encode())
    for row, caption in zip(rows, captions):
        digest.update(json.dumps([row.file_name, caption]).encode())
        digest.update(hashlib.sha256((data_dir / row.file_name).read_bytes()).digest())
    key = digest.hexdigest()[:16]
    path = cache_dir / f"features-{key}.safetensors"
    if path.is_file():
        return load_file(path), key
    images = load_images(data_dir, rows, pipe.native_size)  # (N, 3, H, W) uint8
    latents = torch.cat(
        [pipe.encode_image(to_model_range(images[i : i + 32])).cpu() for i in range(0, len(images), 32)]
    )
    states, masks = [], []
    for i in range(0, len(captions), 64):
        s, m = encode_text(captions[i : i + 64], pipe.text_encoder, pipe.tokenizer)
        states.append(s.half().cpu())
        masks.append(m.to(torch.uint8).cpu())
    empty_states, empty_mask = encode_text([""], pipe.text_encoder, pipe.tokenizer)
    features = {
        "latents": latents.contiguous(),
        "states": torch.cat(states).unsqueeze(1).contiguous(),  # (N, 1, L, D)
        "masks": torch.cat(masks).unsqueeze(1).contiguous(),  # (N, 1, L)
        "empty_states": empty_states.half().cpu().contiguous(),
        "empty_mask": empty_mask.to(torch.uint8).cpu().contiguous(),
    }
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(features, tmp)
    tmp.rename(path)
    return features, key


@torch.no_grad()
def validation_loss(
    transformer: torch.nn.Module, features: dict[str, torch.Tensor], seed: int, batch_size: int = 16
) -> float:
    """Mean flow-matching loss over a held-out set at fixed times and noise (its own generator,
    so measuring never moves the training RNG)."""
    generator = torch.Generator().manual_seed(seed)
    device = next(transformer.parameters()).device
    n, total = features["latents"].shape[0], 0.0
    for i in range(0, n, batch_size):
        part = slice(i, min(n, i + batch_size))
        latents = features["latents"][part].to(device)
        states = features["states"][part, 0].float().to(device)
        mask = features["masks"][part, 0].long().to(device)
        total += flow_matching_loss(transformer, latents, states, mask, generator).item() * latents.shape[0]
    return total / n


def _checkpoint(run: _Run, step: int, loss: float | None) -> None:
    """Save, render the validation prompts, measure the held-out loss, tell the caller."""
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
