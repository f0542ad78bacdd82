"""``/datasources``: uploaded files, URLs, inline text and GitLab sources, and ``refresh``."""

from __future__ import annotations

from typing import Annotated

from fastapi import File, Form, UploadFile, status

from liteagent.api.dependencies import DataSources
from liteagent.api.routes import ResourceId, errors
from liteagent.api.routes.resource import ResourceRoutes
from liteagent.api.schemas import DataSource, DataSourceCreate, DataSourceUpdate

_routes = ResourceRoutes(DataSources)
router = _routes.router
_routes.create(
    DataSourceCreate, "Fetch a URL, inline text or GitLab source and store its text.", 422, 502
)


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


_routes.list_all("The caller's data sources (an admin's: all).")
_routes.get("One data source.")
_routes.update(
    DataSourceUpdate,
    "Rename a data source, or point it at another source (fetched at once).",
    404,
    409,
    422,
    502,
)
_routes.delete("Remove a data source.", 404)


@router.post("/{datasource_id}/refresh", responses=errors(404, 409, 502))
async def refresh_datasource(datasource_id: ResourceId, service: DataSources) -> DataSource:
    """Fetch the source again (a failure is kept on the data source and answered 502)."""
    refreshed: DataSource = _routes.found(
        await service.refresh_content(datasource_id), datasource_id
    )
    return refreshed
