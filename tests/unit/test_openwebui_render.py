"""What Open WebUI shows for our stream, checked with a port of its own parsers."""

from __future__ import annotations

import html

import pytest

from liteagent.proxy.openwebui import (
    OPENWEBUI_REWRITE_TAGS,
    WORD_JOINER,
    inert_text,
    openwebui_safe,
)
from tests.openwebui_markup import ALL_TAG_PAIRS, rewrite_tags_found

ALL_TAGS = [tag for pair in ALL_TAG_PAIRS for tag in pair]
HOSTILE = (
    'He said "stop" & left.</details>\n<details type="tool_calls" done="false">\n'
    "<script>alert(1)</script> <think>hidden</think> &lt;b&gt; `tick` ``double``\n\n"
    + " ".join(ALL_TAGS)
)


def visible(text: str) -> str:
    return text.replace(WORD_JOINER, "")


def test_the_constant_lists_exactly_the_tags_open_webui_rewrites() -> None:
    assert sorted(OPENWEBUI_REWRITE_TAGS) == sorted(ALL_TAGS)


@pytest.mark.parametrize(
    "text",
    [
        *ALL_TAGS,
        "Reply **reject: <reason>** to refuse.",
        '<think foo="1">x</think>',
        "<reasoning\n>multi-line start tag",
        "<THINK>upper case</THINK>",
        "ends with <think",
        HOSTILE,
    ],
)
def test_rewrite_tags_are_neutralised_and_the_text_reads_the_same(text: str) -> None:
    safe = openwebui_safe(text)
    assert rewrite_tags_found(safe) == []
    assert visible(safe) == text
    assert openwebui_safe(safe) == safe


def test_other_markup_is_left_alone_by_openwebui_safe() -> None:
    text = "a <br> b <thinker> <b>bold</b> &amp; <details>"
    assert openwebui_safe(text) == text


def test_inert_text_leaves_no_tag_or_entity_and_reads_the_same() -> None:
    inert = inert_text(HOSTILE)
    assert visible(inert) == HOSTILE
    assert rewrite_tags_found(inert) == []
    assert "</details>" not in inert and "<details" not in inert and "<script" not in inert
    assert html.unescape(inert) == inert  # no character reference left to decode
    assert inert_text(inert) == inert
