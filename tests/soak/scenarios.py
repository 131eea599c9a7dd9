"""What the soak's clients do with their orders: one script per order shape, drawn by a seeded plan.

A script acts like a person would, waiting for the status it needs before it acts. Orders take other
paths under load (a shared SKU runs short, a timer fires first): a script then stops, and a timer or
a cancel finishes the order (`Orders.give_up`). Probes are commands sent on purpose to be refused;
`expect` names the statuses they may get.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from tests.api.conftest import Person
from tests.soak.traffic import Catalog, Orders, order_body

Script = Callable[[Orders, Catalog, random.Random], Awaitable[None]]


def lines_of(cat: Catalog, rng: random.Random) -> dict[str, int]:
    skus = rng.sample([cat.widget, cat.gadget, cat.contended], rng.randint(1, 3))
    return {sku: rng.randint(1, 3) for sku in skus}


def other(people: list[Person], than: Person) -> Person:
    return next(p for p in people if p != than)


async def receive(o: Orders, oid: str, rng: random.Random, owner: Person) -> None:
    """Confirm receipt once shipped: by the owner, the shop's backend or the warehouse."""
    view = await o.reach(oid, "SHIPPED")
    if view["status"] != "SHIPPED":
        await o.give_up(view, "not shipped")
        return
    who = rng.choice([owner, o.cast.system, o.cast.warehouse])
    await o.send("receipt", oid, who, {"signed_by": "Zhang San"}, expect={200, 409})


async def ship(o: Orders, oid: str) -> bool:
    """The warehouse ships a manual order by hand, with a tracking number of its own."""
    view = await o.reach(oid, "PROCESSING")
    if view["status"] != "PROCESSING":
        await o.give_up(view, "not processing")
        return False
    shipped = await o.send("status", oid, o.cast.warehouse, {
        "status": "SHIPPED", "carrier": "soak-post", "tracking_number": f"TRK-{oid}"}, expect={200, 409})
    return shipped.status_code == 200


async def pay(o: Orders, oid: str, rng: random.Random) -> bool:
    view = await o.reach(oid, "AWAITING_PAYMENT")
    if view["status"] != "AWAITING_PAYMENT":
        await o.give_up(view, "not awaiting payment")
        return False
    if rng.random() < 0.3:
        await o.send("pay", oid, o.cast.finance, {"amount": "0.01", "reference": "short"}, expect={409, 422})
    paid = await o.send("pay", oid, o.cast.finance, {"amount": view["total"], "reference": f"PAY-{oid[:12]}"},
                        expect={200, 409})
    return paid.status_code == 200


# --- the scripts --------------------------------------------------------------------------------


async def credit_auto(o: Orders, cat: Catalog, rng: random.Random) -> None:
    """Credit terms, the carrier books at once; the receipt is confirmed or auto-confirmed."""
    owner = rng.choice(o.cast.sales) if rng.random() < 0.8 else o.cast.system
    view = await o.create("credit_auto", owner, order_body(rng.choice(cat.roomy), lines_of(cat, rng),
                                                           terms="credit", fulfillment="auto"))
    if view is None:
        return
    oid = view["order_id"]
    if rng.random() < 0.3:
        await o.send("pay", oid, o.cast.finance, {"amount": view["total"], "reference": "no"}, expect={409})
    if rng.random() < 0.3:
        await o.send("edit", oid, other(o.cast.sales, owner), {"notes": "not my order", "reason": "probe"},
                     expect={403})  # sales act only on their own orders
    if rng.random() < 0.4:
        await o.send("edit", oid, owner if owner in o.cast.sales else o.cast.managers[0],
                     {"notes": "call before delivery", "reason": "customer asked"}, expect={200, 409})
    if rng.random() < 0.5:
        await receive(o, oid, rng, owner)


async def prepaid(o: Orders, cat: Catalog, rng: random.Random) -> None:
    """Prepaid and paid, sometimes after editing the lines (the payment is then the new total)."""
    owner = rng.choice(o.cast.sales)
    view = await o.create("prepaid", owner, order_body(rng.choice(cat.roomy), {cat.widget: 1},
                                                       terms="prepaid", fulfillment="auto"))
    if view is None:
        return
    oid = view["order_id"]
    if rng.random() < 0.3:
        waiting = await o.reach(oid, "AWAITING_PAYMENT")
        if waiting["status"] == "AWAITING_PAYMENT":
            await o.send("edit", oid, owner, {"lines": [{"sku": cat.widget, "quantity": 1},
                                                        {"sku": cat.gadget, "quantity": 2}],
                                              "expected_version": waiting["version"],
                                              "reason": "customer added a line"}, expect={200, 409})
    if await pay(o, oid, rng):
        await o.send("edit", oid, owner, {"lines": [{"sku": cat.gadget, "quantity": 1}],
                                          "reason": "paid orders keep their lines"}, expect={409})
        if rng.random() < 0.5:
            await receive(o, oid, rng, owner)


