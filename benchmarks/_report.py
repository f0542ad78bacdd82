"""Shared helpers of the benchmark scripts: percentiles, tables and the results folder.

Every script prints its table and writes it to ``benchmarks/results/<name>.md`` and ``.csv``,
its headline figures to ``<name>.json`` (which ``run_all.py`` gathers into ``report.md``), and
draws ``<name>.png`` with matplotlib (in the ``dev`` dependency group).
"""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    """p50 and p95 of ``samples_ms``."""
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def markdown(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write(name: str, title: str, header: list[str], rows: list[list[Any]], notes: str) -> str:
    """Print and save one table; returns the markdown."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = f"## {title}\n\n{markdown(header, rows)}\n\n{notes.strip()}\n"
    (RESULTS / f"{name}.md").write_text(text)
    with (RESULTS / f"{name}.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        out.writerows(rows)
    print(text)
    return text


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` with its children (psutil when installed, else the
    process alone from Linux's /proc)."""
    try:
        import psutil
    except ImportError:
        status = Path(f"/proc/{pid}/status").read_text()
        kb = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
        return int(kb) / 1e3
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 1e6


def save_summary(name: str, entries: list[dict[str, Any]]) -> None:
    """The script's headline figures for the suite's summary: each entry has ``part``,
    ``measure``, ``value``, ``reference``, ``ratio``, ``goal`` and ``met`` (``None``: no goal)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(entries, indent=1))


def bar_chart(name: str, title: str, labels: list[str], values: list[float], unit: str) -> None:
    """``<name>.png`` (matplotlib, from the ``dev`` group; without it only the tables)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"(matplotlib is not installed: no {name}.png; the .md and .csv have the figures)")
        return
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.4 * len(labels)))
    ax.barh(labels, values)
    ax.set_xlabel(unit)
    ax.set_title(title)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=100)
    plt.close(fig)
