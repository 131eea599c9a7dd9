"""A real HTTP endpoint for webhook tests: a tiny HTTP/1.1 server on a free local port.

Built on `asyncio.start_server`, so it runs in the test's event loop beside the worker. It answers
the first `fail_first` requests of each delivery with 500 (every request when `always_fail`), records
every request and checks nothing itself: tests verify signatures as a receiver would (`verify`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
from dataclasses import dataclass, field
from typing import Any


def verify(secret: str, body: bytes, signature: str) -> bool:
    """What a receiver does with `X-Orders-Signature` (the README's example)."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    fail_first: int = 0
    always_fail: bool = False
    requests: list[Request] = field(default_factory=list)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hooks/orders"

    @property
    def accepted(self) -> list[Request]:
        return [r for r in self.requests if 200 <= r.answered < 300]

    def events_of(self, order_id: str) -> list[dict[str, Any]]:
        return [r.event for r in self.accepted if r.event["data"]["order_id"] == order_id]

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ", 2)
            headers = {name.strip().lower(): value.strip()
                       for name, value in (line.split(":", 1) for line in head[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            delivery = headers.get("x-orders-delivery")
            tries = sum(1 for r in self.requests if r.headers.get("x-orders-delivery") == delivery)
            failing = self.always_fail or tries < self.fail_first
            status = 500 if failing else 200
            self.requests.append(Request(method, path, headers, body, status))
            text = b"receiver down for maintenance" if failing else b"ok"
            writer.write(f"HTTP/1.1 {status} {'Internal Server Error' if failing else 'OK'}\r\n"
                         f"Content-Length: {len(text)}\r\nConnection: close\r\n\r\n".encode() + text)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def dead_url() -> str:
    """A local URL nobody listens on: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/orders"
