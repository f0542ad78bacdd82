"""The catalog's providers section, the fallback-chain ``model:`` forms, and ``create_llm``."""

from __future__ import annotations

import pytest

from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.errors import CatalogError, ConfigurationError
from liteagent.llm import (
    ResilientLLM,
    ScriptedModel,
    create_llm,
    fallback_chains,
    record_llm_calls,
)
from liteagent.llm.provenance import summarize_calls
from liteagent.llm.provider_specs import ModelChainSpec, ProviderSpec

SETTINGS = Settings(_env_file=None)


def catalog(models: dict, providers: dict | None = None):
    data: dict = {"models": models}
    if providers is not None:
        data["providers"] = providers
    return parse_catalog(data, source="liteagent.yaml")


def agent(model) -> dict:
    return {"system_prompt": "hi", "model": model}


def test_named_chain_and_provider_aliases_resolve_into_the_spec() -> None:
    cat = catalog(
        {"a": agent("resilient"), "b": agent("azure/gpt-4o"), "c": agent("openai/gpt-4o-mini")},
        {
            "azure": {
                "type": "openai_compatible",
                "base_url": "https://example-resource.invalid/openai/deployments/gpt-4o",
                "api_key": "azure-literal-secret-0123",
                "api_version": "2024-10-21",
                "api_key_header": "api-key",
            },
            "resilient": {
                "fallbacks": ["azure/gpt-4o", {"model": "local/smollm2", "weight": 2}],
                "strategy": "weighted",
            },
        },
    )
    a = cat.get("a").model
    assert isinstance(a, ModelChainSpec) and a.name == "resilient" and a.strategy == "weighted"
    assert [t.model for t in a.fallbacks] == ["azure/gpt-4o", "local/smollm2"]
    assert a.fallbacks[1].weight == 2 and set(a.providers) == {"azure"}
    b = cat.get("b").model
    assert isinstance(b, ModelChainSpec) and str(b) == "azure/gpt-4o"  # a one-model chain
    assert f"{b:<20}|" == "azure/gpt-4o        |"
    assert cat.get("c").model == "openai/gpt-4o-mini"  # no provider settings: kept as is
    assert "azure-literal-secret-0123" not in repr(cat)  # SecretStr: never printed


def test_inline_chain() -> None:
    cat = catalog({"a": agent({"fallbacks": ["openai/gpt-4o", "local/smollm2"]})})
    chain = cat.get("a").model
    assert isinstance(chain, ModelChainSpec) and chain.strategy == "priority"
    assert chain.label == "openai/gpt-4o,local/smollm2"


@pytest.mark.parametrize(
    ("models", "providers", "message"),
    [
        ({"a": agent("nochain")}, {}, r"models\.a\.model: 'nochain' is neither <provider>/<model>"),
        ({"a": agent("nope/x")}, {}, r"models\.a\.model: unknown provider 'nope'"),
        (
            {"a": agent({"fallbacks": ["openai/x", "ghost/y"]})},
            {},
            r"models\.a\.model\.fallbacks\.1: unknown provider 'ghost'",
        ),
        (
            {"a": agent({"fallbacks": []})},
            {},
            r"models\.a\.model\.fallbacks: List should have at least 1 item",
        ),
        (
            {"a": agent({"fallbacks": ["openai/x"], "strategy": "fastest"})},
            {},
            r"models\.a\.model\.strategy: Input should be 'priority'",
        ),
        (
            {"a": agent({"fallbacks": ["openai/x"], "providers": {}})},
            {},
            r"configure providers in the top-level providers section",
        ),
        ({"a": agent("x")}, {"vllm": {"base_url": "http://h"}}, r"providers\.vllm: 'vllm' is not"),
        ({"a": agent("x")}, {"v": {"type": "warp"}}, r"providers\.v\.type: unknown provider type"),
        ({"a": agent("x")}, {"openai": {"api_kee": "k"}}, r"providers\.openai\.api_kee"),
        (
            {"a": agent("c1")},
            {"c0": {"fallbacks": ["openai/x"]}, "c1": {"fallbacks": ["c0/x"]}},
            r"providers\.c1\.fallbacks\.0: 'c0/x': 'c0' is a fallback chain",
        ),
        ({"a": agent("x")}, {"Bad Name": {}}, r"providers\.Bad Name: names must be"),
    ],
)
def test_catalog_errors_name_the_field(models: dict, providers: dict, message: str) -> None:
    with pytest.raises(CatalogError, match=message) as err:
        catalog(models, providers)
    assert str(err.value).startswith("liteagent.yaml: ")


def test_unknown_top_level_key_still_refused() -> None:
    with pytest.raises(CatalogError, match="expected models, providers"):
        parse_catalog({"models": {}, "provider": {}})


