"""The catalog: declarative virtual models (``liteagent.yaml``)."""

from liteagent.catalog.loader import Catalog, load_catalog, parse_catalog
from liteagent.catalog.specs import MODEL_PREFIX, AgentSpec, BaseSpec, ModelSpec, RagSpec

__all__ = [
    "MODEL_PREFIX",
    "AgentSpec",
    "BaseSpec",
    "Catalog",
    "ModelSpec",
    "RagSpec",
    "load_catalog",
    "parse_catalog",
]
