"""The shared Redis connection (standalone, Sentinel or Cluster, optionally TLS) and its fallback.

Redis is optional. With ``REDIS_URL`` unset every runtime service keeps its state in this
process (the zero-setup default). With it set, ``RedisClientWrapper`` builds one
``redis.asyncio`` client on first use (never at import time) in the mode ``REDIS_MODE`` names:

- ``standalone``: ``REDIS_URL`` is the server (``redis://`` or ``rediss://`` for TLS).
- ``sentinel``: ``REDIS_URL`` (or each ``REDIS_CLUSTER_NODES`` entry) is a Sentinel; the master
  is ``REDIS_SENTINEL_MASTER``. Password and database of ``REDIS_URL`` apply to the master.
- ``cluster``: ``REDIS_CLUSTER_NODES`` (``host:port,…``; default: the host of ``REDIS_URL``)
  are the start-up nodes.

``REDIS_SSL=true`` (or a ``rediss://`` URL) turns TLS on (to Sentinels, masters and cluster
nodes alike); ``REDIS_SSL_CA_CERTS`` names a CA bundle for a private CA.

When Redis stops answering, ``redis_fallback`` methods run their in-process twin instead: one
``redis_unavailable`` warning is logged, ``available`` turns false (health says DEGRADED), and
every ``retry_interval`` seconds one operation tries Redis again; the first that succeeds (or a
health probe's ``PING``) logs ``redis_reconnected`` and Redis is used again.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast
from urllib.parse import quote, unquote, urlsplit

from redis import exceptions as redis_errors
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff

from liteagent.log import get_logger

if TYPE_CHECKING:
    from liteagent.config import Settings

__all__ = [
    "KEY_PREFIX",
    "REDIS_ERRORS",
    "RedisBacked",
    "RedisClientWrapper",
    "RedisNotConfiguredError",
    "ensure_redis",
    "get_redis",
    "in_use",
    "limits_storage_options",
    "limits_storage_uri",
    "redis_client",
    "redis_fallback",
]

logger = get_logger(__name__)

AnyRedis = Redis | RedisCluster
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
L = TypeVar("L")

KEY_PREFIX = "liteagent:"
"""The prefix of every key LiteAgent writes to Redis."""

REDIS_ERRORS: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ClusterError,
    redis_errors.RedisClusterException,
    redis_errors.ReadOnlyError,
    redis_errors.BusyLoadingError,
    OSError,
)
"""Errors that mean "Redis is not reachable just now" (not "this command was wrong")."""


class _NoLoop:
    """Stands for "no running event loop" as a client key."""


_NO_LOOP = _NoLoop()


def _loop_key() -> object:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return _NO_LOOP


class RedisNotConfiguredError(RuntimeError):
    """``get_redis()`` was called without ``REDIS_URL``."""


def _host_port(value: str, default_port: int = 6379) -> tuple[str, int]:
    host, _, port = value.strip().rpartition(":")
    if not host:
        return value.strip(), default_port
    return host.strip("[]"), int(port)


class RedisClientWrapper:
    """One lazily created Redis client plus its availability state.

    Args:
        settings: Where ``REDIS_*`` come from (default: ``get_settings()`` on first use).
        retry_interval: Seconds between attempts to use Redis again after it failed.
    """

    def __init__(self, settings: Settings | None = None, *, retry_interval: float = 1.0) -> None:
        self._settings = settings
        self.retry_interval = retry_interval
        # one client per event loop: redis.asyncio connections belong to the loop that made them
        # (the proxy's loop, and the private loop of LiteLLM's sync entry points)
        self._clients: weakref.WeakKeyDictionary[object, AnyRedis] = weakref.WeakKeyDictionary()
        self._pubsub_clients: weakref.WeakKeyDictionary[object, Redis] = weakref.WeakKeyDictionary()
        self.available = True
        self._last_attempt = 0.0
        self.last_error: str | None = None

    # ------------------------------------------------------------------ configuration
    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from liteagent.config import get_settings

            self._settings = get_settings()
        return self._settings

    @property
    def url(self) -> str | None:
        value = self.settings.redis_url
        return value.get_secret_value() if value is not None else None

    @property
    def configured(self) -> bool:
        """Whether ``REDIS_URL`` is set (else every service stays in-process)."""
        return bool(self.url)

    @property
    def mode(self) -> str:
        return self.settings.redis_mode

    def _connection_kwargs(self) -> dict[str, Any]:
        """Timeouts, and one retry on a fresh connection: a pooled connection that died with
        a restarted server is replaced instead of failing the operation."""
        return {
            "socket_connect_timeout": 2.0,
            "socket_timeout": 5.0,
            "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=1),
            "retry_on_error": [redis_errors.ConnectionError, redis_errors.TimeoutError],
            **self._ssl_kwargs(),
        }

    def _ssl_kwargs(self) -> dict[str, Any]:
        url = self.url or ""
        if not (self.settings.redis_ssl or url.startswith("rediss://")):
            return {}
        kwargs: dict[str, Any] = {"ssl": True, "ssl_cert_reqs": "required"}
        if self.settings.redis_ssl_ca_certs is not None:
            kwargs["ssl_ca_certs"] = str(self.settings.redis_ssl_ca_certs)
        return kwargs

    def _get_ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context connections use (``None`` without TLS)."""
        kwargs = self._ssl_kwargs()
        if not kwargs:
            return None
        return ssl.create_default_context(cafile=kwargs.get("ssl_ca_certs"))

    def _url_parts(self) -> tuple[str, int, str | None, str | None, int]:
        parts = urlsplit(self.url or "")
        db = int(parts.path.lstrip("/") or 0) if parts.path.lstrip("/").isdigit() else 0
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return parts.hostname or "127.0.0.1", parts.port or 6379, user, password, db

    def _nodes(self) -> list[tuple[str, int]]:
        listed = [n for n in self.settings.redis_cluster_nodes if n.strip()]
        if listed:
            return [_host_port(n) for n in listed]
        host, port, *_ = self._url_parts()
        return [(host, port)]

    # ------------------------------------------------------------------ clients
    def _create_standalone_client(self) -> Redis:
        url = self.url or ""
        if self.settings.redis_ssl and url.startswith("redis://"):
            url = "rediss://" + url.removeprefix("redis://")
        extra = {k: v for k, v in self._connection_kwargs().items() if k != "ssl"}
        return Redis.from_url(url, **extra)

    def _create_sentinel_client(self) -> Redis:
        _, _, username, password, db = self._url_parts()
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            self._nodes(),
            sentinel_kwargs={
                "socket_timeout": 2.0,
                "socket_connect_timeout": 2.0,
                **self._ssl_kwargs(),  # TLS to the Sentinels as to the master
            },
            username=username,
            password=password,
            db=db,
            **self._connection_kwargs(),
        )
        master: Redis = sentinel.master_for(self.settings.redis_sentinel_master)
        return master

    def _create_cluster_client(self) -> RedisCluster:
        _, _, username, password, _ = self._url_parts()
        nodes = [ClusterNode(host, port) for host, port in self._nodes()]
        return RedisCluster(
            startup_nodes=nodes,
            username=username,
            password=password,
            socket_connect_timeout=2.0,
            socket_timeout=5.0,
            **self._ssl_kwargs(),
        )

    def initialize(self) -> None:
        """Build the client for ``REDIS_MODE`` (no I/O yet; connections open on first use)."""
        if not self.configured:
            raise RedisNotConfiguredError("REDIS_URL is not set: Redis is not in use.")
        key = _loop_key()
        if key in self._clients:
            return
        if self.mode == "sentinel":
            self._clients[key] = self._create_sentinel_client()
        elif self.mode == "cluster":
            self._clients[key] = self._create_cluster_client()
        else:
            self._clients[key] = self._create_standalone_client()
        logger.info("redis_client_created", mode=self.mode, nodes=len(self._nodes()))

    @property
    def client(self) -> AnyRedis:
        """The client of the running event loop (created on first access)."""
        client = self._clients.get(_loop_key())
        if client is None:
            self.initialize()
            client = self._clients[_loop_key()]
        return client

    def pubsub_client(self) -> Redis:
        """A client for SUBSCRIBE (in cluster mode: one node; PUBLISH reaches every node)."""
        if self.mode != "cluster":
            main = self.client
            assert isinstance(main, Redis)
            return main
        key = _loop_key()
        client = self._pubsub_clients.get(key)
        if client is None:
            host, port = self._nodes()[0]
            _, _, username, password, _ = self._url_parts()
            client = self._pubsub_clients[key] = Redis(
                host=host,
                port=port,
                username=username,
                password=password,
                **self._connection_kwargs(),
            )
        return client

    # ------------------------------------------------------------------ availability
    def should_try(self) -> bool:
        """Whether an operation should go to Redis now (up, or due for another attempt)."""
        if self.available:
            return True
        now = time.monotonic()
        if now - self._last_attempt >= self.retry_interval:
            self._last_attempt = now
            return True
        return False

    def mark_failed(self, exc: BaseException) -> None:
        """Record that Redis did not answer; warn once per outage."""
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        self._last_attempt = time.monotonic()
        if self.available:
            self.available = False
            logger.warning(
                "redis_unavailable",
                mode=self.mode,
                error=self.last_error,
                fallback="in-process backends",
            )

    def mark_ok(self) -> None:
        """Record that Redis answered (logs ``redis_reconnected`` after an outage)."""
        if not self.available:
            self.available = True
            logger.info("redis_reconnected", mode=self.mode)

    async def ping(self) -> bool:
        """``PING`` Redis; updates ``available``. False when unreachable or not configured."""
        if not self.configured:
            return False
        try:
            await self.client.ping()
        except REDIS_ERRORS as exc:
            self.mark_failed(exc)
            return False
        self.mark_ok()
        return True

    async def close(self) -> None:
        """Close this event loop's connections (a later use opens new ones)."""
        key = _loop_key()
        for clients in (self._clients, self._pubsub_clients):
            client = clients.pop(key, None)
            if client is not None:
                await client.aclose()


