"""Security: encryption of secrets at rest.

The outbound-URL policy lives in ``liteagent.security.outbound`` (decisions) and
``liteagent.security.outbound_client`` (the httpx client that enforces them); input validation
(prompt-injection and script-markup checks, untrusted-data labels) in
``liteagent.security.validation``.
"""

from liteagent.security.encryption import (
    KEYGEN_COMMAND,
    PREFIX,
    DecryptionError,
    EncryptionService,
    check_encryption_key,
    get_encryption_service,
)

__all__ = [
    "KEYGEN_COMMAND",
    "PREFIX",
    "DecryptionError",
    "EncryptionService",
    "check_encryption_key",
    "get_encryption_service",
]
