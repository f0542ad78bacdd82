"""What Open WebUI shows for our stream, checked with a port of its own parsers."""

from __future__ import annotations

import html
import json
import re

import pytest

from liteagent.proxy.chunks import ContentWriter, reasoning_block, tool_block
from liteagent.proxy.context import strip_rendered_blocks
from liteagent.proxy.events import ToolStep
from liteagent.proxy.openwebui import (
    OPENWEBUI_REWRITE_TAGS,
    WORD_JOINER,
    inert_text,
    openwebui_safe,
)
from liteagent.proxy.runners.workflow_render import node_block
from liteagent.workflows import NodeDefinition, NodeExecution, NodeStatus, NodeType
from tests.openwebui.markup import (
    ALL_TAG_PAIRS,
    body_text,
    details_tokens,
    is_empty_button,
    rewrite_tags_found,
    shows_check_mark,
    visible_label,
)

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


def test_a_tag_split_across_deltas_never_reaches_the_client_whole() -> None:
    writer = ContentWriter()
    pieces = ["Say <", "rea", "son> here <th", "ink", "er> and <", "br> end <|begin_of"]
    out = [writer.text(p) for p in pieces]
    out.append(writer.flush())
    answer = "".join(out)
    assert rewrite_tags_found(answer) == []
    assert visible(answer) == "".join(pieces)
    assert "<br>" in answer  # markup that is no rewrite tag passes untouched
    assert all(not chunk.endswith("<") for chunk in out[:-1])


def test_held_text_comes_before_a_tool_block_and_before_late_reasoning() -> None:
    writer = ContentWriter()
    step = ToolStep("c1", "calculator", '{"expression": "1+1"}', "2")
    out = [writer.text("Checking <"), writer.tool(step), writer.text("Done.")]
    writer.reasoning("Why <think>?")
    out += [writer.text(" More <"), writer.flush()]
    answer = "".join(out)
    assert answer.startswith('Checking <\n<details type="tool_calls"')
    assert [t.attributes["type"] for t in details_tokens(answer)] == ["tool_calls", "reasoning"]
    assert answer.endswith("</details>\n More <")
    assert rewrite_tags_found(answer) == []


def test_a_tool_call_that_worked_shows_its_name_with_a_check_mark() -> None:
    arguments = json.dumps({"text": HOSTILE})
    step = ToolStep('id"1\n', "save_note", arguments, f"Saved: {HOSTILE}")
    block = tool_block(step)
    [token] = details_tokens(f"Before.\n{block}After.")
    assert token.raw + "\n" == block
    assert visible_label(token) == "View Result from save_note" and shows_check_mark(token)
    attributes = token.attributes
    assert html.unescape(attributes["id"]) == step.call_id
    assert json.loads(html.unescape(attributes["arguments"])) == arguments
    assert json.loads(html.unescape(attributes["result"])) == step.result
    assert rewrite_tags_found(block) == []


def test_a_failed_tool_call_reads_failed_and_shows_no_check_mark() -> None:
    step = ToolStep(
        "c2", "save_note", '{"text": "<think>"}', f"Error from save_note: {HOSTILE}", True
    )
    block = tool_block(step)
    [token] = details_tokens(block)
    assert not shows_check_mark(token)
    assert visible_label(token) == "❌ save_note failed"
    body = visible(body_text(token))
    assert "Error from save_note: He said" in body and '{"text": "<think>"}' in body
    assert json.loads(html.unescape(token.attributes["result"])) == step.result
    assert rewrite_tags_found(block) == []
    assert strip_rendered_blocks(f"a\n{block}b") == "a\nb"


def test_late_reasoning_is_one_block_with_a_body_and_blank_reasoning_none() -> None:
    block = reasoning_block(HOSTILE, 3)
    [token] = details_tokens(block)
    assert visible_label(token) == "Thought for 3 seconds" and body_text(token)
    assert rewrite_tags_found(block) == []
    assert reasoning_block(" \n ", 2) == ""


def _node(kind: NodeType, config: dict[str, object] | None = None) -> NodeDefinition:
    return NodeDefinition("n1", kind, {"label": f"Step <b>{kind.value}", **(config or {})})


FINISHED = [
    (_node(NodeType.AGENT), {"response": HOSTILE, "tool_calls": [{}]}),
    (_node(NodeType.CONDITION, {"condition": "x < 3 and y"}), {"condition_result": True}),
    (_node(NodeType.TRANSFORM), {"transform": "template", "result": HOSTILE}),
    (_node(NodeType.TRANSFORM), {"transform": "length", "result": 0}),
    (_node(NodeType.HUMAN), {"prompt": HOSTILE, "response": "yes <think>"}),
    (_node(NodeType.LOOP, {"condition": "i < 2"}), {"continue": True, "iteration": 1}),
    (_node(NodeType.LOOP), {"continue": False, "iteration": 10, "exhausted": True}),
    (_node(NodeType.MERGE), {"branches": ["a", "b"], "merged": {"a": {"x": HOSTILE}}}),
    (_node(NodeType.MERGE), {"branches": [], "merged": {}}),
    (_node(NodeType.WAIT), {"waited_seconds": 2}),
    (_node(NodeType.WAIT), {"event": "paid", "data": None}),
    (_node(NodeType.PARALLEL), {}),
    (_node(NodeType.CUSTOM, {"handler": "http_request"}), {"status_code": 200}),
    (_node(NodeType.CUSTOM), {}),
]


