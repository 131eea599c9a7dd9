"""Order activities: each is one database transaction and safe to run twice.

Dependencies (the sessionmaker, the carrier adapter) are injected, as in the SDK samples'
`hello_activity_method.py`; `worker.py` builds one instance and registers its methods.
Activities are synchronous (SQLAlchemy sync sessions) and run in the worker's thread pool.

How "safe to run twice" is made true, also when two attempts run at the same time:
- every step that must happen once inserts a row with a unique key (payment idempotency key,
  shipment / invoice / return per order, audit id) and checks for it first; when a concurrent
  attempt wins the race the insert fails, and `_once` runs the step again, which then finds the row;
- counters that must never go wrong (`products.reserved`/`on_hand`, `customers.credit_used`) change
  only through conditional UPDATEs, which take the row lock on PostgreSQL (SQLite serializes every
  writer with BEGIN IMMEDIATE); rows are locked in one order (customer before hold, an order's
  reservations before products, products by sku) so two activities never deadlock.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Executable, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.carrier import Carrier
from activities.models import (
    CaptureInput,
    CreditInput,
    CreditResult,
    InvoiceView,
    OrderRef,
    PaymentView,
    ProjectInput,
    ReserveInput,
    ReserveResult,
    RestockInput,
    ReturnView,
    SettleInput,
    SettleResult,
    ShipInput,
    ShipmentView,
    StockLine,
    ValidatedOrder,
    ValidateInput,
)
from activities.outbox import record_status_changes
from db.models import (
    AuditEvent,
    Counter,
    CreditHold,
    Customer,
    Invoice,
    Order,
    OrderLine,
    Payment,
    Product,
    Return,
    Shipment,
    StockMovement,
    StockReservation,
)
from db.queries import price_order
from workflows import errors
from workflows.models import OrderView, PricedLine

T = TypeVar("T")


class _Short(Exception):
    """Raised inside a reservation's transaction so that it rolls back; carries what was short."""

    def __init__(self, short: dict[str, int]) -> None:
        super().__init__(short)
        self.short = short