async def prepaid_unpaid(o: Orders, cat: Catalog, rng: random.Random) -> None:
    """Nobody pays: the payment window cancels the order and releases its stock."""
    await o.create("prepaid_unpaid", rng.choice([o.cast.system, *o.cast.sales]),
                   order_body(rng.choice(cat.roomy), lines_of(cat, rng), terms="prepaid", fulfillment="auto"))


async def manual_ship(o: Orders, cat: Catalog, rng: random.Random) -> None:
    """Manual fulfilment: sub-status, an edit with expected_version then a stale one, shipped by hand."""
    owner = rng.choice(o.cast.sales)
    view = await o.create("manual_ship", owner, order_body(rng.choice(cat.roomy), {cat.gadget: 2},
                                                           terms="credit", fulfillment="manual"))
    if view is None:
        return
    oid = view["order_id"]
    current = await o.reach(oid, "PROCESSING")
    if current["status"] != "PROCESSING":
        await o.give_up(current, "not processing")
        return
    if rng.random() < 0.4:
        await o.send("receipt", oid, owner, {}, expect={409})  # not shipped yet
    if rng.random() < 0.5:
        await o.send("status", oid, o.cast.warehouse, {"status": "PROCESSING", "sub_status": "PACKED"},
                     expect={200})
    if rng.random() < 0.6:
        version = ((await o.get(oid)) or current)["version"]
        edited = await o.send("edit", oid, owner, {"lines": [{"sku": cat.gadget, "quantity": 3}],
                                                   "expected_version": version, "reason": "one more"},
                              expect={200, 409})
        if edited.status_code == 200:
            await o.send("edit", oid, owner, {"notes": "lost update?", "expected_version": version,
                                              "reason": "stale"}, expect={409})
    if not await ship(o, oid):
        return
    await o.send("edit", oid, owner, {"lines": [{"sku": cat.gadget, "quantity": 1}], "reason": "late"},
                 expect={409})
    pick = rng.random()
    if pick < 1 / 3:
        await o.send("receipt", oid, o.cast.system, {"signed_by": "front desk"}, expect={200, 409})
    elif pick < 2 / 3:
        await o.send("status", oid, o.cast.warehouse, {"status": "DELIVERED"}, expect={200, 409})


async def manual_hold(o: Orders, cat: Catalog, rng: random.Random) -> None:
    """A person holds a running order; only a manager releases it; then it ships."""
    owner = rng.choice(o.cast.sales)
    view = await o.create("manual_hold", owner, order_body(rng.choice(cat.roomy), {cat.widget: 1},
                                                           terms="credit", fulfillment="manual"))
    if view is None:
        return
    oid = view["order_id"]
    current = await o.reach(oid, "PROCESSING")
    if current["status"] != "PROCESSING":
        await o.give_up(current, "not processing")
        return
    holder = rng.choice([o.cast.managers[0], o.cast.warehouse])
    held = await o.send("status", oid, holder, {"status": "ON_HOLD", "reason": "customer asked to wait"},
                        expect={200})
    if held.status_code != 200:
        await o.give_up(current, "hold refused")
        return
    await o.send("status", oid, owner, {"status": "PROCESSING"}, expect={409})  # sales may not release
    if rng.random() < 0.5:
        await o.send("status", oid, o.cast.managers[1], {"status": "PROCESSING"}, expect={200})
    else:
        await o.send("approve", oid, o.cast.managers[1], {"reason": "customer ready"}, expect={200})
    await ship(o, oid)


async def held(o: Orders, cat: Catalog, rng: random.Random, scenario: str) -> tuple[str, Person] | None:
    """An order ON_HOLD for a manager: over its customer's credit limit, or above the approval
    threshold (placed by a sales person or a manager). Its creator's approval is refused."""
    if rng.random() < 0.5:
        owner = rng.choice(o.cast.sales)
        body = order_body(cat.tight, {cat.widget: 1}, terms="credit", fulfillment="auto")
    else:
        owner = rng.choice([o.cast.managers[0], *o.cast.sales])
        body = order_body(rng.choice(cat.roomy), {cat.bulk: 6}, terms="credit", fulfillment="auto")
    view = await o.create(scenario, owner, body)
    if view is None:
        return None
    current = await o.reach(view["order_id"], "ON_HOLD")
    if current["status"] != "ON_HOLD":
        await o.give_up(current, "not held")
        return None
    # Sales may not approve; a manager may not approve the order he placed.
    await o.send("approve", view["order_id"], owner, {}, expect={403})
    return view["order_id"], owner


