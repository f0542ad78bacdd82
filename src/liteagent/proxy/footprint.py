"""How much memory a cached runner holds of its own (what the agent cache's budget counts).

A per-user runner shares most of what it reaches with every other runner: the catalog entry,
the settings, the LLM provider and its HTTP client, the database, code and modules. What is its
user's alone is small: the tool registry bound to the user, MCP toolsets, closures over the
user's context. ``owned_bytes`` walks the runner's object graph with ``sys.getsizeof`` and
stops at what is shared, so a thousand users' runners are measured by what each adds:

- modules, classes, code, builtins and a function's globals are never entered (a function
  counts itself, its closure cells and its defaults);
- instances of the shared types (settings, pydantic models such as catalog entries, LLM
  providers, the database, HTTP clients, event loops, loggers, tokenizers) are not entered
  nor counted.

The walk stops after ``limit`` objects, so its cost stays bounded; the sum is then a lower
bound, which is logged.
"""

from __future__ import annotations

import gc
import logging
import sys
from functools import cache
from types import (
    BuiltinFunctionType,
    CodeType,
    FrameType,
    FunctionType,
    GetSetDescriptorType,
    MemberDescriptorType,
    MethodType,
    ModuleType,
)
from typing import Any

from liteagent.log import get_logger

__all__ = ["owned_bytes"]

logger = get_logger(__name__)

_NEVER_ENTERED = (
    ModuleType,
    type,
    CodeType,
    FrameType,
    BuiltinFunctionType,
    GetSetDescriptorType,
    MemberDescriptorType,
    logging.Logger,
)


@cache
def _shared_types() -> tuple[type, ...]:
    """Types whose instances every runner shares (imported when the first runner is sized)."""
    import asyncio

    import httpx
    from pydantic import BaseModel
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.schema import SchemaItem
    from sqlalchemy.sql import ClauseElement
    from tiktoken import Encoding

    from liteagent.config import Settings
    from liteagent.llm.base import BaseLLMProvider
    from liteagent.storage.database import Database

    return (
        BaseModel,
        Settings,
        BaseLLMProvider,
        Database,
        SchemaItem,  # tables and columns
        ClauseElement,  # compiled statements
        Engine,
        AsyncEngine,
        httpx.AsyncClient,
        httpx.Client,
        asyncio.AbstractEventLoop,
        Encoding,  # tiktoken's, shared by every token counter
    )


def _referents(obj: Any) -> list[Any]:
    if isinstance(obj, FunctionType):
        cells = [c.cell_contents for c in obj.__closure__ or () if _filled(c)]
        defaults = list(obj.__defaults__ or ())
        return cells + defaults + list((obj.__kwdefaults__ or {}).values())
    if isinstance(obj, MethodType):
        return [obj.__self__, obj.__func__]
    return gc.get_referents(obj)


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def owned_bytes(root: object, *, limit: int = 50_000) -> int:
    """Bytes of the objects ``root`` reaches without passing through a shared one.

    Args:
        root: The object to size (a runner).
        limit: The most objects visited; past it the walk stops and the sum is a lower bound.
    """
    stops = (*_NEVER_ENTERED, *_shared_types())
    seen = {id(root)}
    stack: list[Any] = [root]
    total = 0
    while stack:
        obj = stack.pop()
        total += sys.getsizeof(obj, 0)
        for ref in _referents(obj):
            if id(ref) in seen or isinstance(ref, stops):
                continue
            seen.add(id(ref))
            stack.append(ref)
        if len(seen) >= limit:
            logger.warning("runner_size_walk_truncated", objects=len(seen), bytes=total)
            break
    return total
