"""Knowledge bases: ingestion does no work for unchanged sources; answers cite sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from liteagent.config import Settings
from liteagent.datasources import DataSourceContent
from liteagent.errors import LLMUnavailableError
from liteagent.llm import FunctionModel, ScriptedModel
from liteagent.rag import (
    AnswerDelta,
    CitationFilter,
    InMemoryVectorStore,
    KnowledgeBase,
    RagAnswerer,
    SourcesFound,
    create_chunker,
    openwebui_source_event,
)
from liteagent.rag.answer import strip_sources_section
from liteagent.rag.embeddings import EmbeddingResult
from liteagent.rag.testing import HashEmbedder

GUIDE = """# Install

Run uv sync to install LiteAgent and the bundled offline model.

# Serve

Start the proxy with liteagent serve; it listens on port 8890.
"""
FAQ = "Budgets and virtual keys need PostgreSQL and Prisma, configured in LiteLLM."


def _kb(tmp_path: Path, emb: HashEmbedder | None = None) -> KnowledgeBase:
    emb = emb or HashEmbedder()
    store = InMemoryVectorStore(emb.dimension, persist_path=tmp_path / "store")
    chunker = create_chunker("semantic", chunk_size=200, chunk_overlap=0, min_chunk_size=10)
    return KnowledgeBase("handbook", store=store, embedder=emb, chunker=chunker)


def _items(guide: str = GUIDE) -> list[DataSourceContent]:
    return [
        DataSourceContent(guide, "guide.md", {"name": "guide.md"}),
        DataSourceContent(FAQ, "faq.md", {"name": "faq.md", "url": "https://example.com/faq"}),
    ]


async def test_reingesting_unchanged_sources_does_no_work(tmp_path: Path) -> None:
    emb = HashEmbedder()
    first = await _kb(tmp_path, emb).ingest(_items())
    assert (first.sources_added, first.chunks_embedded) == (2, first.chunks_written)
    assert first.chunks_written >= 3
    calls = emb.calls
    # A new process (new KnowledgeBase over the same folder) sees nothing to do.
    emb2 = HashEmbedder()
    second = await _kb(tmp_path, emb2).ingest(_items())
    assert second.sources_unchanged == 2 and second.chunks_written == 0
    assert second.chunks_embedded == 0 and emb2.calls == 0 and emb.calls == calls
    assert not second.changed


async def test_changed_source_is_replaced_and_prune_removes_missing(tmp_path: Path) -> None:
    emb = HashEmbedder()
    kb = _kb(tmp_path, emb)
    await kb.ingest(_items())
    changed = GUIDE.replace("port 8890", "port 9000")
    report = await kb.ingest(_items(changed))
    assert (report.sources_updated, report.sources_unchanged) == (1, 1)
    # Only the edited chunk was embedded again; the install section came from the cache.
    assert report.chunks_embedded == 1
    texts = " ".join(d.content for d in await kb.documents())
    assert "9000" in texts and "8890" not in texts
    pruned = await kb.ingest(_items(changed)[:1], prune=True)
    assert pruned.sources_removed == 1 and "faq.md" not in await kb.sources()


async def test_retriever_refuses_a_knowledge_base_built_with_another_embedder(
    tmp_path: Path,
) -> None:
    await _kb(tmp_path, HashEmbedder(64)).ingest(_items())

    class Other(HashEmbedder):
        @property
        def model_name(self) -> str:
            return "other-64"

    kb = _kb(tmp_path, Other(64))
    with pytest.raises(Exception, match="was built with hash/hash-64"):
        await kb.retriever()


async def test_open_uses_the_knowledge_folder(tmp_path: Path) -> None:
    settings = Settings(knowledge_dir=tmp_path, embedder="none")
    kb = KnowledgeBase.open("notes", settings)
    await kb.ingest(_items())
    assert (tmp_path / "notes" / "store" / "documents.jsonl").exists()
    top = (await (await kb.retriever()).retrieve("PostgreSQL Prisma budgets")).documents[0]
    assert top.document.metadata["source"] == "faq.md"


async def _answerer(tmp_path: Path, llm) -> RagAnswerer:
    kb = _kb(tmp_path)
    await kb.ingest(_items())
    return RagAnswerer(await kb.retriever(), llm, top_k=3)


async def test_generated_answer_cites_valid_sources_and_lists_them(tmp_path: Path) -> None:
    seen: list[str] = []

    def reply(messages, options):
        seen.append(messages[0].content)
        return "Run liteagent serve [1]; it listens on port 8890 [1, 7]. Ignore [9]."

    answerer = await _answerer(tmp_path, FunctionModel(reply))
    answer = await answerer.answer("Which port does liteagent serve listen on?")
    assert answer.mode == "generated" and answer.cited == [1]
    assert "[1]; it listens on port 8890 [1]. Ignore ." in answer.text
    assert "[7]" not in answer.text and "[9]" not in answer.text
    assert "**Sources**\n1. `guide.md`" in answer.text
    assert "[1] guide.md" in seen[0] and "port 8890" in seen[0]
    assert answer.usage.completion_tokens > 0


async def test_unreachable_llm_gives_an_extractive_answer(tmp_path: Path) -> None:
    down = ScriptedModel([LLMUnavailableError("connection refused", provider="openai")])
    answerer = await _answerer(tmp_path, down)
    events = [e async for e in answerer.stream("Do budgets need PostgreSQL?")]
    assert isinstance(events[0], SourcesFound)
    text = "".join(e.text for e in events if isinstance(e, AnswerDelta))
    assert text.startswith("The language model is not available right now")
    assert "> Budgets and virtual keys need PostgreSQL and Prisma" in text
    assert "[1]" in text and "[https://example.com/faq]" not in text
    assert "1. [faq.md](https://example.com/faq)" in text
    assert events[-1].mode == "extractive"  # type: ignore[union-attr]


async def test_answer_without_markers_gets_attributed(tmp_path: Path) -> None:
    answerer = await _answerer(tmp_path, ScriptedModel(["Budgets need PostgreSQL and Prisma."]))
    answer = await answerer.answer("What do budgets need?")
    assert "Based on [1]." in answer.text and answer.sources[0].name == "faq.md"


def test_citation_filter_streams_and_keeps_only_known_numbers() -> None:
    f = CitationFilter({1, 2})
    out = "".join(f.feed(piece) for piece in ["See [", "1", "] and [2,", " 5] or [x] [3", "]."])
    assert out + f.flush() == "See [1] and [2] or [x] ."
    assert f.cited == [1, 2]


def test_open_webui_source_event_and_history_cleanup() -> None:
    from liteagent.rag import CitedSource, Document, SearchResult

    src = CitedSource(
        1,
        "guide.md",
        "guide.md",
        None,
        [SearchResult(Document("g#0", "text", metadata={"heading": "Serve"}), 1.0, 1)],
    )
    event = openwebui_source_event(src)
    assert event["type"] == "source"
    assert event["data"]["source"] == {"id": "guide.md", "name": "guide.md"}
    assert event["data"]["document"] == ["text"]
    assert event["data"]["metadata"][0]["section"] == "Serve"
    text = "Answer [1].\n\n**Sources**\n1. `guide.md` — Serve\n"
    assert strip_sources_section(text) == "Answer [1]."


def test_extractive_excerpt_quotes_the_part_that_matches_the_question() -> None:
    from liteagent.rag import CitedSource, Document, SearchResult, extractive_answer

    filler = " ".join(f"Sentence {i} talks about something unrelated." for i in range(40))
    text = f"# Title\n\n{filler}\n\nRun liteagent ingest to refresh a knowledge base. {filler}"
    src = CitedSource(1, "a.md", "a.md", None, [SearchResult(Document("a#0", text), 1.0, 1)])
    answer = extractive_answer([src], query="How do I refresh the knowledge base?")
    quote = answer.split("\n\n")[1]
    assert "Run liteagent ingest to refresh a knowledge base." in quote
    assert quote.startswith("> … ") and quote.endswith(" … [1]") and len(quote) < 700
    assert "# Title" not in answer


async def test_an_open_code_block_is_closed_before_the_sources(tmp_path: Path) -> None:
    answerer = await _answerer(tmp_path, ScriptedModel(["Run this [1]:\n```bash\nuv sync"]))
    answer = await answerer.answer("How do I install it?")
    body, sources = answer.text.split("**Sources**")
    assert body.count("```") == 2 and body.rstrip().endswith("```")
    assert sources.startswith("\n1. ")


async def test_a_serving_knowledge_base_sees_what_another_process_ingested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import liteagent.rag.knowledge as knowledge

    monkeypatch.setattr(knowledge, "REFRESH_SECONDS", 0.0)
    serving = _kb(tmp_path)
    await serving.ingest(_items())
    before = await (await serving.retriever()).retrieve("refund deadline", 3)
    assert not any("refund" in h.document.content.lower() for h in before.documents)
    # `liteagent ingest` in another process: a second KnowledgeBase over the same folder.
    other = _kb(tmp_path)
    extra = DataSourceContent("Refund deadline: thirty days.", "refunds.md", {"name": "refunds.md"})
    await other.ingest([*_items(), extra])
    after = await (await serving.retriever()).retrieve("refund deadline", 3)
    assert after.documents[0].document.metadata["source"] == "refunds.md"


async def test_a_long_source_is_embedded_in_bounded_batches_and_saved_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from liteagent.rag import knowledge

    monkeypatch.setattr(knowledge, "EMBED_BATCH", 4)
    sizes: list[int] = []

    class Recording(HashEmbedder):
        async def embed(self, texts: list[str]) -> EmbeddingResult:
            sizes.append(len(texts))
            return await super().embed(texts)

    kb = _kb(tmp_path, Recording())
    saves: list[int] = []
    save = InMemoryVectorStore._save

    def counting_save(self: InMemoryVectorStore) -> None:
        saves.append(len(self))
        save(self)

    monkeypatch.setattr(InMemoryVectorStore, "_save", counting_save)
    long = "\n\n".join(f"# Part {i}\n\nPassage number {i} about topic {i}." for i in range(11))
    report = await kb.ingest([DataSourceContent(long, "long.md", {"name": "long.md"}), *_items()])
    assert report.chunks_written >= 9
    assert max(sizes) <= 4 and sum(sizes) == report.chunks_written
    assert saves == [report.chunks_written]  # the folder is written once, at the end
    reopened = _kb(tmp_path)
    assert len(await reopened.documents()) == report.chunks_written
