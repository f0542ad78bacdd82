"""``ProviderService``: LLM providers defined at run time, their API keys encrypted at rest."""

from __future__ import annotations

from typing import Any

from liteagent.api.schemas import LLMProvider, LLMProviderCreate, LLMProviderUpdate
from liteagent.api.services.owned import OwnedResourceService
from liteagent.errors import ConflictError, ProviderNotFoundError, ValidationError
from liteagent.security.outbound import OutboundPolicy, OutboundURLError
from liteagent.storage.catalog_models import ApiProviderRecord
from liteagent.storage.catalog_store import new_id

__all__ = ["ProviderService", "mask_secret"]


def mask_secret(secret: str) -> str:
    """``sk-...abcd``: the first three and last four characters of a long secret, else ``****``."""
    if len(secret) < 12:
        return "****"
    return f"{secret[:3]}...{secret[-4:]}"


def _registered(provider_type: str) -> bool:
    from liteagent.llm.factory import llm_registry

    return llm_registry.has(provider_type)


class ProviderService(OwnedResourceService[ApiProviderRecord, LLMProvider]):
    """The seeds' provider service, scoped to one caller."""

    noun = "provider"
    not_found = ProviderNotFoundError

    def to_schema(self, record: ApiProviderRecord) -> LLMProvider:
        """The provider as the API shows it (the key masked, never in plain text)."""
        masked = None
        if record.api_key:
            masked = mask_secret(self.context.encryption.decrypt(record.api_key))
        return LLMProvider(
            id=record.id,
            name=record.name,
            provider_type=record.provider_type,
            model_name=record.model_name,
            base_url=record.base_url,
            api_key_masked=masked,
            is_active=record.is_active,
            owner=record.owner,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )

    # the seeds' parameter names
    async def get_by_id(self, provider_id: str) -> LLMProvider | None:
        return await super().get_by_id(provider_id)

    async def delete(self, provider_id: str) -> bool:
        return await super().delete(provider_id)

    def _check_base_url(self, base_url: str | None) -> None:
        """A non-admin's provider may reach only where URL data sources may (the outbound-URL
        policy: no cloud metadata address; private ones only with LITEAGENT_URL_ALLOW_PRIVATE);
        admins configure any address, as they could in liteagent.yaml."""
        if base_url is None or self.principal.is_admin:
            return
        settings = self.context.settings
        policy = OutboundPolicy.from_settings(settings, allow_private=settings.url_allow_private)
        try:
            policy.parse(base_url)
        except OutboundURLError as exc:
            raise ValidationError(f"base_url: {exc.message}") from None

    def _check(self, name: str | None, provider_type: str | None) -> None:
        if name is not None and name in self.context.yaml_catalog.providers:
            raise ConflictError(
                f"The provider name '{name}' is taken by liteagent.yaml (its entries win); "
                "choose another name."
            )
        if provider_type is not None and not _registered(provider_type):
            from liteagent.llm.factory import llm_registry

            known = ", ".join(sorted(llm_registry.list_providers()))
            raise ValidationError(
                f"provider_type: unknown provider type '{provider_type}'; known: {known}."
            )

    async def create(self, data: LLMProviderCreate) -> LLMProvider:
        """Store a new provider (its key encrypted).

        Raises:
            ConflictError: the name is taken (by liteagent.yaml or another provider).
            ValidationError: the provider type is not registered.
        """
        self._check(data.name, data.provider_type)
        self._check_base_url(data.base_url)
        key = data.api_key.get_secret_value() if data.api_key else None
        record = ApiProviderRecord(
            id=new_id(),
            name=data.name,
            provider_type=data.provider_type,
            model_name=data.model_name,
            base_url=data.base_url,
            api_key=self.context.encryption.encrypt(key) if key else None,
            is_active=data.is_active,
            owner=self.principal.owner,
        )
        return await self._insert(record, provider=record.name, owner=record.owner)

    async def get_all(self, active_only: bool = False) -> list[LLMProvider]:
        """The caller's providers (an admin: everyone's)."""
        records = await self.records()
        return [self.to_schema(r) for r in records if r.is_active or not active_only]

    async def update(self, provider_id: str, data: LLMProviderUpdate) -> LLMProvider | None:
        """Change the provider; ``None`` if the caller has no such provider.

        Raises:
            ConflictError: the new name is taken.
            ValidationError: the new provider type is not registered.
        """
        if await self.record(provider_id) is None:
            return None
        given = data.model_dump(exclude_unset=True)
        for required in ("name", "provider_type", "is_active"):
            if required in given and given[required] is None:
                raise ValidationError(f"{required}: may not be null.")
        self._check(data.name, data.provider_type)
        self._check_base_url(data.base_url)
        fields: dict[str, Any] = {k: v for k, v in given.items() if k != "api_key"}
        if "api_key" in given:
            key = data.api_key.get_secret_value() if data.api_key else None
            fields["api_key"] = self.context.encryption.encrypt(key) if key else None
        return await self._apply(provider_id, fields, changed=fields)

    async def _check_deletable(self, record: ApiProviderRecord) -> None:
        """A provider agents still use is not removed (409)."""
        users = await self.repository.agents_using_provider(record.id)
        if users:
            raise ConflictError(
                f"Provider '{record.name}' is used by agent(s) {', '.join(sorted(users))}; "
                "change or delete them first."
            )
