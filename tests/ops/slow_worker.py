"""`python -m tests.ops.slow_worker`: the real worker (`worker.run_worker`) with a carrier that takes
ORDERS_TEST_CARRIER_DELAY seconds to book and touches ORDERS_TEST_CARRIER_MARK when it starts, so a
test can send SIGTERM while the ship activity is running."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import worker
from activities.carrier import LocalCarrier
from starter.logs import configure_logging
from starter.settings import get_settings
from workflows.models import Address


class SlowCarrier(LocalCarrier):
    def book(self, order_id: str, parcels: int, address: Address) -> str:
        Path(os.environ["ORDERS_TEST_CARRIER_MARK"]).touch()
        time.sleep(float(os.environ["ORDERS_TEST_CARRIER_DELAY"]))
        return super().book(order_id, parcels, address)


if __name__ == "__main__":
    configure_logging()
    asyncio.run(worker.run_worker(get_settings(), carrier=SlowCarrier()))
