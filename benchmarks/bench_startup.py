"""Cold start: the LiteLLM proxy with the LiteAgent plugin beside a bare LiteLLM proxy.

Run: ``uv run python benchmarks/bench_startup.py [--rounds 2] [--quick]``.

Three ways to start a proxy, alternating round by round so each sees the same load:

- ``bare LiteLLM``: ``litellm --config`` with one plain model (to a scripted upstream) and
  nothing of LiteAgent;
- ``LiteLLM + plugin``: ``litellm --config`` with the same plain model plus ``liteagent/*``
  (the custom handler and request guard) and a one-agent catalog;
- ``liteagent serve``: the same as the previous, started the way the README says (it checks
  the catalog and upgrades the database, then runs LiteLLM's proxy in the same interpreter).

Each start is timed from the process's creation to ``/health/liveliness`` answering and to the
first chat answer (the plain model for the bare proxy, ``liteagent/bot`` otherwise), with the
proxy's memory (RSS) then. The import times of ``liteagent`` and ``liteagent.llm`` (fresh
interpreters, ``python -X importtime``) are reported beside them.
Results go to ``benchmarks/results/startup.{md,csv,json,png}``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

import httpx  # noqa: E402
import yaml  # noqa: E402
from _report import RESULTS, rss_mb, save_summary, write  # noqa: E402
from bench_users import _upstream, _wait_for  # noqa: E402
from tests.e2e.proxy import MASTER_KEY, make_project  # noqa: E402
from tests.servers.http import free_port  # noqa: E402

BIN = Path(sys.executable).parent
KINDS = ["bare LiteLLM", "LiteLLM + plugin", "liteagent serve"]


def _start_once(kind: str, project: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """(seconds to liveliness, seconds to the first answer, RSS MB) of one cold start."""
    port = free_port()
    config = "bare.yaml" if kind == "bare LiteLLM" else "proxy_config.yaml"
    if kind == "liteagent serve":
        argv = [str(BIN / "liteagent"), "serve", "--config", config, "--port", str(port)]
    else:
        argv = [str(BIN / "litellm"), "--config", config, "--host", "127.0.0.1",
                "--port", str(port)]  # fmt: skip
    model = "plain" if kind == "bare LiteLLM" else "liteagent/bot"
    base = f"http://127.0.0.1:{port}"
    log = (project / f"start-{port}.log").open("wb")
    started = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603 - our own commands
        argv, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        live = answered = 0.0
        deadline = time.monotonic() + 180
        with httpx.Client(timeout=30) as client:
            while not answered:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} did not start: {(project / log.name).read_text()}")
                try:
                    if not live:
                        if client.get(f"{base}/health/liveliness").status_code == 200:
                            live = time.perf_counter() - started
                        else:
                            time.sleep(0.02)
                        continue
                    r = client.post(
                        f"{base}/v1/chat/completions",
                        headers={"Authorization": f"Bearer {MASTER_KEY}"},
                        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
                    )
                    if r.status_code == 200:
                        answered = time.perf_counter() - started
                    else:
                        time.sleep(0.02)
                except httpx.HTTPError:
                    time.sleep(0.02)
        return live, answered, rss_mb(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def _import_seconds(module: str, rounds: int) -> float:
    """Median wall time of ``import module`` in a fresh interpreter, minus an empty start."""

    def run(code: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())  # noqa: S603
        return time.perf_counter() - t0

    empty = statistics.median(run("pass") for _ in range(rounds))
    return statistics.median(run(f"import {module}") for _ in range(rounds)) - empty


def _project(tmp: Path, upstream: str) -> Path:
    catalog = {
        "providers": {"up": {"type": "openai", "base_url": upstream, "api_key": "sk-bench-0000"}},
        "models": {"bot": {"model": "up/gpt-bench", "system_prompt": "You are a bench bot."}},
    }
    project = make_project(tmp, yaml.safe_dump(catalog))
    plain = {
        "model_name": "plain",
        "litellm_params": {"model": "openai/gpt-bench", "api_base": upstream,
                           "api_key": "sk-bench-0000"},
    }  # fmt: skip
    config = yaml.safe_load((project / "proxy_config.yaml").read_text())
    config["model_list"].append(plain)
    (project / "proxy_config.yaml").write_text(yaml.safe_dump(config))
    bare = {"model_list": [plain], "general_settings": {"master_key": MASTER_KEY}}
    (project / "bare.yaml").write_text(yaml.safe_dump(bare))
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1 round")
    args, _ = parser.parse_known_args()
    if args.quick:
        args.rounds = 1
    port = free_port()
    upstream = multiprocessing.get_context("spawn").Process(
        target=_upstream, args=(port,), daemon=True
    )
    upstream.start()
    times: dict[str, list[tuple[float, float, float]]] = {k: [] for k in KINDS}
    try:
        _wait_for(f"http://127.0.0.1:{port}/")
        with tempfile.TemporaryDirectory() as tmp:
            project = _project(Path(tmp), f"http://127.0.0.1:{port}/v1")
            # Starts are timed with bytecode compiled, as in the container image (built with
            # UV_COMPILE_BYTECODE=1) and on any machine Python may write it on: the warm-up
            # start writes it even where PYTHONDONTWRITEBYTECODE is set around the benchmark.
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("OPENAI_", "LITEAGENT_", "ANTHROPIC_"))
                and k != "PYTHONDONTWRITEBYTECODE"
            }
            env.update(
                LITELLM_MASTER_KEY=MASTER_KEY,
                LITELLM_LOCAL_MODEL_COST_MAP="True",
                LOG_FORMAT="json",
                LITEAGENT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp}/liteagent.db",
            )
            _start_once("liteagent serve", project, env)  # creates the database; warms caches
            for n in range(args.rounds):
                for kind in KINDS:
                    times[kind].append(_start_once(kind, project, env))
                    print(n, kind, [f"{x:.2f}" for x in times[kind][-1]], flush=True)
    finally:
        upstream.terminate()
        upstream.join(timeout=10)
    imports = {m: _import_seconds(m, 5) for m in ("liteagent", "liteagent.llm")}
    med = {k: [statistics.median(t[i] for t in v) for i in range(3)] for k, v in times.items()}
    bare = med["bare LiteLLM"]
    rows: list[list[Any]] = [
        [k, f"{m[0]:.2f}", f"{m[1]:.2f}", f"{m[2]:.0f}", f"{m[0] / bare[0]:.2f}",
         f"{m[1] / bare[1]:.2f}"]
        for k, m in med.items()
    ]  # fmt: skip
    rows += [[f"import {m}", "", f"{s:.3f}", "", "", ""] for m, s in imports.items()]
    header = ["start", "liveliness (s)", "first answer (s)", "RSS (MB)",
              "liveliness ratio", "first answer ratio"]  # fmt: skip
    notes = f"""
