"""The service layer: the one API of the system for the HTTP API, the CLI and the Python client.

Every public method is async, takes the authenticated `Actor` first and checks its permission through
`authorize` (the one place that applies `rules.is_permitted` / `rules.may_touch_order`). Database work
(sync SQLAlchemy) runs in a worker thread so the event loop serving HTTP never blocks on it.
Failures are `ServiceError`s carrying an HTTP status and a snake_case code; callers map, not decide.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, ValidationError
from sqlalchemy import Engine, and_, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from db import models as db
from db.session import make_engine, make_sessionmaker
from starter import reports
from starter.settings import Settings, get_settings
from starter.temporal import connect, workflow_id
from workflows import errors, rules
from workflows.models import (
    Actor,
    ApproveBody,
    ApproveCommand,
    AuditEntry,
    CancelBody,
    CancelCommand,
    EditBody,
    EditCommand,
    NewOrder,
    OrderInput,
    OrderPolicy,
    OrderView,
    PaymentBody,
    PaymentCommand,
    ReceiptBody,
    ReceiptCommand,
    RejectBody,
    RejectCommand,
    Sku,
    StatusBody,
    StatusCommand,
    Strict,
)
from workflows.rules import Command, OrderStatus, Role

log = logging.getLogger(__name__)

T = TypeVar("T")

WORKFLOW_TYPE = "OrderWorkflow"
ADMIN_ACTOR_ID = "admin"
MAX_PAGE = 100
MAX_STUCK_PAGE = reports.MAX_STUCK_ITEMS
# The largest amount a Numeric(14, 2) column holds: an order over it could never be stored.
# What an order id, customer id, SKU or user id can look like; anything else cannot exist.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Refusals of a command on an existing order that are written to its audit trail (accepted=false).
AUDITED_REFUSALS = frozenset({403, 409, 422})
QUERY_TIMEOUT = timedelta(seconds=15)
HEALTH_TIMEOUT = 3.0
# Namespace of order ids derived from an Idempotency-Key: uuid5(ns, "<actor id>\n<key>").
IDEMPOTENCY_NAMESPACE = uuid.UUID("5f0c1f3e-8a7d-4f59-9a55-6b1c2f0e7a21")


# --- errors ----------------------------------------------------------------------------------


class ServiceError(Exception):
    """A refusal with its HTTP status, a snake_case code, a sentence for people and details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers

    def __repr__(self) -> str:
        return f"ServiceError({self.status}, {self.code!r}, {self.message!r})"


def invalid_input(errors_: list[dict[str, Any]], message: str | None = None) -> ServiceError:
    text_ = message or "; ".join(f"{e['field']}: {e['message']}" for e in errors_)
    return ServiceError(422, errors.INVALID_INPUT, text_, errors_)


def not_found(what: str, key: str) -> ServiceError:
    return ServiceError(404, errors.NOT_FOUND, f"{what} {key!r} does not exist")


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as [{field: "lines[0].quantity", message, type}] (also used by the API)."""
    return [
        {"field": field_path(e["loc"]), "message": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False)
    ]


def field_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """("lines", 0, "quantity") → "lines[0].quantity"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def from_application_error(err: ApplicationError) -> ServiceError:
    """A typed business failure of the workflow/activities → its HTTP status (workflows/errors.py)."""
    kind = err.type or "application_error"
    details: Any = err.details[0] if err.details else None
    if kind == errors.INVALID_INPUT and isinstance(details, dict) and "errors" in details:
        details = details["errors"]
    status = errors.HTTP_STATUS.get(kind)
    if status is None:
        # An untyped failure (a bug, or a validator raising a plain exception) is not the caller's fault.
        log.error("untyped workflow failure %s: %s", kind, err.message)
        return ServiceError(500, "internal_error", err.message or "the order workflow failed", None)
    return ServiceError(status, kind, err.message, details)


def _from_temporal(exc: Exception, order_id: str) -> ServiceError:
    if isinstance(exc, WorkflowUpdateFailedError):
        if isinstance(exc.cause, ApplicationError):
            return from_application_error(exc.cause)
        return ServiceError(409, errors.NOT_ALLOWED, str(exc.cause or exc) or "the order refused the command")
    if isinstance(exc, WorkflowQueryFailedError):
        # The workflow could not answer (its task is failing): an operator problem, not the caller's.
        log.error("query of order %s failed: %s", order_id, exc)
        return ServiceError(503, "order_unavailable", f"order {order_id} cannot answer right now")
    if isinstance(exc, WorkflowUpdateRPCTimeoutOrCancelledError):
        return ServiceError(504, "timeout", f"order {order_id} did not answer in time; retry or check it")
    if isinstance(exc, RPCError):
        if exc.status == RPCStatusCode.NOT_FOUND:
            return not_found("order", order_id)
        if exc.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            return ServiceError(
                504, "timeout", f"order {order_id} did not answer in time (is a worker running?)"
            )
        return ServiceError(503, "temporal_unavailable", f"Temporal refused the call: {exc.message}")
    raise exc


