"""``BaseToolkitConfig``: how one external service is configured per user, by chat.

A toolkit config knows how to

- tell whether a user has configured it (``is_configured``);
- find credentials the user pasted into a message, check them against the service and store
  them encrypted (``extract_and_store_config``);
- ask for them (``get_config_prompt``), for a *required* toolkit on first use, for an
  *optional* one only when the user asks for its features (``check_authorization_request``);
- build the user's tools (``get_toolkit``) and the instructions that go with them
  (``get_agent_instructions``);
- forget them (``revoke``, also by chat: "revoke jira").

Implementations: ``JiraConfig``, ``GitLabConfig``, ``GoogleDriveConfig``. Third-party toolkits
register under the ``liteagent.toolkits`` entry-point group (``toolkit_registry``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from liteagent.config import Settings
from liteagent.registry import ProviderRegistry
from liteagent.security.outbound import OutboundPolicy
from liteagent.toolkits.errors import ToolkitError as ToolkitError
from liteagent.toolkits.http import ToolkitAuthError, request_json
from liteagent.toolkits.store import TokenStorage, secret_values

if TYPE_CHECKING:
    from agno.tools import Toolkit

_REVOKE_VERBS = r"(?:revoke|disconnect|forget|remove|delete|unlink|log\s*out\s+of|sign\s*out\s+of)"


@dataclass(frozen=True)
class ConfigOutcome:
    """What happened to credentials found in a message.

    Attributes:
        stored: The credentials were valid and are now stored.
        message: The answer for the user (confirmation, or what was wrong and what to do).
        secrets: The secret strings found in the message (removed before anything else sees it).
    """

    stored: bool
    message: str
    secrets: tuple[str, ...] = field(default=())


class BaseToolkitConfig(ABC):
    """Per-user configuration of one toolkit.

    Args:
        settings: Process settings (service URLs, OAuth client…).
        storage: Encrypted per-user credential storage.
        required: Ask for the credentials on the first message, before the agent runs.
        options: The catalog entry's options for this toolkit (e.g. ``base_url``).
    """

    name: ClassVar[str] = "toolkit"
    display_name: ClassVar[str] = "Toolkit"
    feature_words: ClassVar[tuple[str, ...]] = ()
    """Words (lower case, matched as whole words) that mean the user wants this toolkit."""

    def __init__(
        self,
        *,
        settings: Settings,
        storage: TokenStorage,
        required: bool = False,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.required = required
        self.options = dict(options or {})

    # ------------------------------------------------------------------ state
    async def credentials(self, user_id: str) -> dict[str, Any] | None:
        """The user's stored credential fields, or ``None``."""
        return await self.storage.get_token(user_id=user_id, toolkit=self.name)

    async def configured(self, user_id: str) -> dict[str, Any]:
        """The user's credentials, for a tool call.

        Raises:
            ToolkitError: the user removed them since the agent was built.
        """
        credentials = await self.credentials(user_id)
        if credentials is None:
            raise ToolkitError(f"{self.display_name} is not configured for this user any more.")
        return credentials

    async def fetch_json(
        self, method: str, url: str, *, service: str | None = None, **request: Any
    ) -> Any:
        """Call the service under the outbound-URL policy and the toolkit timeout; the JSON
        answer (``liteagent.toolkits.http.request_json`` takes ``request``'s keywords)."""
        return await request_json(
            service or self.display_name,
            method,
            url,
            policy=OutboundPolicy.from_settings(self.settings),
            timeout=self.settings.toolkit_timeout,
            **request,
        )

    async def is_configured(self, user_id: str) -> bool:
        """Whether ``user_id`` has working credentials stored for this toolkit."""
        return await self.credentials(user_id) is not None

    async def known_secrets(self, user_id: str) -> list[str]:
        """The user's stored secret values (removed from messages wherever they reappear)."""
        return secret_values(await self.credentials(user_id))

    def is_available(self) -> bool:
        """Whether the server is set up for this toolkit (e.g. an OAuth client exists)."""
        return True

    # ------------------------------------------------------------------ chat flow
    @abstractmethod
    def find_secrets(self, message: str) -> list[str]:
        """Credential strings of this toolkit present in ``message`` (nothing is stored)."""

    @abstractmethod
    async def extract_and_store_config(self, message: str, user_id: str) -> ConfigOutcome | None:
        """Find credentials in ``message``, check them with the service and store them.

        Returns:
            ``None`` when the message holds no credentials for this toolkit; otherwise what
            happened, with the answer for the user.
        """

    @abstractmethod
    def get_config_prompt(self, user_id: str) -> str:
        """What the user must send to configure this toolkit (markdown)."""

    def check_authorization_request(self, message: str) -> bool:
        """Whether ``message`` asks for this toolkit's features or to connect it."""
        text = message.lower()
        return any(re.search(rf"\b{re.escape(word)}\b", text) for word in self.feature_words)

    def is_revoke_request(self, message: str) -> bool:
        """Whether ``message`` asks to remove this toolkit's credentials ("revoke jira")."""
        names = "|".join(re.escape(w) for w in (self.name, self.display_name.lower()))
        pattern = rf"^\W*(?:please\s+)?{_REVOKE_VERBS}\s+(?:my\s+)?(?:{names})\b"
        return re.search(pattern, message.strip().lower()) is not None

    async def revoke(self, user_id: str) -> bool:
        """Forget the user's credentials; ``True`` when there were some."""
        return await self.storage.delete_token(user_id=user_id, toolkit=self.name)

    def revoke_message(self, existed: bool) -> str:
        if existed:
            return (
                f"Your {self.display_name} credentials are removed; I can no longer reach "
                f"{self.display_name} for you. Send new ones whenever you like."
            )
        return f"You had no {self.display_name} credentials stored; nothing was removed."

    # ------------------------------------------------------------------ the agent's side
    async def get_toolkit(self, user_id: str) -> Toolkit | None:
        """The user's Agno toolkit (named ``name``, with ``tools``), or ``None`` when not
        configured."""
        if not await self.is_configured(user_id):
            return None
        from agno.tools import Toolkit

        return Toolkit(name=self.name, tools=self.tools(user_id))

    def tools(self, user_id: str) -> list[Callable[..., Any]]:
        """The functions the agent may call for ``user_id`` (override this or ``get_toolkit``)."""
        raise NotImplementedError(f"{type(self).__name__} defines no tools")

    @abstractmethod
    def get_agent_instructions(self) -> list[str]:
        """Instructions added to the agent's prompt when this toolkit is available."""


