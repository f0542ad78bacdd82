"""The handler reports which model answered (after a fallback) in the response and its logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from litellm.types.utils import ModelResponse

from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.proxy import LiteAgentLLM


def handler_with_chain(tmp_path: Path) -> LiteAgentLLM:
    down = tmp_path / "down.yaml"
    down.write_text(yaml.safe_dump([{"error": "upstream is down"}] * 4))
    up = tmp_path / "up.yaml"
    up.write_text(yaml.safe_dump(["answer from the backup"] * 4))
    models = {
        "bot": {
            "system_prompt": "You are a test bot.",
            "model": {"fallbacks": [f"scripted/{down}", f"scripted/{up}"]},
        },
        "plain": {"system_prompt": "You are plain.", "model": f"scripted/{up}"},
    }
    return LiteAgentLLM(
        settings=Settings(_env_file=None), catalog=parse_catalog({"models": models})
    )


def kwargs() -> dict[str, Any]:
    return {
        "model_response": ModelResponse(),
        "optional_params": {},
        "litellm_params": {"metadata": {"user_api_key_user_id": "u1"}, "litellm_call_id": "r1"},
    }


async def test_completion_carries_provenance_body_and_headers(tmp_path: Path) -> None:
    handler = handler_with_chain(tmp_path)
    resp = await handler.acompletion(
        "liteagent/bot", [{"role": "user", "content": "hi"}], **kwargs()
    )
    assert resp.choices[0].message.content == "answer from the backup"
    meta = resp.liteagent  # type: ignore[attr-defined]
    assert meta["model"].endswith("up.yaml") and meta["requested_model"].endswith("down.yaml")
    assert meta["fallback_used"] is True
    assert [a["reason"] for a in meta["attempts"]] == ["error"]
    assert resp.model_dump()["liteagent"] == meta  # serialised into the JSON body
    headers = resp._hidden_params["additional_headers"]
    assert headers["x-liteagent-fallback"] == "true"
    assert headers["x-liteagent-model"] == meta["model"]


async def test_stream_carries_provenance_on_the_last_chunk(tmp_path: Path) -> None:
    handler = handler_with_chain(tmp_path)
    chunks = [
        c
        async for c in handler.astreaming(
            "liteagent/bot", [{"role": "user", "content": "hi"}], **kwargs()
        )
    ]
    last = chunks[-1]
    assert isinstance(last, dict) and last["is_finished"]
    meta = last["provider_specific_fields"]["liteagent"]
    assert meta["model"].endswith("up.yaml") and meta["fallback_used"] is True
    assert not any(
        isinstance(c, dict) and "liteagent" in (c.get("provider_specific_fields") or {})
        for c in chunks[:-1]
    )


async def test_plain_model_reports_itself(tmp_path: Path) -> None:
    handler = handler_with_chain(tmp_path)
    resp = await handler.acompletion(
        "liteagent/plain", [{"role": "user", "content": "hi"}], **kwargs()
    )
    meta = resp.liteagent  # type: ignore[attr-defined]
    assert meta["model"] == meta["requested_model"] and meta["model"].startswith("scripted/")
    assert meta["fallback_used"] is False and meta["llm_calls"] == 0
