"""Each API request logs one JSON line that carries its request id (also echoed to the caller)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from starter.logs import configure_logging
from workflows.rules import Role


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    yield stream
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


async def test_a_request_is_logged_with_its_request_id(
    api: httpx.AsyncClient, tokens: dict[Role, dict[str, str]], json_log: io.StringIO,
) -> None:
    answer = await api.get("/customers/NOBODY", headers={**tokens[Role.ADMIN], "X-Request-ID": "req-4711"})

    assert answer.status_code == 404
    assert answer.headers["X-Request-ID"] == "req-4711"
    lines = [json.loads(line) for line in json_log.getvalue().splitlines() if line.startswith("{")]
    [logged] = [line for line in lines if line.get("event") == "request"]
    assert logged["request_id"] == "req-4711"
    assert (logged["method"], logged["path"], logged["status"]) == ("GET", "/customers/NOBODY", 404)
