"""Worker processes as an SRE runs them: `python worker.py` with environment variables, JSON logs on
stderr, SIGTERM to stop. Every wait is bounded; every process is killed at teardown if still alive."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from db.migrate import upgrade
from db.session import make_engine, make_sessionmaker

ROOT = Path(__file__).parent.parent.parent
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (anything else, e.g. a crash trace, is skipped)."""
        found = []
        for line in self.text().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    found.append(record)
        return found

    def events(self, event: str) -> list[dict[str, Any]]:
        return [record for record in self.records() if record.get("event") == event]

    async def wait_for(self, event: str, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        """The first log record with this event; fails if the worker exits or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            if found := self.events(event):
                return found[0]
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode} before "
                                     f"{event!r}:\n{self.text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {event!r} within {timeout} s:\n{self.text()[-3000:]}")
            await asyncio.sleep(0.05)

    async def identity(self) -> str:
        """The worker's identity (pid@host), as it logs it at start."""
        identity: str = (await self.wait_for("worker started"))["identity"]
        return identity

    async def terminate(self, timeout: float) -> int:
        """SIGTERM, then wait up to `timeout` for the exit code; SIGKILL and fail if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"worker ignored SIGTERM for {timeout} s:\n{self.text()[-3000:]}")
            await asyncio.sleep(0.05)
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class Workers:
    """Starts worker processes against the test dev server; kills leftovers at teardown."""

    def __init__(self, temporal_env: WorkflowEnvironment, tmp_path: Path) -> None:
        self.address = temporal_env.client.service_client.config.target_host
        self.tmp_path = tmp_path
        self.started: list[WorkerProcess] = []

    def start(self, task_queue: str, database_url: str, *, module: str | None = None,
              **env: str) -> WorkerProcess:
        """`python worker.py` (or `python -m <module>`) with a clean environment plus `env`."""
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("ORDERS_", "TEMPORAL_")) and k != "DATABASE_URL"}
        full = base | {
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": self.address,
            "TEMPORAL_NAMESPACE": "default",
            "TEMPORAL_TASK_QUEUE": task_queue,
            "ORDERS_LOG_FORMAT": "json",
            "ORDERS_LOG_LEVEL": "INFO",
            "ORDERS_DRAIN_TIMEOUT": "10s",
        } | env
        log_path = self.tmp_path / f"worker-{len(self.started)}-{uuid.uuid4().hex[:6]}.log"
        command = [sys.executable, "-m", module] if module else [sys.executable, str(ROOT / "worker.py")]
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=full, stdout=log, stderr=subprocess.STDOUT)
        worker = WorkerProcess(process, log_path, full)
        self.started.append(worker)
        return worker

    def kill_all(self) -> None:
        for worker in self.started:
            worker.kill()


@pytest.fixture
def workers(temporal_env: WorkflowEnvironment, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(temporal_env, tmp_path)
    yield started
    started.kill_all()


@pytest.fixture
def ops_database(tmp_path: Path) -> tuple[str, sessionmaker[Session]]:
    """A migrated SQLite file of its own: worker processes and the test share it (WAL, busy timeout)."""
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    upgrade(url)
    return url, make_sessionmaker(make_engine(url))


def task_queue() -> str:
    return f"orders-ops-{uuid.uuid4().hex[:8]}"
