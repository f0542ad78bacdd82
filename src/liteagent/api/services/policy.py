"""What a team or a user (not an admin) may put in an agent defined through the API.

An admin may define anything ``liteagent.yaml`` may. Anyone else must not borrow the server's
own access, so their entries are checked after the catalog's validation:

- RAG ``sources``: their own data sources (``datasource:<id>``), ``text:…`` and http(s) URLs
  (fetched under the outbound-URL policy). Files on the proxy's disk and ``gitlab:`` sources
  (read with the server's ``GITLAB_TOKEN``) are refused.
- ``mcp_servers``: streamable-HTTP servers whose URL the outbound-URL policy allows; a stdio
  server (a command run on the proxy's host) is refused.
- workflows: no node with ``allow_private_network: true``; AGENT nodes name ``liteagent.yaml``
  agents or the caller's own API agents.
"""

from __future__ import annotations

from liteagent.api.principal import Principal
from liteagent.catalog import AgentSpec, ModelSpec, RagSpec
from liteagent.catalog.specs import WorkflowSpec
from liteagent.config import Settings
from liteagent.datasources.stored_provider import PREFIX as STORED_PREFIX
from liteagent.errors import ValidationError
from liteagent.security.outbound import OutboundPolicy, OutboundURLError
from liteagent.storage.catalog_store import CatalogRepository

__all__ = ["check_delegated"]

_OPEN_SOURCES = ("text:", "http://", "https://")


async def check_delegated(
    spec: ModelSpec,
    principal: Principal,
    settings: Settings,
    repository: CatalogRepository,
    yaml_names: set[str],
) -> None:
    """Refuse what a non-admin may not define (422, naming the field).

    Raises:
        ValidationError: the entry uses the server's own access.
    """
    if principal.is_admin:
        return
    where = f"agents.{spec.name}"
    policy = OutboundPolicy.from_settings(settings, allow_private=settings.url_allow_private)
    if isinstance(spec, RagSpec):
        for source in spec.sources:
            if source.startswith(STORED_PREFIX):
                stored = await repository.get_datasource(source.removeprefix(STORED_PREFIX))
                if stored is None or not principal.can_access(stored.owner):
                    raise ValidationError(f"{where}.sources: no data source '{source}'.")
            elif not source.startswith(_OPEN_SOURCES):
                raise ValidationError(
                    f"{where}.sources: '{source}' would be read with the server's own access; "
                    "use a data source of this API (datasource:<id>), text:… or an http(s) URL."
                )
    if isinstance(spec, AgentSpec):
        for server in spec.mcp_servers:
            if server.command or server.url is None:
                raise ValidationError(
                    f"{where}.mcp_servers.{server.name}: only an admin may run a command on the "
                    "proxy's host; use a streamable-HTTP server (url)."
                )
            try:
                policy.parse(server.url)
            except OutboundURLError as exc:
                raise ValidationError(
                    f"{where}.mcp_servers.{server.name}.url: {exc.message}"
                ) from None
    if isinstance(spec, WorkflowSpec):
        for node in spec.definition.nodes:
            if node.config.get("allow_private_network"):
                raise ValidationError(
                    f"{where}.nodes.{node.id}.allow_private_network: only an admin may open the "
                    "private network to a workflow."
                )
            agent_id = node.config.get("agent_id")
            if isinstance(agent_id, str) and agent_id and agent_id not in yaml_names:
                named = await repository.get_agent_by_name(agent_id)
                if named is None or not principal.can_access(named.owner):
                    raise ValidationError(
                        f"{where}.nodes.{node.id}.agent_id: no agent '{agent_id}'."
                    )
