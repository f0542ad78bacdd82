"""The API's routes, one module per resource."""

from __future__ import annotations

from typing import Any

from liteagent.api.schemas import ErrorResponse

__all__ = ["errors"]


_DESCRIPTIONS = {
    400: "The request cannot be served as asked.",
    401: "No valid credential.",
    404: "No such resource (or it belongs to someone else).",
    409: "The name is taken, or the resource is in use.",
    422: "The body breaks a rule; the message names the field.",
    502: "Fetching the source failed.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses an operation answers."""
    return {s: {"model": ErrorResponse, "description": _DESCRIPTIONS[s]} for s in (401, *statuses)}
