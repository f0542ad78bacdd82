"""Service URLs sent in the chat obey the outbound-URL policy (no SSRF through a toolkit)."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from liteagent.storage import CredentialRepository, get_database
from tests.integration.toolkits.conftest import GITLAB_TOKEN, JIRA_TOKEN_A, Chat, make_handler
from tests.servers.http import serve_app
from tests.servers.jira_wire import JiraWireServer

pytestmark = pytest.mark.integration


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1]


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("{url}/any?x=", "127.0.0.1 is a loopback address"),
        ("http://2130706433:{port}/", "127.0.0.1 is a loopback address"),
        ("http://0x7f.1:{port}/x", "127.0.0.1 is a loopback address"),
        ("http://localhost:{port}", "localhost is a loopback name"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local"),
        ("http://10.0.0.5:8080", "10.0.0.5 is a private address"),
    ],
)
async def test_jira_url_to_an_internal_host_is_refused_before_any_request(
    tmp_path: Path, jira: tuple[JiraWireServer, str], target: str, reason: str
) -> None:
    server, url = jira
    handler = make_handler(tmp_path, ["ok"], ["jira"], outbound_allow_hosts="")
    chat = Chat(handler, "alice")
    site = target.format(url=url, port=_port(url))
    reply = await chat.say(f"jira url {site} token {JIRA_TOKEN_A}")
    assert "I could not check the token with Jira: Refused to connect to" in reply
    assert reason in reply and "allow it with LITEAGENT_OUTBOUND_ALLOW_HOSTS" in reply
    assert "Nothing was stored" in reply and JIRA_TOKEN_A not in reply
    assert server.requests == []  # nothing reached the server, not even the token
    rows = CredentialRepository(get_database(handler.settings.database_url))
    assert await rows.get(user_key="owui/alice", toolkit="jira") is None


async def test_jira_on_an_allowed_private_host_works(
    tmp_path: Path, jira: tuple[JiraWireServer, str]
) -> None:
    server, url = jira
    port = _port(url)
    handler = make_handler(tmp_path, ["ok"], ["jira"], outbound_allow_hosts="127.0.0.1")
    reply = await Chat(handler, "alice").say(
        f"jira url http://2130706433:{port} token {JIRA_TOKEN_A}"
    )
    assert "Jira is connected as **Alice Admin**" in reply
    assert [r["path"] for r in server.requests] == ["/rest/api/2/myself"]


async def test_an_unverified_service_answer_is_never_quoted(tmp_path: Path) -> None:
    async def myself(request: Request) -> Response:
        if request.query_params.get("kind") == "html":
            return HTMLResponse("<html>internal admin console, hunter2</html>")
        return JSONResponse(
            {"errorMessages": ["db password is hunter2"], "displayName": "hunter2"},
            status_code=int(request.query_params.get("status", "500")),
        )

    app = Starlette(routes=[Route("/{path:path}", myself)])
    with serve_app(app) as url:
        handler = make_handler(tmp_path, ["ok"], ["jira"])  # 127.0.0.1 allowed
        for query, expected in [
            ("status=500", "Jira at 127.0.0.1 answered HTTP 500."),
            ("status=404", "Jira at 127.0.0.1 answered HTTP 404."),
            ("status=403", "Jira answered 403 at 127.0.0.1, so nothing was stored."),
            ("kind=html", "Jira answered with something that is not JSON."),
        ]:
            reply = await Chat(handler, "alice").say(
                f"jira url {url}/?{query}& token {JIRA_TOKEN_A}"
            )
            assert expected in reply, reply
            assert "hunter2" not in reply


async def test_gitlab_address_not_allowed_is_refused(tmp_path: Path) -> None:
    handler = make_handler(tmp_path, ["ok"], ["gitlab"])  # only 127.0.0.1 is allowed
    reply = await Chat(handler, "alice").say(f"gitlab http://127.0.0.2:9/ token {GITLAB_TOKEN}")
    assert (
        "I could not check the token with GitLab: Refused to connect to 127.0.0.2: 127.0.0.2 is "
        "a loopback address; allow it with LITEAGENT_OUTBOUND_ALLOW_HOSTS."
    ) in reply
    assert GITLAB_TOKEN not in reply
