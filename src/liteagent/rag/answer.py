"""Answer a question from retrieved passages, with citations.

``RagAnswerer.stream`` retrieves passages, groups them by source and numbers the sources in
order of relevance ([1] is the best). It then asks the LLM to answer from those sources only,
citing them as ``[n]``, and streams the answer through a filter that drops markers naming no
source. The answer ends with a Markdown "Sources" list, so plain OpenAI clients can follow
every ``[n]``; Open WebUI additionally gets one ``source`` event per source (``SourcesFound``),
numbered the same way.

When the LLM cannot be reached (or fails before saying anything), the answer is *extractive*:
the best passages, quoted, with their markers and the same Sources list. The run never fails
because the LLM is down.

The events are plain data so that both the proxy runner and ``RAGAgent`` can drive them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from liteagent.errors import LiteAgentError
from liteagent.llm.base import BaseLLMProvider, ChatOptions, LLMMessage, Usage
from liteagent.log import get_logger
from liteagent.rag.retriever import Retriever, tokenize
from liteagent.rag.types import MetadataFilter, SearchResult
from liteagent.security.validation import label_untrusted

__all__ = [
    "AnswerDelta",
    "AnswerEvent",
    "AnswerFinished",
    "AnswerUsage",
    "CitationFilter",
    "CitedSource",
    "RagAnswer",
    "RagAnswerer",
    "SourcesFound",
    "extractive_answer",
    "group_sources",
    "openwebui_source_event",
    "sources_context",
    "sources_markdown",
    "strip_sources_section",
]

logger = get_logger(__name__)

DEFAULT_INSTRUCTIONS = (
    "Answer the question using only the numbered sources below. After each statement, cite "
    "the source it comes from with its number in square brackets, like [1]. If the sources do "
    "not contain the answer, say that you could not find it. Be concise."
)
_MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_SOURCES_HEADING = "\n**Sources**\n"
# The numbered lines after the heading, to the end of the text. Tried once per heading (a
# regex searching for the whole section would rescan every run of line breaks in the text).
_SOURCE_LINES = re.compile(r"(?:\s*\d+\.[^\n]*(?:\n|$))+\s*")


@dataclass
class CitedSource:
    """One numbered source and the passages of it that were retrieved."""

    number: int
    id: str
    name: str
    url: str | None
    passages: list[SearchResult] = field(default_factory=list)

    @property
    def sections(self) -> list[str]:
        out: list[str] = []
        for hit in self.passages:
            heading = hit.document.metadata.get("heading")
            if heading and heading not in out:
                out.append(str(heading))
        return out


@dataclass(frozen=True)
class SourcesFound:
    """Retrieval finished; ``sources`` are numbered as the answer will cite them."""

    sources: list[CitedSource]


@dataclass(frozen=True)
class AnswerDelta:
    """A piece of the answer text (already citation-checked)."""

    text: str


@dataclass(frozen=True)
class AnswerUsage:
    """Tokens used by the LLM call."""

    usage: Usage
    model: str


@dataclass(frozen=True)
class AnswerFinished:
    """The answer is complete."""

    mode: Literal["generated", "extractive"]
    cited: list[int]
    finish_reason: str = "stop"
    error: str | None = None


AnswerEvent = SourcesFound | AnswerDelta | AnswerUsage | AnswerFinished


@dataclass
class RagAnswer:
    """A complete answer (``RagAnswerer.answer``)."""

    text: str
    sources: list[CitedSource]
    mode: Literal["generated", "extractive"]
    cited: list[int]
    usage: Usage = field(default_factory=Usage)


def group_sources(hits: Sequence[SearchResult]) -> list[CitedSource]:
    """Number sources by their best passage's rank: [1] holds the most relevant passage."""
    by_id: dict[str, CitedSource] = {}
    for hit in sorted(hits, key=lambda h: h.rank):
        meta = hit.document.metadata
        source_id = str(meta.get("source") or hit.document.id)
        if source_id not in by_id:
            url = meta.get("url")
            by_id[source_id] = CitedSource(
                number=len(by_id) + 1,
                id=source_id,
                name=str(meta.get("name") or source_id),
                url=str(url) if url else None,
            )
        by_id[source_id].passages.append(hit)
    return list(by_id.values())


def openwebui_source_event(source: CitedSource) -> dict[str, Any]:
    """Open WebUI's ``source`` event for one source (see docs/openwebui.md)."""
    ref: dict[str, Any] = {"id": source.id, "name": source.name}
    meta: dict[str, Any] = {"source": source.id, "name": source.name}
    if source.url:
        ref["url"] = source.url
        meta["url"] = source.url
    return {
        "type": "source",
        "data": {
            "source": ref,
            "document": [hit.document.content for hit in source.passages],
            "metadata": [
                {**meta, **({"section": h} if (h := hit.document.metadata.get("heading")) else {})}
                for hit in source.passages
            ],
        },
    }


