"""What the agent, provider and data-source services share: one caller's rows of one table.

A caller sees and changes only the rows ``principal.can_access`` allows (its own, a team's, or
every row for an admin); someone else's row answers as if absent. Every write is logged,
announced to the replicas (``ApiContext.changed``) and answered as the API shows the row.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, TypeVar, get_args, get_origin

from liteagent.api.principal import Principal
from liteagent.api.services.context import ApiContext
from liteagent.errors import ConflictError, NotFoundError
from liteagent.log import get_logger
from liteagent.storage.catalog_models import ApiAgentRecord, ApiDataSourceRecord, ApiProviderRecord
from liteagent.storage.catalog_store import DuplicateNameError

__all__ = ["OwnedResourceService"]

logger = get_logger(__name__)

RecordT = TypeVar("RecordT", ApiProviderRecord, ApiAgentRecord, ApiDataSourceRecord)
SchemaT = TypeVar("SchemaT")


class OwnedResourceService(ABC, Generic[RecordT, SchemaT]):
    """The seeds' CRUD service methods over one table, scoped to one caller.

    Args:
        context: The app's shared parts.
        principal: The caller: sees and changes only what ``principal.can_access`` allows.
    """

    record_type: type[RecordT]
    """The table's row (the first type parameter)."""
    schema: type[SchemaT]
    """The resource as the API shows it (the second type parameter; ``to_schema`` makes it)."""
    noun: ClassVar[str]
    """The resource in names: ``/<noun>s`` and ``get_<noun>`` routes, ``api_<noun>_created``."""
    label: ClassVar[str]
    """The resource in messages ("No data source 'x'."); the noun unless a subclass says."""
    not_found: ClassVar[type[NotFoundError]]
    """The 404 for an id the caller has no resource under."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if get_origin(base) is OwnedResourceService:
                cls.record_type, cls.schema = get_args(base)
        if "label" not in vars(cls):
            cls.label = cls.noun

    def __init__(self, context: ApiContext, principal: Principal) -> None:
        self.context = context
        self.principal = principal
        self.repository = context.repository

    @classmethod
    def missing(cls, resource_id: str) -> NotFoundError:
        """The 404 for ``resource_id`` (the seeds' methods answer ``None`` instead)."""
        return cls.not_found(f"No {cls.label} '{resource_id}'.")

    @abstractmethod
    def to_schema(self, record: RecordT) -> SchemaT:
        """The row as the API shows it."""

    async def record(self, resource_id: str) -> RecordT | None:
        """The caller's row ``resource_id`` (``None`` if absent or someone else's)."""
        record = await self.repository.get_row(self.record_type, resource_id)
        if record is None or not self.principal.can_access(record.owner):
            return None
        return record

    async def records(self) -> list[RecordT]:
        """The caller's rows, oldest first (an admin: everyone's)."""
        owner = None if self.principal.is_admin else self.principal.owner
        return await self.repository.list_rows(self.record_type, owner=owner)

    async def get_by_id(self, resource_id: str) -> SchemaT | None:
        """The resource, if the caller may see it."""
        record = await self.record(resource_id)
        return self.to_schema(record) if record is not None else None

    async def get_all(self) -> list[SchemaT]:
        """The caller's resources (an admin: everyone's)."""
        return [self.to_schema(r) for r in await self.records()]

    async def delete(self, resource_id: str) -> bool:
        """Remove the resource; ``False`` if the caller has no such resource.

        Raises:
            ConflictError: the resource is in use (see ``_check_deletable``).
        """
        record = await self.record(resource_id)
        if record is None:
            return False
        await self._check_deletable(record)
        deleted = await self.repository.delete_row(self.record_type, resource_id)
        if deleted:
            logger.info(f"api_{self.noun}_deleted", id=record.id, name=record.name)
            await self.context.changed()
        return deleted

    # ----------------------------------------------------------------- for subclasses
    async def _check_deletable(self, record: RecordT) -> None:
        """Raise ``ConflictError`` when ``record`` may not be removed (default: it may)."""

    @contextmanager
    def _name_free(self, name: str) -> Iterator[None]:
        """A write refused by the table's unique name is a 409 naming the name."""
        try:
            yield
        except DuplicateNameError:
            article = "An" if self.label[0] in "aeiou" else "A"
            raise ConflictError(f"{article} {self.label} named '{name}' exists already.") from None

    async def _insert(self, record: RecordT, **logged: Any) -> SchemaT:
        """Store a new row, log ``api_<noun>_created`` with ``logged`` and tell the replicas.

        Raises:
            ConflictError: the name is taken.
        """
        with self._name_free(record.name):
            await self.repository.add_row(record)
        logger.info(f"api_{self.noun}_created", **logged)
        await self.context.changed()
        return self.to_schema(record)

    async def _apply(
        self,
        resource_id: str,
        fields: dict[str, Any],
        changed: Iterable[str],
        event: str = "updated",
    ) -> SchemaT | None:
        """Write ``fields`` to the row (``None`` if it is gone), log ``api_<noun>_<event>`` with
        the ``changed`` fields and tell the replicas.

        Raises:
            ConflictError: the new name is taken.
        """
        with self._name_free(str(fields.get("name", ""))):
            updated = await self.repository.update_row(self.record_type, resource_id, fields)
        if updated is None:
            return None
        logger.info(f"api_{self.noun}_{event}", id=updated.id, fields=sorted(changed))
        await self.context.changed()
        return self.to_schema(updated)
