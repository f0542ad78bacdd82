"""GitLab as a data source, through its REST API v4 (``httpx``; ``PRIVATE-TOKEN`` header).

Sources are written ``<project>`` plus a part, where ``<project>`` is a numeric id or a path
such as ``group/sub/project``:

- ``<project>:file:<path>[@ref]``           one file
- ``<project>:tree[:<path>][@ref]``         the file listing of a folder
- ``<project>:issues[:<state>]``            issues (``opened``, ``closed``, ``all``)
- ``<project>:merge_requests[:<state>]``    merge requests (``opened``, ``merged``, ``all``…)
- ``<project>:repository[:<glob>,<glob>…][@ref]``   every file matching the patterns

``fetch_documents`` returns one document per file, issue or merge request so that citations
point at it (with its GitLab web URL).
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
from typing import Any
from urllib.parse import quote

import httpx

from liteagent.datasources.base import (
    BaseDataSourceProvider,
    DataSourceContent,
    DataSourceFetchError,
    DataSourceNotFoundError,
)
from liteagent.errors import AuthenticationError, InvalidRequestError

__all__ = ["GitLabDataSourceProvider", "GitLabSource", "parse_gitlab_source"]

_KINDS = ("file", "tree", "issues", "merge_requests", "repository")
_MAX_PAGES = 100


class GitLabSource:
    """A parsed GitLab source string."""

    def __init__(self, project: str, kind: str, arg: str | None, ref: str | None) -> None:
        self.project = project
        self.kind = kind
        self.arg = arg
        self.ref = ref


def parse_gitlab_source(source: str) -> GitLabSource:
    """Parse ``<project>:<kind>[:<arg>][@ref]`` (see the module docs)."""
    text = source.removeprefix("gitlab:")
    ref: str | None = None
    if "@" in text:
        text, ref = text.rsplit("@", 1)
    project, _, rest = text.partition(":")
    kind, _, arg = rest.partition(":")
    if not project or kind not in _KINDS:
        raise InvalidRequestError(
            f"GitLab source '{source}' must look like <project>:<kind>[:<arg>][@ref] with kind "
            f"one of {', '.join(_KINDS)}."
        )
    if kind == "file" and not arg:
        raise InvalidRequestError(f"GitLab source '{source}' needs a file path.")
    return GitLabSource(project, kind, arg or None, ref)


class GitLabDataSourceProvider(BaseDataSourceProvider):
    """Reads files, trees, issues and merge requests from a GitLab instance.

    Args:
        base_url: The instance, e.g. ``https://gitlab.example.com`` (``/api/v4`` is added).
        token: A personal/project access token with ``read_api`` (sent as ``PRIVATE-TOKEN``).
        timeout: Seconds per HTTP request.
        concurrency: Files fetched at once by ``fetch_repository``.
        default_ref: Branch or tag when a source names none (default: the project's default).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        concurrency: int = 8,
        default_ref: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_url = self.base_url + ("" if self.base_url.endswith("/api/v4") else "/api/v4")
        self._token = token
        self.timeout = timeout
        self.concurrency = concurrency
        self.default_ref = default_ref
        self._client: httpx.AsyncClient | None = None
        self._projects: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"GitLabDataSourceProvider(base_url={self.base_url!r})"

    # ------------------------------------------------------------------ HTTP
    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"PRIVATE-TOKEN": self._token} if self._token else {}
            self._client = httpx.AsyncClient(
                base_url=self.api_url, headers=headers, timeout=self.timeout
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @staticmethod
    def _project(project_id: str) -> str:
        return quote(str(project_id), safe="")

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        try:
            response = await self._http().get(path, params=params)
        except httpx.HTTPError as exc:
            raise DataSourceFetchError(
                f"GitLab at {self.base_url} could not be reached ({type(exc).__name__})."
            ) from None
        if response.status_code in (401, 403):
            raise AuthenticationError(
                f"GitLab refused the request ({response.status_code}): check the access token "
                "and that it has the read_api scope."
            )
        if response.status_code == 404:
            raise DataSourceNotFoundError(f"GitLab has no {path} (404).")
        if response.status_code >= 400:
            raise DataSourceFetchError(f"GitLab answered {response.status_code} for {path}.")
        return response

    async def _get_all(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every page of a list endpoint (``X-Next-Page`` pagination)."""
        items: list[dict[str, Any]] = []
        page: str | None = "1"
        pages = 0
        while page and pages < _MAX_PAGES:
            response = await self._get(path, {**params, "per_page": 100, "page": page})
            items.extend(response.json())
            page = response.headers.get("x-next-page") or None
            pages += 1
        return items

    async def _project_info(self, project_id: str) -> dict[str, Any]:
        if project_id not in self._projects:
            info = (await self._get(f"/projects/{self._project(project_id)}")).json()
            self._projects[project_id] = info
        return self._projects[project_id]

    async def _ref(self, project_id: str, ref: str | None) -> str:
        if ref or self.default_ref:
            return str(ref or self.default_ref)
        return str((await self._project_info(project_id)).get("default_branch") or "main")

    async def _web_url(self, project_id: str) -> str:
        info = await self._project_info(project_id)
        return str(info.get("web_url") or f"{self.base_url}/{project_id}")

    # ------------------------------------------------------------------ the seeds' API
    async def fetch_file(self, project_id: str, file_path: str, ref: str) -> DataSourceContent:
        """One file's text at ``ref``."""
        path = f"/projects/{self._project(project_id)}/repository/files/{quote(file_path, safe='')}"
        data = (await self._get(path, {"ref": ref})).json()
        raw = data.get("content", "")
        if data.get("encoding") == "base64":
            content = base64.b64decode(raw).decode("utf-8", errors="replace")
        else:
            content = str(raw)
        return await self._repository_document(
            project_id, "file", file_path, ref, content, name=f"{project_id}/{file_path}"
        )

    async def _tree(self, project_id: str, path: str, ref: str) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"ref": ref, "recursive": "true"}
        if path:
            params["path"] = path
        return await self._get_all(f"/projects/{self._project(project_id)}/repository/tree", params)

    async def fetch_tree(self, project_id: str, path: str, ref: str) -> DataSourceContent:
        """The listing of a folder (recursive): one line per file or folder."""
        entries = await self._tree(project_id, path, ref)
        lines = [f"{e['type']}\t{e['path']}" for e in sorted(entries, key=lambda e: e["path"])]
        return await self._repository_document(
            project_id,
            "tree",
            path,
            ref,
            "\n".join(lines),
            name=f"{project_id}/{path or ''} (tree)",
        )

    async def _repository_document(
        self, project_id: str, kind: str, path: str, ref: str, content: str, *, name: str
    ) -> DataSourceContent:
        """A document of what stands at ``path`` of the repository at ``ref``: a file's text
        (``kind`` ``file``) or a folder's listing (``tree``), linked to GitLab's page of it."""
        web = await self._web_url(project_id)
        page = "blob" if kind == "file" else "tree"
        metadata: dict[str, Any] = {
            "name": name,
            "url": f"{web}/-/{page}/{quote(ref)}/{quote(path)}",
            "type": f"gitlab_{kind}",
            "project": project_id,
        }
        if kind == "file":
            metadata["path"] = path
        metadata["ref"] = ref
        return DataSourceContent(
            content=content, source=f"gitlab:{project_id}:{kind}:{path}@{ref}", metadata=metadata
        )

    def _item(self, project_id: str, kind: str, item: dict[str, Any]) -> DataSourceContent:
        marker = "#" if kind == "issue" else "!"
        labels = ", ".join(item.get("labels") or [])
        author = (item.get("author") or {}).get("username", "")
        text = (
            f"{item.get('title', '')}\n\nState: {item.get('state', '')}"
            + (f"\nLabels: {labels}" if labels else "")
            + (f"\nAuthor: {author}" if author else "")
            + f"\n\n{item.get('description') or ''}"
        )
        return DataSourceContent(
            content=text.strip(),
            source=f"gitlab:{project_id}:{kind}:{item['iid']}",
            metadata={
                "name": f"{project_id}{marker}{item['iid']}: {item.get('title', '')}",
                "url": item.get("web_url"),
                "type": f"gitlab_{kind}",
                "project": project_id,
                "iid": item["iid"],
                "state": item.get("state"),
            },
        )

    async def _items(self, project_id: str, kind: str, state: str) -> list[DataSourceContent]:
        """One document per issue or merge request (``kind``) of the project."""
        items = await self._get_all(
            f"/projects/{self._project(project_id)}/{kind}s", {"state": state, "sort": "asc"}
        )
        return [self._item(project_id, kind, i) for i in items]

    async def fetch_issue_items(
        self, project_id: str, state: str = "all"
    ) -> list[DataSourceContent]:
        """One document per issue."""
        return await self._items(project_id, "issue", state)

    async def fetch_merge_request_items(
        self, project_id: str, state: str = "all"
    ) -> list[DataSourceContent]:
        """One document per merge request."""
        return await self._items(project_id, "merge_request", state)

    @staticmethod
    def _joined(parts: list[DataSourceContent], source: str, name: str) -> DataSourceContent:
        text = "\n\n---\n\n".join(f"# {p.name}\n\n{p.content}" for p in parts)
        return DataSourceContent(
            text, source, {"name": name, "type": "gitlab", "items": len(parts)}
        )

    async def fetch_issues(self, project_id: str, state: str = "all") -> DataSourceContent:
        """All issues as one text."""
        items = await self.fetch_issue_items(project_id, state)
        return self._joined(items, f"gitlab:{project_id}:issues:{state}", f"{project_id} issues")

    async def fetch_merge_requests(self, project_id: str, state: str = "all") -> DataSourceContent:
        """All merge requests as one text."""
        items = await self.fetch_merge_request_items(project_id, state)
        return self._joined(
            items, f"gitlab:{project_id}:merge_requests:{state}", f"{project_id} merge requests"
        )

    async def fetch_repository_files(
        self, project_id: str, ref: str | None = None, patterns: list[str] | None = None
    ) -> list[DataSourceContent]:
        """Every file whose path matches one of ``patterns`` (default: all files)."""
        ref = await self._ref(project_id, ref)
        entries = await self._tree(project_id, "", ref)
        wanted = sorted(
            e["path"]
            for e in entries
            if e.get("type") == "blob"
            and (not patterns or any(fnmatch.fnmatch(e["path"], p) for p in patterns))
        )
        limit = asyncio.Semaphore(self.concurrency)

        async def one(path: str) -> DataSourceContent:
            async with limit:
                return await self.fetch_file(project_id, path, ref)

        return list(await asyncio.gather(*(one(p) for p in wanted)))

    async def fetch_repository(
        self, project_id: str, ref: str, patterns: list[str] | None = None
    ) -> DataSourceContent:
        """The matching files of a repository as one text."""
        files = await self.fetch_repository_files(project_id, ref, patterns)
        return self._joined(files, f"gitlab:{project_id}:repository@{ref}", f"{project_id}@{ref}")

    # ------------------------------------------------------------------ source strings
    async def validate_source(self, source: str) -> bool:
        try:
            parse_gitlab_source(source)
        except InvalidRequestError:
            return False
        return True

    async def fetch_documents(self, source: str) -> list[DataSourceContent]:
        s = parse_gitlab_source(source)
        if s.kind == "file":
            assert s.arg is not None
            return [await self.fetch_file(s.project, s.arg, await self._ref(s.project, s.ref))]
        if s.kind == "tree":
            return [
                await self.fetch_tree(s.project, s.arg or "", await self._ref(s.project, s.ref))
            ]
        if s.kind == "issues":
            return await self.fetch_issue_items(s.project, s.arg or "all")
        if s.kind == "merge_requests":
            return await self.fetch_merge_request_items(s.project, s.arg or "all")
        patterns = [p for p in (s.arg or "").split(",") if p] or None
        return await self.fetch_repository_files(s.project, s.ref, patterns)

    async def fetch_content(self, source: str) -> DataSourceContent:
        docs = await self.fetch_documents(source)
        if len(docs) == 1:
            return docs[0]
        return self._joined(docs, source, source.removeprefix("gitlab:"))
