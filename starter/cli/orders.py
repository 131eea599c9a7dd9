"""`orders order …`: create, look at and command orders (the same rules as the HTTP API)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from starter.cli import order_input as inputs
from starter.cli import views
from starter.cli.base import EXIT_BAD_INPUT, JsonOption, TokenOption, fail, print_json, run
from workflows.rules import OrderStatus

if TYPE_CHECKING:
    from starter.service import CommandName, Services
    from workflows.models import Actor, AuditEntry, OrderView

app = typer.Typer(help="Create, look at and command orders (same rules as the HTTP API).",
                  no_args_is_help=True)

LIST_HINT = "list orders with `orders order list` (sales see only their own)"
ReasonOption = Annotated[str | None, typer.Option(help="why (kept in the audit trail)")]
RequiredReason = Annotated[str, typer.Option(help="why (required; kept in the audit trail)")]
WaitOption = Annotated[bool, typer.Option(
    "--wait/--no-wait", help="wait for the order's answer, or deliver as a signal and return at once")]

CREATE_FLAGS = {"customer_id": "--customer", "payment_terms": "--terms", "fulfillment": "--fulfillment",
                "notes": "--notes", "owner_id": "--owner", "Idempotency-Key": "--idempotency-key",
                **inputs.LINE_FLAGS, **inputs.ADDRESS_FLAGS}


@app.command("create")
def order_create(
    customer: Annotated[str | None, typer.Option(help="customer id")] = None,
    line: inputs.LineOption = None,
    address_json: inputs.AddressJsonOption = None,
    address_name: inputs.AddressNameOption = None,
    address_phone: inputs.AddressPhoneOption = None,
    address_line1: inputs.AddressLine1Option = None,
    address_city: inputs.AddressCityOption = None,
    address_postal_code: inputs.AddressPostalCodeOption = None,
    address_country: inputs.AddressCountryOption = None,
    terms: Annotated[str | None, typer.Option(help="payment terms: prepaid or credit")] = None,
    fulfillment: Annotated[str | None, typer.Option(
        help="auto or manual [default: ORDERS_FULFILLMENT of the service]", show_default=False)] = None,
    notes: Annotated[str | None, typer.Option()] = None,
    owner: Annotated[str | None, typer.Option(help="user id owning the order (managers, admins)")] = None,
    file: Annotated[str | None, typer.Option(
        "--file", "-f", help="the POST /orders JSON body from a file, or - for stdin (instead of the "
        "options above)", show_default=False)] = None,
    idempotency_key: Annotated[str | None, typer.Option(
        help="same key + same body → the same order (safe to retry); same key + another body → exit 4",
        show_default=False)] = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Place an order; prints it once its workflow has priced it from the catalog.

    Example:

        orders order create --customer C-1 --line W-1:2 --line G-7:3:10 --terms credit
        --address-name "Li Wei" --address-phone "+86 138 0000 0000" --address-line1 "1 Nanjing Rd"
        --address-city Shanghai --address-postal-code 200000 --address-country CN

    or with the HTTP body: `orders order create --file order.json` (`-` reads stdin).
    """
    options = {"--customer": customer, "--line": line, "--terms": terms, "--fulfillment": fulfillment,
               "--notes": notes, "--owner": owner, "--address-json": address_json,
               "--address-name": address_name, "--address-phone": address_phone,
               "--address-line1": address_line1, "--address-city": address_city,
               "--address-postal-code": address_postal_code, "--address-country": address_country}
    if file is not None:
        given = [name for name, value in options.items() if value]
        if given:
            fail(f"--file holds the whole order; leave out {', '.join(given)}", EXIT_BAD_INPUT,
                 "edit the JSON file instead, or drop --file and use the options")
        body: Any = inputs.read_body(file)
        flags = {"Idempotency-Key": "--idempotency-key"}
    else:
        shipping = inputs.address(address_json, name=address_name, phone=address_phone, line1=address_line1,
                                  city=address_city, postal_code=address_postal_code,
                                  country=address_country)
        body = inputs.without_none({
            "customer_id": customer, "lines": [inputs.parse_line(item) for item in line] if line else None,
            "shipping_address": shipping, "payment_terms": terms, "fulfillment": fulfillment,
            "notes": notes, "owner_id": owner})
        flags = CREATE_FLAGS

    async def create(services: Services, actor: Actor) -> OrderView:
        from pydantic import ValidationError

        from starter.service import field_errors, invalid_input
        from workflows.models import NewOrder
        from workflows.rules import Command

        services.authorize(actor, Command.CREATE_ORDER)  # as the API: the role before the body
        try:
            order = NewOrder.model_validate(body)
        except ValidationError as error:
            raise invalid_input(field_errors(error)) from error
        return await services.create_order(actor, order, idempotency_key)

    view = run(token, create, progress="placing the order: waiting for its workflow to price it…",
               flags=flags, not_found="create it first (`orders customer create`, `orders product create`)")
    if as_json:
        print_json(view)
        return
    views.order(view)
    typer.echo(f"order {view.order_id} placed ({view.status.value}); follow it with "
               f"`orders order show {view.order_id}`", err=True)


