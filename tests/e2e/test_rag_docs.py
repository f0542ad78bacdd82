"""End to end: the demo ``liteagent/docs`` RAG agent through the real LiteLLM proxy."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.proxy import MASTER_KEY, Proxy, make_project, run_proxy
from tests.servers.http import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.local_llm]

ROOT = Path(__file__).resolve().parents[2]
CATALOG_EXTRA = """
  docs-offline:
    kind: rag
    description: The docs agent with an LLM that cannot be reached.
    knowledge_base: docs
    model: openai/gpt-4o-mini
    sources: [README.md, docs/]
"""


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    catalog = (ROOT / "liteagent.yaml").read_text() + CATALOG_EXTRA
    project = make_project(tmp_path_factory.mktemp("rag-project"), catalog)
    shutil.copy(ROOT / "README.md", project / "README.md")
    shutil.copytree(ROOT / "docs", project / "docs")
    env = {
        "LITEAGENT_DEFAULT_MODEL": "local/smollm2",
        # Nothing listens there: the offline entry's LLM is unreachable.
        "OPENAI_API_KEY": "sk-unreachable-0000",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
    }
    with run_proxy(project, env, wait_for="liteagent/docs-offline") as p:
        yield p


@pytest.fixture
def client(proxy: Proxy) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, timeout=180, max_retries=0
    )


def _sources(text: str) -> list[str]:
    section = text.split("**Sources**", 1)[1]
    return [line.split(". ", 1)[1] for line in section.strip().splitlines() if ". " in line]


def test_docs_answers_with_a_citation_to_the_right_file(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="liteagent/docs",
        max_tokens=120,
        messages=[
            {
                "role": "user",
                "content": "How closely does the local embedder agree with sentence-transformers?",
            }
        ],
    )
    text = resp.choices[0].message.content or ""
    sources = _sources(text)
    assert sources and sources[0].startswith("`docs/rag.md`"), text
    assert "[1]" in text.split("**Sources**")[0], text
    assert resp.usage is not None and resp.usage.completion_tokens > 0


QUESTION = "What do LiteLLM virtual keys and budgets need: PostgreSQL and Prisma?"


def test_docs_stream_carries_open_webui_source_events(proxy: Proxy) -> None:
    body = {
        "model": "liteagent/docs",
        "stream": True,
        "max_tokens": 60,
        "messages": [{"role": "user", "content": QUESTION}],
    }
    events, text = [], []
    with httpx.stream(
        "POST",
        f"{proxy.base_url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        timeout=180,
    ) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "event" in chunk:
                events.append(chunk["event"])
            for choice in chunk.get("choices", []):
                text.append(choice["delta"].get("content") or "")
    sources = [e["data"] for e in events if e["type"] == "source"]
    assert sources and sources[0]["source"]["name"] == "README.md"
    assert any("Prisma" in doc for doc in sources[0]["document"])
    assert sources[0]["metadata"][0]["section"] == "Virtual keys and budgets (PostgreSQL)"
    statuses = [e["data"]["description"] for e in events if e["type"] == "status"]
    assert statuses[:2] == ["Working…", "Searching the docs knowledge base…"]
    assert "**Sources**\n1. `README.md`" in "".join(text)


def test_unreachable_llm_still_answers_extractively(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="liteagent/docs-offline",
        messages=[{"role": "user", "content": "How do I ingest sources into a knowledge base?"}],
    )
    text = resp.choices[0].message.content or ""
    assert text.startswith("The language model is not available right now"), text
    assert "[1]" in text and "liteagent ingest" in text
    assert any(s.startswith(("`docs/rag.md`", "`README.md`")) for s in _sources(text))
