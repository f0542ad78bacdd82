"""Tables of the management API: providers, agents and data sources defined at run time.

``liteagent_catalog_version`` holds one counter that every change of an agent or a provider
increments in the same transaction, so replicas notice a change by reading one small row.
Secrets (a provider's API key, a data source's token) are stored only as ``enc:v1:…``
ciphertext (``liteagent.security.EncryptionService``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from liteagent.storage.base import Base, UTCDateTime, utcnow

__all__ = [
    "ApiAgentRecord",
    "ApiDataSourceRecord",
    "ApiProviderRecord",
    "CatalogVersionRecord",
]


class ApiProviderRecord(Base):
    """An LLM provider configured through the API (its name is the ``<provider>`` of models)."""

    __tablename__ = "liteagent_api_providers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    provider_type: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    base_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    api_key: Mapped[str | None] = mapped_column(Text, nullable=True)  # enc:v1:…
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    owner: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiAgentRecord(Base):
    """A catalog entry defined through the API: served as ``liteagent/<name>``.

    ``definition`` is the entry as JSON, in the shape of a ``liteagent.yaml`` entry.
    """

    __tablename__ = "liteagent_api_agents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    definition: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiDataSourceRecord(Base):
    """A document source (file, URL, text, GitLab) and the text last fetched from it."""

    __tablename__ = "liteagent_api_datasources"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    source_type: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(Text)
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)  # enc:v1:…
    content: Mapped[str | None] = mapped_column(Text, nullable=True)
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CatalogVersionRecord(Base):
    """The version of the run-time catalog (one row, ``id = "catalog"``)."""

    __tablename__ = "liteagent_catalog_version"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
