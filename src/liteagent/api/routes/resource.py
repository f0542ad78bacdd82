"""The create / list / read / update / delete routes every resource of the API has, written once.

Each resource module names its operations (their docs and error statuses) in the order they
appear in the OpenAPI document; ``ResourceRoutes`` writes the endpoints. An operation keeps the
name, summary and operation id a hand-written ``get_agent`` would have, and the path parameter
keeps its name (``/{agent_id}``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import GenericAlias
from typing import Annotated, Any, Protocol, get_args

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel

from liteagent.api.routes import errors
from liteagent.api.services.owned import OwnedResourceService

__all__ = ["CrudService", "ResourceRoutes"]


class CrudService(Protocol):
    """The seeds' service methods the generic routes call (``AgentService`` and the others)."""

    async def create(self, data: Any, /) -> Any:
        """Store a new resource."""

    async def get_all(self) -> list[Any]:
        """The caller's resources."""

    async def get_by_id(self, resource_id: str, /) -> Any:
        """One resource, ``None`` if the caller has no such resource."""

    async def update(self, resource_id: str, data: Any, /) -> Any:
        """Change a resource; ``None`` if the caller has no such resource."""

    async def delete(self, resource_id: str, /) -> bool:
        """Remove a resource; ``False`` if the caller has no such resource."""


def _endpoint(call: Callable[..., Any], **annotations: Any) -> Callable[..., Any]:
    """``call`` with the given parameters' annotations (what FastAPI reads to inject)."""
    signature = inspect.signature(call)
    parameters = [
        p.replace(annotation=annotations.get(p.name, p.annotation))
        for p in signature.parameters.values()
    ]
    call.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return call


class ResourceRoutes:
    """A resource's router (``/agents``) and its generic routes.

    Args:
        service: The ``Annotated[<service>, Depends(...)]`` alias of the caller's service; the
            service class names the resource (``noun``: ``/agents``, ``get_agent``,
            ``/{agent_id}``), its schema and its 404.
    """

    def __init__(self, service: Any) -> None:
        kind: type[OwnedResourceService[Any, Any]] = get_args(service)[0]
        self.service = service
        self.noun = kind.noun
        self.schema = kind.schema
        self.missing = kind.missing
        self.router = APIRouter(prefix=f"/{kind.noun}s", tags=[f"{kind.noun}s"])
        self.item = f"/{{{kind.noun}_id}}"
        self.resource_id = Annotated[
            str,
            Path(
                alias=f"{kind.noun}_id",
                min_length=1,
                max_length=64,
                description="The resource's id.",
            ),
        ]

    def found(self, resource: Any, resource_id: str) -> Any:
        """``resource``, or the 404 raised when the service found none."""
        if resource is None:
            raise self.missing(resource_id)
        return resource

    def create(self, body: type[BaseModel], description: str, *statuses: int) -> None:
        """``POST ""`` (201): ``service.create(body)``."""

        async def create(data: Any, service: CrudService) -> Any:
            return await service.create(data)

        self.router.add_api_route(
            "",
            _endpoint(create, data=body, service=self.service),
            methods=["POST"],
            name=f"create_{self.noun}",
            description=description,
            response_model=self.schema,
            status_code=status.HTTP_201_CREATED,
            responses=errors(*statuses),
        )

    def list_all(self, description: str) -> None:
        """``GET ""``: ``service.get_all()``."""

        async def list_all(service: CrudService) -> Any:
            return await service.get_all()

        self.router.add_api_route(
            "",
            _endpoint(list_all, service=self.service),
            methods=["GET"],
            name=f"list_{self.noun}s",
            description=description,
            response_model=GenericAlias(list, (self.schema,)),
            responses=errors(),
        )

    def get(self, description: str) -> None:
        """``GET /{id}``: ``service.get_by_id(id)``, 404 when ``None``."""

        async def get_one(resource_id: str, service: CrudService) -> Any:
            return self.found(await service.get_by_id(resource_id), resource_id)

        self._item("GET", "get", get_one, description, errors(404))

    def update(self, body: type[BaseModel], description: str, *statuses: int) -> None:
        """``PATCH /{id}``: ``service.update(id, body)``, 404 when ``None``."""

        async def update(resource_id: str, data: Any, service: CrudService) -> Any:
            return self.found(await service.update(resource_id, data), resource_id)

        self._item("PATCH", "update", _endpoint(update, data=body), description, errors(*statuses))

    def delete(self, description: str, *statuses: int) -> None:
        """``DELETE /{id}`` (204): ``service.delete(id)``, 404 when ``False``."""

        async def delete(resource_id: str, service: CrudService) -> Response:
            if not await service.delete(resource_id):
                raise self.missing(resource_id)
            return Response(status_code=status.HTTP_204_NO_CONTENT)

        self._item(
            "DELETE",
            "delete",
            delete,
            description,
            errors(*statuses),
            response_model=None,
            status_code=status.HTTP_204_NO_CONTENT,
        )

    def _item(
        self,
        method: str,
        verb: str,
        call: Callable[..., Any],
        description: str,
        responses: dict[int | str, dict[str, Any]],
        **options: Any,
    ) -> None:
        options.setdefault("response_model", self.schema)
        self.router.add_api_route(
            self.item,
            _endpoint(call, resource_id=self.resource_id, service=self.service),
            methods=[method],
            name=f"{verb}_{self.noun}",
            description=description,
            responses=responses,
            **options,
        )
