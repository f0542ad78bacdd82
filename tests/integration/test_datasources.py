"""Data sources against real files and local servers speaking HTTP and GitLab's REST API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from liteagent.config import Settings
from liteagent.datasources import (
    DataSourceFactory,
    DataSourceFetchError,
    DataSourceNotFoundError,
    DataSourceType,
    FileDataSourceProvider,
    GitLabDataSourceProvider,
    TextDataSourceProvider,
    URLDataSourceProvider,
    provider_for_source,
)
from liteagent.datasources.url_provider import is_public_address
from liteagent.errors import AuthenticationError, InvalidRequestError
from liteagent.security.outbound import OutboundURLError
from tests.servers.gitlab_wire import GitLabWireServer, Project
from tests.servers.http import serve_app

pytestmark = pytest.mark.integration

PAGE = """<html><head><title>Refund policy</title><style>p{color:red}</style></head>
<body><nav>Home | About</nav><main><h1>Refunds</h1><p>Refunds take <b>five</b> days.</p>
<script>alert('x')</script><ul><li>Cards</li><li>Bank transfers</li></ul></main>
<footer>(c) Shop</footer></body></html>"""


def _pdf(text: str) -> bytes:
    """A minimal valid one-page PDF showing ``text`` (Helvetica)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


async def test_file_provider_reads_text_html_pdf_and_folders(tmp_path: Path) -> None:
    (tmp_path / "docs" / ".hidden").mkdir(parents=True)
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n\nHello.")
    (tmp_path / "docs" / "page.html").write_text(PAGE)
    (tmp_path / "docs" / "manual.pdf").write_bytes(_pdf("Warranty lasts two years"))
    (tmp_path / "docs" / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "docs" / ".hidden" / "secret.md").write_text("no")
    provider = FileDataSourceProvider(base_dir=tmp_path)
    docs = await provider.fetch_documents("docs")
    assert [d.source for d in docs] == ["docs/guide.md", "docs/manual.pdf", "docs/page.html"]
    by_name = {d.source: d for d in docs}
    assert "Warranty lasts two years" in by_name["docs/manual.pdf"].content
    html = by_name["docs/page.html"]
    assert "# Refunds" in html.content and "Refunds take five days." in html.content
    assert "alert" not in html.content and "Home | About" not in html.content
    assert html.metadata is not None and html.metadata["title"] == "Refund policy"
    globbed = await provider.fetch_documents("docs/*.md")
    assert [d.source for d in globbed] == ["docs/guide.md"]
    with pytest.raises(InvalidRequestError, match="outside the allowed folder"):
        await provider.fetch_content("../etc/passwd")
    with pytest.raises(DataSourceNotFoundError):
        await provider.fetch_documents("nope.md")
    with pytest.raises(InvalidRequestError, match="Unsupported file type"):
        await provider.fetch_content("docs/image.png")
    saved = await provider.save_uploaded_file("../../my notes.md", b"uploaded")
    assert Path(saved) == tmp_path / "uploads" / "my_notes.md"
    assert await provider.validate_source("docs/guide.md")
    assert not await provider.validate_source("docs/image.png")


