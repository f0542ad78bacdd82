"""Merging the database's agents and providers with ``liteagent.yaml`` (``merge_snapshot``):
YAML wins, broken entries are left out and reported, workflows may use API agents."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet

from liteagent.catalog import parse_catalog
from liteagent.catalog.runtime_store import merge_snapshot
from liteagent.llm.provider_specs import ModelChainSpec
from liteagent.security import EncryptionService
from liteagent.storage.catalog_models import ApiAgentRecord, ApiProviderRecord
from liteagent.storage.catalog_store import CatalogSnapshot

YAML = parse_catalog(
    {"models": {"assistant": {"system_prompt": "YAML.", "model": "openai/gpt-4o-mini"}}}
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
CRYPTO = EncryptionService(Fernet.generate_key())


def agent(name: str, definition: dict[str, Any], provider_id: str | None = None) -> ApiAgentRecord:
    return ApiAgentRecord(
        id=f"id-{name}",
        name=name,
        kind=definition.get("kind", "agent"),
        provider_id=provider_id,
        definition=json.dumps(definition),
        owner="team:t",
        created_at=NOW,
        updated_at=NOW,
    )


def provider(name: str, *, active: bool = True) -> ApiProviderRecord:
    return ApiProviderRecord(
        id=f"p-{name}",
        name=name,
        provider_type="openai",
        model_name="gpt-team",
        base_url="http://upstream.example/v1",
        api_key=CRYPTO.encrypt("sk-team-key-123456"),
        is_active=active,
        owner="team:t",
        created_at=NOW,
        updated_at=NOW,
    )


def test_yaml_wins_and_api_entries_are_served_beside_it() -> None:
    snapshot = CatalogSnapshot(
        version=3,
        providers=[provider("team")],
        agents=[
            agent("assistant", {"system_prompt": "from the API"}),
            agent("helper", {"system_prompt": "Help."}, provider_id="p-team"),
        ],
    )
    merged = merge_snapshot(YAML, snapshot, CRYPTO)
    assert merged.version == 3 and merged.shadowed == ("assistant",)
    assert merged.catalog.get("assistant").system_prompt == "YAML."  # type: ignore[union-attr]
    helper = merged.catalog.get("liteagent/helper")
    assert merged.runtime_names == {"helper"}
    assert isinstance(helper.model, ModelChainSpec)
    assert helper.model.fallbacks[0].model == "team/gpt-team"
    spec = helper.model.providers["team"]
    assert spec.api_key is not None and spec.api_key.get_secret_value() == "sk-team-key-123456"


def test_broken_entries_are_left_out_and_reported() -> None:
    snapshot = CatalogSnapshot(
        version=1,
        providers=[provider("off", active=False)],
        agents=[
            agent("orphan", {"system_prompt": "x"}, provider_id="p-gone"),
            agent("sleepy", {"system_prompt": "x"}, provider_id="p-off"),
            agent("fine", {"system_prompt": "x", "model": "openai/gpt-4o-mini"}),
        ],
    )
    merged = merge_snapshot(YAML, snapshot, CRYPTO)
    assert set(merged.invalid) == {"orphan", "sleepy"}
    assert "deleted or inactive" in merged.invalid["orphan"]
    assert merged.runtime_names == {"fine"}
    assert set(merged.catalog.entries) == {"assistant", "fine"}


def test_workflows_of_the_api_use_api_and_yaml_agents() -> None:
    nodes = {
        "start": {"type": "start"},
        "ask": {"type": "agent", "agent_id": "fine"},
        "end": {"type": "end"},
    }
    edges = [{"from": "start", "to": "ask"}, {"from": "ask", "to": "end"}]
    broken = {**nodes, "ask": {"type": "agent", "agent_id": "nobody"}}
    snapshot = CatalogSnapshot(
        version=2,
        providers=[],
        agents=[
            agent("fine", {"system_prompt": "x", "model": "openai/gpt-4o-mini"}),
            agent("flow", {"kind": "workflow", "nodes": nodes, "edges": edges}),
            agent("lost", {"kind": "workflow", "nodes": broken, "edges": edges}),
        ],
    )
    merged = merge_snapshot(YAML, snapshot, CRYPTO)
    assert merged.runtime_names == {"fine", "flow"}
    assert "nobody" in merged.invalid["lost"]
