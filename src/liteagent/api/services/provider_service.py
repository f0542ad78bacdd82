"""``ProviderService``: LLM providers defined at run time, their API keys encrypted at rest."""

from __future__ import annotations

from typing import Any

from liteagent.api.principal import Principal
from liteagent.api.schemas import LLMProvider, LLMProviderCreate, LLMProviderUpdate
from liteagent.api.services.context import ApiContext
from liteagent.errors import ConflictError, ValidationError
from liteagent.log import get_logger
from liteagent.security.outbound import OutboundPolicy, OutboundURLError
from liteagent.storage.catalog_models import ApiProviderRecord
from liteagent.storage.catalog_store import DuplicateNameError, new_id

__all__ = ["ProviderService", "mask_secret"]

logger = get_logger(__name__)


def mask_secret(secret: str) -> str:
    """``sk-...abcd``: the first three and last four characters of a long secret, else ``****``."""
    if len(secret) < 12:
        return "****"
    return f"{secret[:3]}...{secret[-4:]}"


def _registered(provider_type: str) -> bool:
    from liteagent.llm.factory import llm_registry

    return llm_registry.has(provider_type)


class ProviderService:
    """The seeds' provider service, scoped to one caller.

    Args:
        context: The app's shared parts.
        principal: The caller: sees and changes only what ``principal.can_access`` allows.
    """

    def __init__(self, context: ApiContext, principal: Principal) -> None:
        self.context = context
        self.principal = principal
        self.repository = context.repository

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

    async def record(self, provider_id: str) -> ApiProviderRecord | None:
        """The caller's provider ``provider_id`` (``None`` if absent or someone else's)."""
        record = await self.repository.get_provider(provider_id)
        if record is None or not self.principal.can_access(record.owner):
            return None
        return record

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
        try:
            await self.repository.add_provider(record)
        except DuplicateNameError:
            raise ConflictError(f"A provider named '{data.name}' exists already.") from None
        logger.info("api_provider_created", provider=record.name, owner=record.owner)
        await self.context.changed()
        return self.to_schema(record)

    async def get_by_id(self, provider_id: str) -> LLMProvider | None:
        """The provider, if the caller may see it."""
        record = await self.record(provider_id)
        return self.to_schema(record) if record is not None else None

    async def get_all(self, active_only: bool = False) -> list[LLMProvider]:
        """The caller's providers (an admin: everyone's)."""
        owner = None if self.principal.is_admin else self.principal.owner
        records = await self.repository.list_providers(owner=owner)
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
        try:
            record = await self.repository.update_provider(provider_id, fields)
        except DuplicateNameError:
            raise ConflictError(f"A provider named '{data.name}' exists already.") from None
        if record is None:
            return None
        logger.info("api_provider_updated", provider=record.name, fields=sorted(fields))
        await self.context.changed()
        return self.to_schema(record)

    async def delete(self, provider_id: str) -> bool:
        """Remove the provider; ``False`` if the caller has no such provider.

        Raises:
            ConflictError: agents still use it.
        """
        record = await self.record(provider_id)
        if record is None:
            return False
        users = await self.repository.agents_using_provider(provider_id)
        if users:
            raise ConflictError(
                f"Provider '{record.name}' is used by agent(s) {', '.join(sorted(users))}; "
                "change or delete them first."
            )
        deleted = await self.repository.delete_provider(provider_id)
        if deleted:
            logger.info("api_provider_deleted", provider=record.name)
            await self.context.changed()
        return deleted