async def test_text_provider_and_factory() -> None:
    content = await TextDataSourceProvider(name="policy").fetch_content("Be kind.")
    assert (content.source, content.content) == ("text:policy", "Be kind.")
    assert isinstance(DataSourceFactory.create(DataSourceType.URL), URLDataSourceProvider)
    provider, arg = provider_for_source("text:hello", Settings())
    assert isinstance(provider, TextDataSourceProvider) and arg == "hello"


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    async def page(_: Request) -> Response:
        return Response(PAGE, media_type="text/html; charset=utf-8")

    async def big(_: Request) -> Response:
        return PlainTextResponse("x" * 50_000)

    async def stream(_: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(100):
                yield b"y" * 1000

        return StreamingResponse(body(), media_type="text/plain")

    async def slow(_: Request) -> Response:
        await asyncio.sleep(3)
        return PlainTextResponse("late")

    async def hop(_: Request) -> Response:
        return RedirectResponse("/page", status_code=302)

    async def binary(_: Request) -> Response:
        return Response(b"\x00\x01", media_type="application/octet-stream")

    app = Starlette(
        routes=[
            Route("/page", page),
            Route("/big", big),
            Route("/stream", stream),
            Route("/slow", slow),
            Route("/hop", hop),
            Route("/binary", binary),
        ]
    )
    with serve_app(app) as url:
        yield url


async def test_url_provider_fetches_html_when_private_addresses_are_allowed(web: str) -> None:
    provider = URLDataSourceProvider(allow_private=True)
    content = await provider.fetch_content(f"{web}/hop")
    assert content.content.startswith("# Refunds")
    assert content.metadata is not None
    assert content.metadata["url"] == f"{web}/page" and content.metadata["name"] == "Refund policy"


async def test_url_provider_enforces_size_time_and_type_limits(web: str) -> None:
    small = URLDataSourceProvider(allow_private=True, max_bytes=1000)
    with pytest.raises(DataSourceFetchError, match="is 50000 bytes; the limit is 1000"):
        await small.fetch_content(f"{web}/big")
    with pytest.raises(DataSourceFetchError, match="larger than the 1000-byte limit"):
        await small.fetch_content(f"{web}/stream")  # no Content-Length: cut while streaming
    with pytest.raises(DataSourceFetchError, match=r"longer than 0\.5 s"):
        await URLDataSourceProvider(allow_private=True, timeout=0.5).fetch_content(f"{web}/slow")
    with pytest.raises(DataSourceFetchError, match="application/octet-stream"):
        await URLDataSourceProvider(allow_private=True).fetch_content(f"{web}/binary")
    with pytest.raises(DataSourceNotFoundError, match="404"):
        await URLDataSourceProvider(allow_private=True).fetch_content(f"{web}/missing")


@pytest.mark.parametrize(
    "url",
    [
        "loopback",
        "http://localhost/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://192.168.0.1/admin",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
    ],
)
async def test_url_provider_refuses_private_loopback_and_link_local(web: str, url: str) -> None:
    target = f"{web}/page" if url == "loopback" else url
    with pytest.raises(OutboundURLError, match=r"Refused to connect to .*: .* (address|name)"):
        await URLDataSourceProvider().fetch_content(target)


async def test_url_provider_rejects_other_schemes() -> None:
    with pytest.raises(InvalidRequestError, match="only http and https URLs are allowed"):
        await URLDataSourceProvider().fetch_content("file:///etc/passwd")
    assert is_public_address("8.8.8.8") and not is_public_address("100.64.0.1")


@pytest.fixture(scope="module")
def gitlab() -> Iterator[tuple[GitLabWireServer, str]]:
    server = GitLabWireServer()
    project = server.add_project(Project(42, "acme/shop"))
    files = {f"docs/page{i:03d}.md": f"# Page {i}\n\nContent {i}." for i in range(120)}
    files["README.md"] = "# Shop\n\nThe shop sells lamps."
    files["src/app.py"] = "print('hi')\n"
    project.files["main"] = files
    project.files["v1"] = {"README.md": "# Shop v1"}
    project.issues = [
        {
            "iid": i,
            "title": f"Bug {i}",
            "description": f"Lamp {i} flickers.",
            "state": "opened" if i % 2 else "closed",
            "labels": ["bug"],
        }
        for i in range(1, 6)
    ]
    project.merge_requests = [
        {
            "iid": 7,
            "title": "Fix flicker",
            "description": "Closes #1.",
            "state": "merged",
            "labels": [],
        }
    ]
    with serve_app(server.app) as url:
        server.base_url = url
        yield server, url


async def test_gitlab_files_trees_issues_and_merge_requests(gitlab) -> None:
    server, url = gitlab
    provider = GitLabDataSourceProvider(url, server.token)
    try:
        readme = await provider.fetch_file("acme/shop", "README.md", "v1")
        assert readme.content == "# Shop v1"
        assert readme.metadata is not None
        assert readme.source == "gitlab:acme/shop:file:README.md@v1"
        assert readme.metadata == {
            "name": "acme/shop/README.md",
            "url": f"{url}/acme/shop/-/blob/v1/README.md",
            "type": "gitlab_file",
            "project": "acme/shop",
            "path": "README.md",
            "ref": "v1",
        }
        tree = await provider.fetch_tree("42", "docs", "main")
        assert tree.content.count("blob\tdocs/page") == 120  # two pages of 100
        assert tree.source == "gitlab:42:tree:docs@main"
        assert tree.metadata == {
            "name": "42/docs (tree)",
            "url": f"{url}/acme/shop/-/tree/main/docs",
            "type": "gitlab_tree",
            "project": "42",
            "ref": "main",
        }
        issues = await provider.fetch_documents("acme/shop:issues:opened")
        assert [d.metadata["iid"] for d in issues] == [1, 3, 5]  # type: ignore[index]
        assert issues[0].metadata["url"] == f"{url}/acme/shop/-/issues/1"  # type: ignore[index]
        assert "Lamp 1 flickers." in issues[0].content and "Labels: bug" in issues[0].content
        mrs = await provider.fetch_merge_requests("acme/shop", "merged")
        assert "Fix flicker" in mrs.content and "Closes #1." in mrs.content
        assert server.requests[-1]["headers"]["private-token"] == server.token
    finally:
        await provider.aclose()


async def test_gitlab_repository_by_patterns_uses_the_default_branch(gitlab) -> None:
    server, url = gitlab
    provider = GitLabDataSourceProvider(url, server.token)
    try:
        docs = await provider.fetch_documents("gitlab:acme/shop:repository:README.md,src/*.py")
        assert [d.metadata["path"] for d in docs] == ["README.md", "src/app.py"]  # type: ignore[index]
        assert docs[0].content == "# Shop\n\nThe shop sells lamps."
        whole = await provider.fetch_repository("acme/shop", "main", ["docs/page00*.md"])
        assert whole.metadata == {"name": "acme/shop@main", "type": "gitlab", "items": 10}
    finally:
        await provider.aclose()


async def test_gitlab_errors_are_clear(gitlab) -> None:
    server, url = gitlab
    bad = GitLabDataSourceProvider(url, "glpat-wrong")
    with pytest.raises(AuthenticationError, match="read_api"):
        await bad.fetch_file("acme/shop", "README.md", "main")
    await bad.aclose()
    good = GitLabDataSourceProvider(url, server.token)
    with pytest.raises(DataSourceNotFoundError):
        await good.fetch_file("acme/shop", "nope.md", "main")
    with pytest.raises(InvalidRequestError, match="must look like"):
        await good.fetch_documents("acme/shop:wiki")
    await good.aclose()
