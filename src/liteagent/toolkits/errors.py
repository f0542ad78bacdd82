"""The toolkits' errors: messages safe to show to the user and the model."""

from __future__ import annotations

__all__ = ["ToolkitError"]


class ToolkitError(Exception):
    """A toolkit call failed; the message is safe to show to the user and the model."""
