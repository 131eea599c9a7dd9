"""Order bodies from options: `--line SKU:QTY[:DISCOUNT]`, address options, or a JSON file.

Only the shape is built here; every rule (quantities, SKUs, address formats) is checked by the same
pydantic models as the HTTP body, so the CLI refuses exactly what the API refuses.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from starter.cli.base import EXIT_BAD_INPUT, fail

ADDRESS_FIELDS = ("name", "phone", "line1", "city", "postal_code", "country")

LineOption = Annotated[list[str] | None, typer.Option(
    "--line", help="SKU:QTY or SKU:QTY:DISCOUNT_PCT, e.g. W-1:2:10; repeat for each line",
    show_default=False)]
AddressJsonOption = Annotated[str | None, typer.Option(
    "--address-json", help='the whole shipping address as JSON: {"name", "phone", "line1", "city", '
    '"postal_code", "country"}; --address-* options override its fields', show_default=False)]
AddressNameOption = Annotated[str | None, typer.Option(help="ship to: recipient")]
AddressPhoneOption = Annotated[str | None, typer.Option(help="ship to: phone, e.g. +86 138 0000 0000")]
AddressLine1Option = Annotated[str | None, typer.Option(help="ship to: street and number")]
AddressCityOption = Annotated[str | None, typer.Option(help="ship to: city")]
AddressPostalCodeOption = Annotated[str | None, typer.Option(help="ship to: postal code")]
AddressCountryOption = Annotated[str | None, typer.Option(help="ship to: ISO country code, e.g. CN")]

# Body fields → the options that set them, so errors name what to change.
LINE_FLAGS = {"lines": "--line"}
ADDRESS_FLAGS = {"shipping_address": "--address-json / --address-*",
                 **{f"shipping_address.{f}": f"--address-{f.replace('_', '-')}" for f in ADDRESS_FIELDS}}


def parse_line(text: str) -> dict[str, Any]:
    """`SKU:QTY[:DISCOUNT]` (also the older `SKU=QTY[@DISCOUNT%]`) → a line of the HTTP body."""
    if "=" in text:
        sku, _, rest = text.partition("=")
        quantity, _, discount = rest.partition("@")
    else:
        sku, _, rest = text.partition(":")
        quantity, _, discount = rest.partition(":")
    if not sku.strip() or not quantity.strip():
        fail(f"--line {text!r} is not SKU:QTY or SKU:QTY:DISCOUNT", EXIT_BAD_INPUT,
             "write each line as e.g. --line W-1:2 or --line W-1:2:10 (10 % off)")
    line: dict[str, Any] = {"sku": sku.strip(), "quantity": _integer(quantity.strip())}
    if discount.strip():
        line["discount_pct"] = discount.strip().rstrip("%")
    return line


def _integer(text: str) -> int | str:
    """An integer when it is one; otherwise the text, which the model then refuses by field name."""
    try:
        return int(text)
    except ValueError:
        return text


def address(address_json: str | None, **fields: str | None) -> dict[str, Any] | None:
    """The shipping address from --address-json and/or the --address-* options; None when none given."""
    base: Any = {}
    if address_json is not None:
        base = _json(address_json, "--address-json")
        if not isinstance(base, dict):
            fail("--address-json must be a JSON object", EXIT_BAD_INPUT,
                 'e.g. --address-json \'{"name": "Li Wei", "phone": "+86 138 0000 0000", ...}\'')
    given = {k: v for k, v in fields.items() if v is not None}
    if address_json is None and not given:
        return None
    return {**base, **given}


def read_body(source: str) -> Any:
    """The JSON body of `--file PATH`, or of stdin for `--file -`."""
    if source == "-":
        text = sys.stdin.read()
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            fail(f"cannot read {source}: {error.strerror or error}", EXIT_BAD_INPUT,
                 "pass the path of a JSON file with the order body, or - to read it from stdin")
    return _json(text, "--file" if source != "-" else "stdin")


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        fail(f"{where} is not valid JSON: {error}", EXIT_BAD_INPUT,
             "the body is the same JSON as POST /orders takes (see `orders order create --help`)")


def without_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}
