"""Request and response shapes of the OpenAI Images API plus Gesso's optional extensions.

Every field the OpenAI reference defines is declared, so none is silently dropped; an unknown
field is refused (`extra="forbid"`). Which values Gesso can honour is decided in
`image_requests`, which answers 400 naming the field for the rest.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictBool

from gesso.service.http.client_types import (
    MAX_ID_CHARS,
    FormNameText,
    FormPromptText,
    NameText,
    PromptText,
    client_text,
)

Quality = Literal["low", "medium", "high", "xhigh", "max", "auto", "standard", "hd"]
OutputFormat = Literal["png", "webp", "jpeg", "gif", "svg"]
ResponseFormat = Literal["url", "b64_json"]
BackgroundColour = Literal["transparent", "opaque", "auto"]

# Outer bounds, the same for every deployment; the server's own limits (`max_images_per_request`,
# `max_steps`) are checked after, in `image_requests`, with a message naming them.
ModelName = client_text(MAX_ID_CHARS)
FormModelName = client_text(MAX_ID_CHARS, strict=False)
MAX_N = 1000
MAX_STEPS = 10_000
MAX_SEED = 2**63 - 1


def json_and_form(kind: type, **bounds: Any) -> tuple[Any, Any]:
    """A bounded number type for JSON bodies (strict: `"3"` and `true` are refused) and its twin
    for multipart form fields, whose values arrive as strings."""
    return Annotated[kind, Strict(), Field(**bounds)], Annotated[kind, Field(**bounds)]


Count, FormCount = json_and_form(int, ge=1, le=MAX_N)
Steps, FormSteps = json_and_form(int, ge=1, le=MAX_STEPS)
Seed, FormSeed = json_and_form(int, ge=0, le=MAX_SEED)
Guidance, FormGuidance = json_and_form(float, ge=0, le=30, allow_inf_nan=False)
PartialImages, FormPartialImages = json_and_form(int, ge=0, le=3)
Compression, FormCompression = json_and_form(int, ge=0, le=100)
AnimationValue, FormAnimationValue = json_and_form(int, ge=0, le=2**31 - 1)  # GIF fields: refused, but bounded
Strength = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]


class GenerationBody(BaseModel):
    """`POST /v1/images/generations` (JSON)."""

    model_config = ConfigDict(extra="forbid")

    prompt: PromptText
    model: ModelName | None = None
    n: Count | None = None
    size: NameText | None = None
    response_format: ResponseFormat | None = None
    quality: Quality | None = None
    user: NameText | None = None
    safety_identifier: NameText | None = None
    stream: StrictBool | None = None
    partial_images: PartialImages | None = None
    background: StrictBool | BackgroundColour | None = Field(
        None, description="OpenAI: transparent | opaque | auto. Gesso: `true` queues the job and returns it at once."
    )
    moderation: Literal["low", "auto"] | None = None
    output_compression: Compression | None = None
    output_format: OutputFormat | None = None
    style: Literal["vivid", "natural"] | None = None
    complexity: Literal["low", "medium", "high"] | None = None
    frame_count: AnimationValue | None = None
    frame_duration_ms: AnimationValue | None = None
    svg: dict[str, Any] | None = None  # refused (no SVG output) before anything reads it
    # Gesso extensions
    negative_prompt: PromptText | None = None
    seed: Seed | None = None
    steps: Steps | None = None
    guidance_scale: Guidance | None = None
    revise_prompt: StrictBool | None = Field(
        None, description="Gesso: false keeps the prompt as written; unset takes the tenant's default."
    )


class ImageFormFields(BaseModel):
    """The text fields edits and variations share (multipart; values arrive as strings)."""

    model_config = ConfigDict(extra="forbid")

    model: FormModelName | None = None
    n: FormCount | None = None
    size: FormNameText | None = None
    response_format: ResponseFormat | None = None
    user: FormNameText | None = None
    # Gesso extensions
    seed: FormSeed | None = None
    steps: FormSteps | None = None
    guidance_scale: FormGuidance | None = None
    strength: Strength | None = None


class _EditPrompt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: FormPromptText


# `_EditPrompt` last among the bases: its field comes first, so a missing prompt is the error
# reported and the docs list it first, as before the shared fields moved to `ImageFormFields`
class EditFields(ImageFormFields, _EditPrompt):
    """The text fields of `POST /v1/images/edits` (multipart; values arrive as strings)."""

    quality: Quality | None = None
    safety_identifier: FormNameText | None = None
    stream: bool | None = None
    partial_images: FormPartialImages | None = None
    background: bool | BackgroundColour | None = None
    input_fidelity: Literal["high", "low"] | None = None
    output_compression: FormCompression | None = None
    output_format: OutputFormat | None = None
    complexity: Literal["low", "medium", "high"] | None = None
    frame_count: FormAnimationValue | None = None
    frame_duration_ms: FormAnimationValue | None = None
    negative_prompt: FormPromptText | None = None  # Gesso extension
    revise_prompt: bool | None = None  # Gesso extension, as for generations


class VariationFields(ImageFormFields):
    """The text fields of `POST /v1/images/variations` (multipart)."""

    background: bool | None = None  # Gesso: `true` queues the job and returns it at once


class ImageDatum(BaseModel):
    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


class ImagesResponseBody(BaseModel):
    created: int
    data: list[ImageDatum]
    background: Literal["transparent", "opaque"] | None = None
    output_format: Literal["png", "webp", "jpeg"] | None = None
    quality: str | None = None
    size: str | None = None


class JobError(BaseModel):
    code: str | None = None
    message: str | None = None


class JobBody(BaseModel):
    """`GET /v1/images/jobs/{id}` (Gesso extension); `result` once the job has succeeded."""

    id: str
    object: Literal["image.job"] = "image.job"
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    model: str
    n: int
    size: str
    created_at: int
    started_at: int | None = None
    completed_at: int | None = None
    attempts: int
    error: JobError | None = None
    result: ImagesResponseBody | None = None
