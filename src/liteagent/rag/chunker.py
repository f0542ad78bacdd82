"""Split text into chunks whose ``start_char``/``end_char`` map back into the source exactly.

Every chunk satisfies ``text[chunk.start_char:chunk.end_char] == chunk.content``, so a citation
can always point at the exact passage of the original document. Three strategies:

- ``FixedSizeChunker``: windows of ``chunk_size`` characters, ``chunk_overlap`` shared.
- ``RecursiveChunker``: splits on paragraphs, then lines, sentences, words, and only as a last
  resort characters, and packs the pieces into chunks of at most ``chunk_size``.
- ``SemanticChunker``: like ``RecursiveChunker`` but follows the document's structure: a
  Markdown heading starts a new chunk (once the current one has ``min_chunk_size``
  characters), overlap is made of whole sentences, and each chunk records its section heading.
"""

from __future__ import annotations

import itertools
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from liteagent.errors import ConfigurationError
from liteagent.rag.types import Document
from liteagent.registry import ProviderRegistry

__all__ = [
    "Chunk",
    "FixedSizeChunker",
    "RecursiveChunker",
    "SemanticChunker",
    "TextChunker",
    "chunker_registry",
    "create_chunker",
]

# Separators tried in order; each is kept at the end of the piece before it, so pieces are
# contiguous and cover the text.
_SEPARATORS: tuple[str, ...] = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")


@dataclass
class Chunk:
    """A passage of a source text."""

    content: str
    index: int
    start_char: int
    end_char: int
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_document(self, source_id: str | None = None) -> Document:
        """A ``Document`` for a vector store; its id is ``<source_id>#<index>``."""
        base = source_id or str(self.metadata.get("source") or "doc")
        return Document(
            id=f"{base}#{self.index}",
            content=self.content,
            metadata={
                **self.metadata,
                "chunk_index": self.index,
                "start_char": self.start_char,
                "end_char": self.end_char,
            },
        )


class TextChunker(ABC):
    """Splits a text into ``Chunk`` objects."""

    chunk_size: int
    chunk_overlap: int

    @abstractmethod
    def chunk(self, text: str, metadata: dict[str, Any] | None = None) -> list[Chunk]:
        """Split ``text``; every chunk carries a copy of ``metadata``."""

    @property
    def signature(self) -> str:
        """Identifies the chunker and its settings (part of an ingested source's fingerprint)."""
        return f"{type(self).__name__}({self.chunk_size},{self.chunk_overlap})"