def in_use(redis: RedisClientWrapper | None) -> bool:
    """Whether ``redis`` is configured (``REDIS_URL`` set)."""
    return redis is not None and redis.configured


def redis_fallback() -> Callable[[F], F]:
    """Method decorator for ``RedisBacked``: run on Redis; if Redis is unreachable or not
    configured, run the method of the same name of the object's in-process twin (``local``)."""

    def decorator(func: F) -> F:
        @functools.wraps(func)
        async def wrapper(self: RedisBacked[Any], *args: Any, **kwargs: Any) -> Any:
            redis = self.redis
            if redis is not None and redis.configured and redis.should_try():
                try:
                    result = await func(self, *args, **kwargs)
                except REDIS_ERRORS as exc:
                    redis.mark_failed(exc)
                else:
                    redis.mark_ok()
                    return result
            return await getattr(self.local, func.__name__)(*args, **kwargs)

        return cast(F, wrapper)

    return decorator


class RedisBacked(Generic[L]):
    """Base of the runtime services kept in Redis, each with an in-process twin.

    Methods decorated with ``redis_fallback`` run on ``redis`` and, while it is unreachable or not
    configured, ``local``'s method of the same name runs instead.

    Args:
        redis: The shared Redis (``None``: this process only).
        local: The in-process twin.
    """

    kind: ClassVar[str] = ""
    """What the keys hold: they are ``liteagent:<kind>:<name>``."""
    slot_tag: ClassVar[bool] = False
    """Whether ``key`` puts the name in braces, so all keys of one name share a Cluster slot."""

    def __init__(self, redis: RedisClientWrapper | None, local: L) -> None:
        self.redis = redis
        self.local = local

    @property
    def client(self) -> AnyRedis:
        """The Redis client (for ``redis_fallback`` methods: they run only with Redis set)."""
        assert self.redis is not None
        return self.redis.client

    @classmethod
    def key(cls, name: str, *parts: str) -> str:
        """The Redis key of ``name`` (with ``parts``: a key beside it, e.g. its messages)."""
        tagged = f"{{{name}}}" if cls.slot_tag else name
        return ":".join((f"{KEY_PREFIX}{cls.kind}:{tagged}", *parts))