@pytest.mark.parametrize(("node", "output"), FINISHED, ids=lambda v: getattr(v, "type", ""))
def test_every_finished_node_shows_its_summary_and_opens_to_a_body(
    node: NodeDefinition, output: dict[str, object]
) -> None:
    block = node_block(node, NodeExecution("n1", NodeStatus.COMPLETED, output_data=output))
    [token] = details_tokens(f"Text.\n{block}More text.")
    assert not is_empty_button(token)
    label = visible_label(token)
    assert label.startswith(f"Step <b>{node.type.value} (") and "failed" not in label
    assert "\n" not in label and len(label) < 160
    assert rewrite_tags_found(block) == []
    assert strip_rendered_blocks(f"a\n{block}b") == "a\nb"


@pytest.mark.parametrize("kind", [k for k in NodeType if k not in (NodeType.START, NodeType.END)])
@pytest.mark.parametrize("suppressed", [False, True])
def test_every_failed_node_reads_failed_and_shows_the_error(
    kind: NodeType, suppressed: bool
) -> None:
    error = f"timed out: {HOSTILE}"
    output = {"error": error, "error_suppressed": True} if suppressed else {}
    execution = NodeExecution("n1", NodeStatus.FAILED, output_data=output, error=error)
    block = node_block(_node(kind), execution)
    [token] = details_tokens(block)
    label = visible_label(token)
    assert label.startswith(f"❌ Step <b>{kind.value} (") and ": failed" in label
    assert ("(continued)" in label) is suppressed
    assert visible(body_text(token)).startswith('> timed out: He said "stop" & left.</details>')
    assert rewrite_tags_found(block) == []


def test_a_failed_node_without_a_message_still_has_a_body() -> None:
    block = node_block(_node(NodeType.TRANSFORM), NodeExecution("n1", NodeStatus.FAILED))
    [token] = details_tokens(block)
    assert visible_label(token) == "❌ Step <b>transform (transform): failed: no error message"
    assert body_text(token) == "> no error message"


def test_consecutive_node_and_tool_blocks_are_all_found() -> None:
    ok = ToolStep("c1", "calculator", "{}", "4")
    bad = ToolStep("c2", "save_note", "{}", "Error", True)
    writer = ContentWriter()
    node = node_block(_node(NodeType.PARALLEL), NodeExecution("n1", NodeStatus.COMPLETED))
    answer = writer.text(node) + writer.tool(ok) + writer.tool(bad) + writer.text("It is 4.")
    answer += writer.flush()
    labels = [visible_label(t) for t in details_tokens(answer)]
    assert labels == [
        "Step <b>parallel (parallel): started the branches",
        "View Result from calculator",
        "❌ save_note failed",
    ]
    assert strip_rendered_blocks(answer) == "It is 4."


def test_no_prompt_template_and_no_fixed_message_holds_a_rewrite_tag() -> None:
    """Every text we write ourselves is free of Open WebUI's rewrite tags before the writer's
    safety net: each version of each engine prompt, and every fixed message of the modules that
    answer in the chat."""
    import importlib
    import pkgutil

    import liteagent.proxy
    import liteagent.toolkits
    from liteagent.agents.prompts import agent_prompts

    rendered = []
    for name in agent_prompts.list_templates():
        for version in agent_prompts.versions(name):
            template = agent_prompts.get(name, version)
            values = {v: f"value of {v}" for v in template.get_variable_names()}
            rendered.append((name, template.render(**values)))
    assert len(rendered) >= 8
    fixed = []
    for package in (liteagent.proxy, liteagent.toolkits):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            if info.name.endswith(".openwebui"):
                continue  # the list of the tags itself
            fixed += [
                (f"{info.name}.{key}", value)
                for key, value in vars(module).items()
                if key.isupper() and isinstance(value, str)
            ]
    assert any(key.endswith("NOTHING_WAITING") for key, _ in fixed)
    for key, text in [*rendered, *fixed]:
        assert rewrite_tags_found(text) == [], key


def test_an_approval_prompt_with_hostile_arguments_reaches_the_client_inert() -> None:
    from liteagent.agents.prompts import AgentPrompts
    from liteagent.agents.types import ToolCall

    hostile = {
        "title": "``` ![x](https://evil.example/p.png) **safe to approve** <think>",
        "text": "</details><reason>",
    }
    prompt = AgentPrompts.approval_request([ToolCall(id="c1", name="save_note", arguments=hostile)])
    sent = ContentWriter().text(prompt)
    assert rewrite_tags_found(sent) == []
    # the arguments sit inside one fence that none of them can close
    fence = re.search(r"\n(`{3,})json\n(.*?)\n\1\n", sent, re.S)
    assert fence is not None and "safe to approve" in fence.group(2)
    outside = sent.replace(fence.group(0), "")
    assert "![" not in outside and "safe to approve" not in outside and "<" not in outside
