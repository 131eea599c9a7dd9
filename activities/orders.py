"""Order activities: each is one database transaction and safe to run twice.

Dependencies (the sessionmaker, the carrier adapter) are injected, as in the SDK samples'
`hello_activity_method.py`; `worker.py` builds one instance and registers its methods.
Activities are synchronous (SQLAlchemy sync sessions) and run in the worker's thread pool.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.carrier import Carrier
from activities.models import (
    CaptureInput,
    CreditInput,
    CreditResult,
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
    ValidatedOrder,
    ValidateInput,
)


class OrderActivities:
    def __init__(self, sessions: sessionmaker[Session], carrier: Carrier) -> None:
        self._sessions = sessions
        self._carrier = carrier

    @activity.defn
    def validate_order(self, data: ValidateInput) -> ValidatedOrder:
        """Customer exists and is not blocked, SKUs known and active; prices from the catalog.

        Read-only. Raises `errors.invalid([...])` naming each bad field.
        """
        raise NotImplementedError

    @activity.defn
    def check_credit(self, data: CreditInput) -> CreditResult:
        """Hold the order's credit exposure if it fits the customer's limit (or `force`)."""
        raise NotImplementedError

    @activity.defn
    def reserve_stock(self, data: ReserveInput) -> ReserveResult:
        """Make the order's reservation exactly `lines`, all or nothing, never oversold."""
        raise NotImplementedError

    @activity.defn
    def release_reservation(self, data: OrderRef) -> None:
        raise NotImplementedError

    @activity.defn
    def capture_payment(self, data: CaptureInput) -> PaymentView:
        raise NotImplementedError

    @activity.defn
    def ship_order(self, data: ShipInput) -> ShipmentView:
        raise NotImplementedError

    @activity.defn
    def settle_order(self, data: SettleInput) -> SettleResult:
        raise NotImplementedError

    @activity.defn
    def refund_payment(self, data: OrderRef) -> list[PaymentView]:
        raise NotImplementedError

    @activity.defn
    def restock_order(self, data: RestockInput) -> ReturnView:
        raise NotImplementedError

    @activity.defn
    def release_credit(self, data: OrderRef) -> None:
        raise NotImplementedError

    @activity.defn
    def project_order(self, data: ProjectInput) -> None:
        raise NotImplementedError
