"""OpenAI's cursor-paged list object (`data`, `has_more`, `first_id`, `last_id`), for every list
route that pages with `after` and `limit`."""

from __future__ import annotations

from typing import Any, Callable, Literal, Sequence, TypeVar

from pydantic import BaseModel, ConfigDict


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