class TokenToolkitConfig(BaseToolkitConfig):
    """A toolkit whose users paste a token for a REST API at their ``base_url`` (GitLab, Jira).

    Subclasses say how a request carries the token (``auth``), which call tells who the token
    belongs to (``whoami_path``, ``account``) and what to check when the service refuses it
    (``refused_advice``); checking, storing and the calls are done here.
    """

    whoami_path: ClassVar[str]
    """The API path that answers with the token's account (used to check a pasted token)."""
    refused_advice: ClassVar[str]
    """What to check when the service refuses a pasted token."""
    account_shown_as: ClassVar[str] = "{}"
    """How the account name is shown when connected (``"@{}"``)."""

    @abstractmethod
    def account(self, me: Mapping[str, Any]) -> tuple[str, str]:
        """The (field, name) of the account in the ``whoami_path`` answer, e.g.
        ``("username", "alice")``; the name is stored under the field."""

    @abstractmethod
    def auth(self, credentials: Mapping[str, Any]) -> dict[str, Any]:
        """The request keywords that authenticate with ``credentials`` (``headers``, ``auth``)."""

    async def call(
        self,
        credentials: Mapping[str, Any],
        path: str,
        params: dict[str, Any] | None = None,
        *,
        method: str = "GET",
        verified: bool = True,
    ) -> Any:
        """``path`` of the user's API with ``credentials``; ``verified`` once they are stored
        (the upstream's error details are then shown)."""
        return await self.fetch_json(
            method,
            f"{credentials['base_url']}{path}",
            params=params,
            detail=verified,
            **self.auth(credentials),
        )

    async def store_checked_token(
        self, user_id: str, secrets: Sequence[str], credentials: dict[str, Any]
    ) -> ConfigOutcome:
        """Store ``credentials`` (``base_url`` and ``token`` among them) once the service's
        who-am-I call accepts them; otherwise tell the user why nothing was stored."""
        found = tuple(secrets)
        base_url = str(credentials["base_url"])
        try:
            me = await self.call(credentials, self.whoami_path, verified=False)
        except ToolkitAuthError as exc:
            host = httpx.URL(base_url).host
            return ConfigOutcome(
                stored=False,
                secrets=found,
                message=f"{self.display_name} answered {exc.status} at {host}, so nothing was "
                f"stored. {self.refused_advice}",
            )
        except ToolkitError as exc:
            return ConfigOutcome(
                stored=False,
                secrets=found,
                message=f"I could not check the token with {self.display_name}: {exc} Nothing "
                "was stored.",
            )
        field_name, who = self.account(me if isinstance(me, dict) else {})
        who = who[:100]
        credentials[field_name] = who
        await self.storage.upsert_token(user_id=user_id, toolkit=self.name, data=credentials)
        return ConfigOutcome(
            stored=True,
            secrets=found,
            message=f"{self.display_name} is connected as **{self.account_shown_as.format(who)}** "
            f"({base_url}). The token is stored encrypted for you alone and was removed from our "
            f"conversation. Send `revoke {self.name}` to delete it.",
        )

    async def api(self, user_id: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``path`` with the user's stored credentials.

        Raises:
            ToolkitError: not configured any more, or the call failed.
        """
        return await self.call(await self.configured(user_id), path, params)


toolkit_registry: ProviderRegistry[BaseToolkitConfig] = ProviderRegistry(
    "toolkit", entry_point_group="liteagent.toolkits"
)


def clean_url(url: str) -> str:
    """A base URL without trailing punctuation or slash."""
    return url.strip().rstrip(").,;:!?'\">]").rstrip("/")


URL_PATTERN = re.compile(
    r"https?://(?:\[[0-9A-Za-z:.%]*\])?[^\s<>\"'`)\]\[]*", re.IGNORECASE
)  # an IPv6 host comes whole, in its brackets: http://[::ffff:127.0.0.1]:8080/
