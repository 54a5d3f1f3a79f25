"""Request shapes of the OpenAI files and fine-tuning API, plus Gesso's extensions (`rank`,
`trigger`), and the response shapes the OpenAPI document shows. Unknown fields are refused."""

from __future__ import annotations

from typing import Any, Callable, Literal, Sequence, TypeVar

from pydantic import BaseModel, ConfigDict, StrictFloat, StrictInt, StrictStr

Auto = Literal["auto"]


class Hyperparameters(BaseModel):
    """OpenAI's three, each a number or "auto" (the server's default), and Gesso's two."""

    model_config = ConfigDict(extra="forbid")

    n_epochs: StrictInt | Auto | None = None
    batch_size: StrictInt | Auto | None = None
    learning_rate_multiplier: StrictFloat | StrictInt | Auto | None = None
    # Gesso extensions
    rank: StrictInt | Auto | None = None
    trigger: StrictStr | None = None


class SupervisedMethod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hyperparameters: Hyperparameters | None = None


class Method(BaseModel):
    """OpenAI's `method` object; Gesso trains LoRA adapters, which is the `supervised` kind."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: SupervisedMethod | None = None
    dpo: dict[str, Any] | None = None
    reinforcement: dict[str, Any] | None = None


class FineTuningJobCreate(BaseModel):
    """`POST /v1/fine_tuning/jobs`."""

    model_config = ConfigDict(extra="forbid")

    model: StrictStr
    training_file: StrictStr
    validation_file: StrictStr | None = None
    suffix: StrictStr | None = None
    seed: StrictInt | None = None
    hyperparameters: Hyperparameters | None = None
    method: Method | None = None
    integrations: list[dict[str, Any]] | None = None
    metadata: dict[str, StrictStr] | None = None


class ErrorBody(BaseModel):
    code: str | None = None
    message: str | None = None
    param: str | None = None


class FileBody(BaseModel):
    """OpenAI's file object, plus Gesso's `sha256`, `image_count`, `kind` and `preview_url`."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: str
    expires_at: int | None = None
    status_details: str | None = None
    sha256: str
    image_count: int
    uncaptioned_count: int
    kind: str
    preview_url: str


class FileList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FileBody]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


class FileDeleted(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool
    deleted_models: list[str]


class FineTuningJobBody(BaseModel):
    """OpenAI's `fine_tuning.job`; status may also be Gesso's `paused`. Gesso adds `progress`."""

    model_config = ConfigDict(extra="allow")

    id: str
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    created_at: int
    error: ErrorBody | None = None
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    hyperparameters: dict[str, Any]
    model: str
    organization_id: str
    result_files: list[str]
    seed: int
    status: Literal["validating_files", "queued", "running", "succeeded", "failed", "cancelled", "paused"]
    trained_tokens: int | None = None
    training_file: str
    validation_file: str | None = None
    estimated_finish: int | None = None
    integrations: list[dict[str, Any]] | None = None
    metadata: dict[str, str] | None = None
    method: dict[str, Any]
    user_provided_suffix: str | None = None


class CursorPage(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    has_more: bool


Row = TypeVar("Row")


def cursor_page(rows: Sequence[Row], limit: int, body: Callable[[Row], dict[str, Any]]) -> dict[str, Any]:
    """OpenAI's list object from `limit + 1` fetched rows: the extra row only tells `has_more`."""
    data = [body(row) for row in rows[:limit]]
    return {"object": "list", "data": data, "has_more": len(rows) > limit,
            "first_id": data[0].get("id") if data else None, "last_id": data[-1].get("id") if data else None}
