"""WorkflowBuilder.build() accepts well-formed graphs and names every problem in malformed ones."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liteagent.workflows import (
    NodeType,
    WorkflowBuilder,
    WorkflowValidationError,
)


def linear() -> WorkflowBuilder:
    return (
        WorkflowBuilder("wf", "Linear")
        .add_start()
        .add_agent("a", purpose="p")
        .add_end()
        .connect("start", "a")
        .connect("a", "end")
    )


def problems(builder: WorkflowBuilder) -> list[str]:
    with pytest.raises(WorkflowValidationError) as info:
        builder.build()
    assert info.value.status_code == 400
    assert "Workflow 'wf' is invalid" in info.value.message
    return info.value.problems


def test_valid_graph_builds() -> None:
    definition = linear().build()
    assert [n.id for n in definition.nodes] == ["start", "a", "end"]
    assert definition.get_node("a").config["purpose"] == "p"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda b: b.add_start("start2").connect("start2", "a"), "exactly one START node"),
        (lambda b: b.connect("a", "ghost"), "target 'ghost' is not a node"),
        (lambda b: b.connect("nowhere", "a"), "source 'nowhere' is not a node"),
        (lambda b: b.add_agent("orphan").connect("orphan", "end"), "not reachable from 'start'"),
        (lambda b: b.add_agent("dead").connect("a", "dead", "x > 1"), "'dead' has no outgoing"),
        (lambda b: b.connect("a", "start"), "START node cannot have incoming"),
        (
            lambda b: b.add_agent("b").connect("a", "b").connect("b", "a"),
            "does not go through a LOOP node's body",
        ),
        (lambda b: b.add_agent("a"), "node 'a' is defined more than once"),
        (lambda b: b.add_node("bad id!", NodeType.AGENT), "node id 'bad id!' is invalid"),
        (
            lambda b: b.add_agent("c", temperature=9).connect("a", "c", "x").connect("c", "end"),
            "node 'c' (agent): field 'temperature'",
        ),
        (
            lambda b: (
                b.add_agent("c", input_variable="__class__")
                .connect("a", "c", "x")
                .connect("c", "end")
            ),
            "field 'input_variable'",
        ),
        (lambda b: b.connect("a", "end", "x >"), "condition is invalid: expression ended early"),
        (lambda b: b.add_end("end2").connect("a", "end2"), "2 unconditional edges"),
        (
            lambda b: (
                b.add_condition("k", "__import__('os')").connect("a", "k", "y").connect("k", "end")
            ),
            "names containing '__'",
        ),
        (
            lambda b: (
                b.add_human("h", "Ok?", options=[]).connect("a", "h", "y").connect("h", "end")
            ),
            "options must not be empty",
        ),
        (
            lambda b: b.add_wait("w").connect("a", "w", "y").connect("w", "end"),
            "set exactly one of 'seconds' and 'event'",
        ),
        (
            lambda b: (
                b.add_transform("t", "upper", None, "o").connect("a", "t", "y").connect("t", "end")
            ),
            "transform 'upper' needs 'input_variable'",
        ),
        (
            lambda b: b.add_custom("c", "").connect("a", "c", "y").connect("c", "end"),
            "field 'handler'",
        ),
        (lambda b: b.add_loop("l", body="a", max_iterations=5000), "field 'max_iterations'"),
    ],
)
def test_malformed_graphs_are_named(mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    found = problems(mutate(linear()))
    assert any(expected in p for p in found), found


def test_missing_start_and_end() -> None:
    found = problems(WorkflowBuilder("wf", "x").add_agent("a"))
    assert "there is no START node (add_start())" in found
    assert "there is no END node (add_end())" in found


def test_unknown_node_type() -> None:
    with pytest.raises(WorkflowValidationError, match="unknown type 'robot'"):
        WorkflowBuilder("wf", "x").add_node("r", "robot")


def test_end_must_be_reachable() -> None:
    builder = (
        WorkflowBuilder("wf", "x")
        .add_start()
        .add_loop("loop", body="work", max_iterations=3)
        .add_agent("work")
        .add_end()
        .connect("start", "loop")
        .connect("loop", "work")
        .connect("loop", "loop2", "false")
        .connect("work", "loop")
    )
    found = problems(builder)
    assert any("'loop2' is not a node" in p for p in found)
    assert any("no END node is reachable" in p or "not reachable" in p for p in found)


def test_loop_bounds_cycles() -> None:
    definition = (
        WorkflowBuilder("wf", "x")
        .add_start()
        .add_loop("loop", body="work", condition="iteration < 3", max_iterations=5)
        .add_agent("work")
        .add_end()
        .connect("start", "loop")
        .connect("loop", "work")
        .connect("loop", "end")
        .connect("work", "loop")
        .build()
    )
    assert definition.get_node("loop").type is NodeType.LOOP  # type: ignore[union-attr]


def test_cycle_through_loop_exit_is_unbounded() -> None:
    builder = (
        WorkflowBuilder("wf", "x")
        .add_start()
        .add_loop("loop", body="work", max_iterations=5)
        .add_agent("work")
        .add_condition("again", "x > 1")
        .add_end()
        .connect("start", "loop")
        .connect("loop", "work")
        .connect("work", "loop")
        .connect("loop", "again")
        .connect("again", "loop", "condition_result")
        .connect("again", "end")
    )
    assert any("loop -> again -> loop" in p for p in problems(builder))


# ------------------------------------------------------------------ property tests


@st.composite
def dags(draw: st.DrawFn) -> WorkflowBuilder:
    """A random valid graph: start -> layered agents/conditions -> end."""
    n = draw(st.integers(min_value=1, max_value=8))
    builder = WorkflowBuilder("wf", "random").add_start().add_end()
    ids = [f"n{i}" for i in range(n)]
    for node_id in ids:
        builder.add_agent(node_id, purpose=node_id)
    builder.connect("start", ids[0])
    for i, node_id in enumerate(ids):
        later = [*ids[i + 1 :], "end"]
        targets = draw(st.lists(st.sampled_from(later), min_size=1, max_size=3, unique=True))
        if ids[i + 1 : i + 2] and ids[i + 1] not in targets:
            targets.append(ids[i + 1])  # keep every node reachable
        builder.connect(node_id, targets[0])
        for j, target in enumerate(targets[1:]):
            builder.connect(node_id, target, f"x == {j}")
    return builder


@settings(max_examples=100, deadline=None)
@given(dags())
def test_random_valid_graphs_build(builder: WorkflowBuilder) -> None:
    builder.build()


MUTATIONS = ["drop_start", "second_start", "dangling", "back_edge", "drop_end", "duplicate"]


@settings(max_examples=200, deadline=None)
@given(dags(), st.sampled_from(MUTATIONS), st.data())
def test_malformed_graphs_are_rejected(builder: WorkflowBuilder, mutation: str, data) -> None:  # type: ignore[no-untyped-def]
    ids = [n.id for n in builder._nodes if n.type is NodeType.AGENT]
    if mutation == "drop_start":
        builder._nodes = [n for n in builder._nodes if n.type is not NodeType.START]
    elif mutation == "second_start":
        builder.add_start("start_b").connect("start_b", ids[0])
    elif mutation == "dangling":
        builder.connect(data.draw(st.sampled_from(ids)), "missing_node", "x")
    elif mutation == "back_edge":
        i = data.draw(st.integers(min_value=0, max_value=len(ids) - 1))
        builder.connect(ids[-1], ids[i], "x == 99")  # a cycle without a LOOP node
    elif mutation == "drop_end":
        builder._nodes = [n for n in builder._nodes if n.type is not NodeType.END]
    else:
        builder.add_agent(data.draw(st.sampled_from(ids)))
    with pytest.raises(WorkflowValidationError) as info:
        builder.build()
    assert info.value.problems
