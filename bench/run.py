"""One benchmark run: its temp dir, orders database, dev server, worker processes, progress lines."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client

from bench.procs import Child, python
from bench.seed import Catalog


@dataclass(frozen=True)
class Config:
    orders: int  # whole orders per measured round of phase 1
    scale_orders: int  # whole orders per measured round of phase 4
    concurrency: int  # orders in flight
    manual_orders: int  # orders waiting in PROCESSING that take the updates of phase 2
    samples: int  # updates timed, idle and again under load
    load_seconds: float  # ... but under load for no longer than this
    memory_levels: tuple[int, ...]  # open orders at which the worker's RSS is read
    warmup: int = 10


QUICK = Config(orders=30, scale_orders=30, concurrency=10, manual_orders=5, samples=40, load_seconds=15,
               memory_levels=(100, 200))
# Opening an order costs ~0.2 s of CPU (server and worker) on this 2-core machine; 4000 of them take
# 8-15 min alone, so the default stops at 2000 (past the sticky cache); --memory 1000,2000,4000 for all.
FULL = Config(orders=200, scale_orders=100, concurrency=50, manual_orders=20, samples=200, load_seconds=45,
              memory_levels=(1000, 2000))


@dataclass
class Row:
    measure: str
    value: str
    target: str = ""


@dataclass
class Run:
    config: Config
    workdir: Path
    database_url: str
    address: str
    client: Client
    server: Child
    catalog: Catalog
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    began: float = field(default_factory=time.monotonic)

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.began:5.0f}s] {message}", flush=True)

    def row(self, measure: str, value: str, target: str = "") -> None:
        self.rows.append(Row(measure, value, target))

    def worker(self, task_queue: str, *, bare: bool = False, name: str = "") -> Child:
        """A worker subprocess: `python worker.py`, or the bare workflow's worker."""
        argv = python("-m", "bench.bare_worker") if bare else python("worker.py")
        label = name or f"{'bare' if bare else 'order'} worker ({task_queue})"
        env = {"DATABASE_URL": self.database_url, "TEMPORAL_ADDRESS": self.address,
               "TEMPORAL_TASK_QUEUE": task_queue}
        log = self.workdir / f"{label.replace(' ', '-').replace('(', '').replace(')', '')}.log"
        return Child(label, argv, log, env)


def target(met: bool, text: str) -> str:
    return f"{text} {'✅' if met else '❌'}"
