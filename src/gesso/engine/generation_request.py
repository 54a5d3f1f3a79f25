"""Validated generation requests: the checks shared by the CLI and the server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


class BadRequest(ValueError):
    """A request a caller must fix; `param` names the offending field."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    n: int = 1
    seed: int | None = None
    steps: int = 20
    guidance: float = 4.0
    size: tuple[int, int] = (64, 64)
    negative: str = ""
    id: str = ""


MAX_PROMPT_CHARS = 1000


def parse_size(text: str, supported: list[tuple[int, int]]) -> tuple[int, int]:
    """'64x64' -> (64, 64); raise BadRequest unless the model makes that size."""
    try:
        w, h = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise BadRequest(f"size {text!r} is not WIDTHxHEIGHT", "size") from None
    if (w, h) not in supported:
        names = ", ".join(f"{a}x{b}" for a, b in supported)
        raise BadRequest(f"size {text} is not supported by this model (supported: {names})", "size")
    return w, h


def check_request(
    req: GenerationRequest, max_n: int, max_steps: int, supported: list[tuple[int, int]]
) -> GenerationRequest:
    """Raise BadRequest naming the field for any value out of range."""
    if not req.prompt.strip():
        raise BadRequest("prompt must not be empty", "prompt")
    if len(req.prompt) > MAX_PROMPT_CHARS:
        raise BadRequest(f"prompt is longer than {MAX_PROMPT_CHARS} characters", "prompt")
    if len(req.negative) > MAX_PROMPT_CHARS:
        raise BadRequest(f"negative prompt is longer than {MAX_PROMPT_CHARS} characters", "negative_prompt")
    if not 1 <= req.n <= max_n:
        raise BadRequest(f"n must be between 1 and {max_n}, got {req.n}", "n")
    if not 1 <= req.steps <= max_steps:
        raise BadRequest(f"steps must be between 1 and {max_steps}, got {req.steps}", "steps")
    if not 0.0 <= req.guidance <= 30.0:
        raise BadRequest(f"guidance must be between 0 and 30, got {req.guidance}", "guidance_scale")
    if req.seed is not None and not 0 <= req.seed < 2**63:
        raise BadRequest("seed must be a non-negative 64-bit integer", "seed")
    if req.size not in supported:
        raise BadRequest(f"size {req.size[0]}x{req.size[1]} is not supported by this model", "size")
    return req


PROMPT_FILE_FIELDS = {"id", "prompt", "n", "seed", "steps", "guidance", "size", "negative"}


def read_prompts_file(
    path: Path, defaults: GenerationRequest, supported: list[tuple[int, int]], max_n: int, max_steps: int
) -> list[GenerationRequest]:
    """Parse a JSONL prompts file; raise BadRequest naming the first bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadRequest(f"cannot read prompts file {path}: {exc.__class__.__name__}") from None
    requests: list[GenerationRequest] = []
    seen_ids: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            unknown = set(obj) - PROMPT_FILE_FIELDS
            if unknown:
                raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
            if not isinstance(obj.get("prompt"), str):
                raise ValueError("'prompt' must be a string")
            ident = str(obj.get("id", number))
            if not ident or "/" in ident or ident.startswith(".") or ident in seen_ids:
                raise ValueError(f"'id' {ident!r} is empty, unsafe or repeated")
            seen_ids.add(ident)
            size = parse_size(obj["size"], supported) if "size" in obj else defaults.size
            req = GenerationRequest(
                prompt=obj["prompt"],
                n=_as_int(obj.get("n", defaults.n), "n"),
                seed=None if obj.get("seed", defaults.seed) is None else _as_int(obj.get("seed", defaults.seed), "seed"),
                steps=_as_int(obj.get("steps", defaults.steps), "steps"),
                guidance=float(obj.get("guidance", defaults.guidance)),
                size=size,
                negative=str(obj.get("negative", defaults.negative)),
                id=ident,
            )
            requests.append(check_request(req, max_n, max_steps, supported))
        except (ValueError, TypeError) as exc:
            raise BadRequest(f"{path}:{number}: {exc}") from None
    if not requests:
        raise BadRequest(f"{path}: no prompts")
    return requests


def _as_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"'{name}' must be an integer")
    return value
