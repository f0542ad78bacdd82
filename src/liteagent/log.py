"""Structured logging with structlog.

``configure_logging`` sets up JSON or text output (``LOG_FORMAT``) at ``LOG_LEVEL`` and adds a
redaction processor so that no event ever carries a credential, whatever a caller passes.
Event names are snake_case with key=value fields: ``logger.info("agent_built", model=...)``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from liteagent.redaction import redact_mapping

_configured = False


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written (a test runner or a server may swap it
    after logging was configured; the stream of that moment may be closed by then)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return redact_mapping(event_dict)


def configure_logging(level: str = "INFO", fmt: str = "json", *, force: bool = False) -> None:
    """Configure structlog once per process (``force=True`` reconfigures)."""
    global _configured
    if _configured and not force:
        return
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        # Not cached: a module's logger follows the configuration of the moment (tests capture
        # logs after a command configured them; the cost is a few microseconds an event).
        cache_logger_on_first_use=False,
    )
    _configured = True


def get_logger(name: str | None = None) -> Any:
    """Return a structlog logger bound to ``name`` (the module)."""
    return structlog.get_logger(name) if name else structlog.get_logger()
