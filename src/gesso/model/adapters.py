"""LoRA adapters on the denoiser: attach, train, save, load and switch them with peft.

The denoiser (a diffusers `PixArtTransformer2DModel`) has no diffusers PEFT mixin, so adapters go
in through peft's functional API (`peft.functional`), peft's public interface for models that are
not a `PeftModel`. Several adapters can sit on one loaded denoiser at once, each under its own
name; exactly one (or none) is active, so switching never reloads the base weights.

An adapter folder holds `adapter.safetensors` (the LoRA weights, keyed as peft names them without
the adapter name) and `adapter.json` (rank, alpha, targets, the base model it was trained for and
free-form lineage metadata).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig
from peft.functional import (
    delete_adapter,
    get_peft_model_state_dict,
    inject_adapter_in_model,
    set_adapter,
    set_peft_model_state_dict,
)
from peft.tuners.tuners_utils import BaseTunerLayer
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

ADAPTER_WEIGHTS = "adapter.safetensors"
ADAPTER_CONFIG = "adapter.json"
FORMAT = "gesso-lora/1"

# Module-name suffixes inside each transformer block: self-attention, cross-attention, feed-forward.
DEFAULT_TARGETS: tuple[str, ...] = (
    "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
    "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0",
    "ff.net.0.proj", "ff.net.2",
)
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class AdapterError(ValueError):
    """An adapter folder that cannot be used: missing files, bad config, wrong base model."""


@dataclass(frozen=True)
class AdapterSpec:
    rank: int = 8
    alpha: float = 8.0
    targets: tuple[str, ...] = DEFAULT_TARGETS
    base_model: str = ""  # the base model's name, e.g. "gesso-base"
    base_fingerprint: str = ""  # `denoiser_fingerprint` of the denoiser it was trained on
    metadata: dict[str, Any] = field(default_factory=dict)  # lineage: trigger, dataset sha256, ...

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self), "targets": list(self.targets)}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "AdapterSpec":
        if raw.get("format") != FORMAT:
            raise AdapterError(f"not a {FORMAT} adapter config")
        try:
            spec = cls(
                rank=int(raw["rank"]),
                alpha=float(raw["alpha"]),
                targets=tuple(str(t) for t in raw["targets"]),
                base_model=str(raw.get("base_model", "")),
                base_fingerprint=str(raw.get("base_fingerprint", "")),
                metadata=dict(raw.get("metadata") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AdapterError(f"bad adapter config ({exc.__class__.__name__}: {exc})") from None
        if spec.rank < 1 or not spec.targets:
            raise AdapterError("bad adapter config (rank must be >= 1 and targets non-empty)")
        return spec


def denoiser_fingerprint(transformer: torch.nn.Module) -> str:
    """A short hash of the denoiser's architecture config: adapters only fit the shape they were trained on."""
    config = {k: v for k, v in dict(transformer.config).items() if not k.startswith("_")}
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def add_lora(
    transformer: torch.nn.Module, spec: AdapterSpec, name: str, trainable: bool = True
) -> list[torch.nn.Parameter]:
    """Inject a fresh LoRA adapter `name` (B = 0, so the output is unchanged) and make it active.

    Base weights are frozen; with `trainable` the adapter's own weights require grad and are
    returned (in a fixed order, for the optimiser). Raises AdapterError for a bad name or a name in use.
    """
    _check_name(name)
    if name in attached_adapters(transformer):
        raise AdapterError(f"adapter {name!r} is already attached")
    config = LoraConfig(r=spec.rank, lora_alpha=spec.alpha, target_modules=list(spec.targets), lora_dropout=0.0)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*multiple adapters.*")  # several is the point
            inject_adapter_in_model(config, transformer, adapter_name=name)
    except ValueError as exc:
        raise AdapterError(f"cannot attach adapter: {exc}") from None
    activate_adapter(transformer, name)
    marker = f".{name}."
    params = []
    for param_name, param in transformer.named_parameters():
        mine = trainable and marker in param_name and "lora_" in param_name
        param.requires_grad_(mine)
        if mine:
            params.append(param)
    return params


def adapter_weights(transformer: torch.nn.Module, name: str) -> dict[str, torch.Tensor]:
    """The adapter's LoRA weights, detached CPU copies keyed without the adapter name."""
    state = get_peft_model_state_dict(transformer, adapter_name=name)
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def load_adapter_weights(transformer: torch.nn.Module, name: str, weights: dict[str, torch.Tensor]) -> None:
    """Copy `weights` (as from `adapter_weights`) into the attached adapter `name`, exactly.

    Raises AdapterError when a key is unknown, missing or has the wrong shape.
    """
    expected = set(get_peft_model_state_dict(transformer, adapter_name=name))
    if set(weights) != expected:
        extra, missing = sorted(set(weights) - expected)[:3], sorted(expected - set(weights))[:3]
        raise AdapterError(f"adapter weights do not fit this denoiser (unexpected {extra}, missing {missing})")
    try:
        set_peft_model_state_dict(transformer, weights, adapter_name=name)
    except RuntimeError as exc:
        raise AdapterError(f"adapter weights do not fit this denoiser ({str(exc).splitlines()[0]})") from None


