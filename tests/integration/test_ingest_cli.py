"""``liteagent ingest`` as a user runs it: progress bar, summary, nothing redone when unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent / "liteagent"


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITEAGENT_", "OPENAI_"))}
    env.update({"LITEAGENT_EMBEDDER": "local", "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    return subprocess.run(
        [str(BIN), "ingest", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_ingest_named_knowledge_base_twice(tmp_path: Path) -> None:
    docs = tmp_path / "handbook"
    docs.mkdir()
    (docs / "refunds.md").write_text("# Refunds\n\nRefunds are paid within five working days.\n")
    (docs / "security.md").write_text("# Security\n\nRotate passwords every ninety days.\n")
    (docs / "notes.txt").write_text("The office closes at six.\n")

    first = _run(tmp_path, "handbook", "handbook/")
    assert first.returncode == 0, first.stderr
    assert "handbook: 3 added, 0 updated, 0 unchanged, 0 removed" in first.stdout
    assert "Ingesting into handbook" in first.stderr and "3/3" in first.stderr
    assert (tmp_path / ".liteagent" / "knowledge" / "handbook" / "store").is_dir()

    second = _run(tmp_path, "handbook", "handbook/")
    assert second.returncode == 0, second.stderr
    assert "0 added, 0 updated, 3 unchanged, 0 removed; 0 chunks written, 0 embedded" in (
        second.stdout
    )

    (docs / "notes.txt").unlink()
    (docs / "refunds.md").write_text("# Refunds\n\nRefunds are paid within three working days.\n")
    third = _run(tmp_path, "handbook", "handbook/", "--prune", "--no-progress")
    assert "0 added, 1 updated, 1 unchanged, 1 removed" in third.stdout
    assert "Ingesting" not in third.stderr


def test_ingest_catalog_entry_uses_its_sources_and_reports_failures(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text("# Guide\n\nHello.\n")
    (tmp_path / "liteagent.yaml").write_text(
        "models:\n  help:\n    kind: rag\n    embedder: none\n    sources: [guide.md, missing.md]\n"
    )
    result = _run(tmp_path, "help")
    assert result.returncode == 1
    assert "help: 1 added" in result.stdout
    assert "failed: missing.md: File or folder 'missing.md' does not exist." in result.stderr
    nothing = _run(tmp_path, "other")
    assert nothing.returncode == 2 and "no sources given" in nothing.stderr
