"""Master data: `orders user …`, `customer …`, `product …`, `stock …`, `substatus …`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from starter.cli import views
from starter.cli.base import JsonOption, TokenOption, console, print_json, run
from workflows.rules import OrderStatus, Role

if TYPE_CHECKING:
    from pydantic import BaseModel

    from starter.service import CustomerView, ProductView, Services
    from workflows.models import Actor

M = TypeVar("M", bound="BaseModel")

user_app = typer.Typer(help="Users and their tokens.", no_args_is_help=True)
customer_app = typer.Typer(help="Customers and their credit.", no_args_is_help=True)
product_app = typer.Typer(help="Products (the catalog prices orders).", no_args_is_help=True)
stock_app = typer.Typer(help="Stock on hand.", no_args_is_help=True)
substatus_app = typer.Typer(help="The sub-status catalog: labels an order may carry in a status.",
                            no_args_is_help=True)


def parsed(model: type[M], body: dict[str, Any]) -> M:
    """`body` through the HTTP body's model; a refusal names each field as the API does."""
    from pydantic import ValidationError

    from starter.service import field_errors, invalid_input

    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise invalid_input(field_errors(error)) from error


# --- users ---------------------------------------------------------------------------------------------


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Option(help="the person's or service's name")],
    role: Annotated[Role, typer.Option(case_sensitive=False, help="what the user may do")],
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a user (admins); prints its bearer token, which is shown this once only."""
    from starter.service import NewUser

    async def create(services: Services, actor: Actor) -> Any:
        return await services.create_user(actor, parsed(NewUser, {"name": name, "role": role.value}))

    user = run(token, create, flags={"name": "--name", "role": "--role"})
    if as_json:
        print_json(user)
        return
    views.record([("id", user.id), ("name", user.name), ("role", user.role.value), ("token", user.token)])
    typer.echo("keep the token now: it is not stored and cannot be shown again "
               "(use it as ORDERS_TOKEN or `Authorization: Bearer …`)", err=True)


# --- customers -----------------------------------------------------------------------------------------


def _customer(view: CustomerView) -> None:
    views.record([("customer", view.id), ("name", view.name), ("credit limit", view.credit_limit),
                  ("credit used", view.credit_used), ("credit left", view.credit_limit - view.credit_used),
                  ("blocked", "yes" if view.blocked else "no")])


@customer_app.command("create")
def customer_create(
    customer_id: Annotated[str, typer.Option("--id", help="the customer's id, e.g. C-1001")],
    name: Annotated[str, typer.Option()],
    credit_limit: Annotated[str, typer.Option(help="decimal, e.g. 50000")],
    blocked: Annotated[bool, typer.Option("--blocked", help="refuse new orders of this customer")] = False,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a customer (admins, managers)."""
    from starter.service import NewCustomer

    body = {"id": customer_id, "name": name, "credit_limit": credit_limit, "blocked": blocked}

    async def create(services: Services, actor: Actor) -> CustomerView:
        return await services.create_customer(actor, parsed(NewCustomer, body))

    view = run(token, create, flags={"id": "--id", "name": "--name", "credit_limit": "--credit-limit"})
    if as_json:
        print_json(view)
    else:
        _customer(view)


@customer_app.command("show")
def customer_show(customer_id: str, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """A customer: credit limit, credit used, blocked."""
    view = run(token, lambda s, a: s.get_customer(a, customer_id),
               not_found="add it with `orders customer create`")
    if as_json:
        print_json(view)
    else:
        _customer(view)


# --- products and stock ----------------------------------------------------------------------------------


def _product(view: ProductView) -> None:
    views.record([("sku", view.sku), ("name", view.name), ("unit price", view.unit_price),
                  ("on hand", view.on_hand), ("reserved", view.reserved), ("available", view.available),
                  ("active", "yes" if view.active else "no")])


@product_app.command("create")
def product_create(
    sku: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option()],
    unit_price: Annotated[str, typer.Option(help="decimal, e.g. 129.90")],
    on_hand: Annotated[int, typer.Option(help="initial stock, recorded as an adjustment")] = 0,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a product to the catalog (admins)."""
    from starter.service import NewProduct

    body = {"sku": sku, "name": name, "unit_price": unit_price, "on_hand": on_hand}

    async def create(services: Services, actor: Actor) -> ProductView:
        return await services.create_product(actor, parsed(NewProduct, body))

    view = run(token, create, flags={"sku": "--sku", "name": "--name", "unit_price": "--unit-price",
                                     "on_hand": "--on-hand"})
    if as_json:
        print_json(view)
    else:
        _product(view)


@product_app.command("show")
def product_show(sku: str, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """A product: price, on hand, reserved, available."""
    view = run(token, lambda s, a: s.get_product(a, sku), not_found="add it with `orders product create`")
    if as_json:
        print_json(view)
    else:
        _product(view)


# Negative deltas look like options (-5): let them through as the DELTA argument.
@stock_app.command("adjust", context_settings={"ignore_unknown_options": True})
def stock_adjust(
    sku: str,
    delta: Annotated[int, typer.Argument(help="units to add (5) or remove (-5)")],
    reason: Annotated[str, typer.Option(help="why (required; kept with the stock movement)")],
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add or remove stock on hand (admins, warehouse); never below what orders reserved."""
    view = run(token, lambda s, a: s.adjust_stock(a, sku, delta, reason),
               flags={"delta": "DELTA", "reason": "--reason"},
               not_found="add it with `orders product create`")
    if as_json:
        print_json(view)
    else:
        _product(view)


# --- sub-status catalog ----------------------------------------------------------------------------------


def _catalog(catalog: dict[str, list[str]], status: OrderStatus | None = None) -> None:
    rows = views.table("status", "labels")
    for name, labels in catalog.items():
        if status is None or name == status.value:
            rows.add_row(name, ", ".join(labels))
    console().print(rows)


@substatus_app.command("list")
def substatus_list(
    status: Annotated[OrderStatus | None, typer.Option(case_sensitive=False, help="only this status")] = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The labels per status that `orders order status … --sub-status` accepts."""
    catalog = run(token, lambda s, a: s.sub_statuses(a))
    if as_json:
        print_json(catalog if status is None else {status.value: catalog.get(status.value, [])})
        return
    _catalog(catalog, status)


@substatus_app.command("add")
def substatus_add(
    status: Annotated[OrderStatus, typer.Argument(case_sensitive=False, help="a non-terminal status")],
    label: Annotated[str, typer.Argument(help="UPPER_SNAKE_CASE, e.g. PACKED")],
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a label to a status' catalog (admins); prints the catalog."""
    from starter.service import SubStatusLabel

    async def add(services: Services, actor: Actor) -> dict[str, list[str]]:
        return await services.add_sub_status(actor, parsed(SubStatusLabel,
                                                            {"status": status.value, "label": label}))

    catalog = run(token, add, flags={"status": "STATUS", "label": "LABEL"},
                  conflict="it is there already: `orders substatus list`")
    print_json(catalog) if as_json else _catalog(catalog, status)


@substatus_app.command("remove")
def substatus_remove(
    status: Annotated[OrderStatus, typer.Argument(case_sensitive=False)],
    label: str,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove a label (admins): it can no longer be set; orders that carry it keep it. Prints the catalog."""

    async def remove(services: Services, actor: Actor) -> dict[str, list[str]]:
        await services.remove_sub_status(actor, status.value, label)
        return await services.sub_statuses(actor)

    catalog = run(token, remove, not_found="see the labels with `orders substatus list`")
    print_json(catalog) if as_json else _catalog(catalog, status)
