"""Random command sequences (hypothesis state machines) against the rules and the activities.

Two layers:
- the rules, pure: a small model of one order driven through `rules.py` (lifecycle steps, status
  changes, edits, cancels) — terminal states stay terminal, a cancel is accepted once, the
  compensation plan undoes exactly what was done;
- the activities on a real SQLite database, called directly in any order (as retries, races and
  operator actions can make them run): a model predicts stock, reservations, payments and invoice
  numbers, and after every step the database must equal the model and the ledgers must balance.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError

from activities.carrier import LocalCarrier
from activities.models import (
    CaptureInput,
    OrderRef,
    ReserveInput,
    RestockInput,
    SettleInput,
    ShipInput,
    StockLine,
)
from activities.orders import OrderActivities
from db.migrate import upgrade
from db.models import Counter, Payment, Product, StockReservation
from db.session import make_engine, make_sessionmaker
from tests.factories import ADDRESS, add_product, uid
from tests.faults.invariants import invoice_problems, money_problems, stock_problems
from workflows import errors, rules
from workflows.models import PricedLine
from workflows.rules import TERMINAL_STATUSES, Compensation, OrderStatus, Role

# --- layer 1: the rules ------------------------------------------------------------------------

LIFECYCLE_ORDER = [Compensation.REFUND, Compensation.RESTOCK, Compensation.RELEASE_RESERVATION,
                   Compensation.RELEASE_CREDIT]
EDITABLE = ("lines", "shipping_address", "notes")


class OrderRules(RuleBasedStateMachine):
    """One order, moved only where `rules.py` allows; the flags say which steps have been done."""

    def __init__(self) -> None:
        super().__init__()
        self.status = OrderStatus.PENDING
        self.terms = "credit"
        self.settling = self.captured = self.shipped = self.reserved = self.credit_held = False
        self.cancels = 0
        self.first_terminal: OrderStatus | None = None

    @initialize(terms=st.sampled_from(["credit", "prepaid"]))
    def place(self, terms: str) -> None:
        self.terms = terms

    @rule()
    def lifecycle_step(self) -> None:
        """What the workflow does next on its own (or with a payment / receipt)."""
        if self.status in TERMINAL_STATUSES or self.status == OrderStatus.ON_HOLD:
            return  # closed, or waiting for a person
        if self.status == OrderStatus.PENDING:
            self.credit_held = self.terms == "credit"
            self.reserved = True
            self.status = OrderStatus.AWAITING_PAYMENT if self.terms == "prepaid" else OrderStatus.PROCESSING
        elif self.status == OrderStatus.AWAITING_PAYMENT:
            self.captured, self.status = True, OrderStatus.PROCESSING
        elif self.status == OrderStatus.PROCESSING:
            self.shipped, self.reserved, self.status = True, False, OrderStatus.SHIPPED
        elif self.status == OrderStatus.SHIPPED:
            self.status = OrderStatus.DELIVERED
        elif not self.settling:
            self.settling = True
        else:
            self.captured, self.credit_held, self.status = True, False, OrderStatus.COMPLETED

    @rule(to=st.sampled_from(OrderStatus), role=st.sampled_from(Role),
          sub_status=st.sampled_from([None, "IN_PRODUCTION", "PACKED", "AWAITING_ACCEPTANCE", "BOGUS"]),
          reason=st.sampled_from([None, "", "  ", "damaged"]), tracking=st.sampled_from([None, "", "SF1"]))
    def change_status(self, to: OrderStatus, role: Role, sub_status: str | None, reason: str | None,
                      tracking: str | None) -> None:
        refusal = rules.check_status_change(self.status, to, role, sub_status=sub_status,
                                            reason=reason, fields={"tracking_number": tracking})
        if self.status in TERMINAL_STATUSES or to == OrderStatus.CANCELLED:
            assert refusal is not None
        if refusal is not None or self.settling:
            return
        if to == self.status:
            assert sub_status in rules.SUB_STATUSES.get(to, frozenset()), "only a catalog label"
            return
        transition = rules.find_transition(self.status, to)
        assert transition is not None and role in transition.roles
        if to == OrderStatus.SHIPPED:
            assert tracking, "a manual shipment needs a tracking number"
            self.shipped, self.reserved = True, False
        self.status = to

    @rule(fields=st.sets(st.sampled_from(EDITABLE), max_size=3))
    def edit(self, fields: set[str]) -> None:
        refusal = rules.edit_refusal(self.status, settling=self.settling, paid=self.captured, fields=fields)
        if not fields or self.status in TERMINAL_STATUSES or self.settling:
            assert refusal is not None
        if self.shipped and fields & {"lines", "shipping_address"}:
            assert refusal is not None, "the goods have left: only notes may change"
        if self.captured and "lines" in fields:
            assert refusal is not None, "a paid order's lines cannot change"
        if refusal is None:
            assert fields <= rules.EDITABLE_FIELDS[self.status]

    @rule()
    def cancel(self) -> None:
        refusal = rules.cancel_refusal(self.status, self.settling)
        assert (refusal is None) == (self.status not in TERMINAL_STATUSES and not self.settling)
        if refusal is not None:
            return
        plan = rules.compensation_plan(captured=self.captured, shipped=self.shipped,
                                       reserved=self.reserved, credit_held=self.credit_held)
        assert not {Compensation.RESTOCK, Compensation.RELEASE_RESERVATION} <= set(plan)
        assert plan == sorted(set(plan), key=LIFECYCLE_ORDER.index), "reverse lifecycle, each once"
        assert (Compensation.REFUND in plan) == self.captured
        assert (Compensation.RESTOCK in plan) == self.shipped
        assert (Compensation.RELEASE_RESERVATION in plan) == (self.reserved and not self.shipped)
        assert (Compensation.RELEASE_CREDIT in plan) == self.credit_held
        self.cancels += 1
        self.status = OrderStatus.CANCELLED
        self.captured = self.shipped = self.reserved = self.credit_held = False

    @invariant()
    def terminal_states_stay_terminal(self) -> None:
        if self.first_terminal is None and self.status in TERMINAL_STATUSES:
            self.first_terminal = self.status
        assert self.first_terminal in (None, self.status)

    @invariant()
    def consistent(self) -> None:
        assert self.cancels <= 1
        assert not (self.shipped and self.reserved), "a reservation becomes the shipment"
        if self.settling:
            assert self.status in (OrderStatus.DELIVERED, OrderStatus.COMPLETED)


def test_the_rules_keep_an_order_consistent_under_any_command_sequence() -> None:
    run_state_machine_as_test(OrderRules, settings=settings(
        max_examples=100, stateful_step_count=25, deadline=None))


# --- layer 2: the activities on SQLite ---------------------------------------------------------

SKUS_PER_EXAMPLE = 3
ORDERS_PER_EXAMPLE = 3

order_index = st.integers(0, ORDERS_PER_EXAMPLE - 1)
# sku index -> quantity; indexes wrap onto the example's SKUs
line_sets = st.dictionaries(st.integers(0, SKUS_PER_EXAMPLE - 1), st.integers(1, 4), min_size=1, max_size=3)
amounts = st.sampled_from([Decimal("10.00"), Decimal("25.50"), Decimal("99.99")])


class ActivityLedgers(RuleBasedStateMachine):
    """A few orders on 2-3 SKUs; every activity called in any order; the model says what must be."""

    sessions: ClassVar[sessionmaker[Session]]  # set by the test on a subclass

    def __init__(self) -> None:
        super().__init__()
        sessions = self.sessions
        self.acts = OrderActivities(sessions, LocalCarrier())
        self.orders = [uid("P") for _ in range(ORDERS_PER_EXAMPLE)]
        self.skus: list[str] = []
        self.on_hand: dict[str, int] = {}
        self.held: dict[str, dict[str, int]] = {o: {} for o in self.orders}
        self.shipped: dict[str, tuple[str, dict[str, int]]] = {}  # order -> (tracking, lines)
        self.returned: set[str] = set()
        self.captured: dict[str, Decimal] = {}
        self.refunded: dict[str, Decimal] = {}
        self.invoices: dict[str, int] = {}
        with sessions() as s:
            self.counter = s.scalar(select(Counter.value).where(Counter.name == "invoice")) or 0

    @initialize(stock=st.lists(st.integers(0, 6), min_size=2, max_size=SKUS_PER_EXAMPLE))
    def products(self, stock: list[int]) -> None:
        for on_hand in stock:
            sku = add_product(self.sessions, on_hand=on_hand)
            self.skus.append(sku)
            self.on_hand[sku] = on_hand

    # --- helpers ---------------------------------------------------------------------------------

    def lines(self, picked: dict[int, int]) -> dict[str, int]:
        return {self.skus[index % len(self.skus)]: quantity for index, quantity in picked.items()}

    def reserved(self, sku: str) -> int:
        return sum(held.get(sku, 0) for held in self.held.values())

    # --- rules: each calls one activity and applies what it must have done to the model ----------

    @rule(order=order_index, picked=line_sets)
    def reserve_or_edit_reservation(self, order: int, picked: dict[int, int]) -> None:
        order_id, wanted = self.orders[order], self.lines(picked)
        before = self.held[order_id]
        short = {}
        for sku in sorted(wanted.keys() | before.keys()):
            free = self.on_hand[sku] - self.reserved(sku)
            if wanted.get(sku, 0) - before.get(sku, 0) > max(free, 0):
                short[sku] = max(free, 0) + before.get(sku, 0)
        result = self.acts.reserve_stock(ReserveInput(
            order_id=order_id, lines=[StockLine(sku=sku, quantity=q) for sku, q in wanted.items()]))
        assert (result.reserved, result.short) == (not short, short)
        if not short:
            self.held[order_id] = dict(wanted)

    @rule(order=order_index)
    def release(self, order: int) -> None:
        self.acts.release_reservation(OrderRef(order_id=self.orders[order]))
        self.held[self.orders[order]] = {}

    @rule(order=order_index, picked=st.none() | line_sets)
    def ship(self, order: int, picked: dict[int, int] | None) -> None:
        """Ship the reservation (the workflow's way) or other lines (a manual shipment)."""
        order_id = self.orders[order]
        held = self.held[order_id]
        taking = dict(held) if picked is None else self.lines(picked)
        fits = all(self.on_hand[sku] - (self.reserved(sku) - held.get(sku, 0)) >= taking.get(sku, 0)
                   for sku in held.keys() | taking.keys())
        data = ShipInput(order_id=order_id, shipping_address=ADDRESS,
                         lines=[StockLine(sku=sku, quantity=q) for sku, q in taking.items()])
        try:
            shipment = self.acts.ship_order(data)
        except ApplicationError as refused:
            assert refused.type == errors.NOT_ALLOWED and order_id not in self.shipped and not fits
            return
        if order_id in self.shipped:
            assert shipment.tracking_number == self.shipped[order_id][0], "shipped twice"
            return
        assert fits, f"shipped {taking} without the stock for it"
        self.shipped[order_id] = (shipment.tracking_number, taking)
        self.held[order_id] = {}
        for sku, quantity in taking.items():
            self.on_hand[sku] -= quantity

    @rule(order=order_index, picked=line_sets)
    def restock(self, order: int, picked: dict[int, int]) -> None:
        """Put back what was shipped (or, for an order never shipped, what an operator returns)."""
        order_id = self.orders[order]
        back = self.shipped[order_id][1] if order_id in self.shipped else self.lines(picked)
        self.acts.restock_order(RestockInput(order_id=order_id, lines=[
            PricedLine(sku=sku, quantity=q, unit_price=Decimal("10.00"), discount_pct=Decimal(0),
                       amount=Decimal("10.00") * q) for sku, q in back.items()]))
        if order_id not in self.returned:
            self.returned.add(order_id)
            for sku, quantity in back.items():
                self.on_hand[sku] += quantity

    @rule(order=order_index, amount=amounts)
    def capture(self, order: int, amount: Decimal) -> None:
        order_id = self.orders[order]
        payment = self.acts.capture_payment(CaptureInput(order_id=order_id, amount=amount,
                                                         reference="bank"))
        self.captured.setdefault(order_id, amount)
        assert payment.amount == self.captured[order_id]

    @rule(order=order_index)
    def refund(self, order: int) -> None:
        order_id = self.orders[order]
        self.acts.refund_payment(OrderRef(order_id=order_id))
        if order_id not in self.refunded and self.captured.get(order_id, Decimal(0)) > 0:
            self.refunded[order_id] = self.captured[order_id]

    @rule(order=order_index, amount=st.just(Decimal("0.00")) | amounts)
    def settle(self, order: int, amount: Decimal) -> None:
        order_id = self.orders[order]
        result = self.acts.settle_order(SettleInput(order_id=order_id, amount=amount))
        if order_id not in self.invoices:
            self.counter += 1
            self.invoices[order_id] = self.counter
            if amount > 0:
                self.captured.setdefault(order_id, amount)
        assert result.invoice.number == self.invoices[order_id]

    # --- after every step ------------------------------------------------------------------------

    @invariant()
    def stock_is_what_the_model_says(self) -> None:
        with self.sessions() as s:
            products = {sku: (on_hand, reserved) for sku, on_hand, reserved in s.execute(
                select(Product.sku, Product.on_hand, Product.reserved).where(Product.sku.in_(self.skus)))}
            held = {order_id: dict(s.execute(
                select(StockReservation.sku, StockReservation.quantity)
                .where(StockReservation.order_id == order_id)).all()) for order_id in self.orders}
        assert products == {sku: (self.on_hand[sku], self.reserved(sku)) for sku in self.skus}
        assert held == self.held
        assert all(on_hand >= 0 and 0 <= reserved <= on_hand for on_hand, reserved in products.values())

    @invariant()
    def payments_are_what_the_model_says(self) -> None:
        with self.sessions() as s:
            rows = s.execute(select(Payment.order_id, Payment.kind, Payment.amount)
                             .where(Payment.order_id.in_(self.orders)).order_by(Payment.id)).all()
        for order_id in self.orders:
            expected = ([("capture", self.captured[order_id])] if order_id in self.captured else [])
            if order_id in self.refunded:
                expected.append(("refund", self.refunded[order_id]))
            assert sorted((kind, amount) for o, kind, amount in rows if o == order_id) == sorted(expected)

    @invariant()
    def ledgers_balance(self) -> None:
        problems = [*stock_problems(self.sessions, self.skus), *money_problems(self.sessions, self.orders),
                    *invoice_problems(self.sessions)]
        assert not problems, problems


@pytest.fixture(scope="module")
def ledger_sessions(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    """A SQLite database of its own: the invoice counter is predicted from a known start."""
    url = f"sqlite:///{tmp_path_factory.mktemp('properties') / 'orders.db'}"
    upgrade(url)
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
        # A throwaway database: durability is not under test, speed is welcome.
        dbapi_connection.execute("PRAGMA synchronous=OFF")

    return make_sessionmaker(engine)


def test_the_activities_keep_the_ledgers_exact_under_any_call_sequence(
    ledger_sessions: sessionmaker[Session],
) -> None:
    class OnThisDatabase(ActivityLedgers):
        sessions = ledger_sessions

    run_state_machine_as_test(OnThisDatabase, settings=settings(
        max_examples=50, stateful_step_count=15, deadline=None,
        suppress_health_check=[HealthCheck.too_slow]))
