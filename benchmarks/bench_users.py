"""Plugin overhead and many users through the proxy: a ``liteagent/*`` agent beside a plain model.

Run: ``uv run python benchmarks/bench_users.py [--requests 1000] [--quick]``.

Starts a scripted upstream that speaks OpenAI's wire format and answers at once (its own
process), and the real LiteLLM proxy (``liteagent serve``, one worker) with three models that
all call it: ``plain`` (a LiteLLM model entry), ``liteagent/bot`` (a catalog agent without
tools: one runner serves every user) and ``liteagent/toolbot`` (an agent with tools: one runner
per user, in the bounded agent cache). Requests are sent 32 at a time, the models alternating
in blocks of requests so they see the same load, in phases:

- P1 overhead: one user, non-streaming, then streaming (requests/s and p50 of each model);
- P2 time to first token: the streaming phase's first content chunk, p50 / p95;
- P6 users: the same non-streaming requests spread over 100, then 1000 distinct users
  (``X-OpenWebUI-User-Id``, as Open WebUI forwards it), then ``toolbot`` with 1000 users
  (each a new runner: the agent cache, 256 by default, must keep memory bounded).

Reported: requests per second and latency of each model and their ratios, the proxy's memory
(RSS) after each phase and how many agents the plugin built (its ``agent_built`` events).
Results go to ``benchmarks/results/users.{md,csv,json,png}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
import yaml  # noqa: E402
from _report import RESULTS, percentiles, rss_mb, save_summary, write  # noqa: E402
from tests.e2e.proxy import MASTER_KEY, Proxy, make_project, run_proxy  # noqa: E402
from tests.servers.http import free_port  # noqa: E402

CONCURRENCY = 32
BLOCK = 250


def _upstream(port: int) -> None:
    import uvicorn
    from tests.servers.openai_wire import OpenAIWireServer

    server = OpenAIWireServer()
    server.reply_text("Hello from upstream.", sticky=True)
    server.requests = _Discard()  # type: ignore[assignment]  # keep memory flat
    # Keep idle connections open as hosted APIs do: with uvicorn's 5 s default, a client
    # reusing a connection the server is closing after a pause between phases gets a
    # connection error (and LiteLLM does not retry: num_retries is 0).
    uvicorn.run(
        server.app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=300,
    )


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


async def _load(
    proxy: Proxy, model: str, requests: range, users: int, stream: bool, samples: _Samples
) -> float:
    """Send ``requests`` (their numbers pick user and chat) 32 at a time; returns the seconds
    taken and records each request's latency (and first token, streaming) in ``samples``."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in requests:
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
                body = {
                    "model": model,
                    "messages": [{"role": "user", "content": f"hi {i}"}],
                    "stream": stream,
                }
                start = time.perf_counter()
                if not stream:
                    r = await client.post("/v1/chat/completions", json=body, headers=headers)
                    if r.status_code != 200:
                        raise RuntimeError(f"{model}: {r.status_code} {r.text[:300]}")
                    samples.latency.append((time.perf_counter() - start) * 1e3)
                    continue
                first = None
                async with client.stream(
                    "POST", "/v1/chat/completions", json=body, headers=headers
                ) as r:
                    if r.status_code != 200:
                        raise RuntimeError(f"{model}: {r.status_code} {(await r.aread())[:300]!r}")
                    async for line in r.aiter_lines():
                        if first is None and line.startswith("data: {") and _has_text(line[6:]):
                            first = time.perf_counter()
                end = time.perf_counter()
                samples.latency.append((end - start) * 1e3)
                samples.first_token.append(((first or end) - start) * 1e3)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return time.perf_counter() - started


def _has_text(data: str) -> bool:
    choices = json.loads(data).get("choices") or [{}]
    return bool((choices[0].get("delta") or {}).get("content"))


class _Samples:
    def __init__(self) -> None:
        self.latency: list[float] = []
        self.first_token: list[float] = []
        self.seconds = 0.0