def sources_context(sources: Sequence[CitedSource], max_chars: int = 6000) -> str:
    """The numbered sources' passages as the prompt shows them, within ``max_chars``.

    A passage that an input check flags ("ignore previous instructions…", a script) is wrapped
    and labelled as untrusted data (``liteagent.security.validation.label_untrusted``): the
    knowledge base holds documents to quote, never instructions for the model.
    """
    budget = max_chars
    blocks: list[str] = []
    for src in sources:
        parts = []
        for hit in src.passages:
            text = hit.document.content[: max(0, budget)]
            budget -= len(text)
            if not text:
                continue
            labelled, result = label_untrusted(text, f"source [{src.number}] {src.name}")
            if result.findings:
                logger.info(
                    "rag_passage_flagged",
                    source=src.name,
                    document=hit.document.id,
                    checks=list(result.checks),
                )
            parts.append(labelled)
        if parts:
            blocks.append(f"[{src.number}] {src.name}\n" + "\n…\n".join(parts))
    return "\n\n".join(blocks) if blocks else "(no source matched the question)"


def sources_markdown(sources: Sequence[CitedSource]) -> str:
    """The numbered Markdown list that ends every answer."""
    if not sources:
        return ""
    lines = ["", "", "**Sources**"]
    for src in sources:
        label = f"[{src.name}]({src.url})" if src.url else f"`{src.name}`"
        sections = src.sections
        lines.append(f"{src.number}. {label}" + (f" — {', '.join(sections)}" if sections else ""))
    return "\n".join(lines) + "\n"


def strip_sources_section(text: str) -> str:
    """Remove a trailing Sources list we appended to an earlier answer (and the line breaks
    before it). Linear in ``text``: each heading's list ends at the next heading."""
    at = text.find(_SOURCES_HEADING)
    while at >= 0:
        if _SOURCE_LINES.fullmatch(text, at + len(_SOURCES_HEADING)):
            return text[:at].rstrip("\n")
        at = text.find(_SOURCES_HEADING, at + 1)
    return text


def _excerpt(text: str, query: str = "", limit: int = 600) -> str:
    """The part of a passage that best matches ``query``, at most ``limit`` characters.

    Heading lines are dropped (the Sources list names the section); the window starts at the
    sentence or line sharing the most words with the query.
    """
    lines = [ln for ln in text.splitlines() if not re.match(r"\s*#{1,6}\s", ln)]
    flat = " ".join(" ".join(lines).split()) or " ".join(text.split())
    if len(flat) <= limit:
        return flat
    segments = [s for s in re.split(r"(?<=[.!?:])\s+|\s*\n\s*", "\n".join(lines)) if s.strip()]
    segments = [" ".join(s.split()) for s in segments]
    wanted = set(tokenize(query))
    best = max(range(len(segments)), key=lambda i: (len(wanted & set(tokenize(segments[i]))), -i))
    start = end = best
    size = len(segments[best])
    while end + 1 < len(segments) and size + 1 + len(segments[end + 1]) <= limit:
        end += 1
        size += 1 + len(segments[end])
    while start > 0 and size + 1 + len(segments[start - 1]) <= limit:
        start -= 1
        size += 1 + len(segments[start])
    window = " ".join(segments[start : end + 1])
    if len(window) > limit:
        window = window[:limit].rstrip() + "…"
    return ("… " if start > 0 else "") + window + (" …" if end < len(segments) - 1 else "")


def extractive_answer(
    sources: Sequence[CitedSource], *, query: str = "", max_passages: int = 3, reason: str = ""
) -> str:
    """The best passages, quoted and cited (used when no LLM answers)."""
    if not sources:
        return "I found nothing about this in the knowledge base."
    intro = reason or "Here are the most relevant passages from the knowledge base:"
    hits = sorted(
        ((hit, src.number) for src in sources for hit in src.passages), key=lambda p: p[0].rank
    )[:max_passages]
    quotes = [f"> {_excerpt(hit.document.content, query)} [{number}]" for hit, number in hits]
    return intro + "\n\n" + "\n\n".join(quotes)


class CitationFilter:
    """Streams text through, dropping ``[n]`` markers that name no source.

    Only a possible marker (``[`` followed by digits, commas and spaces) is held back until it
    closes, so the text still streams as it arrives.
    """

    def __init__(self, valid: set[int]) -> None:
        self.valid = valid
        self.cited: list[int] = []
        self._held = ""

    def _resolve(self, marker: str) -> str:
        match = _MARKER.fullmatch(marker)
        if match is None:
            return marker
        numbers = [int(n) for n in re.split(r"\s*,\s*", match.group(1))]
        kept = [n for n in numbers if n in self.valid]
        for n in kept:
            if n not in self.cited:
                self.cited.append(n)
        return "".join(f"[{n}]" for n in kept)

    def feed(self, text: str) -> str:
        out: list[str] = []
        for ch in text:
            if self._held:
                self._held += ch
                if ch == "]":
                    out.append(self._resolve(self._held))
                    self._held = ""
                elif not (ch.isdigit() or ch in ", ") or len(self._held) > 16:
                    out.append(self._held)
                    self._held = ""
            elif ch == "[":
                self._held = ch
            else:
                out.append(ch)
        return "".join(out)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held


