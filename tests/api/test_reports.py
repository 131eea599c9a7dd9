"""Reports over the read model and the audit trail: sales, cancellations, corrections, stuck orders.

Most tests write read-model rows directly with chosen times, owned by a fresh sales person (who sees
only their own orders), so they are exact whatever else the session's database holds.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from db.models import AuditEvent, Order, OrderLine
from tests.api.conftest import Person, add_person
from tests.api.support import make_catalog, order_body, wait_for
from workflows.rules import Role

T0 = datetime(2001, 3, 1, 9, 0, tzinfo=UTC)


class Seeder:
    def __init__(self, sessions: sessionmaker[Session], owner: str) -> None:
        self.sessions = sessions
        self.owner = owner

    def order(self, status: str, *, created: datetime, updated: datetime | None = None,
              customer: str = "C-A", lines: tuple[tuple[str, int, str], ...] = (("SKU-A", 1, "10.00"),),
              cancel_reason: str | None = None, fulfillment: str = "auto", needs_attention: bool = False,
              **view: Any) -> str:
        order_id = uuid.uuid4().hex
        total = sum((Decimal(amount) for _, _, amount in lines), Decimal(0))
        with self.sessions.begin() as session:
            session.add(Order(
                order_id=order_id, status=status, version=1, revision=1, customer_id=customer,
                owner_id=self.owner, total=total, currency="CNY", payment_terms="credit",
                fulfillment=fulfillment, needs_attention=needs_attention,
                attention_reason="refund failing" if needs_attention else None, cancel_reason=cancel_reason,
                view={"order_id": order_id, **view}, created_at=created, updated_at=updated or created))
            session.flush()
            for sku, quantity, amount in lines:
                session.add(OrderLine(order_id=order_id, sku=sku, quantity=quantity,
                                      unit_price=Decimal(amount), discount_pct=Decimal(0),
                                      amount=Decimal(amount)))
        return order_id

    def audit(self, order_id: str, action: str, at: datetime, changes: dict[str, Any],
              *, actor: str | None = None, accepted: bool = True, reason: str | None = None) -> None:
        with self.sessions.begin() as session:
            session.add(AuditEvent(id=str(uuid.uuid4()), order_id=order_id, at=at, actor=actor or self.owner,
                                   role="sales", action=action, accepted=accepted, from_status="PROCESSING",
                                   to_status="PROCESSING", changes=changes, reason=reason))


@pytest.fixture
async def seller(api: httpx.AsyncClient) -> Person:
    return await add_person(api, Role.SALES, "report seller")


@pytest.fixture
def seed(sqlite_sessions: sessionmaker[Session], seller: Person) -> Seeder:
    return Seeder(sqlite_sessions, seller.id)


async def report(api: httpx.AsyncClient, path: str, person: Person) -> Any:
    answer = await api.get(path, headers=person.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_sales_by_day_customer_and_sku_count_completed_orders_in_cents(
    api: httpx.AsyncClient, seed: Seeder, seller: Person
) -> None:
    day1, day2 = T0, T0 + timedelta(days=1, hours=14)  # 2001-03-01 09:00, 2001-03-02 23:00
    seed.order("COMPLETED", created=day1, customer="C-A", lines=(("SKU-A", 1, "0.10"), ("SKU-B", 2, "0.20")))
    seed.order("COMPLETED", created=day1, updated=day2, customer="C-B", lines=(("SKU-A", 3, "129.90"),))
    seed.order("SHIPPED", created=day1, customer="C-A", lines=(("SKU-A", 9, "99.00"),))
    seed.order("CANCELLED", created=day1, customer="C-A", lines=(("SKU-A", 9, "99.00"),))
    seed.order("COMPLETED", created=T0 + timedelta(days=2), customer="C-A")  # after the period

    base = "/reports/sales?from=2001-03-01&to=2001-03-02"
    by_day = await report(api, f"{base}&group_by=day", seller)
    assert [(r["key"], r["orders"], r["quantity"], r["total"]) for r in by_day["rows"]] == [
        ("2001-03-01", 1, 3, "0.30"), ("2001-03-02", 1, 3, "129.90")]
    assert (by_day["orders"], by_day["quantity"], by_day["total"]) == (2, 6, "130.20")
    assert (by_day["from"], by_day["to"]) == ("2001-03-01T00:00:00Z", "2001-03-03T00:00:00Z")
    by_customer = await report(api, f"{base}&group_by=customer", seller)
    assert {r["key"]: r["total"] for r in by_customer["rows"]} == {"C-A": "0.30", "C-B": "129.90"}
    by_sku = await report(api, f"{base}&group_by=sku", seller)
    assert {r["key"]: (r["orders"], r["quantity"], r["total"]) for r in by_sku["rows"]} == {
        "SKU-A": (2, 4, "130.00"), "SKU-B": (1, 2, "0.20")}


async def test_a_datetime_period_is_exact(api: httpx.AsyncClient, seed: Seeder, seller: Person) -> None:
    seed.order("COMPLETED", created=T0)
    inside = await report(api, "/reports/sales?from=2001-03-01T09:00:00Z&to=2001-03-01T09:00:01Z", seller)
    outside = await report(api, "/reports/sales?from=2001-03-01T08:00:00&to=2001-03-01T09:00:00", seller)
    assert (inside["orders"], outside["orders"]) == (1, 0)


async def test_cancellations_give_the_rate_and_reasons_by_code(
    api: httpx.AsyncClient, seed: Seeder, seller: Person
) -> None:
    for reason in ("payment_timeout", "payment_timeout", "rejected: credit too risky",
                   "  Customer changed   MIND ", "hold_timeout"):
        seed.order("CANCELLED", created=T0, cancel_reason=reason)
    for status in ("COMPLETED", "SHIPPED", "PROCESSING"):
        seed.order(status, created=T0)
    seed.order("CANCELLED", created=T0, cancel_reason="invalid_order: sku X is not active")  # never accepted
    result = await report(api, "/reports/cancellations?from=2001-03-01&to=2001-03-01", seller)
    assert (result["orders"], result["cancelled"], result["rate"]) == (8, 5, 0.625)
    assert result["by_reason"] == {"payment_timeout": 2, "rejected": 1, "customer changed mind": 1,
                                   "hold_timeout": 1}
    empty = await report(api, "/reports/cancellations?from=1999-01-01&to=1999-01-02", seller)
    assert (empty["orders"], empty["cancelled"], empty["rate"], empty["by_reason"]) == (0, 0, 0.0, {})


async def test_corrections_count_edits_by_field_and_by_user_and_the_refused_ones(
    api: httpx.AsyncClient, seed: Seeder, seller: Person
) -> None:
    first, second = seed.order("PROCESSING", created=T0), seed.order("SHIPPED", created=T0)
    at = T0 + timedelta(hours=1)
    seed.audit(first, "edit", at, {"lines": [[], []], "total": ["1", "2"]})
    seed.audit(first, "edit", at, {"shipping_address": [{}, {}], "notes": [None, "x"]})
    seed.audit(second, "edit", at, {"notes": ["x", "y"]}, actor="u_manager_x")
    seed.audit(second, "edit", at, {})  # changed nothing
    seed.audit(second, "edit", at, {}, accepted=False, reason="stale_version: the order changed: version 3")
    seed.audit(second, "edit", at, {}, accepted=False, reason="not_allowed: lines cannot be edited when…")
    seed.audit(second, "cancel", at, {})  # not an edit
    result = await report(api, "/reports/corrections?from=2001-03-01&to=2001-03-01", seller)
    assert (result["edits"], result["orders"]) == (3, 2)
    assert result["by_field"] == {"notes": 2, "lines": 1, "shipping_address": 1}
    assert result["by_user"] == {
        seller.id: {"edits": 2, "by_field": {"lines": 1, "shipping_address": 1, "notes": 1}},
        "u_manager_x": {"edits": 1, "by_field": {"notes": 1}}}
    assert result["refused"] == 2
    assert result["refused_by_reason"] == {"stale_version": 1, "not_allowed": 1}


async def test_stuck_orders_name_who_must_act(
    api: httpx.AsyncClient, seed: Seeder, seller: Person
) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(hours=3, minutes=5)
    held = seed.order("ON_HOLD", created=old, hold_reason="above_approval_threshold",
                      waiting_for="a manager to approve or reject")
    expected = {
        held: ("manager", "above_approval_threshold"),
        seed.order("ON_HOLD", created=old, hold_reason="insufficient_stock: SKU-A (0 available)"):
            ("warehouse", "insufficient_stock: SKU-A (0 available)"),
        seed.order("AWAITING_PAYMENT", created=old): ("finance/customer", None),
        seed.order("PROCESSING", created=old, fulfillment="manual"): ("warehouse", None),
        seed.order("PROCESSING", created=old): ("operator", None),
        seed.order("SHIPPED", created=old): ("customer/carrier", None),
        seed.order("CANCELLED", created=old, needs_attention=True): ("operator", None),
    }
    seed.order("SHIPPED", created=now - timedelta(minutes=5))  # moving
    seed.order("COMPLETED", created=old)
    seed.order("CANCELLED", created=old)
    result = await report(api, "/reports/stuck?older_than=1h", seller)
    assert result["older_than_seconds"] == 3600
    got = {item["order_id"]: (item["must_act"], item["hold_reason"]) for item in result["items"]}
    assert got == expected
    first = next(item for item in result["items"] if item["order_id"] == held)
    assert first["age"] == "3h 5m" and 3 * 3600 < first["age_seconds"] < 4 * 3600
    assert first["waiting_for"] == "a manager to approve or reject"
    assert first["order_id"] in first["next_step"]
    assert len((await report(api, "/reports/stuck?older_than=4h", seller))["items"]) == 0
    assert len((await report(api, "/reports/stuck?older_than=1h&limit=2", seller))["items"]) == 2


@pytest.mark.parametrize(("query", "field"), [
    ("/reports/sales?from=yesterday", "from"),
    ("/reports/sales?to=2001-02-30", "to"),
    ("/reports/sales?from=2001-03-02&to=2001-03-01", "to"),
    ("/reports/sales?group_by=week", "group_by"),
    ("/reports/cancellations?from=01/03/2001", "from"),
    ("/reports/corrections?to=2001-03-01T25:00", "to"),
    ("/reports/stuck?older_than=soon", "older_than"),
    ("/reports/stuck?older_than=-1h", "older_than"),
    ("/reports/stuck?limit=0", "limit"),
])
async def test_bad_report_parameters_are_422_naming_the_parameter(
    api: httpx.AsyncClient, admin: dict[str, str], query: str, field: str
) -> None:
    answer = await api.get(query, headers=admin)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_input"
    assert [d["field"] for d in answer.json()["error"]["details"]] == [field]


async def test_managers_see_everyones_orders_in_reports(
    api: httpx.AsyncClient, seed: Seeder, people: dict[Role, Person]
) -> None:
    seed.order("COMPLETED", created=datetime(1990, 1, 1, tzinfo=UTC))
    everyone = await report(api, "/reports/sales?from=1990-01-01&to=1990-01-01", people[Role.MANAGER])
    alone = await report(api, "/reports/sales?from=1990-01-01&to=1990-01-01", people[Role.SALES])
    assert everyone["orders"] >= 1 and alone["orders"] == 0


async def test_a_completed_order_shows_in_its_owners_sales_report(
    orders_api: httpx.AsyncClient, api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    seller = await add_person(api, Role.SALES, "end to end seller")
    catalog = await make_catalog(orders_api, admin)
    order = (await orders_api.post("/orders", json=order_body(catalog), headers=seller.headers)).json()
    path = f"/orders/{order['order_id']}"
    await wait_for(orders_api, path, seller.headers, lambda view: view["status"] == "SHIPPED")
    assert (await orders_api.post(f"{path}/receipt", json={}, headers=seller.headers)).status_code == 200
    await wait_for(orders_api, path, seller.headers, lambda view: view["status"] == "COMPLETED")
    result = await wait_for(orders_api, "/reports/sales?group_by=sku", seller.headers,
                            lambda result: result["orders"] == 1)
    assert result["total"] == "286.80"
    assert {r["key"]: (r["quantity"], r["total"]) for r in result["rows"]} == {
        catalog["widget"]: (2, "259.80"), catalog["gadget"]: (3, "27.00")}
