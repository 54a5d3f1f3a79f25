"""The CLI's JSONL prompts file: one generation request per line, each checked like any other."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from gesso.jobs.generation_request import GenerationRequest
from gesso.jobs.request_checks import check_request, parse_size
from gesso.jobs.request_errors import BadRequest

PROMPT_FILE_FIELDS = {"id", "prompt", "n", "seed", "steps", "guidance", "size", "negative"}


def read_prompts_file(
    path: Path, defaults: GenerationRequest, supported: list[tuple[int, int]], max_n: int, max_steps: int,
    has_alpha: bool = False,
) -> list[tuple[str, GenerationRequest]]:
    """Parse a JSONL prompts file into (line id, checked request) pairs, the line's fields over
    `defaults`; raise BadRequest naming the first bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadRequest(f"cannot read prompts file {path}: {exc.__class__.__name__}") from None
    requests: list[tuple[str, GenerationRequest]] = []
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
            seed = obj.get("seed", defaults.seed)
            req = replace(
                defaults,
                prompt=obj["prompt"],
                n=_as_int(obj.get("n", defaults.n), "n"),
                seed=None if seed is None else _as_int(seed, "seed"),
                steps=_as_int(obj.get("steps", defaults.steps), "steps"),
                guidance=float(obj.get("guidance", defaults.guidance)),
                size=parse_size(obj["size"]) if "size" in obj else defaults.size,
                negative=str(obj.get("negative", defaults.negative)),
            )
            requests.append((ident, check_request(req, max_n, max_steps, supported, has_alpha)))
        except (ValueError, TypeError) as exc:
            raise BadRequest(f"{path}:{number}: {exc}") from None
    if not requests:
        raise BadRequest(f"{path}: no prompts")
    return requests


def _as_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"'{name}' must be an integer")
    return value
