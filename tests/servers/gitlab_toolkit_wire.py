"""A GitLab server speaking REST API v4's wire format (the parts the GitLab toolkit uses).

``/api/v4/user``, ``/api/v4/projects/:id/issues`` (``state``, ``search``, ``per_page``),
``/api/v4/projects/:id/issues/:iid`` and ``/api/v4/projects/:id/merge_requests``; ``:id`` is
a number or a URL-encoded path. Authentication with the ``PRIVATE-TOKEN`` header, as GitLab
does for personal access tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class GitLabToolkitWireServer:
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/api/v4/user", self._user),
                Route("/api/v4/projects/{project:path}/issues/{iid:int}", self._issue),
                Route("/api/v4/projects/{project:path}/issues", self._issues),
                Route("/api/v4/projects/{project:path}/merge_requests", self._mrs),
            ]
        )

    def add_user(self, token: str, username: str, members_of: tuple[str, ...] = ()) -> None:
        self.tokens[token] = {
            "id": 100 + len(self.tokens),
            "username": username,
            "name": username.title(),
            "state": "active",
            "members_of": members_of,
        }

    def add_project(self, path: str, project_id: int) -> None:
        self.projects[path] = {"id": project_id, "path": path, "issues": [], "mrs": []}

    def add_issue(
        self,
        path: str,
        iid: int,
        title: str,
        *,
        state: str = "opened",
        labels: tuple[str, ...] = (),
    ) -> None:
        self.projects[path]["issues"].append(
            {
                "id": 5000 + iid,
                "iid": iid,
                "project_id": self.projects[path]["id"],
                "title": title,
                "description": f"Details of {title}",
                "state": state,
                "labels": list(labels),
                "assignees": [{"username": "dev1"}],
                "milestone": {"title": "v2.4"},
                "web_url": f"/{path}/-/issues/{iid}",
            }
        )

    def add_merge_request(self, path: str, iid: int, title: str) -> None:
        self.projects[path]["mrs"].append(
            {
                "iid": iid,
                "title": title,
                "state": "opened",
                "source_branch": f"feature-{iid}",
                "target_branch": "main",
                "author": {"username": "dev1"},
                "web_url": f"/{path}/-/merge_requests/{iid}",
            }
        )

    def _auth(self, request: Request) -> dict[str, Any] | None:
        self.requests.append(
            {
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": dict(request.headers),
            }
        )
        return self.tokens.get(request.headers.get("private-token", ""))

    def _project(self, request: Request, user: dict[str, Any]) -> dict[str, Any] | None:
        ref = request.path_params["project"]
        for path, project in self.projects.items():
            if ref in (path, str(project["id"])) and path in user["members_of"]:
                return project
        return None

    @staticmethod
    def _error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"message": message}, status_code=status)

    async def _user(self, request: Request) -> JSONResponse:
        user = self._auth(request)
        if user is None:
            return self._error(401, "401 Unauthorized")
        return JSONResponse({k: v for k, v in user.items() if k != "members_of"})

    async def _issues(self, request: Request) -> JSONResponse:
        user = self._auth(request)
        if user is None:
            return self._error(401, "401 Unauthorized")
        project = self._project(request, user)
        if project is None:
            return self._error(404, "404 Project Not Found")
        state = request.query_params.get("state", "all")
        search = request.query_params.get("search", "").lower()
        per_page = int(request.query_params.get("per_page", "20"))
        items = [
            i
            for i in project["issues"]
            if (state == "all" or i["state"] == state) and search in i["title"].lower()
        ]
        return JSONResponse(items[:per_page])

    async def _issue(self, request: Request) -> JSONResponse:
        user = self._auth(request)
        if user is None:
            return self._error(401, "401 Unauthorized")
        project = self._project(request, user)
        if project is None:
            return self._error(404, "404 Project Not Found")
        for issue in project["issues"]:
            if issue["iid"] == request.path_params["iid"]:
                return JSONResponse(issue)
        return self._error(404, "404 Not found")

    async def _mrs(self, request: Request) -> JSONResponse:
        user = self._auth(request)
        if user is None:
            return self._error(401, "401 Unauthorized")
        project = self._project(request, user)
        if project is None:
            return self._error(404, "404 Project Not Found")
        return JSONResponse(project["mrs"])
