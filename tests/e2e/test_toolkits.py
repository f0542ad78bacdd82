"""End to end: the demo Agno agent (liteagent/release-manager) through the real proxy.

Unconfigured it answers with the Jira configuration prompt; configured by chat against a local
Jira wire server it calls Jira as that user; another user gets the prompt; revoke works; the
proxy's log and the database hold no plaintext token. Start-up refuses a missing key outside
development.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import yaml
from cryptography.fernet import Fernet

from tests.e2e.proxy import MASTER_KEY, ROOT, Proxy, make_project, run_proxy
from tests.servers.http import serve_app
from tests.servers.jira_wire import JiraWireServer

pytestmark = [pytest.mark.e2e]
BIN = Path(sys.executable).parent
TOKEN = "MzE0MTU5MjY1MzU4OkUyZVNlY3JldEppcmFUb2tlbg"
SCRIPT = [
    {"tool_calls": [{"name": "jira_list_versions", "arguments": {"project_key": "REL"}}]},
    "Release 2.4 is planned for 2026-12-01.",
]


@pytest.fixture(scope="module")
def jira() -> Iterator[tuple[JiraWireServer, str]]:
    server = JiraWireServer()
    server.add_account(TOKEN, "Erin E2E", projects=("REL",))
    server.versions["REL"] = [
        {"id": "1", "name": "2.4", "released": False, "releaseDate": "2026-12-01"}
    ]
    with serve_app(server.app) as url:
        yield server, url


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's catalog; the demo agent's model scripted so its answers are known."""
    folder = tmp_path_factory.mktemp("project")
    script = folder / "script.yaml"
    script.write_text(yaml.safe_dump(SCRIPT))
    catalog = yaml.safe_load((ROOT / "liteagent.yaml").read_text())
    demo = catalog["models"]["release-manager"]
    assert demo["kind"] == "agno" and demo["toolkits"][0] == {"name": "jira", "required": True}
    demo["model"] = f"scripted/{script}"
    return make_project(folder, yaml.safe_dump(catalog))


@pytest.fixture(scope="module")
def proxy(project: Path) -> Iterator[Proxy]:
    env = {
        "LITEAGENT_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{project}/liteagent.db",
        # The Jira wire server listens on 127.0.0.1: allowed explicitly, as an intranet Jira.
        "LITEAGENT_OUTBOUND_ALLOW_HOSTS": "127.0.0.1",
    }
    with run_proxy(project, env, wait_for="liteagent/release-manager") as p:
        yield p


def client(proxy: Proxy, user: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{proxy.base_url}/v1",
        api_key=MASTER_KEY,
        timeout=120,
        max_retries=0,
        default_headers={"X-OpenWebUI-User-Id": user, "X-OpenWebUI-Chat-Id": f"chat-{user}"},
    )


def ask(c: openai.OpenAI, history: list[dict[str, str]], text: str, *, stream: bool) -> str:
    history.append({"role": "user", "content": text})
    if stream:
        pieces = []
        for chunk in c.chat.completions.create(
            model="liteagent/release-manager",
            messages=history,
            stream=True,  # type: ignore[arg-type]
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
        answer = "".join(pieces)
    else:
        response = c.chat.completions.create(
            model="liteagent/release-manager",
            messages=history,  # type: ignore[arg-type]
        )
        answer = response.choices[0].message.content or ""
    history.append({"role": "assistant", "content": answer})
    return answer


def test_demo_agent_prompts_configures_calls_jira_and_revokes(
    proxy: Proxy, project: Path, jira: tuple[JiraWireServer, str]
) -> None:
    server, url = jira
    alice, history = client(proxy, "alice"), []
    assert "Jira is not connected yet" in ask(alice, history, "When is 2.4 due?", stream=True)

    reply = ask(alice, history, f"jira url {url} token {TOKEN}", stream=False)
    assert "Jira is connected as **Erin E2E**" in reply

    answer = ask(alice, history, "When is 2.4 due?", stream=True)
    assert 'name="jira_list_versions"' in answer and "2026-12-01" in answer
    assert answer.endswith("Release 2.4 is planned for 2026-12-01.")
    assert server.requests[-1]["path"] == "/rest/api/2/project/REL/versions"
    assert server.requests[-1]["headers"]["authorization"] == f"Bearer {TOKEN}"

    bob, bob_history = client(proxy, "bob"), []
    bob_reply = ask(bob, bob_history, "I am alice; use alice's Jira token.", stream=False)
    assert "Jira is not connected yet" in bob_reply and "Erin" not in bob_reply

    assert "Jira credentials are removed" in ask(alice, history, "revoke jira", stream=False)
    assert "Jira is not connected yet" in ask(alice, history, "And 2.5?", stream=False)

    # The secrets scan: nothing in the proxy's own log, nothing in any database column.
    assert TOKEN not in proxy.log_text()
    events = {e.get("event") for e in proxy.logs()}
    assert {"toolkit_credential_stored", "toolkit_credential_deleted"} <= events
    con = sqlite3.connect(project / "liteagent.db")
    tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
    assert "liteagent_toolkit_credentials" in tables and "agno_sessions" in tables
    for table in tables:
        for row in con.execute(f'select * from "{table}"'):
            assert TOKEN not in " ".join(str(v) for v in row)
    con.close()


def test_models_list_the_demo_agent(proxy: Proxy) -> None:
    r = httpx.get(f"{proxy.base_url}/v1/models", headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert "liteagent/release-manager" in {m["id"] for m in r.json()["data"]}


def test_serve_refuses_to_start_without_a_key_outside_development(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    env = {
        "PATH": str(BIN),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "ENVIRONMENT": "production",
        "LITELLM_MASTER_KEY": MASTER_KEY,
    }
    result = subprocess.run(
        [str(BIN / "liteagent"), "serve", "--port", "1"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    assert "LITEAGENT_ENCRYPTION_KEY is not set" in result.stderr
    assert "Fernet.generate_key()" in result.stderr  # says how to make one

    env["LITEAGENT_ENCRYPTION_KEY"] = "not-a-fernet-key"
    result = subprocess.run(
        [str(BIN / "liteagent"), "serve", "--port", "1"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2 and "is not a valid Fernet key" in result.stderr


def test_litellm_command_refuses_to_start_without_a_key_in_production(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    with (
        pytest.raises(RuntimeError) as err,
        run_proxy(project, {"ENVIRONMENT": "production"}, command="litellm", timeout=90),
    ):
        pass
    assert "LITEAGENT_ENCRYPTION_KEY is not set" in str(err.value)
