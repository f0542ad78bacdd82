"""Conversation sessions (messages and metadata) shared by every replica.

With Redis a session is a JSON record plus a message list (same hash slot, so Cluster works),
indexed per tenant and agent by last activity, all expiring ``ttl`` seconds after the last
change. Without Redis, or while it is unreachable, sessions live in this process.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from liteagent.runtime.records import JsonRecord
from liteagent.runtime.redis_client import (
    KEY_PREFIX,
    RedisBacked,
    RedisClientWrapper,
    redis_fallback,
)

__all__ = ["ConversationSession", "InProcessSessionStore", "SessionManager"]


@dataclass(frozen=True)
class ConversationSession(JsonRecord):
    session_id: str
    tenant_id: str
    agent_id: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_activity: datetime = field(default_factory=lambda: datetime.now(UTC))
    metadata: dict[str, Any] = field(default_factory=dict)


class InProcessSessionStore:
    """Sessions of this process (the ``local`` twin)."""

    def __init__(self) -> None:
        self.sessions: dict[str, ConversationSession] = {}

    async def save(self, session: ConversationSession) -> None:
        self.sessions[session.session_id] = session

    async def get(self, session_id: str) -> ConversationSession | None:
        return self.sessions.get(session_id)

    async def add_message(self, session_id: str, message: dict[str, Any]) -> None:
        s = self.sessions.get(session_id)
        if s is not None:
            self.sessions[session_id] = replace(
                s, messages=[*s.messages, message], last_activity=datetime.now(UTC)
            )

    async def get_messages(self, session_id: str, limit: int = 50) -> list[dict[str, Any]]:
        s = self.sessions.get(session_id)
        return list(s.messages[-limit:]) if s is not None and limit > 0 else []

    async def list_sessions(self, tenant_id: str, agent_id: str, limit: int = 50) -> list[str]:
        found = [
            s for s in self.sessions.values() if s.tenant_id == tenant_id and s.agent_id == agent_id
        ]
        found.sort(key=lambda s: s.last_activity, reverse=True)
        return [s.session_id for s in found[:limit]]

    async def delete(self, session_id: str) -> bool:
        return self.sessions.pop(session_id, None) is not None


class SessionManager(RedisBacked[InProcessSessionStore]):
    """Creates, reads, extends and deletes conversation sessions.

    Args:
        redis: The shared Redis (default: this process only).
        ttl: Seconds a session is kept after its last change.
    """

    kind = "session"
    slot_tag = True

    def __init__(self, redis: RedisClientWrapper | None = None, *, ttl: int = 3600) -> None:
        super().__init__(redis, InProcessSessionStore())
        self.ttl = ttl

    @staticmethod
    def _index_key(tenant_id: str, agent_id: str) -> str:
        return f"{KEY_PREFIX}sessions:{tenant_id}:{agent_id}"

    async def create(
        self, tenant_id: str, agent_id: str, metadata: dict[str, Any] | None = None
    ) -> ConversationSession:
        """Start a new, empty session."""
        session = ConversationSession(
            session_id=uuid.uuid4().hex,
            tenant_id=tenant_id,
            agent_id=agent_id,
            metadata=dict(metadata or {}),
        )
        await self.save(session)
        return session

    @redis_fallback()
    async def save(self, session: ConversationSession) -> None:
        """Store the session's record (its messages are appended with ``add_message``)."""
        record = {**session.to_dict(), "messages": []}
        client = self.client
        await client.set(self.key(session.session_id), json.dumps(record), ex=self.ttl)
        if session.messages:
            key = self.key(session.session_id, "messages")
            await client.rpush(key, *[json.dumps(m) for m in session.messages])
            await client.expire(key, self.ttl)
        index = self._index_key(session.tenant_id, session.agent_id)
        await client.zadd(index, {session.session_id: session.last_activity.timestamp()})
        await client.expire(index, self.ttl)

    @redis_fallback()
    async def get(self, session_id: str) -> ConversationSession | None:
        """The session with all its messages, or ``None``."""
        raw = await self.client.get(self.key(session_id))
        if raw is None:
            return None
        data = json.loads(raw)
        data["messages"] = [
            json.loads(m) for m in await self.client.lrange(self.key(session_id, "messages"), 0, -1)
        ]
        return ConversationSession.from_dict(data)

    @redis_fallback()
    async def add_message(self, session_id: str, message: dict[str, Any]) -> None:
        """Append ``message`` (no effect on an unknown or expired session)."""
        client = self.client
        raw = await client.get(self.key(session_id))
        if raw is None:
            return
        data = json.loads(raw)
        now = datetime.now(UTC)
        data["last_activity"] = now.isoformat()
        key = self.key(session_id, "messages")
        await client.rpush(key, json.dumps(message))
        await client.expire(key, self.ttl)
        await client.set(self.key(session_id), json.dumps(data), ex=self.ttl)
        index = self._index_key(data["tenant_id"], data["agent_id"])
        await client.zadd(index, {session_id: now.timestamp()})
        await client.expire(index, self.ttl)

    @redis_fallback()
    async def get_messages(self, session_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The last ``limit`` messages, oldest first."""
        if limit <= 0:
            return []
        raw = await self.client.lrange(self.key(session_id, "messages"), -limit, -1)
        return [json.loads(m) for m in raw]

    @redis_fallback()
    async def list_sessions(self, tenant_id: str, agent_id: str, limit: int = 50) -> list[str]:
        """Session ids of a tenant and agent, most recently active first."""
        index = self._index_key(tenant_id, agent_id)
        ids = await self.client.zrevrange(index, 0, max(0, limit - 1))
        live = []
        for raw in ids:
            sid = raw.decode() if isinstance(raw, bytes) else str(raw)
            if await self.client.exists(self.key(sid)):
                live.append(sid)
            else:
                await self.client.zrem(index, sid)
        return live

    @redis_fallback()
    async def delete(self, session_id: str) -> bool:
        """Delete the session; False if it did not exist."""
        client = self.client
        raw = await client.get(self.key(session_id))
        if raw is None:
            return await self.local.delete(session_id)
        data = json.loads(raw)
        await client.delete(self.key(session_id), self.key(session_id, "messages"))
        await client.zrem(self._index_key(data["tenant_id"], data["agent_id"]), session_id)
        await self.local.delete(session_id)
        return True
