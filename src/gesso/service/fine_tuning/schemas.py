"""Request shapes of the OpenAI fine-tuning API, plus Gesso's extensions (`rank`, `trigger`), and
the job's response shape the OpenAPI document shows. Unknown fields are refused."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

from gesso.train.finetune_bounds import (
    HYPERPARAMETER_RANGES,
    SEED_RANGE,
    TRIGGER_MAX_CHARS,
    check_hyperparameter,
)

Auto = Literal["auto"]


def _int_in(name: str) -> object:
    bound = HYPERPARAMETER_RANGES[name]
    return Annotated[StrictInt, Field(ge=int(bound.low), le=int(bound.high))]


_LR = HYPERPARAMETER_RANGES["learning_rate_multiplier"]
LearningRateMultiplier = (Annotated[StrictFloat, Field(gt=_LR.low, le=_LR.high, allow_inf_nan=False)]
                          | Annotated[StrictInt, Field(gt=int(_LR.low), le=int(_LR.high))])


class Hyperparameters(BaseModel):
    """OpenAI's three, each a number or "auto" (the server's default), and Gesso's two.

    Ranges come from `train.finetune_bounds`; a value outside one is a 400 naming the field.
    """

    model_config = ConfigDict(extra="forbid")

    n_epochs: _int_in("n_epochs") | Auto | None = None  # type: ignore[valid-type]
    batch_size: _int_in("batch_size") | Auto | None = None  # type: ignore[valid-type]
    learning_rate_multiplier: LearningRateMultiplier | Auto | None = None
    # Gesso extensions
    rank: _int_in("rank") | Auto | None = None  # type: ignore[valid-type]
    trigger: Annotated[StrictStr, Field(max_length=TRIGGER_MAX_CHARS)] | None = None

    @field_validator("n_epochs", "batch_size", "learning_rate_multiplier", "rank", "trigger", mode="before")
    @classmethod
    def _in_range(cls, value: object, info) -> object:  # noqa: ANN001
        # checked here, before the union, so the error names the field and not a union branch
        check_hyperparameter(info.field_name, value)
        return value


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
    suffix: Annotated[StrictStr, Field(max_length=40)] | None = None
    seed: Annotated[StrictInt, Field(ge=int(SEED_RANGE.low), le=int(SEED_RANGE.high))] | None = None
    hyperparameters: Hyperparameters | None = None
    method: Method | None = None
    integrations: Annotated[list[dict[str, Any]], Field(max_length=8)] | None = None
    # OpenAI's metadata limits: 16 pairs, keys of 64 and values of 512 characters
    metadata: Annotated[
        dict[Annotated[str, Field(max_length=64)], Annotated[StrictStr, Field(max_length=512)]],
        Field(max_length=16),
    ] | None = None


class ErrorBody(BaseModel):
    code: str | None = None
    message: str | None = None
    param: str | None = None


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
