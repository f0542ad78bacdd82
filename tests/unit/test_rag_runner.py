"""The ``rag`` catalog kind through the handler, driven the way LiteLLM drives it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from litellm.types.utils import ModelResponse

from liteagent.catalog import RagSpec, parse_catalog
from liteagent.config import Settings
from liteagent.errors import CatalogError
from liteagent.proxy import LiteAgentLLM
from tests.servers.http import free_port


def call_kwargs() -> dict[str, Any]:
    """What LiteLLM's proxy passes a CustomLLM for a request authenticated as ``owui``."""
    return {
        "model_response": ModelResponse(),
        "optional_params": {},
        "litellm_params": {
            "metadata": {"user_api_key_user_id": "owui", "headers": {}},
            "litellm_call_id": "req-rag",
        },
    }


DOCS = {
    "docs/install.md": "# Install\n\nRun `uv sync` to install LiteAgent. It needs Python 3.11.\n",
    "docs/ports.md": "# Ports\n\nThe proxy listens on port 8890 unless LITEAGENT_PORT is set.\n",
    "notes/budget.md": "# Budgets\n\nVirtual keys and budgets need PostgreSQL and Prisma.\n",
}


def make_handler(
    tmp_path: Path, entry: dict[str, Any], script: list[Any] | None = None
) -> LiteAgentLLM:
    for name, text in DOCS.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    if script is not None:
        (tmp_path / "script.yaml").write_text(yaml.safe_dump(script))
        entry = {"model": f"scripted/{tmp_path / 'script.yaml'}", **entry}
    catalog = {"models": {"kb": {"kind": "rag", "sources": ["docs/", "notes/"], **entry}}}
    (tmp_path / "liteagent.yaml").write_text(yaml.safe_dump(catalog))
    settings = Settings(
        catalog_path=tmp_path / "liteagent.yaml",
        knowledge_dir=tmp_path / "knowledge",
        embedder="none",
        # Nothing listens there: an "openai/..." model is unreachable.
        openai_base_url=f"http://127.0.0.1:{free_port()}/v1",
        openai_api_key="sk-test-unused",
    )
    return LiteAgentLLM(settings=settings, catalog=parse_catalog(catalog))


async def _stream(handler: LiteAgentLLM, question: str) -> list[Any]:
    msgs = [{"role": "user", "content": question}]
    return [c async for c in handler.astreaming("liteagent/kb", msgs, **call_kwargs())]


async def test_stream_has_status_source_events_markers_and_sources_list(tmp_path: Path) -> None:
    handler = make_handler(tmp_path, {}, ["The proxy listens on port 8890 [1]."])
    chunks = await _stream(handler, "Which port does the proxy listen on?")
    events = [
        c["provider_specific_fields"]["event"]
        for c in chunks
        if isinstance(c, dict) and "event" in (c.get("provider_specific_fields") or {})
    ]
    statuses = [e["data"] for e in events if e["type"] == "status"]
    assert statuses[0] == {"description": "Working…", "done": False}  # sent at once
    assert statuses[1] == {"description": "Searching the kb knowledge base…", "done": False}
    assert statuses[-1]["done"] is True and statuses[-1]["description"].startswith("Found")
    sources = [e["data"] for e in events if e["type"] == "source"]
    assert sources[0]["source"]["name"] == "docs/ports.md"
    assert "port 8890" in sources[0]["document"][0]
    text = "".join(c["text"] for c in chunks if isinstance(c, dict))
    assert text.startswith("The proxy listens on port 8890 [1].")
    assert "**Sources**\n1. `docs/ports.md` — Ports" in text
    # Events come before the answer text, the usage on the last chunk.
    first_text = next(i for i, c in enumerate(chunks) if isinstance(c, dict) and c["text"])
    last_source = max(
        i
        for i, c in enumerate(chunks)
        if isinstance(c, dict) and "event" in (c.get("provider_specific_fields") or {})
    )
    assert last_source < first_text
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    assert chunks[-1]["provider_specific_fields"]["liteagent"]["llm_calls"] == 1


