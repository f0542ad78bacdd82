"""End to end: Open WebUI's signed user (X-OpenWebUI-User-Jwt) through the real LiteLLM proxy."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import openai
import pytest
import yaml

from tests.e2e.proxy import MASTER_KEY, Proxy, make_project, run_proxy

pytestmark = [pytest.mark.e2e]

SECRET = "e2e-openwebui-forward-secret-" + "0123456789abcdef" * 2


def token(secret: str = SECRET, sub: str = "u-e2e") -> str:
    """What Open WebUI sends when its FORWARD_USER_INFO_HEADER_JWT_SECRET is set."""
    now = int(time.time())
    claims = {
        "sub": sub,
        "email": "ada@example.com",
        "name": "Ada",
        "role": "user",
        "iss": "open-webui",
        "iat": now,
        "exp": now + 300,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    folder = tmp_path_factory.mktemp("project")
    script = folder / "script.yaml"
    script.write_text(yaml.safe_dump(["Hello Ada."]))
    catalog = {
        "models": {
            "bot": {
                "description": "Greets.",
                "model": f"scripted/{script}",
                "system_prompt": "You greet people.",
            }
        }
    }
    project = make_project(folder, yaml.safe_dump(catalog))
    env = {
        "LITEAGENT_OPENWEBUI_JWT_SECRET": SECRET,
        "LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{project}/liteagent.db",
    }
    with run_proxy(project, env, wait_for="liteagent/bot") as p:
        yield p


def ask(proxy: Proxy, headers: dict[str, str]) -> str:
    client = openai.OpenAI(
        base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, timeout=60, max_retries=0
    )
    response = client.chat.completions.create(
        model="liteagent/bot",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"X-OpenWebUI-Chat-Id": "chat-1", **headers},
    )
    return response.choices[0].message.content or ""


def test_signed_users_are_verified_and_forged_ones_refused(proxy: Proxy) -> None:
    forged = token(secret="guessed-secret-" + "x" * 40)
    with pytest.raises(openai.PermissionDeniedError) as err:
        ask(proxy, {"X-OpenWebUI-User-Jwt": forged})
    assert "signature does not match" in str(err.value) and forged not in str(err.value)

    # the refusal did not put the model in cooldown: the next user is served at once
    valid = token()
    assert ask(proxy, {"X-OpenWebUI-User-Jwt": valid}) == "Hello Ada."

    with pytest.raises(openai.PermissionDeniedError) as unsigned:
        ask(proxy, {"X-OpenWebUI-User-Id": "u-e2e"})
    assert "FORWARD_USER_INFO_HEADER_JWT_SECRET" in str(unsigned.value)

    completed = [e for e in proxy.logs() if e.get("event") == "request_completed"]
    assert [e["user"].rsplit("/", 1)[-1] for e in completed] == ["u-e2e"]
    logs = proxy.log_text()
    assert forged not in logs and valid not in logs and SECRET not in logs
