"""The standalone API's auth building blocks: JWTs, API keys, passwords, settings, the CLI's
refusals. (The HTTP matrix is in tests/integration/test_api_standalone_auth.py.)"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liteagent import cli
from liteagent.api.auth import (
    APIKeyAuth,
    AuthMiddleware,
    JWTHandler,
    User,
    api_key_display_prefix,
    generate_api_key,
    hash_api_key,
    verify_api_key,
)
from liteagent.api.standalone import normalise_email, principal_for
from liteagent.config import Settings, get_settings
from liteagent.errors import AuthenticationError, ConfigurationError, ValidationError
from liteagent.redaction import redact_text
from liteagent.security.passwords import hash_password, needs_rehash, verify_password

ROOT = Path(__file__).resolve().parents[2]
SECRET = secrets.token_urlsafe(32)
ALICE = User(id="u1", email="alice@example.org", roles=["admin"], team_id="blue")


async def _no_keys(_: str) -> tuple[User, str] | None:
    return None


def test_access_and_refresh_tokens_round_trip_and_keep_to_their_use() -> None:
    handler = JWTHandler(SECRET)
    access = handler.decode_token(handler.create_access_token(ALICE), expected_type="access")
    assert access.to_user() == ALICE and access.type == "access"
    refresh_token = handler.create_refresh_token(ALICE)
    assert handler.decode_token(refresh_token).type == "refresh"
    with pytest.raises(AuthenticationError, match="refresh token cannot be used here"):
        handler.decode_token(refresh_token, expected_type="access")
    with pytest.raises(AuthenticationError, match="access token cannot be used here"):
        handler.decode_token(handler.create_access_token(ALICE), expected_type="refresh")
    assert refresh_token.count(".") == 2


def test_expiry_is_enforced_with_the_configured_lifetimes() -> None:
    now = datetime.now(UTC)
    past = JWTHandler(
        SECRET,
        access_ttl=timedelta(minutes=15),
        refresh_ttl=timedelta(days=7),
        clock=lambda: now - timedelta(days=7, minutes=1),
    )
    with pytest.raises(AuthenticationError, match="expired"):
        past.decode_token(past.create_access_token(ALICE))
    with pytest.raises(AuthenticationError, match="expired"):
        past.decode_token(past.create_refresh_token(ALICE))
    # six days ago a refresh token of seven days is still good; an access token is not
    recent = JWTHandler(SECRET, clock=lambda: now - timedelta(days=6))
    assert recent.decode_token(recent.create_refresh_token(ALICE)).sub == "u1"
    with pytest.raises(AuthenticationError, match="expired"):
        recent.decode_token(recent.create_access_token(ALICE))


def test_tokens_of_another_secret_or_algorithm_are_refused() -> None:
    other = JWTHandler(secrets.token_urlsafe(32))
    handler = JWTHandler(SECRET)
    with pytest.raises(AuthenticationError, match="invalid"):
        handler.decode_token(other.create_access_token(ALICE))
    claims = jwt.decode(handler.create_access_token(ALICE), options={"verify_signature": False})
    for algorithm, key in (("none", None), ("HS512", SECRET * 2)):
        with pytest.raises(AuthenticationError, match="invalid"):
            handler.decode_token(jwt.encode(claims, key, algorithm=algorithm))


def test_the_secret_is_required_long_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LITEAGENT_JWT_SECRET", raising=False)
    with pytest.raises(ConfigurationError, match="LITEAGENT_JWT_SECRET is not set"):
        JWTHandler.from_settings(Settings(_env_file=None))
    with pytest.raises(ConfigurationError, match="at least 32 characters"):
        JWTHandler.from_settings(Settings(_env_file=None, jwt_secret="short"))
    secret = secrets.token_urlsafe(40)
    monkeypatch.setenv("LITEAGENT_JWT_SECRET", secret)
    loaded = Settings(_env_file=None)
    assert secret not in repr(loaded)
    JWTHandler.from_settings(loaded)
    assert redact_text(f"signing with {secret}") == "signing with ***"


def test_settings_are_read_and_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    documented = (ROOT / ".env.example").read_text()
    values = {
        "LITEAGENT_JWT_ACCESS_TOKEN_MINUTES": ("jwt_access_token_minutes", "5"),
        "LITEAGENT_JWT_REFRESH_TOKEN_DAYS": ("jwt_refresh_token_days", "1.5"),
        "RATE_LIMIT_REQUESTS_PER_MINUTE": ("rate_limit_requests_per_minute", "7"),
        "RATE_LIMIT_MAX_CONCURRENT": ("rate_limit_max_concurrent", "0"),
    }
    assert "LITEAGENT_JWT_SECRET" in documented
    for name, (_, value) in values.items():
        assert name in documented, f"{name} missing from .env.example"
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LITEAGENT_JWT_SECRET", "  ")
    loaded = Settings(_env_file=None)
    for name, (attribute, value) in values.items():
        assert float(getattr(loaded, attribute)) == float(value), name
    assert loaded.jwt_secret is None  # blank means unset
    handler = JWTHandler(secrets.token_urlsafe(32), access_ttl=timedelta(minutes=5))
    token = handler.decode_token(handler.create_access_token(ALICE))
    assert token.exp - token.iat == 300


def test_api_keys_are_random_hashed_and_checked_in_constant_time() -> None:
    keys = {generate_api_key() for _ in range(50)}
    assert len(keys) == 50
    key = generate_api_key("lak")
    assert key.startswith("lak-") and len(key) == 4 + 43 and "." not in key
    assert hash_api_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert verify_api_key(key, hash_api_key(key))
    assert not verify_api_key(key + "x", hash_api_key(key))
    APIKeyAuth().validate(key, hash_api_key(key))
    with pytest.raises(AuthenticationError):
        APIKeyAuth().validate(key, hash_api_key("sk-other"))
    prefix = api_key_display_prefix(key)
    assert prefix == key[:12] and len(prefix) < len(key) // 3


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=80))
def test_only_the_key_itself_verifies(key: str, other: str) -> None:
    stored = hash_api_key(key)
    assert verify_api_key(key, stored)
    assert verify_api_key(other, stored) == (other == key)


def test_skipped_paths_are_docs_health_and_the_token_endpoints() -> None:
    middleware = AuthMiddleware(JWTHandler(SECRET), _no_keys)
    for path in ("/health", "/health/ready", "/docs", "/docs/", "/openapi.json", "/auth/token"):
        assert middleware.should_skip_auth(path), path
    for path in ("/agents", "/auth/api-keys", "/docsx", "/healthz", "/", "/auth/me"):
        assert not middleware.should_skip_auth(path), path


async def test_authorization_values() -> None:
    handler = JWTHandler(SECRET)
    middleware = AuthMiddleware(handler, _no_keys)
    token = handler.create_access_token(ALICE)
    assert await middleware.authenticate(f"Bearer {token}") == ALICE
    assert await middleware.authenticate(f"bearer   {token} ") == ALICE
    for value in ("", "Bearer", "Basic abc", token):
        with pytest.raises(AuthenticationError, match="Authorization: Bearer"):
            await middleware.authenticate(value)
    with pytest.raises(AuthenticationError, match="API key"):
        await middleware.authenticate("Bearer sk-unknown")


def test_principal_of_a_user() -> None:
    admin = principal_for(ALICE)
    assert (admin.subject, admin.is_admin, admin.team_id, admin.user_id) == (
        "u1",
        True,
        "blue",
        "u1",
    )
    plain = principal_for(User(id="u2", email="b@example.org", roles=["viewer"]))
    assert not plain.is_admin and plain.owner == "user:u2"
    assert plain.can_access("user:u2") and not plain.can_access("team:blue")


def test_e_mail_addresses() -> None:
    assert normalise_email("  Bob@Example.ORG ") == "bob@example.org"
    for bad in ("bob", "@example.org", "bob@", "bob@localhost", "b ob@example.org"):
        with pytest.raises(ValidationError):
            normalise_email(bad)


def test_passwords_are_salted_scrypt_hashes() -> None:
    password = secrets.token_urlsafe(16)
    first, second = hash_password(password), hash_password(password)
    assert first != second  # salted
    assert first.startswith("scrypt$ln=14,r=8,p=5$") and password not in first
    assert verify_password(password, first) and verify_password(password, second)
    assert not verify_password(password + "x", first)
    assert not needs_rehash(first)
    for malformed in ("", "plain", "bcrypt$x$y$z", "scrypt$ln=40,r=8,p=1$AAAA$AAAA"):
        assert not verify_password(password, malformed)
    # an older, cheaper hash still verifies, and is flagged for replacement
    salt = os.urandom(16)
    derived = hashlib.scrypt(password.encode(), salt=salt, n=2**10, r=8, p=1, dklen=32)
    encode = lambda raw: base64.b64encode(raw).decode().rstrip("=")  # noqa: E731
    weak = f"scrypt$ln=10,r=8,p=1${encode(salt)}${encode(derived)}"
    assert verify_password(password, weak) and needs_rehash(weak)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LITEAGENT_JWT_SECRET", raising=False)
    monkeypatch.setenv("LITEAGENT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/t.db")
    get_settings.cache_clear()
    saved = dict(os.environ)
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def test_serving_without_a_jwt_secret_is_refused_clearly(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["api"]) == 2
    err = capsys.readouterr().err
    assert "LITEAGENT_JWT_SECRET is not set" in err and "secrets.token_urlsafe" in err
    (project / ".env").write_text("LITEAGENT_JWT_SECRET=too-short\n")
    get_settings.cache_clear()
    assert cli.main(["api", "serve"]) == 2
    assert "at least 32 characters" in capsys.readouterr().err


def test_create_user_and_key_refusals(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["api", "create-user", "--email", "a@example.org"]) == 2
    assert "at least 12 characters" in capsys.readouterr().err
    password = secrets.token_urlsafe(16)
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    assert cli.main(["api", "create-user", "--email", "a@example.org", "--role", "Ops"]) == 2
    assert "Role 'Ops' is invalid" in capsys.readouterr().err
    for _ in range(2):
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
        status = cli.main(["api", "create-user", "--email", "A@example.org"])
    assert status == 2
    captured = capsys.readouterr()
    assert "exists" in captured.err and password not in captured.out + captured.err
    assert cli.main(["api", "create-key", "--email", "nobody@example.org", "--name", "k"]) == 2
    assert "no user 'nobody@example.org'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(
            ["api", "create-key", "--email", "a@example.org", "--name", "k", "--expires-days", "0"]
        )
