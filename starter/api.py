"""The HTTP API (api.md): parsing and error mapping only; every decision is made in `service.py`.

Run with `uvicorn --factory starter.api:create_app` or through `orders api`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.exceptions import ApplicationError

from starter.api_webhooks import webhook_router
from starter.service import (
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
          409: "conflict", 415: "unsupported_media_type", 422: "invalid_input", 503: "unavailable"}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


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

    return check


Admin = Annotated[Actor, Depends(_allowed(Command.MANAGE_USERS))]
CustomerManager = Annotated[Actor, Depends(_allowed(Command.MANAGE_CUSTOMERS))]
ProductManager = Annotated[Actor, Depends(_allowed(Command.MANAGE_PRODUCTS))]
StockKeeper = Annotated[Actor, Depends(_allowed(Command.ADJUST_STOCK))]
Viewer = Annotated[Actor, Depends(_allowed(Command.VIEW_MASTER_DATA))]
OrderCreator = Annotated[Actor, Depends(_allowed(Command.CREATE_ORDER))]
OrderViewer = Annotated[Actor, Depends(_allowed(Command.VIEW_ORDER))]
Editor = Annotated[Actor, Depends(_allowed(Command.EDIT_ORDER))]
StatusChanger = Annotated[Actor, Depends(_allowed(Command.CHANGE_STATUS))]
Canceller = Annotated[Actor, Depends(_allowed(Command.CANCEL_ORDER))]
Approver = Annotated[Actor, Depends(_allowed(Command.APPROVE_ORDER))]
Payer = Annotated[Actor, Depends(_allowed(Command.RECORD_PAYMENT))]
Receiver = Annotated[Actor, Depends(_allowed(Command.CONFIRM_RECEIPT))]


OrderId = Annotated[str, Path(min_length=1, max_length=64)]
Wait = Annotated[bool, Query(description="false: deliver as a signal and answer 202 at once")]


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

    app = FastAPI(title="Orders", version="0.1.0", lifespan=lifespan,
                  description="Durable order processing on Temporal (see api.md).")
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(ApplicationError, _application_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

    @app.middleware("http")
    async def request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        request.state.request_id = rid
        response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        return response

    _master_data_routes(app)
    _order_routes(app)
    app.include_router(webhook_router())

    @app.get("/healthz", tags=["operations"])
    async def healthz(services: ServicesDep) -> JSONResponse:
        checks = await services.health()
        if all(v == "ok" for v in checks.values()):
            return JSONResponse({"status": "ok", **checks})
        return error_response(503, "unavailable", "a dependency does not answer", checks)

    return app


def _master_data_routes(app: FastAPI) -> None:
    @app.post("/users", status_code=201, tags=["master data"])
    async def create_user(
        body: NewUser, services: ServicesDep, actor: Admin
    ) -> CreatedUser:
        return await services.create_user(actor, body)

    @app.post("/customers", status_code=201, tags=["master data"])
    async def create_customer(
        body: NewCustomer, services: ServicesDep, actor: CustomerManager
    ) -> CustomerView:
        return await services.create_customer(actor, body)

    @app.get("/customers/{customer_id}", tags=["master data"])
    async def get_customer(
        customer_id: str, services: ServicesDep, actor: Viewer
    ) -> CustomerView:
        return await services.get_customer(actor, customer_id)

    @app.post("/products", status_code=201, tags=["master data"])
    async def create_product(
        body: NewProduct, services: ServicesDep, actor: ProductManager
    ) -> ProductView:
        return await services.create_product(actor, body)

    @app.get("/products/{sku}", tags=["master data"])
    async def get_product(
        sku: str, services: ServicesDep, actor: Viewer
    ) -> ProductView:
        return await services.get_product(actor, sku)

    @app.post("/products/{sku}/stock", tags=["master data"])
    async def adjust_stock(
        sku: str, body: StockAdjustment, services: ServicesDep,
        actor: StockKeeper,
    ) -> ProductView:
        return await services.adjust_stock(actor, sku, body.delta, body.reason)


def _order_routes(app: FastAPI) -> None:
    @app.post("/orders", status_code=201, tags=["orders"], response_model=OrderView)
    async def create_order(
        body: NewOrder,
        services: ServicesDep,
        actor: OrderCreator,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
    ) -> JSONResponse:
        view = await services.create_order(actor, body, idempotency_key)
        return JSONResponse(_dump(view), status_code=201)

    @app.get("/orders", tags=["orders"])
    async def list_orders(
        services: ServicesDep,
        actor: OrderViewer,
        status: OrderStatus | None = None,
        customer_id: str | None = None,
        owner_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        cursor: str | None = None,
    ) -> OrderPage:
        return await services.list_orders(actor, status=status, customer_id=customer_id,
                                          owner_id=owner_id, limit=limit, cursor=cursor)

    @app.get("/orders/{order_id}", tags=["orders"], response_model=OrderView)
    async def get_order(
        order_id: OrderId, services: ServicesDep, actor: OrderViewer
    ) -> JSONResponse:
        return JSONResponse(_dump(await services.get_order(actor, order_id)))

    @app.get("/orders/{order_id}/history", tags=["orders"])
    async def history(
        order_id: OrderId, services: ServicesDep, actor: OrderViewer
    ) -> list[AuditEntry]:
        return await services.history(actor, order_id)

    async def send(services: Services, actor: Actor, order_id: str, name: CommandName,
                   body: Any, wait: bool) -> JSONResponse:
        return _command_answer(await services.command(actor, order_id, name, body, wait=wait))

    answers: dict[int | str, dict[str, Any]] = {202: {"model": Accepted}}

    @app.patch("/orders/{order_id}", tags=["orders"], response_model=OrderView, responses=answers)
    async def edit(order_id: OrderId, body: EditBody, services: ServicesDep,
                   actor: Editor, wait: Wait = True) -> JSONResponse:
        return await send(services, actor, order_id, "edit", body, wait)

    @app.post("/orders/{order_id}/status", tags=["orders"], response_model=OrderView, responses=answers)
    async def change_status(order_id: OrderId, body: StatusBody, services: ServicesDep,
                            actor: StatusChanger,
                            wait: Wait = True) -> JSONResponse:
        return await send(services, actor, order_id, "change_status", body, wait)

    @app.post("/orders/{order_id}/cancel", tags=["orders"], response_model=OrderView, responses=answers)
    async def cancel(order_id: OrderId, body: CancelBody, services: ServicesDep,
                     actor: Canceller, wait: Wait = True) -> JSONResponse:
        return await send(services, actor, order_id, "cancel", body, wait)

    @app.post("/orders/{order_id}/approve", tags=["orders"], response_model=OrderView, responses=answers)
    async def approve(order_id: OrderId, services: ServicesDep, actor: Approver,
                      body: Annotated[ApproveBody | None, Body()] = None, wait: Wait = True) -> JSONResponse:
        return await send(services, actor, order_id, "approve", body or ApproveBody(), wait)

    @app.post("/orders/{order_id}/reject", tags=["orders"], response_model=OrderView, responses=answers)
    async def reject(order_id: OrderId, body: RejectBody, services: ServicesDep,
                     actor: Approver, wait: Wait = True) -> JSONResponse:
        return await send(services, actor, order_id, "reject", body, wait)

    @app.post("/orders/{order_id}/payment", tags=["orders"], response_model=OrderView, responses=answers)
    async def pay(order_id: OrderId, body: PaymentBody, services: ServicesDep,
                  actor: Payer, wait: Wait = True) -> JSONResponse:
        return await send(services, actor, order_id, "pay", body, wait)

    @app.post("/orders/{order_id}/receipt", tags=["orders"], response_model=OrderView, responses=answers)
    async def confirm_receipt(order_id: OrderId, services: ServicesDep, actor: Receiver,
                              body: Annotated[ReceiptBody | None, Body()] = None,
                              wait: Wait = True) -> JSONResponse:
        return await send(services, actor, order_id, "confirm_receipt", body or ReceiptBody(), wait)


__all__ = ["create_app", "error_body", "field_errors"]
