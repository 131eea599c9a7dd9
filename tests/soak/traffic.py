"""The soak's clients: the people and master data they use, and the calls they make, each recorded.

Every HTTP answer is kept (`Answer`) so the test can check afterwards that each one was documented
(no 5xx), that each refusal had the error shape, and that each deliberate probe got what it should.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.api.conftest import ADMIN_TOKEN, Person, add_person, bearer
from tests.api.support import ADDRESS, new_id
from workflows.rules import Role

TERMINAL = frozenset({"COMPLETED", "CANCELLED"})
TIMED = frozenset({"AWAITING_PAYMENT", "SHIPPED", "DELIVERED"})  # a timer moves them on
POLL_INTERVAL = 0.2
REACH_TIMEOUT = 30.0
COMMANDS = {"edit": ("PATCH", ""), "status": ("POST", "/status"), "cancel": ("POST", "/cancel"),
            "approve": ("POST", "/approve"), "reject": ("POST", "/reject"), "pay": ("POST", "/payment"),
            "receipt": ("POST", "/receipt")}


@dataclass(frozen=True)
class Answer:
    what: str  # "create", a command name, "get", "history", "stock"
    order_id: str | None
    status: int
    body: Any
    expect: frozenset[int] | None  # a probe: the statuses it may get


class Recorder:
    """An httpx client that records every answer."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.answers: list[Answer] = []

    async def call(self, what: str, method: str, path: str, who: Person, *, order_id: str | None = None,
                   json: Any = None, params: dict[str, str] | None = None,
                   expect: set[int] | None = None) -> httpx.Response:
        response = await self.http.request(method, path, json=json, params=params, headers=who.headers)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        self.answers.append(Answer(what, order_id, response.status_code, body,
                                   frozenset(expect) if expect is not None else None))
        return response


@dataclass(frozen=True)
class Cast:
    admin: Person
    sales: list[Person]
    managers: list[Person]
    finance: Person
    warehouse: Person
    system: Person

    @classmethod
    async def hire(cls, http: httpx.AsyncClient) -> Cast:
        async def hire(role: Role, n: int) -> list[Person]:
            return [await add_person(http, role, f"soak {role.value} {i}") for i in range(n)]

        return cls(admin=Person("admin", bearer(ADMIN_TOKEN)), sales=await hire(Role.SALES, 3),
                   managers=await hire(Role.MANAGER, 2), finance=(await hire(Role.FINANCE, 1))[0],
                   warehouse=(await hire(Role.WAREHOUSE, 1))[0], system=(await hire(Role.SYSTEM, 1))[0])


@dataclass
class Catalog:
    """Shared master data; orders that need a credit limit or stock of their own get it on the fly."""

    roomy: list[str]  # customers whose limit no soak order reaches
    tight: str  # every order of this customer is over its limit
    widget: str  # 129.90, plenty
    gadget: str  # 10.00, plenty
    bulk: str  # 999.00: six of them are above the approval threshold
    contended: str  # 7.50, not enough for every order that asks: some are held short
    skus: list[str] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)

    @classmethod
    async def create(cls, api: Recorder, admin: Person, orders: int) -> Catalog:
        roomy = [await customer(api, admin, "100000000") for _ in range(3)]
        tight = await customer(api, admin, "100")
        widget = await product(api, admin, "129.90", 1_000_000)
        gadget = await product(api, admin, "10.00", 1_000_000)
        bulk = await product(api, admin, "999.00", 1_000_000)
        contended = await product(api, admin, "7.50", max(10, orders // 5))
        return cls(roomy, tight, widget, gadget, bulk, contended,
                   skus=[widget, gadget, bulk, contended], customers=[*roomy, tight])

    async def own_customer(self, api: Recorder, admin: Person, credit_limit: str) -> str:
        self.customers.append(found := await customer(api, admin, credit_limit))
        return found

    async def own_product(self, api: Recorder, admin: Person, on_hand: int) -> str:
        self.skus.append(found := await product(api, admin, "25.00", on_hand))
        return found


async def customer(api: Recorder, admin: Person, credit_limit: str) -> str:
    customer_id = new_id("SOAK-C")
    created = await api.call("customer", "POST", "/customers", admin,
                             json={"id": customer_id, "name": "Soak customer", "credit_limit": credit_limit})
    assert created.status_code == 201, created.text
    return customer_id


async def product(api: Recorder, admin: Person, price: str, on_hand: int) -> str:
    sku = new_id("SOAK-P")
    body = {"sku": sku, "name": "Soak product", "unit_price": price, "on_hand": on_hand}
    created = await api.call("product", "POST", "/products", admin, json=body)
    assert created.status_code == 201, created.text
    return sku


def order_body(customer_id: str, lines: dict[str, int], *, terms: str, fulfillment: str) -> dict[str, Any]:
    return {"customer_id": customer_id, "lines": [{"sku": k, "quantity": q} for k, q in lines.items()],
            "shipping_address": ADDRESS, "payment_terms": terms, "fulfillment": fulfillment}


class Orders:
    """What a client does with orders: create, read, wait for a status, send commands."""

    def __init__(self, api: Recorder, cast: Cast) -> None:
        self.api = api
        self.cast = cast
        self.created: dict[str, str] = {}  # order id → scenario
        self.gave_up: list[str] = []

    async def create(self, scenario: str, who: Person, body: dict[str, Any]) -> dict[str, Any] | None:
        answer = await self.api.call("create", "POST", "/orders", who, json=body, expect={201})
        if answer.status_code != 201:
            return None
        view: dict[str, Any] = answer.json()
        self.created[view["order_id"]] = scenario
        return view

    async def get(self, order_id: str) -> dict[str, Any] | None:
        answer = await self.api.call("get", "GET", f"/orders/{order_id}", self.cast.admin, order_id=order_id)
        return answer.json() if answer.status_code == 200 else None

    async def reach(self, order_id: str, *wanted: str, timeout: float = REACH_TIMEOUT) -> dict[str, Any]:
        """Poll until the order is in one of `wanted`, finished, or held when no hold was wanted
        (a hold waits for a person or a timer); after `timeout`, the last view."""
        deadline = asyncio.get_running_loop().time() + timeout
        last: dict[str, Any] = {"order_id": order_id, "status": "?"}
        while True:
            view = await self.get(order_id)
            if view is not None:
                last = view
                status = view["status"]
                held = status == "ON_HOLD" and "ON_HOLD" not in wanted
                if status in wanted or status in TERMINAL or held:
                    return view
            if asyncio.get_running_loop().time() > deadline:
                return last
            await asyncio.sleep(POLL_INTERVAL)

    async def send(self, name: str, order_id: str, who: Person, body: dict[str, Any] | None = None, *,
                   expect: set[int] | None = None, wait: bool = True) -> httpx.Response:
        method, suffix = COMMANDS[name]
        return await self.api.call(name, method, f"/orders/{order_id}{suffix}", who, order_id=order_id,
                                   json=body if body is not None else {}, expect=expect,
                                   params=None if wait else {"wait": "false"})

    async def give_up(self, view: dict[str, Any], why: str) -> None:
        """The script could not go on (the order took another path). A timer ends it when one runs
        (payment window, receipt auto-confirm, a stock hold's timeout); otherwise cancel it, so no
        order is left waiting for a person who will never come."""
        status, reason = view["status"], view.get("hold_reason") or ""
        if status in TIMED or status in TERMINAL or reason.startswith("insufficient_stock"):
            return
        self.gave_up.append(view["order_id"])
        await self.send("cancel", view["order_id"], self.cast.admin, {"reason": f"soak gave up: {why}"},
                        expect={200, 409})
