"""The benchmark suite: every measure of issue 16 in one run, and one report.

Run: ``uv run nox -s bench`` (or ``uv run python benchmarks/run_all.py [--quick]``).

Runs each benchmark script in its own process, one after the other (each measures LiteAgent
side by side with its reference, see the scripts' docs), then writes
``benchmarks/results/report.md``: the machine and its load, a summary of the ratios and goals,
then each script's table, with the plots (``*.png``) beside it. ``--quick`` sizes every script
down (fewer requests, queries and rounds; the 100k-chunk retrieval and pgvector at 20k rows)
for a first look; the figures of record come from a full run.

| part | script |
|---|---|
| P1 plugin overhead, P2 time to first token, P6 users | ``bench_users.py`` |
| P3 BM25 / vector / hybrid at 10k and 100k chunks | ``bench_retrieval.py`` |
| P4 proxy cold start, import times | ``bench_startup.py`` |
| P5 local model tokens/s | ``bench_local.py`` |
| P7 pgvector bulk load and HNSW search | ``bench_pgvector.py`` |
| LiteLLM's key check with and without opentelemetry-sdk | ``bench_otel.py`` |
| the resilience layer vs a direct provider call | ``bench_fallback.py`` |
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SCRIPTS = [
    ("retrieval", "bench_retrieval.py"),
    ("users", "bench_users.py"),
    ("otel", "bench_otel.py"),
    ("startup", "bench_startup.py"),
    ("local", "bench_local.py"),
    ("pgvector", "bench_pgvector.py"),
    ("fallback", "bench_fallback.py"),
]


def _load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.1f} / {five:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads, same measures")
    parser.add_argument("--only", default="", help="comma-separated names, e.g. users,local")
    args = parser.parse_args()
    chosen = [s for s in SCRIPTS if not args.only or s[0] in args.only.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    # Everything runs with bytecode compiled, as the container image ships it (built with
    # UV_COMPILE_BYTECODE=1): without it a module is compiled again by every process that
    # imports it, and every import a proxy retries per request costs a compilation.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    loads = [f"start {_load()}"]
    timings: list[tuple[str, float, int]] = []
    for name, script in chosen:
        print(f"== {script}", flush=True)
        t0 = time.perf_counter()
        argv = [sys.executable, str(HERE / script), *(["--quick"] if args.quick else [])]
        code = subprocess.run(argv, env=env, check=False).returncode  # noqa: S603 - our scripts
        timings.append((name, time.perf_counter() - t0, code))
        loads.append(f"after {name} {_load()}")
    total = time.perf_counter() - started
    _report(chosen, timings, loads, total, args.quick)
    failed = [n for n, _, code in timings if code]
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)} (see their output above)")


def _report(
    chosen: list[tuple[str, str]],
    timings: list[tuple[str, float, int]],
    loads: list[str],
    total: float,
    quick: bool,
) -> None:
    # the report covers every script with results, also those run by an earlier invocation
    ran = {name for name, _ in chosen}
    chosen = [s for s in SCRIPTS if s[0] in ran or (RESULTS / f"{s[0]}.md").exists()]
    summary: list[dict[str, Any]] = []
    for name, _ in chosen:
        path = RESULTS / f"{name}.json"
        if path.exists():
            summary += json.loads(path.read_text())
    lines = [
        "# LiteAgent benchmark report",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC{' (--quick)' if quick else ''}, "
        f"{total / 60:.1f} minutes; {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}.",
        f"Load average (1 / 5 min) during the run: {'; '.join(loads)}. Each measure runs "
        "LiteAgent and its reference side by side under the same load: read the ratios.",
        "",
        "## Summary",
        "",
        "| part | measure | LiteAgent | reference | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in summary:
        met = {True: "yes", False: "**no**", None: ""}[e.get("met")]
        lines.append(
            f"| {e['part']} | {e['measure']} | {e['value']} | {e['reference']} | {e['ratio']} "
            f"| {e['goal']} | {met} |"
        )
    spent = ", ".join(f"{n} {s:.0f} s{' (FAILED)' if code else ''}" for n, s, code in timings)
    earlier = [n for n, _ in chosen if n not in ran]
    lines += ["", f"Time per script: {spent}."]
    if earlier:
        lines += [f"Not run by this invocation (figures of an earlier one): {', '.join(earlier)}."]
    lines += [""]
    for name, _ in chosen:
        table = RESULTS / f"{name}.md"
        if table.exists():
            lines += [table.read_text().strip(), ""]
        if (RESULTS / f"{name}.png").exists():
            lines += [f"![{name}]({name}.png)", ""]
    (RESULTS / "report.md").write_text("\n".join(lines))
    print("\n".join(lines[: 10 + len(summary)]))
    print(f"report: {RESULTS / 'report.md'}")


if __name__ == "__main__":
    main()
