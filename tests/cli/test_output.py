"""How the CLI talks: exit codes documented in --help, line syntax, the spinner only on a terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from typer.testing import CliRunner

from starter.cli import app
from starter.cli.base import _option_for, spinner
from starter.cli.order_input import ADDRESS_FLAGS, LINE_FLAGS, parse_line

runner = CliRunner()


def test_the_help_documents_every_exit_code() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for code in ("0 ok", "1 anything else", "2 bad input", "3 not found", "4 conflict", "5 no token"):
        assert code in result.stdout
    for group in ("order", "user", "customer", "product", "stock", "substatus", "webhook", "report", "stuck"):
        assert f" {group} " in result.stdout


@pytest.mark.parametrize(("text", "line"), [
    ("W-1:2", {"sku": "W-1", "quantity": 2}),
    ("W-1:2:10", {"sku": "W-1", "quantity": 2, "discount_pct": "10"}),
    (" W-1 : 2 : 12.5% ", {"sku": "W-1", "quantity": 2, "discount_pct": "12.5"}),
    ("W-1=2@10%", {"sku": "W-1", "quantity": 2, "discount_pct": "10"}),  # the older syntax
    ("W-1:two", {"sku": "W-1", "quantity": "two"}),  # refused by the model, naming lines[i].quantity
])
def test_a_line_option_becomes_a_line_of_the_http_body(text: str, line: dict[str, object]) -> None:
    assert parse_line(text) == line


def test_errors_name_the_option_that_sets_the_field() -> None:
    flags = {**LINE_FLAGS, **ADDRESS_FLAGS}
    assert _option_for("lines[2].quantity", flags) == "--line"
    assert _option_for("shipping_address.postal_code", flags) == "--address-postal-code"
    assert _option_for("shipping_address", flags) == "--address-json / --address-*"
    assert _option_for("notes", flags) is None


def test_the_spinner_shows_on_a_terminal_only_and_never_for_json() -> None:
    def shown(*, terminal: bool, quiet: bool) -> str:
        out = io.StringIO()
        with spinner("pricing the order…", quiet=quiet, err=Console(file=out, force_terminal=terminal)):
            pass
        return out.getvalue()

    assert "pricing the order…" in shown(terminal=True, quiet=False)
    assert shown(terminal=False, quiet=False) == ""
    assert shown(terminal=True, quiet=True) == ""


def test_json_errors_do_not_leak_into_the_next_command() -> None:
    env = {"ORDERS_TOKEN": None, "ORDERS_ADMIN_TOKEN": None}
    as_json = runner.invoke(app, ["order", "list", "--json"], env=env)
    plain = runner.invoke(app, ["order", "list"], env=env)
    assert as_json.exit_code == plain.exit_code == 5
    assert as_json.stderr.startswith('{"error": {"code": "unauthorized"')
    assert plain.stderr.startswith("error: no token\nhint: ")
