"""The HTTP API (api.md): parsing and error mapping only; every decision is made in `service.py`.

Run with `uvicorn --factory starter.api:create_app` or through `orders api`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Annotated, Any

import structlog
from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.exceptions import ApplicationError

from starter import api_docs as docs
from starter.api_webhooks import webhook_router
from starter.reports import CancellationReport, CorrectionsReport, GroupBy, SalesReport, StuckReport
from starter.service import (
    COMMANDS,
    KEY_PATTERN,
    MAX_PAGE,
    MAX_STUCK_PAGE,
    Accepted,
    CommandName,
    CreatedUser,
    CustomerView,
    NewCustomer,
    NewProduct,
    NewUser,
    OrderPage,
    ProductView,
    ServiceError,
    Services,
    StockAdjustment,
    SubStatusLabel,
    field_errors,
    field_path,
    from_application_error,
)
from starter.settings import Settings
from workflows.models import (
    Actor,
    ApproveBody,
    AuditEntry,
    CancelBody,
    EditBody,
    NewOrder,
    OrderView,
    PaymentBody,
    ReceiptBody,
    RejectBody,
    StatusBody,
)
from workflows.rules import Command, OrderStatus

log = logging.getLogger(__name__)

ServicesFactory = Callable[[], Awaitable[Services]]

_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "content_too_large", 415: "unsupported_media_type", 422: "invalid_input",
          503: "unavailable"}
MAX_BODY_BYTES = 1024 * 1024


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


# --- body size limit --------------------------------------------------------------------------


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes is answered 413 in the error shape.

    The body is read (up to the limit) before the app sees it, so a chunked upload without a
    Content-Length is bounded too; the app then receives it as one message.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "content_too_large",
                                  f"the request body is larger than {self.limit} bytes",
                                  {"limit_bytes": self.limit}, {"Connection": "close"})
        await response(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


# --- error handlers ---------------------------------------------------------------------------


async def _service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _application_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApplicationError)
    return await _service_error(request, from_application_error(exc))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in problems):
        where = next(e for e in problems if e.get("type") == "json_invalid")
        reason = (where.get("ctx") or {}).get("error", "malformed JSON")
        position = where["loc"][-1] if where.get("loc") else None
        return error_response(422, "invalid_json", f"the request body is not valid JSON: {reason}",
                              {"position": position})
    details = []
    for e in problems:
        loc = list(e.get("loc", ()))
        source = loc.pop(0) if loc and loc[0] in ("body", "query", "path", "header") else "body"
        field = field_path(loc) if loc else source
        details.append({"field": field, "in": source, "message": e.get("msg", "invalid"),
                        "type": e.get("type", "invalid")})
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return error_response(422, "invalid_input", summary or "invalid input", details)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 400 and isinstance(exc.__cause__, ValueError):
        # FastAPI could not decode the body (e.g. not UTF-8): the same answer as malformed JSON.
        return error_response(422, "invalid_json", f"the request body is not valid JSON: {exc.__cause__}",
                              {"position": getattr(exc.__cause__, "start", None)})
    code = _CODES.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    if status == 404 and message == "Not Found":
        message = "no such resource"
    elif status == 405 and message == "Method Not Allowed":
        message = "this method is not allowed on this resource"
    return error_response(status, code, message, None, dict(exc.headers or {}) or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")


# --- dependencies -----------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="a user's token, or ORDERS_ADMIN_TOKEN")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def current_actor(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    token = credentials.credentials if credentials else None
    return await services.authenticate(token, request_id=getattr(request.state, "request_id", None))


ActorDep = Annotated[Actor, Depends(current_actor)]


def _allowed(command: Command) -> Callable[[Actor, Services], Awaitable[Actor]]:
    """Dependency: the authenticated actor, refused (403) before the body is even validated."""

    async def check(actor: ActorDep, services: ServicesDep) -> Actor:
        services.authorize(actor, command)
        return actor

    check.command = command  # type: ignore[attr-defined]  # read by the permission-matrix test
    return check


OrderId = Annotated[str, Path(min_length=1, max_length=64, pattern=KEY_PATTERN.pattern,
                              description="the order id", examples=[docs.ORDER_ID])]


def _may_send(name: CommandName) -> Callable[[str, Actor, Services], Awaitable[Actor]]:
    """Dependency: the actor's role may send this command (403 before the body is read); the service
    records a refusal on an existing order in its audit trail."""

    async def check(order_id: OrderId, actor: ActorDep, services: ServicesDep) -> Actor:
        await services.authorize_command(actor, order_id, name)
        return actor

    check.command = COMMANDS[name].permission  # type: ignore[attr-defined]
    return check


Admin = Annotated[Actor, Depends(_allowed(Command.MANAGE_USERS))]
CustomerManager = Annotated[Actor, Depends(_allowed(Command.MANAGE_CUSTOMERS))]
ProductManager = Annotated[Actor, Depends(_allowed(Command.MANAGE_PRODUCTS))]
CatalogManager = Annotated[Actor, Depends(_allowed(Command.MANAGE_CATALOG))]
StockKeeper = Annotated[Actor, Depends(_allowed(Command.ADJUST_STOCK))]
Viewer = Annotated[Actor, Depends(_allowed(Command.VIEW_MASTER_DATA))]
OrderCreator = Annotated[Actor, Depends(_allowed(Command.CREATE_ORDER))]
OrderViewer = Annotated[Actor, Depends(_allowed(Command.VIEW_ORDER))]
Editor = Annotated[Actor, Depends(_may_send("edit"))]
StatusChanger = Annotated[Actor, Depends(_may_send("change_status"))]
Canceller = Annotated[Actor, Depends(_may_send("cancel"))]
Approver = Annotated[Actor, Depends(_may_send("approve"))]
Rejecter = Annotated[Actor, Depends(_may_send("reject"))]
Payer = Annotated[Actor, Depends(_may_send("pay"))]
Receiver = Annotated[Actor, Depends(_may_send("confirm_receipt"))]
Reporter = Annotated[Actor, Depends(_allowed(Command.VIEW_REPORTS))]

Wait = Annotated[bool, Query(description="false: deliver as a signal and answer 202 at once")]
Since = Annotated[str | None, Query(alias="from", max_length=40, examples=["2025-03-01"],
                                    description="ISO date or datetime (UTC when no zone), inclusive")]
Until = Annotated[str | None, Query(max_length=40, examples=["2025-03-31"],
                                    description="ISO date (that whole day included) or datetime (exclusive)")]


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True)


def _command_answer(result: OrderView | Accepted) -> JSONResponse:
    if isinstance(result, Accepted):
        return JSONResponse(_dump(result), status_code=202)
    return JSONResponse(_dump(result))


# --- the app ----------------------------------------------------------------------------------


def create_app(source: Settings | Services | ServicesFactory | None = None) -> FastAPI:
    """`source`: Settings (connect from them), a ready Services, or an async factory of one."""

    async def build() -> Services:
        if isinstance(source, Services):
            return source
        if source is None or isinstance(source, Settings):
            return await Services.open(source)
        return await source()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build()
        app.state.services = services
        try:
            yield
        finally:
            if not isinstance(source, Services):
                await services.close()

    app = FastAPI(title="Orders", version="0.1.0", lifespan=lifespan, description=docs.DESCRIPTION)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(ApplicationError, _application_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(BodyLimit)  # inside the request-id middleware: a 413 carries an id too

    @app.middleware("http")
    async def request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Every request gets an id (the caller's X-Request-ID or a new one): in the answer, in each
        log line of the request, and in the audit entries of the commands it sends."""
        rid = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        request.state.request_id = rid
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=rid):
            response = await call_next(request)
            log.info("request", extra={"method": request.method, "path": request.url.path,
                                       "status": response.status_code,
                                       "duration_ms": round((time.perf_counter() - started) * 1000, 1)})
        response.headers["X-Request-ID"] = rid
        return response

    _master_data_routes(app)
    _order_routes(app)
    _report_routes(app)
    app.include_router(webhook_router(), responses=docs.errors(*docs.WITH_BODY, 404, 409))

    @app.get("/healthz", tags=["operations"], responses={
        **docs.example(200, {"status": "ok", "database": "ok", "temporal": "ok"}),
        **docs.errors(503)})
    async def healthz(services: ServicesDep) -> JSONResponse:
        """200 when the database and Temporal answer (no auth)."""
        checks = await services.health()
        if all(v == "ok" for v in checks.values()):
            return JSONResponse({"status": "ok", **checks})
        return error_response(503, "unavailable", "a dependency does not answer", checks)

    return app


