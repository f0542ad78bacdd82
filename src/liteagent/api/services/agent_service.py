"""``AgentService``: agents defined at run time, served as ``liteagent/<name>``.

Definitions go through the catalog's own validation (``validate_definition``: the specs every
``liteagent.yaml`` entry goes through). Chats go through LiteLLM inside the proxy, straight to
the handler standalone (``chat_paths``), and either way take the handler's normal path: the
per-chat turn lock, credential scrubbing, the cached runner, the run store with its approvals.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from liteagent.api.principal import Principal
from liteagent.api.schemas import (
    Agent,
    AgentCreate,
    AgentUpdate,
    ChatRequest,
    ChatResponse,
)
from liteagent.api.services.chat_paths import ChatPath, GatewayPath, HandlerPath
from liteagent.api.services.context import ApiContext
from liteagent.api.services.owned import OwnedResourceService
from liteagent.api.services.policy import check_delegated
from liteagent.catalog import MODEL_PREFIX
from liteagent.catalog.runtime_store import validate_definition
from liteagent.errors import AgentNotFoundError, CatalogError, ConflictError, ValidationError
from liteagent.storage.catalog_models import ApiAgentRecord, ApiProviderRecord
from liteagent.storage.catalog_store import new_id

__all__ = ["AgentService"]

_NOT_DEFINITION = {"name", "provider_id"}


class AgentService(OwnedResourceService[ApiAgentRecord, Agent]):
    """The seeds' agent service, scoped to one caller.

    Args:
        context: The app's shared parts.
        principal: The caller: sees and changes only what ``principal.can_access`` allows.
        headers: The request's headers (inside the proxy its key goes on to LiteLLM's chat).
    """

    noun = "agent"
    not_found = AgentNotFoundError

    def __init__(
        self,
        context: ApiContext,
        principal: Principal,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(context, principal)
        self.headers = dict(headers or {})  # the caller's key, forwarded to LiteLLM's chat
        self.chat_path: ChatPath = (
            HandlerPath(context.handler, principal)
            if context.gateway is None
            else GatewayPath(context.gateway, self.headers)
        )

    # ----------------------------------------------------------------- views
    def to_schema(self, record: ApiAgentRecord) -> Agent:
        """The agent, with whether this replica serves it."""
        served = self.context.served
        error = served.invalid.get(record.name)
        if record.name in served.shadowed:
            status = "shadowed"
            error = f"liteagent.yaml defines '{record.name}' too; its entry is served."
        elif error is not None:
            status = "invalid"
        elif record.name in served.runtime_names:
            status = "served"
        else:
            status = "pending"
        return Agent(
            id=record.id,
            name=record.name,
            model=f"{MODEL_PREFIX}{record.name}",
            kind=record.kind,
            provider_id=record.provider_id,
            definition=json.loads(record.definition),
            status=status,
            error=error,
            owner=record.owner,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )

    # the seeds' parameter names
    async def get_by_id(self, agent_id: str) -> Agent | None:
        return await super().get_by_id(agent_id)

    async def delete(self, agent_id: str) -> bool:
        return await super().delete(agent_id)

    # ----------------------------------------------------------------- checks
    async def _provider(self, provider_id: str | None) -> ApiProviderRecord | None:
        if provider_id is None:
            return None
        provider = await self.repository.get_provider(provider_id)
        if provider is None or not self.principal.can_access(provider.owner):
            raise ValidationError(f"provider_id: no provider '{provider_id}'.")
        if not provider.is_active:
            raise ValidationError(f"provider_id: provider '{provider.name}' is inactive.")
        return provider

    def _name_free_of_yaml(self, name: str) -> None:
        if name in self.context.yaml_catalog.entries:
            raise ConflictError(
                f"The name '{name}' is taken by liteagent.yaml, whose entries win; choose "
                "another name."
            )

    async def _validated(
        self, name: str, definition: dict[str, Any], provider: ApiProviderRecord | None
    ) -> str:
        fresh = await self.context.fresh()
        others = {n: s for n, s in fresh.catalog.entries.items() if n != name}
        try:
            spec = validate_definition(
                name, definition, fresh.catalog.providers, provider=provider, agents=others
            )
        except CatalogError as exc:
            raise ValidationError(exc.message) from None
        yaml_names = set(self.context.yaml_catalog.entries)
        await check_delegated(
            spec, self.principal, self.context.settings, self.repository, yaml_names
        )
        return spec.kind

    # ----------------------------------------------------------------- CRUD
    async def create(self, data: AgentCreate) -> Agent:
        """Define an agent; it is served as ``liteagent/<name>`` once stored.

        Raises:
            ConflictError: the name is taken (by liteagent.yaml or another agent).
            ValidationError: the definition breaks the catalog's rules (the field is named).
        """
        self._name_free_of_yaml(data.name)
        provider = await self._provider(data.provider_id)
        definition = data.model_dump(exclude=_NOT_DEFINITION, exclude_none=True)
        kind = await self._validated(data.name, definition, provider)
        record = ApiAgentRecord(
            id=new_id(),
            name=data.name,
            kind=kind,
            provider_id=data.provider_id,
            definition=json.dumps(definition),
            owner=self.principal.owner,
        )
        return await self._insert(record, agent=record.name, kind=kind, owner=record.owner)

    async def update(self, agent_id: str, data: AgentUpdate) -> Agent | None:
        """Change the agent; its cached runners are dropped on every replica.

        Raises:
            ConflictError: the new name is taken.
            ValidationError: the changed definition breaks the catalog's rules.
        """
        record = await self.record(agent_id)
        if record is None:
            return None
        given = data.model_dump(exclude_unset=True)
        name = given.get("name") or record.name
        if name != record.name:
            self._name_free_of_yaml(name)
        provider_id = given.get("provider_id", record.provider_id)
        provider = await self._provider(provider_id)
        definition = json.loads(record.definition)
        for key, value in given.items():
            if key in _NOT_DEFINITION:
                continue
            if value is None:
                definition.pop(key, None)
            else:
                definition[key] = value
        kind = await self._validated(name, definition, provider)
        fields = {
            "name": name,
            "kind": kind,
            "provider_id": provider_id,
            "definition": json.dumps(definition),
        }
        return await self._apply(agent_id, fields, changed=given)

    # ----------------------------------------------------------------- chat
    async def _served_model(self, agent_id: str) -> str | None:
        """The model serving the caller's agent (``None`` if the caller has no such agent).

        Raises:
            ConflictError: the agent is not served (shadowed by liteagent.yaml, or invalid).
        """
        record = await self.record(agent_id)
        if record is None:
            return None
        agent = self.to_schema(record)
        if agent.status != "served":
            raise ConflictError(
                f"Agent '{record.name}' is not served ({agent.status})"
                + (f": {agent.error}" if agent.error else ".")
            )
        return agent.model

    async def chat(self, agent_id: str, request: ChatRequest) -> ChatResponse | None:
        """One turn with the agent (``None`` if the caller has no such agent).

        Raises:
            ConflictError: the agent is not served (shadowed by liteagent.yaml, or invalid).
        """
        model = await self._served_model(agent_id)
        return None if model is None else await self.chat_path.chat(model, request)

    async def stream(
        self, agent_id: str, request: ChatRequest
    ) -> AsyncIterator[str] | AsyncIterator[bytes] | None:
        """The turn as server-sent events (``None`` if the caller has no such agent).

        Raises:
            ConflictError: the agent is not served.
        """
        model = await self._served_model(agent_id)
        return None if model is None else await self.chat_path.stream(model, request)
