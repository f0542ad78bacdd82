"""One exception hierarchy for LiteAgent.

Every domain error carries an HTTP ``status_code`` and a stable ``error_code`` so that the
proxy handler can turn it into an OpenAI-shaped error without guessing::

    LiteAgentError (500 internal_error)
    ├── ConfigurationError (500 configuration_error)
    │   ├── CatalogError (500 catalog_error)        malformed liteagent.yaml
    │   └── ProviderConfigurationError (400 provider_configuration_error)  a provider's settings
    ├── InvalidRequestError (400 invalid_request_error)
    │   ├── ValidationError (422 validation_error)  well-formed input that breaks a rule
    │   ├── HeaderTooLargeError (400 header_too_large)  a forwarded header over its limit
    │   ├── InputRejectedError (400 input_rejected)  refused by input validation (block mode)
    │   └── RequestTooLargeError (413 request_too_large)  messages over the size limit
    ├── AuthenticationError (401 authentication_error)
    ├── UserIdentityError (403 user_identity_error)  forwarded end-user identity not usable
    ├── NotFoundError (404 not_found)
    │   ├── AgentNotFoundError (404 model_not_found)
    │   └── ProviderNotFoundError (404 provider_not_found)
    ├── ConflictError (409 conflict)               a name taken (e.g. by liteagent.yaml)
    ├── RateLimitExceededError (429 rate_limit_exceeded)
    ├── AgentExecutionError (500 agent_execution_error)
    ├── StorageUnavailableError (503 storage_unavailable)  LiteAgent's database is busy or gone
    └── LLMProviderError (502 upstream_error)        an upstream model failed
        ├── LLMTimeoutError (504 upstream_timeout)
        ├── LLMRateLimitError (429 upstream_rate_limited)
        ├── LLMUnavailableError (503 upstream_unavailable)
        └── ContextWindowExceededError (400 context_length_exceeded)

``LiteAgentException`` is the seeds' name of the base class (the same class), and
``to_http_exception()`` turns any of them into FastAPI's ``HTTPException`` with the OpenAI-shaped
body as its detail.

Messages are written for the person reading the chat: they say what went wrong and what to do,
and never contain credentials, URLs with secrets, or stack traces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from liteagent.redaction import redact_text

if TYPE_CHECKING:
    from fastapi import HTTPException

__all__ = [
    "AgentExecutionError",
    "AgentNotFoundError",
    "AuthenticationError",
    "CatalogError",
    "ConfigurationError",
    "ConflictError",
    "ContextWindowExceededError",
    "HeaderTooLargeError",
    "InputRejectedError",
    "InvalidRequestError",
    "LLMProviderError",
    "LLMRateLimitError",
    "LLMTimeoutError",
    "LLMUnavailableError",
    "LiteAgentError",
    "LiteAgentException",
    "NotFoundError",
    "ProviderConfigurationError",
    "ProviderNotFoundError",
    "RateLimitExceededError",
    "RequestTooLargeError",
    "StorageUnavailableError",
    "UserIdentityError",
    "ValidationError",
]


class LiteAgentError(Exception):
    """Base of every LiteAgent error."""

    status_code: ClassVar[int] = 500
    error_code: ClassVar[str] = "internal_error"

    def __init_subclass__(
        cls, *, status_code: int | None = None, error_code: str | None = None, **kwargs: Any
    ) -> None:
        """Declare a subclass's HTTP status and error code in its class line.

        ``class NotFoundError(LiteAgentError, status_code=404, error_code="not_found")``; a
        subclass that gives neither inherits its parent's.
        """
        super().__init_subclass__(**kwargs)
        if status_code is not None:
            cls.status_code = status_code
        if error_code is not None:
            cls.error_code = error_code

    def __init__(self, message: str) -> None:
        self.message = redact_text(message)
        super().__init__(self.message)

    def to_dict(self) -> dict[str, object]:
        """Return the OpenAI-shaped error body for this error."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_code,
                "param": None,
                "code": str(self.status_code),
            }
        }

    def to_http_exception(self) -> HTTPException:
        """FastAPI's ``HTTPException`` for this error: its status and OpenAI-shaped body."""
        from fastapi import HTTPException

        return HTTPException(status_code=self.status_code, detail=self.to_dict()["error"])