Medians of {args.rounds} cold starts of each kind, alternating, after one warm-up start that
leaves the bytecode compiled (as the container image ships it). Ratios are against the bare
LiteLLM proxy with one plain model. The import rows are the wall time of the import in a fresh
interpreter (median of 5, an empty interpreter's start subtracted).
Goal (issue 16): the proxy with the plugin within 1.2x of the bare start.
"""
    write("startup", "P4: proxy cold start with and without the plugin", header, rows, notes)
    summary = []
    for kind in ("LiteLLM + plugin", "liteagent serve"):
        ratio = med[kind][0] / bare[0]
        summary.append(
            {"part": "P4", "measure": f"cold start to liveliness, {kind} / bare LiteLLM",
             "value": round(med[kind][0], 2), "reference": round(bare[0], 2),
             "ratio": round(ratio, 2), "goal": "<= 1.2x", "met": ratio <= 1.2}
        )  # fmt: skip
    ratio = med["LiteLLM + plugin"][1] / bare[1]
    summary.append(
        {"part": "P4", "measure": "cold start to first answer, LiteLLM + plugin / bare LiteLLM",
         "value": round(med["LiteLLM + plugin"][1], 2), "reference": round(bare[1], 2),
         "ratio": round(ratio, 2), "goal": "", "met": None}
    )  # fmt: skip
    save_summary("startup", summary)
    _chart(med)


def _chart(med: dict[str, list[float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    kinds = list(med)
    ax.barh([f"{k}: liveliness" for k in kinds], [med[k][0] for k in kinds], color="tab:blue")
    ax.barh([f"{k}: first answer" for k in kinds], [med[k][1] for k in kinds], color="tab:gray")
    ax.set_xlabel("seconds from process start (median)")
    ax.set_title("P4: proxy cold start")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(RESULTS / "startup.png", dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
