"""`liteagent jobs`: run a job in-process, list and show it, refuse bad input clearly."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from liteagent import cli
from liteagent.config import get_settings
from tests.integration.jobs_support import write_project

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    for key, value in write_project(tmp_path).items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    saved = dict(os.environ)
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def test_run_list_show(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["jobs", "run", "refresh_datasource", "datasource_id=handbook"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["status"] == "succeeded" and job["result"]["sources_added"] == 2

    assert cli.main(["jobs", "run", "refresh_datasource", "datasource_id=missing"]) == 1
    failed = json.loads(capsys.readouterr().out)
    assert failed["status"] == "failed" and "'missing' is not a kind: rag entry" in failed["error"]

    assert cli.main(["jobs", "list", "--status", "failed"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and failed["id"] in lines[0] and "failed" in lines[0]

    assert cli.main(["jobs", "show", job["id"]]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == job["id"]


def test_bad_input(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["jobs", "run", "nope"]) == 2
    assert "No background job 'nope'; available:" in capsys.readouterr().err
    assert cli.main(["jobs", "run", "refresh_datasource", "datasource=handbook"]) == 2
    assert "refresh_datasource:" in capsys.readouterr().err
    assert cli.main(["jobs", "run", "refresh_datasource", "handbook"]) == 2
    assert "'handbook' is not name=value" in capsys.readouterr().err
    assert cli.main(["jobs", "show", "0" * 32]) == 1
    assert cli.main(["jobs", "list", "--status", "weird"]) == 2
    assert "weird" in capsys.readouterr().err
