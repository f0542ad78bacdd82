"""The catalog: declarative virtual models (``liteagent.yaml``)."""

from liteagent.catalog.loader import Catalog, load_catalog, parse_catalog
from liteagent.catalog.specs import (
    MODEL_PREFIX,
    AgentSpec,
    BaseSpec,
    MemorySpec,
    ModelSpec,
    RagSpec,
    ToolSpec,
)

__all__ = [
    "MODEL_PREFIX",
    "AgentSpec",
    "BaseSpec",
    "Catalog",
    "MemorySpec",
    "ModelSpec",
    "RagSpec",
    "ToolSpec",
    "load_catalog",
    "parse_catalog",
]
