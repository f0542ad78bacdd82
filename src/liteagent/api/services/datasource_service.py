"""``DataSourceService``: uploaded files, URLs, inline text and GitLab sources, fetched as text.

Fetching goes through ``liteagent.datasources`` (URLs under the outbound-URL policy, GitLab
through ``GITLAB_URL`` with the source's own token or ``GITLAB_TOKEN``). A GitLab token is
stored encrypted and never shown.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from liteagent.api.schemas import DataSource, DataSourceCreate, DataSourceUpdate
from liteagent.api.services.owned import OwnedResourceService
from liteagent.datasources import (
    BaseDataSourceProvider,
    DataSourceContent,
    DataSourceNotFoundError,
    FileDataSourceProvider,
    GitLabDataSourceProvider,
    TextDataSourceProvider,
    provider_for_source,
)
from liteagent.errors import ConflictError, InvalidRequestError, NotFoundError, ValidationError
from liteagent.storage.base import utcnow
from liteagent.storage.catalog_models import ApiDataSourceRecord
from liteagent.storage.catalog_store import new_id

__all__ = ["DataSourceService"]


_PREVIEW = 200
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class DataSourceService(OwnedResourceService[ApiDataSourceRecord, DataSource]):
    """The seeds' data-source service, scoped to one caller."""

    noun = "datasource"
    label = "data source"
    not_found = DataSourceNotFoundError

    def to_schema(self, record: ApiDataSourceRecord) -> DataSource:
        """The data source as the API shows it (never its token)."""
        content = record.content or ""
        return DataSource(
            id=record.id,
            name=record.name,
            source_type=record.source_type,
            source=record.source,
            status="error" if record.error else "ready",
            error=record.error,
            content_length=len(content),
            content_hash=record.content_hash,
            content_preview=content[:_PREVIEW],
            has_token=record.secret is not None,
            owner=record.owner,
            created_at=record.created_at,
            updated_at=record.updated_at,
            fetched_at=record.fetched_at,
        )

    # the seeds' parameter names
    async def get_by_id(self, datasource_id: str) -> DataSource | None:
        return await super().get_by_id(datasource_id)

    async def delete(self, datasource_id: str) -> bool:
        return await super().delete(datasource_id)

    # ----------------------------------------------------------------- fetching
    def _provider(self, source_type: str, source: str, token: str | None) -> BaseDataSourceProvider:
        settings = self.context.settings
        if source_type == "text":
            return TextDataSourceProvider()
        if source_type == "url":
            if not source.startswith(("http://", "https://")):
                raise ValidationError("source: a url source must start with http:// or https://.")
            return provider_for_source(source, settings)[0]
        if not settings.gitlab_url:
            raise ValidationError(
                "source_type: gitlab sources need GITLAB_URL set on the server (docs/api.md)."
            )
        if token is None and settings.gitlab_token is not None:
            token = settings.gitlab_token.get_secret_value()
        return GitLabDataSourceProvider(settings.gitlab_url, token)

    async def _fetch(self, source_type: str, source: str, token: str | None) -> DataSourceContent:
        """The source's text. A source that is malformed, refused by the outbound-URL policy or
        not found where it points is the request's fault (422, naming ``source``); a fetch
        that fails upstream is a 502 (``DataSourceFetchError``)."""
        provider = self._provider(source_type, source, token)
        try:
            return await provider.fetch_content(source)
        except (InvalidRequestError, NotFoundError) as exc:
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError(f"source: {exc.message}") from None
        finally:
            await provider.aclose()

    @staticmethod
    def _content_fields(content: DataSourceContent) -> dict[str, Any]:
        text = content.content
        return {
            "content": text,
            "content_hash": hashlib.sha256(text.encode()).hexdigest(),
            "status": "ready",
            "error": None,
            "fetched_at": utcnow(),
        }

    # ----------------------------------------------------------------- CRUD
    async def create(self, data: DataSourceCreate) -> DataSource:
        """Fetch the source and store it with its text.

        Raises:
            ValidationError: the source is malformed or its type is not configured.
            DataSourceFetchError: fetching failed (502); nothing is stored.
        """
        token = data.token.get_secret_value() if data.token else None
        if token is not None and data.source_type != "gitlab":
            raise ValidationError("token: only gitlab sources take a token.")
        content = await self._fetch(data.source_type, data.source, token)
        record = ApiDataSourceRecord(
            id=new_id(),
            name=data.name,
            source_type=data.source_type,
            source=data.source,
            secret=self.context.encryption.encrypt(token) if token else None,
            owner=self.principal.owner,
            **self._content_fields(content),
        )
        return await self._insert(record, datasource=record.id, type=record.source_type)

    async def create_from_upload(self, name: str, filename: str, payload: bytes) -> DataSource:
        """Store an uploaded file's text (PDF, HTML, Markdown… as ``FileDataSourceProvider``
        reads them).

        Raises:
            ValidationError: the file type is not supported, or the file is too large.
        """
        if len(payload) > MAX_UPLOAD_BYTES:
            raise ValidationError(f"file: larger than {MAX_UPLOAD_BYTES} bytes.")
        with tempfile.TemporaryDirectory(prefix="liteagent-upload-") as folder:
            reader = FileDataSourceProvider(base_dir=folder, upload_dir=folder)
            try:
                path = await reader.save_uploaded_file(filename, payload)
            except InvalidRequestError as exc:  # a 422 here: the upload is the field at fault
                raise ValidationError(f"file: {exc.message}") from None
            content = await reader.fetch_content(Path(path).name)
        record = ApiDataSourceRecord(
            id=new_id(),
            name=name,
            source_type="file",
            source=Path(path).name,
            secret=None,
            owner=self.principal.owner,
            **self._content_fields(content),
        )
        return await self._insert(record, datasource=record.id, type="file")

    async def get_by_ids(self, ids: list[str]) -> list[DataSource]:
        """Those of ``ids`` the caller may see, in that order."""
        found = [await self.get_by_id(i) for i in ids]
        return [d for d in found if d is not None]

    async def update(self, datasource_id: str, data: DataSourceUpdate) -> DataSource | None:
        """Rename, or point at another source (fetched at once)."""
        record = await self.record(datasource_id)
        if record is None:
            return None
        given = data.model_dump(exclude_unset=True)
        if any(given.get(k, "") is None for k in ("name", "source")):
            raise ValidationError("name and source may not be null.")
        fields: dict[str, Any] = {}
        if "name" in given:
            fields["name"] = given["name"]
        if "token" in given:
            if record.source_type != "gitlab" and data.token is not None:
                raise ValidationError("token: only gitlab sources take a token.")
            token = data.token.get_secret_value() if data.token else None
            fields["secret"] = self.context.encryption.encrypt(token) if token else None
        if "source" in given or "token" in given:
            if record.source_type == "file":
                raise ConflictError("An uploaded file has no source to change; upload it again.")
            source = given.get("source") or record.source
            secret = fields.get("secret", record.secret)
            token = self.context.encryption.decrypt(secret) if secret else None
            fields.update(
                source=source,
                **self._content_fields(await self._fetch(record.source_type, source, token)),
            )
        return await self._apply(datasource_id, fields, changed=given)

    async def refresh_content(self, datasource_id: str) -> DataSource | None:
        """Fetch the source again; a failure is recorded on it and raised.

        Raises:
            ConflictError: an uploaded file has nothing to fetch again.
            DataSourceFetchError: fetching failed (502); the error is kept on the source.
        """
        record = await self.record(datasource_id)
        if record is None:
            return None
        if record.source_type == "file":
            raise ConflictError("An uploaded file has nothing to fetch again; upload it again.")
        token = self.context.encryption.decrypt(record.secret) if record.secret else None
        try:
            content = await self._fetch(record.source_type, record.source, token)
        except Exception as exc:
            message = getattr(exc, "message", None) or type(exc).__name__
            failed = {"error": message, "status": "error"}
            await self.repository.update_row(ApiDataSourceRecord, datasource_id, failed)
            raise
        fields = self._content_fields(content)  # RAG entries reading it ingest it again
        return await self._apply(datasource_id, fields, changed=["content"], event="refreshed")
