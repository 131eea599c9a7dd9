"""The `orders` command: run the pieces (dev, api, worker, db, setup) and operator commands.

Operator commands call the same service layer as the HTTP API; this module only parses arguments,
authenticates with a token and prints. Exit codes: 0 ok, 2 bad input, 3 not found, 4 conflict,
1 anything else (unreachable services, refused permission…).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from starter.settings import Settings
from workflows.rules import OrderStatus

if TYPE_CHECKING:  # the service layer (Temporal, SQLAlchemy) loads only for commands that use it
    from starter.service import CommandName, ServiceError, Services
    from workflows.models import Actor, AuditEntry, OrderView

T = TypeVar("T")

EXIT_OTHER, EXIT_BAD_INPUT, EXIT_NOT_FOUND, EXIT_CONFLICT = 1, 2, 3, 4

app = typer.Typer(help="Durable order processing on Temporal.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
order_app = typer.Typer(help="Look at orders (same rules as the HTTP API).", no_args_is_help=True)
report_app = typer.Typer(help="Reports (same numbers as GET /reports/...).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(order_app, name="order")
app.add_typer(report_app, name="report")


def console() -> Console:
    """On a terminal, its width; piped into a file or grep, wide enough that nothing is cut."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 240)


def settings() -> Settings:
    """Read fresh from the environment each time (not the cached get_settings: tests vary env)."""
    return Settings()


def fail(message: str, code: int = EXIT_OTHER) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def exit_code(error: ServiceError) -> int:
    if error.status in (400, 422):
        return EXIT_BAD_INPUT
    if error.status == 404:
        return EXIT_NOT_FOUND
    if error.status == 409:
        return EXIT_CONFLICT
    return EXIT_OTHER


def _fail_service(error: ServiceError) -> NoReturn:
    details = error.details if isinstance(error.details, list) else []
    lines = [error.message] + [f"  {d.get('field')}: {d.get('message')}" for d in details
                               if isinstance(d, dict) and d.get("field")]
    fail("\n".join(lines), exit_code(error))


# --- running the pieces --------------------------------------------------------------------------


@app.command()
def dev(
    temporal_port: Annotated[int, typer.Option(help="gRPC port of the Temporal dev server")] = 7233,
    ui_port: Annotated[int | None, typer.Option(help="Temporal UI port [default: temporal port + 1000]")]
    = None,
    api_port: Annotated[int | None, typer.Option(help="HTTP API port [default: ORDERS_API_PORT]")] = None,
    demo: Annotated[bool, typer.Option("--demo/--no-demo", help="seed demo data on first run")] = True,
    var_dir: Annotated[Path, typer.Option(help="where the dev server and SQLite keep their files")]
    = Path("var"),
) -> None:
    """Local stack in the foreground: Temporal dev server + UI, migrations, worker, API, demo data."""
    from starter.dev import DevError, DevOptions, run_dev
    from starter.logs import configure_logging

    configure_logging("WARNING")
    options = DevOptions(temporal_port=temporal_port, ui_port=ui_port, api_port=api_port,
                         demo=demo, var_dir=var_dir)
    try:
        asyncio.run(run_dev(settings(), options))
    except DevError as error:
        fail(str(error))
    except KeyboardInterrupt:  # Ctrl-C before the stack installed its own handler: nothing started
        fail("interrupted", 130)


@db_app.command("upgrade")
def db_upgrade(
    database_url: Annotated[str | None, typer.Option(help="[default: DATABASE_URL]")] = None,
) -> None:
    """Apply the migrations to DATABASE_URL and print the revision reached."""
    from db.migrate import current, upgrade

    url = database_url or settings().database_url
    try:
        upgrade(url)
        revision = current(url)
    except Exception as error:
        fail(f"could not migrate the database: {error}")
    typer.echo(f"database at revision {revision}")


