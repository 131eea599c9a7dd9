"""`orders dev` as a user runs it: a real process, real ports, the real `temporal` CLI, Ctrl-C.

One stack boots for the module in a temporary directory (its own var/, SQLite and dev-server state);
the tests run in file order and the last one stops it with SIGINT.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from starter.temporal import temporal_binary

BOOT_TIMEOUT = 120.0
STOP_TIMEOUT = 40.0
TOKEN = "e2e-admin-token-0123456789"

@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    workdir: Path
    temporal_port: int
    api: str

    def output(self) -> str:
        return (self.workdir / "dev.out").read_text(errors="replace")

    def dev_servers(self) -> list[int]:
        """Pids of `temporal server start-dev` processes started by this stack."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                if b"start-dev" in cmdline and str(self.workdir).encode() in b" ".join(cmdline):
                    found.append(int(entry.name))
        return found


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def orders_command() -> list[str]:
    script = Path(sys.executable).parent / "orders"
    return [str(script)] if script.exists() else [sys.executable, "-m", "starter.cli"]


def boot(workdir: Path) -> Stack:
    """Start `orders dev` in `workdir` on free ports and wait until its API answers /healthz."""
    temporal_port, ui_port, api_port = free_ports(3)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ORDERS_", "TEMPORAL_")) and k != "DATABASE_URL"}
    env |= {"ORDERS_ADMIN_TOKEN": TOKEN, "DATABASE_URL": f"sqlite:///{workdir / 'var' / 'orders.db'}"}
    command = [*orders_command(), "dev", "--temporal-port", str(temporal_port), "--ui-port", str(ui_port),
               "--api-port", str(api_port), "--var-dir", str(workdir / "var")]
    with (workdir / "dev.out").open("wb") as out:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    started = Stack(process, workdir, temporal_port, f"http://127.0.0.1:{api_port}")
    deadline = time.monotonic() + BOOT_TIMEOUT
    while not _healthy(started.api):
        if process.poll() is not None or time.monotonic() > deadline:
            shut_down(started)
            pytest.fail(f"orders dev did not become healthy:\n{started.output()}")
        time.sleep(0.5)
    return started


def shut_down(stack: Stack) -> None:
    """Best effort, for a test that failed before stopping its stack: nothing may be left running."""
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGINT)
        try:
            stack.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            stack.process.kill()
            stack.process.wait()
    for pid in stack.dev_servers():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = boot(tmp_path_factory.mktemp("dev"))
    yield started
    shut_down(started)


def _healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def http(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {TOKEN}"},
                      timeout=30) as client:
        yield client


def test_the_banner_names_the_ui_the_api_and_the_tokens(stack: Stack) -> None:
    banner = stack.output()
    assert "Orders dev stack is running" in banner
    assert "/namespaces/default/workflows?query=OrderStatus%3D%22ON_HOLD%22" in banner
    assert f"{stack.api}/docs" in banner
    assert TOKEN in banner
    assert "curl -s -X POST" in banner


def test_demo_orders_are_seeded_in_every_state(http: httpx.Client) -> None:
    listed = http.get("/orders", params={"limit": 100})
    assert listed.status_code == 200, listed.text
    states = {item["status"] for item in listed.json()["items"]}
    assert {"COMPLETED", "SHIPPED", "AWAITING_PAYMENT", "ON_HOLD", "PROCESSING", "CANCELLED"} <= states
    on_hold = http.get("/orders", params={"status": "ON_HOLD"}).json()["items"]
    assert on_hold[0]["customer_id"] == "demo-corner"


def test_the_temporal_cli_finds_the_order_on_hold(stack: Stack, http: httpx.Client) -> None:
    on_hold = http.get("/orders", params={"status": "ON_HOLD"}).json()["items"]
    result = subprocess.run(
        [temporal_binary(), "workflow", "list", "--address", f"127.0.0.1:{stack.temporal_port}",
         "--query", 'OrderStatus="ON_HOLD"', "--output", "json"],
        capture_output=True, text=True, timeout=30, check=True,
    )
    ids = {wf["execution"]["workflowId"] for wf in json.loads(result.stdout or "[]")}
    assert ids == {f"order-{item['order_id']}" for item in on_hold}


