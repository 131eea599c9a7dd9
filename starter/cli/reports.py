"""`orders stuck` and `orders report sales|cancellations|corrections` (the numbers of GET /reports/...)."""

from __future__ import annotations

from typing import Annotated

import typer

from starter.cli import views
from starter.cli.base import JsonOption, TokenOption, console, print_json, run

app = typer.Typer()
report_app = typer.Typer(help="Reports (same numbers as GET /reports/...).", no_args_is_help=True)

FromOption = Annotated[str | None, typer.Option("--from", help="start: YYYY-MM-DD or ISO 8601 (UTC)")]
ToOption = Annotated[str | None, typer.Option("--to", help="end: YYYY-MM-DD (whole day) or ISO 8601")]
PERIOD_FLAGS = {"from": "--from", "to": "--to"}


@app.command()
def stuck(
    older_than: Annotated[str, typer.Option(help="45s, 10m, 24h, 7d")] = "1h",
    limit: int = 100,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Orders not moving: non-terminal and unchanged for longer than --older-than, who must act."""
    report = run(token, lambda s, a: s.stuck_orders(a, older_than=older_than, limit=limit),
                 flags={"older_than": "--older-than", "limit": "--limit"})
    if as_json:
        print_json(report)
        return
    rows = views.table("order", "status", "unchanged for", "must act", "next step", "customer", "total")
    for item in report.items:
        rows.add_row(item.order_id, item.status.value + (f" / {item.sub_status}" if item.sub_status else ""),
                     item.age, item.must_act, item.attention_reason or item.next_step, item.customer_id,
                     str(item.total))
    out = console()
    out.print(rows)
    out.print(f"{len(report.items)} order(s) unchanged for longer than {older_than}")


@report_app.command("sales")
def report_sales(
    from_: FromOption = None, to: ToOption = None,
    group_by: Annotated[str, typer.Option(help="day, customer or sku")] = "day",
    token: TokenOption = None, as_json: JsonOption = False,
) -> None:
    """Completed orders: orders, units and revenue per day, customer or SKU."""
    report = run(token, lambda s, a: s.sales_report(a, from_=from_, to=to, group_by=group_by),
                 flags={**PERIOD_FLAGS, "group_by": "--group-by"})
    if as_json:
        print_json(report)
        return
    rows = views.table(group_by, "orders", "units", f"total ({report.currency})")
    for row in report.rows:
        rows.add_row(row.key, str(row.orders), str(row.quantity), str(row.total))
    rows.add_row("all", str(report.orders), str(report.quantity), str(report.total), style="bold")
    console().print(rows)


@report_app.command("cancellations")
def report_cancellations(from_: FromOption = None, to: ToOption = None, token: TokenOption = None,
                         as_json: JsonOption = False) -> None:
    """Orders created in the period, how many were cancelled and why."""
    report = run(token, lambda s, a: s.cancellations_report(a, from_=from_, to=to), flags=PERIOD_FLAGS)
    if as_json:
        print_json(report)
        return
    out = console()
    out.print(f"{report.cancelled} of {report.orders} orders cancelled (rate {report.rate:.2%})")
    rows = views.table("reason", "orders")
    for reason, count in sorted(report.by_reason.items(), key=lambda kv: -kv[1]):
        rows.add_row(reason, str(count))
    out.print(rows)


@report_app.command("corrections")
def report_corrections(from_: FromOption = None, to: ToOption = None, token: TokenOption = None,
                       as_json: JsonOption = False) -> None:
    """Edits after acceptance counted by field and by user, and refused edits by reason."""
    report = run(token, lambda s, a: s.corrections_report(a, from_=from_, to=to), flags=PERIOD_FLAGS)
    if as_json:
        print_json(report)
        return
    out = console()
    out.print(f"{report.edits} edits on {report.orders} orders; {report.refused} refused")
    rows = views.table("field", "edits")
    for field, count in sorted(report.by_field.items(), key=lambda kv: -kv[1]):
        rows.add_row(field, str(count))
    out.print(rows)
    if report.refused_by_reason:
        refused = views.table("refused because", "edits")
        for reason, count in sorted(report.refused_by_reason.items(), key=lambda kv: -kv[1]):
            refused.add_row(reason, str(count))
        out.print(refused)