def _side_by_side(
    proxy: Proxy, models: list[str], requests: int, users: int, stream: bool = False
) -> dict[str, _Samples]:
    """Each model's samples; the models alternate in blocks of requests, so all see the same
    load on a shared machine."""
    samples = {m: _Samples() for m in models}
    for start in range(0, requests, BLOCK):
        block = range(start, min(start + BLOCK, requests))
        for model in models:
            samples[model].seconds += asyncio.run(
                _load(proxy, model, block, users, stream, samples[model])
            )
    return samples


def _rss_mb(proxy: Proxy) -> float:
    return rss_mb(proxy.process.pid)


def _builds(proxy: Proxy) -> int:
    return sum(1 for e in proxy.logs() if e.get("event") == "agent_built")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="per model and phase")
    parser.add_argument("--quick", action="store_true", help="400 requests per model and phase")
    args, _ = parser.parse_known_args()
    if args.quick:
        args.requests = min(args.requests, 400)

    port = free_port()
    upstream = multiprocessing.get_context("spawn").Process(
        target=_upstream, args=(port,), daemon=True
    )
    upstream.start()
    try:
        _wait_for(f"http://127.0.0.1:{port}/")
        rows, summary = _measure(port, args.requests)
    finally:
        upstream.terminate()
        upstream.join(timeout=10)
    header = ["phase", "model", "req/s", "p50 / p95 (ms)", "first token p50 / p95 (ms)",
              "throughput ratio", "p50 ratio", "proxy RSS after (MB)", "agent builds"]  # fmt: skip
    notes = f"""
{args.requests} requests per model and phase, {CONCURRENCY} at a time, through one LiteLLM proxy
worker to an upstream that answers at once; the models alternate in blocks of {BLOCK} requests.
Ratios are agent / plain (throughput 1.0 = the plugin costs nothing; p50 and first-token ratios
below 1.0 are faster than the plain model). Agent builds are counted from the proxy's
`agent_built` log events; the RSS is the proxy's after the phase. `toolbot` has tools, so each
user gets their own runner in the agent cache (256 by default): its memory must stay bounded.
Goals (issue 16): with 1000 users, throughput ratio >= 0.9 and RSS within +100 MB of the
1-user phase.
"""
    write("users", "Through the proxy: liteagent/* agents vs a plain model", header, rows, notes)
    save_summary("users", summary)
    _chart(rows)


