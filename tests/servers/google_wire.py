"""Google's OAuth 2.0 endpoints and the Drive v3 API, in their wire formats.

- ``GET /o/oauth2/v2/auth``: the consent screen. It checks the client, redirect URI, scope and
  PKCE challenge, "signs in" as ``consent_email`` and answers ``302`` to the redirect URI with
  ``code`` and ``state`` — what the user's browser would do after "Allow".
- ``POST /token``: ``authorization_code`` (with ``code_verifier`` checked against the challenge,
  codes usable once) and ``refresh_token`` grants; errors as Google sends them
  (``{"error": "invalid_grant", "error_description": …}``).
- ``POST /revoke``: revokes a refresh token and its access tokens.
- ``GET /drive/v3/about``, ``/drive/v3/files`` (``q`` with ``name contains`` / ``fullText
  contains``), ``/drive/v3/files/{id}`` (metadata, or ``alt=media``) and
  ``/drive/v3/files/{id}/export``. An unknown or expired access token gets Google's 401.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "1234567890-liteagent.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-test-client-secret-0123"
REDIRECT_URI = "http://localhost"
SCOPE = "https://www.googleapis.com/auth/drive.readonly"
_UNAUTHENTICATED = {
    "error": {
        "code": 401,
        "message": "Request had invalid authentication credentials. Expected OAuth 2 access "
        "token, login cookie or other valid authentication credential.",
        "errors": [
            {
                "message": "Invalid Credentials",
                "domain": "global",
                "reason": "authError",
                "location": "Authorization",
                "locationType": "header",
            }
        ],
        "status": "UNAUTHENTICATED",
    }
}


@dataclass
class GoogleWireServer:
    consent_email: str = "alice@example.com"
    access_token_lifetime: int = 3599
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # refresh token -> email
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    drive_requests: list[dict[str, Any]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/o/oauth2/v2/auth", self._auth),
                Route("/token", self._token, methods=["POST"]),
                Route("/revoke", self._revoke, methods=["POST"]),
                Route("/drive/v3/about", self._about),
                Route("/drive/v3/files", self._list),
                Route("/drive/v3/files/{file_id}/export", self._export),
                Route("/drive/v3/files/{file_id}", self._file),
            ]
        )

    def add_file(
        self,
        file_id: str,
        name: str,
        text: str,
        *,
        owner: str,
        mime: str = "application/vnd.google-apps.document",
    ) -> None:
        self.files[file_id] = {
            "id": file_id,
            "name": name,
            "mimeType": mime,
            "text": text,
            "owner": owner,
            "modifiedTime": "2026-11-01T09:00:00.000Z",
            "webViewLink": f"https://docs.example/{file_id}",
        }

    def expire_access_tokens(self) -> None:
        """Every access token handed out so far stops working (as after an hour)."""
        for data in self.access_tokens.values():
            data["expires"] = 0.0

    # ------------------------------------------------------------------ OAuth
    async def _auth(self, request: Request) -> Response:
        q = request.query_params
        problems = []
        if q.get("client_id") != CLIENT_ID:
            problems.append("invalid_client")
        if q.get("redirect_uri") != REDIRECT_URI:
            problems.append("redirect_uri_mismatch")
        if q.get("response_type") != "code" or SCOPE not in q.get("scope", "").split():
            problems.append("invalid_request")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            problems.append("invalid_request: code_challenge")
        if problems:
            return PlainTextResponse(f"Error 400: {', '.join(problems)}", status_code=400)
        code = "4/0A" + secrets.token_urlsafe(40)
        self.codes[code] = {
            "challenge": q["code_challenge"],
            "email": self.consent_email,
            "redirect_uri": q["redirect_uri"],
            "used": False,
        }
        params = {"code": code, "scope": SCOPE}
        if q.get("state"):
            params = {"state": q["state"], **params}
        return RedirectResponse(f"{REDIRECT_URI}/?{urlencode(params)}", status_code=302)

    def _issue_access(self, email: str) -> dict[str, Any]:
        token = "ya29.a0" + secrets.token_urlsafe(48)
        self.access_tokens[token] = {
            "email": email,
            "expires": time.time() + self.access_token_lifetime,
        }
        return {
            "access_token": token,
            "expires_in": self.access_token_lifetime,
            "scope": SCOPE,
            "token_type": "Bearer",
        }

    @staticmethod
    def _grant_error(
        error: str = "invalid_grant", status: int = 400, description: str = "Bad Request"
    ) -> JSONResponse:
        return JSONResponse({"error": error, "error_description": description}, status_code=status)

    async def _token(self, request: Request) -> JSONResponse:
        form = dict(await request.form())
        self.token_requests.append({k: str(v) for k, v in form.items()})
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return self._grant_error("invalid_client", 401, "Unauthorized")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            entry = self.codes.get(str(form.get("code")))
            if entry is None or entry["used"] or form.get("redirect_uri") != entry["redirect_uri"]:
                return self._grant_error()
            verifier = str(form.get("code_verifier", ""))
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if challenge != entry["challenge"]:
                return self._grant_error(description="Invalid code verifier.")
            entry["used"] = True
            refresh = "1//0g" + secrets.token_urlsafe(40)
            self.refresh_tokens[refresh] = entry["email"]
            return JSONResponse({**self._issue_access(entry["email"]), "refresh_token": refresh})
        if grant == "refresh_token":
            email = self.refresh_tokens.get(str(form.get("refresh_token")))
            if email is None:
                return self._grant_error(description="Token has been expired or revoked.")
            return JSONResponse(self._issue_access(email))
        return self._grant_error("unsupported_grant_type", description="Invalid grant_type")

    async def _revoke(self, request: Request) -> JSONResponse:
        token = str((await request.form()).get("token", ""))
        email = self.refresh_tokens.pop(token, None)
        if email is None:
            return self._grant_error("invalid_token", description="Token expired or revoked")
        self.revoked.append(token)
        for data in self.access_tokens.values():
            if data["email"] == email:
                data["expires"] = 0.0
        return JSONResponse({})

    # ------------------------------------------------------------------ Drive
    def _user(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        self.drive_requests.append({"path": request.url.path, "query": dict(request.query_params)})
        token = header[7:] if header.lower().startswith("bearer ") else ""
        data = self.access_tokens.get(token)
        if data is None or data["expires"] < time.time():
            return None
        return str(data["email"])

    async def _about(self, request: Request) -> JSONResponse:
        email = self._user(request)
        if email is None:
            return JSONResponse(_UNAUTHENTICATED, status_code=401)
        return JSONResponse(
            {
                "user": {
                    "kind": "drive#user",
                    "displayName": email.split("@")[0],
                    "emailAddress": email,
                    "me": True,
                }
            }
        )

    async def _list(self, request: Request) -> JSONResponse:
        email = self._user(request)
        if email is None:
            return JSONResponse(_UNAUTHENTICATED, status_code=401)
        q = request.query_params.get("q", "")
        words = re.findall(r"contains '((?:[^'\\]|\\.)*)'", q)
        files = [f for f in self.files.values() if f["owner"] == email]
        if words:
            word = words[0].lower()
            files = [f for f in files if word in f["name"].lower() or word in f["text"].lower()]
        size = int(request.query_params.get("pageSize", "100"))
        keys = ("id", "name", "mimeType", "modifiedTime", "webViewLink")
        return JSONResponse(
            {
                "kind": "drive#fileList",
                "incompleteSearch": False,
                "files": [{k: f[k] for k in keys} for f in files[:size]],
            }
        )

    def _owned(self, request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        email = self._user(request)
        if email is None:
            return None, JSONResponse(_UNAUTHENTICATED, status_code=401)
        entry = self.files.get(request.path_params["file_id"])
        if entry is None or entry["owner"] != email:
            return None, JSONResponse(
                {
                    "error": {
                        "code": 404,
                        "message": f"File not found: {request.path_params['file_id']}.",
                        "status": "NOT_FOUND",
                    }
                },
                status_code=404,
            )
        return entry, None

    async def _file(self, request: Request) -> Response:
        entry, error = self._owned(request)
        if error is not None or entry is None:
            return error or Response(status_code=500)
        if request.query_params.get("alt") == "media":
            if entry["mimeType"].startswith("application/vnd.google-apps"):
                return JSONResponse(
                    {
                        "error": {
                            "code": 403,
                            "message": "Only files with binary content can be "
                            "downloaded. Use Export with Docs Editors files.",
                        }
                    },
                    status_code=403,
                )
            return PlainTextResponse(entry["text"])
        return JSONResponse({k: entry[k] for k in ("id", "name", "mimeType")})

    async def _export(self, request: Request) -> Response:
        entry, error = self._owned(request)
        if error is not None or entry is None:
            return error or Response(status_code=500)
        return PlainTextResponse(entry["text"])