async def test_completion_cites_and_the_prompt_holds_the_passages(tmp_path: Path) -> None:
    handler = make_handler(
        tmp_path, {"system_prompt": "You document LiteAgent."}, ["Use uv sync [1]."]
    )
    resp = await handler.acompletion(
        "liteagent/kb", [{"role": "user", "content": "How do I install it?"}], **call_kwargs()
    )
    content = resp.choices[0].message.content
    assert content.startswith("Use uv sync [1].") and "1. `docs/install.md`" in content
    runner = next(iter(handler.cache._lru.values()))
    system = runner.llm.calls[0][0][0].content  # type: ignore[attr-defined]
    assert system.startswith("You document LiteAgent.") and "[1] docs/install.md" in system


async def test_unreachable_llm_answers_extractively(tmp_path: Path) -> None:
    handler = make_handler(tmp_path, {"model": "openai/gpt-4o-mini"})
    resp = await handler.acompletion(
        "liteagent/kb",
        [{"role": "user", "content": "Do budgets need PostgreSQL?"}],
        **call_kwargs(),
    )
    content = resp.choices[0].message.content
    assert content.startswith("The language model is not available right now")
    assert "> Virtual keys and budgets need PostgreSQL and Prisma. [1]" in content
    assert "1. `notes/budget.md`" in content


async def test_extractive_mode_and_history_without_old_sources(tmp_path: Path) -> None:
    handler = make_handler(tmp_path, {"answer": "extractive", "top_k": 2})
    msgs = [
        {"role": "user", "content": "How do I install it?"},
        {"role": "assistant", "content": "Use uv sync [1].\n\n**Sources**\n1. `docs/install.md`\n"},
        {"role": "user", "content": "Which port?"},
    ]
    resp = await handler.acompletion("liteagent/kb", msgs, **call_kwargs())
    content = resp.choices[0].message.content
    assert content.startswith("Here are the most relevant passages")
    assert "port 8890" in content and "1. `docs/ports.md`" in content


async def test_reingesting_at_start_up_is_skipped_when_unchanged(tmp_path: Path) -> None:
    first = make_handler(tmp_path, {"answer": "extractive"})
    await first.acompletion("kb", [{"role": "user", "content": "port"}], **call_kwargs())
    store = tmp_path / "knowledge" / "kb" / "store" / "documents.jsonl"
    stamp = store.stat().st_mtime_ns
    second = make_handler(tmp_path, {"answer": "extractive"})
    await second.acompletion("kb", [{"role": "user", "content": "port"}], **call_kwargs())
    assert store.stat().st_mtime_ns == stamp  # nothing was rewritten


def test_catalog_validates_rag_entries() -> None:
    spec = parse_catalog({"models": {"docs": {"kind": "rag", "sources": ["README.md"]}}}).get(
        "docs"
    )
    assert isinstance(spec, RagSpec) and spec.knowledge_base_name == "docs" and spec.top_k == 5
    with pytest.raises(CatalogError, match=r"models\.docs\.top_k: Input should be greater"):
        parse_catalog({"models": {"docs": {"kind": "rag", "top_k": 0}}})
    with pytest.raises(CatalogError, match=r"models\.docs\.retriever"):
        parse_catalog({"models": {"docs": {"kind": "rag", "retriever": "magic"}}})


async def test_open_webui_task_requests_skip_retrieval(tmp_path: Path) -> None:
    handler = make_handler(tmp_path, {}, ['{"title": "Proxy port"}'])
    task = (
        "### Task:\nGenerate a concise title.\n<chat_history>\nUSER: Which port?\n</chat_history>"
    )
    resp = await handler.acompletion(
        "liteagent/kb", [{"role": "user", "content": task}], **call_kwargs()
    )
    assert resp.choices[0].message.content == '{"title": "Proxy port"}'
    assert len(handler.cache) == 0  # no runner was built for the task
    llm = handler.tasks._llms["kb"]
    prompt, options = llm.calls[0]  # type: ignore[attr-defined]
    assert len(prompt) == 1 and "Sources:" not in (prompt[0].content or "")
    assert options.max_tokens == 64  # capped


async def test_an_llm_that_cannot_be_built_still_gives_an_answer(tmp_path: Path) -> None:
    handler = make_handler(tmp_path, {"model": f"scripted/{tmp_path}/missing-script.yaml"})
    resp = await handler.acompletion(
        "liteagent/kb", [{"role": "user", "content": "Which port?"}], **call_kwargs()
    )
    content = resp.choices[0].message.content
    assert content.startswith("Here are the most relevant passages") and "port 8890" in content
