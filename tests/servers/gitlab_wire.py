"""A local server speaking GitLab's REST API v4 for the endpoints the GitLab data source uses.

Projects are addressed by id or URL-encoded path; list endpoints paginate with ``per_page`` /
``page`` and the ``X-Next-Page`` / ``X-Total`` headers; files come base64-encoded as GitLab
sends them; a wrong ``PRIVATE-TOKEN`` gets 401 with GitLab's body.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Project:
    id: int
    path_with_namespace: str
    default_branch: str = "main"
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # ref -> path -> text
    issues: list[dict[str, Any]] = field(default_factory=list)
    merge_requests: list[dict[str, Any]] = field(default_factory=list)


class GitLabWireServer:
    def __init__(self, token: str = "glpat-test-token-123456") -> None:
        self.token = token
        self.projects: list[Project] = []
        self.requests: list[dict[str, Any]] = []
        self.base_url = ""
        self.app = Starlette(
            routes=[
                Route("/api/v4/projects/{project:path}/repository/files/{file:path}", self._file),
                Route("/api/v4/projects/{project:path}/repository/tree", self._tree),
                Route("/api/v4/projects/{project:path}/issues", self._issues),
                Route("/api/v4/projects/{project:path}/merge_requests", self._mrs),
                Route("/api/v4/projects/{project:path}", self._project),
            ]
        )

    def add_project(self, project: Project) -> Project:
        self.projects.append(project)
        return project

    # ------------------------------------------------------------------ helpers
    def _auth(self, request: Request) -> Response | None:
        self.requests.append(
            {
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": dict(request.headers),
            }
        )
        if request.headers.get("private-token") != self.token:
            return JSONResponse({"message": "401 Unauthorized"}, status_code=401)
        return None

    def _find(self, key: str) -> Project | None:
        key = unquote(key)
        for p in self.projects:
            if key in (str(p.id), p.path_with_namespace):
                return p
        return None

    def _web(self, p: Project) -> str:
        return f"{self.base_url}/{p.path_with_namespace}"

    @staticmethod
    def _paginate(request: Request, items: list[Any]) -> Response:
        per_page = int(request.query_params.get("per_page", 20))
        page = int(request.query_params.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {"X-Total": str(len(items)), "X-Page": str(page), "X-Per-Page": str(per_page)}
        headers["X-Next-Page"] = str(page + 1) if page * per_page < len(items) else ""
        return JSONResponse(chunk, headers=headers)

    # ------------------------------------------------------------------ endpoints
    async def _project(self, request: Request) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        p = self._find(request.path_params["project"])
        if p is None:
            return JSONResponse({"message": "404 Project Not Found"}, status_code=404)
        return JSONResponse(
            {
                "id": p.id,
                "path_with_namespace": p.path_with_namespace,
                "default_branch": p.default_branch,
                "web_url": self._web(p),
            }
        )

    async def _file(self, request: Request) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        p = self._find(request.path_params["project"])
        ref = request.query_params.get("ref")
        path = unquote(request.path_params["file"])
        text = p.files.get(ref or "", {}).get(path) if p else None
        if p is None or text is None:
            return JSONResponse({"message": "404 File Not Found"}, status_code=404)
        return JSONResponse(
            {
                "file_name": path.rsplit("/", 1)[-1],
                "file_path": path,
                "size": len(text.encode()),
                "encoding": "base64",
                "content": base64.b64encode(text.encode()).decode(),
                "ref": ref,
                "blob_id": "b" * 40,
                "commit_id": "c" * 40,
                "last_commit_id": "c" * 40,
            }
        )

    async def _tree(self, request: Request) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        p = self._find(request.path_params["project"])
        ref = request.query_params.get("ref") or (p.default_branch if p else "")
        if p is None or ref not in p.files:
            return JSONResponse({"message": "404 Tree Not Found"}, status_code=404)
        prefix = request.query_params.get("path", "").strip("/")
        recursive = request.query_params.get("recursive") == "true"
        entries: dict[str, str] = {}
        for path in p.files[ref]:
            if prefix and not path.startswith(prefix + "/"):
                continue
            rel = path[len(prefix) + 1 :] if prefix else path
            parts = rel.split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                if recursive or depth == 1:
                    entries[(prefix + "/" if prefix else "") + folder] = "tree"
            if recursive or len(parts) == 1:
                entries[path] = "blob"
        items = [
            {"id": "a" * 40, "name": k.rsplit("/", 1)[-1], "type": t, "path": k, "mode": "100644"}
            for k, t in sorted(entries.items())
        ]
        return self._paginate(request, items)

    def _items(self, request: Request, items: list[dict[str, Any]], kind: str) -> Response:
        p = self._find(request.path_params["project"])
        if p is None:
            return JSONResponse({"message": "404 Project Not Found"}, status_code=404)
        state = request.query_params.get("state", "all")
        chosen = [i for i in items if state == "all" or i["state"] == state]
        web = self._web(p)
        full = [
            {
                **i,
                "project_id": p.id,
                "web_url": f"{web}/-/{kind}/{i['iid']}",
                "author": {"username": i.get("author", "alice")},
            }
            for i in chosen
        ]
        return self._paginate(request, full)

    async def _issues(self, request: Request) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        p = self._find(request.path_params["project"])
        return self._items(request, p.issues if p else [], "issues")

    async def _mrs(self, request: Request) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        p = self._find(request.path_params["project"])
        return self._items(request, p.merge_requests if p else [], "merge_requests")
