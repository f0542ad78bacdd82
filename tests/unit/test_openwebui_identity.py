"""Open WebUI's signed user (``X-OpenWebUI-User-Jwt``) and its temporary chats."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from litellm.llms.custom_llm import CustomLLMError
from litellm.types.utils import ModelResponse
from pydantic import SecretStr
from structlog.testing import capture_logs

from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.errors import UserIdentityError
from liteagent.proxy import LiteAgentLLM
from liteagent.proxy.context import RequestContext
from tests.unit.test_agent_runner import SAVE, Chat

ROOT = Path(__file__).resolve().parents[2]
SECRET = "owui-forward-secret-" + "0123456789abcdef" * 3
MSGS = [{"role": "user", "content": "hi"}]


def token(secret: str = SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    """A token shaped like the one Open WebUI mints (utils/headers.py)."""
    now = int(time.time())
    payload = {
        "sub": "u-42",
        "email": "ada@example.com",
        "name": "Ada 100% Lovelace",
        "role": "admin",
        "iss": "open-webui",
        "iat": now,
        "exp": now + 300,
        **claims,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, secret, algorithm=algorithm)


def ctx(
    headers: dict[str, str],
    secret: str | None = SECRET,
    body: dict[str, Any] | None = None,
    messages: list[dict[str, Any]] = MSGS,
) -> RequestContext:
    return RequestContext.from_litellm(
        model="liteagent/assistant",
        messages=messages,
        litellm_params={
            "metadata": {"user_api_key_user_id": "owui", "headers": headers},
            "proxy_server_request": {"body": body or {}},
        },
        openwebui_jwt_secret=SecretStr(secret) if secret else None,
    )


# ------------------------------------------------------------------ signed user, secret set
def test_the_user_comes_from_the_verified_claims() -> None:
    c = ctx({"X-OpenWebUI-User-Jwt": token(), "x-openwebui-chat-id": "c-1"})
    assert c.user_key == "owui/u-42"
    assert (c.user_email, c.user_role) == ("ada@example.com", "admin")
    assert c.user_name == "Ada 100% Lovelace"  # claims are not URL-quoted like the header
    assert c.session_key == "owui/u-42:chat:c-1"


def test_signing_keeps_the_user_that_plain_headers_named() -> None:
    plain = ctx({"x-openwebui-user-id": "u-42"}, secret=None)
    signed = ctx({"x-openwebui-user-jwt": token()})
    assert signed.user_key == plain.user_key  # stored credentials and sessions carry over


def test_the_token_is_not_kept_and_the_auth_type_header_is_ignored() -> None:
    t = token()
    c = ctx({"x-openwebui-user-jwt": t, "x-openwebui-auth-type": "jwt"})
    assert c.user_key == "owui/u-42"
    assert t not in c.headers.values()
    assert set(c.headers) == set()


def test_a_few_seconds_of_clock_drift_are_tolerated() -> None:
    now = int(time.time())
    assert ctx({"x-openwebui-user-jwt": token(exp=now - 10)}).end_user == "u-42"
    assert ctx({"x-openwebui-user-jwt": token(iat=now + 10)}).end_user == "u-42"


# Built when the test runs, not when it is collected: a token made at collection would expire
# while a long suite runs the other tests first.
BAD_TOKENS: dict[str, Any] = {
    "it has expired": lambda: token(exp=int(time.time()) - 3600),
    "signature does not match": lambda: token(secret="another-secret-0123456789abcdefghijkl"),
    "not issued by Open WebUI": lambda: token(iss="someone-else"),
    "not signed with HS256": lambda: token(algorithm="HS512"),
    "not signed with HS256 (none)": lambda: token(secret="", algorithm="none"),
    "lacks the 'exp' claim": lambda: token(exp=None),
    "lacks the 'sub' claim": lambda: token(sub=None),
    "names no user": lambda: token(sub="  "),
    "not a well-formed JWT": lambda: "not-a-jwt",
}


@pytest.mark.parametrize("case", BAD_TOKENS)
def test_a_bad_token_is_refused_without_echoing_it(case: str) -> None:
    bad = BAD_TOKENS[case]()
    fragment = case.removesuffix(" (none)")
    with capture_logs() as logs, pytest.raises(UserIdentityError) as err:
        ctx({"x-openwebui-user-jwt": bad})
    assert err.value.status_code == 403
    assert fragment in err.value.message
    assert bad not in err.value.message and SECRET not in err.value.message
    assert bad not in str(logs) and SECRET not in str(logs)
    assert [e["event"] for e in logs] == ["openwebui_user_jwt_rejected"]


def test_unsigned_user_headers_are_refused_once_a_secret_is_set() -> None:
    with pytest.raises(UserIdentityError) as err:
        ctx({"x-openwebui-user-id": "u-42", "x-openwebui-user-name": "Ada"})
    assert err.value.status_code == 403
    assert "FORWARD_USER_INFO_HEADER_JWT_SECRET" in err.value.message


def test_clients_that_name_no_open_webui_user_are_unaffected_by_the_secret() -> None:
    assert ctx({}, body={"user": "alice"}).user_key == "owui/alice"


# ---------------------------------------------------------------- signed user, no secret
def test_without_a_secret_a_token_is_refused_not_guessed() -> None:
    for sub in ("u-1", "u-2"):  # two different users must not become one anonymous user
        with pytest.raises(UserIdentityError) as err:
            ctx({"x-openwebui-user-jwt": token(sub=sub)}, secret=None, body={"user": "x"})
        assert err.value.status_code == 403
        assert "LITEAGENT_OPENWEBUI_JWT_SECRET" in err.value.message
        assert "FORWARD_USER_INFO_HEADER_JWT_SECRET" in err.value.message


def test_without_a_secret_a_plain_user_id_beside_a_token_is_used() -> None:
    c = ctx({"x-openwebui-user-jwt": "opaque", "x-openwebui-user-id": "u-7"}, secret=None)
    assert c.user_key == "owui/u-7"


# --------------------------------------------------------------------------------- settings
def test_secret_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "LITEAGENT_OPENWEBUI_JWT_SECRET" in (ROOT / ".env.example").read_text()
    monkeypatch.setenv("FORWARD_USER_INFO_HEADER_JWT_SECRET", f" {SECRET} ")
    monkeypatch.setenv("LITEAGENT_OPENWEBUI_JWT_SECRET", "")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.openwebui_jwt_secret is not None
    assert settings.openwebui_jwt_secret.get_secret_value() == SECRET  # Open WebUI strips it
    assert SECRET not in repr(settings)
    monkeypatch.setenv("LITEAGENT_OPENWEBUI_JWT_SECRET", "liteagent-own-secret")
    own = Settings(_env_file=None).openwebui_jwt_secret  # type: ignore[call-arg]
    assert own is not None and own.get_secret_value() == "liteagent-own-secret"
    monkeypatch.delenv("FORWARD_USER_INFO_HEADER_JWT_SECRET")
    monkeypatch.delenv("LITEAGENT_OPENWEBUI_JWT_SECRET")
    assert Settings(_env_file=None).openwebui_jwt_secret is None  # type: ignore[call-arg]


# ------------------------------------------------------------------------- through LiteLLM
def handler_with_secret(tmp_path: Path) -> LiteAgentLLM:
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump(["hello"]))
    # a tool makes the agent hold its user's tool context: one agent per user
    models = {
        "bot": {
            "system_prompt": "You are a test bot.",
            "model": f"scripted/{script}",
            "tools": ["calculator"],
        }
    }
    return LiteAgentLLM(
        settings=Settings(
            openwebui_jwt_secret=SecretStr(SECRET),
            agent_cache_size=4,
            database_url=f"sqlite+aiosqlite:///{tmp_path}/liteagent.db",
        ),
        catalog=parse_catalog({"models": models}),
    )


def kwargs(jwt_header: str) -> dict[str, Any]:
    headers = {"x-openwebui-user-jwt": jwt_header}
    return {
        "model_response": ModelResponse(),
        "optional_params": {},
        "litellm_params": {"metadata": {"user_api_key_user_id": "owui", "headers": headers}},
    }


async def test_the_handler_serves_signed_users_and_refuses_forged_ones(tmp_path: Path) -> None:
    handler = handler_with_secret(tmp_path)
    forged = token(secret="guessed-secret-0123456789abcdefghijkl")
    with pytest.raises(CustomLLMError) as err:
        await handler.acompletion("bot", MSGS, **kwargs(forged))
    assert err.value.status_code == 403 and forged not in err.value.message
    with pytest.raises(CustomLLMError) as streamed:
        _ = [c async for c in handler.astreaming("bot", MSGS, **kwargs(forged))]
    assert streamed.value.status_code == 403
    assert len(handler.cache) == 0  # nothing ran for the forged user

    resp = await handler.acompletion("bot", MSGS, **kwargs(token(sub="u-9")))
    assert resp.choices[0].message.content == "hello"
    assert handler.cache.invalidate_user("owui/u-9") == 1  # the agent belongs to the signed user


# ------------------------------------------------------------------------- temporary chats
async def test_two_temporary_chats_of_one_tab_keep_their_own_runs(tmp_path: Path) -> None:
    bread = {
        "content": "I will save it.",
        "tool_calls": [{"name": "save_note", "arguments": {"title": "bakery", "text": "bread"}}],
    }
    first = Chat(tmp_path, chat_id="local:sock-1")
    first.start([SAVE, bread, "Saved the groceries.", "Saved the bread."])
    assert "Approval needed" in await first.say("Save a note: buy milk and eggs")

    # "New chat" in the same tab: Open WebUI sends the same temporary chat id again
    second = Chat(tmp_path, chat_id="local:sock-1")
    second.handler = first.handler
    assert "Approval needed" in await second.say("Save a note: bread")

    # each chat approves its own call, in a later turn of that same chat
    assert (await first.say("approve")).endswith("Saved the groceries.")
    assert (await second.say("approve")).endswith("Saved the bread.")
    notes = sorted(await first.notes())
    assert notes == [("bakery", "bread"), ("groceries", 'buy <milk> & "eggs"')]
