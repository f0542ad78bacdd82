import gc
import os
from pathlib import Path

import pytest

from liteagent import cli
from liteagent.config import get_settings


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for var in ("LITEAGENT_PORT", "LITEAGENT_CATALOG", "LITEAGENT_DEFAULT_MODEL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    saved = dict(os.environ)
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)  # .env values loaded by the CLI must not leak into other tests
    get_settings.cache_clear()


def test_catalog_command_lists_models(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "liteagent.yaml").write_text(
        "models:\n  helper:\n    description: Helps.\n    system_prompt: Help.\n"
    )
    assert cli.main(["catalog"]) == 0
    out = capsys.readouterr().out
    assert "liteagent/helper" in out and "local/smollm2" in out


def test_catalog_command_reports_errors(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "liteagent.yaml").write_text("models:\n  helper:\n    description: Helps.\n")
    assert cli.main(["catalog"]) == 2
    assert "models.helper.system_prompt" in capsys.readouterr().err


def test_serve_reads_port_from_dotenv(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / ".env").write_text("LITEAGENT_PORT=9911\n")
    cli._load_env()
    args = cli.build_parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.1", 9911)


def test_serve_refuses_a_database_url_it_cannot_use(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "proxy_config.yaml").write_text("model_list: []\n")
    (project / "liteagent.yaml").write_text(
        "models:\n  helper:\n    description: Helps.\n    system_prompt: Help.\n"
    )
    monkeypatch.setenv("LITEAGENT_DATABASE_URL", "postgresql+asyncpg://app:hunter2@db/app")
    monkeypatch.setenv("ENVIRONMENT", "development")
    gc.unfreeze()  # (an earlier test may have imported liteagent.server, which freezes)
    assert cli.main(["serve"]) == 2  # refused before the proxy is started
    err = capsys.readouterr().err
    assert "postgresql+psycopg://" in err and "hunter2" not in err
    assert gc.get_freeze_count() == 0  # serve's start-up heap freeze is undone on a refusal


def test_serve_migrates_the_database_first(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from liteagent.storage.db_cli import upgrade_before_serving
    from liteagent.storage.migrate import head

    url = f"sqlite+aiosqlite:///{project}/served.db"
    assert upgrade_before_serving(url) == 0
    assert f"at revision {head()}" in capsys.readouterr().out
    # out of reach (a folder where the file should be): reported, the proxy still starts
    (project / "blocked.db").mkdir()
    assert upgrade_before_serving(f"sqlite+aiosqlite:///{project}/blocked.db") == 0
    assert "starting anyway" in capsys.readouterr().err


def test_hello_without_a_proxy_says_what_to_do(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as s:  # a free port: nothing listens on it once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    assert cli.main(["hello", "--base-url", url]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach {url}: is the proxy running?" in err
    assert "liteagent serve" in err
