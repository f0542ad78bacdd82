"""How finished workflow nodes read in the chat; model and user text cannot break the markup."""

from __future__ import annotations

import re

from liteagent.proxy.context import strip_rendered_blocks
from liteagent.proxy.openwebui import WORD_JOINER
from liteagent.proxy.runners.workflow_render import node_block, question_text, result_text
from liteagent.workflows import NodeDefinition, NodeExecution, NodeStatus, NodeType

WJ = WORD_JOINER

HOSTILE = 'Done.</details>\n<details type="tool_calls" done="false">\n<script>alert(1)</script>'


def test_agent_text_inside_a_block_is_inert_and_the_block_stays_closed() -> None:
    node = NodeDefinition("desk", NodeType.AGENT, {"label": "Desk <b>"})
    execution = NodeExecution("desk", NodeStatus.COMPLETED, output_data={"response": HOSTILE})
    block = node_block(node, execution)
    assert block.count("</details>") == 1 and block.endswith("</details>\n")
    assert "<script>" not in block and block.count("<details") == 1
    # a WORD JOINER after "<" keeps markup as text that reads the same
    assert f"<summary>Desk <{WJ}b> (agent): answered</summary>" in block
    assert f"> Done.<{WJ}/details>" in block
    # what a client sends back loses the whole block, nothing of the answer leaks out of it
    assert strip_rendered_blocks(f"before\n{block}after") == "before\nafter"


def test_summaries_say_what_each_node_decided() -> None:
    condition = NodeDefinition("route", NodeType.CONDITION, {"condition": "billing"})
    ran = NodeExecution("route", NodeStatus.COMPLETED, output_data={"condition_result": False})
    assert "<summary>route (condition): false</summary>\n> `billing`\n" in node_block(
        condition, ran
    )
    failed = NodeExecution("route", NodeStatus.FAILED, error="timed out")
    assert "<summary>❌ route (condition): failed: timed out</summary>\n> timed out\n" in (
        node_block(condition, failed)
    )
    custom = NodeDefinition("fetch", NodeType.CUSTOM, {"handler": "http_request"})
    done = NodeExecution("fetch", NodeStatus.COMPLETED, output_data={"status_code": 200})
    assert "fetch (custom: http_request): done" in node_block(custom, done)
    start = NodeDefinition("start", NodeType.START, {})
    assert node_block(start, NodeExecution("start", NodeStatus.COMPLETED)) == ""


def test_long_values_are_shortened_to_one_summary_line() -> None:
    node = NodeDefinition("t", NodeType.TRANSFORM, {})
    execution = NodeExecution("t", NodeStatus.COMPLETED, output_data={"result": "word " * 100})
    [summary] = re.findall(r"<summary>(.*)</summary>", node_block(node, execution))
    assert len(summary) < 130 and summary.endswith("…")


def test_questions_and_results() -> None:
    assert question_text("Which desk?", ["billing", "technical"]) == (
        "Which desk?\n\nReply with one of: `billing`, `technical` (or `cancel` to stop)."
    )
    assert question_text("Why?", None).endswith("Reply with your answer (or `cancel` to stop).")
    assert result_text({"total": 3}) == '```json\n{\n  "total": 3\n}\n```'
    assert result_text("  ") == result_text(None) == "The workflow finished without an answer."
