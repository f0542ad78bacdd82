"""``/datasources``: uploaded files, URLs, inline text and GitLab sources, and ``refresh``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile, status

from liteagent.api.dependencies import DataSources
from liteagent.api.routes import ResourceId, errors
from liteagent.api.schemas import DataSource, DataSourceCreate, DataSourceUpdate
from liteagent.datasources import DataSourceNotFoundError

router = APIRouter(prefix="/datasources", tags=["datasources"])


def _missing(datasource_id: str) -> DataSourceNotFoundError:
    return DataSourceNotFoundError(f"No data source '{datasource_id}'.")


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(422, 502))
async def create_datasource(data: DataSourceCreate, service: DataSources) -> DataSource:
    """Fetch a URL, inline text or GitLab source and store its text."""
    return await service.create(data)


@router.post("/upload", status_code=status.HTTP_201_CREATED, responses=errors(422))
async def upload_datasource(
    file: Annotated[UploadFile, File(description="A .txt, .md, .pdf, .html… file")],
    service: DataSources,
    name: Annotated[str | None, Form(min_length=1, max_length=128)] = None,
) -> DataSource:
    """Store an uploaded file's text (multipart/form-data)."""
    payload = await file.read()
    filename = file.filename or "upload.txt"
    return await service.create_from_upload(name or filename, filename, payload)


@router.get("", responses=errors())
async def list_datasources(service: DataSources) -> list[DataSource]:
    """The caller's data sources (an admin's: all)."""
    return await service.get_all()


@router.get("/{datasource_id}", responses=errors(404))
async def get_datasource(datasource_id: ResourceId, service: DataSources) -> DataSource:
    """One data source."""
    found = await service.get_by_id(datasource_id)
    if found is None:
        raise _missing(datasource_id)
    return found


@router.patch("/{datasource_id}", responses=errors(404, 409, 422, 502))
async def update_datasource(
    datasource_id: ResourceId, data: DataSourceUpdate, service: DataSources
) -> DataSource:
    """Rename a data source, or point it at another source (fetched at once)."""
    found = await service.update(datasource_id, data)
    if found is None:
        raise _missing(datasource_id)
    return found


@router.delete("/{datasource_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
async def delete_datasource(datasource_id: ResourceId, service: DataSources) -> Response:
    """Remove a data source."""
    if not await service.delete(datasource_id):
        raise _missing(datasource_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{datasource_id}/refresh", responses=errors(404, 409, 502))
async def refresh_datasource(datasource_id: ResourceId, service: DataSources) -> DataSource:
    """Fetch the source again (a failure is kept on the data source and answered 502)."""
    found = await service.refresh_content(datasource_id)
    if found is None:
        raise _missing(datasource_id)
    return found
