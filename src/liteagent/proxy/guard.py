"""``RequestGuard``: checks a ``liteagent/*`` request before LiteLLM itself reads it.

LiteLLM parses ``messages`` and some parameters on its way to the handler, and fails with a 500
on shapes it does not expect: a ``content`` that is a number or a boolean, an unknown content
part, a ``response_format`` that is not an object. Registered as a proxy callback
(``litellm_settings.callbacks`` in ``proxy_config.yaml``), this pre-call hook runs the handler's
own checks (``validate_messages``, ``parse_request_options``) first, so such a request gets the
400 that names the field. Requests for other models pass untouched.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

from liteagent.errors import InvalidRequestError
from liteagent.log import get_logger
from liteagent.proxy.context import validate_messages
from liteagent.proxy.request_options import parse_request_options

__all__ = ["RequestGuard", "check_request_body"]

logger = get_logger(__name__)

_CHAT_CALLS = ("completion", "acompletion")


def check_request_body(data: Any) -> None:
    """Check a chat request body for a ``liteagent/*`` model.

    Raises:
        InvalidRequestError: ``messages`` or a parameter is malformed.
    """
    if not isinstance(data, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    validate_messages(data.get("messages"))
    parse_request_options(data)


class RequestGuard(CustomLogger):
    """LiteLLM proxy pre-call hook refusing malformed ``liteagent/*`` chat requests with 400."""

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> None:
        model = data.get("model")
        if call_type not in _CHAT_CALLS or not str(model or "").startswith("liteagent/"):
            return
        try:
            check_request_body(data)
        except InvalidRequestError as exc:
            logger.warning("request_refused", model=model, error=exc.message)
            raise HTTPException(status_code=400, detail=exc.message) from None
