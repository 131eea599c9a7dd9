"""The benchmark's subprocesses (dev server, worker processes) and what /proc says about them.

Every child dies with us: it is started with PR_SET_PDEATHSIG, recorded in `CHILDREN`, and
`stop_all()` (called from `finally` and atexit) terminates the ones still running, by pid.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1

CHILDREN: list[Child] = []


def cpu_seconds(pid: int | str = "self") -> float:
    """utime + stime of a process (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # the name may contain spaces; skip past it
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """One subprocess with its output in a log file."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, cwd=PROJECT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
                preexec_fn=_die_with_parent,
            )
        CHILDREN.append(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> float:
        return rss_mib(self.pid)

    def check(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; log {self.log}:\n{tail}")

    def stop(self, timeout: float = 40) -> None:
        if self in CHILDREN:  # first, so that `watch()` does not report a deliberate stop
            CHILDREN.remove(self)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def watch() -> None:
    """Fail the run as soon as a child dies, instead of waiting for orders nobody works on."""
    while True:
        for child in list(CHILDREN):
            child.check()
        await asyncio.sleep(0.5)


def stop_all() -> None:
    for child in reversed(list(CHILDREN)):
        child.stop(timeout=10)


atexit.register(stop_all)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]

