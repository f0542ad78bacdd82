"""Jira: an API token and the site's URL, pasted in the chat; tools over Jira's REST API v2.

Jira Cloud authenticates with the account's e-mail and an API token (HTTP Basic); Jira Server
and Data Center with a personal access token (``Authorization: Bearer``). A message that holds
an e-mail address selects the first, otherwise the second. The credentials are checked with
``GET /rest/api/2/myself`` before they are stored.
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

_ATLASSIAN_TOKEN = re.compile(r"ATATT[A-Za-z0-9_=-]{16,}")  # also glued to a word
_KEYWORD_TOKEN = re.compile(
    r"(?i)\b(?:api[\s_-]*)?(?:token|pat)\b\s*(?:(?:is\b|:|=|-)\s*)?[`\"']?"
    r"(?P<token>[A-Za-z0-9+/=_.-]{16,})"
)
# Tried only where a run of address characters starts (not at each of its characters, which
# would take quadratic time); the address starts at the run's first word character.
_EMAIL = re.compile(r"(?<![\w.+-])[.+-]*(?P<email>\w[\w.+-]*@[\w-]+(?:\.[\w-]+)+\b)")
_ISSUE_KEY = re.compile(r"\b[A-Z][A-Z0-9]{1,9}-\d+\b")
_FIELDS = "summary,status,assignee,priority,issuetype,fixVersions,updated"


def _issue_summary(issue: dict[str, Any]) -> dict[str, Any]:
    fields = issue.get("fields") or {}

    def name(value: Any, key: str = "name") -> Any:
        return value.get(key) if isinstance(value, dict) else None

    return {
        "key": issue.get("key"),
        "summary": fields.get("summary"),
        "status": name(fields.get("status")),
        "type": name(fields.get("issuetype")),
        "priority": name(fields.get("priority")),
        "assignee": name(fields.get("assignee"), "displayName"),
        "fix_versions": [v.get("name") for v in fields.get("fixVersions") or []],
        "updated": fields.get("updated"),
    }


class JiraConfig(TokenToolkitConfig):
    """Jira (Cloud, Server or Data Center) through an API token and the site URL.

    Catalog options: ``base_url`` (the site, when every user shares one; default
    ``JIRA_BASE_URL``).
    """

    name: ClassVar[str] = "jira"
    display_name: ClassVar[str] = "Jira"
    feature_words: ClassVar[tuple[str, ...]] = ("jira", "jql", "atlassian")
    whoami_path = "/rest/api/2/myself"
    refused_advice = (
        "Check the token (and, for Jira Cloud, the e-mail of the account that created it) and "
        "send it again."
    )

    @property
    def default_base_url(self) -> str | None:
        url = self.options.get("base_url") or self.settings.jira_base_url
        return clean_url(str(url)) if url else None

    # ------------------------------------------------------------------ chat flow
    def find_secrets(self, message: str) -> list[str]:
        found = _ATLASSIAN_TOKEN.findall(message)
        if "jira" in message.lower() or "atlassian" in message.lower():
            found += [
                m.group("token")
                for m in _KEYWORD_TOKEN.finditer(message)
                if not m.group("token").lower().startswith(("glpat-", "http"))
            ]
        return list(dict.fromkeys(found))

    async def extract_and_store_config(self, message: str, user_id: str) -> ConfigOutcome | None:
        secrets = self.find_secrets(message)
        if not secrets:
            return None
        token = secrets[0]
        urls = [clean_url(u) for u in URL_PATTERN.findall(message)]
        base_url = urls[0] if urls else self.default_base_url
        if not base_url:
            return ConfigOutcome(
                stored=False,
                secrets=tuple(secrets),
                message="I also need your Jira address (for example "
                "`https://yourcompany.atlassian.net`). Send the address and the token together "
                "in one message; nothing was stored.",
            )
        email_match = _EMAIL.search(_ATLASSIAN_TOKEN.sub(" ", URL_PATTERN.sub(" ", message)))
        credentials: dict[str, Any] = {"base_url": base_url, "token": token}
        if email_match:
            credentials["email"] = email_match.group("email")
        return await self.store_checked_token(user_id, secrets, credentials)

    def get_config_prompt(self, user_id: str) -> str:
        if self.default_base_url:
            example = "`jira token <your API token>`"
            where = f" for {self.default_base_url}"
        else:
            example = (
                "`jira url https://yourcompany.atlassian.net email you@company.com "
                "token <your API token>`"
            )
            where = ""
        return (
            f"**Jira is not connected yet.** To let me work with Jira{where} for you, create an "
            "API token (Jira Cloud: Atlassian account settings → Security → API tokens; Jira "
            "Server or Data Center: your profile → Personal Access Tokens) and send it to me in "
            f"one message, like:\n\n{example}\n\n(Jira Server or Data Center: leave out the "
            "e-mail.) I check it with Jira, store it encrypted for you alone and remove it from "
            "our conversation before any model sees it. Send `revoke jira` at any time to "
            "delete it."
        )

    def get_agent_instructions(self) -> list[str]:
        return [
            "Jira tools are available: jira_search_issues (JQL), jira_get_issue (by key such as "
            "ABC-123) and jira_list_versions (a project's versions and release dates). Look "
            "things up with them instead of guessing, and cite issue keys.",
        ]

    # ------------------------------------------------------------------ the API
    def account(self, me: Mapping[str, Any]) -> tuple[str, str]:
        return "display_name", str(me.get("displayName") or me.get("name") or "your account")

    def auth(self, credentials: Mapping[str, Any]) -> dict[str, Any]:
        if credentials.get("email"):  # Jira Cloud: e-mail and API token
            auth = (str(credentials["email"]), str(credentials["token"]))
            return {"headers": {"Accept": "application/json"}, "auth": auth}
        bearer = f"Bearer {credentials['token']}"  # Server / Data Center: personal access token
        return {"headers": {"Accept": "application/json", "Authorization": bearer}}

    def tools(self, user_id: str) -> list[Callable[..., Any]]:
        tools = JiraTools(self, user_id)
        return [tools.jira_search_issues, tools.jira_get_issue, tools.jira_list_versions]


class JiraTools:
    """The tools the agent calls; each reads the user's credentials at call time."""

    def __init__(self, config: JiraConfig, user_id: str) -> None:
        self._config = config
        self._user_id = user_id

    async def jira_search_issues(self, jql: str, max_results: int = 10) -> str:
        """Search Jira issues with a JQL query.

        Args:
            jql: The JQL query, e.g. 'project = REL AND fixVersion = "2.4"'.
            max_results: How many issues to return (at most 50).

        Returns:
            The matching issues as JSON: key, summary, status, type, priority, assignee.
        """
        try:
            data = await self._config.api(
                self._user_id,
                "/rest/api/2/search",
                {"jql": jql, "maxResults": max(1, min(int(max_results), 50)), "fields": _FIELDS},
            )
        except ToolkitError as exc:
            return f"Error: {exc}"
        issues = [_issue_summary(i) for i in (data or {}).get("issues") or []]
        return json.dumps({"total": (data or {}).get("total"), "issues": issues})

    async def jira_get_issue(self, issue_key: str) -> str:
        """Get one Jira issue with its description and latest comments.

        Args:
            issue_key: The issue key, e.g. REL-42.

        Returns:
            The issue as JSON.
        """
        key = issue_key.strip().upper()
        if not _ISSUE_KEY.fullmatch(key):
            return f"Error: '{issue_key}' is not a Jira issue key (like ABC-123)."
        try:
            data = await self._config.api(
                self._user_id,
                f"/rest/api/2/issue/{quote(key)}",
                {"fields": f"{_FIELDS},description,comment"},
            )
        except ToolkitError as exc:
            return f"Error: {exc}"
        fields = (data or {}).get("fields") or {}
        comments = ((fields.get("comment") or {}).get("comments") or [])[-3:]
        out = _issue_summary(data or {})
        out["description"] = (fields.get("description") or "")[:2000]
        out["comments"] = [
            {"author": (c.get("author") or {}).get("displayName"), "body": c.get("body")}
            for c in comments
        ]
        return json.dumps(out)

    async def jira_list_versions(self, project_key: str) -> str:
        """List a Jira project's versions (releases) with their release dates.

        Args:
            project_key: The project key, e.g. REL.

        Returns:
            The versions as JSON: name, released, release date.
        """
        try:
            data = await self._config.api(
                self._user_id, f"/rest/api/2/project/{quote(project_key.strip().upper())}/versions"
            )
        except ToolkitError as exc:
            return f"Error: {exc}"
        versions = [
            {
                "name": v.get("name"),
                "released": v.get("released"),
                "release_date": v.get("releaseDate"),
            }
            for v in data or []
        ]
        return json.dumps(versions)


toolkit_registry.register("jira")(JiraConfig)
