"""Text that Open WebUI shows as written: no reasoning tags, no markup inside our blocks.

Open WebUI's backend (``backend/open_webui/utils/middleware.py``) scans the streamed answer for
reasoning tags (``DEFAULT_REASONING_TAGS``), solution tags and, with the code interpreter on,
code-interpreter tags. From the first one on, the text is moved into a hidden "Thought" block
and is cut out of the assistant turn it sends back. A start tag also matches with attributes
(``<think foo="1">``). So a model that writes ``<reason>`` in an answer, or a prompt such as
``reject: <reason>``, loses everything after it.

The remedy used here is a WORD JOINER (U+2060) after the tag's first character: ``<⁠think>``.
It is invisible and does not allow a line break, so the text reads exactly the same in Open
WebUI, in a markdown renderer and in a plain terminal; but ``<`` followed by U+2060 is neither
a tag to Open WebUI's patterns nor to an HTML or markdown parser (a tag name must start with an
ASCII letter). Escaping ``<`` as ``&lt;`` was the alternative; it shows as ``&lt;`` in a plain
client and inside markdown code spans, so it does not read the same everywhere.

``inert_text`` applies the same idea to every tag and character reference, for text placed
inside our ``<details>`` blocks, where a stray ``</details>`` would end the block early.
"""

from __future__ import annotations

import re

__all__ = [
    "OPENWEBUI_REWRITE_TAGS",
    "WORD_JOINER",
    "blockquote",
    "code_span",
    "inert_text",
    "openwebui_safe",
    "split_partial_tag",
]

WORD_JOINER = "\u2060"

OPENWEBUI_REWRITE_TAGS: tuple[str, ...] = (
    # DEFAULT_REASONING_TAGS
    "<think>",
    "</think>",
    "<thinking>",
    "</thinking>",
    "<reason>",
    "</reason>",
    "<reasoning>",
    "</reasoning>",
    "<thought>",
    "</thought>",
    "<Thought>",
    "</Thought>",
    "<|begin_of_thought|>",
    "<|end_of_thought|>",
    "◁think▷",
    "◁/think▷",
    # DEFAULT_SOLUTION_TAGS
    "<|begin_of_solution|>",
    "<|end_of_solution|>",
    # DEFAULT_CODE_INTERPRETER_TAGS
    "<code_interpreter>",
    "</code_interpreter>",
)
"""Every open and close tag Open WebUI turns into a reasoning, solution or code block."""


def _lookahead(tag: str) -> str:
    """What must follow a tag's first character for Open WebUI to see the tag (a regex).

    ``<name>`` tags match with attributes too, so the name is enough (when it is not the
    start of a longer name); ``<|…|>`` tags likewise take attributes before the ``>``.
    """
    if tag.startswith("<|"):
        return re.escape(tag[1:-1])
    if tag.startswith("<"):
        return "/?" + re.escape(tag.strip("</>")) + r"(?![\w-])"
    return re.escape(tag[1:])


_REWRITE = re.compile(
    "([<◁])(?=" + "|".join(sorted({_lookahead(t) for t in OPENWEBUI_REWRITE_TAGS})) + ")",
    re.IGNORECASE,
)
_MARKUP = re.compile(r"([<&])(?=[A-Za-z0-9/!?|#])")
_LONGEST_TAG = max(len(t) for t in OPENWEBUI_REWRITE_TAGS)
_TAG_PREFIXES = tuple(t.lower() for t in OPENWEBUI_REWRITE_TAGS)


def openwebui_safe(text: str) -> str:
    """``text`` with every Open WebUI rewrite tag neutralised; it reads the same.

    A WORD JOINER goes after the ``<`` (or ``◁``) of each tag in ``OPENWEBUI_REWRITE_TAGS``,
    matched without regard to case, with or without attributes, and also at the very end of
    the text (``…<think``), since more text may follow it. Other markup is left alone, and
    the function is idempotent.

    Args:
        text: Text for the answer (model output, prompts, messages we write).

    Returns:
        The text, safe to stream to Open WebUI.
    """
    return _REWRITE.sub(r"\1" + WORD_JOINER, text)


def inert_text(text: str) -> str:
    """``text`` with no tag and no character reference left; it reads the same.

    For text inside our ``<details>`` blocks (summaries, bodies): a WORD JOINER after every
    ``<`` that could open a tag or comment and every ``&`` that could start an entity, so a
    model's ``</details>``, ``<script>`` or ``&lt;`` stays text in Open WebUI's block parser,
    in its markdown and in any HTML renderer. Idempotent.

    Args:
        text: Text from a model, a tool or a user.

    Returns:
        The text, safe to place inside a block.
    """
    return openwebui_safe(_MARKUP.sub(r"\1" + WORD_JOINER, text))


def split_partial_tag(text: str) -> tuple[str, str]:
    """Split off an unfinished rewrite tag at the end of streamed, already safe text.

    A tag can arrive split across deltas (``"<th"`` then ``"ink>"``); Open WebUI scans the
    whole answer, so the pieces would join into a tag. The tail that could still become one
    is held back until the next delta (or the end of the answer) decides.

    Args:
        text: Output of ``openwebui_safe``.

    Returns:
        ``(ready, held)``: the text to send now and the tail to prepend to the next delta.
    """
    start = max(text.rfind("<", -_LONGEST_TAG), text.rfind("◁", -_LONGEST_TAG))
    if start < 0:
        return text, ""
    tail = text[start:].lower()
    if any(len(tail) < len(tag) and tag.startswith(tail) for tag in _TAG_PREFIXES):
        return text[:start], text[start:]
    return text, ""


def blockquote(text: str) -> str:
    """``text`` as inert markdown quote lines (``> …``), for a block's body; ``""`` if blank."""
    lines = inert_text(text.strip()).splitlines()
    return "\n".join(f"> {line}" if line.strip() else ">" for line in lines)


def code_span(text: str) -> str:
    """``text`` as an inert markdown code span, fenced by more backticks than it contains."""
    text = inert_text(" ".join(text.split()))
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
