"""The management API in-process, over a real SQLite file and a scripted OpenAI-wire upstream.

Callers authenticate with the proxy's authenticator (``LiteLLMKeyAuthenticator``), driven by
LiteLLM ``UserAPIKeyAuth`` objects shaped as LiteLLM's ``user_api_key_auth`` returns them: the
master key as a proxy admin, virtual keys with their team and user.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from litellm.proxy._types import LitellmUserRoles, ProxyErrorTypes, ProxyException, UserAPIKeyAuth

from liteagent.api import LiteLLMKeyAuthenticator, create_app
from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.proxy import LiteAgentLLM
from tests.servers.http import serve_app
from tests.servers.openai_wire import OpenAIWireServer

MASTER = "sk-master-key-0123456789"
TEAM_A = "sk-team-a-key-0123456789"
TEAM_B = "sk-team-b-key-0123456789"
LONE_USER = "sk-lone-user-key-0123456789"
PROVIDER_KEY = "sk-provider-secret-7f3a9c2e5b1d"

KEYS = {
    MASTER: UserAPIKeyAuth(
        api_key="litellm_proxy_master_key",
        user_role=LitellmUserRoles.PROXY_ADMIN,
        user_id="default_user_id",
    ),
    TEAM_A: UserAPIKeyAuth(
        token="a" * 64, team_id="team-a", user_id="alice", user_role=LitellmUserRoles.INTERNAL_USER
    ),
    TEAM_B: UserAPIKeyAuth(
        token="b" * 64, team_id="team-b", user_id="bob", user_role=LitellmUserRoles.INTERNAL_USER
    ),
    LONE_USER: UserAPIKeyAuth(token="c" * 64, user_id="carol", rpm_limit=30),
}


async def litellm_check(token: str) -> UserAPIKeyAuth:
    """What LiteLLM's ``user_api_key_auth`` answers for these keys (and raises for others)."""
    key = KEYS.get(token)
    if key is None:
        raise ProxyException(
            message="Authentication Error, Invalid proxy server token passed.",
            type=ProxyErrorTypes.auth_error,
            param="api_key",
            code=401,
        )
    return key


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


YAML_CATALOG = {
    "models": {
        "yaml-bot": {"system_prompt": "You are the YAML bot.", "model": "openai/gpt-test"},
    }
}


@dataclass
class Api:
    client: httpx.AsyncClient
    handler: LiteAgentLLM
    upstream: OpenAIWireServer
    upstream_url: str
    database: Path

    async def create_provider(self, token: str, name: str, **extra: Any) -> dict[str, Any]:
        body = {
            "name": name,
            "provider_type": "openai",
            "model_name": "gpt-test",
            "api_key": PROVIDER_KEY,
            "base_url": f"{self.upstream_url}/v1",
            **extra,
        }
        r = await self.client.post("/providers", json=body, headers=auth(token))
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def create_agent(self, token: str, name: str, **extra: Any) -> dict[str, Any]:
        body = {"name": name, "system_prompt": f"You are {name}.", **extra}
        r = await self.client.post("/agents", json=body, headers=auth(token))
        assert r.status_code == 201, r.text
        return dict(r.json())


@contextmanager
def upstream() -> Iterator[tuple[OpenAIWireServer, str]]:
    server = OpenAIWireServer()
    with serve_app(server.app) as url:
        yield server, url


@asynccontextmanager
async def running_api(tmp_path: Path, **settings: Any) -> AsyncIterator[Api]:
    database = tmp_path / "liteagent.db"
    with upstream() as (server, url):
        options: dict[str, Any] = {
            "database_url": f"sqlite+aiosqlite:///{database}",
            "encryption_key": Fernet.generate_key().decode(),
            "openai_api_key": "sk-yaml-upstream-key-000",
            "openai_base_url": f"{url}/v1",
            "catalog_refresh_seconds": 0,
            "environment": "test",
            # the upstream listens on a loopback address, as a team's own server could
            "url_allow_private": True,
            **settings,
        }
        handler = LiteAgentLLM(settings=Settings(**options), catalog=parse_catalog(YAML_CATALOG))
        app = create_app(handler=handler, authenticator=LiteLLMKeyAuthenticator(litellm_check))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            try:
                yield Api(client, handler, server, url, database)
            finally:
                await handler.aclose()
