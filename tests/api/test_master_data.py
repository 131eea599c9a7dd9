"""Users, customers, products and stock over HTTP: auth per role, validation, money as strings."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from db.models import Customer, Product, StockMovement, User
from tests.api.conftest import bearer
from workflows.rules import Role

ALL_ROLES = set(Role)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def customer_body(customer_id: str) -> dict[str, object]:
    return {"id": customer_id, "name": "ACME Trading", "credit_limit": "5000.00"}


def product_body(sku: str) -> dict[str, object]:
    return {"sku": sku, "name": "Widget", "unit_price": "129.90"}


# (method, path template, body builder, roles allowed) — api.md's "Master data" section.
WRITES = [
    ("POST", "/users", lambda: {"name": "Someone", "role": "sales"}, {Role.ADMIN}),
    ("POST", "/customers", lambda: customer_body(new_id("C")), {Role.ADMIN, Role.MANAGER}),
    ("POST", "/products", lambda: product_body(new_id("SKU")), {Role.ADMIN}),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), WRITES, ids=[w[1] for w in WRITES])
async def test_master_data_writes_are_refused_with_403_for_roles_not_allowed(
    api: httpx.AsyncClient, tokens: dict[Role, dict[str, str]], method: str, path: str,
    body: object, allowed: set[Role],
) -> None:
    for role in ALL_ROLES:
        answer = await api.request(method, path, json=body(), headers=tokens[role])  # type: ignore[operator]
        if role in allowed:
            assert answer.status_code == 201, (role, answer.text)
        else:
            assert answer.status_code == 403, (role, answer.text)
            assert answer.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(("method", "path", "body", "allowed"), WRITES, ids=[w[1] for w in WRITES])
async def test_master_data_endpoints_refuse_missing_or_unknown_tokens_with_401(
    api: httpx.AsyncClient, method: str, path: str, body: object, allowed: set[Role]
) -> None:
    for headers in ({}, bearer("not-a-token"), {"Authorization": "Basic YWRtaW46YWRtaW4="}):
        answer = await api.request(method, path, json=body(), headers=headers)  # type: ignore[operator]
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "unauthorized"
        assert answer.headers["www-authenticate"] == "Bearer"


async def test_reads_of_master_data_need_a_token_but_any_role(
    api: httpx.AsyncClient, admin: dict[str, str], tokens: dict[Role, dict[str, str]]
) -> None:
    customer_id, sku = new_id("C"), new_id("SKU")
    assert (await api.post("/customers", json=customer_body(customer_id), headers=admin)).status_code == 201
    assert (await api.post("/products", json=product_body(sku), headers=admin)).status_code == 201
    for path in (f"/customers/{customer_id}", f"/products/{sku}"):
        assert (await api.get(path)).status_code == 401
        for role in ALL_ROLES:
            assert (await api.get(path, headers=tokens[role])).status_code == 200, role


async def test_a_refused_write_changes_nothing(
    api: httpx.AsyncClient, admin: dict[str, str], tokens: dict[Role, dict[str, str]]
) -> None:
    sku = new_id("SKU")
    refused = await api.post("/products", json=product_body(sku), headers=tokens[Role.MANAGER])
    assert refused.status_code == 403
    assert (await api.get(f"/products/{sku}", headers=admin)).status_code == 404


async def test_created_user_token_authenticates_with_the_users_role(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await api.post("/users", json={"name": "Wang Wei", "role": "warehouse"}, headers=admin)
    assert created.status_code == 201
    user = created.json()
    assert set(user) == {"id", "name", "role", "token"}
    assert user["role"] == "warehouse"
    # warehouse may adjust stock but not create products
    warehouse = bearer(user["token"])
    assert (await api.post("/products", json=product_body(new_id("S")), headers=warehouse)).status_code == 403


async def test_raw_token_is_never_stored_only_its_sha256(
    api: httpx.AsyncClient, admin: dict[str, str], sqlite_sessions: sessionmaker[Session]
) -> None:
    created = (await api.post("/users", json={"name": "Li Na", "role": "sales"}, headers=admin)).json()
    token = created["token"]
    assert len(token) >= 32
    with sqlite_sessions() as session:
        user = session.get(User, created["id"])
        assert user is not None
        assert user.token_hash == hashlib.sha256(token.encode()).hexdigest()
        stored = [str(value) for value in session.execute(select(User.__table__)).all()]
    assert not any(token in row for row in stored)


async def test_each_user_gets_a_different_token(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    body = {"name": "Same Name", "role": "sales"}
    first = (await api.post("/users", json=body, headers=admin)).json()
    second = (await api.post("/users", json=body, headers=admin)).json()
    assert first["token"] != second["token"]
    assert first["id"] != second["id"]


async def test_customer_round_trip_shows_money_as_decimal_strings(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer_id = new_id("C")
    created = await api.post("/customers", headers=admin,
                             json={"id": customer_id, "name": "ACME", "credit_limit": 5000, "blocked": True})
    assert created.status_code == 201, created.text
    fetched = await api.get(f"/customers/{customer_id}", headers=admin)
    assert fetched.json() == {"id": customer_id, "name": "ACME", "credit_limit": "5000.00",
                              "credit_used": "0.00", "blocked": True}
    assert created.json() == fetched.json()


async def test_creating_an_existing_customer_is_a_conflict(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    customer_id = new_id("C")
    assert (await api.post("/customers", json=customer_body(customer_id), headers=admin)).status_code == 201
    again = await api.post("/customers", json={**customer_body(customer_id), "name": "Other"}, headers=admin)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_exists"
    assert (await api.get(f"/customers/{customer_id}", headers=admin)).json()["name"] == "ACME Trading"


async def test_invalid_customer_is_422_naming_the_field_and_nothing_is_written(
    api: httpx.AsyncClient, admin: dict[str, str], sqlite_sessions: sessionmaker[Session]
) -> None:
    customer_id = new_id("C")
    answer = await api.post("/customers", headers=admin,
                            json={"id": customer_id, "name": "ACME", "credit_limit": "-1"})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert [d["field"] for d in error["details"]] == ["credit_limit"]
    with sqlite_sessions() as session:
        assert session.get(Customer, customer_id) is None


async def test_unknown_customer_and_product_are_404(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for path in ("/customers/NOPE-404", "/products/NOPE-404"):
        answer = await api.get(path, headers=admin)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"
        assert "NOPE-404" in answer.json()["error"]["message"]


async def test_product_shows_price_and_available_is_on_hand_minus_reserved(
    api: httpx.AsyncClient, admin: dict[str, str], sqlite_sessions: sessionmaker[Session]
) -> None:
    sku = new_id("SKU")
    created = await api.post("/products", json={**product_body(sku), "unit_price": 129.9}, headers=admin)
    assert created.json() == {"sku": sku, "name": "Widget", "unit_price": "129.90", "on_hand": 0,
                              "reserved": 0, "available": 0, "active": True}
    assert (await api.post(f"/products/{sku}/stock", json={"delta": 10, "reason": "delivery"},
                           headers=admin)).status_code == 200
    with sqlite_sessions.begin() as session:
        session.execute(update(Product).where(Product.sku == sku).values(reserved=4))
    product = (await api.get(f"/products/{sku}", headers=admin)).json()
    assert (product["on_hand"], product["reserved"], product["available"]) == (10, 4, 6)


async def test_stock_adjustment_records_a_movement_with_its_reason(
    api: httpx.AsyncClient, tokens: dict[Role, dict[str, str]], admin: dict[str, str],
    sqlite_sessions: sessionmaker[Session],
) -> None:
    sku = new_id("SKU")
    await api.post("/products", json=product_body(sku), headers=admin)
    answer = await api.post(f"/products/{sku}/stock", json={"delta": 25, "reason": "goods received"},
                            headers=tokens[Role.WAREHOUSE])
    assert answer.status_code == 200, answer.text
    assert answer.json()["on_hand"] == 25
    with sqlite_sessions() as session:
        moves = session.scalars(select(StockMovement).where(StockMovement.sku == sku)).all()
        assert [(m.delta, m.kind, m.reason) for m in moves] == [(25, "adjust", "goods received")]


async def test_stock_adjustment_is_refused_for_sales_and_finance(
    api: httpx.AsyncClient, tokens: dict[Role, dict[str, str]], admin: dict[str, str]
) -> None:
    sku = new_id("SKU")
    await api.post("/products", json=product_body(sku), headers=admin)
    for role in (Role.SALES, Role.FINANCE, Role.MANAGER, Role.SYSTEM):
        answer = await api.post(f"/products/{sku}/stock", json={"delta": 5, "reason": "x"},
                                headers=tokens[role])
        assert answer.status_code == 403, role
    assert (await api.get(f"/products/{sku}", headers=admin)).json()["on_hand"] == 0


async def test_stock_cannot_be_adjusted_below_what_is_reserved(
    api: httpx.AsyncClient, admin: dict[str, str], sqlite_sessions: sessionmaker[Session]
) -> None:
    sku = new_id("SKU")
    await api.post("/products", json={**product_body(sku), "on_hand": 10}, headers=admin)
    with sqlite_sessions.begin() as session:
        session.execute(update(Product).where(Product.sku == sku).values(reserved=7))
    refused = await api.post(f"/products/{sku}/stock", json={"delta": -4, "reason": "damaged"}, headers=admin)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "below_reserved"
    assert error["details"]["available"] == 3
    allowed = await api.post(f"/products/{sku}/stock", json={"delta": -3, "reason": "damaged"}, headers=admin)
    assert allowed.status_code == 200
    assert allowed.json()["available"] == 0
    with sqlite_sessions() as session:
        moves = session.scalars(select(StockMovement.delta).where(StockMovement.sku == sku)).all()
    assert sorted(moves) == [-3, 10]  # the refused adjustment left no movement behind


async def test_stock_cannot_go_below_zero(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    sku = new_id("SKU")
    await api.post("/products", json=product_body(sku), headers=admin)
    refused = await api.post(f"/products/{sku}/stock", json={"delta": -1, "reason": "typo"}, headers=admin)
    assert refused.status_code == 409
    assert (await api.get(f"/products/{sku}", headers=admin)).json()["on_hand"] == 0


@pytest.mark.parametrize(("body", "field"), [
    ({"delta": 0, "reason": "nothing"}, "delta"),
    ({"delta": 1.5, "reason": "half"}, "delta"),
    ({"delta": 3}, "reason"),
    ({"delta": 3, "reason": "   "}, "reason"),
])
async def test_invalid_stock_adjustment_is_422_naming_the_field(
    api: httpx.AsyncClient, admin: dict[str, str], body: dict[str, object], field: str
) -> None:
    sku = new_id("SKU")
    await api.post("/products", json=product_body(sku), headers=admin)
    answer = await api.post(f"/products/{sku}/stock", json=body, headers=admin)
    assert answer.status_code == 422, answer.text
    assert [d["field"] for d in answer.json()["error"]["details"]] == [field]
    assert (await api.get(f"/products/{sku}", headers=admin)).json()["on_hand"] == 0


async def test_stock_of_an_unknown_product_is_404(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    answer = await api.post("/products/NO-SUCH/stock", json={"delta": 1, "reason": "x"}, headers=admin)
    assert answer.status_code == 404


async def test_admins_manage_the_sub_status_catalog(
    api: httpx.AsyncClient, tokens: dict[Role, dict[str, str]],
) -> None:
    admin = tokens[Role.ADMIN]
    label = new_id("QC").upper().replace("-", "_")
    added = await api.post("/sub-statuses", json={"status": "PROCESSING", "label": label}, headers=admin)
    assert added.status_code == 201, added.text
    assert label in added.json()["PROCESSING"] and "PACKED" in added.json()["PROCESSING"]

    again = await api.post("/sub-statuses", json={"status": "PROCESSING", "label": label}, headers=admin)
    assert again.status_code == 409
    terminal = await api.post("/sub-statuses", json={"status": "COMPLETED", "label": label}, headers=admin)
    assert terminal.status_code == 422 and terminal.json()["error"]["details"][0]["field"] == "status"
    lower = await api.post("/sub-statuses", json={"status": "PROCESSING", "label": "packed"}, headers=admin)
    assert lower.status_code == 422

    removed = await api.delete(f"/sub-statuses/PROCESSING/{label}", headers=admin)
    assert removed.status_code == 204
    catalog = await api.get("/sub-statuses", headers=tokens[Role.WAREHOUSE])
    assert label not in catalog.json()["PROCESSING"]
    assert (await api.delete(f"/sub-statuses/PROCESSING/{label}", headers=admin)).status_code == 404
