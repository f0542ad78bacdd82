"""Google Drive: OAuth 2.0 authorization-code flow by chat, tools over the Drive v3 API.

1. The agent answers with an authorization link (Google's consent screen) carrying a ``state``
   and a PKCE ``code_challenge`` derived from the user's key with the server's secret key.
2. The user allows access and pastes back the code (or the whole address the browser ended
   on: ``GOOGLE_OAUTH_REDIRECT_URI`` with ``?code=…``).
3. The code is exchanged at the token endpoint (with the user's own PKCE verifier: a code
   obtained through another user's link cannot be redeemed here) and the refresh token is
   stored encrypted; the access token is kept with its expiry.
4. Before a call, an access token about to expire is refreshed with the refresh token; a 401
   from Drive refreshes once and retries. A refresh token that Google refuses (revoked by the
   user, expired) is deleted and the user is asked to connect again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

from liteagent.log import get_logger
from liteagent.security import get_encryption_service
from liteagent.security.outbound import OutboundPolicy
from liteagent.toolkits.base import (
    URL_PATTERN,
    BaseToolkitConfig,
    ConfigOutcome,
    ToolkitError,
    toolkit_registry,
)
from liteagent.toolkits.http import ToolkitAuthError, request_text

logger = get_logger(__name__)

SCOPE = "https://www.googleapis.com/auth/drive.readonly"
_CODE = re.compile(r"(?<![\w/])4/[0-9A-Za-z_-]{10,}")
_EXPIRY_MARGIN = 60.0
_EXPORTS = {
    "application/vnd.google-apps.document": "text/plain",
    "application/vnd.google-apps.spreadsheet": "text/csv",
    "application/vnd.google-apps.presentation": "text/plain",
}


def _code_from_urls(message: str) -> list[tuple[str, str | None]]:
    found = []
    for url in URL_PATTERN.findall(message):
        try:
            query = parse_qs(urlsplit(url).query)
        except ValueError:  # not a URL after all, e.g. "http://[" (an unclosed IPv6 bracket)
            continue
        if query.get("code"):
            found.append((query["code"][0], (query.get("state") or [None])[0]))
    return found


class GoogleDriveConfig(BaseToolkitConfig):
    """Google Drive (read-only) through OAuth; needs ``GOOGLE_OAUTH_CLIENT_ID``/``_SECRET``."""

    name: ClassVar[str] = "gdrive"
    display_name: ClassVar[str] = "Google Drive"
    feature_words: ClassVar[tuple[str, ...]] = (
        "google drive",
        "gdrive",
        "drive",
        "google doc",
        "google docs",
        "google sheet",
        "google sheets",
    )

    def is_available(self) -> bool:
        return bool(self.settings.google_client_id and self.settings.google_client_secret)

    def is_revoke_request(self, message: str) -> bool:
        return super().is_revoke_request(message) or super().is_revoke_request(
            re.sub(r"(?i)\bgoogle\s+drive\b", "gdrive", message)
        )

    # ------------------------------------------------------------------ OAuth pieces
    def _signed(self, purpose: str, user_id: str) -> str:
        return get_encryption_service(self.settings).sign(purpose, user_id)

    def state_for(self, user_id: str) -> str:
        """The ``state`` of the user's authorization link."""
        return self._signed("gdrive-oauth-state", user_id)[:32]

    def code_verifier_for(self, user_id: str) -> str:
        """The user's PKCE verifier (43 characters, never sent before the exchange)."""
        digest = bytes.fromhex(self._signed("gdrive-oauth-pkce", user_id))
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def authorization_url(self, user_id: str) -> str:
        """Google's consent screen for this user."""
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(self.code_verifier_for(user_id).encode()).digest()
        ).rstrip(b"=")
        params = {
            "client_id": self.settings.google_client_id or "",
            "redirect_uri": self.settings.google_redirect_uri,
            "response_type": "code",
            "scope": SCOPE,
            "access_type": "offline",
            "prompt": "consent",
            "state": self.state_for(user_id),
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        }
        return f"{self.settings.google_auth_url}?{urlencode(params)}"

    def _client(self) -> dict[str, str]:
        secret = self.settings.google_client_secret
        return {
            "client_id": self.settings.google_client_id or "",
            "client_secret": secret.get_secret_value() if secret else "",
        }

    # ------------------------------------------------------------------ chat flow
    def find_secrets(self, message: str) -> list[str]:
        found = [code for code, _ in _code_from_urls(message)] + _CODE.findall(message)
        return list(dict.fromkeys(found))

    async def _token_request(self, **grant: str) -> Any:
        """Google's token endpoint, called with this client's id and secret and ``grant``."""
        return await self.fetch_json(
            "POST",
            self.settings.google_token_url,
            service="Google",
            data={**self._client(), **grant},
        )

    async def extract_and_store_config(self, message: str, user_id: str) -> ConfigOutcome | None:
        secrets = self.find_secrets(message)
        if not secrets:
            return None
        found = tuple(secrets)
        if not self.is_available():
            return ConfigOutcome(stored=False, secrets=found, message=self._unavailable())
        for _, state in _code_from_urls(message):
            if state is not None and state != self.state_for(user_id):
                return ConfigOutcome(
                    stored=False,
                    secrets=found,
                    message="That code came from an authorization link that was not made for "
                    "you, so it was not used. Open your own link below and paste the code you "
                    f"get.\n\n{self.get_config_prompt(user_id)}",
                )
        try:
            tokens = await self._token_request(
                grant_type="authorization_code",
                code=secrets[0],
                redirect_uri=self.settings.google_redirect_uri,
                code_verifier=self.code_verifier_for(user_id),
            )
        except ToolkitError as exc:
            return ConfigOutcome(
                stored=False,
                secrets=found,
                message=f"Google did not accept the code ({exc}) — codes work once and expire "
                "after a few minutes. Nothing was stored; open the link again and paste the new "
                f"code.\n\n{self.get_config_prompt(user_id)}",
            )
        if not isinstance(tokens, dict) or not tokens.get("refresh_token"):
            return ConfigOutcome(
                stored=False,
                secrets=found,
                message="Google did not hand out a refresh token, so access would stop within "
                "the hour. Nothing was stored; open the link again (it asks for consent).",
            )
        credentials: dict[str, Any] = {
            "refresh_token": tokens["refresh_token"],
            "access_token": tokens.get("access_token", ""),
            "expires_at": time.time() + float(tokens.get("expires_in") or 0),
            "scope": tokens.get("scope", SCOPE),
        }
        try:
            about = await self._drive(
                credentials["access_token"], "/drive/v3/about", {"fields": "user"}
            )
            email = ((about or {}).get("user") or {}).get("emailAddress")
        except ToolkitError:
            email = None
        credentials["email"] = email
        await self.storage.upsert_token(user_id=user_id, toolkit=self.name, data=credentials)
        who = f" as **{email}**" if email else ""
        return ConfigOutcome(
            stored=True,
            secrets=found,
            message=f"Google Drive is connected{who} (read-only). The refresh token is stored "
            "encrypted for you alone and the code was removed from our conversation. Send "
            "`revoke gdrive` to disconnect.",
        )

    def _unavailable(self) -> str:
        return (
            "**Google Drive is not set up on this server.** An administrator must create an "
            "OAuth client (Google Cloud console → APIs & Services → Credentials) and set "
            "GOOGLE_OAUTH_CLIENT_ID and GOOGLE_OAUTH_CLIENT_SECRET; see docs/toolkits.md."
        )

    def get_config_prompt(self, user_id: str) -> str:
        if not self.is_available():
            return self._unavailable()
        return (
            "**Google Drive is not connected yet.** To let me read your Drive, open this link, "
            f"allow read-only access, and paste back the code you get:\n\n"
            f"[Connect Google Drive]({self.authorization_url(user_id)})\n\n"
            "After you allow access the browser opens an address starting with "
            f"`{self.settings.google_redirect_uri}` (the page itself may not load): copy the "
            "`code=…` part, or the whole address, into this chat. I exchange it with Google, "
            "store the refresh token encrypted for you alone and remove the code from our "
            "conversation. Send `revoke gdrive` at any time to disconnect."
        )

    def get_agent_instructions(self) -> list[str]:
        return [
            "Google Drive tools are available (read-only): gdrive_search_files to find files "
            "by name or content, gdrive_read_file to read a file's text by its id.",
        ]

    async def revoke(self, user_id: str) -> bool:
        credentials = await self.credentials(user_id)
        if credentials and credentials.get("refresh_token"):
            try:  # tell Google too, so the grant disappears from the user's account
                await self.fetch_json(
                    "POST",
                    self.settings.google_revoke_url,
                    service="Google",
                    data={"token": str(credentials["refresh_token"])},
                )
            except ToolkitError as exc:
                logger.warning("gdrive_revoke_at_google_failed", user=user_id, error=str(exc))
        return await super().revoke(user_id)

    # ------------------------------------------------------------------ tokens and API
    async def access_token(self, user_id: str, *, force_refresh: bool = False) -> str:
        """A valid access token for the user, refreshed when it is about to expire.

        Raises:
            ToolkitError: not configured, or Google refused the refresh token (then the stored
                credentials are deleted and the user must connect again).
        """
        credentials = await self.credentials(user_id)
        if credentials is None:
            raise ToolkitError("Google Drive is not connected for this user any more.")
        expires_at = float(credentials.get("expires_at") or 0)
        if (
            not force_refresh
            and credentials.get("access_token")
            and (expires_at - _EXPIRY_MARGIN > time.time())
        ):
            return str(credentials["access_token"])
        try:
            tokens = await self._token_request(
                grant_type="refresh_token", refresh_token=str(credentials["refresh_token"])
            )
        except ToolkitError as exc:
            if "invalid_grant" in str(exc) or isinstance(exc, ToolkitAuthError):
                await self.storage.delete_token(user_id=user_id, toolkit=self.name, notify=False)
                raise ToolkitError(
                    "Google Drive access was revoked or has expired; the user must connect "
                    "Google Drive again (send any message about Drive to get the link)."
                ) from None
            raise
        credentials["access_token"] = str((tokens or {}).get("access_token") or "")
        credentials["expires_at"] = time.time() + float((tokens or {}).get("expires_in") or 0)
        if (tokens or {}).get("refresh_token"):
            credentials["refresh_token"] = tokens["refresh_token"]
        await self.storage.upsert_token(
            user_id=user_id, toolkit=self.name, data=credentials, notify=False
        )
        logger.info("gdrive_access_token_refreshed", user=user_id)
        return str(credentials["access_token"])

    async def _drive(self, access_token: str, path: str, params: dict[str, Any]) -> Any:
        return await self.fetch_json(
            "GET",
            f"{self.settings.google_drive_api_url.rstrip('/')}{path}",
            headers={"Authorization": f"Bearer {access_token}"},
            params=params,
        )

    async def api(self, user_id: str, path: str, params: dict[str, Any]) -> Any:
        """GET a Drive API path as the user (refreshing the access token when needed)."""
        try:
            return await self._drive(await self.access_token(user_id), path, params)
        except ToolkitAuthError:
            token = await self.access_token(user_id, force_refresh=True)
            return await self._drive(token, path, params)

    async def read_text(self, user_id: str, path: str, params: dict[str, Any]) -> str:
        """GET a file's content as text as the user."""
        base = self.settings.google_drive_api_url.rstrip("/")
        for attempt in (0, 1):
            token = await self.access_token(user_id, force_refresh=attempt == 1)
            try:
                return await request_text(
                    "Google Drive",
                    f"{base}{path}",
                    policy=OutboundPolicy.from_settings(self.settings),
                    timeout=self.settings.toolkit_timeout,
                    headers={"Authorization": f"Bearer {token}"},
                    params=params,
                )
            except ToolkitAuthError:
                if attempt == 1:
                    raise
        raise ToolkitError("unreachable")  # pragma: no cover

    def tools(self, user_id: str) -> list[Callable[..., Any]]:
        tools = GoogleDriveTools(self, user_id)
        return [tools.gdrive_search_files, tools.gdrive_read_file]


