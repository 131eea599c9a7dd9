"""Tables for people: one order, a page of orders, an audit trail, key/value records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table

from starter.cli.base import console, time

if TYPE_CHECKING:
    from workflows.models import AuditEntry, OrderView


def table(*columns: str) -> Table:
    return Table(*columns, box=None, header_style="bold")


def record(rows: Iterable[tuple[str, Any]]) -> None:
    """A two-column label/value table; empty values are left out."""
    summary = Table(box=None, show_header=False)
    summary.add_column(style="bold")
    summary.add_column()
    for label, value in rows:
        if value not in (None, "", []):
            summary.add_row(label, str(value))
    console().print(summary)


def status_text(item: dict[str, Any]) -> str:
    return item["status"] + (f" / {item['sub_status']}" if item.get("sub_status") else "")


def order(view: OrderView) -> None:
    data = view.model_dump(mode="json", by_alias=True)
    record([
        ("order", view.order_id),
        ("status", status_text(data) + f"  (version {view.version})"),
        ("waiting for", view.waiting_for),
        ("hold reason", view.hold_reason),
        ("needs attention", view.attention_reason or ("yes" if view.needs_attention else "")),
        ("customer", view.customer_id),
        ("owner", view.owner_id),
        ("terms", f"{view.payment_terms}, fulfilment {view.fulfillment}"),
        ("total", f"{view.total} {view.currency}"),
        ("ship to", ", ".join(str(v) for v in data["shipping_address"].values())),
        ("shipment", f"{view.shipment.carrier} {view.shipment.tracking_number} "
                     f"({time(data['shipment']['shipped_at'])})" if view.shipment else ""),
        ("invoice", f"#{view.invoice.number} {view.invoice.amount}" if view.invoice else ""),
        ("payments", "; ".join(f"{p.kind} {p.amount} {p.reference}" for p in view.payments)),
        ("cancel reason", view.cancel_reason),
        ("compensation", ", ".join(view.compensation_pending)),
        ("notes", view.notes),
        ("created / updated", f"{time(data['created_at'])} / {time(data['updated_at'])}"),
    ])
    lines = table("sku", "qty", "unit price", "discount %", "amount")
    for line in view.lines:
        lines.add_row(line.sku, str(line.quantity), str(line.unit_price), str(line.discount_pct),
                      str(line.amount))
    console().print(lines)


def order_page(items: Sequence[dict[str, Any]], next_cursor: str | None) -> None:
    rows = table("order", "status", "customer", "owner", "total", "created (UTC)", "attention")
    for item in items:
        rows.add_row(item["order_id"], status_text(item), item["customer_id"], item["owner_id"],
                     f"{item['total']} {item.get('currency', '')}", time(item["created_at"]),
                     item.get("attention_reason") or ("yes" if item.get("needs_attention") else ""))
    out = console()
    out.print(rows)
    out.print(f"{len(items)} order(s)" + (f"; more with --cursor {next_cursor}" if next_cursor else ""))


def history(entries: Sequence[AuditEntry]) -> None:
    rows = table("at (UTC)", "actor", "action", "status", "changes", "reason")
    for e in entries:
        moved = (f"{e.from_status or ''} → {e.to_status}" if e.to_status and e.to_status != e.from_status
                 else (e.to_status or ""))
        changes = ", ".join(f"{k}: {v[0]} → {v[1]}" if len(v) == 2 else f"{k}: {v}"
                            for k, v in e.changes.items())
        action = e.action if e.accepted else f"{e.action} (REJECTED)"
        rows.add_row(time(e.at.isoformat()), f"{e.actor} ({e.role})", action, moved, changes, e.reason or "")
    console().print(rows)