def test_in_process_models_are_returned_as_they_are(tmp_path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("- hello\n")
    llm = create_llm(f"scripted/{script}", settings=SETTINGS)
    assert isinstance(llm, ScriptedModel)


def test_network_models_get_a_one_model_resilient_chain() -> None:
    llm = create_llm("openai/gpt-4o-mini", settings=SETTINGS)
    assert isinstance(llm, ResilientLLM) and llm.model_id == "openai/gpt-4o-mini"
    assert [m.name for m in llm.chain.models] == ["openai/gpt-4o-mini"]
    assert llm.chain.retry.max_retries == SETTINGS.llm_max_retries


def test_chains_are_shared_so_run_time_changes_reach_every_agent() -> None:
    spec = ModelChainSpec(fallbacks=["openai/a", "openai/b"], name="shared-one")
    first = create_llm(spec, settings=SETTINGS)
    second = create_llm(spec, settings=SETTINGS)
    assert isinstance(first, ResilientLLM) and isinstance(second, ResilientLLM)
    assert first.chain is second.chain is fallback_chains.get("shared-one")
    first.chain.disable_model("openai/a")
    assert [m.name for m in second.chain.get_ordered_models()] == ["openai/b"]


def test_named_chain_by_name_needs_the_providers_section() -> None:
    providers = {"backup": ModelChainSpec(fallbacks=["openai/x"], name="backup")}
    assert isinstance(create_llm("backup", settings=SETTINGS, providers=providers), ResilientLLM)
    with pytest.raises(ConfigurationError, match="neither <provider>/<model>"):
        create_llm("backup", settings=SETTINGS)


@pytest.mark.integration
async def test_missing_environment_variable_is_named_not_guessed(
    openai_server, monkeypatch
) -> None:
    server, url = openai_server
    monkeypatch.delenv("LITEAGENT_TEST_UPSTREAM_KEY", raising=False)
    spec = ProviderSpec(
        type="openai", base_url=url, api_key="os.environ/LITEAGENT_TEST_UPSTREAM_KEY"
    )
    chain = ModelChainSpec(fallbacks=["up/gpt-test"], providers={"up": spec})
    llm = create_llm(chain, settings=SETTINGS)
    with pytest.raises(ConfigurationError, match="LITEAGENT_TEST_UPSTREAM_KEY, which is not set"):
        await llm.chat([{"role": "user", "content": "x"}])
    assert server.requests == []

    monkeypatch.setenv("LITEAGENT_TEST_UPSTREAM_KEY", "sk-from-the-environment-123456")
    server.reply_text("hello")
    llm = create_llm(chain, settings=SETTINGS)
    assert (await llm.chat([{"role": "user", "content": "x"}])).content == "hello"
    headers = server.requests[0]["headers"]
    assert headers["authorization"] == "Bearer sk-from-the-environment-123456"


@pytest.mark.integration
async def test_headers_from_the_providers_section(openai_server, monkeypatch) -> None:
    server, url = openai_server
    monkeypatch.setenv("TENANT_TOKEN", "tenant-secret-value")
    server.reply_text("ok")
    providers = {
        "gw": ProviderSpec.model_validate(
            {
                "type": "openai_compatible",
                "base_url": url,
                "headers": {"X-Tenant-Token": "os.environ/TENANT_TOKEN", "X-Team": "ml"},
                "timeout": 5,
            }
        )
    }
    llm = create_llm("gw/served-model", settings=SETTINGS, providers=providers)
    await llm.chat([{"role": "user", "content": "x"}])
    sent = server.requests[0]
    assert sent["headers"]["x-tenant-token"] == "tenant-secret-value"
    assert sent["headers"]["x-team"] == "ml"
    assert sent["body"]["model"] == "served-model"
    assert "tenant-secret-value" not in repr(providers)


@pytest.mark.integration
async def test_settings_credentials_for_anthropic(anthropic_server) -> None:
    server, url = anthropic_server
    server.reply_text("claude says hi")
    settings = Settings(
        _env_file=None, anthropic_api_key="sk-ant-env-0123456789", anthropic_base_url=url
    )
    llm = create_llm("anthropic/claude-test", settings=settings)
    with record_llm_calls() as calls:
        answer = await llm.chat([{"role": "user", "content": "hi"}])
    assert answer.content == "claude says hi"
    assert answer.provenance is not None and answer.provenance.model == "anthropic/claude-test"
    assert server.requests[0]["headers"]["x-api-key"] == "sk-ant-env-0123456789"
    summary = summarize_calls(calls)
    assert summary["model"] == "anthropic/claude-test" and summary["fallback_used"] is False


async def test_recorder_collects_calls_from_child_tasks() -> None:
    import asyncio

    from liteagent.llm.provenance import Provenance, note_llm_call

    async def call(model: str) -> None:
        note_llm_call(Provenance(requested_model="a/1", model=model))

    with record_llm_calls() as calls:
        await asyncio.gather(call("a/1"), call("b/2"))
    note_llm_call(Provenance(requested_model="x/1", model="x/1"))  # outside: not recorded
    assert sorted(c.model for c in calls) == ["a/1", "b/2"]
    summary = summarize_calls(calls)
    assert summary["llm_calls"] == 2
    assert summarize_calls([], "local/smollm2")["model"] == "local/smollm2"
    assert summarize_calls([]) == {}