redis_client = RedisClientWrapper()
"""The process-wide wrapper (reads Settings and connects on first use)."""


def ensure_redis() -> bool:
    """Whether Redis is configured and currently believed reachable."""
    return redis_client.configured and redis_client.available


def get_redis() -> AnyRedis:
    """The process-wide client. Raises ``RedisNotConfiguredError`` without ``REDIS_URL``."""
    return redis_client.client


def limits_storage_uri(redis: RedisClientWrapper) -> str:
    """The ``limits`` async storage URI pointing at the same Redis as ``redis``."""
    settings = redis.settings
    url = redis.url or ""
    tls = settings.redis_ssl or url.startswith("rediss://")
    if redis.mode == "standalone":
        rest = url.split("://", 1)[1]
        return f"async+{'rediss' if tls else 'redis'}://{rest}"
    _, _, username, password, _ = redis._url_parts()
    auth = ""
    if password:
        auth = f"{quote(username or '', safe='')}:{quote(password, safe='')}@"
    nodes = ",".join(f"{host}:{port}" for host, port in redis._nodes())
    if redis.mode == "sentinel":
        return f"async+redis+sentinel://{auth}{nodes}/{settings.redis_sentinel_master}"
    return f"async+redis+cluster://{auth}{nodes}"


def limits_storage_options(redis: RedisClientWrapper) -> dict[str, Any]:
    """Keyword options for ``limits.storage.storage_from_string`` with that URI."""
    options: dict[str, Any] = {"implementation": "redispy"}
    tls = redis._ssl_kwargs()
    if redis.mode == "standalone":  # the rediss:// scheme turns TLS on; the CA goes here
        options.update({k: v for k, v in tls.items() if k != "ssl"})
        return options
    options.update(tls)
    if redis.mode == "sentinel":
        options["db"] = redis._url_parts()[4]
        options["use_replicas"] = False  # a window read from a lagging replica undercounts
    return options