def _chart(rows: list[list[Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = [r for r in rows if r[5] != ""]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    labels = [f"{r[0]}\n{r[1]}" for r in phases]
    left.barh(labels, [float(r[5]) for r in phases], color="tab:blue")
    left.axvline(0.9, color="tab:red", linestyle="--", label="goal 0.9")
    left.set_xlabel("throughput ratio (agent / plain)")
    left.invert_yaxis()
    left.legend(loc="lower right")
    rss = [r for r in rows if r[1] == "plain"]  # one per phase (the proxy's, after it)
    right.plot(range(len(rss)), [float(r[7]) for r in rss], marker="o")
    right.set_xticks(range(len(rss)), [r[0] for r in rss], rotation=20, fontsize=8)
    right.set_ylabel("proxy RSS after the phase (MB)")
    fig.suptitle("P1 / P6: liteagent/* through the proxy beside a plain model")
    fig.tight_layout()
    fig.savefig(RESULTS / "users.png", dpi=100)
    plt.close(fig)


PHASES: list[tuple[str, list[str], int, bool]] = [
    # (phase, models, users, stream)
    ("1 user", ["plain", "liteagent/bot"], 1, False),
    ("1 user, stream", ["plain", "liteagent/bot"], 1, True),
    ("100 users", ["plain", "liteagent/bot"], 100, False),
    ("1000 users", ["plain", "liteagent/bot"], 1000, False),
    ("1000 users, tools", ["plain", "liteagent/toolbot"], 1000, False),
]


def _measure(port: int, requests: int) -> tuple[list[list[Any]], list[dict[str, Any]]]:
    import tempfile

    upstream = f"http://127.0.0.1:{port}/v1"
    catalog = {
        "providers": {"up": {"type": "openai", "base_url": upstream, "api_key": "sk-bench-0000"}},
        "models": {
            "bot": {"model": "up/gpt-bench", "system_prompt": "You are a bench bot."},
            "toolbot": {
                "model": "up/gpt-bench",
                "system_prompt": "You are a bench bot with tools.",
                "tools": ["calculator", "current_time"],
            },
        },
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
        measured: dict[str, dict[str, _Samples]] = {}
        rss: dict[str, float] = {}
        with run_proxy(project, env, wait_for="liteagent/toolbot") as proxy:
            _side_by_side(proxy, ["plain", "liteagent/bot", "liteagent/toolbot"], 200, 1)  # warm
            _side_by_side(proxy, ["plain", "liteagent/bot"], 64, 1, stream=True)
            for phase, models, users, stream in PHASES:
                builds = _builds(proxy)
                got = measured[phase] = _side_by_side(proxy, models, requests, users, stream)
                rss[phase] = _rss_mb(proxy)
                built = _builds(proxy) - builds
                plain = got["plain"]
                for model in models:
                    m = got[model]
                    lat, ttft = percentiles(m.latency), percentiles(m.first_token or [0.0])
                    rps = requests / m.seconds
                    is_agent = model != "plain"
                    rows.append(
                        [phase, model, f"{rps:.1f}", f"{lat[0]:.0f} / {lat[1]:.0f}",
                         f"{ttft[0]:.0f} / {ttft[1]:.0f}" if stream else "",
                         f"{plain.seconds / m.seconds:.2f}" if is_agent else "",
                         f"{lat[0] / percentiles(plain.latency)[0]:.2f}" if is_agent else "",
                         f"{rss[phase]:.0f}", built if is_agent else ""]
                    )  # fmt: skip
                    print(rows[-1], flush=True)
    return rows, _summary(measured, rss)


def _summary(
    measured: dict[str, dict[str, _Samples]], rss: dict[str, float]
) -> list[dict[str, Any]]:
    def ratio(phase: str, model: str = "liteagent/bot") -> float:
        return measured[phase]["plain"].seconds / measured[phase][model].seconds

    stream = measured["1 user, stream"]
    ttft = percentiles(stream["liteagent/bot"].first_token)[0]
    ttft_plain = percentiles(stream["plain"].first_token)[0]
    out: list[dict[str, Any]] = [
        {"part": "P1", "measure": "plugin throughput / plain model, 1 user", "value":
         round(ratio("1 user"), 2), "reference": 1.0, "ratio": round(ratio("1 user"), 2),
         "goal": "", "met": None},
        {"part": "P1", "measure": "plugin throughput / plain model, 1 user, stream", "value":
         round(ratio("1 user, stream"), 2), "reference": 1.0,
         "ratio": round(ratio("1 user, stream"), 2), "goal": "", "met": None},
        {"part": "P2", "measure": "time to first token p50 (ms), stream", "value": round(ttft),
         "reference": round(ttft_plain), "ratio": round(ttft / ttft_plain, 2), "goal": "",
         "met": None},
    ]  # fmt: skip
    for phase in ("100 users", "1000 users"):
        r = ratio(phase)
        out.append(
            {"part": "P6", "measure": f"plugin throughput / plain model, {phase}",
             "value": round(r, 2), "reference": 1.0, "ratio": round(r, 2),
             "goal": ">= 0.9" if phase == "1000 users" else "",
             "met": r >= 0.9 if phase == "1000 users" else None}
        )  # fmt: skip
    for phase in ("1000 users", "1000 users, tools"):
        grown = rss[phase] - rss["1 user"]
        out.append(
            {"part": "P6", "measure": f"proxy RSS growth, {phase} vs 1 user (MB)",
             "value": round(grown), "reference": round(rss["1 user"]),
             "ratio": round(rss[phase] / rss["1 user"], 2), "goal": "<= +100 MB",
             "met": grown <= 100}
        )  # fmt: skip
    tools = ratio("1000 users, tools", "liteagent/toolbot")
    out.append(
        {"part": "P6", "measure": "agent with tools (a runner per user) / plain, 1000 users",
         "value": round(tools, 2), "reference": 1.0, "ratio": round(tools, 2), "goal": "",
         "met": None}
    )  # fmt: skip
    return out


if __name__ == "__main__":
    main()