def _check_sizes(chunk_size: int, chunk_overlap: int) -> None:
    if chunk_size < 1:
        raise ConfigurationError(f"chunk_size must be at least 1 (got {chunk_size}).")
    if not 0 <= chunk_overlap < chunk_size:
        raise ConfigurationError(
            f"chunk_overlap must be at least 0 and smaller than chunk_size "
            f"(got {chunk_overlap} with chunk_size {chunk_size})."
        )


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` so that it neither starts nor ends with whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _make_chunks(
    text: str, spans: list[tuple[int, int]], metadata: dict[str, Any] | None
) -> list[Chunk]:
    chunks: list[Chunk] = []
    for start, end in spans:
        s, e = _trimmed(text, start, end)
        if s >= e:
            continue
        chunks.append(Chunk(text[s:e], len(chunks), s, e, dict(metadata or {})))
    return chunks


class FixedSizeChunker(TextChunker):
    """Windows of ``chunk_size`` characters; consecutive windows share ``chunk_overlap``.

    Args:
        chunk_size: Characters per chunk.
        chunk_overlap: Characters shared by consecutive chunks.
    """

    def __init__(self, chunk_size: int = 1000, chunk_overlap: int = 200) -> None:
        _check_sizes(chunk_size, chunk_overlap)
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap

    def chunk(self, text: str, metadata: dict[str, Any] | None = None) -> list[Chunk]:
        step = self.chunk_size - self.chunk_overlap
        spans: list[tuple[int, int]] = []
        start = 0
        while start < len(text):
            end = min(start + self.chunk_size, len(text))
            spans.append((start, end))
            if end == len(text):
                break
            start += step
        return _make_chunks(text, spans, metadata)


def _split_spans(
    text: str, start: int, end: int, size: int, level: int = 0
) -> list[tuple[int, int]]:
    """Contiguous spans covering ``[start, end)``, each at most ``size`` characters."""
    if end - start <= size:
        return [(start, end)]
    if level >= len(_SEPARATORS):
        return [(i, min(i + size, end)) for i in range(start, end, size)]
    sep = _SEPARATORS[level]
    pieces: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        found = text.find(sep, pos, end)
        cut = end if found == -1 else found + len(sep)
        pieces.append((pos, cut))
        pos = cut
    if len(pieces) == 1:
        return _split_spans(text, start, end, size, level + 1)
    out: list[tuple[int, int]] = []
    for s, e in pieces:
        out.extend(_split_spans(text, s, e, size, level + 1) if e - s > size else [(s, e)])
    return out


def _pack(
    pieces: list[tuple[int, int]],
    size: int,
    overlap: int,
    *,
    hard_breaks: frozenset[int] = frozenset(),
    min_size: int = 0,
) -> list[tuple[int, int]]:
    """Greedily pack contiguous pieces into spans of at most ``size`` characters.

    A new span starts with the trailing pieces of the previous one that fit in ``overlap``.
    A piece whose start is in ``hard_breaks`` starts a new span once the current span has at
    least ``min_size`` characters.
    """
    spans: list[tuple[int, int]] = []
    current: list[tuple[int, int]] = []

    def length(items: list[tuple[int, int]]) -> int:
        return items[-1][1] - items[0][0] if items else 0

    for piece in pieces:
        breaking = piece[0] in hard_breaks and length(current) >= max(min_size, 1)
        if current and (breaking or piece[1] - current[0][0] > size):
            spans.append((current[0][0], current[-1][1]))
            carried: list[tuple[int, int]] = []
            if not breaking:
                for prev in reversed(current):
                    if piece[1] - prev[0] > size or current[-1][1] - prev[0] > overlap:
                        break
                    carried.insert(0, prev)
            current = carried
        current.append(piece)
    if current:
        spans.append((current[0][0], current[-1][1]))
    return spans


class RecursiveChunker(TextChunker):
    """Splits on the largest natural boundary that yields pieces of at most ``chunk_size``.

    Args:
        chunk_size: Maximum characters per chunk.
        chunk_overlap: At most this many characters of whole pieces are repeated between
            consecutive chunks.
    """

    def __init__(self, chunk_size: int = 1000, chunk_overlap: int = 200) -> None:
        _check_sizes(chunk_size, chunk_overlap)
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap

    def chunk(self, text: str, metadata: dict[str, Any] | None = None) -> list[Chunk]:
        if not text:
            return []
        piece_size = max(1, min(self.chunk_size, self.chunk_size - self.chunk_overlap))
        pieces = _split_spans(text, 0, len(text), piece_size)
        return _make_chunks(text, _pack(pieces, self.chunk_size, self.chunk_overlap), metadata)


class SemanticChunker(TextChunker):
    """Structure-aware chunks: sections, paragraphs and sentences stay together.

    A Markdown heading starts a new chunk once the current chunk has ``min_chunk_size``
    characters; each chunk's metadata gets ``heading`` (its section title, when there is one).
    Overlap between chunks of one section is made of whole sentences.

    Args:
        chunk_size: Maximum characters per chunk.
        chunk_overlap: At most this many characters repeated between consecutive chunks.
        min_chunk_size: Chunks smaller than this are merged into the next one.
    """

    def __init__(
        self, chunk_size: int = 1000, chunk_overlap: int = 200, min_chunk_size: int = 100
    ) -> None:
        _check_sizes(chunk_size, chunk_overlap)
        if not 0 <= min_chunk_size <= chunk_size:
            raise ConfigurationError(
                f"min_chunk_size must be between 0 and chunk_size (got {min_chunk_size})."
            )
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.min_chunk_size = min_chunk_size

    @property
    def signature(self) -> str:
        return f"SemanticChunker({self.chunk_size},{self.chunk_overlap},{self.min_chunk_size})"

    def _sentence_pieces(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        pieces: list[tuple[int, int]] = []
        pos = start
        for match in _SENTENCE_END.finditer(text, start, end):
            cut = match.end()
            while cut < end and text[cut] in " \t\n":
                cut += 1
            if cut > pos:
                pieces.append((pos, cut))
                pos = cut
        if pos < end:
            pieces.append((pos, end))
        out: list[tuple[int, int]] = []
        for s, e in pieces:
            out.extend(
                _split_spans(text, s, e, self.chunk_size) if e - s > self.chunk_size else [(s, e)]
            )
        return out

    def chunk(self, text: str, metadata: dict[str, Any] | None = None) -> list[Chunk]:
        if not text:
            return []
        headings = [(m.start(), m.group(2).strip()) for m in _HEADING.finditer(text)]
        breaks = frozenset(pos for pos, _ in headings)
        # Paragraphs first; a paragraph too big for one chunk is cut into sentences.
        pieces: list[tuple[int, int]] = []
        bounds = sorted({0, len(text), *breaks})
        for sec_start, sec_end in itertools.pairwise(bounds):
            pos = sec_start
            while pos < sec_end:
                found = text.find("\n\n", pos, sec_end)
                cut = sec_end if found == -1 else found + 2
                while cut < sec_end and text[cut] == "\n":
                    cut += 1
                if cut - pos > self.chunk_size:
                    pieces.extend(self._sentence_pieces(text, pos, cut))
                else:
                    pieces.append((pos, cut))
                pos = cut
        spans = _pack(
            pieces,
            self.chunk_size,
            self.chunk_overlap,
            hard_breaks=breaks,
            min_size=self.min_chunk_size,
        )
        chunks = _make_chunks(text, spans, metadata)
        for chunk in chunks:
            title = None
            for pos, heading in headings:
                if pos > chunk.start_char:
                    # A chunk that starts just before its heading (whitespace) belongs to it.
                    if pos < chunk.end_char and not text[chunk.start_char : pos].strip():
                        title = heading
                    break
                title = heading
            if title:
                chunk.metadata["heading"] = title
        return chunks


chunker_registry: ProviderRegistry[TextChunker] = ProviderRegistry(
    "chunker", entry_point_group="liteagent.chunkers"
)
chunker_registry.register("fixed")(FixedSizeChunker)
chunker_registry.register("recursive")(RecursiveChunker)
chunker_registry.register("semantic")(SemanticChunker)


def create_chunker(strategy: str = "semantic", **kwargs: Any) -> TextChunker:
    """Build a chunker: ``"semantic"`` (default), ``"recursive"`` or ``"fixed"``.

    Args:
        strategy: Registered chunker name (plugins may add more).
        **kwargs: ``chunk_size``, ``chunk_overlap`` and strategy-specific options.
    """
    return chunker_registry.get(strategy, **kwargs)