LiteAgentException = LiteAgentError
"""The seeds' name for ``LiteAgentError`` (the same class)."""


class ConfigurationError(LiteAgentError, error_code="configuration_error"):
    """Settings or files needed at start-up are missing or invalid."""


class CatalogError(ConfigurationError, error_code="catalog_error"):
    """The catalog file (``liteagent.yaml``) is malformed."""


class ProviderConfigurationError(
    ConfigurationError, status_code=400, error_code="provider_configuration_error"
):
    """A provider's settings, as a request or the management API gives them, are invalid."""


class InvalidRequestError(LiteAgentError, status_code=400, error_code="invalid_request_error"):
    """The request itself is malformed (e.g. empty or invalid ``messages``)."""


class ValidationError(InvalidRequestError, status_code=422, error_code="validation_error"):
    """The input is well formed but breaks a rule (a name in use, a value out of range)."""


class RequestTooLargeError(InvalidRequestError, status_code=413, error_code="request_too_large"):
    """The request's messages carry more text than ``LITEAGENT_MAX_REQUEST_CHARS`` allows."""


class HeaderTooLargeError(InvalidRequestError, error_code="header_too_large"):
    """A forwarded header (``X-OpenWebUI-User-Id``…) is longer than its limit."""


class InputRejectedError(InvalidRequestError, error_code="input_rejected"):
    """A message matched an input-validation check of an entry in ``block`` mode."""


class AuthenticationError(LiteAgentError, status_code=401, error_code="authentication_error"):
    """Credentials are missing or wrong."""


class UserIdentityError(LiteAgentError, status_code=403, error_code="user_identity_error"):
    """The end user a client forwards cannot be established.

    For example Open WebUI's signed ``X-OpenWebUI-User-Jwt`` is forged or expired, or arrives
    while no secret to verify it is configured.

    403, not 401: the LiteLLM key that made the request is valid; the user it speaks for is
    not. LiteLLM's router also puts a model into cooldown after a 401 from its handler, which
    would turn one bad token into "no deployments available" for every user of that model.
    """


class NotFoundError(LiteAgentError, status_code=404, error_code="not_found"):
    """A named resource does not exist."""


class AgentNotFoundError(NotFoundError, error_code="model_not_found"):
    """No catalog entry has the requested model name."""


class ProviderNotFoundError(NotFoundError, error_code="provider_not_found"):
    """No LLM provider is registered under the requested name."""


class ConflictError(LiteAgentError, status_code=409, error_code="conflict"):
    """The resource cannot be created or changed as asked: its name is taken."""


class RateLimitExceededError(LiteAgentError, status_code=429, error_code="rate_limit_exceeded"):
    """A LiteAgent rate limit was exceeded."""


class AgentExecutionError(LiteAgentError, error_code="agent_execution_error"):
    """An agent, RAG agent or workflow failed while running."""


class StorageUnavailableError(LiteAgentError, status_code=503, error_code="storage_unavailable"):
    """LiteAgent's own database could not be used just now (locked, read-only, gone)."""


class LLMProviderError(LiteAgentError, status_code=502, error_code="upstream_error"):
    """An upstream LLM call failed. The message names the provider, never its credentials."""

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        model: str | None = None,
        upstream_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.upstream_status = upstream_status
        self.retry_after = retry_after
        target = f"{provider}/{model}" if model else provider
        super().__init__(f"LLM provider '{target}' failed: {message}")


class LLMTimeoutError(LLMProviderError, status_code=504, error_code="upstream_timeout"):
    """The upstream did not answer in time."""

    retryable = True


class LLMRateLimitError(LLMProviderError, status_code=429, error_code="upstream_rate_limited"):
    """The upstream refused the call because of its rate limit (HTTP 429)."""

    retryable = True


class LLMUnavailableError(LLMProviderError, status_code=503, error_code="upstream_unavailable"):
    """The upstream is unreachable or overloaded (connection refused, 5xx)."""

    retryable = True


class ContextWindowExceededError(
    LLMProviderError, status_code=400, error_code="context_length_exceeded"
):
    """The conversation does not fit the model's context window."""