# --- master data schemas ---------------------------------------------------------------------

def _printable(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    return value


Key = Annotated[str, StringConstraints(strip_whitespace=True, pattern=KEY_PATTERN.pattern)]
# Names of people, customers and products: any script (李雷), no control characters (PostgreSQL
# refuses NUL in text).
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                 AfterValidator(_printable)]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]


class NewUser(Strict):
    name: Name
    role: Role


class CreatedUser(BaseModel):
    id: str
    name: str
    role: Role
    token: str = Field(description="the bearer token; shown once, only its sha256 is stored")


class NewCustomer(Strict):
    id: Key
    name: Name
    credit_limit: Money
    blocked: bool = False


class CustomerView(BaseModel):
    id: str
    name: str
    credit_limit: Decimal
    credit_used: Decimal
    blocked: bool


class SubStatusLabel(Strict):
    status: OrderStatus = Field(description="a non-terminal status the label belongs to")
    label: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,39}$")] = Field(
        description="UPPER_SNAKE_CASE, 2 to 40 characters")


class NewProduct(Strict):
    sku: Sku
    name: Name
    unit_price: Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]
    on_hand: int = Field(default=0, ge=0, description="initial stock, recorded as an adjustment")


class ProductView(BaseModel):
    sku: str
    name: str
    unit_price: Decimal
    on_hand: int
    reserved: int
    available: int
    active: bool = True


class StockAdjustment(Strict):
    delta: int = Field(description="units to add (positive) or remove (negative); never 0")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
                      AfterValidator(_printable)]


class OrderPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = None


class Accepted(BaseModel):
    """Answer to a command sent with `wait=False`: delivered as a signal, outcome not yet known."""

    order_id: str
    accepted: bool = True


CommandName = Literal["pay", "confirm_receipt", "approve", "reject", "change_status", "cancel", "edit"]


class CommandSpec(BaseModel):
    """One order command: the permission it needs, what a caller sends, what the workflow receives,
    and the audit action it is recorded under (the workflow's names, so refusals line up)."""

    permission: Command
    body: type[BaseModel]
    command: type[BaseModel]
    action: str


