"""Carried checkpoints: a run's weights as fp16 safetensors plus a small meta.json, small enough
to commit so that a long run can go on in a later session on another machine.

A carried checkpoint is a warm start, not an exact resume: it holds no optimiser state (Adam's
moments start again from zero) and no RNG state (batches are drawn from `seed + step`). It is
read with safetensors and json only; nothing in it is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

FORMAT = "gesso-carried-checkpoint/1"
WEIGHTS_FILE = "vae.safetensors"  # an autoencoder's
DENOISER_WEIGHTS_FILE = "denoiser.safetensors"  # a base denoiser's EMA weights
META_FILE = "meta.json"
PREVIEW_FILE = "reconstructions.png"
# Settings that change where a run reads and writes, how often it reports or how fast it runs,
# not what it learns.
UNHASHED = frozenset(
    {"data_dir", "out_dir", "init_from", "init_warmup_steps", "log_every", "checkpoint_every",
     "autoencoder_dir", "sample_prompts", "compile"}
)


class CarriedCheckpointError(ValueError):
    """A carried checkpoint that is missing, malformed or made for another model."""


def config_hash(config: Any) -> str:
    """A short hash of the settings that shape training (a run config dataclass)."""
    kept = {k: v for k, v in dataclasses.asdict(config).items() if k not in UNHASHED}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def cpu_name() -> str:
    """The CPU's model name and core count, e.g. 'AMD EPYC 9B45 (2 cores)'."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} cores)"


def write_carried(
    out: Path,
    weights: dict[str, torch.Tensor],
    meta: dict[str, Any],
    preview: Path | None = None,
    weights_file: str = WEIGHTS_FILE,
) -> Path:
    """Write `out/` (fp16 weights, meta.json, an optional preview image) via a tmp folder."""
    tmp = out.with_name(f".tmp-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()}
    save_file(half, tmp / weights_file, metadata={"format": "pt", "gesso": FORMAT})
    (tmp / META_FILE).write_text(json.dumps({"format": FORMAT, **meta}, indent=2) + "\n")
    if preview is not None and preview.is_file():
        shutil.copyfile(preview, tmp / preview.name)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def is_carried(folder: Path) -> bool:
    """Whether `folder` looks like a carried checkpoint (rather than, say, a pipeline folder)."""
    return (folder / META_FILE).is_file() and not (folder / "model_index.json").exists()


def read_carried_meta(folder: Path, weights_file: str = WEIGHTS_FILE) -> dict[str, Any]:
    meta_path, weights = folder / META_FILE, folder / weights_file
    if not meta_path.is_file() or not weights.is_file():
        raise CarriedCheckpointError(f"init_from {folder}: needs {META_FILE} and {weights_file}")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise CarriedCheckpointError(
            f"init_from {folder}: {META_FILE} is not JSON ({exc})"
        ) from exc
    if (
        not isinstance(meta, dict)
        or meta.get("format") != FORMAT
        or not isinstance(meta.get("step"), int)
    ):
        raise CarriedCheckpointError(f"init_from {folder}: {META_FILE} is not a {FORMAT} file")
    return meta


def load_carried(
    folder: Path, module: torch.nn.Module, preset: str, weights_file: str = WEIGHTS_FILE
) -> dict[str, Any]:
    """Load a carried checkpoint's weights into `module` (built from `preset`); return its meta.

    Refuses a checkpoint of another preset, or whose tensors do not fit `module` one for one.
    """
    meta = read_carried_meta(folder, weights_file)
    if meta.get("preset") != preset:
        found = meta.get("preset")
        raise CarriedCheckpointError(
            f"init_from {folder}: preset {found!r} does not match the config's {preset!r}"
        )
    try:
        weights = load_file(folder / weights_file)
    except Exception as exc:  # safetensors raises its own error types for a damaged file
        raise CarriedCheckpointError(
            f"init_from {folder}: unreadable {weights_file} ({exc})"
        ) from exc
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in weights.items()}
    wrong = sorted(k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k))
    if wrong:
        raise CarriedCheckpointError(
            f"init_from {folder}: {len(wrong)} tensor(s) do not match preset {preset!r}, "
            f"first {wrong[0]}: {found.get(wrong[0])} here, {expected.get(wrong[0])} expected"
        )
    module.load_state_dict(weights)  # fp16 values are copied into the module's fp32 parameters
    return meta


def carried_meta(
    kind: str, config: Any, config_file: Path | None, ckpt: Path, source: dict[str, Any],
    check: dict[str, Any] | None, **shape: Any,
) -> dict[str, Any]:
    """The meta.json of a carried checkpoint of `kind` made from the run checkpoint `ckpt`
    (whose own meta is `source`); `shape` adds what the model is (preset, size, ...)."""
    return {
        "kind": kind,
        "step": int(source["step"]),
        "max_steps": config.max_steps,
        "preset": config.preset,
        **shape,
        "config_name": config_file.stem if config_file is not None else None,
        "config_hash": config_hash(config),
        "config": dataclasses.asdict(config),
        "loss": source.get("loss"),
        "checkpoint_written": utc((ckpt / META_FILE).stat().st_mtime),
        "date": utc(time.time()),
        "cpu": cpu_name(),
        "source": str(ckpt),
        "warm_starts": source.get("warm_starts", []),
        "fp16_check": check,
    }


def check_same_settings(run: Any, named: Any, path: Path) -> None:
    """Refuse a config file (`named`) whose training settings differ from the run's."""
    a, b = dataclasses.asdict(run), dataclasses.asdict(named)
    differ = sorted(k for k in a if k not in UNHASHED and a[k] != b[k])
    if differ:
        shown = ", ".join(f"{k} {a[k]!r} in the run, {b[k]!r} in the file" for k in differ[:3])
        raise CarriedCheckpointError(f"{path} does not hold the run's settings: {shown}")


def utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