def _master_data_routes(app: FastAPI) -> None:
    @app.post("/users", status_code=201, tags=["master data"],
              responses={**docs.example(201, docs.CREATED_USER, "Created"), **docs.errors(*docs.WITH_BODY)})
    async def create_user(
        body: Annotated[NewUser, Body(openapi_examples=docs.NEW_USER)], services: ServicesDep, actor: Admin
    ) -> CreatedUser:
        """A user with a new bearer token (shown once). Admin only."""
        return await services.create_user(actor, body)

    @app.post("/customers", status_code=201, tags=["master data"],
              responses={**docs.example(201, docs.CUSTOMER, "Created"),
                         **docs.errors(*docs.WITH_BODY, 409)})
    async def create_customer(
        body: Annotated[NewCustomer, Body(openapi_examples=docs.NEW_CUSTOMER)], services: ServicesDep,
        actor: CustomerManager,
    ) -> CustomerView:
        return await services.create_customer(actor, body)

    @app.get("/customers/{customer_id}", tags=["master data"],
             responses={**docs.example(200, docs.CUSTOMER), **docs.errors(*docs.AUTHENTICATED, 404)})
    async def get_customer(
        customer_id: str, services: ServicesDep, actor: Viewer
    ) -> CustomerView:
        return await services.get_customer(actor, customer_id)

    @app.post("/products", status_code=201, tags=["master data"],
              responses={**docs.example(201, docs.PRODUCT, "Created"), **docs.errors(*docs.WITH_BODY, 409)})
    async def create_product(
        body: Annotated[NewProduct, Body(openapi_examples=docs.NEW_PRODUCT)], services: ServicesDep,
        actor: ProductManager,
    ) -> ProductView:
        return await services.create_product(actor, body)

    @app.get("/sub-statuses", tags=["master data"],
             responses={**docs.example(200, docs.SUB_STATUS_CATALOG), **docs.errors(*docs.AUTHENTICATED)})
    async def list_sub_statuses(services: ServicesDep, actor: Viewer) -> dict[str, list[str]]:
        """The sub-status catalog: labels per status (admins manage it)."""
        return await services.sub_statuses(actor)

    @app.post("/sub-statuses", status_code=201, tags=["master data"],
              responses={**docs.example(201, docs.SUB_STATUS_CATALOG, "Created"),
                         **docs.errors(*docs.WITH_BODY, 409)})
    async def add_sub_status(
        body: Annotated[SubStatusLabel, Body(openapi_examples=docs.SUB_STATUS)], services: ServicesDep,
        actor: CatalogManager,
    ) -> dict[str, list[str]]:
        """Add a label to the catalog of a status; answers with the whole catalog."""
        return await services.add_sub_status(actor, body)

    @app.delete("/sub-statuses/{status}/{label}", status_code=204, tags=["master data"],
                responses={**docs.errors(*docs.AUTHENTICATED, 404)})
    async def remove_sub_status(
        status: str, label: str, services: ServicesDep, actor: CatalogManager
    ) -> Response:
        """Remove a label: it can no longer be set (orders that carry it keep it)."""
        await services.remove_sub_status(actor, status, label)
        return Response(status_code=204)

    @app.get("/products/{sku}", tags=["master data"],
             responses={**docs.example(200, docs.PRODUCT), **docs.errors(*docs.AUTHENTICATED, 404)})
    async def get_product(
        sku: str, services: ServicesDep, actor: Viewer
    ) -> ProductView:
        return await services.get_product(actor, sku)

    @app.post("/products/{sku}/stock", tags=["master data"],
              responses={**docs.example(200, docs.PRODUCT), **docs.errors(*docs.WITH_BODY, 404, 409)})
    async def adjust_stock(
        sku: str, body: Annotated[StockAdjustment, Body(openapi_examples=docs.STOCK)], services: ServicesDep,
        actor: StockKeeper,
    ) -> ProductView:
        """Add (positive delta) or remove stock; never below what is reserved (409)."""
        return await services.adjust_stock(actor, sku, body.delta, body.reason)


