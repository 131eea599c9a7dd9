"""The outbox: an event for every status change, written in the transaction that saves the change.

Called by `OrderActivities.project_order`, so an order's status and its event commit together (or not
at all); the webhook dispatcher delivers events later and can never hold up or fail an order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import OutboxEvent
from workflows.models import AuditEntry, OrderView

STATUS_CHANGED = "order.status_changed"
EVENT_TYPES = (STATUS_CHANGED,)


def is_status_change(entry: AuditEntry) -> bool:
    """The audit entries that moved the order: creation (None → PENDING) and every transition.

    A refused command keeps the status (from == to), so it is not an event. The one refusal that does
    move the order, an invalid order cancelled by validation, is a real status change and is one.
    """
    return entry.from_status != entry.to_status and entry.to_status is not None


def record_status_changes(s: Session, view: OrderView, entries: Iterable[AuditEntry]) -> int:
    """Insert one outbox event per status change in `entries` not stored yet; returns how many.

    Idempotent: the event is keyed by its audit entry's id. `entries` come in the order the workflow
    made them, and an order's projections are written one after another, so `sequence` follows them.
    A concurrent attempt of the same projection hits the unique keys and the caller's `_once` reruns.
    """
    changes = list({e.id: e for e in entries if is_status_change(e)}.values())  # a repeat counts once
    if not changes:
        return 0
    stored = set(s.scalars(select(OutboxEvent.audit_id)
                           .where(OutboxEvent.audit_id.in_([e.id for e in changes]))))
    fresh = [e for e in changes if e.id not in stored]
    if not fresh:
        return 0
    last = s.scalar(select(func.max(OutboxEvent.sequence)).where(OutboxEvent.order_id == view.order_id))
    sequence = last or 0
    for entry in fresh:
        sequence += 1
        s.add(OutboxEvent(audit_id=entry.id, order_id=view.order_id, sequence=sequence,
                          type=STATUS_CHANGED, payload=status_payload(entry, view, sequence)))
    s.flush()
    return len(fresh)


def status_payload(entry: AuditEntry, view: OrderView, sequence: int) -> dict[str, Any]:
    """What a receiver gets as `data`: the change itself, and the order as saved with it.

    `order` is the order when the change was saved; several changes saved together share the newest
    snapshot (its `version` tells which is newer). `from`/`to`/`at` always describe this change.
    """
    return {
        "order_id": view.order_id,
        "sequence": sequence,
        "from": entry.from_status,
        "to": entry.to_status,
        "at": entry.at.isoformat(),
        "action": entry.action,
        "actor": entry.actor,
        "role": entry.role,
        "reason": entry.reason,
        "version": view.version,
        "order": summary(view),
    }


def summary(view: OrderView) -> dict[str, Any]:
    return {
        "order_id": view.order_id,
        "status": view.status.value,
        "sub_status": view.sub_status,
        "version": view.version,
        "customer_id": view.customer_id,
        "owner_id": view.owner_id,
        "total": str(view.total),
        "currency": view.currency,
        "payment_terms": view.payment_terms,
        "fulfillment": view.fulfillment,
        "needs_attention": view.needs_attention,
        "attention_reason": view.attention_reason,
        "cancel_reason": view.cancel_reason,
        "tracking_number": view.shipment.tracking_number if view.shipment else None,
        "invoice_number": view.invoice.number if view.invoice else None,
        "updated_at": view.updated_at.isoformat(),
    }