@app.command("show")
def order_show(order_id: str, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """One order: status, lines, shipment, payments (live from its workflow)."""
    view = run(token, lambda s, a: s.get_order(a, order_id), progress=f"asking order {order_id}…",
               not_found=LIST_HINT)
    if as_json:
        print_json(view)
        return
    views.order(view)


@app.command("list")
def order_list(
    status: Annotated[OrderStatus | None, typer.Option(case_sensitive=False)] = None,
    customer: Annotated[str | None, typer.Option(help="customer id")] = None,
    owner: Annotated[str | None, typer.Option(help="owner (user id)")] = None,
    limit: Annotated[int, typer.Option(help="1 to 100")] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Orders, newest first, from the read model (sales see only their own)."""
    page = run(token, lambda s, a: s.list_orders(
        a, status=status, customer_id=customer, owner_id=owner, limit=limit, cursor=cursor),
        flags={"limit": "--limit", "cursor": "--cursor", "customer_id": "--customer", "owner_id": "--owner"})
    if as_json:
        print_json(page)
        return
    views.order_page(page.items, page.next_cursor)


@app.command("history")
def order_history(order_id: str, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """The audit trail: who did what, when, from/to status, field changes, rejected commands too."""
    entries: list[AuditEntry] = run(token, lambda s, a: s.history(a, order_id), not_found=LIST_HINT)
    if as_json:
        print_json(entries)
        return
    views.history(entries)


# --- commands: updates on the order's workflow, as POST /orders/{id}/... ------------------------------


def send(order_id: str, name: CommandName, body: dict[str, Any], token: str | None, wait: bool,
         as_json: bool, flags: dict[str, str] | None = None) -> None:
    """One command through Services.command; prints the new view (or the signal's acceptance)."""
    from workflows.models import OrderView

    result = run(token, lambda s, a: s.command(a, order_id, name, inputs.without_none(body), wait=wait),
                 progress=f"order {order_id}: {name.replace('_', ' ')}…" if wait else None,
                 flags=flags, not_found=LIST_HINT)
    if as_json:
        print_json(result)
    elif isinstance(result, OrderView):
        views.order(result)
    else:
        typer.echo(f"sent to order {order_id}; it checks and applies the command on its own "
                   f"(see `orders order history {order_id}`)")


@app.command("cancel")
def order_cancel(order_id: str, reason: RequiredReason, token: TokenOption = None, wait: WaitOption = True,
                 as_json: JsonOption = False) -> None:
    """Cancel (void) an order; compensations run for the steps already done."""
    send(order_id, "cancel", {"reason": reason}, token, wait, as_json)


@app.command("approve")
def order_approve(order_id: str, reason: ReasonOption = None, token: TokenOption = None,
                  wait: WaitOption = True, as_json: JsonOption = False) -> None:
    """Approve an order ON_HOLD (managers; not your own order)."""
    send(order_id, "approve", {"reason": reason}, token, wait, as_json)


@app.command("reject")
def order_reject(order_id: str, reason: RequiredReason, token: TokenOption = None, wait: WaitOption = True,
                 as_json: JsonOption = False) -> None:
    """Reject an order ON_HOLD; it is cancelled."""
    send(order_id, "reject", {"reason": reason}, token, wait, as_json)


@app.command("pay")
def order_pay(order_id: str, amount: Annotated[str, typer.Option(help="decimal, e.g. 129.90")],
              reference: Annotated[str, typer.Option(help="payment reference")],
              token: TokenOption = None, wait: WaitOption = True, as_json: JsonOption = False) -> None:
    """Record a payment for an order AWAITING_PAYMENT."""
    send(order_id, "pay", {"amount": amount, "reference": reference}, token, wait, as_json,
         {"amount": "--amount", "reference": "--reference"})


@app.command("receipt")
@app.command("receive", hidden=True)
def order_receipt(order_id: str, signed_by: Annotated[str | None, typer.Option()] = None,
                  token: TokenOption = None, wait: WaitOption = True, as_json: JsonOption = False) -> None:
    """Confirm that a SHIPPED order was received (`receive` works too)."""
    send(order_id, "confirm_receipt", {"signed_by": signed_by}, token, wait, as_json,
         {"signed_by": "--signed-by"})


@app.command("status")
def order_status(
    order_id: str,
    status: Annotated[OrderStatus, typer.Argument(case_sensitive=False, help="the target status")],
    sub_status: Annotated[str | None, typer.Option(
        help="a label of the target status' catalog (`orders substatus list`), e.g. PACKED")] = None,
    reason: ReasonOption = None,
    carrier: Annotated[str | None, typer.Option(help="with SHIPPED")] = None,
    tracking_number: Annotated[str | None, typer.Option(help="with SHIPPED")] = None,
    token: TokenOption = None, wait: WaitOption = True, as_json: JsonOption = False,
) -> None:
    """Move an order along the transition table (manual hold/release, sub-status, manual shipment)."""
    send(order_id, "change_status", {"status": status.value, "sub_status": sub_status, "reason": reason,
                                     "carrier": carrier, "tracking_number": tracking_number},
         token, wait, as_json, {"sub_status": "--sub-status", "reason": "--reason", "carrier": "--carrier",
                                "tracking_number": "--tracking-number"})


@app.command("edit")
def order_edit(
    order_id: str,
    reason: RequiredReason,
    line: inputs.LineOption = None,
    address_json: inputs.AddressJsonOption = None,
    address_name: inputs.AddressNameOption = None,
    address_phone: inputs.AddressPhoneOption = None,
    address_line1: inputs.AddressLine1Option = None,
    address_city: inputs.AddressCityOption = None,
    address_postal_code: inputs.AddressPostalCodeOption = None,
    address_country: inputs.AddressCountryOption = None,
    notes: Annotated[str | None, typer.Option()] = None,
    expected_version: Annotated[int | None, typer.Option(help="refuse if the order changed since")] = None,
    token: TokenOption = None, wait: WaitOption = True, as_json: JsonOption = False,
) -> None:
    """Edit lines (--line replaces them all), the shipping address (a whole one) or notes.

    Lines and address until the order ships; notes always.
    """
    shipping = inputs.address(address_json, name=address_name, phone=address_phone, line1=address_line1,
                              city=address_city, postal_code=address_postal_code, country=address_country)
    body = {"reason": reason, "lines": [inputs.parse_line(item) for item in line] if line else None,
            "shipping_address": shipping, "notes": notes, "expected_version": expected_version}
    send(order_id, "edit", body, token, wait, as_json,
         {"reason": "--reason", "notes": "--notes", "expected_version": "--expected-version",
          **inputs.LINE_FLAGS, **inputs.ADDRESS_FLAGS})
