"""Request and response shapes of the OpenAI Images API plus Gesso's optional extensions.

Every field the OpenAI reference defines is declared, so none is silently dropped; an unknown
field is refused (`extra="forbid"`). Which values Gesso can honour is decided in
`image_requests`, which answers 400 naming the field for the rest.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

Quality = Literal["low", "medium", "high", "xhigh", "max", "auto", "standard", "hd"]
OutputFormat = Literal["png", "webp", "jpeg", "gif", "svg"]
ResponseFormat = Literal["url", "b64_json"]
BackgroundColour = Literal["transparent", "opaque", "auto"]


class GenerationBody(BaseModel):
    """`POST /v1/images/generations` (JSON)."""

    model_config = ConfigDict(extra="forbid")

    prompt: StrictStr
    model: StrictStr | None = None
    n: StrictInt | None = None
    size: StrictStr | None = None
    response_format: ResponseFormat | None = None
    quality: Quality | None = None
    user: StrictStr | None = None
    safety_identifier: StrictStr | None = None
    stream: StrictBool | None = None
    partial_images: StrictInt | None = None
    background: StrictBool | BackgroundColour | None = Field(
        None, description="OpenAI: transparent | opaque | auto. Gesso: `true` queues the job and returns it at once."
    )
    moderation: Literal["low", "auto"] | None = None
    output_compression: StrictInt | None = None
    output_format: OutputFormat | None = None
    style: Literal["vivid", "natural"] | None = None
    complexity: Literal["low", "medium", "high"] | None = None
    frame_count: StrictInt | None = None
    frame_duration_ms: StrictInt | None = None
    svg: dict[str, Any] | None = None
    # Gesso extensions
    negative_prompt: StrictStr | None = None
    seed: StrictInt | None = None
    steps: StrictInt | None = None
    guidance_scale: StrictFloat | StrictInt | None = None


class EditFields(BaseModel):
    """The text fields of `POST /v1/images/edits` (multipart; values arrive as strings)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    model: str | None = None
    n: int | None = None
    size: str | None = None
    response_format: ResponseFormat | None = None
    quality: Quality | None = None
    user: str | None = None
    safety_identifier: str | None = None
    stream: bool | None = None
    partial_images: int | None = None
    background: bool | BackgroundColour | None = None
    input_fidelity: Literal["high", "low"] | None = None
    output_compression: int | None = None
    output_format: OutputFormat | None = None
    complexity: Literal["low", "medium", "high"] | None = None
    frame_count: int | None = None
    frame_duration_ms: int | None = None
    # Gesso extensions
    negative_prompt: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    strength: float | None = None


class VariationFields(BaseModel):
    """The text fields of `POST /v1/images/variations` (multipart)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    n: int | None = None
    size: str | None = None
    response_format: ResponseFormat | None = None
    user: str | None = None
    # Gesso extensions
    background: bool | None = None
    seed: int | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    strength: float | None = None


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


class ModelBody(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelBody]