@app.command()
def setup() -> None:
    """Register the order search attributes on the Temporal namespace (idempotent)."""
    from starter.temporal import connect, register_search_attributes

    config = settings()

    async def register() -> list[str]:
        client = await connect(config)
        return await register_search_attributes(client, config.temporal_namespace)

    try:
        added = asyncio.run(register())
    except Exception as error:
        fail(f"could not register search attributes on {config.temporal_address} "
             f"(namespace {config.temporal_namespace}): {error}")
    if added:
        typer.echo(f"added search attributes: {', '.join(added)}")
    else:
        typer.echo("search attributes already registered")


@app.command()
def api() -> None:
    """The HTTP API only (uvicorn on ORDERS_API_HOST:ORDERS_API_PORT)."""
    import uvicorn

    from starter.api import create_app
    from starter.logs import configure_logging

    configure_logging()
    config = settings()
    uvicorn.run(create_app(config), host=config.api_host, port=config.api_port, log_config=None)


@app.command()
def worker() -> None:
    """One worker process, same as `python worker.py`."""
    import worker as worker_module

    try:
        worker_module.main()
    except Exception as error:  # most often: Temporal not reachable at start
        config = settings()
        fail(f"the worker stopped ({config.temporal_address}, namespace {config.temporal_namespace}): "
             f"{error}")


# --- operator commands ---------------------------------------------------------------------------

