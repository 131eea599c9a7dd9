"""What must be true after the soak, beyond the ledger invariants of `tests/faults/invariants.py`:
every answer documented and well-formed, and each order's history consistent with its final status
and with what the ledgers show was done to it."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import CreditHold, Invoice, Payment, Return, Shipment, StockReservation
from tests.soak.traffic import COMMANDS, Answer

ANSWERED = frozenset({200, 201, 202})
REFUSED = frozenset({403, 409, 422})
HELD_STOCK = frozenset({"AWAITING_PAYMENT", "PROCESSING"})  # reached only with stock reserved
HELD_CREDIT = frozenset({"AWAITING_PAYMENT", "PROCESSING", "SHIPPED", "DELIVERED"})


def short(body: Any) -> str:
    return str(body)[:200]


def is_error_shape(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return (isinstance(error, dict) and isinstance(error.get("code"), str) and bool(error.get("message"))
            and "details" in error)


def answer_problems(answers: Iterable[Answer]) -> list[str]:
    """No 5xx nor any undocumented status; refusals in the error shape; probes refused as expected."""
    problems = []
    for a in answers:
        where = f"{a.what} {a.order_id or ''}".rstrip()
        if a.status not in ANSWERED | REFUSED:
            problems.append(f"{where}: HTTP {a.status} {short(a.body)}")
        elif a.status in REFUSED and not is_error_shape(a.body):
            problems.append(f"{where}: HTTP {a.status} without the error shape: {short(a.body)}")
        if a.expect is not None and a.status not in a.expect:
            problems.append(f"{where}: expected HTTP {'/'.join(map(str, sorted(a.expect)))}, "
                            f"got {a.status} {short(a.body)}")
    return problems


def refusals_per_order(answers: Iterable[Answer]) -> Counter[str]:
    return Counter(a.order_id for a in answers
                   if a.order_id and a.what in COMMANDS and a.status in REFUSED)


@dataclass
class Ledger:
    """What the database says was done to each order."""

    captured: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    refunded: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    shipped: set[str] = field(default_factory=set)
    returned: set[str] = field(default_factory=set)
    reserved: set[str] = field(default_factory=set)
    credit_held: set[str] = field(default_factory=set)
    invoices: dict[str, tuple[int, Decimal]] = field(default_factory=dict)

    @classmethod
    def load(cls, sessions: sessionmaker[Session], order_ids: list[str]) -> Ledger:
        ledger = cls()
        with sessions() as s:
            payments = select(Payment.order_id, Payment.kind, Payment.amount)
            for order_id, kind, amount in s.execute(payments.where(Payment.order_id.in_(order_ids))):
                (ledger.captured if kind == "capture" else ledger.refunded)[order_id] += amount
            ledger.shipped = set(s.scalars(select(Shipment.order_id).where(Shipment.order_id.in_(order_ids))))
            ledger.returned = set(s.scalars(select(Return.order_id).where(Return.order_id.in_(order_ids))))
            ledger.reserved = set(s.scalars(select(StockReservation.order_id)
                                            .where(StockReservation.order_id.in_(order_ids))))
            ledger.credit_held = set(s.scalars(select(CreditHold.order_id)
                                               .where(CreditHold.order_id.in_(order_ids))))
            invoices = select(Invoice.order_id, Invoice.number, Invoice.amount)
            ledger.invoices = {order_id: (number, amount) for order_id, number, amount
                               in s.execute(invoices.where(Invoice.order_id.in_(order_ids)))}
        return ledger


def history_problems(view: dict[str, Any], history: list[dict[str, Any]], ledger: Ledger,
                     refused: int) -> list[str]:
    """The history tells the order's story: its moves lead from creation to the final status, and
    what it says was done (payment, shipment, settlement, each compensation once) is in the ledgers."""
    oid, final = view["order_id"], view["status"]
    moves = [e for e in history if e["from_status"] != e["to_status"]]
    # Counted, not walked in the listed order: entries written in one workflow task share their
    # timestamp and the history lists those in no particular order (see the soak's report).
    flow: Counter[str] = Counter()
    for e in moves:
        if e["from_status"]:
            flow[e["from_status"]] -= 1
        flow[e["to_status"]] += 1
    entered = {e["to_status"] for e in moves}
    accepted = Counter(e["action"] for e in history if e["accepted"])
    undone = Counter(e["reason"] for e in history if e["accepted"] and e["action"] == "compensate")
    problems = []
    if not any(e["action"] == "create" and e["from_status"] is None for e in history):
        problems.append("no create entry")
    if {k: v for k, v in flow.items() if v} != {final: 1}:
        problems.append(f"moves do not lead to {final}: net {dict(flow)}")
    if sum(not e["accepted"] for e in history) < refused:
        problems.append(f"{refused} refused commands but fewer rejected entries")
    if view["compensation_pending"] or view["needs_attention"]:
        problems.append(f"compensation pending {view['compensation_pending']}, "
                        f"attention {view['attention_reason']}")
    if oid in ledger.reserved or oid in ledger.credit_held:
        problems.append("stock or credit still held by a finished order")
    captured, refunded = ledger.captured.get(oid, Decimal(0)), ledger.refunded.get(oid, Decimal(0))
    total = Decimal(view["total"])
    if final == "COMPLETED":
        for status in ("SHIPPED", "DELIVERED"):
            if status not in entered:
                problems.append(f"completed without ever being {status}")
        if accepted["settle"] != 1 or undone or "CANCELLED" in entered:
            problems.append(f"completed with settle ×{accepted['settle']}, compensations {dict(undone)}")
        if view["payment_terms"] == "prepaid" and not accepted["record_payment"]:
            problems.append("prepaid and completed without a recorded payment")
        invoice = ledger.invoices.get(oid)
        if invoice is None or invoice[1] != total or view["invoice"]["number"] != invoice[0]:
            problems.append(f"completed with invoice {invoice} for a total of {total}")
        if captured != total or refunded or oid not in ledger.shipped or oid in ledger.returned:
            problems.append(f"completed: captured {captured}, refunded {refunded}, "
                            f"shipped {oid in ledger.shipped}, returned {oid in ledger.returned}")
    elif final == "CANCELLED":
        problems += cancel_problems(view, history, ledger, undone, entered, captured, refunded)
        if accepted["settle"] or oid in ledger.invoices:
            problems.append("cancelled but settled")
    else:
        problems.append(f"not finished: {final}")
    return [f"{oid}: {p}" for p in problems]


def cancel_problems(view: dict[str, Any], history: list[dict[str, Any]], ledger: Ledger, undone: Counter[str],
                    entered: set[str], captured: Decimal, refunded: Decimal) -> list[str]:
    """One cancel entry, from a status the reason fits; each compensation once, for what was done."""
    oid = view["order_id"]
    cancels = [e for e in history if e["to_status"] == "CANCELLED" and e["from_status"] != "CANCELLED"]
    if len(cancels) != 1:
        return [f"{len(cancels)} cancel entries"]
    cancel, reason = cancels[0], view["cancel_reason"] or ""
    problems = []
    if cancel["reason"] != reason:
        problems.append(f"cancel entry says {cancel['reason']!r}, the order {reason!r}")
    origin = {"payment_timeout": "AWAITING_PAYMENT", "hold_timeout": "ON_HOLD"}.get(reason)
    if reason.startswith("rejected: "):
        origin = "ON_HOLD"
    if origin and cancel["from_status"] != origin:
        problems.append(f"{reason} from {cancel['from_status']}")
    if any(n != 1 for n in undone.values()):
        problems.append(f"compensations repeated: {dict(undone)}")
    shipped = oid in ledger.shipped
    expected = {
        "refund": captured > 0,
        "restock": shipped,
        "release_reservation": not shipped and bool(entered & HELD_STOCK),
        "release_credit": view["payment_terms"] == "credit" and bool(entered & HELD_CREDIT),
    }
    for step, due in expected.items():
        if due and not undone[step]:
            problems.append(f"no {step} compensation")
    if (undone["restock"] and not shipped) or (undone["refund"] and not captured):
        problems.append(f"compensated what was not done: {dict(undone)}")
    if refunded != captured or shipped != (oid in ledger.returned):
        problems.append(f"captured {captured}, refunded {refunded}, shipped {shipped}, "
                        f"returned {oid in ledger.returned}")
    return problems


@dataclass
class Outcomes:
    """Where the orders ended, from which status they were cancelled, which timers fired."""

    final: Counter[str]
    cancelled_from: Counter[str]
    fired: Counter[str]

    # What a run of the default size must have exercised; less means the traffic no longer does what
    # it claims (e.g. every create refused would otherwise pass as "no problems").
    MUST_CANCEL_FROM = ("ON_HOLD", "AWAITING_PAYMENT", "PROCESSING", "SHIPPED")
    MUST_FIRE = ("payment_timeout", "hold_timeout", "receipt auto-confirm")

    @classmethod
    def of(cls, views: dict[str, dict[str, Any]], histories: dict[str, list[dict[str, Any]]]) -> Outcomes:
        outcomes = cls(Counter(v["status"] for v in views.values()), Counter(), Counter())
        for oid, history in histories.items():
            for e in history:
                if e["to_status"] == "CANCELLED" and e["from_status"] != "CANCELLED":
                    outcomes.cancelled_from[e["from_status"]] += 1
                if e["action"] == "auto_confirm_receipt":
                    outcomes.fired["receipt auto-confirm"] += 1
            if views[oid].get("cancel_reason") in ("payment_timeout", "hold_timeout"):
                outcomes.fired[views[oid]["cancel_reason"]] += 1
        return outcomes

    def coverage_problems(self) -> list[str]:
        missing = [f"no order {s}" for s in ("COMPLETED", "CANCELLED") if not self.final[s]]
        missing += [f"no cancel from {s}" for s in self.MUST_CANCEL_FROM if not self.cancelled_from[s]]
        missing += [f"no {timer} fired" for timer in self.MUST_FIRE if not self.fired[timer]]
        return [f"the traffic did not exercise everything: {m}" for m in missing]


class Warnings(logging.Handler):
    """Warnings and errors of the SDK (the in-process worker's failed activity attempts and workflow
    tasks), kept for the summary: a retried technical failure is survivable, but worth seeing."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        what = record.getMessage().split(" (")[0][:100]  # without the ids, so alike ones add up
        if record.exc_info and record.exc_info[1] is not None:
            what += f" [{type(record.exc_info[1]).__name__}: {str(record.exc_info[1])[:120]}]"
        self.seen[f"{record.name}: {what}"] += 1

    def __enter__(self) -> Warnings:
        logging.getLogger("temporalio").addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        logging.getLogger("temporalio").removeHandler(self)
