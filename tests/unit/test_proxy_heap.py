"""The proxy freezes its long-lived heap: once at start-up and once after its first requests."""

from __future__ import annotations

import gc

import pytest

from liteagent.proxy import heap


def test_the_heap_is_frozen_once_after_the_first_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    frozen: list[str] = []
    monkeypatch.setattr(heap, "freeze_heap", frozen.append)
    monkeypatch.setattr(heap, "_requests", 0)
    for _ in range(heap.SETTLE_AFTER - 1):
        heap.note_request()
    assert frozen == []
    for _ in range(10):
        heap.note_request()
    assert frozen == ["first_requests_served"]


def test_freezing_moves_live_objects_out_of_the_collectors_reach() -> None:
    kept = [object() for _ in range(1000)]
    try:
        heap.freeze_heap("test")
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()
