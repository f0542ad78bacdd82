"""End to end: ``liteagent/triage`` through the real LiteLLM proxy, streamed as Open WebUI sees it.

The graph is the shipped demo. In the first tests its two agents get scripted models (so each
branch's answer is known); the last one runs the shipped catalog unchanged on the bundled
llama.cpp model. The human step is answered after the proxy restarts: a second proxy process on
the same project folder resumes the run from the database.
"""

from __future__ import annotations

import copy
import html
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.proxy import MASTER_KEY, ROOT, make_project, run_proxy
from tests.e2e.test_agent_approval import stream_chat

pytestmark = [pytest.mark.e2e]

MODEL = "liteagent/triage"
BILLING = "Billing desk here: the double charge will be refunded within 5 days."
TECH = "Technical support here: clear the app cache and sign in again."
QUESTION = "I could not tell whether this is about billing or a technical problem"
BLOCK = re.compile(r'<details type="workflow_node" done="true">\n<summary>(.*?)</summary>')


def summaries(text: str) -> list[str]:
    return [html.unescape(s) for s in BLOCK.findall(text)]


def statuses(items: list[tuple[str, Any]]) -> list[str]:
    return [v["data"]["description"] for k, v in items if k == "event" and v["type"] == "status"]


def workflow_rows(db: Path) -> list[str]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "liteagent_workflow_runs" not in tables:
            return []
        return [r[0] for r in conn.execute("SELECT status FROM liteagent_workflow_runs")]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The shipped triage graph, its agents on scripted models written into the project."""
    shipped = yaml.safe_load((ROOT / "liteagent.yaml").read_text())["models"]["triage"]
    entry = copy.deepcopy(shipped)
    for node, reply in (("billing_desk", BILLING), ("tech_support", TECH)):
        script = tmp_path / f"{node}.yaml"
        script.write_text(yaml.safe_dump([reply] * 20))
        entry["nodes"][node]["model"] = f"scripted/{script}"
    entry["model"] = f"scripted/{tmp_path / 'task.yaml'}"
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(['{"title": "Account help"}'] * 5))
    return make_project(tmp_path, yaml.safe_dump({"models": {"triage": entry}}))


def env_for(project: Path) -> dict[str, str]:
    return {"LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{project / 'liteagent.db'}"}


def test_triage_takes_each_branch(project: Path) -> None:
    with run_proxy(project, env_for(project), wait_for=MODEL) as proxy:
        billing_items, billing = stream_chat(
            proxy, MODEL, [{"role": "user", "content": "I was charged twice, refund me"}], "c1"
        )
        tech_items, tech = stream_chat(
            proxy, MODEL, [{"role": "user", "content": "The app crashes with an error"}], "c2"
        )
    assert billing.endswith(BILLING) and TECH not in billing
    assert "Billing? (condition): true" in summaries(billing)
    assert tech.endswith(TECH) and BILLING not in tech
    assert "Billing? (condition): false" in summaries(tech)
    assert statuses(billing_items)[:2] == ["Working…", "Running triage…"]
    assert "Running Billing desk…" in statuses(billing_items)
    assert "Running Technical support…" in statuses(tech_items)
    assert statuses(tech_items)[-1] == "Done"
    # blocks come before the answer, which streams in pieces
    texts = [v for k, v in billing_items if k == "text"]
    assert texts[0].startswith("<details") and len(texts) > 10
    assert workflow_rows(project / "liteagent.db") == []  # nothing waited: nothing stored


def test_human_step_asks_survives_a_restart_and_completes(project: Path) -> None:
    db = project / "liteagent.db"
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Can you help me?"}]
    with run_proxy(project, env_for(project), wait_for=MODEL) as proxy:
        items, asked = stream_chat(proxy, MODEL, messages, "c3")
    assert QUESTION in asked and "Reply with one of: `billing`, `technical`" in asked
    assert statuses(items)[-1] == "Waiting for your answer"
    assert workflow_rows(db) == ["waiting_human"]

    messages += [{"role": "assistant", "content": asked}, {"role": "user", "content": "technical"}]
    with run_proxy(project, env_for(project), wait_for=MODEL) as proxy:
        items, answer = stream_chat(proxy, MODEL, messages, "c3")
        assert answer.endswith(TECH)
        assert summaries(answer)[0] == "Ask which desk (human): you answered technical"
        assert workflow_rows(db) == ["completed"]
        # the same answer again (Open WebUI's regenerate) runs nothing twice
        _, replay = stream_chat(proxy, MODEL, messages, "c3")
    assert replay.startswith("This answer was already given")


def test_task_request_answers_json_without_running_the_workflow(project: Path) -> None:
    task = (
        '### Task:\nGenerate a title. Reply with JSON: {"title": "..."}\n'
        "<chat_history>\nUSER: Can you help me?\n</chat_history>"
    )
    with run_proxy(project, env_for(project), wait_for=MODEL) as proxy:
        r = httpx.post(
            f"{proxy.base_url}/v1/chat/completions",
            timeout=60,
            headers={"Authorization": f"Bearer {MASTER_KEY}", "X-OpenWebUI-Chat-Id": "c4"},
            json={"model": MODEL, "messages": [{"role": "user", "content": task}]},
        )
    assert r.status_code == 200, r.text
    assert json.loads(r.json()["choices"][0]["message"]["content"]) == {"title": "Account help"}
    assert workflow_rows(project / "liteagent.db") == []


@pytest.mark.local_llm
def test_shipped_triage_on_the_local_model(tmp_path: Path) -> None:
    """The demo catalog unchanged, on the bundled SmolLM2: routing, the question, a restart."""
    project = make_project(tmp_path)
    env = env_for(project)
    db = project / "liteagent.db"
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Hi, something is odd"}]
    with run_proxy(project, env, wait_for=MODEL) as proxy:
        _, billing = stream_chat(
            proxy, MODEL, [{"role": "user", "content": "My invoice shows a double charge"}], "l1"
        )
        _, asked = stream_chat(proxy, MODEL, messages, "l2")
    assert "Billing? (condition): true" in summaries(billing)
    assert billing.split("</details>\n")[-1].strip()  # the billing desk wrote an answer
    assert QUESTION in asked and workflow_rows(db) == ["waiting_human"]

    messages += [{"role": "assistant", "content": asked}, {"role": "user", "content": "billing"}]
    with run_proxy(project, env, wait_for=MODEL) as proxy:
        _, answer = stream_chat(proxy, MODEL, messages, "l2")
    assert summaries(answer) == [
        "Ask which desk (human): you answered billing",
        "You chose billing? (condition): true",
    ]
    assert answer.split("</details>\n")[-1].strip()
    assert workflow_rows(db) == ["completed"]