def _order_routes(app: FastAPI) -> None:
    @app.post("/orders", status_code=201, tags=["orders"], response_model=OrderView,
              responses={**docs.example(201, docs.ORDER_VIEW, "Created: the priced order view"),
                         **docs.errors(*docs.WITH_BODY, 409, 503, 504)})
    async def create_order(
        body: Annotated[NewOrder, Body(openapi_examples=docs.NEW_ORDER)],
        services: ServicesDep,
        actor: OrderCreator,
        idempotency_key: Annotated[str | None, Header(
            alias="Idempotency-Key", min_length=1, max_length=200,
            description="same key + same body → the same order; same key + another body → 409")] = None,
    ) -> JSONResponse:
        """Start the order: prices come from the catalog and the total is computed server-side."""
        view = await services.create_order(actor, body, idempotency_key)
        return JSONResponse(_dump(view), status_code=201)

    @app.get("/orders", tags=["orders"],
             responses={**docs.example(200, docs.ORDER_PAGE), **docs.errors(*docs.AUTHENTICATED)})
    async def list_orders(
        services: ServicesDep,
        actor: OrderViewer,
        status: OrderStatus | None = None,
        customer_id: Annotated[str | None, Query(max_length=64, pattern=KEY_PATTERN.pattern)] = None,
        owner_id: Annotated[str | None, Query(max_length=64, pattern=KEY_PATTERN.pattern)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        cursor: Annotated[str | None, Query(max_length=500,
                                            description="next_cursor of the previous page")] = None,
    ) -> OrderPage:
        """Newest first, from the read model. Sales see only the orders they own."""
        return await services.list_orders(actor, status=status, customer_id=customer_id,
                                          owner_id=owner_id, limit=limit, cursor=cursor)

    @app.get("/orders/{order_id}", tags=["orders"], response_model=OrderView,
             responses={**docs.example(200, docs.ORDER_VIEW), **docs.errors(*docs.ORDER_READ)})
    async def get_order(
        order_id: OrderId, services: ServicesDep, actor: OrderViewer
    ) -> JSONResponse:
        """The live view of the order (its workflow's query)."""
        return JSONResponse(_dump(await services.get_order(actor, order_id)))

    @app.get("/orders/{order_id}/history", tags=["orders"],
             responses={**docs.example(200, docs.HISTORY), **docs.errors(*docs.ORDER_READ)})
    async def history(
        order_id: OrderId, services: ServicesDep, actor: OrderViewer
    ) -> list[AuditEntry]:
        """The audit trail, oldest first; refused commands have accepted=false and the reason."""
        return await services.history(actor, order_id)

    async def send(services: Services, actor: Actor, order_id: str, name: CommandName,
                   body: Any, wait: bool) -> JSONResponse:
        return _command_answer(await services.command(actor, order_id, name, body, wait=wait))

    answers: dict[int | str, dict[str, Any]] = {
        **docs.example(200, docs.ORDER_VIEW, "Applied: the new order view"),
        202: {"model": Accepted, "description": "wait=false: delivered as a signal; read the order later",
              "content": {"application/json": {"example": docs.ACCEPTED}}},
        **docs.errors(*docs.ORDER_COMMAND),
    }

    @app.patch("/orders/{order_id}", tags=["orders"], response_model=OrderView, responses=answers)
    async def edit(order_id: OrderId, body: Annotated[EditBody, Body(openapi_examples=docs.EDIT)],
                   services: ServicesDep, actor: Editor,
                   wait: Wait = True) -> JSONResponse:
        """Edit lines, address or notes (until shipped; then only notes); re-prices and re-reserves."""
        return await send(services, actor, order_id, "edit", body, wait)

    @app.post("/orders/{order_id}/status", tags=["orders"], response_model=OrderView, responses=answers)
    async def change_status(order_id: OrderId,
                            body: Annotated[StatusBody, Body(openapi_examples=docs.STATUS)],
                            services: ServicesDep, actor: StatusChanger, wait: Wait = True) -> JSONResponse:
        """A move the transition table allows (refusals name the allowed targets)."""
        return await send(services, actor, order_id, "change_status", body, wait)

    @app.post("/orders/{order_id}/cancel", tags=["orders"], response_model=OrderView, responses=answers)
    async def cancel(order_id: OrderId, body: Annotated[CancelBody, Body(openapi_examples=docs.CANCEL)],
                     services: ServicesDep, actor: Canceller,
                     wait: Wait = True) -> JSONResponse:
        """Void the order; compensations run afterwards (see compensation_pending)."""
        return await send(services, actor, order_id, "cancel", body, wait)

    @app.post("/orders/{order_id}/approve", tags=["orders"], response_model=OrderView, responses=answers)
    async def approve(order_id: OrderId, services: ServicesDep, actor: Approver,
                      body: Annotated[ApproveBody | None, Body(openapi_examples=docs.APPROVE)] = None,
                      wait: Wait = True) -> JSONResponse:
        """Release an order on hold (nobody approves their own order)."""
        return await send(services, actor, order_id, "approve", body or ApproveBody(), wait)

    @app.post("/orders/{order_id}/reject", tags=["orders"], response_model=OrderView, responses=answers)
    async def reject(order_id: OrderId, body: Annotated[RejectBody, Body(openapi_examples=docs.REJECT)],
                     services: ServicesDep, actor: Rejecter,
                     wait: Wait = True) -> JSONResponse:
        """Reject an order on hold: it is cancelled with reason `rejected: …`."""
        return await send(services, actor, order_id, "reject", body, wait)

    @app.post("/orders/{order_id}/payment", tags=["orders"], response_model=OrderView, responses=answers)
    async def pay(order_id: OrderId, body: Annotated[PaymentBody, Body(openapi_examples=docs.PAYMENT)],
                  services: ServicesDep, actor: Payer,
                  wait: Wait = True) -> JSONResponse:
        """Record the payment of a prepaid order (the amount must equal the total)."""
        return await send(services, actor, order_id, "pay", body, wait)

    @app.post("/orders/{order_id}/receipt", tags=["orders"], response_model=OrderView, responses=answers)
    async def confirm_receipt(order_id: OrderId, services: ServicesDep,
                              actor: Receiver,
                              body: Annotated[ReceiptBody | None, Body(openapi_examples=docs.RECEIPT)] = None,
                              wait: Wait = True) -> JSONResponse:
        """Confirm delivery of a shipped order."""
        return await send(services, actor, order_id, "confirm_receipt", body or ReceiptBody(), wait)


def _report_routes(app: FastAPI) -> None:
    failures = docs.errors(*docs.AUTHENTICATED)

    @app.get("/reports/sales", tags=["reports"],
             responses={**docs.example(200, docs.SALES_REPORT), **failures})
    async def sales_report(services: ServicesDep, actor: Reporter, from_: Since = None, to: Until = None,
                           group_by: GroupBy = "day") -> SalesReport:
        """Completed orders (by completion time): orders, units and revenue per day, customer or SKU.
        Sales see only their own orders."""
        return await services.sales_report(actor, from_=from_, to=to, group_by=group_by)

    @app.get("/reports/cancellations", tags=["reports"],
             responses={**docs.example(200, docs.CANCELLATION_REPORT), **failures})
    async def cancellations_report(services: ServicesDep, actor: Reporter, from_: Since = None,
                                   to: Until = None) -> CancellationReport:
        """Orders created in the period, how many were cancelled and why (reason codes)."""
        return await services.cancellations_report(actor, from_=from_, to=to)

    @app.get("/reports/corrections", tags=["reports"],
             responses={**docs.example(200, docs.CORRECTIONS_REPORT), **failures})
    async def corrections_report(services: ServicesDep, actor: Reporter, from_: Since = None,
                                 to: Until = None) -> CorrectionsReport:
        """Edits after acceptance counted by field and by user, plus refused edits by reason."""
        return await services.corrections_report(actor, from_=from_, to=to)

    @app.get("/reports/stuck", tags=["reports"],
             responses={**docs.example(200, docs.STUCK_REPORT), **failures})
    async def stuck_orders(
        services: ServicesDep, actor: Reporter,
        older_than: Annotated[str, Query(max_length=20, examples=["1h", "30m", "2d"],
                                         description="seconds (45) or 45s, 10m, 24h, 7d")] = "1h",
        limit: Annotated[int, Query(ge=1, le=MAX_STUCK_PAGE)] = 100,
    ) -> StuckReport:
        """Orders not moving: non-terminal and unchanged for longer than `older_than` (or needing
        attention), oldest first, with who must act and the next step."""
        return await services.stuck_orders(actor, older_than=older_than, limit=limit)


__all__ = ["create_app", "error_body", "field_errors"]