# name → spec; the workflow's update has this name and its fire-and-forget signal the name + "_async".
COMMANDS: dict[str, CommandSpec] = {
    "pay": CommandSpec(permission=Command.RECORD_PAYMENT, body=PaymentBody, command=PaymentCommand,
                       action="record_payment"),
    "confirm_receipt": CommandSpec(permission=Command.CONFIRM_RECEIPT, body=ReceiptBody,
                                   command=ReceiptCommand, action="confirm_receipt"),
    "approve": CommandSpec(permission=Command.APPROVE_ORDER, body=ApproveBody, command=ApproveCommand,
                           action="approve"),
    "reject": CommandSpec(permission=Command.APPROVE_ORDER, body=RejectBody, command=RejectCommand,
                          action="reject"),
    "change_status": CommandSpec(permission=Command.CHANGE_STATUS, body=StatusBody, command=StatusCommand,
                                 action="change_status"),
    "cancel": CommandSpec(permission=Command.CANCEL_ORDER, body=CancelBody, command=CancelCommand,
                          action="cancel"),
    "edit": CommandSpec(permission=Command.EDIT_ORDER, body=EditBody, command=EditCommand, action="edit"),
}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_hash(order: NewOrder) -> str:
    """sha256 of the canonical body, so a reused Idempotency-Key with another body is detected."""
    canonical = json.dumps(order.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent_order_id(actor_id: str, key: str) -> str:
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{actor_id}\n{key}").hex


def encode_cursor(created_at: datetime, order_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), order_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, order_id = json.loads(raw)
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None or not isinstance(order_id, str):
            raise ValueError
        return parsed, order_id
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise invalid_input(
            [{"field": "cursor", "message": "not a cursor returned by this API", "type": "cursor"}]
        ) from exc


def _product_view(p: db.Product) -> ProductView:
    return ProductView(
        sku=p.sku,
        name=p.name,
        unit_price=rules.money(p.unit_price),
        on_hand=p.on_hand,
        reserved=p.reserved,
        available=p.on_hand - p.reserved,
        active=p.active,
    )


def _customer_view(c: db.Customer) -> CustomerView:
    return CustomerView(
        id=c.id,
        name=c.name,
        credit_limit=rules.money(c.credit_limit),
        credit_used=rules.money(c.credit_used),
        blocked=c.blocked,
    )


def _stored_view(view: dict[str, Any]) -> dict[str, Any]:
    """A read-model row's view, normalised through OrderView so lists and GET have one shape."""
    try:
        return OrderView.model_validate(view).model_dump(mode="json", by_alias=True)
    except ValidationError:
        log.warning("read model view of order %s does not match OrderView", view.get("order_id"))
        return view


class Services:
    """Settings, the sessionmaker and the Temporal client, plus every operation of the system."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        client: Client | None = None,
        *,
        engine: Engine | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self._client = client
        self._engine = engine  # disposed by close() only when this object created it
        self._connecting = asyncio.Lock()

    @classmethod
    async def open(cls, settings: Settings | None = None, *, connect_temporal: bool = True) -> Services:
        """Build from settings. Temporal being down is not fatal: the client connects on first use."""
        settings = settings or get_settings()
        engine = make_engine(settings.database_url)
        services = cls(settings, make_sessionmaker(engine), engine=engine)
        if connect_temporal:
            try:
                await services.temporal()
            except Exception as exc:  # reported by health(); retried on the next order call
                log.warning("Temporal at %s is not reachable yet: %s", settings.temporal_address, exc)
        return services

    async def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    async def temporal(self) -> Client:
        if self._client is None:
            async with self._connecting:
                if self._client is None:
                    try:
                        self._client = await connect(self.settings)
                    except Exception as exc:
                        raise ServiceError(
                            503, "temporal_unavailable",
                            f"Temporal at {self.settings.temporal_address} is not reachable",
                        ) from exc
        return self._client

    async def _db(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one transaction in a worker thread (commit on success)."""

        def run() -> T:
            with self.sessions.begin() as session:
                return work(session)

        return await asyncio.to_thread(run)

    async def health(self) -> dict[str, str]:
        """{"database": "ok"|problem, "temporal": "ok"|problem}; all "ok" means healthy."""
        result: dict[str, str] = {}

        def ping(session: Session) -> None:
            session.execute(text("SELECT 1"))

        try:
            await asyncio.wait_for(self._db(ping), HEALTH_TIMEOUT)
            result["database"] = "ok"
        except Exception as exc:
            result["database"] = f"unavailable: {type(exc).__name__}"
        try:
            client = await asyncio.wait_for(self.temporal(), HEALTH_TIMEOUT)
            ok = await asyncio.wait_for(client.service_client.check_health(), HEALTH_TIMEOUT)
            result["temporal"] = "ok" if ok else "unhealthy"
        except Exception as exc:
            result["temporal"] = f"unavailable: {type(exc).__name__}"
        return result

    # --- auth ------------------------------------------------------------------------------

    async def authenticate(self, token: str | None, request_id: str | None = None) -> Actor:
        """Bearer token → Actor. The admin token from settings first, then the users table."""
        if not token:
            raise ServiceError(401, "unauthorized", "a bearer token is required",
                               headers={"WWW-Authenticate": "Bearer"})
        admin = self.settings.admin_token
        if admin and hmac.compare_digest(token.encode(), admin.encode()):
            return Actor(id=ADMIN_ACTOR_ID, role=Role.ADMIN, request_id=request_id)
        digest = hash_token(token)
        user = await self._db(lambda s: s.scalar(select(db.User).where(db.User.token_hash == digest)))
        if user is None:
            raise ServiceError(401, "unauthorized", "the bearer token is not known",
                               headers={"WWW-Authenticate": "Bearer"})
        return Actor(id=user.id, role=Role(user.role), request_id=request_id)

    def authorize(self, actor: Actor, command: Command, owner_id: str | None = None) -> None:
        """The one permission check: role table, and for order commands the ownership rule."""
        if not rules.is_permitted(actor.role, command):
            raise ServiceError(403, errors.FORBIDDEN,
                               f"role {actor.role.value} may not {command.value.replace('_', ' ')}")
        if owner_id is not None and not rules.may_touch_order(actor.role, actor.id, owner_id):
            raise ServiceError(403, errors.FORBIDDEN,
                               f"role {actor.role.value} may only act on its own orders")

    # --- master data -----------------------------------------------------------------------

    async def create_user(self, actor: Actor, data: NewUser) -> CreatedUser:
        """A new user with a random token; the token is returned here once and never stored."""
        self.authorize(actor, Command.MANAGE_USERS)
        token = secrets.token_urlsafe(32)
        user = db.User(id=f"u_{secrets.token_hex(8)}", name=data.name, role=data.role.value,
                       token_hash=hash_token(token))
        await self._db(lambda s: s.add(user))
        return CreatedUser(id=user.id, name=user.name, role=data.role, token=token)

    async def create_customer(self, actor: Actor, data: NewCustomer) -> CustomerView:
        self.authorize(actor, Command.MANAGE_CUSTOMERS)
        customer = db.Customer(id=data.id, name=data.name, credit_limit=data.credit_limit,
                               credit_used=Decimal(0), blocked=data.blocked)
        try:
            await self._db(lambda s: s.add(customer))
        except IntegrityError as exc:
            raise ServiceError(409, "already_exists", f"customer {data.id!r} already exists") from exc
        return _customer_view(customer)

    async def get_customer(self, actor: Actor, customer_id: str) -> CustomerView:
        self.authorize(actor, Command.VIEW_MASTER_DATA)
        found = await self._db(lambda s: s.get(db.Customer, customer_id)) if _is_key(customer_id) else None
        if found is None:
            raise not_found("customer", customer_id)
        return _customer_view(found)

    async def create_product(self, actor: Actor, data: NewProduct) -> ProductView:
        self.authorize(actor, Command.MANAGE_PRODUCTS)
        product = db.Product(sku=data.sku, name=data.name, unit_price=data.unit_price,
                             active=True, on_hand=data.on_hand, reserved=0)

        def add(session: Session) -> None:
            session.add(product)
            session.flush()  # the movement's foreign key needs the product row first
            if data.on_hand:
                session.add(db.StockMovement(sku=data.sku, delta=data.on_hand, kind="adjust",
                                             reason="initial stock"))

        try:
            await self._db(add)
        except IntegrityError as exc:
            raise ServiceError(409, "already_exists", f"product {data.sku!r} already exists") from exc
        return _product_view(product)

    # --- sub-status catalog -----------------------------------------------------------------

    async def sub_statuses(self, actor: Actor) -> dict[str, list[str]]:
        """The catalog: labels per status, which `POST /orders/{id}/status` accepts as sub_status."""
        self.authorize(actor, Command.VIEW_MASTER_DATA)
        rows = await self._db(lambda s: list(s.scalars(select(db.SubStatus))))
        catalog: dict[str, list[str]] = {}
        for row in sorted(rows, key=lambda r: (r.status, r.label)):
            catalog.setdefault(row.status, []).append(row.label)
        return catalog

    async def add_sub_status(self, actor: Actor, data: SubStatusLabel) -> dict[str, list[str]]:
        self.authorize(actor, Command.MANAGE_CATALOG)
        if data.status in rules.TERMINAL_STATUSES:
            raise invalid_input([{"field": "status", "type": "terminal_status", "message":
                                  f"{data.status.value} is terminal; its orders take no sub-status"}])
        try:
            await self._db(lambda s: s.add(db.SubStatus(status=data.status.value, label=data.label)))
        except IntegrityError as exc:
            raise ServiceError(409, "already_exists",
                               f"{data.label} is already in the catalog of {data.status.value}") from exc
        return await self.sub_statuses(actor)

    async def remove_sub_status(self, actor: Actor, status: str, label: str) -> None:
        """Orders that carry the label keep it; it can no longer be set."""
        self.authorize(actor, Command.MANAGE_CATALOG)

        def remove(session: Session) -> int:
            found = session.get(db.SubStatus, (status, label))
            if found is not None:
                session.delete(found)
            return 0 if found is None else 1

        if not await self._db(remove):
            raise not_found("sub-status", f"{status}/{label}")

    async def get_product(self, actor: Actor, sku: str) -> ProductView:
        self.authorize(actor, Command.VIEW_MASTER_DATA)
        found = await self._db(lambda s: s.get(db.Product, sku)) if _is_key(sku) else None
        if found is None:
            raise not_found("product", sku)
        return _product_view(found)

    async def adjust_stock(self, actor: Actor, sku: str, delta: int, reason: str) -> ProductView:
        """Add or remove stock on hand; never below what is reserved (nor below zero)."""
        self.authorize(actor, Command.ADJUST_STOCK)
        try:
            adjustment = StockAdjustment(delta=delta, reason=reason)
        except ValidationError as exc:
            raise invalid_input(field_errors(exc)) from exc
        if adjustment.delta == 0:
            raise invalid_input([{"field": "delta", "message": "must not be 0", "type": "not_zero"}])
        if not _is_key(sku):
            raise not_found("product", sku)

        def adjust(session: Session) -> db.Product:
            # One conditional UPDATE: concurrent reservations cannot slip between check and write.
            changed = session.execute(
                update(db.Product)
                .where(db.Product.sku == sku,
                       db.Product.on_hand + adjustment.delta >= db.Product.reserved,
                       db.Product.on_hand + adjustment.delta >= 0)
                .values(on_hand=db.Product.on_hand + adjustment.delta)
                .execution_options(synchronize_session=False)
            )
            product = session.get(db.Product, sku, populate_existing=True)
            if product is None:
                raise not_found("product", sku)
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                raise ServiceError(
                    409, "below_reserved",
                    f"removing {-adjustment.delta} of {sku} would leave less on hand than reserved "
                    f"(on hand {product.on_hand}, reserved {product.reserved}, "
                    f"available {product.on_hand - product.reserved})",
                    {"on_hand": product.on_hand, "reserved": product.reserved,
                     "available": product.on_hand - product.reserved, "delta": adjustment.delta},
                )
            session.add(db.StockMovement(sku=sku, delta=adjustment.delta, kind="adjust",
                                         reason=adjustment.reason))
            return product

        return _product_view(await self._db(adjust))

    # --- orders ----------------------------------------------------------------------------

    def _handle(self, client: Client, order_id: str) -> WorkflowHandle[Any, Any]:
        return client.get_workflow_handle(workflow_id(order_id))

    async def create_order(
        self, actor: Actor, order: NewOrder, idempotency_key: str | None = None
    ) -> OrderView:
        """Start the order's workflow and answer once it is priced (or refused) server-side."""
        self.authorize(actor, Command.CREATE_ORDER)
        owner_id = order.owner_id or actor.id
        if actor.role == Role.SALES and owner_id != actor.id:
            raise ServiceError(403, errors.FORBIDDEN, "sales create orders only for themselves")
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= 200:
            raise invalid_input([{"field": "Idempotency-Key", "message": "1 to 200 characters",
                                  "type": "string_length"}])
        body_hash = request_hash(order)
        client = await self.temporal()
        if idempotency_key:
            order_id = idempotent_order_id(actor.id, idempotency_key)
            existing = await self._audited(actor, order_id, "create",
                                           self._existing_order(client, order_id, body_hash))
            if existing is not None:
                return existing
        else:
            order_id = uuid.uuid4().hex
        await self._precheck(order, owner_id if owner_id != actor.id else None)
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            WORKFLOW_TYPE,
            OrderInput(
                order_id=order_id,
                order=order,
                fulfillment=order.fulfillment or self.settings.fulfillment,
                owner_id=owner_id,
                created_by=actor,
                policy=self.policy(),
                idempotency_key=idempotency_key,
                request_hash=body_hash if idempotency_key else None,
            ),
            id=workflow_id(order_id),
            task_queue=self.settings.temporal_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            result_type=OrderView,
            static_summary=f"Order {order_id} of customer {order.customer_id}",
        )
        try:
            view: OrderView = await client.execute_update_with_start_workflow(
                "accepted", start_workflow_operation=start, result_type=OrderView
            )
        except WorkflowAlreadyStartedError:
            # The same key finished meanwhile (REJECT_DUPLICATE): answer with what it created.
            existing = await self._existing_order(client, order_id, body_hash)
            if existing is None:
                raise
            return existing
        except (WorkflowUpdateFailedError, RPCError, WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
            raise _from_temporal(exc, order_id) from exc
        if idempotency_key:
            # Two requests with one key raced: USE_EXISTING attached us to the other one's order.
            await self._audited(actor, order_id, "create",
                                self._check_same_body(self._handle(client, order_id), body_hash))
        return view

    def policy(self) -> OrderPolicy:
        s = self.settings
        return OrderPolicy(payment_window=s.payment_window, receipt_auto_confirm=s.receipt_auto_confirm,
                           hold_timeout=s.hold_timeout, approval_threshold=s.approval_threshold)

    async def _precheck(self, order: NewOrder, other_owner: str | None) -> None:
        """Price the order against the catalog now: a bad order is refused fast, nothing started."""
        from db import queries  # written alongside; imported late so master data works without it

        def check(session: Session) -> None:
            if other_owner is not None and session.get(db.User, other_owner) is None:
                raise invalid_input([{"field": "owner_id", "message": f"no user {other_owner!r}",
                                      "type": "unknown_user"}])
            queries.price_order(session, order)

        try:
            await self._db(check)
        except ApplicationError as exc:
            raise from_application_error(exc) from exc

    async def _existing_order(self, client: Client, order_id: str, body_hash: str) -> OrderView | None:
        """The order an Idempotency-Key already created, or None; 409 when the body differs."""
        handle = self._handle(client, order_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise _from_temporal(exc, order_id) from exc
        await self._check_same_body(handle, body_hash)
        try:
            if description.status == WorkflowExecutionStatus.RUNNING:
                return await handle.execute_update("accepted", result_type=OrderView)  # type: ignore[no-any-return]
            return await handle.query("view", result_type=OrderView, rpc_timeout=QUERY_TIMEOUT)  # type: ignore[no-any-return]
        except (WorkflowUpdateFailedError, WorkflowQueryFailedError, RPCError) as exc:
            raise _from_temporal(exc, order_id) from exc

    async def _check_same_body(self, handle: WorkflowHandle[Any, Any], body_hash: str) -> None:
        try:
            stored = await handle.query("request_hash", rpc_timeout=QUERY_TIMEOUT)
        except (WorkflowQueryFailedError, RPCError) as exc:
            raise _from_temporal(exc, handle.id.removeprefix("order-")) from exc
        if stored != body_hash:
            raise ServiceError(409, "idempotency_key_reused",
                               "this Idempotency-Key was already used with a different body",
                               {"order_id": handle.id.removeprefix("order-")})

    async def _live_view(self, order_id: str) -> OrderView | None:
        client = await self.temporal()
        try:
            view: OrderView = await self._handle(client, order_id).query(
                "view", result_type=OrderView, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise _from_temporal(exc, order_id) from exc
        except WorkflowQueryFailedError as exc:
            raise _from_temporal(exc, order_id) from exc
        return view

    async def _stored_row(self, order_id: str) -> db.Order | None:
        return await self._db(lambda s: s.get(db.Order, order_id))

    async def get_order(self, actor: Actor, order_id: str) -> OrderView:
        """The live view (workflow query); the read model once Temporal no longer keeps the order."""
        self.authorize(actor, Command.VIEW_ORDER)
        view = await self._live_view(order_id) if _is_key(order_id) else None
        if view is None:
            row = await self._stored_row(order_id)
            if row is None:
                raise not_found("order", order_id)
            view = OrderView.model_validate(row.view)
        self.authorize(actor, Command.VIEW_ORDER, view.owner_id)
        return view

    async def list_orders(
        self,
        actor: Actor,
        *,
        status: OrderStatus | None = None,
        customer_id: str | None = None,
        owner_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> OrderPage:
        """Newest first from the read model; sales see only the orders they own."""
        self.authorize(actor, Command.VIEW_ORDER)
        if not 1 <= limit <= MAX_PAGE:
            raise invalid_input([{"field": "limit", "message": f"between 1 and {MAX_PAGE}",
                                  "type": "range"}])
        for field, value in (("customer_id", customer_id), ("owner_id", owner_id)):
            if value and not _is_key(value):
                raise invalid_input([{"field": field, "type": "pattern",
                                      "message": f"not an id: {KEY_PATTERN.pattern}"}])
        after = decode_cursor(cursor) if cursor else None
        query = select(db.Order)
        if status is not None:
            query = query.where(db.Order.status == OrderStatus(status).value)
        if customer_id:
            query = query.where(db.Order.customer_id == customer_id)
        if owner_id:
            query = query.where(db.Order.owner_id == owner_id)
        visible = self.visible_owner(actor)
        if visible is not None:
            query = query.where(db.Order.owner_id == visible)
        if after is not None:
            at, last_id = after
            query = query.where(or_(db.Order.created_at < at,
                                    and_(db.Order.created_at == at, db.Order.order_id < last_id)))
        query = query.order_by(db.Order.created_at.desc(), db.Order.order_id.desc()).limit(limit + 1)
        rows = await self._db(lambda s: list(s.scalars(query)))
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].order_id) if more else None
        return OrderPage(items=[_stored_view(r.view) for r in rows], next_cursor=next_cursor)

    async def history(self, actor: Actor, order_id: str) -> list[AuditEntry]:
        """The audit trail of one order, oldest first, rejected commands included."""
        self.authorize(actor, Command.VIEW_ORDER)
        if not _is_key(order_id):
            raise not_found("order", order_id)
        row = await self._stored_row(order_id)
        if row is not None:
            owner: str | None = row.owner_id
        else:
            live = await self._live_view(order_id)
            if live is None:
                raise not_found("order", order_id)
            owner = live.owner_id
        self.authorize(actor, Command.VIEW_ORDER, owner)
        query = (select(db.AuditEvent).where(db.AuditEvent.order_id == order_id)
                 .order_by(db.AuditEvent.at, db.AuditEvent.id))
        events = await self._db(lambda s: list(s.scalars(query)))
        return [
            AuditEntry(id=e.id, order_id=e.order_id, at=e.at, actor=e.actor, role=e.role,
                       action=e.action, accepted=e.accepted, from_status=e.from_status,
                       to_status=e.to_status, changes=e.changes or {}, reason=e.reason,
                       request_id=e.request_id)
            for e in events
        ]

    async def command(
        self,
        actor: Actor,
        order_id: str,
        name: CommandName,
        body: BaseModel | dict[str, Any] | None = None,
        *,
        wait: bool = True,
    ) -> OrderView | Accepted:
        """Send a command: an update answering with the new view, or (wait=False) a signal.

        A refusal of a command on an existing order (403/409/422, from here or from the workflow's
        validator) is written to the order's audit trail with accepted=false.
        """
        spec = COMMANDS.get(name)
        if spec is None:
            raise ServiceError(404, errors.NOT_FOUND, f"no command {name!r}")
        await self.authorize_command(actor, order_id, name)
        current: OrderView | None = None
        try:
            try:
                parsed = spec.body.model_validate(
                    body.model_dump() if isinstance(body, BaseModel) else (body or {})
                )
                context = await self._command_context(parsed)
                command = spec.command.model_validate({**parsed.model_dump(), **context, "actor": actor})
            except ValidationError as exc:
                raise invalid_input(field_errors(exc)) from exc
            current = await self._live_view(order_id)
            if current is None:
                raise not_found("order", order_id)
            self.authorize(actor, spec.permission, current.owner_id)
            return await self._deliver(order_id, name, command, wait, current)
        except ServiceError as refusal:
            if refusal.status in AUDITED_REFUSALS:
                await self._record_refusal(actor, order_id, spec.action, refusal, current)
            raise

    async def _command_context(self, body: BaseModel) -> dict[str, Any]:
        """What the workflow needs from the database to judge a command (its validator cannot read it):
        the admin-managed sub-status catalog of the target status."""
        if isinstance(body, StatusBody) and body.sub_status is not None:
            from db import queries

            target = body.status.value
            return {"sub_status_catalog": await self._db(lambda s: queries.sub_status_labels(s, target))}
        return {}

    async def authorize_command(self, actor: Actor, order_id: str, name: CommandName) -> None:
        """The role check of a command, before its body is read; refusals on an existing order are
        audited. The HTTP API calls this ahead of body validation; `command` calls it too."""
        spec = COMMANDS.get(name)
        if spec is None:
            raise ServiceError(404, errors.NOT_FOUND, f"no command {name!r}")
        if not _is_key(order_id):
            raise not_found("order", order_id)
        try:
            self.authorize(actor, spec.permission)
        except ServiceError as refusal:
            await self._record_refusal(actor, order_id, spec.action, refusal, None)
            raise

    async def _deliver(self, order_id: str, name: str, command: BaseModel, wait: bool,
                       current: OrderView) -> OrderView | Accepted:
        handle = self._handle(await self.temporal(), order_id)
        try:
            if not wait:
                await handle.signal(f"{name}_async", command)
                return Accepted(order_id=order_id)
            result: OrderView = await handle.execute_update(name, command, result_type=OrderView)
            return result
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND or "closing workflow" in exc.message:
                # It answered the query a moment ago: the workflow has closed since (or closed
                # while the update waited: "workflow update was aborted by closing workflow").
                raise ServiceError(409, errors.NOT_ALLOWED,
                                   f"order {order_id} is finished and accepts no more commands",
                                   {"status": current.status.value}) from exc
            raise _from_temporal(exc, order_id) from exc
        except (WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
            raise _from_temporal(exc, order_id) from exc

    # --- refused commands in the audit trail ---------------------------------------------------

    async def _audited(self, actor: Actor, order_id: str, action: str, work: Awaitable[T]) -> T:
        try:
            return await work
        except ServiceError as refusal:
            if refusal.status in AUDITED_REFUSALS:
                await self._record_refusal(actor, order_id, action, refusal, None)
            raise

    async def _record_refusal(self, actor: Actor, order_id: str, action: str, refusal: ServiceError,
                              current: OrderView | None) -> None:
        """Write `accepted=false` with who, role, action, the reason and the request id — when the
        order exists. Never masks the refusal itself: a failure to record is logged."""
        if not _is_key(order_id):
            return
        try:
            status = current.status.value if current is not None else None
            if status is None:
                row = await self._stored_row(order_id)
                if row is None:  # maybe not projected yet: ask the order itself
                    live = await self._live_view(order_id)
                    if live is None:
                        return
                    status = live.status.value
                else:
                    status = row.status
            event = db.AuditEvent(
                id=str(uuid.uuid4()), order_id=order_id, at=datetime.now(UTC), actor=actor.id[:64],
                role=actor.role.value, action=action[:32], accepted=False, from_status=status,
                to_status=status, changes={}, reason=f"{refusal.code}: {refusal.message}",
                request_id=actor.request_id[:64] if actor.request_id else None,
            )
            await self._db(lambda s: s.add(event))
        except ServiceError as exc:  # Temporal unreachable while looking the order up
            log.warning("could not record the refused %s of order %s: %s", action, order_id, exc.message)
        except Exception:
            log.exception("could not record the refused %s of order %s", action, order_id)

    # --- reports ---------------------------------------------------------------------------------

    def visible_owner(self, actor: Actor) -> str | None:
        """The owner whose orders `actor` may see in lists and reports; None: everyone's."""
        return actor.id if rules.Role(actor.role) in rules.OWN_ORDERS_ONLY else None

    async def sales_report(
        self, actor: Actor, *, from_: str | date | datetime | None = None,
        to: str | date | datetime | None = None, group_by: str = "day",
    ) -> reports.SalesReport:
        """Completed orders' quantities and totals by day, customer or SKU."""
        self.authorize(actor, Command.VIEW_REPORTS)
        when = _period(from_, to)
        if group_by not in reports.GROUPS:
            raise invalid_input([{"field": "group_by", "type": "enum",
                                  "message": f"one of {', '.join(reports.GROUPS)}"}])
        owner = self.visible_owner(actor)
        return await self._db(lambda s: reports.sales(s, when, group_by, owner))  # type: ignore[arg-type]

    async def cancellations_report(
        self, actor: Actor, *, from_: str | date | datetime | None = None,
        to: str | date | datetime | None = None,
    ) -> reports.CancellationReport:
        """Orders created in the period, how many were cancelled, and why."""
        self.authorize(actor, Command.VIEW_REPORTS)
        when, owner = _period(from_, to), self.visible_owner(actor)
        return await self._db(lambda s: reports.cancellations(s, when, owner))

    async def corrections_report(
        self, actor: Actor, *, from_: str | date | datetime | None = None,
        to: str | date | datetime | None = None,
    ) -> reports.CorrectionsReport:
        """Edits after acceptance by field and by user, and the refused ones."""
        self.authorize(actor, Command.VIEW_REPORTS)
        when, owner = _period(from_, to), self.visible_owner(actor)
        return await self._db(lambda s: reports.corrections(s, when, owner))

    async def stuck_orders(
        self, actor: Actor, *, older_than: str | timedelta = reports.DEFAULT_STUCK_AGE,
        limit: int = 100,
    ) -> reports.StuckReport:
        """Non-terminal orders unchanged for longer than `older_than`, with who must act."""
        self.authorize(actor, Command.VIEW_REPORTS)
        try:
            age = rules.parse_duration(older_than)
        except ValueError as exc:
            raise invalid_input([{"field": "older_than", "type": "duration", "message": str(exc)}]) from exc
        if not 1 <= limit <= MAX_STUCK_PAGE:
            raise invalid_input([{"field": "limit", "message": f"between 1 and {MAX_STUCK_PAGE}",
                                  "type": "range"}])
        owner, now = self.visible_owner(actor), datetime.now(UTC)
        return await self._db(lambda s: reports.stuck(s, age, now, owner, limit))


def _is_key(value: str) -> bool:
    return bool(KEY_PATTERN.match(value))


def _period(from_: str | date | datetime | None, to: str | date | datetime | None) -> reports.Period:
    try:
        return reports.period(from_, to)
    except reports.BadParameter as exc:
        raise invalid_input([{"field": exc.field, "type": "datetime", "message": exc.message}]) from exc
