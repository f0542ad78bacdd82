"""What a real Open WebUI 0.12.4 sent, recorded on the wire (``shared/fixtures`` beside the repo).

Each fixture file is a list of exchanges in order: ``dir`` = ``req`` (method, path, headers,
body) or ``resp`` (status, body or SSE text). Tests replay the requests — the very bodies and
headers Open WebUI sent, with its ~36 built-in tools, its task prompts and the assistant turns it
rebuilt from its own storage — instead of requests written from our own expectations.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "openwebui-0.12.4"


@dataclass(frozen=True)
class Recorded:
    """One recorded chat-completions request."""

    n: int
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self.body["messages"])

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def is_task(self) -> bool:
        first = self.body["messages"][0].get("content")
        return not self.stream and isinstance(first, str) and first.startswith("### Task:")

    @property
    def chat_id(self) -> str:
        return self.headers["X-OpenWebUI-Chat-Id"]

    def with_messages(self, messages: list[dict[str, Any]]) -> Recorded:
        """The same request (headers, tools, options) with another conversation."""
        return Recorded(
            self.n, dict(self.headers), {**copy.deepcopy(self.body), "messages": messages}
        )


@cache
def _load(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(json.loads((FIXTURES / name).read_text(encoding="utf-8")))


def requests(name: str) -> list[Recorded]:
    """The chat-completions requests of one fixture file, in order (authorization removed)."""
    out = []
    for exchange in _load(name):
        if exchange["dir"] != "req" or not exchange["path"].endswith("/chat/completions"):
            continue
        headers = {k: v for k, v in exchange["headers"].items() if k.lower() != "authorization"}
        out.append(Recorded(exchange["n"], headers, copy.deepcopy(exchange["body"])))
    return out


def responses(name: str) -> list[dict[str, Any]]:
    """The recorded responses of one fixture file, in order."""
    return [copy.deepcopy(e) for e in _load(name) if e["dir"] == "resp"]


def handler_kwargs(request: Recorded, *, key_hash: str = "open-webui-key-hash") -> dict[str, Any]:
    """What LiteLLM's proxy hands a ``CustomLLM`` for this request."""
    from litellm.types.utils import ModelResponse

    body = request.body
    optional = {
        k: body[k]
        for k in ("temperature", "max_tokens", "max_completion_tokens", "tools", "tool_choice")
        if k in body
    }
    return {
        "model_response": ModelResponse(),
        "optional_params": optional,
        "litellm_params": {
            "metadata": {
                "user_api_key_hash": key_hash,
                "headers": {k.lower(): v for k, v in request.headers.items()},
            },
            "proxy_server_request": {"body": copy.deepcopy(body)},
        },
    }


async def replay(handler: Any, request: Recorded, **kwargs: Any) -> tuple[str, list[Any]]:
    """Send one recorded request to a handler the way the proxy would: (answer text, chunks)."""
    model = str(request.body["model"])
    call = handler_kwargs(request, **kwargs)
    if request.stream:
        chunks = [c async for c in handler.astreaming(model, request.messages, **call)]
        text = "".join(c["text"] for c in chunks if isinstance(c, dict))
        return text, chunks
    response = await handler.acompletion(model, request.messages, **call)
    return str(response.choices[0].message.content), [response]


OWNER = "key:open-webui-key-h/4537ed87-fadd-4f3f-b5dd-5a21c40cdeb0"
"""The user key the handler derives from the recorded requests (``handler_kwargs``)."""


def scripted_assistant(tmp: Path, script: list[Any], tools: list[str]) -> tuple[Any, str]:
    """A handler serving ``assistant`` with ``tools`` over a scripted model that answers
    ``script`` in order, on a SQLite file in ``tmp``: (handler, database URL)."""
    import yaml

    from liteagent.catalog import parse_catalog
    from liteagent.config import Settings
    from liteagent.proxy import LiteAgentLLM

    db_url = f"sqlite+aiosqlite:///{tmp}/liteagent.db"
    path = tmp / "script.yaml"
    path.write_text(yaml.safe_dump(script))
    entry = {
        "model": f"scripted/{path}",
        "system_prompt": "You are LiteAgent's assistant.",
        "tools": tools,
    }
    handler = LiteAgentLLM(
        settings=Settings(database_url=db_url),
        catalog=parse_catalog({"models": {"assistant": entry}}),
    )
    return handler, db_url
