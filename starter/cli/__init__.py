"""The `orders` command: run the pieces (dev, api, worker, db, setup) and operator commands.

Operator commands call the same service layer as the HTTP API (`starter.service.Services`); the
modules here only parse arguments, authenticate a token and print — tables for people, `--json` (the
API's answer) for scripts, and the exit codes in `base.EXIT_CODES_HELP`. One module per job:

    base.py        exit codes, errors and hints, the token, running work with a spinner, JSON output
    stack.py       dev, api, worker, setup, db upgrade
    orders.py      order create/show/list/history and the order commands (order_input.py: bodies)
    master.py      user, customer, product, stock, substatus
    webhooks.py    webhook add/list/show/remove/deliveries/retry
    reports.py     stuck, report sales/cancellations/corrections
    views.py       tables for orders and histories
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from starter.cli import master, orders, reports, stack, webhooks
from starter.cli.base import (
    EXIT_BAD_INPUT,
    EXIT_CODES_HELP,
    EXIT_CONFLICT,
    EXIT_DENIED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_OTHER,
    exit_code,
)

app = typer.Typer(help="Durable order processing on Temporal.", epilog=EXIT_CODES_HELP,
                  no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode="markdown")
app.add_typer(stack.app)
app.add_typer(stack.db_app, name="db")
app.add_typer(orders.app, name="order")
app.add_typer(master.user_app, name="user")
app.add_typer(master.customer_app, name="customer")
app.add_typer(master.product_app, name="product")
app.add_typer(master.stock_app, name="stock")
app.add_typer(master.substatus_app, name="substatus")
app.add_typer(webhooks.app, name="webhook")
app.add_typer(reports.app)
app.add_typer(reports.report_app, name="report")

__all__ = ["EXIT_BAD_INPUT", "EXIT_CONFLICT", "EXIT_DENIED", "EXIT_NOT_FOUND", "EXIT_OK", "EXIT_OTHER",
           "app", "exit_code", "main"]


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
