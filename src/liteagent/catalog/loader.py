"""Load and validate ``liteagent.yaml``.

The file maps names to entries::

    models:
      assistant:
        kind: agent            # default
        description: A helpful assistant
        model: local/smollm2   # optional, else LITEAGENT_DEFAULT_MODEL
        system_prompt: You are a helpful assistant.

Any problem fails loudly with the file, the entry and the field named, e.g.
``liteagent.yaml: models.assistant.system_prompt: Field required``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from liteagent.catalog.specs import MODEL_PREFIX, ModelSpec
from liteagent.errors import AgentNotFoundError, CatalogError

_spec_adapter: TypeAdapter[ModelSpec] = TypeAdapter(ModelSpec)
_TOP_LEVEL_KEYS = {"models"}


@dataclass(frozen=True)
class Catalog:
    """The virtual models LiteAgent serves, by name."""

    entries: Mapping[str, ModelSpec] = field(default_factory=dict)
    source: str = "<memory>"

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def model_names(self) -> list[str]:
        """Public names, ``liteagent/<name>``, in catalog order."""
        return [spec.model_name for spec in self.entries.values()]

    def get(self, model: str) -> ModelSpec:
        """Look up ``liteagent/<name>`` (or a bare ``<name>``).

        Raises:
            AgentNotFoundError: with the available names listed.
        """
        name = model.split("/", 1)[1] if model.startswith(MODEL_PREFIX) else model
        spec = self.entries.get(name)
        if spec is None:
            available = ", ".join(self.model_names()) or "none"
            raise AgentNotFoundError(f"Model '{model}' does not exist. Available: {available}.")
        return spec


def _location(loc: tuple[int | str, ...]) -> str:
    # Drop the discriminator tag pydantic inserts ("agent", "rag") so paths read like the YAML.
    return ".".join(str(part) for part in loc if part not in ("agent", "rag"))


def parse_catalog(data: Any, source: str = "<memory>") -> Catalog:
    """Validate already-parsed catalog data."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise CatalogError(f"{source}: the top level must be a mapping with a 'models' key.")
    unknown = set(data) - _TOP_LEVEL_KEYS
    if unknown:
        raise CatalogError(
            f"{source}: unknown top-level key(s) {', '.join(sorted(map(str, unknown)))}; "
            f"expected {', '.join(sorted(_TOP_LEVEL_KEYS))}."
        )
    models = data.get("models") or {}
    if not isinstance(models, Mapping):
        raise CatalogError(f"{source}: 'models' must map names to entries.")
    entries: dict[str, ModelSpec] = {}
    for name, raw in models.items():
        where = f"{source}: models.{name}"
        if not isinstance(raw, Mapping):
            raise CatalogError(f"{where}: the entry must be a mapping of fields.")
        if "name" in raw:
            raise CatalogError(f"{where}.name: the name is the entry's key; remove this field.")
        try:
            spec = _spec_adapter.validate_python({"kind": "agent", **raw, "name": str(name)})
        except ValidationError as exc:
            problems = "; ".join(
                f"{where}.{_location(err['loc'])}: {err['msg']}".replace(f"{where}.:", f"{where}:")
                for err in exc.errors()
            )
            raise CatalogError(problems) from None
        entries[str(name)] = spec
    return Catalog(entries=entries, source=source)


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog file.

    Raises:
        CatalogError: naming the file, the entry and the field at fault.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(
            f"Catalog file {p} not found. Create it or point LITEAGENT_CATALOG at one."
        ) from None
    except OSError as exc:
        raise CatalogError(f"Cannot read catalog file {p}: {exc.strerror}.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise CatalogError(f"{p}: YAML syntax error{where}: {problem}.") from None
    return parse_catalog(data, source=str(p))
