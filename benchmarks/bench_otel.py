"""What the OpenTelemetry SDK dependency saves the proxy: the same proxy with and without it.

Run: ``uv run python benchmarks/bench_otel.py [--requests 1000] [--quick]``.

LiteLLM 1.108's key check (``user_api_key_auth._seed_request_destinations``) imports its
OpenTelemetry integration on every request; without the ``opentelemetry-sdk`` package that
import fails, and a failed import is attempted again (and fails again) each time. LiteAgent
depends on ``opentelemetry-sdk`` so the import succeeds once. This script starts two proxies
side by side on the same project: one as installed, one where ``opentelemetry.sdk`` cannot be
imported (a ``sitecustomize`` on its ``PYTHONPATH`` hides it, as if it were not installed; the
environment itself is not changed). Both serve a plain model and ``liteagent/bot`` to the same
scripted upstream; the four (proxy, model) pairs alternate in blocks of requests, 32 at a time.

Reported: requests per second and the proxy's CPU time per request (user + system, which a busy
machine disturbs less than wall time), and the proxy's connections to anything other than this
machine after the run (there must be none: having the SDK installed turns nothing on).
Results go to ``benchmarks/results/otel.{md,csv,json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

from _report import save_summary, write  # noqa: E402
from bench_startup import _project  # noqa: E402
from bench_users import BLOCK, _load, _Samples, _upstream, _wait_for  # noqa: E402
from tests.e2e.proxy import Proxy, run_proxy  # noqa: E402
from tests.servers.http import free_port  # noqa: E402

HIDE_SDK = '''"""Benchmark shim: ``opentelemetry.sdk`` cannot be imported (as if not installed)."""
import sys


class _HideOtelSdk:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry.sdk" or name.startswith("opentelemetry.sdk."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _HideOtelSdk())
'''


def _cpu_seconds(proxy: Proxy) -> float:
    import psutil

    proc = psutil.Process(proxy.process.pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        t = p.cpu_times()
        total += t.user + t.system
    return total


def _remote_hosts(proxy: Proxy) -> set[str]:
    import psutil

    proc = psutil.Process(proxy.process.pid)
    hosts = set()
    for p in [proc, *proc.children(recursive=True)]:
        for c in p.net_connections(kind="inet"):
            if c.raddr and c.raddr.ip not in ("127.0.0.1", "::1"):
                hosts.add(c.raddr.ip)
    return hosts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="per proxy and model")
    parser.add_argument("--quick", action="store_true", help="400 requests per proxy and model")
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
        rows, summary = _measure(f"http://127.0.0.1:{port}/v1", args.requests)
    finally:
        upstream.terminate()
        upstream.join(timeout=10)
    header = ["proxy", "model", "req/s", "proxy CPU ms / request",
              "throughput with / without SDK", "CPU with / without SDK"]  # fmt: skip
    notes = f"""
{args.requests} non-streaming requests per proxy and model, 32 at a time; the two proxies run
at the same time and the four (proxy, model) pairs alternate in blocks of {BLOCK}. "without the
SDK" is the same installation with `opentelemetry.sdk` hidden from the proxy's interpreter.
"""
    write("otel", "LiteLLM's key check with and without opentelemetry-sdk", header, rows, notes)
    save_summary("otel", summary)


def _measure(upstream: str, requests: int) -> tuple[list[list[Any]], list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as tmp:
        project = _project(Path(tmp), upstream)
        shim = Path(tmp) / "hide_otel_sdk"
        shim.mkdir()
        (shim / "sitecustomize.py").write_text(HIDE_SDK)
        pythonpath = os.pathsep.join(p for p in [str(shim), os.environ.get("PYTHONPATH")] if p)
        db = {"LITEAGENT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/liteagent.db"}
        models = ["plain", "liteagent/bot"]
        samples: dict[tuple[str, str], _Samples] = {}
        cpu: dict[tuple[str, str], float] = {}
        with (
            run_proxy(project, db, wait_for="liteagent/bot") as with_sdk,
            run_proxy(project, {**db, "PYTHONPATH": pythonpath}, wait_for="liteagent/bot") as bare,
        ):
            proxies = {"with the SDK": with_sdk, "without the SDK": bare}
            for name, proxy in proxies.items():  # warm both paths of both proxies
                for model in models:
                    asyncio.run(_load(proxy, model, range(100), 1, False, _Samples()))
                    samples[name, model], cpu[name, model] = _Samples(), 0.0
            for start in range(0, requests, BLOCK):
                block = range(start, min(start + BLOCK, requests))
                for model in models:
                    for name, proxy in proxies.items():
                        before = _cpu_seconds(proxy)
                        got = samples[name, model]
                        got.seconds += asyncio.run(_load(proxy, model, block, 1, False, got))
                        cpu[name, model] += _cpu_seconds(proxy) - before
            remote = _remote_hosts(with_sdk) | _remote_hosts(bare)
    rows: list[list[Any]] = []
    summary: list[dict[str, Any]] = []
    for model in models:
        for name in ("with the SDK", "without the SDK"):
            s = samples[name, model]
            rows.append([name, model, f"{requests / s.seconds:.1f}",
                         f"{cpu[name, model] / requests * 1e3:.2f}", "", ""])  # fmt: skip
        speed = samples["without the SDK", model].seconds / samples["with the SDK", model].seconds
        cost = cpu["with the SDK", model] / cpu["without the SDK", model]
        rows[-2][4], rows[-2][5] = f"{speed:.2f}", f"{cost:.2f}"
        summary.append(
            {"part": "OTel", "measure": f"{model}: throughput with / without opentelemetry-sdk",
             "value": round(speed, 2), "reference": 1.0, "ratio": round(speed, 2), "goal": "",
             "met": None}
        )  # fmt: skip
        summary.append(
            {"part": "OTel", "measure": f"{model}: proxy CPU per request with / without the SDK",
             "value": round(cost, 2), "reference": 1.0, "ratio": round(cost, 2), "goal": "",
             "met": None}
        )  # fmt: skip
    rows.append(["connections to other hosts", "", str(len(remote)), "", "", ""])
    summary.append(
        {"part": "OTel", "measure": "proxy connections to other hosts (SDK installed)",
         "value": len(remote), "reference": 0, "ratio": "", "goal": "none",
         "met": not remote}
    )  # fmt: skip
    return rows, summary


if __name__ == "__main__":
    main()
