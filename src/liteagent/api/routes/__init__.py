"""The API's routes, one module per resource."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from liteagent.api.schemas import ErrorResponse

__all__ = ["ResourceId", "errors"]

ResourceId = Annotated[str, Path(min_length=1, max_length=64, description="The resource's id.")]


_DESCRIPTIONS = {
    401: "No valid credential.",
    404: "No such resource (or it belongs to someone else).",
    409: "The name is taken, or the resource is in use.",
    422: "The body breaks a rule; the message names the field.",
    502: "The source could not be fetched.",
    503: "The agent's model (or LiteAgent's database) is unavailable just now; retry later.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses an operation answers."""
    return {s: {"model": ErrorResponse, "description": _DESCRIPTIONS[s]} for s in (401, *statuses)}
