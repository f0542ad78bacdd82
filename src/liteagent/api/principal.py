"""Who is calling the management API, whichever way they proved it.

Inside the LiteLLM proxy a caller is identified by a LiteLLM key (the master key is an admin; a
virtual key acts for its team, else its user). Standalone (``liteagent api``) a caller is
identified by a JWT access token or a LiteAgent API key. Both end as a :class:`Principal`; the
routes and services only ever see that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request

__all__ = ["Authenticator", "Principal", "RateLimitInfo"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller of the management API.

    Attributes:
        subject: Stable identifier of the caller (user id, ``team:<id>`` or ``key:<hash prefix>``).
        is_admin: Admins see and change every resource.
        team_id: The caller's team, when the credential belongs to one.
        user_id: The caller's user, when known.
    """

    subject: str
    is_admin: bool = False
    team_id: str | None = None
    user_id: str | None = None

    @property
    def owner(self) -> str:
        """The owner recorded on resources this caller creates: team first, then user."""
        if self.team_id:
            return f"team:{self.team_id}"
        if self.user_id:
            return f"user:{self.user_id}"
        return self.subject

    def can_access(self, owner: str | None) -> bool:
        """Whether this caller may see and change a resource owned by ``owner``."""
        return self.is_admin or (owner is not None and owner == self.owner)


class Authenticator(Protocol):
    """Turns a request's credentials into a :class:`Principal`.

    Implementations raise ``fastapi.HTTPException(401)`` (with a ``WWW-Authenticate`` header)
    when the request carries no valid credential.
    """

    async def authenticate(self, request: Request) -> Principal: ...


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """The caller's rate limit, when the authenticator knows it.

    An authenticator may set ``request.state.rate_limit`` to one of these; ``GET
    /meta/rate-limit-status`` reports it (and the standalone app's headers say the same).

    Attributes:
        limit: Requests allowed per window (``None``: no limit known).
        remaining: Requests left in the window (``None``: not counted here).
        reset: Unix time when the window resets (``None``: unknown).
        enforced_by: Who enforces it (``litellm`` inside the proxy, ``liteagent`` standalone).
    """

    limit: int | None = None
    remaining: int | None = None
    reset: int | None = None
    enforced_by: str = "none"
