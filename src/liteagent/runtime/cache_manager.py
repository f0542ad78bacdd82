"""Shared caches (Redis, with an in-process twin) and cross-replica invalidation.

``BaseCache[T]`` stores JSON values under ``liteagent:cache:<namespace>:<key>`` with a TTL; while
Redis is unreachable (or not configured) it uses an ``InMemoryCache``. The seeds' caches build
on it: ``CredentialsCache`` (only ciphertext ever reaches Redis: without an encryption service
it stays in-process), ``EmbeddingCache``, ``ConversationCache`` and ``AgentConfigCache``.

``InvalidationBus`` tells the other replicas that something cached must go: a credential stored
or revoked on one replica publishes ``("user_agents", <user>)`` and every other replica drops
that user's cached agents. A replica ignores its own messages (it invalidated locally already).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

from liteagent.log import get_logger
from liteagent.runtime.background import cancel_and_wait
from liteagent.runtime.cache import CacheConfig, InMemoryCache
from liteagent.runtime.pubsub import InProcessBroker, Subscription, Topic
from liteagent.runtime.redis_client import RedisBacked, RedisClientWrapper, redis_fallback

__all__ = [
    "AgentConfigCache",
    "BaseCache",
    "ConversationCache",
    "CredentialsCache",
    "EmbeddingCache",
    "InvalidationBus",
    "get_cached_or_compute",
]

logger = get_logger(__name__)

T = TypeVar("T")
Handler = Callable[[str, str], Awaitable[None] | None]


class _Cipher(Protocol):
    def encrypt(self, plaintext: str) -> str: ...
    def decrypt(self, ciphertext: str) -> str: ...


class _LocalStore:
    """The in-process twin: same method names as ``BaseCache``'s storage layer."""

    def __init__(self, cache: InMemoryCache) -> None:
        self.cache = cache

    async def get_raw(self, key: str) -> str | None:
        value = self.cache.get(key)
        return value if isinstance(value, str) else None

    async def set_raw(self, key: str, value: str, ttl: int) -> None:
        self.cache.set(key, value, ttl)

    async def delete_raw(self, key: str) -> bool:
        return self.cache.delete(key)


class BaseCache(RedisBacked[_LocalStore], Generic[T]):
    """A namespaced cache of JSON-serialisable values.

    Args:
        namespace: Prefix of this cache's keys.
        redis: The shared Redis (default: this process only).
        ttl: Default lifetime in seconds.
        max_local: Entries kept by the in-process twin.
    """

    kind = "cache"

    def __init__(
        self,
        namespace: str,
        *,
        redis: RedisClientWrapper | None = None,
        ttl: int = 300,
        max_local: int = 1000,
    ) -> None:
        self.memory = InMemoryCache(CacheConfig(max_size=max_local, default_ttl=ttl))
        super().__init__(redis, _LocalStore(self.memory))
        self.namespace = namespace
        self.ttl = ttl

    def full_key(self, key: str) -> str:
        return self.key(f"{self.namespace}:{key}")

    @redis_fallback()
    async def get_raw(self, key: str) -> str | None:
        raw = await self.client.get(key)
        return raw.decode() if isinstance(raw, bytes) else raw

    @redis_fallback()
    async def set_raw(self, key: str, value: str, ttl: int) -> None:
        await self.client.set(key, value, ex=ttl)

    @redis_fallback()
    async def delete_raw(self, key: str) -> bool:
        local = await self.local.delete_raw(key)  # it may have been set during an outage
        return bool(await self.client.delete(key)) or local

    def encode(self, value: T) -> str:
        return json.dumps(value)

    def decode(self, raw: str) -> T:
        value: T = json.loads(raw)
        return value

    async def get(self, key: str) -> T | None:
        raw = await self.get_raw(self.full_key(key))
        return self.decode(raw) if raw is not None else None

    async def set(self, key: str, value: T, ttl: int | None = None) -> None:
        await self.set_raw(self.full_key(key), self.encode(value), ttl or self.ttl)

    async def delete(self, key: str) -> bool:
        return bool(await self.delete_raw(self.full_key(key)))


