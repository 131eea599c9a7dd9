"""Worker subprocesses on a unique task queue, PostgreSQL row locks, bounded waits.

The worker under test is the production entry point, `python worker.py`, configured only through the
environment (DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE). Its PostgreSQL connections carry
the application name PGAPPNAME (libpq reads it), so a test can find them in pg_stat_activity: to see
that an activity is blocked on a lock, or to terminate them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from db.migrate import upgrade
from db.session import make_engine, make_sessionmaker

ROOT = Path(__file__).resolve().parents[2]
WORKER_READY_TIMEOUT = 20.0

T = TypeVar("T")


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL of a PostgreSQL database as psycopg/libpq spell it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float, what: str,
                     interval: float = 0.1) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)


async def bounded(awaitable: Awaitable[T], timeout: float, what: str) -> T:
    """Await with a deadline; fail naming `what` instead of hanging the suite."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}") from None


async def finished(handle: WorkflowHandle[Any, T], timeout: float = 30.0) -> T:
    """The workflow's result within `timeout`; on timeout, fail showing what it is stuck on."""
    try:
        return await asyncio.wait_for(handle.result(), timeout)
    except TimeoutError:
        pending = (await handle.describe()).raw_description.pending_activities
        stuck = "; ".join(f"{p.activity_type.name} attempt {p.attempt}: {p.last_failure.message}"
                          f"{' / ' + p.last_failure.cause.message if p.last_failure.cause.message else ''}"
                          for p in pending) or "no pending activity"
        raise AssertionError(f"{handle.id} not finished after {timeout:.0f}s ({stuck})") from None


async def running_activities(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """Activity types of the workflow that a worker has started and not yet finished."""
    description = await handle.describe()
    return [pending.activity_type.name for pending in description.raw_description.pending_activities
            if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED]


class Workers:
    """Starts `python worker.py` processes on one task queue; `close()` kills any still running."""

    def __init__(self, env: dict[str, str], log_dir: Path, app_name: str) -> None:
        self.env = env
        self.task_queue = env["TEMPORAL_TASK_QUEUE"]
        self.app_name = app_name
        self._log_dir = log_dir
        self._processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = self._log_dir / f"worker-{len(self._processes) + 1}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=self.env,
                                       stdout=out, stderr=subprocess.STDOUT)
        self._processes.append((process, log))
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        while b"worker started" not in log.read_bytes():
            if process.poll() is not None:
                raise AssertionError(f"worker exited with {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                self.kill(process)
                raise AssertionError(f"worker not ready after {WORKER_READY_TIMEOUT:.0f}s:\n"
                                     f"{log.read_text()}")
            time.sleep(0.05)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """kill -9: no graceful shutdown, no chance to report running activities."""
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(f"--- {log.name} ---\n{log.read_text(errors='replace')}"
                         for _, log in self._processes if log.exists())

    def close(self) -> None:
        for process, _ in self._processes:
            self.kill(process)
        # Captured by pytest, so shown only when a test fails: what the workers were doing.
        sys.stderr.write(self.logs()[-20000:])


@contextmanager
def worker_pool(temporal_env: WorkflowEnvironment, database_url: str, log_dir: Path) -> Iterator[Workers]:
    """Workers on a fresh task queue against `database_url`; every process is killed on exit."""
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    app_name = f"worker-{queue}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": temporal_env.client.namespace,
        "TEMPORAL_TASK_QUEUE": queue,
        "PGAPPNAME": app_name,
    }
    env.pop("ORDERS_METRICS_PORT", None)
    pool = Workers(env, log_dir, app_name)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="session")
def pg_url(pg_database: str) -> str:
    upgrade(pg_database)
    return pg_database


@pytest.fixture(scope="session")
def pg_sessions(pg_url: str) -> sessionmaker[Session]:
    return make_sessionmaker(make_engine(pg_url))


@pytest.fixture
def workers(temporal_env: WorkflowEnvironment, pg_url: str, tmp_path: Path) -> Iterator[Workers]:
    with worker_pool(temporal_env, pg_url, tmp_path) as pool:
        yield pool


class RowLock:
    """A row held with SELECT ... FOR UPDATE in its own transaction, until `release()`."""

    def __init__(self, url: str, table: str, key_column: str, key: str) -> None:
        self._conn = psycopg.connect(libpq_url(url))
        self._conn.execute(f"SELECT 1 FROM {table} WHERE {key_column} = %s FOR UPDATE", (key,))
        self.held = True

    def release(self) -> None:
        if self.held:
            self._conn.rollback()
            self._conn.close()
            self.held = False


@contextmanager
def row_lock(url: str, table: str, key_column: str, key: str) -> Iterator[RowLock]:
    lock = RowLock(url, table, key_column, key)
    try:
        yield lock
    finally:
        lock.release()


def worker_backends(url: str, app_name: str, *, waiting_on_lock: bool = False) -> list[int]:
    """PIDs of the worker's PostgreSQL backends (optionally only those waiting for a lock)."""
    query = "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()"
    if waiting_on_lock:
        query += " AND wait_event_type = 'Lock'"
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        return [pid for (pid,) in conn.execute(query, (app_name,))]


def terminate_backends(url: str, app_name: str) -> int:
    """pg_terminate_backend on every connection of the worker; how many were cut."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database()", (app_name,)).fetchall()
    return sum(1 for (done,) in rows if done)
