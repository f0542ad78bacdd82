"""How Open WebUI reads the text we stream: its ``<details>`` block parser and its tag scanner.

Ported from Open WebUI's source (github.com/open-webui/open-webui), so that tests can check our
output the way Open WebUI will see it:

- ``details_tokens`` follows ``src/lib/utils/marked/extension.ts`` (``detailsTokenizer``,
  ``findMatchingClosingTag``, ``parseAttributes``). marked tries that tokenizer where a block
  starts; our blocks always start on a line of their own, so every line start is tried here.
- ``visible_label`` and ``body_text`` follow ``src/lib/components/chat/Messages/Markdown/
  MarkdownTokens.svelte`` (``getDetailTextContent``), ``src/lib/components/common/
  ToolCallDisplay.svelte`` and ``src/lib/components/common/Collapsible.svelte``: a
  ``tool_calls`` block is labelled from its attributes, with a check mark once ``done``;
  any other block shows its summary, and is a disabled, empty button when it has no body.
- ``rewrite_tags_found`` follows ``backend/open_webui/utils/middleware.py``
  (``DEFAULT_REASONING_TAGS``, ``DEFAULT_SOLUTION_TAGS``, ``DEFAULT_CODE_INTERPRETER_TAGS`` and
  the start-tag pattern of ``tag_content_handler``).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

WORD_JOINER = "\u2060"

DEFAULT_REASONING_TAGS = [
    ("<think>", "</think>"),
    ("<thinking>", "</thinking>"),
    ("<reason>", "</reason>"),
    ("<reasoning>", "</reasoning>"),
    ("<thought>", "</thought>"),
    ("<Thought>", "</Thought>"),
    ("<|begin_of_thought|>", "<|end_of_thought|>"),
    ("◁think▷", "◁/think▷"),
]
DEFAULT_SOLUTION_TAGS = [("<|begin_of_solution|>", "<|end_of_solution|>")]
DEFAULT_CODE_INTERPRETER_TAGS = [("<code_interpreter>", "</code_interpreter>")]
ALL_TAG_PAIRS = DEFAULT_REASONING_TAGS + DEFAULT_SOLUTION_TAGS + DEFAULT_CODE_INTERPRETER_TAGS

_DETAILS = re.compile(r"^<details(\s+[^>]*)?>\n")
_SUMMARY = re.compile(r"^<summary>(.*?)</summary>\n")
_ATTRIBUTE = re.compile(r'(\w+)="(.*?)"')
_SUMMARY_ANYWHERE = re.compile(r"<summary>.*?</summary>", re.IGNORECASE)


@dataclass(frozen=True)
class DetailsToken:
    """What ``detailsTokenizer`` returns for one block."""

    raw: str
    summary: str
    text: str
    attributes: dict[str, str]


def _find_matching_closing_tag(src: str, open_tag: str, close_tag: str) -> int:
    depth = 1
    index = len(open_tag)
    while depth > 0 and index < len(src):
        if src.startswith(open_tag, index):
            depth += 1
        elif src.startswith(close_tag, index):
            depth -= 1
        if depth > 0:
            index += 1
    return index + len(close_tag) if depth == 0 else -1


def _parse_attributes(tag: str) -> dict[str, str]:
    return {name: value for name, value in _ATTRIBUTE.findall(tag)}


def details_tokenizer(src: str) -> DetailsToken | None:
    """``detailsTokenizer``: the block at the start of ``src``, or ``None``."""
    match = _DETAILS.match(src)
    if match is None:
        return None
    end = _find_matching_closing_tag(src, "<details", "</details>")
    if end == -1:
        return None
    full = src[:end]
    tag = match.group(0)
    content = full[len(tag) : -10].strip()
    summary = ""
    found = _SUMMARY.match(content)
    if found is not None:
        summary = found.group(1).strip()
        content = content[len(found.group(0)) :].strip()
    return DetailsToken(full, summary, content, _parse_attributes(tag))


def details_tokens(markdown: str) -> list[DetailsToken]:
    """Every block Open WebUI finds in a message, in order."""
    tokens: list[DetailsToken] = []
    pos = 0
    while pos < len(markdown):
        token = details_tokenizer(markdown[pos:])
        if token is not None:
            tokens.append(token)
            pos += len(token.raw)
            continue
        newline = markdown.find("\n", pos)
        if newline == -1:
            break
        pos = newline + 1
    return tokens


def body_text(token: DetailsToken) -> str:
    """``getDetailTextContent``: the body Open WebUI renders (entities decoded, summary out)."""
    return _SUMMARY_ANYWHERE.sub("", html.unescape(token.text)).strip()


def visible_label(token: DetailsToken) -> str:
    """The line Open WebUI shows for a block (invisible WORD JOINERs removed)."""
    attributes = token.attributes
    kind = attributes.get("type")
    done = attributes.get("done") == "true"
    if kind == "tool_calls":
        name = attributes.get("name", "")
        label = f"View Result from {name}" if done else f"Executing {name}..."
    elif kind == "reasoning":
        duration = attributes.get("duration")
        label = f"Thought for {duration} seconds" if done and duration else "Thinking..."
    else:
        label = token.summary
    return label.replace(WORD_JOINER, "")


def shows_check_mark(token: DetailsToken) -> bool:
    """``ToolCallDisplay`` draws a green check mark: a finished ``tool_calls`` block."""
    return token.attributes.get("type") == "tool_calls" and token.attributes.get("done") == "true"


def is_empty_button(token: DetailsToken) -> bool:
    """A non-tool block with no body: Open WebUI renders a disabled button with no summary."""
    return token.attributes.get("type") != "tool_calls" and not body_text(token)


def _start_tag_pattern(start_tag: str) -> str:
    if start_tag.startswith("<") and start_tag.endswith(">"):
        return rf"<{re.escape(start_tag[1:-1])}(\s.*?)?>"
    return re.escape(start_tag)


def rewrite_tags_found(text: str) -> list[str]:
    """The tags in ``text`` that would make Open WebUI move text into a reasoning/code block."""
    found = [start for start, _ in ALL_TAG_PAIRS if re.search(_start_tag_pattern(start), text)]
    return found + [end for _, end in ALL_TAG_PAIRS if end in text]
