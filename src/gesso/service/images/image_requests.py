"""Turn an OpenAI-shaped request into the checked `GenerationRequest` its job runs, or refuse it
with 400 naming the field.

The rule: every OpenAI field is accepted, and a value Gesso cannot honour is an error, never a
silent ignore. The range checks shared with the CLI are `jobs.request_checks.check_request`;
this is the one place a request is checked, and the job row, the worker and the pipeline call
carry the result unchanged.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from gesso.engine.model_registry import ModelTraits
from gesso.jobs.generation_request import GenerationRequest
from gesso.jobs.request_checks import check_request, parse_size
from gesso.jobs.request_errors import BadRequest
from gesso.service.images.schemas import EditFields, GenerationBody, VariationFields
from gesso.settings import Settings

# quality -> a multiple of the default step count (OpenAI's "auto" and DALL-E's "standard" = 1)
QUALITY_STEP_FACTORS = {
    "low": 0.5, "medium": 1.0, "auto": 1.0, "standard": 1.0, "high": 2.0, "hd": 2.0, "xhigh": 3.0, "max": 5.0,
}
TraitsOf = Callable[[str], ModelTraits]  # what a model makes (engine.model_registry)


@dataclass(frozen=True)
class ImageRequest:
    """A request ready to queue: the checked generation request plus how to answer."""

    generation: GenerationRequest
    response_format: str
    quality: str
    stream: bool
    run_in_background: bool
    safety_identifier: str | None


def steps_for_quality(quality: str | None, default_steps: int, max_steps: int) -> int:
    factor = QUALITY_STEP_FACTORS[quality or "auto"]
    return max(1, min(max_steps, round(default_steps * factor)))


def generation_request(
    body: GenerationBody, settings: Settings, model_names: list[str], traits: TraitsOf, rng: random.Random
) -> ImageRequest:
    """`POST /v1/images/generations` -> ImageRequest; raises BadRequest(param=...)."""
    _refuse_unhonoured(body.style, "style", "Gesso has no style presets; describe the style in the prompt")
    _refuse_common(body)
    return _image_request(
        "generate", body.prompt, body, settings, model_names, traits, rng, strength=1.0, has_mask=False
    )


def edit_request(
    fields: EditFields,
    has_mask: bool,
    settings: Settings,
    model_names: list[str],
    traits: TraitsOf,
    rng: random.Random,
) -> ImageRequest:
    """`POST /v1/images/edits`: with a mask, inpainting (strength 1 by default); without,
    image-to-image at `strength` (Gesso extension, default `settings.edit_strength`)."""
    if fields.input_fidelity == "high":
        raise BadRequest("input_fidelity 'high' is not supported; use 'low' or leave it out", "input_fidelity")
    _refuse_common(fields)
    strength = fields.strength if fields.strength is not None else (1.0 if has_mask else settings.edit_strength)
    return _image_request(
        "edit", fields.prompt, fields, settings, model_names, traits, rng, strength=strength, has_mask=has_mask
    )


def variation_request(
    fields: VariationFields, settings: Settings, model_names: list[str], traits: TraitsOf, rng: random.Random
) -> ImageRequest:
    """`POST /v1/images/variations`: image-to-image from the upload with an empty prompt."""
    strength = fields.strength if fields.strength is not None else settings.variation_strength
    return _image_request(
        "variation", "", fields, settings, model_names, traits, rng, strength=strength, has_mask=False
    )


def _image_request(
    kind: str,
    prompt: str,
    fields: GenerationBody | EditFields | VariationFields,
    settings: Settings,
    model_names: list[str],
    traits: TraitsOf,
    rng: random.Random,
    *,
    strength: float,
    has_mask: bool,
) -> ImageRequest:
    model = fields.model or settings.default_model
    if model not in model_names:
        raise BadRequest(f"unknown model {model!r} (models: {', '.join(model_names) or 'none'})", "model")
    made = traits(model)
    supported = made.sizes
    quality = getattr(fields, "quality", None) or "auto"
    steps = fields.steps if fields.steps is not None else steps_for_quality(
        quality, settings.default_steps, settings.max_steps
    )
    output_format, compression = _output_format(fields)
    stream, partial_images = _streaming(fields)
    generation = check_request(
        GenerationRequest(
            kind=kind,
            model=model,
            prompt=prompt,
            n=1 if fields.n is None else fields.n,
            size=supported[0] if fields.size in (None, "auto") else parse_size(fields.size),
            steps=steps,
            guidance=settings.default_guidance if fields.guidance_scale is None else float(fields.guidance_scale),
            seed=fields.seed if fields.seed is not None else rng.randrange(2**31),
            negative=getattr(fields, "negative_prompt", None) or "",
            strength=strength,
            has_mask=has_mask,
            output_format=output_format,
            output_compression=compression,
            partial_images=partial_images,
            background="transparent" if fields.background == "transparent" else "opaque",
        ),
        settings.max_images_per_request,
        settings.max_steps,
        supported,
        made.has_alpha,
    )
    background = fields.background
    if background is True and stream:
        raise BadRequest("background=true and stream=true cannot be combined", "background")
    response_format = fields.response_format or "b64_json"
    if stream and response_format == "url":
        raise BadRequest("streamed images are always b64_json; drop response_format=url", "response_format")
    return ImageRequest(
        generation=generation,
        response_format=response_format,
        quality=quality,
        stream=stream,
        run_in_background=background is True,
        safety_identifier=getattr(fields, "safety_identifier", None) or fields.user,
    )


def _refuse_common(fields: GenerationBody | EditFields) -> None:
    """OpenAI fields whose non-default values Gesso cannot honour."""
    # moderation "low" is honoured by the content policy check, as in OpenAI's API
    _refuse_unhonoured(fields.complexity, "complexity", "complexity is not supported")
    _refuse_unhonoured(fields.frame_count, "frame_count", "GIF output is not supported")
    _refuse_unhonoured(fields.frame_duration_ms, "frame_duration_ms", "GIF output is not supported")
    _refuse_unhonoured(getattr(fields, "svg", None), "svg", "SVG output is not supported")


def _refuse_unhonoured(value: object, param: str, message: str) -> None:
    if value is not None:
        raise BadRequest(message, param)


def _output_format(fields: GenerationBody | EditFields | VariationFields) -> tuple[str, int]:
    """(format, quality); the values' ranges are `check_request`'s, the combination is OpenAI's."""
    output_format = getattr(fields, "output_format", None) or "png"
    compression = getattr(fields, "output_compression", None)
    if compression is None:
        return output_format, 100
    if output_format == "png":
        raise BadRequest("output_compression applies only to jpeg and webp output", "output_compression")
    return output_format, compression


def _streaming(fields: GenerationBody | EditFields | VariationFields) -> tuple[bool, int]:
    stream = bool(getattr(fields, "stream", None))
    partial_images = getattr(fields, "partial_images", None)
    if partial_images is None:
        return stream, 0
    if partial_images and not stream:
        raise BadRequest("partial_images needs stream=true", "partial_images")
    return stream, partial_images