class OrderActivities:
    def __init__(self, sessions: sessionmaker[Session], carrier: Carrier) -> None:
        self._sessions = sessions
        self._carrier = carrier

    @activity.defn
    def validate_order(self, data: ValidateInput) -> ValidatedOrder:
        """Customer exists and is not blocked, SKUs known and active; prices from the catalog.

        Read-only. Raises `errors.invalid([...])` naming each bad field.
        """
        with self._sessions.begin() as s:
            return price_order(s, data.order)

    @activity.defn
    def check_credit(self, data: CreditInput) -> CreditResult:
        """Hold the order's credit exposure if it fits the customer's limit (or `force`).

        A second run with the same amount changes nothing; a new amount (an edit) moves the
        customer's exposure by the difference. `held=False` means the order's hold was not set
        to `amount` (a hold from before stays as it was).
        """

        def work(s: Session) -> CreditResult:
            if s.scalar(_lock(select(Customer.id).where(Customer.id == data.customer_id))) is None:
                raise errors.invalid([_problem("customer_id", f"unknown customer {data.customer_id}")])
            hold = s.get(CreditHold, data.order_id)
            delta = data.amount - (hold.amount if hold is not None else Decimal(0))
            # Lowering an exposure always fits; only growth is checked against the limit.
            held = _add_credit(s, data.customer_id, delta, force=data.force or delta <= 0)
            if held and hold is None:
                s.add(CreditHold(order_id=data.order_id, customer_id=data.customer_id,
                                 amount=data.amount))
            elif held and hold is not None:
                hold.amount = data.amount
            limit, used = s.execute(
                select(Customer.credit_limit, Customer.credit_used)
                .where(Customer.id == data.customer_id)
            ).one()
            return CreditResult(held=held, credit_limit=limit, credit_used=used)

        return self._once(work)

    @activity.defn
    def reserve_stock(self, data: ReserveInput) -> ReserveResult:
        """Make the order's reservation exactly `lines`, all or nothing, never oversold.

        `short` maps each SKU that did not fit to the units this order could have: free stock
        plus what it already holds of that SKU.
        """
        wanted = _quantities(data.lines)

        def work(s: Session) -> ReserveResult:
            held = {
                r.sku: r
                for r in s.scalars(
                    _lock(select(StockReservation).where(StockReservation.order_id == data.order_id))
                )
            }
            short: dict[str, int] = {}
            for sku in sorted(wanted.keys() | held.keys()):
                before = held[sku].quantity if sku in held else 0
                after = wanted.get(sku, 0)
                delta = after - before
                if delta > 0 and not _take_free_stock(s, sku, delta):
                    short[sku] = _free_stock(s, sku) + before
                    continue  # keep going, to report every short SKU at once
                if delta < 0:
                    _rowcount(s, update(Product).where(Product.sku == sku)
                              .values(reserved=Product.reserved + delta))
                if sku not in held:
                    s.add(StockReservation(order_id=data.order_id, sku=sku, quantity=after))
                elif after == 0:
                    s.delete(held[sku])
                else:
                    held[sku].quantity = after
            if short:
                raise _Short(short)  # rolls back the SKUs that did fit: all or nothing
            return ReserveResult(reserved=True)

        try:
            return self._once(work)
        except _Short as failure:
            return ReserveResult(reserved=False, short=failure.short)

    @activity.defn
    def release_reservation(self, data: OrderRef) -> None:
        self._once(lambda s: _release_stock(s, data.order_id))

    @activity.defn
    def capture_payment(self, data: CaptureInput) -> PaymentView:
        if data.amount <= 0:
            raise errors.invalid([_problem("amount", "must be greater than 0")])
        return self._once(
            lambda s: _payment_view(_capture(s, data.order_id, data.amount, data.reference))
        )

    @activity.defn
    def ship_order(self, data: ShipInput) -> ShipmentView:
        """Book the shipment (or record a manual one) and take the goods out of stock, once."""

        def work(s: Session) -> ShipmentView:
            shipment = s.get(Shipment, data.order_id)
            if shipment is not None:
                return ShipmentView.model_validate(shipment, from_attributes=True)
            tracking = data.tracking_number or self._carrier.book(
                data.order_id, parcels=len(data.lines), address=data.shipping_address
            )
            taken = s.scalar(select(Shipment.order_id).where(Shipment.tracking_number == tracking))
            if taken is not None:  # another order's parcel: a typo, never worth a retry
                message = f"{tracking} is already the tracking number of order {taken}"
                raise errors.invalid([{"field": "tracking_number", "message": message}])
            shipment = Shipment(order_id=data.order_id, carrier=data.carrier or self._carrier.name,
                                tracking_number=tracking, shipped_at=datetime.now(UTC))
            # Inserted first: a concurrent attempt blocks on the key here and then finds it.
            s.add(shipment)
            s.flush()
            _consume_stock(s, data.order_id, _quantities(data.lines))
            return ShipmentView.model_validate(shipment, from_attributes=True)

        return self._once(work)

    @activity.defn
    def settle_order(self, data: SettleInput) -> SettleResult:
        """Issue the invoice with the next gap-free number, capture the money, release credit."""

        def work(s: Session) -> SettleResult:
            invoice = s.scalar(select(Invoice).where(Invoice.order_id == data.order_id))
            if invoice is None:
                invoice = Invoice(number=_next_invoice_number(s), order_id=data.order_id,
                                  amount=data.amount, issued_at=datetime.now(UTC))
                s.add(invoice)
                s.flush()
                if data.amount > 0:  # a capture of nothing is not a payment
                    _capture(s, data.order_id, data.amount, f"INV-{invoice.number}")
                _release_credit(s, data.order_id)
            return SettleResult(
                invoice=InvoiceView.model_validate(invoice, from_attributes=True),
                payments=_payment_views(s, data.order_id),
            )

        return self._once(work)

    @activity.defn
    def refund_payment(self, data: OrderRef) -> list[PaymentView]:
        """Refund whatever was captured and not yet refunded, once; nothing captured, no row."""

        def work(s: Session) -> list[PaymentView]:
            key = f"{data.order_id}:refund"
            payments = _payments(s, data.order_id)
            if not any(p.idempotency_key == key for p in payments):
                balance = sum((p.amount if p.kind == "capture" else -p.amount for p in payments),
                              Decimal(0))
                if balance > 0:
                    s.add(Payment(order_id=data.order_id, kind="refund", amount=balance,
                                  reference=f"REFUND-{data.order_id}", idempotency_key=key,
                                  at=datetime.now(UTC)))
                    s.flush()
            return _payment_views(s, data.order_id)

        return self._once(work)

    @activity.defn
    def restock_order(self, data: RestockInput) -> ReturnView:
        """Put shipped goods back in stock with a return record, once."""

        def work(s: Session) -> ReturnView:
            record = s.scalar(select(Return).where(Return.order_id == data.order_id))
            if record is None:
                record = Return(id=f"RET-{data.order_id}", order_id=data.order_id,
                                lines={"lines": [line.model_dump(mode="json") for line in data.lines]},
                                created_at=datetime.now(UTC))
                s.add(record)
                s.flush()  # the unique order_id serializes concurrent attempts
                for sku, quantity in sorted(_quantities(data.lines).items()):
                    if quantity > 0:
                        _rowcount(s, update(Product).where(Product.sku == sku)
                                  .values(on_hand=Product.on_hand + quantity))
                        s.add(StockMovement(sku=sku, delta=quantity, kind="restock",
                                            reason="order cancelled after shipping",
                                            order_id=data.order_id,
                                            key=f"{data.order_id}:restock:{sku}"))
            return ReturnView(id=record.id, created_at=record.created_at,
                              lines=[PricedLine.model_validate(x) for x in record.lines["lines"]])

        return self._once(work)

    @activity.defn
    def release_credit(self, data: OrderRef) -> None:
        self._once(lambda s: _release_credit(s, data.order_id))

    @activity.defn
    def project_order(self, data: ProjectInput) -> None:
        """Write the order's read model at `revision` (older revisions are ignored), its audit and
        an outbox event for each status change (`activities.outbox`)."""

        def work(s: Session) -> None:
            view = data.view
            row = s.get(Order, view.order_id, with_for_update=True)
            if row is None:
                row = Order(order_id=view.order_id)
                s.add(row)
            elif row.revision >= data.revision:
                row = None  # a retried, older projection must not overwrite a newer one
            if row is not None:
                _project(s, row, view, data.revision, data.idempotency_key)
            ids = {entry.id for entry in data.audit}
            stored = set(s.scalars(select(AuditEvent.id).where(AuditEvent.id.in_(ids))))
            for entry in data.audit:
                if entry.id not in stored:
                    stored.add(entry.id)
                    fields = entry.model_dump()
                    fields["changes"] = entry.model_dump(mode="json")["changes"]
                    s.add(AuditEvent(**fields))
            # Same transaction as the status itself: every status change has exactly one event.
            record_status_changes(s, view, data.audit)

        self._once(work)

    def _once(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one transaction. A unique-key conflict means a concurrent attempt of the
        same step committed first; running `work` again then finds that attempt's rows."""
        try:
            with self._sessions.begin() as s:
                return work(s)
        except IntegrityError:
            with self._sessions.begin() as s:
                return work(s)


# --- helpers: each runs inside the caller's transaction -----------------------------------------


def _problem(field: str, message: str) -> dict[str, Any]:
    return {"field": field, "message": message}


def _lock(stmt: Any) -> Any:
    """SELECT ... FOR UPDATE on PostgreSQL (SQLite ignores it; BEGIN IMMEDIATE already serializes)."""
    return stmt.with_for_update()


def _rowcount(s: Session, stmt: Executable) -> int:
    # Counters are changed in SQL only; no ORM objects of those rows are kept in the session.
    result = s.execute(stmt, execution_options={"synchronize_session": False})
    return cast(CursorResult[Any], result).rowcount


def _quantities(lines: Iterable[StockLine | PricedLine]) -> dict[str, int]:
    tally: Tally[str] = Tally()
    for line in lines:
        if line.quantity < 0:
            raise errors.invalid([_problem("lines", f"quantity of {line.sku} must not be negative")])
        tally[line.sku] += line.quantity
    return dict(tally)


def _add_credit(s: Session, customer_id: str, delta: Decimal, *, force: bool) -> bool:
    # ROUND keeps SQLite (which stores NUMERIC as a float) on whole cents, so sums never drift
    # below zero or past the limit; on PostgreSQL it is exact and changes nothing.
    used = func.round(Customer.credit_used + delta, 2)
    stmt = update(Customer).where(Customer.id == customer_id).values(credit_used=used)
    if not force:
        stmt = stmt.where(used <= Customer.credit_limit)
    return _rowcount(s, stmt) == 1


def _release_credit(s: Session, order_id: str) -> None:
    hold = s.get(CreditHold, order_id)
    if hold is None:
        return
    s.execute(_lock(select(Customer.id).where(Customer.id == hold.customer_id)))
    # DELETE ... RETURNING: of two concurrent releases only the one that deleted the row gets
    # the amount back, so the exposure is released once.
    amount = s.scalar(
        delete(CreditHold).where(CreditHold.order_id == order_id).returning(CreditHold.amount),
        execution_options={"synchronize_session": False},
    )
    if amount is not None:
        _add_credit(s, hold.customer_id, -amount, force=True)


def _take_free_stock(s: Session, sku: str, quantity: int) -> bool:
    available = Product.on_hand - Product.reserved
    stmt = (update(Product)
            .where(Product.sku == sku, Product.active, available >= quantity)
            .values(reserved=Product.reserved + quantity))
    return _rowcount(s, stmt) == 1


def _free_stock(s: Session, sku: str) -> int:
    free = s.scalar(select(Product.on_hand - Product.reserved)
                    .where(Product.sku == sku, Product.active))
    return max(free or 0, 0)


def _drop_reservation(s: Session, order_id: str) -> dict[str, int]:
    """Delete the order's reservation rows; return what they held (once, as with credit)."""
    rows = s.execute(
        delete(StockReservation)
        .where(StockReservation.order_id == order_id)
        .returning(StockReservation.sku, StockReservation.quantity),
        execution_options={"synchronize_session": False},
    ).all()
    return {sku: quantity for sku, quantity in rows}


def _release_stock(s: Session, order_id: str) -> None:
    for sku, quantity in sorted(_drop_reservation(s, order_id).items()):
        _rowcount(s, update(Product).where(Product.sku == sku)
                  .values(reserved=Product.reserved - quantity))


def _consume_stock(s: Session, order_id: str, shipped: dict[str, int]) -> None:
    """Ship: on hand goes down by what ships, reserved by what this order had reserved.

    Shipping more than was reserved (a manual shipment) takes the rest from free stock; SKUs
    reserved but not shipped are released.
    """
    held = _drop_reservation(s, order_id)
    short: dict[str, int] = {}
    for sku in sorted(held.keys() | shipped.keys()):
        take, had = shipped.get(sku, 0), held.get(sku, 0)
        stmt = (update(Product)
                .where(Product.sku == sku, Product.on_hand - Product.reserved >= take - had)
                .values(on_hand=Product.on_hand - take, reserved=Product.reserved - had))
        if _rowcount(s, stmt) != 1:
            short[sku] = _free_stock(s, sku) + had
        elif take > 0:
            s.add(StockMovement(sku=sku, delta=-take, kind="ship", reason="order shipped",
                                order_id=order_id, key=f"{order_id}:ship:{sku}"))
    if short:
        raise errors.not_allowed(
            "not enough stock to ship: " + ", ".join(f"{k} ({v} available)" for k, v in short.items()),
            short=short,
        )


def _next_invoice_number(s: Session) -> int:
    # The counter row stays locked until this transaction ends: invoices are numbered one after
    # another, and a rolled-back settle gives its number back, so the sequence has no gaps.
    _rowcount(s, update(Counter).where(Counter.name == "invoice").values(value=Counter.value + 1))
    number = s.scalar(select(Counter.value).where(Counter.name == "invoice"))
    if number is None:
        raise RuntimeError("the 'invoice' counter is missing; run `orders db upgrade`")
    return number


def _capture(s: Session, order_id: str, amount: Decimal, reference: str) -> Payment:
    key = f"{order_id}:capture"
    payment = s.scalar(select(Payment).where(Payment.idempotency_key == key))
    if payment is None:
        payment = Payment(order_id=order_id, kind="capture", amount=amount, reference=reference,
                          idempotency_key=key, at=datetime.now(UTC))
        s.add(payment)
        s.flush()
    return payment


def _payments(s: Session, order_id: str) -> list[Payment]:
    return list(s.scalars(select(Payment).where(Payment.order_id == order_id).order_by(Payment.id)))


def _payment_view(payment: Payment) -> PaymentView:
    return PaymentView.model_validate(payment, from_attributes=True)


def _payment_views(s: Session, order_id: str) -> list[PaymentView]:
    return [_payment_view(p) for p in _payments(s, order_id)]


def _project(s: Session, row: Order, view: OrderView, revision: int, key: str | None) -> None:
    row.status = view.status.value
    row.sub_status = view.sub_status
    row.version = view.version
    row.revision = revision
    row.customer_id = view.customer_id
    row.owner_id = view.owner_id
    row.total = view.total
    row.currency = view.currency
    row.payment_terms = view.payment_terms
    row.fulfillment = view.fulfillment
    row.needs_attention = view.needs_attention
    row.attention_reason = view.attention_reason
    row.cancel_reason = view.cancel_reason
    if key is not None:
        row.idempotency_key = key
    row.view = view.model_dump(mode="json", by_alias=True)
    row.created_at = view.created_at
    row.updated_at = view.updated_at
    s.flush()  # the order row must exist before its lines reference it
    s.execute(delete(OrderLine).where(OrderLine.order_id == row.order_id))
    s.add_all(
        OrderLine(order_id=row.order_id, sku=line.sku, quantity=line.quantity,
                  unit_price=line.unit_price, discount_pct=line.discount_pct, amount=line.amount)
        for line in view.lines
    )