async def hold_approved(o: Orders, cat: Catalog, rng: random.Random) -> None:
    if found := await held(o, cat, rng, "hold_approved"):
        oid, owner = found
        await o.send("approve", oid, other(o.cast.managers, owner), {"reason": "good customer"},
                     expect={200, 409})


async def hold_rejected(o: Orders, cat: Catalog, rng: random.Random) -> None:
    if found := await held(o, cat, rng, "hold_rejected"):
        oid, owner = found
        await o.send("reject", oid, other(o.cast.managers, owner), {"reason": "too risky"},
                     expect={200, 409})


async def hold_timeout(o: Orders, cat: Catalog, rng: random.Random) -> None:
    await held(o, cat, rng, "hold_timeout")  # nobody decides: the hold times out


async def short_stock(o: Orders, cat: Catalog, rng: random.Random) -> None:
    """Short of stock: held until the warehouse restocks and a manager releases it (or cancelled)."""
    owner = rng.choice(o.cast.sales)
    sku = await cat.own_product(o.api, o.cast.admin, on_hand=1)
    terms = "prepaid" if rng.random() < 0.3 else "credit"
    view = await o.create("short_stock", owner, order_body(rng.choice(cat.roomy), {sku: 2, cat.gadget: 1},
                                                           terms=terms, fulfillment="auto"))
    if view is None:
        return
    oid = view["order_id"]
    held = await o.reach(oid, "ON_HOLD")
    if held["status"] != "ON_HOLD":
        await o.give_up(held, "not held")
        return
    pick = rng.random()
    if pick < 0.6:
        await adjust(o, sku, 2, "delivery from the supplier", {200})
        await o.send("approve", oid, rng.choice(o.cast.managers), {"reason": "restocked"}, expect={200, 409})
        await adjust(o, sku, -4, "miscount", {409})  # more than was ever on hand
        if terms == "prepaid":
            await pay(o, oid, rng)
    elif pick < 0.8:
        await o.send("cancel", oid, owner, {"reason": "customer found it elsewhere"}, expect={200, 409})


async def adjust(o: Orders, sku: str, delta: int, reason: str, expect: set[int]) -> None:
    await o.api.call("stock", "POST", f"/products/{sku}/stock", o.cast.warehouse,
                   json={"delta": delta, "reason": reason}, expect=expect)


async def edit_growth(o: Orders, cat: Catalog, rng: random.Random) -> None:
    """An edit past the credit limit holds the running order until a manager approves it."""
    owner = rng.choice(o.cast.sales)
    customer = await cat.own_customer(o.api, o.cast.admin, "1000")
    view = await o.create("edit_growth", owner, order_body(customer, {cat.gadget: 10},
                                                           terms="credit", fulfillment="manual"))
    if view is None:
        return
    oid = view["order_id"]
    current = await o.reach(oid, "PROCESSING")
    if current["status"] != "PROCESSING":
        await o.give_up(current, "not processing")
        return
    edited = await o.send("edit", oid, owner, {"lines": [{"sku": cat.widget, "quantity": 10}],
                                               "expected_version": current["version"],
                                               "reason": "customer wants the big ones"}, expect={200})
    if edited.status_code == 200 and edited.json()["status"] == "ON_HOLD":
        await o.send("approve", oid, rng.choice(o.cast.managers), {"reason": "limit raise agreed"},
                     expect={200})
    await ship(o, oid)


# --- cancels at every stage ---------------------------------------------------------------------


async def cancel_pending(o: Orders, cat: Catalog, rng: random.Random) -> None:
    owner = rng.choice(o.cast.sales)
    view = await o.create("cancel_pending", owner, order_body(rng.choice(cat.roomy), lines_of(cat, rng),
                                                              terms=rng.choice(["credit", "prepaid"]),
                                                              fulfillment="auto"))
    if view is not None:
        await o.send("cancel", view["order_id"], owner, {"reason": "ordered by mistake"}, expect={200})


async def cancel_on_hold(o: Orders, cat: Catalog, rng: random.Random) -> None:
    if found := await held(o, cat, rng, "cancel_on_hold"):
        oid, owner = found
        await o.send("cancel", oid, owner, {"reason": "customer withdrew"}, expect={200, 409})


async def cancel_awaiting_payment(o: Orders, cat: Catalog, rng: random.Random) -> None:
    view = await o.create("cancel_awaiting_payment", o.cast.system, order_body(
        rng.choice(cat.roomy), {cat.gadget: 4}, terms="prepaid", fulfillment="auto"))
    if view is None:
        return
    waiting = await o.reach(view["order_id"], "AWAITING_PAYMENT")
    await o.send("cancel", view["order_id"], o.cast.system, {"reason": "payment declined"}, expect={200, 409})
    if waiting["status"] != "AWAITING_PAYMENT":
        await o.give_up(waiting, "not awaiting payment")


