"""The generic resource routes (``ResourceRoutes``) name their operations as the hand-written
routes did: operation ids, summaries, the path parameter and the statuses are the OpenAPI
contract clients are generated from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from liteagent.api import LiteLLMKeyAuthenticator, create_app
from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.proxy import LiteAgentLLM
from tests.integration.api.support import YAML_CATALOG, litellm_check

# (path, method) → (operationId, summary, statuses)
OPERATIONS = {
    ("/providers", "post"): (
        "create_provider_providers_post",
        "Create Provider",
        "201 401 409 422",
    ),
    ("/providers", "get"): ("list_providers_providers_get", "List Providers", "200 401 422"),
    ("/providers/{provider_id}", "get"): (
        "get_provider_providers__provider_id__get",
        "Get Provider",
        "200 401 404 422",
    ),
    ("/providers/{provider_id}", "patch"): (
        "update_provider_providers__provider_id__patch",
        "Update Provider",
        "200 401 404 409 422",
    ),
    ("/providers/{provider_id}", "delete"): (
        "delete_provider_providers__provider_id__delete",
        "Delete Provider",
        "204 401 404 409 422",
    ),
    ("/agents", "post"): ("create_agent_agents_post", "Create Agent", "201 401 409 422"),
    ("/agents", "get"): ("list_agents_agents_get", "List Agents", "200 401"),
    ("/agents/{agent_id}", "get"): (
        "get_agent_agents__agent_id__get",
        "Get Agent",
        "200 401 404 422",
    ),
    ("/agents/{agent_id}", "patch"): (
        "update_agent_agents__agent_id__patch",
        "Update Agent",
        "200 401 404 409 422",
    ),
    ("/agents/{agent_id}", "delete"): (
        "delete_agent_agents__agent_id__delete",
        "Delete Agent",
        "204 401 404 422",
    ),
    ("/datasources", "post"): (
        "create_datasource_datasources_post",
        "Create Datasource",
        "201 401 422 502",
    ),
    ("/datasources", "get"): ("list_datasources_datasources_get", "List Datasources", "200 401"),
    ("/datasources/{datasource_id}", "get"): (
        "get_datasource_datasources__datasource_id__get",
        "Get Datasource",
        "200 401 404 422",
    ),
    ("/datasources/{datasource_id}", "patch"): (
        "update_datasource_datasources__datasource_id__patch",
        "Update Datasource",
        "200 401 404 409 422 502",
    ),
    ("/datasources/{datasource_id}", "delete"): (
        "delete_datasource_datasources__datasource_id__delete",
        "Delete Datasource",
        "204 401 404 422",
    ),
}


@pytest.fixture
def spec(tmp_path: Path) -> dict[str, Any]:
    handler = LiteAgentLLM(
        settings=Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/api.db"),
        catalog=parse_catalog(YAML_CATALOG),
    )
    app = create_app(handler=handler, authenticator=LiteLLMKeyAuthenticator(litellm_check))
    document: dict[str, Any] = app.openapi()
    return document


def test_generic_routes_keep_their_operation_names_and_statuses(spec: dict[str, Any]) -> None:
    found = {
        (path, method): (op["operationId"], op["summary"], " ".join(sorted(op["responses"])))
        for path, operations in spec["paths"].items()
        for method, op in operations.items()
        if (path, method) in OPERATIONS
    }
    assert found == OPERATIONS


@pytest.mark.parametrize("noun", ["provider", "agent", "datasource"])
def test_the_id_keeps_its_name_and_rules(spec: dict[str, Any], noun: str) -> None:
    for method, op in spec["paths"][f"/{noun}s/{{{noun}_id}}"].items():
        (parameter,) = op["parameters"]
        assert parameter["name"] == f"{noun}_id" and parameter["in"] == "path", method
        assert parameter["schema"] == {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "description": "The resource's id.",
            "title": f"{noun.capitalize()} Id",
        }


def test_bodies_and_answers_keep_their_schemas(spec: dict[str, Any]) -> None:
    def ref(content: dict[str, Any]) -> Any:
        return content["application/json"]["schema"]

    agents = spec["paths"]["/agents"]
    assert ref(agents["post"]["requestBody"]["content"]) == {
        "$ref": "#/components/schemas/AgentCreate"
    }
    assert ref(agents["get"]["responses"]["200"]["content"])["items"] == {
        "$ref": "#/components/schemas/Agent"
    }
    patch = spec["paths"]["/datasources/{datasource_id}"]["patch"]
    assert ref(patch["requestBody"]["content"]) == {"$ref": "#/components/schemas/DataSourceUpdate"}
    assert "content" not in spec["paths"]["/providers/{provider_id}"]["delete"]["responses"]["204"]


# The seeds' service methods, with their parameters (the module reference's public contract).
SEED_SERVICES = {
    "AgentService": {
        "create": ["data"],
        "get_by_id": ["agent_id"],
        "get_all": [],
        "update": ["agent_id", "data"],
        "delete": ["agent_id"],
        "chat": ["agent_id", "request"],
    },
    "DataSourceService": {
        "create": ["data"],
        "get_by_id": ["datasource_id"],
        "get_all": [],
        "get_by_ids": ["ids"],
        "update": ["datasource_id", "data"],
        "delete": ["datasource_id"],
        "refresh_content": ["datasource_id"],
    },
    "ProviderService": {
        "create": ["data"],
        "get_by_id": ["provider_id"],
        "get_all": ["active_only"],
        "update": ["provider_id", "data"],
        "delete": ["provider_id"],
    },
}


@pytest.mark.parametrize("service", sorted(SEED_SERVICES))
def test_services_keep_the_seeds_method_and_parameter_names(service: str) -> None:
    import inspect

    from liteagent.api import services

    cls = getattr(services, service)
    for method, parameters in SEED_SERVICES[service].items():
        signature = inspect.signature(getattr(cls, method))
        assert list(signature.parameters)[1:] == parameters, (service, method)