def save_adapter(directory: Path, transformer: torch.nn.Module, name: str, spec: AdapterSpec) -> Path:
    """Write the adapter folder atomically (a temporary folder renamed into place); return it."""
    tmp = directory.with_name(f".tmp-{directory.name}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        save_file(adapter_weights(transformer, name), tmp / ADAPTER_WEIGHTS, metadata={"format": FORMAT})
        (tmp / ADAPTER_CONFIG).write_text(json.dumps(spec.to_json(), indent=2))
        shutil.rmtree(directory, ignore_errors=True)
        tmp.rename(directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def read_adapter(directory: Path) -> tuple[AdapterSpec, dict[str, torch.Tensor]]:
    """Read an adapter folder (safetensors only); raise AdapterError when it is incomplete or bad."""
    config_path, weights_path = directory / ADAPTER_CONFIG, directory / ADAPTER_WEIGHTS
    if not config_path.is_file() or not weights_path.is_file():
        raise AdapterError(f"{directory} is not an adapter folder (needs {ADAPTER_CONFIG} and {ADAPTER_WEIGHTS})")
    try:
        raw = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AdapterError(f"{config_path} is not valid JSON") from None
    if not isinstance(raw, dict):
        raise AdapterError(f"{config_path} is not a JSON object")
    spec = AdapterSpec.from_json(raw)
    try:
        weights = load_file(weights_path)
    except (SafetensorError, OSError) as exc:
        raise AdapterError(f"{weights_path} is not a readable safetensors file ({exc})") from None
    return spec, weights


def attach_adapter(transformer: torch.nn.Module, directory: Path, name: str) -> AdapterSpec:
    """Load the adapter at `directory` onto the denoiser as `name` (frozen) and make it active.

    Raises AdapterError when the folder is bad or the adapter was trained for another denoiser;
    on error nothing stays attached.
    """
    spec, weights = read_adapter(directory)
    if spec.base_fingerprint and spec.base_fingerprint != denoiser_fingerprint(transformer):
        raise AdapterError(f"adapter was trained for another base model ({spec.base_model or 'unknown'})")
    previous = active_adapter(transformer)
    add_lora(transformer, spec, name, trainable=False)
    try:
        device = next(transformer.parameters()).device
        load_adapter_weights(transformer, name, {k: v.to(device) for k, v in weights.items()})
    except AdapterError:
        detach_adapter(transformer, name)
        activate_adapter(transformer, previous)
        raise
    return spec


def attached_adapters(transformer: torch.nn.Module) -> list[str]:
    return list(getattr(transformer, "peft_config", {}) or {})


def active_adapter(transformer: torch.nn.Module) -> str | None:
    """The adapter that takes part in the forward pass, or None when only the base runs."""
    for module in transformer.modules():
        if isinstance(module, BaseTunerLayer):
            if module.disable_adapters or not module.active_adapters:
                return None
            return module.active_adapters[0]
    return None


def activate_adapter(transformer: torch.nn.Module, name: str | None) -> None:
    """Make `name` the only active adapter, or with None run the plain base model."""
    layers = [m for m in transformer.modules() if isinstance(m, BaseTunerLayer)]
    if name is None:
        for layer in layers:
            layer.enable_adapters(False)
        return
    if name not in attached_adapters(transformer):
        raise AdapterError(f"adapter {name!r} is not attached")
    # peft's enable/set calls also flip requires_grad: keep whatever the adapter had (training or not)
    trainable = any(p.requires_grad for p in _own_params(transformer, name))
    for layer in layers:
        layer.enable_adapters(True)
    set_adapter(transformer, name, inference_mode=not trainable)


def detach_adapter(transformer: torch.nn.Module, name: str) -> None:
    """Remove adapter `name` and its weights; the base weights are untouched.

    When it was the active one, the base model runs afterwards.
    """
    if name not in attached_adapters(transformer):
        return
    was_active = active_adapter(transformer) == name
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*which is now deleted.*")  # handled below
        delete_adapter(transformer, name, prefix="lora_")
    transformer.peft_config.pop(name, None)
    if was_active or not attached_adapters(transformer):
        activate_adapter(transformer, None)


def _own_params(transformer: torch.nn.Module, name: str) -> list[torch.nn.Parameter]:
    marker = f".{name}."
    return [p for n, p in transformer.named_parameters() if marker in n and "lora_" in n]


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise AdapterError(f"adapter name {name!r} must be 1-64 letters, digits, '-' or '_'")
