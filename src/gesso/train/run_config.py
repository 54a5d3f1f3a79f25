"""Training run configs: one dataclass per loop, read from a committed YAML file."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


@dataclass
class AutoencoderRunConfig:
    data_dir: str = "corpus/base"
    out_dir: str = "runs/autoencoder"
    preset: str = "small"
    image_size: int = 64
    crop_size: int = 32
    batch_size: int = 32
    learning_rate: float = 1e-3
    max_steps: int = 2000
    kl_weight: float = 1e-6
    checkpoint_every: int = 250
    seed: int = 0
    mixed_precision: str = "bf16"
    edge_weight: float = 0.0  # weight of the image-gradient L1 term (see autoencoder_loop)
    log_every: int = 0  # a plain progress line every N steps (0: the progress bar only)
    init_from: str = ""  # a carried checkpoint folder to warm-start from (train/carried_checkpoint.py)
    init_warmup_steps: int = 100  # after a warm start, the LR ramps up again over this many steps


@dataclass
class BaseRunConfig:
    data_dir: str = "corpus/base"
    autoencoder_dir: str = "runs/autoencoder/final"
    out_dir: str = "runs/base"
    preset: str = "small"
    batch_size: int = 64
    learning_rate: float = 5e-4
    warmup_steps: int = 200
    max_steps: int = 4000
    caption_dropout: float = 0.1
    ema_decay: float = 0.999
    checkpoint_every: int = 500
    sample_prompts: list[str] = field(default_factory=list)
    seed: int = 0
    mixed_precision: str = "auto"  # "auto": bf16 where the hardware has it (model/cpu_features.py)
    timestep_shift: float = 1.0
    pooled_text: bool = True  # the denoiser's pooled-prompt path (see model/denoiser.py)
    init_from: str = ""  # a pipeline folder (a fresh run from its denoiser) or a carried checkpoint
    init_warmup_steps: int = 100  # LR ramp after a warm start from a carried checkpoint
    balance_concepts: bool = False  # every concept the same share of steps (see base_loop.concept_weights)
    compile: bool = False  # torch.compile the training forward (about 1.2x on 2 CPU cores)


@dataclass
class RecogniserRunConfig:
    data_dir: str = "corpus/base"
    out_dir: str = "models/gesso-recogniser"
    image_size: int = 64
    batch_size: int = 128
    learning_rate: float = 0.003
    max_steps: int = 3000
    seed: int = 0
    mixed_precision: str = "bf16"



@dataclass
class FinetuneRunConfig:
    """A LoRA fine-tune of a base pipeline on one dataset folder (see train/lora_loop.py)."""

    data_dir: str = ""
    base_model: str = "gesso-base"  # the name recorded in the adapter (lineage)
    base_model_dir: str = "models/gesso-base"  # the pipeline folder it is loaded from
    out_dir: str = "runs/finetune"
    validation_data_dir: str = ""  # optional held-out dataset: its loss is reported at checkpoints
    n_epochs: int = 10
    batch_size: int = 4
    learning_rate: float = 1e-3  # the base rate; the API's learning_rate_multiplier scales it
    learning_rate_multiplier: float = 1.0
    rank: int = 8
    alpha: float = 0.0  # 0: equal to rank
    trigger: str = ""  # prepended to every caption; captions are optional when it is set
    seed: int = 0
    caption_dropout: float = 0.1
    max_steps: int = 0  # 0: n_epochs * ceil(images / batch_size)
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    log_every: int = 10
    validation_prompts: list[str] = field(default_factory=list)  # empty: the first training captions
    sample_steps: int = 20
    sample_guidance: float = 4.0
    mixed_precision: str = "bf16"  # "bf16" (autocast) or "no"
    dataset_sha256: str = ""  # lineage: the upload the dataset came from

def load_run_config(path: Path, cls: type[T], overrides: dict[str, Any] | None = None) -> T:
    """Read a YAML file into `cls`; unknown keys are an error, overrides win over the file."""
    raw = yaml.safe_load(path.read_text()) or {}
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    return cls(**raw)
