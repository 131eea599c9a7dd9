"""Carrier adapters: the seam between the ship step and a real carrier's API."""

from __future__ import annotations

import hashlib
from typing import Protocol

from workflows.models import Address


class Carrier(Protocol):
    name: str

    def book(self, order_id: str, parcels: int, address: Address) -> str:
        """Book a shipment and return its tracking number. Must be idempotent per order_id
        (real carriers take it as the idempotency key), because an activity may run twice."""
        ...


class LocalCarrier:
    """The built-in carrier: issues a tracking number derived from the order id, so a retried
    booking returns the same number."""

    name = "local"

    def book(self, order_id: str, parcels: int, address: Address) -> str:
        digest = hashlib.sha256(order_id.encode()).hexdigest()[:10].upper()
        return f"LC{digest}{address.country}"
