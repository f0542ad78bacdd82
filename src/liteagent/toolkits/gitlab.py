"""GitLab: a personal access token pasted in the chat; tools over GitLab's REST API v4.

The token is checked with ``GET /api/v4/user`` (header ``PRIVATE-TOKEN``) before it is stored.
The instance is ``GITLAB_URL`` (default gitlab.com; shared with the GitLab data source), the
catalog option ``base_url``, or an address sent together with the token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from liteagent.toolkits.base import (
    URL_PATTERN,
    ConfigOutcome,
    TokenToolkitConfig,
    ToolkitError,
    clean_url,
    toolkit_registry,
)

GITLAB_COM = "https://gitlab.com"
_PAT = re.compile(r"glpat-[A-Za-z0-9_.-]{20,}")  # also glued to a word: "tokenglpat-…"
_KEYWORD_TOKEN = re.compile(
    r"(?i)\b(?:access[\s_-]*)?(?:token|pat)\b\s*(?:(?:is\b|:|=|-)\s*)?[`\"']?"
    r"(?P<token>[A-Za-z0-9_.-]{20,})"
)


def _project(project: str) -> str:
    """A numeric id as is, a path (``group/project``) URL-encoded."""
    project = project.strip().strip("/")
    return project if project.isdigit() else quote(project, safe="")


class GitLabConfig(TokenToolkitConfig):
    """GitLab (gitlab.com or self-managed) through a personal access token (scope read_api).

    Catalog options: ``base_url`` (default ``GITLAB_URL``).
    """

    name: ClassVar[str] = "gitlab"
    display_name: ClassVar[str] = "GitLab"
    feature_words: ClassVar[tuple[str, ...]] = ("gitlab", "merge request", "merge requests")
    whoami_path = "/api/v4/user"
    refused_advice = (
        "Check that the token is not expired and has the read_api scope, then send it again."
    )
    account_shown_as = "@{}"

    @property
    def default_base_url(self) -> str:
        url = self.options.get("base_url") or self.settings.gitlab_url or GITLAB_COM
        return clean_url(str(url))

    def find_secrets(self, message: str) -> list[str]:
        found = _PAT.findall(message)
        if "gitlab" in message.lower():
            found += [
                m.group("token")
                for m in _KEYWORD_TOKEN.finditer(message)
                if not m.group("token").startswith(("ATATT", "http"))
            ]
        return list(dict.fromkeys(found))

    async def extract_and_store_config(self, message: str, user_id: str) -> ConfigOutcome | None:
        secrets = self.find_secrets(message)
        if not secrets:
            return None
        urls = [clean_url(u) for u in URL_PATTERN.findall(message)]
        credentials: dict[str, Any] = {
            "base_url": urls[0] if urls else self.default_base_url,
            "token": secrets[0],
        }
        return await self.store_checked_token(user_id, secrets, credentials)

    def get_config_prompt(self, user_id: str) -> str:
        return (
            f"**GitLab is not connected yet.** To let me read GitLab ({self.default_base_url}) "
            "for you, create a personal access token with the `read_api` scope (your avatar → "
            "Edit profile → Access tokens) and send it to me, like:\n\n"
            "`gitlab token glpat-…`\n\n(For another GitLab instance, add its address: "
            "`gitlab https://gitlab.example.com token glpat-…`.) I check it with GitLab, store "
            "it encrypted for you alone and remove it from our conversation before any model "
            "sees it. Send `revoke gitlab` at any time to delete it."
        )

    def get_agent_instructions(self) -> list[str]:
        return [
            "GitLab tools are available: gitlab_list_issues, gitlab_get_issue and "
            "gitlab_list_merge_requests, for a project given by id or path (group/project).",
        ]

    def account(self, me: Mapping[str, Any]) -> tuple[str, str]:
        return "username", str(me.get("username") or "your account")

    def auth(self, credentials: Mapping[str, Any]) -> dict[str, Any]:
        token = str(credentials["token"])
        return {"headers": {"PRIVATE-TOKEN": token, "Accept": "application/json"}}

    def tools(self, user_id: str) -> list[Callable[..., Any]]:
        tools = GitLabTools(self, user_id)
        return [tools.gitlab_list_issues, tools.gitlab_get_issue, tools.gitlab_list_merge_requests]


def _issue(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "iid": item.get("iid"),
        "title": item.get("title"),
        "state": item.get("state"),
        "labels": item.get("labels"),
        "assignees": [a.get("username") for a in item.get("assignees") or []],
        "milestone": (item.get("milestone") or {}).get("title"),
        "web_url": item.get("web_url"),
    }


class GitLabTools:
    """The tools the agent calls; each reads the user's token at call time."""

    def __init__(self, config: GitLabConfig, user_id: str) -> None:
        self._config = config
        self._user_id = user_id

    async def gitlab_list_issues(
        self, project: str, state: str = "opened", search: str = "", limit: int = 20
    ) -> str:
        """List a GitLab project's issues.

        Args:
            project: The project id or path, e.g. 'platform/api'.
            state: opened, closed or all.
            search: Words to look for in titles and descriptions (optional).
            limit: How many issues to return (at most 100).

        Returns:
            The issues as JSON: iid, title, state, labels, assignees, milestone, web_url.
        """
        params: dict[str, Any] = {
            "state": state if state in ("opened", "closed", "all") else "opened",
            "per_page": max(1, min(int(limit), 100)),
        }
        if search:
            params["search"] = search
        try:
            data = await self._config.api(
                self._user_id, f"/api/v4/projects/{_project(project)}/issues", params
            )
        except ToolkitError as exc:
            return f"Error: {exc}"
        return json.dumps([_issue(i) for i in data or []])

    async def gitlab_get_issue(self, project: str, issue_iid: int) -> str:
        """Get one GitLab issue with its description.

        Args:
            project: The project id or path, e.g. 'platform/api'.
            issue_iid: The issue number within the project (the #number).

        Returns:
            The issue as JSON.
        """
        try:
            data = await self._config.api(
                self._user_id, f"/api/v4/projects/{_project(project)}/issues/{int(issue_iid)}"
            )
        except ToolkitError as exc:
            return f"Error: {exc}"
        out = _issue(data or {})
        out["description"] = ((data or {}).get("description") or "")[:2000]
        return json.dumps(out)

    async def gitlab_list_merge_requests(
        self, project: str, state: str = "opened", limit: int = 20
    ) -> str:
        """List a GitLab project's merge requests.

        Args:
            project: The project id or path, e.g. 'platform/api'.
            state: opened, closed, merged or all.
            limit: How many merge requests to return (at most 100).

        Returns:
            The merge requests as JSON: iid, title, state, branches, author, web_url.
        """
        params = {
            "state": state if state in ("opened", "closed", "merged", "all") else "opened",
            "per_page": max(1, min(int(limit), 100)),
        }
        try:
            data = await self._config.api(
                self._user_id, f"/api/v4/projects/{_project(project)}/merge_requests", params
            )
        except ToolkitError as exc:
            return f"Error: {exc}"
        return json.dumps(
            [
                {
                    "iid": m.get("iid"),
                    "title": m.get("title"),
                    "state": m.get("state"),
                    "source_branch": m.get("source_branch"),
                    "target_branch": m.get("target_branch"),
                    "author": (m.get("author") or {}).get("username"),
                    "web_url": m.get("web_url"),
                }
                for m in data or []
            ]
        )


toolkit_registry.register("gitlab")(GitLabConfig)
