"""Phases 1 and 4: whole orders per second, A-B-B-A so that drift (a warming cache, a neighbour's
load) falls on both sides alike; CPU per order of the server and the worker processes."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.drive import BareOrders, Batch, Driver, FullOrders
from bench.measure import HistoryProfile, Meter, profile
from bench.procs import Child
from bench.run import Run, target


@dataclass
class Tally:
    orders: int = 0
    seconds: float = 0.0
    polls: int = 0
    cpu: dict[str, float] = field(default_factory=dict)

    def add(self, batch: Batch, used: dict[str, float]) -> None:
        self.orders += batch.orders
        self.seconds += batch.seconds
        self.polls += batch.polls
        for name, seconds in used.items():
            self.cpu[name] = self.cpu.get(name, 0.0) + seconds

    @property
    def rate(self) -> float:
        return self.orders / self.seconds

    def ms(self, name: str) -> float:
        return 1000 * self.cpu.get(name, 0.0) / self.orders


async def measured(run: Run, driver: Driver, tally: Tally, label: str, orders: int,
                   **procs: Child) -> Batch:
    with Meter(server=run.server, **procs) as meter:
        batch = await driver.run(orders, run.config.concurrency)
    tally.add(batch, meter.used)
    per = {name: f"{1000 * s / batch.orders:.0f}" for name, s in meter.used.items()}
    rate = batch.orders / batch.seconds
    run.say(f"  {label}: {batch.orders} orders in {batch.seconds:.1f}s = {rate:.2f}/s; CPU ms/order {per}")
    return batch


async def full_vs_bare(run: Run) -> tuple[HistoryProfile, HistoryProfile]:
    c = run.config
    run.say(f"phase 1: OrderWorkflow vs bare workflow, {c.orders} orders per round, "
            f"{c.concurrency} in flight, rounds A-B-B-A")
    full_worker, bare_worker = run.worker("bench-full"), run.worker("bench-bare", bare=True)
    full = Driver(FullOrders(run.client, run.catalog, "bench-full"))
    bare = Driver(BareOrders(run.client, "bench-bare"))
    await full.run(c.warmup, c.concurrency)
    await bare.run(c.warmup, c.concurrency)
    tallies = {"full": Tally(), "bare": Tally()}
    last = {}
    for kind in ("full", "bare", "bare", "full"):
        driver, worker = (full, full_worker) if kind == "full" else (bare, bare_worker)
        batch = await measured(run, driver, tallies[kind], f"{driver.kind.name:13}", c.orders, worker=worker)
        last[kind] = batch.last
    full_worker.stop()
    bare_worker.stop()
    f, b = tallies["full"], tallies["bare"]
    ratio = f.rate / b.rate
    run.row("Throughput, OrderWorkflow (whole orders)", f"{f.rate:.2f} orders/s")
    run.row("Throughput, bare workflow of the same shape", f"{b.rate:.2f} orders/s")
    run.row("Ratio OrderWorkflow / bare", f"{ratio:.2f}", target(ratio >= 1.0, "≥ 1.0"))
    for name, what in (("server", "dev server"), ("worker", "worker process"), ("driver", "driver (client)")):
        run.row(f"CPU per order, {what}: OrderWorkflow / bare", f"{f.ms(name):.0f} / {b.ms(name):.0f} ms")
    run.row("Status polls per order (`view` query): OrderWorkflow / bare",
            f"{f.polls / f.orders:.1f} / {b.polls / b.orders:.1f}")
    assert last["full"] is not None and last["bare"] is not None
    return await profile(last["full"]), await profile(last["bare"])


async def worker_scaling(run: Run) -> None:
    c = run.config
    run.say(f"phase 4: one vs two worker processes, {c.scale_orders} orders per round, rounds 1-2-2-1")
    driver = Driver(FullOrders(run.client, run.catalog, "bench-scale"))
    first = run.worker("bench-scale", name="order worker 1 (bench-scale)")
    await driver.run(c.warmup, c.concurrency)
    tallies = {1: Tally(), 2: Tally()}
    second: Child | None = None
    for workers in (1, 2, 2, 1):
        if workers == 2 and second is None:
            second = run.worker("bench-scale", name="order worker 2 (bench-scale)")
            await driver.run(c.warmup, c.concurrency)  # both polling and warm
        if workers == 1 and second is not None:
            second.stop()
            second = None
        procs = {"worker": first} if second is None else {"worker": first, "worker2": second}
        label = f"{workers} worker process{'es' if workers > 1 else ''}"
        await measured(run, driver, tallies[workers], label, c.scale_orders, **procs)
    first.stop()
    one, two = tallies[1], tallies[2]
    run.row("Throughput with 1 / 2 worker processes",
            f"{one.rate:.2f} / {two.rate:.2f} orders/s (×{two.rate / one.rate:.2f})")
