"""Request shapes of the organisation's key administration. Unknown fields are refused."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from gesso.service.http.client_types import NameText


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NameText
    role: NameText
    # the range is checked (with its message) by `checked_key_request`; this bound keeps a huge
    # number from reaching it
    rate_limit_per_minute: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)] | None = None
