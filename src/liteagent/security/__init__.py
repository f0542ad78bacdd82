"""Security: encryption of secrets at rest."""

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
