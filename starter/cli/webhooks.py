"""`orders webhook …` (admins): endpoints that receive every order status change, signed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import typer

from starter.cli import views
from starter.cli.base import JsonOption, TokenOption, console, print_json, run, time

if TYPE_CHECKING:
    from starter.service import Services
    from starter.webhooks import CreatedWebhook, DeliveryPage, DeliveryView, Webhooks, WebhookView
    from workflows.models import Actor

app = typer.Typer(help="Webhooks: signed status changes to other systems (admins).", no_args_is_help=True)

LIST_HINT = "see the webhooks with `orders webhook list --all`"
DeliveryStatus = Literal["pending", "delivered", "failed", "cancelled"]


def _webhooks(services: Services) -> Webhooks:
    from starter.webhooks import Webhooks

    return Webhooks(services)


def _show(hook: WebhookView) -> None:
    views.record([("webhook", hook.id), ("url", hook.url),
                  ("events", ", ".join(hook.events) if hook.events else "all"),
                  ("active", "yes" if hook.active else f"no (removed {time(hook.removed_at.isoformat())})"
                   if hook.removed_at else "no"),
                  ("created", time(hook.created_at.isoformat()))])


@app.command("add")
def webhook_add(
    url: Annotated[str, typer.Argument(help="http(s) URL that receives POSTed events")],
    secret: Annotated[str | None, typer.Option(
        help="HMAC-SHA256 key, 16–200 printable ASCII characters [default: generated]",
        show_default=False)] = None,
    event: Annotated[list[str] | None, typer.Option(
        help="event type to receive (order.status_changed); repeat; [default: all]", show_default=False)]
    = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add an endpoint; it receives the events recorded from now on. Prints the secret once."""
    from starter.cli.master import parsed

    async def add(services: Services, actor: Actor) -> CreatedWebhook:
        from starter.webhooks import NewWebhook

        hooks = _webhooks(services)
        hooks.authorize(actor)
        return await hooks.add(actor, parsed(NewWebhook, {"url": url, "secret": secret, "events": event}))

    created = run(token, add, progress="adding the webhook and waking the dispatcher…",
                  flags={"url": "URL", "secret": "--secret", "events": "--event"})
    if as_json:
        print_json(created)
        return
    _show(created)
    typer.echo(f"signing secret (shown this once): {created.secret}", err=True)


@app.command("list")
def webhook_list(
    include_removed: Annotated[bool, typer.Option("--all", help="removed webhooks too")] = False,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The webhooks."""
    hooks = run(token, lambda s, a: _webhooks(s).list_webhooks(a, include_removed=include_removed))
    if as_json:
        print_json(hooks)
        return
    rows = views.table("webhook", "url", "events", "active", "created (UTC)")
    for hook in hooks:
        rows.add_row(hook.id, hook.url, ", ".join(hook.events) if hook.events else "all",
                     "yes" if hook.active else "no", time(hook.created_at.isoformat()))
    out = console()
    out.print(rows)
    out.print(f"{len(hooks)} webhook(s)")


@app.command("show")
def webhook_show(webhook_id: str, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """One webhook."""
    hook = run(token, lambda s, a: _webhooks(s).get(a, webhook_id), not_found=LIST_HINT)
    if as_json:
        print_json(hook)
    else:
        _show(hook)


@app.command("remove")
def webhook_remove(webhook_id: str, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """Stop deliveries to the endpoint: pending ones are cancelled; its delivery log is kept."""
    hook = run(token, lambda s, a: _webhooks(s).remove(a, webhook_id), not_found=LIST_HINT)
    if as_json:
        print_json(hook)
        return
    typer.echo(f"webhook {hook.id} removed; its deliveries stay in `orders webhook deliveries {hook.id}`")


@app.command("deliveries")
def webhook_deliveries(
    webhook_id: str,
    status: Annotated[DeliveryStatus | None, typer.Option(help="only these")] = None,
    order: Annotated[str | None, typer.Option(help="only this order's events")] = None,
    limit: Annotated[int, typer.Option(help="1 to 100")] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page")] = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The delivery log, newest first: attempts, last HTTP status or error, next attempt."""
    page: DeliveryPage = run(token, lambda s, a: _webhooks(s).deliveries(
        a, webhook_id, status=status, order_id=order, limit=limit, cursor=cursor),
        flags={"limit": "--limit", "cursor": "--cursor"}, not_found=LIST_HINT)
    if as_json:
        print_json(page)
        return
    rows = views.table("delivery", "order", "seq", "event", "status", "attempts", "last answer", "next (UTC)",
                       "delivered (UTC)")
    for d in page.items:
        answer = str(d.last_status_code) if d.last_status_code is not None else (d.last_error or "")
        rows.add_row(str(d.id), d.order_id, str(d.sequence), d.event_type, d.status, str(d.attempts), answer,
                     time(d.next_attempt_at.isoformat() if d.next_attempt_at else None),
                     time(d.delivered_at.isoformat() if d.delivered_at else None))
    out = console()
    out.print(rows)
    out.print(f"{len(page.items)} deliveries" + (f"; more with --cursor {page.next_cursor}"
                                                  if page.next_cursor else ""))


@app.command("retry")
def webhook_retry(webhook_id: str, delivery_id: int, token: TokenOption = None,
                  as_json: JsonOption = False) -> None:
    """Deliver a failed or cancelled delivery again, with a fresh set of attempts."""
    delivery: DeliveryView = run(token, lambda s, a: _webhooks(s).retry(a, webhook_id, delivery_id),
                                 progress="queueing the delivery and waking the dispatcher…",
                                 not_found=f"see them with `orders webhook deliveries {webhook_id}`")
    if as_json:
        print_json(delivery)
        return
    typer.echo(f"delivery {delivery.id} of order {delivery.order_id} queued again")