def test_an_order_placed_over_http_runs_to_completion(http: httpx.Client) -> None:
    body = {
        "customer_id": "demo-acme", "payment_terms": "credit",
        "lines": [{"sku": "DEMO-LAMP", "quantity": 2}],
        "shipping_address": {"name": "Li Wei", "phone": "+86 21 5555 0100", "line1": "88 Century Avenue",
                             "city": "Shanghai", "postal_code": "200120", "country": "CN"},
    }
    created = http.post("/orders", json=body, headers={"Idempotency-Key": "e2e-1"})
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["total"] == "259.80"
    order_id = order["order_id"]

    assert _wait_for(http, order_id, "SHIPPED")["shipment"]["tracking_number"]
    receipt = http.post(f"/orders/{order_id}/receipt", json={"signed_by": "Li Wei"})
    assert receipt.status_code == 200, receipt.text
    done = _wait_for(http, order_id, "COMPLETED")
    assert done["invoice"]["amount"] == "259.80"

    actions = [entry["action"] for entry in http.get(f"/orders/{order_id}/history").json()]
    assert actions[0] == "create" and actions[-1] == "settle"


def _wait_for(http: httpx.Client, order_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view: dict[str, Any] = http.get(f"/orders/{order_id}").json()
        if view["status"] == status:
            return view
        assert time.monotonic() < deadline, f"order stayed {view['status']}, expected {status}"
        time.sleep(0.2)


def orders_cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """The operator CLI against the running stack, as a person would run it next to it."""
    env = os.environ | {"ORDERS_ADMIN_TOKEN": TOKEN, "TEMPORAL_ADDRESS": f"127.0.0.1:{stack.temporal_port}",
                        "DATABASE_URL": f"sqlite:///{stack.workdir / 'var' / 'orders.db'}"}
    env.pop("ORDERS_TOKEN", None)
    return subprocess.run([*orders_command(), *args], cwd=stack.workdir, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_the_operator_cli_approves_the_order_on_hold(stack: Stack, http: httpx.Client) -> None:
    order_id = http.get("/orders", params={"status": "ON_HOLD"}).json()["items"][0]["order_id"]
    approved = orders_cli(stack, "order", "approve", order_id, "--reason", "known customer", "--json")
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["status"] != "ON_HOLD"
    assert _wait_for(http, order_id, "SHIPPED")
    history = orders_cli(stack, "order", "history", order_id)
    assert history.returncode == 0, history.stderr
    assert "approve" in history.stdout and "known customer" in history.stdout


def test_the_operator_cli_refuses_to_cancel_a_completed_order(stack: Stack, http: httpx.Client) -> None:
    order_id = http.get("/orders", params={"status": "COMPLETED"}).json()["items"][0]["order_id"]
    refused = orders_cli(stack, "order", "cancel", order_id, "--reason", "too late")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert refused.stderr.startswith("error: ")


def test_the_operator_cli_lists_stuck_orders_and_reports(stack: Stack) -> None:
    stuck = orders_cli(stack, "stuck", "--older-than", "0", "--json")
    assert stuck.returncode == 0, stuck.stderr
    assert "AWAITING_PAYMENT" in {item["status"] for item in json.loads(stuck.stdout)["items"]}
    sales = orders_cli(stack, "report", "sales", "--group-by", "customer")
    assert sales.returncode == 0, sales.stderr
    assert "demo-globex" in sales.stdout


def test_ctrl_c_stops_the_stack_and_its_dev_server(stack: Stack) -> None:
    servers = stack.dev_servers()
    assert len(servers) == 1, servers
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(STOP_TIMEOUT) == 0, stack.output()
    assert "stopped." in stack.output()
    assert stack.dev_servers() == []
    assert not _healthy(stack.api)


def test_a_restart_keeps_orders_and_does_not_seed_twice(stack: Stack) -> None:
    assert stack.process.poll() is not None, "runs after the stack was stopped"
    restarted = boot(stack.workdir)
    try:
        with httpx.Client(base_url=restarted.api, headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=30) as http:
            items = http.get("/orders", params={"limit": 100}).json()["items"]
            assert len(items) == 7  # six demo orders and the one placed over HTTP
            placed = next(item for item in items if item["owner_id"] == "admin")
            assert http.get(f"/orders/{placed['order_id']}").json()["status"] == "COMPLETED"
        assert "already there" in restarted.output()
        assert "Demo users       (from the first run)" in restarted.output()
    finally:
        shut_down(restarted)
    assert restarted.process.returncode == 0
    assert restarted.dev_servers() == []
