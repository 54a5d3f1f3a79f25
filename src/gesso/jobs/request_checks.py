"""The checks a generation request passes once, before it becomes a job (service) or runs (CLI):
every field in range, the size one the model makes, the prompts no longer than the model reads."""

from __future__ import annotations

from gesso.jobs.generation_request import BACKGROUNDS, JOB_KINDS, GenerationRequest
from gesso.jobs.output_encoding import OUTPUT_FORMATS
from gesso.jobs.prompt_length import check_prompt_length
from gesso.jobs.request_errors import BadRequest

MAX_PROMPT_CHARS = 1000  # a bound on the text tokenised at all; the token limit is the real one
MAX_PARTIAL_IMAGES = 3


def parse_size(text: str) -> tuple[int, int]:
    """'64x64' -> (64, 64); raise BadRequest unless the text is WIDTHxHEIGHT."""
    try:
        w, h = (int(part) for part in str(text).lower().split("x"))
    except ValueError:
        raise BadRequest(f"size {text!r} is not WIDTHxHEIGHT", "size") from None
    return w, h


def check_request(
    req: GenerationRequest, max_n: int, max_steps: int, supported: list[tuple[int, int]], has_alpha: bool = False
) -> GenerationRequest:
    """`req` unchanged when every field is in range; otherwise BadRequest naming the field.

    `supported` are the sizes the request's model makes and `has_alpha` whether it makes
    transparent images (see `engine.model_registry.model_traits`).
    """
    if req.kind not in JOB_KINDS:
        raise BadRequest(f"kind must be one of {', '.join(JOB_KINDS)}", "kind")
    if req.kind != "variation" and not req.prompt.strip():
        raise BadRequest("prompt must not be empty", "prompt")
    for text, param in ((req.prompt, "prompt"), (req.negative, "negative_prompt")):
        if len(text) > MAX_PROMPT_CHARS:
            name = "prompt" if param == "prompt" else "negative prompt"
            raise BadRequest(f"{name} is longer than {MAX_PROMPT_CHARS} characters", param)
        if text:
            check_prompt_length(text, param)
    if not 1 <= req.n <= max_n:
        raise BadRequest(f"n must be between 1 and {max_n}, got {req.n}", "n")
    if not 1 <= req.steps <= max_steps:
        raise BadRequest(f"steps must be between 1 and {max_steps}, got {req.steps}", "steps")
    if not 0.0 <= req.guidance <= 30.0:
        raise BadRequest(f"guidance must be between 0 and 30, got {req.guidance}", "guidance_scale")
    if req.seed is not None and not 0 <= req.seed < 2**63:
        raise BadRequest("seed must be a non-negative 64-bit integer", "seed")
    if req.size not in supported:
        names = ", ".join(f"{a}x{b}" for a, b in supported)
        size = f"{req.size[0]}x{req.size[1]}"
        raise BadRequest(f"size {size} is not supported by this model (supported: {names})", "size")
    if not 0.0 < req.strength <= 1.0:
        raise BadRequest(f"strength must be in (0, 1], got {req.strength}", "strength")
    if req.output_format not in OUTPUT_FORMATS:
        raise BadRequest(
            f"output_format {req.output_format!r} is not supported ({', '.join(OUTPUT_FORMATS)})", "output_format"
        )
    if req.background not in BACKGROUNDS:
        raise BadRequest(f"background must be one of {', '.join(BACKGROUNDS)}", "background")
    if req.background == "transparent" and not has_alpha:
        raise BadRequest(
            "this model has no alpha channel, so it cannot make transparent backgrounds; use 'opaque' or 'auto'",
            "background",
        )
    if req.background == "transparent" and req.output_format == "jpeg":
        raise BadRequest("transparent backgrounds need png or webp output", "output_format")
    if not 0 <= req.output_compression <= 100:
        raise BadRequest("output_compression must be between 0 and 100", "output_compression")
    if not 0 <= req.partial_images <= MAX_PARTIAL_IMAGES:
        raise BadRequest(f"partial_images must be between 0 and {MAX_PARTIAL_IMAGES}", "partial_images")
    return req
