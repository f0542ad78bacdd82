"""The catalog: declarative virtual models (``liteagent.yaml``)."""

from liteagent.catalog.loader import Catalog, load_catalog, parse_catalog, parse_entry
from liteagent.catalog.specs import (
    MODEL_PREFIX,
    AgentSpec,
    AgnoSpec,
    BaseSpec,
    MemorySpec,
    ModelSpec,
    RagSpec,
    ToolkitRefSpec,
    ToolSpec,
)

__all__ = [
    "MODEL_PREFIX",
    "AgentSpec",
    "AgnoSpec",
    "BaseSpec",
    "Catalog",
    "MemorySpec",
    "ModelSpec",
    "RagSpec",
    "ToolSpec",
    "ToolkitRefSpec",
    "load_catalog",
    "parse_catalog",
    "parse_entry",
]
