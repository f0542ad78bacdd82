"""Chunkers: every chunk maps back into the source exactly, within the size limits."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liteagent.errors import ConfigurationError
from liteagent.rag import FixedSizeChunker, RecursiveChunker, SemanticChunker, create_chunker

TEXT = """# Install

Run `uv sync` once. It installs everything, including the local model.

## Configure

Copy .env.example to .env. Set LITELLM_MASTER_KEY. The proxy reads it at start-up.
Another sentence here that is long enough to matter for the chunker. And one more.

## Serve

Start the proxy with liteagent serve. It listens on port 8890 by default.
"""

words = st.lists(
    st.sampled_from(["alpha", "beta", "gamma.", "delta,", "\n", "\n\n", "# Head\n", "x" * 30, " "]),
    max_size=200,
).map("".join)


@pytest.mark.parametrize(
    "chunker",
    [FixedSizeChunker(120, 30), RecursiveChunker(120, 30), SemanticChunker(120, 30, 40)],
    ids=["fixed", "recursive", "semantic"],
)
@settings(max_examples=150, deadline=None)
@given(text=words)
def test_offsets_map_back_exactly(chunker, text: str) -> None:
    chunks = chunker.chunk(text, {"source": "s"})
    for i, c in enumerate(chunks):
        assert text[c.start_char : c.end_char] == c.content
        assert c.content and c.content == c.content.strip()
        assert len(c.content) <= chunker.chunk_size
        assert c.index == i and c.metadata["source"] == "s"
    # Nothing but whitespace is lost: every non-space character is in some chunk.
    covered = set()
    for c in chunks:
        covered.update(range(c.start_char, c.end_char))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_fixed_windows_overlap_by_the_requested_amount() -> None:
    text = "".join(chr(97 + i % 26) for i in range(250))
    chunks = FixedSizeChunker(100, 20).chunk(text)
    assert [(c.start_char, c.end_char) for c in chunks] == [(0, 100), (80, 180), (160, 250)]


def test_recursive_prefers_paragraph_and_sentence_boundaries() -> None:
    chunks = RecursiveChunker(chunk_size=120, chunk_overlap=0).chunk(TEXT)
    assert len(chunks) > 1
    # No chunk starts or ends in the middle of a word.
    for c in chunks:
        assert c.start_char == 0 or not TEXT[c.start_char - 1].isalnum()
        assert c.end_char == len(TEXT) or not TEXT[c.end_char].isalnum()


def test_semantic_starts_sections_at_headings_and_records_them() -> None:
    chunks = SemanticChunker(chunk_size=200, chunk_overlap=0, min_chunk_size=20).chunk(TEXT)
    headings = [c.metadata.get("heading") for c in chunks]
    assert headings[0] == "Install"
    assert "Configure" in headings and "Serve" in headings
    serve = next(c for c in chunks if c.metadata.get("heading") == "Serve")
    assert serve.content.startswith("## Serve")


def test_overlap_repeats_the_end_of_the_previous_chunk() -> None:
    text = " ".join(f"word{i}" for i in range(200))
    chunks = RecursiveChunker(chunk_size=100, chunk_overlap=30).chunk(text)
    for prev, nxt in itertools.pairwise(chunks):
        assert nxt.start_char < prev.end_char  # they share text
        assert prev.end_char - nxt.start_char <= 30


def test_to_document_keeps_offsets_and_source() -> None:
    chunk = create_chunker("recursive", chunk_size=50, chunk_overlap=0).chunk(
        "First part here. Second part here. Third part here.", {"source": "a.md"}
    )[1]
    doc = chunk.to_document()
    assert doc.id == "a.md#1"
    assert doc.metadata["start_char"] == chunk.start_char and doc.metadata["source"] == "a.md"


def test_create_chunker_rejects_bad_settings() -> None:
    with pytest.raises(ConfigurationError, match="chunk_overlap"):
        create_chunker("fixed", chunk_size=100, chunk_overlap=100)
    with pytest.raises(Exception, match="Unknown chunker 'nope'"):
        create_chunker("nope")
