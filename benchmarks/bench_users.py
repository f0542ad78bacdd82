"""Many users through the proxy: a ``liteagent/*`` agent beside a plain model, side by side.

Run: ``uv run python benchmarks/bench_users.py [--requests 2000] [--users 1000]``.

Starts a scripted upstream that speaks OpenAI's wire format and answers at once (its own
process), and the real LiteLLM proxy (``liteagent serve``, one worker) with two models that
both call it: ``plain`` (a LiteLLM model entry) and ``liteagent/bot`` (a catalog agent). The
same non-streaming requests are sent 32 at a time, first as one user, then spread over
``--users`` distinct users (``X-OpenWebUI-User-Id``, as Open WebUI forwards them). Reported:
requests per second and p50 latency of each model and their ratio, the proxy's memory (RSS,
psutil) after each phase, and how many agents the plugin built (its ``agent_built`` log events).
Results go to ``benchmarks/results/users.{md,csv}``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

import httpx  # noqa: E402
import psutil  # noqa: E402
import yaml  # noqa: E402
from _report import bar_chart, percentiles, write  # noqa: E402
from tests.e2e.proxy import MASTER_KEY, Proxy, make_project, run_proxy  # noqa: E402
from tests.servers.http import free_port  # noqa: E402

CONCURRENCY = 32


def _upstream(port: int) -> None:
    import uvicorn
    from tests.servers.openai_wire import OpenAIWireServer

    server = OpenAIWireServer()
    server.reply_text("Hello from upstream.", sticky=True)
    server.requests = _Discard()  # type: ignore[assignment]  # keep memory flat
    uvicorn.run(server.app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


class _Discard(list):  # type: ignore[type-arg]
    def append(self, item: Any) -> None:
        pass


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


async def _load(proxy: Proxy, model: str, requests: int, users: int) -> tuple[float, float]:
    """(requests per second, p50 ms) of ``requests`` sent 32 at a time over ``users`` users."""
    samples: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=proxy.base_url, limits=limits, timeout=120) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                headers = {
                    "Authorization": f"Bearer {MASTER_KEY}",
                    "X-OpenWebUI-User-Id": f"user-{i % users}",
                    "X-OpenWebUI-Chat-Id": f"chat-{i}",
                }
                body = {"model": model, "messages": [{"role": "user", "content": f"hi {i}"}]}
                start = time.perf_counter()
                r = await client.post("/v1/chat/completions", json=body, headers=headers)
                samples.append((time.perf_counter() - start) * 1e3)
                if r.status_code != 200:
                    raise RuntimeError(f"{model}: {r.status_code} {r.text[:300]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return requests / elapsed, percentiles(samples)[0]


def _rss_mb(proxy: Proxy) -> float:
    proc = psutil.Process(proxy.process.pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 1e6


def _builds(proxy: Proxy) -> int:
    return sum(1 for e in proxy.logs() if e.get("event") == "agent_built")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--users", type=int, default=1000)
    args, _ = parser.parse_known_args()

    port = free_port()
    upstream = multiprocessing.get_context("spawn").Process(
        target=_upstream, args=(port,), daemon=True
    )
    upstream.start()
    try:
        _wait_for(f"http://127.0.0.1:{port}/")
        rows = _measure(port, args.requests, args.users)
    finally:
        upstream.terminate()
        upstream.join(timeout=10)
    header = ["phase", "users", "plain req/s", "agent req/s", "throughput ratio",
              "p50 ratio", "proxy RSS after (MB)", "agent builds"]  # fmt: skip
    notes = f"""
{args.requests} non-streaming requests per model and phase, {CONCURRENCY} at a time, through one
LiteLLM proxy worker to an upstream that answers at once. The throughput ratio is agent / plain
(1.0 = the plugin costs nothing); the p50 ratio is agent / plain latency. Goals (issue 16): with
1000 users, throughput ratio >= 0.9 and RSS within +100 MB of the 1-user phase.
"""
    write("users", "Users through the proxy: liteagent/bot vs a plain model", header, rows, notes)
    bar_chart("users", "throughput ratio (agent / plain)", [f"{r[1]} users" for r in rows],
              [float(r[4]) for r in rows], "ratio")  # fmt: skip


def _measure(port: int, requests: int, users: int) -> list[list[Any]]:
    import tempfile

    upstream = f"http://127.0.0.1:{port}/v1"
    catalog = {
        "providers": {"up": {"type": "openai", "base_url": upstream, "api_key": "sk-bench-0000"}},
        "models": {"bot": {"model": "up/gpt-bench", "system_prompt": "You are a bench bot."}},
    }
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp), yaml.safe_dump(catalog))
        config = yaml.safe_load((project / "proxy_config.yaml").read_text())
        config["model_list"].append(
            {
                "model_name": "plain",
                "litellm_params": {
                    "model": "openai/gpt-bench",
                    "api_base": upstream,
                    "api_key": "sk-bench-0000",
                },
            }
        )
        (project / "proxy_config.yaml").write_text(yaml.safe_dump(config))
        env = {"LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{project}/liteagent.db"}
        rows: list[list[Any]] = []
        with run_proxy(project, env, wait_for="liteagent/bot") as proxy:
            asyncio.run(_load(proxy, "plain", 200, 1))  # warm both paths
            asyncio.run(_load(proxy, "liteagent/bot", 200, 1))
            for phase, n in (("one user", 1), (f"{users} users", users)):
                builds = _builds(proxy)
                plain = asyncio.run(_load(proxy, "plain", requests, n))
                agent = asyncio.run(_load(proxy, "liteagent/bot", requests, n))
                rows.append(
                    [phase, n, f"{plain[0]:.1f}", f"{agent[0]:.1f}", f"{agent[0] / plain[0]:.2f}",
                     f"{agent[1] / plain[1]:.2f}", f"{_rss_mb(proxy):.0f}",
                     _builds(proxy) - builds]
                )  # fmt: skip
                print(rows[-1], flush=True)
    return rows


if __name__ == "__main__":
    main()