async def cancel_processing(o: Orders, cat: Catalog, rng: random.Random) -> None:
    """Cancelled while the warehouse has it (prepaid: after payment, so it is refunded)."""
    owner = rng.choice(o.cast.sales)
    terms = rng.choice(["credit", "prepaid"])
    view = await o.create("cancel_processing", owner, order_body(rng.choice(cat.roomy), {cat.widget: 2},
                                                                 terms=terms, fulfillment="manual"))
    if view is None:
        return
    oid = view["order_id"]
    if terms == "prepaid" and not await pay(o, oid, rng):
        return
    current = await o.reach(oid, "PROCESSING")
    await o.send("status", oid, owner, {"status": "CANCELLED", "reason": "wrong way"}, expect={409})
    await o.send("cancel", oid, o.cast.finance, {"reason": "finance may not"}, expect={403})
    await o.send("cancel", oid, rng.choice([owner, o.cast.managers[0]]), {"reason": "customer cancelled"},
                 expect={200, 409})
    if current["status"] != "PROCESSING":
        await o.give_up(current, "not processing")


async def cancel_shipped(o: Orders, cat: Catalog, rng: random.Random) -> None:
    """Cancelled after shipping: the goods come back with a return record (and the money back)."""
    owner = rng.choice(o.cast.sales)
    terms = rng.choice(["credit", "prepaid"])
    view = await o.create("cancel_shipped", owner, order_body(rng.choice(cat.roomy), {cat.gadget: 5},
                                                              terms=terms, fulfillment="manual"))
    if view is None:
        return
    oid = view["order_id"]
    if terms == "prepaid" and not await pay(o, oid, rng):
        return
    if await ship(o, oid):
        await o.send("cancel", oid, owner, {"reason": "parcel refused"}, expect={200, 409})


async def cancel_delivered(o: Orders, cat: Catalog, rng: random.Random) -> None:
    """A receipt and a cancel sent as signals at the same time. DELIVERED lasts no longer than one
    workflow task (settlement starts at once and wins against a later cancel), so the cancel lands
    in DELIVERED only when both signals arrive in one task; else it is refused (the order completes)
    or, when it comes first, cancels the SHIPPED order."""
    owner = rng.choice(o.cast.sales)
    view = await o.create("cancel_delivered", owner, order_body(rng.choice(cat.roomy), {cat.widget: 1},
                                                                terms="credit", fulfillment="manual"))
    if view is None or not await ship(o, view["order_id"]):
        return
    oid = view["order_id"]
    # 409 when the other one won and the order had already closed (a signal to a closed workflow).
    await asyncio.gather(
        o.send("receipt", oid, o.cast.warehouse, {}, expect={202, 409}, wait=False),
        o.send("cancel", oid, owner, {"reason": "damaged on arrival"}, expect={202, 409}, wait=False))


async def cancel_completed(o: Orders, cat: Catalog, rng: random.Random) -> None:
    owner = rng.choice(o.cast.sales)
    view = await o.create("cancel_completed", owner, order_body(rng.choice(cat.roomy), {cat.gadget: 1},
                                                                terms="credit", fulfillment="auto"))
    if view is None:
        return
    oid = view["order_id"]
    await receive(o, oid, rng, owner)
    done = await o.reach(oid, "COMPLETED")
    if done["status"] == "COMPLETED":
        await o.send("cancel", oid, owner, {"reason": "too late"}, expect={409})


# Relative weights: the everyday shapes most, every other shape regularly.
SCRIPTS: dict[str, tuple[Script, int]] = {
    "credit_auto": (credit_auto, 5),
    "prepaid": (prepaid, 3),
    "prepaid_unpaid": (prepaid_unpaid, 1),
    "manual_ship": (manual_ship, 3),
    "manual_hold": (manual_hold, 1),
    "hold_approved": (hold_approved, 2),
    "hold_rejected": (hold_rejected, 1),
    "hold_timeout": (hold_timeout, 1),
    "short_stock": (short_stock, 2),
    "edit_growth": (edit_growth, 1),
    "cancel_pending": (cancel_pending, 1),
    "cancel_on_hold": (cancel_on_hold, 1),
    "cancel_awaiting_payment": (cancel_awaiting_payment, 1),
    "cancel_processing": (cancel_processing, 2),
    "cancel_shipped": (cancel_shipped, 2),
    "cancel_delivered": (cancel_delivered, 1),
    "cancel_completed": (cancel_completed, 1),
}


def plan(rng: random.Random, orders: int) -> list[str]:
    """`orders` script names: every shape at least once (when there is room), the rest by weight."""
    names = list(SCRIPTS)
    chosen = names[:orders] + rng.choices(names, weights=[w for _, w in SCRIPTS.values()],
                                          k=max(0, orders - len(names)))
    rng.shuffle(chosen)
    return chosen


def scenario_of(name: str) -> Script:
    return SCRIPTS[name][0]

