"""A Jira server speaking REST API v2's wire format (the parts the Jira toolkit uses).

``/rest/api/2/myself``, ``/rest/api/2/search`` (JQL ``project = X`` and ``text ~ "…"`` clauses),
``/rest/api/2/issue/{key}`` and ``/rest/api/2/project/{key}/versions``. Jira Cloud's HTTP Basic
(e-mail + API token) and Server/Data Center's ``Authorization: Bearer <PAT>`` are both accepted;
each account sees only the projects it is given. Every request is recorded in ``requests``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class JiraAccount:
    token: str
    display_name: str
    email: str | None = None
    projects: tuple[str, ...] = ()


@dataclass
class JiraWireServer:
    accounts: list[JiraAccount] = field(default_factory=list)
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/rest/api/2/myself", self._myself),
                Route("/rest/api/2/search", self._search),
                Route("/rest/api/2/issue/{key}", self._issue),
                Route("/rest/api/2/project/{key}/versions", self._versions),
            ]
        )

    def add_account(
        self, token: str, name: str, *, email: str | None = None, projects: tuple[str, ...] = ()
    ) -> None:
        self.accounts.append(JiraAccount(token, name, email, projects))

    def add_issue(
        self,
        key: str,
        summary: str,
        *,
        status: str = "To Do",
        assignee: str | None = None,
        description: str = "",
        fix_versions: tuple[str, ...] = (),
    ) -> None:
        self.issues[key] = {
            "id": str(10000 + len(self.issues)),
            "key": key,
            "self": f"/rest/api/2/issue/{key}",
            "fields": {
                "summary": summary,
                "status": {"name": status},
                "issuetype": {"name": "Task"},
                "priority": {"name": "Medium"},
                "assignee": {"displayName": assignee} if assignee else None,
                "fixVersions": [{"name": v} for v in fix_versions],
                "updated": "2026-11-02T10:00:00.000+0000",
                "description": description,
                "comment": {"comments": [], "total": 0},
            },
        }

    def _account(self, request: Request) -> JiraAccount | None:
        self.requests.append(
            {
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": dict(request.headers),
            }
        )
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        for account in self.accounts:
            if scheme.lower() == "bearer" and value == account.token and account.email is None:
                return account
            if scheme.lower() == "basic" and account.email is not None:
                try:
                    user, _, token = base64.b64decode(value).decode().partition(":")
                except ValueError:
                    return None
                if user == account.email and token == account.token:
                    return account
        return None

    @staticmethod
    def _unauthorized() -> JSONResponse:
        return JSONResponse(
            {
                "errorMessages": [
                    "You are not authenticated. Authentication required to perform this operation."
                ],
                "errors": {},
            },
            status_code=401,
        )

    def _visible(self, account: JiraAccount, key: str) -> bool:
        return key.split("-", 1)[0] in account.projects

    async def _myself(self, request: Request) -> JSONResponse:
        account = self._account(request)
        if account is None:
            return self._unauthorized()
        return JSONResponse(
            {
                "self": "/rest/api/2/user?accountId=5b10a2844c20165700ede21g",
                "accountId": f"acc-{account.display_name.lower().replace(' ', '-')}",
                "displayName": account.display_name,
                "emailAddress": account.email,
                "active": True,
                "timeZone": "Europe/Paris",
            }
        )

    async def _search(self, request: Request) -> JSONResponse:
        account = self._account(request)
        if account is None:
            return self._unauthorized()
        jql = request.query_params.get("jql", "")
        limit = int(request.query_params.get("maxResults", "50"))
        found = [i for k, i in self.issues.items() if self._visible(account, k)]
        if m := re.search(r"project\s*=\s*\"?(\w+)\"?", jql, re.IGNORECASE):
            found = [i for i in found if i["key"].split("-")[0] == m.group(1).upper()]
        if m := re.search(r"text\s*~\s*\"([^\"]+)\"", jql, re.IGNORECASE):
            word = m.group(1).lower()
            found = [i for i in found if word in i["fields"]["summary"].lower()]
        return JSONResponse(
            {
                "expand": "names,schema",
                "startAt": 0,
                "maxResults": limit,
                "total": len(found),
                "issues": found[:limit],
            }
        )

    async def _issue(self, request: Request) -> JSONResponse:
        account = self._account(request)
        if account is None:
            return self._unauthorized()
        key = request.path_params["key"]
        issue = self.issues.get(key)
        if issue is None or not self._visible(account, key):
            return JSONResponse(
                {
                    "errorMessages": [
                        "Issue does not exist or you do not have permission to see it."
                    ],
                    "errors": {},
                },
                status_code=404,
            )
        return JSONResponse(issue)

    async def _versions(self, request: Request) -> JSONResponse:
        account = self._account(request)
        if account is None:
            return self._unauthorized()
        key = request.path_params["key"]
        if key not in account.projects:
            return JSONResponse(
                {"errorMessages": [f"No project could be found with key '{key}'."], "errors": {}},
                status_code=404,
            )
        return JSONResponse(self.versions.get(key, []))
