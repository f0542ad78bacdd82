"""A third-party LLM provider registers through an entry point, exactly like the built-ins.

The plugin is a real installed distribution as far as ``importlib.metadata`` is concerned: a
package plus a ``.dist-info`` folder with ``entry_points.txt`` on ``sys.path``. Nothing of our
registry is mocked.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.errors import CatalogError
from liteagent.llm import ResilientLLM, create_llm, llm_registry

PLUGIN = textwrap.dedent(
    '''
    """A provider shipped by someone else."""

    from liteagent.llm import BaseLLMProvider, LLMChunk, LLMResponse, Usage, as_messages


    class ShoutProvider(BaseLLMProvider):
        """Answers with the last user message in capitals."""

        provider_name = "shout"
        MODELS = ["loud"]

        async def chat(self, messages, options=None):
            text = (as_messages(messages)[-1].content or "").upper()
            return LLMResponse(content=text, model=self.model_name, usage=Usage(3, 1),
                               provider="shout")

        async def stream(self, messages, options=None):
            answer = await self.chat(messages, options)
            for word in answer.content.split(" "):
                yield LLMChunk(content=word + " ")
            yield LLMChunk(usage=answer.usage, finish_reason="stop")
    '''
)


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    package = tmp_path / "liteagent_shout"
    package.mkdir()
    (package / "__init__.py").write_text(PLUGIN)
    dist = tmp_path / "liteagent_shout-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: liteagent-shout\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[liteagent.llm_providers]\nshout = liteagent_shout:ShoutProvider\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    llm_registry.clear()  # forget what was loaded, as a fresh process would
    yield
    monkeypatch.undo()
    sys.modules.pop("liteagent_shout", None)
    llm_registry.clear()


@pytest.mark.usefixtures("installed_plugin")
async def test_plugin_provider_is_found_and_used_like_a_builtin() -> None:
    assert {"shout", "openai", "anthropic", "ollama", "local"} <= set(llm_registry.list_providers())
    meta = llm_registry.get_metadata("shout")
    assert meta.source == "entry_point" == llm_registry.get_metadata("openai").source
    assert meta.description == "liteagent_shout:ShoutProvider"

    cat = parse_catalog({"models": {"loud": {"system_prompt": "x", "model": "shout/loud"}}})
    llm = create_llm(cat.get("loud").model, settings=Settings(_env_file=None))
    assert isinstance(llm, ResilientLLM)
    answer = await llm.chat([{"role": "user", "content": "hello there"}])
    assert answer.content == "HELLO THERE" and answer.usage.total_tokens == 4
    chunks = [c async for c in llm.stream([{"role": "user", "content": "a b"}])]
    assert "".join(c.content for c in chunks).strip() == "A B"
    assert chunks[-1].provenance is not None and chunks[-1].provenance.model == "shout/loud"


def test_without_the_plugin_the_catalog_refuses_the_model() -> None:
    llm_registry.clear()
    try:
        with pytest.raises(CatalogError, match="unknown provider 'shout'"):
            parse_catalog({"models": {"a": {"system_prompt": "x", "model": "shout/loud"}}})
    finally:
        llm_registry.clear()