TokenOption = Annotated[str | None, typer.Option(
    "--token", help="bearer token [default: ORDERS_TOKEN, else ORDERS_ADMIN_TOKEN]", show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


def _with_services(token: str | None, work: Callable[[Services, Actor], Awaitable[T]]) -> T:
    """Authenticate the token and run `work` over the service layer; errors become exit codes."""
    config = settings()
    token = token or os.environ.get("ORDERS_TOKEN") or config.admin_token
    if not token:
        fail("no token: set ORDERS_TOKEN or pass --token (ORDERS_ADMIN_TOKEN works too)", EXIT_BAD_INPUT)

    from starter.service import ServiceError, Services

    async def run() -> T:
        services = await Services.open(config, connect_temporal=False)
        try:
            actor = await services.authenticate(token)
            return await work(services, actor)
        finally:
            await services.close()

    try:
        return asyncio.run(run())
    except ServiceError as error:
        _fail_service(error)
    except Exception as error:  # e.g. a database that was never migrated
        fail(f"{type(error).__name__}: {error}")


def _print_json(data: Any) -> None:
    from pydantic import BaseModel

    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json", by_alias=True)
    elif isinstance(data, list):
        data = [d.model_dump(mode="json", by_alias=True) if isinstance(d, BaseModel) else d for d in data]
    typer.echo(json.dumps(data, indent=2, default=str))


@order_app.command("show")
def order_show(order_id: str, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """One order: status, lines, shipment, payments."""
    view = _with_services(token, lambda s, a: s.get_order(a, order_id))
    if as_json:
        _print_json(view)
        return
    _show(view)


@order_app.command("list")
def order_list(
    status: Annotated[OrderStatus | None, typer.Option(case_sensitive=False)] = None,
    customer: Annotated[str | None, typer.Option(help="customer id")] = None,
    owner: Annotated[str | None, typer.Option(help="owner (user id)")] = None,
    limit: int = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Orders, newest first, from the read model."""
    page = _with_services(token, lambda s, a: s.list_orders(
        a, status=status, customer_id=customer, owner_id=owner, limit=limit, cursor=cursor))
    if as_json:
        _print_json(page)
        return
    table = Table("order", "status", "customer", "owner", "total", "created (UTC)", "attention",
                  box=None, header_style="bold")
    for item in page.items:
        table.add_row(item["order_id"], _status(item), item["customer_id"], item["owner_id"],
                      f"{item['total']} {item.get('currency', '')}", _time(item["created_at"]),
                      item.get("attention_reason") or ("yes" if item.get("needs_attention") else ""))
    out = console()
    out.print(table)
    out.print(f"{len(page.items)} order(s)" + (f"; more with --cursor {page.next_cursor}"
                                                 if page.next_cursor else ""))


@order_app.command("history")
def order_history(order_id: str, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """The audit trail: who did what, when, from/to status, field changes, rejected commands too."""
    entries: list[AuditEntry] = _with_services(token, lambda s, a: s.history(a, order_id))
    if as_json:
        _print_json(entries)
        return
    table = Table("at (UTC)", "actor", "action", "status", "changes", "reason", box=None,
                  header_style="bold")
    for e in entries:
        moved = f"{e.from_status or ''} → {e.to_status}" if e.to_status and e.to_status != e.from_status \
            else (e.to_status or "")
        changes = ", ".join(f"{k}: {v[0]} → {v[1]}" if len(v) == 2 else f"{k}: {v}"
                            for k, v in e.changes.items())
        action = e.action if e.accepted else f"{e.action} (REJECTED)"
        table.add_row(_time(e.at.isoformat()), f"{e.actor} ({e.role})", action, moved, changes,
                      e.reason or "")
    console().print(table)


# --- order commands (updates on the order's workflow, as POST /orders/{id}/...) ---------------------

ReasonOption = Annotated[str | None, typer.Option(help="why (kept in the audit trail)")]
WaitOption = Annotated[bool, typer.Option(
    "--wait/--no-wait", help="wait for the order's answer, or deliver as a signal and return at once")]


def _send(order_id: str, name: CommandName, body: dict[str, Any], token: str | None, wait: bool,
          as_json: bool) -> None:
    """One command through Services.command; prints the new view (or the signal's acceptance)."""
    body = {k: v for k, v in body.items() if v is not None}
    result = _with_services(token, lambda s, a: s.command(a, order_id, name, body, wait=wait))
    from workflows.models import OrderView

    if as_json:
        _print_json(result)
    elif isinstance(result, OrderView):
        _show(result)
    else:
        typer.echo(f"sent to order {order_id}; it checks and applies the command on its own "
                   f"(see `orders order history {order_id}`)")


@order_app.command("cancel")
def order_cancel(order_id: str, reason: Annotated[str, typer.Option(help="why (required)")],
                 token: TokenOption = None, wait: WaitOption = True, as_json: JsonOption = False) -> None:
    """Cancel (void) an order; compensations run for the steps already done."""
    _send(order_id, "cancel", {"reason": reason}, token, wait, as_json)


@order_app.command("approve")
def order_approve(order_id: str, reason: ReasonOption = None, token: TokenOption = None,
                  wait: WaitOption = True, as_json: JsonOption = False) -> None:
    """Approve an order ON_HOLD (managers; not your own order)."""
    _send(order_id, "approve", {"reason": reason}, token, wait, as_json)


@order_app.command("reject")
def order_reject(order_id: str, reason: Annotated[str, typer.Option(help="why (required)")],
                 token: TokenOption = None, wait: WaitOption = True, as_json: JsonOption = False) -> None:
    """Reject an order ON_HOLD; it is cancelled."""
    _send(order_id, "reject", {"reason": reason}, token, wait, as_json)


@order_app.command("pay")
def order_pay(order_id: str, amount: Annotated[str, typer.Option(help="decimal, e.g. 129.90")],
              reference: Annotated[str, typer.Option(help="payment reference")],
              token: TokenOption = None, wait: WaitOption = True, as_json: JsonOption = False) -> None:
    """Record a payment for an order AWAITING_PAYMENT."""
    _send(order_id, "pay", {"amount": amount, "reference": reference}, token, wait, as_json)


@order_app.command("receipt")
def order_receipt(order_id: str, signed_by: Annotated[str | None, typer.Option()] = None,
                  token: TokenOption = None, wait: WaitOption = True, as_json: JsonOption = False) -> None:
    """Confirm that a SHIPPED order was received."""
    _send(order_id, "confirm_receipt", {"signed_by": signed_by}, token, wait, as_json)


@order_app.command("status")
def order_status(
    order_id: str,
    status: Annotated[OrderStatus, typer.Argument(case_sensitive=False, help="the target status")],
    sub_status: Annotated[str | None, typer.Option(help="a sub-status label, e.g. PACKED")] = None,
    reason: ReasonOption = None,
    carrier: Annotated[str | None, typer.Option(help="with SHIPPED")] = None,
    tracking_number: Annotated[str | None, typer.Option(help="with SHIPPED")] = None,
    token: TokenOption = None, wait: WaitOption = True, as_json: JsonOption = False,
) -> None:
    """Move an order along the transition table (manual hold/release, sub-status, manual shipment)."""
    _send(order_id, "change_status", {"status": status.value, "sub_status": sub_status, "reason": reason,
                                      "carrier": carrier, "tracking_number": tracking_number},
          token, wait, as_json)


@order_app.command("edit")
def order_edit(
    order_id: str,
    reason: Annotated[str, typer.Option(help="why (required)")],
    line: Annotated[list[str] | None, typer.Option(
        help="SKU=QTY or SKU=QTY@DISCOUNT%; repeat for each line; replaces all lines")] = None,
    notes: Annotated[str | None, typer.Option()] = None,
    expected_version: Annotated[int | None, typer.Option(help="refuse if the order changed since")] = None,
    token: TokenOption = None, wait: WaitOption = True, as_json: JsonOption = False,
) -> None:
    """Edit lines or notes (lines until shipped; notes always)."""
    lines = [_parse_line(item) for item in line] if line else None
    _send(order_id, "edit", {"reason": reason, "lines": lines, "notes": notes,
                             "expected_version": expected_version}, token, wait, as_json)


def _parse_line(text: str) -> dict[str, str]:
    sku, sep, rest = text.partition("=")
    if not sep or not sku or not rest:
        fail(f"--line {text!r}: write SKU=QTY or SKU=QTY@DISCOUNT", EXIT_BAD_INPUT)
    quantity, _, discount = rest.partition("@")
    parsed = {"sku": sku.strip(), "quantity": quantity.strip()}
    if discount:
        parsed["discount_pct"] = discount.strip().rstrip("%")
    return parsed


# --- reports ----------------------------------------------------------------------------------------

FromOption = Annotated[str | None, typer.Option("--from", help="start: YYYY-MM-DD or ISO 8601 (UTC)")]
ToOption = Annotated[str | None, typer.Option("--to", help="end (exclusive): YYYY-MM-DD or ISO 8601")]


@app.command()
def stuck(
    older_than: Annotated[str, typer.Option(help="45s, 10m, 24h, 7d")] = "1h",
    limit: int = 100,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Orders not moving: non-terminal and unchanged for longer than --older-than, who must act."""
    report = _with_services(token, lambda s, a: s.stuck_orders(a, older_than=older_than, limit=limit))
    if as_json:
        _print_json(report)
        return
    table = Table("order", "status", "unchanged for", "must act", "next step", "customer", "total",
                  box=None, header_style="bold")
    for item in report.items:
        table.add_row(item.order_id, item.status.value + (f" / {item.sub_status}" if item.sub_status else ""),
                      item.age, item.must_act, item.attention_reason or item.next_step, item.customer_id,
                      str(item.total))
    out = console()
    out.print(table)
    out.print(f"{len(report.items)} order(s) unchanged for longer than {older_than}")


@report_app.command("sales")
def report_sales(
    from_: FromOption = None, to: ToOption = None,
    group_by: Annotated[str, typer.Option(help="day, customer or sku")] = "day",
    token: TokenOption = None, as_json: JsonOption = False,
) -> None:
    """Completed orders: orders, units and revenue per day, customer or SKU."""
    report = _with_services(token, lambda s, a: s.sales_report(a, from_=from_, to=to, group_by=group_by))
    if as_json:
        _print_json(report)
        return
    table = Table(group_by, "orders", "units", f"total ({report.currency})", box=None, header_style="bold")
    for row in report.rows:
        table.add_row(row.key, str(row.orders), str(row.quantity), str(row.total))
    table.add_row("all", str(report.orders), str(report.quantity), str(report.total), style="bold")
    console().print(table)


@report_app.command("cancellations")
def report_cancellations(from_: FromOption = None, to: ToOption = None, token: TokenOption = None,
                         as_json: JsonOption = False) -> None:
    """Orders created in the period, how many were cancelled and why."""
    report = _with_services(token, lambda s, a: s.cancellations_report(a, from_=from_, to=to))
    if as_json:
        _print_json(report)
        return
    out = console()
    out.print(f"{report.cancelled} of {report.orders} orders cancelled (rate {report.rate:.2%})")
    table = Table("reason", "orders", box=None, header_style="bold")
    for reason, count in sorted(report.by_reason.items(), key=lambda kv: -kv[1]):
        table.add_row(reason, str(count))
    out.print(table)


@report_app.command("corrections")
def report_corrections(from_: FromOption = None, to: ToOption = None, token: TokenOption = None,
                       as_json: JsonOption = False) -> None:
    """Edits after acceptance counted by field and by user, and refused edits by reason."""
    report = _with_services(token, lambda s, a: s.corrections_report(a, from_=from_, to=to))
    if as_json:
        _print_json(report)
        return
    out = console()
    out.print(f"{report.edits} edits on {report.orders} orders; {report.refused} refused")
    table = Table("field", "edits", box=None, header_style="bold")
    for field, count in sorted(report.by_field.items(), key=lambda kv: -kv[1]):
        table.add_row(field, str(count))
    out.print(table)
    if report.refused_by_reason:
        refused = Table("refused because", "edits", box=None, header_style="bold")
        for reason, count in sorted(report.refused_by_reason.items(), key=lambda kv: -kv[1]):
            refused.add_row(reason, str(count))
        out.print(refused)


def _status(item: dict[str, Any]) -> str:
    return item["status"] + (f" / {item['sub_status']}" if item.get("sub_status") else "")


def _time(iso: str) -> str:
    return iso.replace("T", " ")[:19]


def _show(view: OrderView) -> None:
    data = view.model_dump(mode="json", by_alias=True)
    rows: list[tuple[str, str]] = [
        ("order", view.order_id),
        ("status", _status(data) + (f"  (version {view.version})")),
        ("waiting for", view.waiting_for or ""),
        ("hold reason", view.hold_reason or ""),
        ("needs attention", view.attention_reason or ("yes" if view.needs_attention else "")),
        ("customer", view.customer_id),
        ("owner", view.owner_id),
        ("terms", f"{view.payment_terms}, fulfilment {view.fulfillment}"),
        ("total", f"{view.total} {view.currency}"),
        ("ship to", ", ".join(str(v) for v in data["shipping_address"].values())),
        ("shipment", f"{view.shipment.carrier} {view.shipment.tracking_number} "
                     f"({_time(data['shipment']['shipped_at'])})" if view.shipment else ""),
        ("invoice", f"#{view.invoice.number} {view.invoice.amount}" if view.invoice else ""),
        ("payments", "; ".join(f"{p.kind} {p.amount} {p.reference}" for p in view.payments)),
        ("cancel reason", view.cancel_reason or ""),
        ("compensation", ", ".join(view.compensation_pending)),
        ("notes", view.notes or ""),
        ("created / updated", f"{_time(data['created_at'])} / {_time(data['updated_at'])}"),
    ]
    summary = Table(box=None, show_header=False)
    summary.add_column(style="bold")
    summary.add_column()
    for label, value in rows:
        if value:
            summary.add_row(label, value)
    out = console()
    out.print(summary)
    lines = Table("sku", "qty", "unit price", "discount %", "amount", box=None, header_style="bold")
    for line in view.lines:
        lines.add_row(line.sku, str(line.quantity), str(line.unit_price), str(line.discount_pct),
                      str(line.amount))
    out.print(lines)


def main() -> None:
    """Console-script entry. Exits without interpreter teardown once the command is done.

    The Temporal client's Rust threads can outlive the event loop and abort CPython's finalisation
    ("PyGILState_Release: thread state … must be current", temporalio/sdk-python#300), turning a
    successful `orders setup` into exit code 134 now and then. Every command has finished its own
    cleanup by the time it returns, so flushing and `os._exit` loses nothing.
    """
    try:
        app()
        code = 0
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            code = done.code or 0
        else:
            print(done.code, file=sys.stderr)
            code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
