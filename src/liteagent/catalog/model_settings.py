"""The catalog's ``providers`` section and every entry's ``model:`` setting, checked and resolved.

A ``model:`` becomes either ``None`` (the default model), a ``ModelChainSpec`` carrying the
provider settings it uses, or stays a ``<provider>/<model>`` string when the environment
configures that provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from liteagent.catalog.specs import ModelSpec
from liteagent.errors import CatalogError
from liteagent.llm.provider_specs import (
    PROVIDER_NAME,
    FallbackTargetSpec,
    ModelChainSpec,
    ProviderEntry,
    ProviderSpec,
)

__all__ = ["errors_at", "parse_providers", "resolve_model"]


_UNION_TAGS = {"agent", "rag", "workflow", "str", "ModelChainSpec", "FallbackTargetSpec"}


def _location(loc: tuple[int | str, ...]) -> str:
    # Drop the tags pydantic inserts for unions ("agent", "str"…) so paths read like the YAML.
    return ".".join(
        str(part)
        for part in loc
        if part not in _UNION_TAGS and not str(part).startswith("function-")
    )


def errors_at(where: str, exc: ValidationError) -> str:
    errors = exc.errors()
    # For `str | chain` fields, drop the branch that was not meant (a mapping is not a string).
    meant = [e for e in errors if not (e["type"] == "string_type" and "str" in e["loc"])]
    return "; ".join(
        f"{where}.{_location(err['loc'])}: {err['msg']}".replace(f"{where}.:", f"{where}:")
        for err in (meant or errors)
    )


def _registered(provider_type: str) -> bool:
    from liteagent.llm.factory import llm_registry

    return llm_registry.has(provider_type)


def _check_target(
    model: str, providers: Mapping[str, ProviderEntry], where: str
) -> tuple[str, ProviderSpec | None]:
    provider = model.partition("/")[0]
    entry = providers.get(provider)
    if isinstance(entry, ModelChainSpec):
        raise CatalogError(
            f"{where}: '{model}': '{provider}' is a fallback chain; chains cannot be nested."
        )
    if entry is None and not _registered(provider):
        from liteagent.llm.factory import llm_registry

        known = ", ".join(sorted({*llm_registry.list_providers(), *providers})) or "none"
        raise CatalogError(
            f"{where}: unknown provider '{provider}' in '{model}'. Known providers: {known}."
        )
    return provider, entry


def _attach_providers(
    chain: ModelChainSpec, providers: Mapping[str, ProviderEntry], where: str
) -> ModelChainSpec:
    used: dict[str, ProviderSpec] = {}
    for i, target in enumerate(chain.fallbacks):
        name, entry = _check_target(target.model, providers, f"{where}.fallbacks.{i}")
        if isinstance(entry, ProviderSpec):
            used[name] = entry
    return chain.model_copy(update={"providers": used})


def parse_providers(raw: Any, source: str) -> dict[str, ProviderEntry]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{source}: 'providers' must map names to provider settings or chains.")
    parsed: dict[str, ProviderEntry] = {}
    for name, value in raw.items():
        where = f"{source}: providers.{name}"
        if not isinstance(name, str) or not PROVIDER_NAME.match(name):
            raise CatalogError(
                f"{where}: names must be lower-case letters, digits, '_' or '-' "
                "(at most 64 characters)."
            )
        if not isinstance(value, Mapping):
            raise CatalogError(f"{where}: the entry must be a mapping of fields.")
        is_chain = "fallbacks" in value
        if is_chain and {"name", "providers"} & set(value):
            raise CatalogError(f"{where}: a chain takes no 'name' or 'providers' field.")
        try:
            entry: ProviderEntry = (
                ModelChainSpec.model_validate({**value, "name": name})
                if is_chain
                else ProviderSpec.model_validate(value)
            )
        except ValidationError as exc:
            raise CatalogError(errors_at(where, exc)) from None
        if isinstance(entry, ProviderSpec) and not _registered(entry.type or name):
            if entry.type is None:
                raise CatalogError(
                    f"{where}: '{name}' is not a registered provider; set `type:` to the one "
                    "that serves it (e.g. openai_compatible)."
                )
            raise CatalogError(f"{where}.type: unknown provider type '{entry.type}'.")
        parsed[name] = entry
    for name, entry in list(parsed.items()):
        if isinstance(entry, ModelChainSpec):
            parsed[name] = _attach_providers(entry, parsed, f"{source}: providers.{name}")
    return parsed


def resolve_model(spec: ModelSpec, providers: Mapping[str, ProviderEntry], where: str) -> ModelSpec:
    model = spec.model
    where = f"{where}.model"
    if model is None:
        return spec
    if isinstance(model, ModelChainSpec):
        return spec.model_copy(update={"model": _attach_providers(model, providers, where)})
    if "/" not in model:
        chain = providers.get(model)
        if not isinstance(chain, ModelChainSpec):
            raise CatalogError(
                f"{where}: '{model}' is neither <provider>/<model> (e.g. 'local/smollm2') nor "
                "the name of a fallback chain in the providers section."
            )
        return spec.model_copy(update={"model": chain})
    provider, entry = _check_target(model, providers, where)
    if entry is None:
        return spec
    single = ModelChainSpec(
        fallbacks=[FallbackTargetSpec(model=model)], providers={provider: entry}
    )
    return spec.model_copy(update={"model": single})