class GoogleDriveTools:
    """The tools the agent calls; each gets a fresh access token when it needs one."""

    def __init__(self, config: GoogleDriveConfig, user_id: str) -> None:
        self._config = config
        self._user_id = user_id

    async def gdrive_search_files(self, query: str = "", limit: int = 10) -> str:
        """Find files in the user's Google Drive by name or content.

        Args:
            query: Words to look for (empty: the most recently modified files).
            limit: How many files to return (at most 50).

        Returns:
            The files as JSON: id, name, mimeType, modifiedTime, webViewLink.
        """
        q = "trashed = false"
        if query.strip():
            words = query.strip().replace("\\", "\\\\").replace("'", "\\'")
            q = f"(name contains '{words}' or fullText contains '{words}') and {q}"
        try:
            data = await self._config.api(
                self._user_id,
                "/drive/v3/files",
                {
                    "q": q,
                    "pageSize": max(1, min(int(limit), 50)),
                    "orderBy": "modifiedTime desc",
                    "fields": "files(id,name,mimeType,modifiedTime,webViewLink)",
                },
            )
        except ToolkitError as exc:
            return f"Error: {exc}"
        return json.dumps((data or {}).get("files") or [])

    async def gdrive_read_file(self, file_id: str) -> str:
        """Read the text of one file in the user's Google Drive.

        Args:
            file_id: The file's id (from gdrive_search_files).

        Returns:
            The file's name and text (Google Docs as plain text, Sheets as CSV).
        """
        fid = file_id.strip()
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,200}", fid):
            return f"Error: '{file_id}' is not a Drive file id."
        try:
            meta = await self._config.api(
                self._user_id, f"/drive/v3/files/{fid}", {"fields": "id,name,mimeType"}
            )
            mime = str((meta or {}).get("mimeType") or "")
            if mime in _EXPORTS:
                text = await self._config.read_text(
                    self._user_id, f"/drive/v3/files/{fid}/export", {"mimeType": _EXPORTS[mime]}
                )
            elif mime.startswith("text/") or mime in ("application/json", "application/xml"):
                text = await self._config.read_text(
                    self._user_id, f"/drive/v3/files/{fid}", {"alt": "media"}
                )
            else:
                return f"Error: {meta.get('name')} is a {mime} file; only text can be read."
        except ToolkitError as exc:
            return f"Error: {exc}"
        return json.dumps({"name": (meta or {}).get("name"), "text": text}, ensure_ascii=False)


toolkit_registry.register("gdrive")(GoogleDriveConfig)