class CredentialsCache(BaseCache[dict[str, Any]]):
    """Provider credentials. With ``cipher`` Redis holds only ciphertext; without, the values
    never leave this process."""

    def __init__(
        self,
        *,
        redis: RedisClientWrapper | None = None,
        cipher: _Cipher | None = None,
        ttl: int = 86_400,
    ) -> None:
        super().__init__("credentials", redis=redis if cipher is not None else None, ttl=ttl)
        self.cipher = cipher

    def encode(self, value: dict[str, Any]) -> str:
        text = json.dumps(value)
        return self.cipher.encrypt(text) if self.cipher is not None else text

    def decode(self, raw: str) -> dict[str, Any]:
        text = self.cipher.decrypt(raw) if self.cipher is not None else raw
        value: dict[str, Any] = json.loads(text)
        return value

    async def get_provider_credentials(self, provider_id: str) -> dict[str, Any] | None:
        return await self.get(provider_id)

    async def set_provider_credentials(self, provider_id: str, credentials: dict[str, Any]) -> None:
        await self.set(provider_id, credentials)

    async def invalidate_provider(self, provider_id: str) -> None:
        await self.delete(provider_id)


class EmbeddingCache(BaseCache[list[float]]):
    """Embedding vectors by (model, text)."""

    def __init__(self, *, redis: RedisClientWrapper | None = None, ttl: int = 600) -> None:
        super().__init__("embeddings", redis=redis, ttl=ttl, max_local=10_000)

    @staticmethod
    def _key(text: str, model: str) -> str:
        return f"{model}:{hashlib.sha256(text.encode()).hexdigest()}"

    async def get_embedding(self, text: str, model: str) -> list[float] | None:
        return await self.get(self._key(text, model))

    async def set_embedding(self, text: str, model: str, embedding: list[float]) -> None:
        await self.set(self._key(text, model), [float(x) for x in embedding])


class ConversationCache(BaseCache[dict[str, Any]]):
    """A conversation's working context by session id."""

    def __init__(self, *, redis: RedisClientWrapper | None = None, ttl: int = 3600) -> None:
        super().__init__("conversation", redis=redis, ttl=ttl)

    async def get_context(self, session_id: str) -> dict[str, Any] | None:
        return await self.get(session_id)

    async def set_context(self, session_id: str, context: dict[str, Any]) -> None:
        await self.set(session_id, context)

    async def append_message(self, session_id: str, message: dict[str, Any]) -> None:
        context = await self.get(session_id) or {}
        context["messages"] = [*context.get("messages", []), message]
        await self.set(session_id, context)


class AgentConfigCache(BaseCache[dict[str, Any]]):
    """Agent configurations by agent id."""

    def __init__(self, *, redis: RedisClientWrapper | None = None, ttl: int = 300) -> None:
        super().__init__("agent-config", redis=redis, ttl=ttl)

    async def get_config(self, agent_id: str) -> dict[str, Any] | None:
        return await self.get(agent_id)

    async def set_config(self, agent_id: str, config: dict[str, Any]) -> None:
        await self.set(agent_id, config)

    async def invalidate(self, agent_id: str) -> None:
        await self.delete(agent_id)


async def get_cached_or_compute(
    cache: BaseCache[T], key: str, compute_func: Callable[[], Awaitable[T]], ttl: int | None = None
) -> T:
    """The cached value of ``key``, computing and storing it on a miss."""
    value = await cache.get(key)
    if value is None:
        value = await compute_func()
        await cache.set(key, value, ttl)
    return value


class InvalidationBus:
    """Invalidation messages between replicas.

    Args:
        redis: The shared Redis (without it there is nobody to tell: messages stay local).
    """

    def __init__(self, redis: RedisClientWrapper | None = None) -> None:
        self.topic = Topic("invalidate", redis=redis, broker=InProcessBroker())
        self.origin = uuid.uuid4().hex
        self._handlers: list[Handler] = []
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    def on(self, handler: Handler) -> None:
        """Call ``handler(kind, key)`` for each message from another replica."""
        self._handlers.append(handler)

    async def publish(self, kind: str, key: str) -> None:
        message = json.dumps({"kind": kind, "key": key, "origin": self.origin})
        await self.topic.publish_raw(message)

    async def start(self) -> None:
        """Subscribe and listen in the background (idempotent)."""
        if self._task is not None:
            return
        self._subscription = await self.topic.subscribe()
        self._task = asyncio.create_task(self._listen(self._subscription))

    async def _listen(self, subscription: Subscription) -> None:
        while True:
            try:
                raw = await subscription.receive_raw()
            except Exception:  # never let the listener die: invalidations must keep coming
                logger.exception("invalidation_listener_failed")
                await subscription.reset()
                await asyncio.sleep(1.0)
                continue
            if raw is None:
                continue
            try:
                message = json.loads(raw)
                kind, key, origin = message["kind"], message["key"], message["origin"]
            except (ValueError, KeyError, TypeError):
                logger.warning("invalidation_message_malformed")
                continue
            if origin == self.origin:
                continue
            for handler in self._handlers:
                try:
                    result = handler(kind, key)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.exception("invalidation_handler_failed", kind=kind)
            logger.info("invalidation_received", kind=kind)

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None
