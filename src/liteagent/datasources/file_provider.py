"""Local files (and folders of them) as data sources.

Text formats are read as UTF-8; ``.html`` is converted to text; ``.pdf`` is read with
``pypdf`` (the ``pdf`` extra), one page after another. A folder or a glob pattern expands to
its supported files (hidden folders skipped), sorted, so ingestion is deterministic.
"""

from __future__ import annotations

import asyncio
import glob
import re
from pathlib import Path
from typing import ClassVar

from liteagent.datasources.base import (
    BaseDataSourceProvider,
    DataSourceContent,
    DataSourceFetchError,
    DataSourceNotFoundError,
)
from liteagent.datasources.html import html_to_text
from liteagent.errors import ConfigurationError, InvalidRequestError

__all__ = ["FileDataSourceProvider"]

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _read_pdf(path: Path) -> str:
    try:
        from pypdf import PdfReader
    except ImportError:
        raise ConfigurationError(
            "Reading PDF files needs pypdf: pip install 'liteagent[pdf]'."
        ) from None
    try:
        reader = PdfReader(path)
        pages = [page.extract_text() or "" for page in reader.pages]
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types for broken files
        raise DataSourceFetchError(f"Cannot read PDF {path.name}: {exc}") from None
    return "\n\n".join(p.strip() for p in pages if p.strip())


class FileDataSourceProvider(BaseDataSourceProvider):
    """Reads files from disk.

    Args:
        base_dir: Relative sources resolve against it, and no source may leave it.
        upload_dir: Where ``save_uploaded_file`` writes (default: ``<base_dir>/uploads``).
        max_bytes: Larger files are refused.
    """

    SUPPORTED_EXTENSIONS: ClassVar[list[str]] = [
        ".txt", ".md", ".json", ".csv", ".xml", ".yaml", ".yml", ".py", ".js",
        ".rst", ".toml", ".html", ".htm", ".pdf",
    ]  # fmt: skip

    def __init__(
        self,
        base_dir: str | Path | None = None,
        upload_dir: str | Path | None = None,
        max_bytes: int = 20 * 1024 * 1024,
    ) -> None:
        self.base_dir = Path(base_dir).resolve() if base_dir else None
        self.upload_dir = Path(upload_dir) if upload_dir else None
        self.max_bytes = max_bytes

    # ------------------------------------------------------------------ paths
    def _resolve(self, source: str) -> Path:
        path = Path(source).expanduser()
        if self.base_dir is not None:
            path = (self.base_dir / path).resolve()
            if not path.is_relative_to(self.base_dir):
                raise InvalidRequestError(f"'{source}' is outside the allowed folder.")
        return path.resolve()

    def _display(self, path: Path) -> str:
        root = self.base_dir or Path.cwd().resolve()
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)

    def expand(self, source: str) -> list[Path]:
        """The supported files that ``source`` (a file, folder or glob) names, sorted."""
        if any(ch in source for ch in "*?["):
            root = str(self.base_dir) if self.base_dir else None
            matches = glob.glob(source, root_dir=root, recursive=True)
            paths = [self._resolve(m) for m in matches]
        else:
            path = self._resolve(source)
            if not path.exists():
                raise DataSourceNotFoundError(f"File or folder '{source}' does not exist.")
            if path.is_file():
                return [path]
            paths = [
                p
                for p in path.rglob("*")
                if not any(part.startswith(".") for part in p.relative_to(path).parts)
            ]
        return sorted(
            p for p in paths if p.is_file() and p.suffix.lower() in self.SUPPORTED_EXTENSIONS
        )

    # ------------------------------------------------------------------ reading
    def _read(self, path: Path) -> DataSourceContent:
        suffix = path.suffix.lower()
        if suffix not in self.SUPPORTED_EXTENSIONS:
            raise InvalidRequestError(
                f"Unsupported file type '{suffix or path.name}'. Supported: "
                f"{', '.join(self.SUPPORTED_EXTENSIONS)}."
            )
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise DataSourceNotFoundError(f"File '{path}' does not exist.") from None
        if size > self.max_bytes:
            raise DataSourceFetchError(
                f"File {path.name} is {size} bytes; the limit is {self.max_bytes}."
            )
        title: str | None = None
        if suffix == ".pdf":
            text = _read_pdf(path)
        else:
            text = path.read_text(encoding="utf-8", errors="replace")
            if suffix in (".html", ".htm"):
                text, title = html_to_text(text)
        display = self._display(path)
        metadata: dict[str, object] = {
            "name": display,
            "path": str(path),
            "type": "file",
            "extension": suffix,
        }
        if title:
            metadata["title"] = title
        return DataSourceContent(content=text, source=display, metadata=metadata)

    async def fetch_content(self, source: str) -> DataSourceContent:
        path = self._resolve(source)
        if path.is_dir():
            raise InvalidRequestError(
                f"'{source}' is a folder; use fetch_documents to read its files."
            )
        return await asyncio.to_thread(self._read, path)

    async def fetch_documents(self, source: str) -> list[DataSourceContent]:
        paths = await asyncio.to_thread(self.expand, source)
        return [await asyncio.to_thread(self._read, p) for p in paths]

    async def validate_source(self, source: str) -> bool:
        try:
            path = self._resolve(source)
        except InvalidRequestError:
            return False
        return path.is_dir() or (
            path.is_file() and path.suffix.lower() in self.SUPPORTED_EXTENSIONS
        )

    async def save_uploaded_file(self, filename: str, content: bytes) -> str:
        """Store an upload under ``upload_dir`` with a safe name; returns its path."""
        name = _SAFE_NAME.sub("_", Path(filename).name).strip("._") or "upload"
        if Path(name).suffix.lower() not in self.SUPPORTED_EXTENSIONS:
            raise InvalidRequestError(f"Unsupported file type for upload '{filename}'.")
        if len(content) > self.max_bytes:
            raise InvalidRequestError(f"Upload '{filename}' exceeds {self.max_bytes} bytes.")
        folder = self.upload_dir or (self.base_dir or Path.cwd()) / "uploads"
        path = Path(folder) / name
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(path.write_bytes, content)
        return str(path)
