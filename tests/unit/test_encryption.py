"""EncryptionService and the start-up key check."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from liteagent.config import Settings
from liteagent.errors import ConfigurationError
from liteagent.security import (
    DecryptionError,
    EncryptionService,
    check_encryption_key,
    get_encryption_service,
)


def test_round_trip_with_prefix_and_no_plaintext() -> None:
    service = EncryptionService(Fernet.generate_key())
    token = service.encrypt("glpat-secret-value-123456")
    assert token.startswith("enc:v1:") and "glpat" not in token
    assert service.is_encrypted(token) and not service.is_encrypted("glpat-x")
    assert service.decrypt(token) == "glpat-secret-value-123456"
    assert service.encrypt("same") != service.encrypt("same")  # random IV


def test_rotation_new_key_first_old_key_still_reads() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    stored = EncryptionService(old).encrypt("secret")
    rotated = EncryptionService(f"{new.decode()},{old.decode()}")
    assert rotated.decrypt(stored) == "secret"
    assert EncryptionService(new).decrypt(rotated.encrypt("x")) == "x"
    with pytest.raises(DecryptionError, match="the key changed"):
        EncryptionService(new).decrypt(stored)


def test_sign_is_keyed_and_purpose_bound() -> None:
    a, b = EncryptionService(Fernet.generate_key()), EncryptionService(Fernet.generate_key())
    assert a.sign("p", "alice") == a.sign("p", "alice")
    assert a.sign("p", "alice") != a.sign("p", "bob") != a.sign("q", "alice")
    assert a.sign("p", "alice") != b.sign("p", "alice")


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_missing_key_refused_outside_development(environment: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        check_encryption_key(Settings(environment=environment, encryption_key=None))
    message = str(err.value)
    assert "LITEAGENT_ENCRYPTION_KEY is not set" in message
    assert 'python -c "from cryptography.fernet import Fernet' in message


def test_malformed_key_refused_everywhere() -> None:
    for environment in ("development", "production"):
        with pytest.raises(ConfigurationError, match="not a valid Fernet key"):
            check_encryption_key(Settings(environment=environment, encryption_key="short"))


def test_development_gets_a_temporary_key_with_a_warning() -> None:
    from structlog.testing import capture_logs

    from liteagent.security import encryption

    encryption._services.pop("ephemeral", None)
    with capture_logs() as logs:
        service = get_encryption_service(Settings(environment="development", encryption_key=None))
    assert service.decrypt(service.encrypt("x")) == "x"
    (warning,) = [e for e in logs if e["event"] == "encryption_key_missing_using_temporary_key"]
    assert warning["log_level"] == "warning" and "after a restart" in warning["consequence"]


def test_configured_key_is_used() -> None:
    key = Fernet.generate_key().decode()
    service = get_encryption_service(Settings(environment="production", encryption_key=key))
    assert service.get_key() == key.encode()
    assert EncryptionService(key).decrypt(service.encrypt("v")) == "v"