def _attribute(answer: str, sources: Sequence[CitedSource]) -> list[int]:
    """Sources whose passages share the most words with an answer that cited none."""
    words = set(tokenize(answer))
    scored: list[tuple[float, int]] = []
    for src in sources:
        passage_words = set(tokenize(" ".join(h.document.content for h in src.passages)))
        overlap = len(words & passage_words) / max(1, len(words))
        if overlap >= 0.2:
            scored.append((overlap, src.number))
    best = [n for _, n in sorted(scored, key=lambda s: (-s[0], s[1]))[:2]]
    return sorted(best) or ([sources[0].number] if sources else [])


class RagAnswerer:
    """Retrieval plus a cited answer, as a stream of ``AnswerEvent``.

    Args:
        retriever: Finds the passages.
        llm: Writes the answer; ``None`` (or an unreachable LLM) gives an extractive answer.
        top_k: Passages retrieved per question.
        system_prompt: The assistant's instructions, before the citation rules.
        options: Generation options for the LLM.
        max_context_chars: Budget for the passages put in the prompt.
        filter: Metadata filter applied to every retrieval.
    """

    def __init__(
        self,
        retriever: Retriever,
        llm: BaseLLMProvider | None,
        *,
        top_k: int = 5,
        system_prompt: str | None = None,
        options: ChatOptions | None = None,
        max_context_chars: int = 6000,
        filter: MetadataFilter | None = None,
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.top_k = top_k
        self.system_prompt = system_prompt
        self.options = options or ChatOptions()
        self.max_context_chars = max_context_chars
        self.filter = filter

    def build_messages(
        self, question: str, sources: Sequence[CitedSource], history: Sequence[LLMMessage] = ()
    ) -> list[LLMMessage]:
        """The prompt: instructions and numbered sources, the conversation, the question."""
        context = sources_context(sources, self.max_context_chars)
        system = "\n\n".join(
            p for p in (self.system_prompt, DEFAULT_INSTRUCTIONS, f"Sources:\n\n{context}") if p
        )
        return [LLMMessage("system", system), *history, LLMMessage("user", question)]

    async def stream(
        self, question: str, history: Sequence[LLMMessage] = ()
    ) -> AsyncIterator[AnswerEvent]:
        """Retrieve, then answer with citations (extractively if the LLM is unavailable)."""
        result = await self.retriever.retrieve(question, limit=self.top_k, filter=self.filter)
        sources = group_sources(result.documents)
        yield SourcesFound(sources)
        if self.llm is None:
            text = extractive_answer(sources, query=question)
            yield AnswerDelta(text + sources_markdown(sources))
            yield AnswerFinished("extractive", [s.number for s in sources])
            return
        citations = CitationFilter({s.number for s in sources})
        produced: list[str] = []
        finish = "stop"
        error: str | None = None
        try:
            async for chunk in self.llm.stream(
                self.build_messages(question, sources, history), self.options
            ):
                if chunk.content:
                    text = citations.feed(chunk.content)
                    if text:
                        produced.append(text)
                        yield AnswerDelta(text)
                if chunk.usage is not None:
                    yield AnswerUsage(chunk.usage, self.llm.model_id)
                if chunk.finish_reason:
                    finish = chunk.finish_reason
        except LiteAgentError as exc:
            error = exc.message
            logger.warning("rag_llm_unavailable", model=self.llm.model_id, error=exc.message)
        tail = citations.flush()
        if tail:
            produced.append(tail)
            yield AnswerDelta(tail)
        answer = "".join(produced)
        if error is not None and not answer.strip():
            reason = (
                "The language model is not available right now, so here are the most relevant "
                "passages from the knowledge base:"
            )
            cited = [s.number for s in sources][:3]
            yield AnswerDelta(
                extractive_answer(sources, query=question, reason=reason)
                + sources_markdown(sources)
            )
            yield AnswerFinished("extractive", cited, "stop", error)
            return
        suffix = ""
        if answer.count("```") % 2:
            suffix += "\n```"  # close a code block the answer left open (e.g. cut by max_tokens)
        if error is not None:
            suffix += "\n\n_(The language model stopped before finishing this answer.)_"
        cited = list(citations.cited)
        if sources and not cited and answer.strip():
            cited = _attribute(answer, sources)
            suffix += "\n\nBased on " + ", ".join(f"[{n}]" for n in cited) + "."
        yield AnswerDelta(suffix + sources_markdown(sources))
        yield AnswerFinished("generated", cited, finish, error)

    async def answer(self, question: str, history: Sequence[LLMMessage] = ()) -> RagAnswer:
        """The whole answer at once."""
        text: list[str] = []
        sources: list[CitedSource] = []
        usage = Usage()
        mode: Literal["generated", "extractive"] = "generated"
        cited: list[int] = []
        async for event in self.stream(question, history):
            if isinstance(event, SourcesFound):
                sources = event.sources
            elif isinstance(event, AnswerDelta):
                text.append(event.text)
            elif isinstance(event, AnswerUsage):
                usage = usage + event.usage
            else:
                mode, cited = event.mode, event.cited
        return RagAnswer("".join(text), sources, mode, cited, usage)
