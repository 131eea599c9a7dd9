"""OrderWorkflow: one customer order, from validation to settlement or cancellation.

Orchestration and state only: decisions are calls into `rules.py`; side effects are activities.
Commands arrive as updates (the caller waits for the answer; a validator refuses early so nothing
enters history) or as signals (fire-and-forget; a refused signal is written to the audit trail).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.models import (
        CaptureInput,
        CreditInput,
        OrderRef,
        ProjectInput,
        ReserveInput,
        RestockInput,
        SettleInput,
        ShipInput,
        StockLine,
        ValidateInput,
    )
    from activities.orders import OrderActivities
    from workflows import errors, metrics, rules
    from workflows import search_attributes as sa
    from workflows.activity_options import COMPENSATION_FIRST_TRY, options
    from workflows.models import (
        Actor,
        ApproveCommand,
        AuditEntry,
        CancelCommand,
        EditCommand,
        OrderInput,
        OrderView,
        PaymentCommand,
        PricedLine,
        ReceiptCommand,
        RejectCommand,
        StatusCommand,
    )
    from workflows.rules import Command, Compensation, HoldReason, OrderStatus, Role

SYSTEM = Actor(id="system", role=Role.SYSTEM)
Cmd = TypeVar("Cmd", PaymentCommand, ReceiptCommand, ApproveCommand, RejectCommand, StatusCommand,
              CancelCommand, EditCommand)


class OrderCancelled(Exception):
    """Raised at a checkpoint of the lifecycle once a cancel has been accepted."""


@workflow.defn
class OrderWorkflow:
    @workflow.init
    def __init__(self, input: OrderInput) -> None:
        self._input = input
        now = workflow.now()
        self._view = OrderView(
            order_id=input.order_id,
            status=OrderStatus.PENDING,
            customer_id=input.order.customer_id,
            owner_id=input.owner_id,
            lines=[
                PricedLine(sku=line.sku, quantity=line.quantity, unit_price=Decimal(0),
                           discount_pct=line.discount_pct, amount=Decimal(0))
                for line in input.order.lines
            ],
            total=Decimal(0),
            shipping_address=input.order.shipping_address,
            payment_terms=input.order.payment_terms,
            fulfillment=input.fulfillment,
            notes=input.order.notes,
            waiting_for="validation",
            created_at=now,
            updated_at=now,
        )
        self._lock = asyncio.Lock()  # one business step at a time: main flow and handlers alike
        self._validated = False
        self._invalid: ApplicationError | None = None
        self._cancel: CancelCommand | None = None
        self._settling = False
        self._credit_held = False
        self._reserved = False
        self._awaiting_decision = False
        self._decision: ApproveCommand | None = None
        # A hold placed on a running order (manual hold, or an edit that broke the credit limit):
        # the lifecycle pauses between steps until it is released, then resumes where it was.
        self._interrupted_by: str | None = None  # "manual" | "credit"
        self._resume: tuple[OrderStatus, str | None] = (OrderStatus.PENDING, None)
        self._shipping = False
        self._edit_holds: list[str] = []
        self._received = False
        self._pending_audit: list[AuditEntry] = []
        self._last_audit_at = now
        self._dirty = True
        self._closing = False
        self._revision = 0
        self._published: tuple[Any, ...] = ()

    # --- the lifecycle -------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: OrderInput) -> OrderView:
        metrics.order_started()
        projector = asyncio.create_task(self._project_changes())
        if await self._validate():
            try:
                await self._approve()
                await self._reserve()
                if input.order.payment_terms == "prepaid":
                    await self._await_payment()
                await self._fulfil()
                await self._await_receipt()
                await self._settle()
            except OrderCancelled:
                await self._compensate()
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._closing = True
        await projector
        if self._view.status == OrderStatus.COMPLETED:
            metrics.order_completed()
        else:
            metrics.order_cancelled(self._view.cancel_reason)
        return self._view

    async def _validate(self) -> bool:
        order = self._input.order
        self._audit("create", self._input.created_by, None, OrderStatus.PENDING)
        try:
            priced = await workflow.execute_activity_method(
                OrderActivities.validate_order,
                ValidateInput(order_id=self._input.order_id, order=order),
                **options("validate order, price lines from the catalog"),
            )
        except ActivityError as failure:
            self._invalid = _business_error(failure)
            self._view.cancel_reason = f"invalid_order: {self._invalid.message}"
            self._move(OrderStatus.CANCELLED, SYSTEM, "validate", reason=self._invalid.message,
                       accepted=False)
            return False
        self._view.lines = priced.lines
        self._view.total = priced.total
        self._validated = True
        self._changed()
        return True

    async def _approve(self) -> None:
        """Credit check and approval threshold; either may put the order ON_HOLD for a manager."""
        reasons: list[str] = []
        if rules.needs_approval(self._view.total, self._input.policy.approval_threshold):
            reasons.append(HoldReason.ABOVE_APPROVAL_THRESHOLD)
        if self._view.payment_terms == "credit" and not await self._hold_credit(force=False):
            reasons.append(HoldReason.OVER_CREDIT_LIMIT)
        self._checkpoint()
        if not reasons:
            return
        await self._hold(", ".join(reasons))
        if self._view.payment_terms == "credit" and not self._credit_held:
            await self._hold_credit(force=True)  # a manager approved the order over the limit
            self._checkpoint()

    async def _hold_credit(self, *, force: bool) -> bool:
        async with self._lock:
            result = await workflow.execute_activity_method(
                OrderActivities.check_credit,
                CreditInput(order_id=self._input.order_id, customer_id=self._view.customer_id,
                            amount=self._view.total, force=force),
                **options("hold credit exposure" + (" (approved over limit)" if force else "")),
            )
        self._credit_held = result.held
        return result.held

    async def _reserve(self) -> None:
        await self._proceed()
        while True:
            async with self._lock:
                result = await workflow.execute_activity_method(
                    OrderActivities.reserve_stock,
                    ReserveInput(order_id=self._input.order_id, lines=self._stock_lines()),
                    **options("reserve stock, all lines or none"),
                )
            self._reserved = result.reserved
            self._checkpoint()
            if result.reserved:
                return
            short = ", ".join(f"{sku} ({available} available)" for sku, available in result.short.items())
            await self._hold(f"{HoldReason.INSUFFICIENT_STOCK}: {short}")

    async def _await_payment(self) -> None:
        await self._proceed()
        if not self._paid():
            self._move(OrderStatus.AWAITING_PAYMENT, SYSTEM, "reserve",
                       waiting_for=self._payment_due())
            window = self._input.policy.payment_window
            if not await self._wait(self._paid, window, "payment window"):
                async with self._lock:  # a capture may be in flight: let it finish first
                    if not self._paid():
                        self._accept_cancel(CancelCommand(actor=SYSTEM, reason="payment_timeout"))
                self._checkpoint()

    async def _fulfil(self) -> None:
        await self._proceed()
        action = "pay" if self._paid() and self._view.payment_terms == "prepaid" else "reserve"
        self._move(OrderStatus.PROCESSING, SYSTEM, action, waiting_for=(
            "the carrier booking" if self._view.fulfillment == "auto"
            else "the warehouse to ship (status SHIPPED with a tracking number)"))
        if self._view.fulfillment == "auto":
            try:
                async with self._lock:
                    await self._ship(carrier=None, tracking_number=None)
            except ActivityError as failure:
                # The carrier refused the booking: a person ships it by hand instead.
                self._attention(f"the carrier refused the booking ({_business_error(failure).message}); "
                                "ship it manually: status SHIPPED with a tracking number")
                self._view.fulfillment = "manual"
                self._view.waiting_for = "the warehouse to ship (status SHIPPED with a tracking number)"
                await self._wait(lambda: self._view.shipment is not None, None, "manual shipment")
                self._attention(None)
                return
            self._checkpoint()
            self._move(OrderStatus.SHIPPED, SYSTEM, "ship", changes=self._shipment_changes(),
                       waiting_for="receipt confirmation")
        else:
            await self._wait(lambda: self._view.shipment is not None, None, "manual shipment")

    async def _await_receipt(self) -> None:
        window = self._input.policy.receipt_auto_confirm
        if not await self._wait(lambda: self._received, window, "receipt auto-confirm"):
            self._deliver(SYSTEM, "auto_confirm_receipt",
                          reason=f"no confirmation within {_human(window)}")

    async def _settle(self) -> None:
        await self._proceed()
        self._settling = True  # from here on a cancel is refused (see rules.cancel_refusal)
        async with self._lock:
            result = await workflow.execute_activity_method(
                OrderActivities.settle_order,
                SettleInput(order_id=self._input.order_id, amount=self._view.total),
                **options("invoice, capture, release credit"),
            )
        self._view.invoice = result.invoice
        self._view.payments = result.payments
        self._credit_held = False
        self._move(OrderStatus.COMPLETED, SYSTEM, "settle",
                   changes={"invoice": [None, result.invoice.number]})

    # --- waiting ---------------------------------------------------------------------------------

    def _checkpoint(self) -> None:
        if self._cancel is not None:
            raise OrderCancelled

    async def _proceed(self) -> None:
        """Between steps: stop for a cancel, and wait while a person holds the order."""
        self._checkpoint()
        if self._interrupted_by is not None:
            await workflow.wait_condition(
                lambda: self._interrupted_by is None or self._cancel is not None)
            self._checkpoint()

    async def _wait(self, done: Callable[[], bool], timeout: timedelta | None, what: str) -> bool:
        """Wait for `done`; False when the timeout passes first. A cancel interrupts the wait."""
        try:
            await workflow.wait_condition(lambda: self._cancel is not None or done(),
                                          timeout=timeout, timeout_summary=what)
        except TimeoutError:
            return False
        self._checkpoint()
        return True

    async def _hold(self, reason: str) -> None:
        """ON_HOLD until a manager approves (return) or rejects, the hold times out, or a cancel."""
        await self._proceed()  # an edit's hold is decided first
        self._view.hold_reason = reason
        metrics.order_held(reason)
        self._awaiting_decision = True
        self._decision = None
        self._move(OrderStatus.ON_HOLD, SYSTEM, "hold", reason=reason,
                   waiting_for="a manager to approve or reject")
        timeout = self._input.policy.hold_timeout
        decided = await self._wait(lambda: self._decision is not None, timeout, "hold timeout")
        self._awaiting_decision = False
        if not decided:
            self._accept_cancel(CancelCommand(actor=SYSTEM, reason="hold_timeout"))
            self._checkpoint()
        decision, self._decision = self._decision, None
        assert decision is not None
        self._view.hold_reason = None
        self._move(OrderStatus.PENDING, decision.actor, "approve", reason=decision.reason,
                   waiting_for="stock reservation")

    # --- steps shared by the main flow and the handlers (caller holds the lock) ------------------

    async def _ship(self, carrier: str | None, tracking_number: str | None) -> None:
        self._shipping = True  # no manual hold while the goods are leaving
        try:
            shipment = await workflow.execute_activity_method(
                OrderActivities.ship_order,
                ShipInput(order_id=self._input.order_id, lines=self._stock_lines(),
                          shipping_address=self._view.shipping_address, carrier=carrier,
                          tracking_number=tracking_number),
                **options("book carrier, take goods out of stock"),
            )
        finally:
            self._shipping = False
        self._view.shipment = shipment
        self._reserved = False  # the reservation became a shipment

    def _deliver(self, actor: Actor, action: str, reason: str | None = None,
                 signed_by: str | None = None) -> None:
        self._received = True
        changes: dict[str, list[Any]] = {"signed_by": [None, signed_by]} if signed_by else {}
        self._move(OrderStatus.DELIVERED, actor, action, reason=reason, changes=changes,
                   waiting_for="settlement")

    def _accept_cancel(self, command: CancelCommand) -> None:
        self._cancel = command
        self._view.cancel_reason = command.reason
        self._view.hold_reason = None
        self._view.compensation_pending = [step.value for step in self._compensation_plan()]
        self._move(OrderStatus.CANCELLED, command.actor, "cancel", reason=command.reason,
                   waiting_for="compensation" if self._view.compensation_pending else None)

    # --- compensation ----------------------------------------------------------------------------

    def _compensation_plan(self) -> list[Compensation]:
        return rules.compensation_plan(
            captured=self._captured() > 0, shipped=self._view.shipment is not None,
            reserved=self._reserved, credit_held=self._credit_held,
        )

    async def _compensate(self) -> None:
        """Undo what was done, in reverse order, each step exactly once (idempotent activities)."""
        async with self._lock:  # a step in flight (a capture, a shipment) finishes first
            plan = self._compensation_plan()
            self._view.compensation_pending = [step.value for step in plan]
            self._changed()
            for step in plan:
                changes = await self._compensate_step(step)
                self._view.compensation_pending.remove(step.value)
                self._audit("compensate", SYSTEM, OrderStatus.CANCELLED, OrderStatus.CANCELLED,
                            changes=changes, reason=step.value)
            self._view.waiting_for = None
            self._changed()

    async def _compensate_step(self, step: Compensation) -> dict[str, list[Any]]:
        try:
            return await self._run_compensation(step, COMPENSATION_FIRST_TRY)
        except ActivityError as failure:
            metrics.compensation_failed(step.value)
            self._attention(f"compensation {step.value} is failing ({failure.cause or failure}); "
                            "retrying until it succeeds")
            changes = await self._run_compensation(step, None)
            self._attention(None)
            return changes

    async def _run_compensation(self, step: Compensation, retry: Any) -> dict[str, list[Any]]:
        ref = OrderRef(order_id=self._input.order_id)
        opts = options(f"compensate: {step.value}", **({"retry": retry} if retry else {}))
        if step is Compensation.REFUND:
            before = self._captured()
            self._view.payments = await workflow.execute_activity_method(
                OrderActivities.refund_payment, ref, **opts)
            return {"refunded": [None, str(before)]}
        if step is Compensation.RESTOCK:
            self._view.return_ = await workflow.execute_activity_method(
                OrderActivities.restock_order,
                RestockInput(order_id=self._input.order_id, lines=self._view.lines), **opts)
            return {"return": [None, self._view.return_.id]}
        if step is Compensation.RELEASE_RESERVATION:
            await workflow.execute_activity_method(OrderActivities.release_reservation, ref, **opts)
            self._reserved = False
            return {"reservation": ["held", "released"]}
        await workflow.execute_activity_method(OrderActivities.release_credit, ref, **opts)
        self._credit_held = False
        return {"credit_exposure": [str(self._view.total), "0.00"]}

    # --- queries -------------------------------------------------------------------------------

    @workflow.query
    def view(self) -> OrderView:
        return self._view

    @workflow.query
    def request_hash(self) -> str | None:
        return self._input.request_hash

    # --- updates (synchronous answer) and signals (fire-and-forget) ------------------------------

    @workflow.update
    async def accepted(self) -> OrderView:
        """Answers once validation has priced the order (used with update-with-start)."""
        await workflow.wait_condition(lambda: self._validated or self._invalid is not None)
        if self._invalid is not None:
            raise self._invalid
        return self._view

    @workflow.update
    async def pay(self, command: PaymentCommand) -> OrderView:
        return await self._execute(self._check_pay, self._apply_pay, command)

    @pay.validator
    def _validate_pay(self, command: PaymentCommand) -> None:
        self._check_pay(command)

    @workflow.signal
    async def pay_async(self, command: PaymentCommand) -> None:
        await self._submit("record_payment", self._check_pay, self._apply_pay, command)

    @workflow.update
    async def confirm_receipt(self, command: ReceiptCommand) -> OrderView:
        return await self._execute(self._check_receipt, self._apply_receipt, command)

    @confirm_receipt.validator
    def _validate_receipt(self, command: ReceiptCommand) -> None:
        self._check_receipt(command)

    @workflow.signal
    async def confirm_receipt_async(self, command: ReceiptCommand) -> None:
        await self._submit("confirm_receipt", self._check_receipt, self._apply_receipt, command)

    @workflow.update
    async def approve(self, command: ApproveCommand) -> OrderView:
        return await self._execute(self._check_approve, self._apply_approve, command)

    @approve.validator
    def _validate_approve(self, command: ApproveCommand) -> None:
        self._check_approve(command)

    @workflow.signal
    async def approve_async(self, command: ApproveCommand) -> None:
        await self._submit("approve", self._check_approve, self._apply_approve, command)

    @workflow.update
    async def reject(self, command: RejectCommand) -> OrderView:
        return await self._execute(self._check_reject, self._apply_reject, command)

    @reject.validator
    def _validate_reject(self, command: RejectCommand) -> None:
        self._check_reject(command)

    @workflow.signal
    async def reject_async(self, command: RejectCommand) -> None:
        await self._submit("reject", self._check_reject, self._apply_reject, command)

    @workflow.update
    async def change_status(self, command: StatusCommand) -> OrderView:
        return await self._execute(self._check_status, self._apply_status, command)

    @change_status.validator
    def _validate_status(self, command: StatusCommand) -> None:
        self._check_status(command)

    @workflow.signal
    async def change_status_async(self, command: StatusCommand) -> None:
        await self._submit("change_status", self._check_status, self._apply_status, command)

    @workflow.update
    async def cancel(self, command: CancelCommand) -> OrderView:
        return await self._execute(self._check_cancel, self._apply_cancel, command)

    @cancel.validator
    def _validate_cancel(self, command: CancelCommand) -> None:
        self._check_cancel(command)

    @workflow.signal
    async def cancel_async(self, command: CancelCommand) -> None:
        await self._submit("cancel", self._check_cancel, self._apply_cancel, command)

    @workflow.update
    async def edit(self, command: EditCommand) -> OrderView:
        return await self._execute(self._check_edit, self._apply_edit, command)

    @edit.validator
    def _validate_edit(self, command: EditCommand) -> None:
        self._check_edit(command)

    @workflow.signal
    async def edit_async(self, command: EditCommand) -> None:
        await self._submit("edit", self._check_edit, self._apply_edit, command)

    async def _execute(self, check: Callable[[Cmd], None], apply: Callable[[Cmd], Awaitable[None]],
                       command: Cmd) -> OrderView:
        # The validator ran before the update was accepted, but handlers interleave: look again.
        check(command)
        await apply(command)
        return self._view

    async def _submit(self, action: str, check: Callable[[Cmd], None],
                      apply: Callable[[Cmd], Awaitable[None]], command: Cmd) -> None:
        try:
            check(command)
            await apply(command)
        except ApplicationError as refusal:
            status = self._view.status
            self._audit(action, command.actor, status, status, accepted=False, reason=refusal.message)
            self._changed()

    # --- command rules: each `_check_*` raises a typed refusal; each `_apply_*` makes the change --

    def _authorize(self, actor: Actor, command: Command) -> None:
        if not rules.is_permitted(actor.role, command):
            raise errors.forbidden(f"role {actor.role.value} may not {command.value.replace('_', ' ')}")
        if not rules.may_touch_order(actor.role, actor.id, self._view.owner_id):
            raise errors.forbidden("sales may only act on their own orders")

    def _require_open(self) -> None:
        if self._view.status in rules.TERMINAL_STATUSES:
            raise errors.not_allowed(f"the order is {self._view.status.value}",
                                     status=self._view.status.value)
        if not self._validated:
            raise errors.not_allowed("the order is still being validated; try again in a moment")

    def _check_pay(self, command: PaymentCommand) -> None:
        self._authorize(command.actor, Command.RECORD_PAYMENT)
        self._require_open()
        if self._view.payment_terms != "prepaid":
            raise errors.not_allowed("credit orders are captured when the order is settled")
        if self._paid():
            raise errors.not_allowed("the order is already paid")
        if command.amount != self._view.total:
            raise errors.invalid([{"field": "amount", "message":
                                   f"must equal the order total {self._view.total}"}])

    async def _apply_pay(self, command: PaymentCommand) -> None:
        async with self._lock:
            self._check_pay(command)
            payment = await workflow.execute_activity_method(
                OrderActivities.capture_payment,
                CaptureInput(order_id=self._input.order_id, amount=command.amount,
                             reference=command.reference),
                **options("capture payment"),
            )
        self._view.payments.append(payment)
        status = self._view.status
        self._audit("record_payment", command.actor, status, status,
                    changes={"paid": [None, str(payment.amount)]}, reason=command.reference)
        self._view.version += 1
        self._changed()

    def _check_receipt(self, command: ReceiptCommand) -> None:
        self._authorize(command.actor, Command.CONFIRM_RECEIPT)
        self._require_open()
        if self._view.status != OrderStatus.SHIPPED:
            raise errors.not_allowed(
                f"receipt can be confirmed once the order is SHIPPED; it is {self._view.status.value}")

    async def _apply_receipt(self, command: ReceiptCommand) -> None:
        self._deliver(command.actor, "confirm_receipt", signed_by=command.signed_by)

    def _check_approve(self, command: ApproveCommand) -> None:
        self._authorize(command.actor, Command.APPROVE_ORDER)
        self._require_open()
        if not (self._awaiting_decision or self._interrupted_by):
            raise errors.not_allowed(f"the order is {self._view.status.value}, not waiting for approval")
        if command.actor.id in (self._view.owner_id, self._input.created_by.id):
            raise errors.forbidden("nobody approves their own order; ask another manager")

    async def _apply_approve(self, command: ApproveCommand) -> None:
        if self._interrupted_by == "credit":
            await self._hold_credit(force=True)  # the manager accepts the larger exposure
        if self._interrupted_by is not None:
            self._release(command.actor, command.reason)
            return
        self._decision = command
        # Answer once the main flow has taken the decision, so the caller sees where it went.
        await workflow.wait_condition(lambda: self._decision is None or self._cancel is not None)

    def _check_reject(self, command: RejectCommand) -> None:
        self._authorize(command.actor, Command.APPROVE_ORDER)
        self._require_open()
        if not (self._awaiting_decision or self._interrupted_by == "credit"):
            raise errors.not_allowed(f"the order is {self._view.status.value}, not waiting for approval")
        if command.actor.id in (self._view.owner_id, self._input.created_by.id):
            raise errors.forbidden("nobody decides on their own order; ask another manager")

    async def _apply_reject(self, command: RejectCommand) -> None:
        self._accept_cancel(CancelCommand(actor=command.actor, reason=f"rejected: {command.reason}"))

    def _check_status(self, command: StatusCommand) -> None:
        self._authorize(command.actor, Command.CHANGE_STATUS)
        self._require_open()
        source, target = self._view.status, command.status
        refusal = rules.check_status_change(
            source, target, command.actor.role, sub_status=command.sub_status,
            reason=command.reason, fields={"tracking_number": command.tracking_number},
            labels=command.sub_status_catalog,
        )
        if refusal:
            allowed = rules.allowed_targets(source, command.actor.role)
            raise errors.not_allowed(refusal, allowed=allowed)
        if target == source:
            return  # a sub-status label; the table and the catalog allowed it
        if target == OrderStatus.SHIPPED and self._view.fulfillment == "auto":
            raise errors.not_allowed("this order ships automatically through the carrier adapter")
        if target == OrderStatus.ON_HOLD and self._shipping:
            raise errors.not_allowed("the carrier is being booked; the order can no longer be held")
        if target == OrderStatus.PROCESSING and self._interrupted_by != "manual":
            self._check_approve(ApproveCommand(actor=command.actor, reason=command.reason))

    async def _apply_status(self, command: StatusCommand) -> None:
        source, target = self._view.status, command.status
        if target == source:
            before = self._view.sub_status
            self._view.sub_status = command.sub_status
            self._audit("change_status", command.actor, source, target, reason=command.reason,
                        changes={"sub_status": [before, command.sub_status]})
            self._view.version += 1
            self._changed()
        elif target == OrderStatus.SHIPPED:
            async with self._lock:
                self._check_status(command)
                try:
                    await self._ship(command.carrier, command.tracking_number)
                except ActivityError as failure:
                    raise _business_error(failure) from None
            if self._cancel is not None:
                return  # cancelled while the carrier was booked: compensation restocks
            self._move(OrderStatus.SHIPPED, command.actor, "ship", reason=command.reason,
                       changes=self._shipment_changes(), sub_status=command.sub_status,
                       waiting_for="receipt confirmation")
        elif target == OrderStatus.DELIVERED:
            self._deliver(command.actor, "confirm_receipt", reason=command.reason)
        elif target == OrderStatus.ON_HOLD:
            self._interrupt("manual", f"{HoldReason.MANUAL}: {command.reason}", command.actor,
                            command.reason)
        else:
            await self._apply_approve(ApproveCommand(actor=command.actor, reason=command.reason))

    def _interrupt(self, kind: str, hold_reason: str, actor: Actor, reason: str | None) -> None:
        self._interrupted_by = kind
        self._resume = (self._view.status, self._view.waiting_for)
        self._view.hold_reason = hold_reason
        metrics.order_held(hold_reason)
        self._move(OrderStatus.ON_HOLD, actor, "hold", reason=reason or hold_reason,
                   waiting_for="a manager to release the hold" if kind == "manual"
                   else "a manager to approve or reject")

    def _release(self, actor: Actor, reason: str | None) -> None:
        action = "release" if self._interrupted_by == "manual" else "approve"
        self._interrupted_by = None
        self._view.hold_reason = None
        status, waiting_for = self._resume
        self._move(status, actor, action, reason=reason, waiting_for=waiting_for)

    def _check_cancel(self, command: CancelCommand) -> None:
        self._authorize(command.actor, Command.CANCEL_ORDER)
        refusal = rules.cancel_refusal(self._view.status, self._settling)
        if refusal:
            raise errors.not_allowed(refusal)

    async def _apply_cancel(self, command: CancelCommand) -> None:
        self._accept_cancel(command)

    def _check_edit(self, command: EditCommand) -> None:
        self._authorize(command.actor, Command.EDIT_ORDER)
        self._require_open()
        if command.expected_version is not None and command.expected_version != self._view.version:
            raise errors.stale(
                f"the order changed: version {self._view.version}, not {command.expected_version}; "
                "reload it and apply your edit again", self._view.version)
        refusal = rules.edit_refusal(
            self._view.status, settling=self._settling, paid=self._paid(),
            fields={name for name in ("lines", "shipping_address", "notes")
                    if getattr(command, name) is not None},
        )
        if refusal:
            raise errors.not_allowed(refusal)

    async def _apply_edit(self, command: EditCommand) -> None:
        async with self._lock:
            self._check_edit(command)
            self._edit_holds = []
            changes: dict[str, list[Any]] = {}
            if command.lines is not None:
                changes.update(await self._edit_lines(command))
            address = command.shipping_address
            if address is not None and address != self._view.shipping_address:
                changes["shipping_address"] = [self._view.shipping_address.model_dump(mode="json"),
                                               address.model_dump(mode="json")]
                self._view.shipping_address = address
            if command.notes is not None and command.notes != self._view.notes:
                changes["notes"] = [self._view.notes, command.notes]
                self._view.notes = command.notes
        status = self._view.status
        self._audit("edit", command.actor, status, status, changes=changes, reason=command.reason)
        if changes:
            self._view.version += 1
        self._changed()
        if self._edit_holds and not self._awaiting_decision:
            # A larger total needs a manager again: the order pauses here until approved.
            self._interrupt("credit", ", ".join(self._edit_holds), SYSTEM, command.reason)

    async def _edit_lines(self, command: EditCommand) -> dict[str, list[Any]]:
        """Re-price, re-check credit for a larger total, move the reservation by the difference.
        Each step is all-or-nothing; a refusal undoes the steps before it."""
        assert command.lines is not None
        new_order = self._input.order.model_copy(update={"lines": command.lines})
        try:
            priced = await workflow.execute_activity_method(
                OrderActivities.validate_order,
                ValidateInput(order_id=self._input.order_id, order=new_order),
                **options("re-price edited lines"))
        except ActivityError as failure:
            raise _business_error(failure) from None
        old_total = self._view.total
        credit_moved = False
        if self._credit_held and priced.total != old_total:
            credit = await workflow.execute_activity_method(
                OrderActivities.check_credit,
                CreditInput(order_id=self._input.order_id, customer_id=self._view.customer_id,
                            amount=priced.total),
                **options("adjust credit exposure"))
            credit_moved = credit.held
            if not credit.held:
                if self._awaiting_decision:
                    raise errors.not_allowed(
                        f"the new total {priced.total} exceeds the credit limit and the order is "
                        "already waiting for a decision; decide on the hold first")
                self._edit_holds.append(HoldReason.OVER_CREDIT_LIMIT)
        threshold = self._input.policy.approval_threshold
        if rules.needs_approval(priced.total, threshold) and not rules.needs_approval(old_total, threshold):
            self._edit_holds.append(HoldReason.ABOVE_APPROVAL_THRESHOLD)
        if self._reserved:
            stock = await workflow.execute_activity_method(
                OrderActivities.reserve_stock,
                ReserveInput(order_id=self._input.order_id, lines=_stock_lines(priced.lines)),
                **options("move stock reservation"))
            if not stock.reserved:
                self._edit_holds.clear()
                if credit_moved:
                    await workflow.execute_activity_method(
                        OrderActivities.check_credit,
                        CreditInput(order_id=self._input.order_id, customer_id=self._view.customer_id,
                                    amount=old_total, force=True),
                        **options("restore credit exposure"))
                short = ", ".join(f"{sku} ({n} available)" for sku, n in stock.short.items())
                raise errors.not_allowed(f"not enough stock for the edit: {short}")
        changes: dict[str, list[Any]] = {"lines": [_dump(self._view.lines), _dump(priced.lines)]}
        self._view.lines = priced.lines
        self._view.total = priced.total
        if self._view.status == OrderStatus.AWAITING_PAYMENT:
            self._view.waiting_for = self._payment_due()
        if priced.total != old_total:
            changes["total"] = [str(old_total), str(priced.total)]
        return changes

    # --- state helpers ---------------------------------------------------------------------------

    def _payment_due(self) -> str:
        return f"payment of {self._view.total} {self._view.currency}"

    def _paid(self) -> bool:
        return self._captured() > 0

    def _captured(self) -> Decimal:
        captured = sum((p.amount for p in self._view.payments if p.kind == "capture"), Decimal(0))
        refunded = sum((p.amount for p in self._view.payments if p.kind == "refund"), Decimal(0))
        return captured - refunded

    def _stock_lines(self) -> list[StockLine]:
        return _stock_lines(self._view.lines)

    def _shipment_changes(self) -> dict[str, list[Any]]:
        shipment = self._view.shipment
        return {"tracking_number": [None, shipment.tracking_number]} if shipment else {}

    def _move(self, to: OrderStatus, actor: Actor, action: str, *, reason: str | None = None,
              changes: dict[str, list[Any]] | None = None, accepted: bool = True,
              sub_status: str | None = None, waiting_for: str | None = None) -> None:
        source = self._view.status
        self._view.status = to
        self._view.sub_status = sub_status
        self._view.waiting_for = waiting_for
        self._view.version += 1
        self._audit(action, actor, source, to, changes=changes, reason=reason, accepted=accepted)
        self._changed()

    def _attention(self, reason: str | None) -> None:
        self._view.needs_attention = reason is not None
        self._view.attention_reason = reason
        self._changed()

    def _audit(self, action: str, actor: Actor, source: OrderStatus | None, target: OrderStatus | None,
               *, changes: dict[str, list[Any]] | None = None, reason: str | None = None,
               accepted: bool = True) -> None:
        # Entries of one workflow task share workflow.now(): a microsecond apart keeps them in order.
        at = max(workflow.now(), self._last_audit_at + timedelta(microseconds=1))
        self._last_audit_at = at
        self._pending_audit.append(AuditEntry(
            id=str(workflow.uuid4()), order_id=self._input.order_id, at=at,
            actor=actor.id, role=actor.role.value, action=action, accepted=accepted,
            from_status=source.value if source else None, to_status=target.value if target else None,
            changes=changes or {}, reason=reason, request_id=actor.request_id,
        ))

    def _changed(self) -> None:
        """Mark the read model stale and refresh what the Temporal UI shows."""
        self._view.updated_at = workflow.now()
        self._dirty = True
        published = (self._view.status, self._view.needs_attention, self._view.total)
        if published != self._published:
            self._published = published
            workflow.upsert_search_attributes([
                sa.ORDER_STATUS.value_set(self._view.status.value),
                sa.CUSTOMER_ID.value_set(self._view.customer_id),
                sa.ORDER_OWNER.value_set(self._view.owner_id),
                sa.ORDER_TOTAL.value_set(float(self._view.total)),
                sa.NEEDS_ATTENTION.value_set(self._view.needs_attention),
            ])
        workflow.set_current_details(_details(self._view))

    async def _project_changes(self) -> None:
        """The single writer of the read model: batches changes, one activity per batch, in order."""
        while True:
            await workflow.wait_condition(lambda: self._dirty or self._closing)
            if not self._dirty:
                return
            self._dirty = False
            audit, self._pending_audit = self._pending_audit, []
            self._revision += 1
            await workflow.execute_activity_method(
                OrderActivities.project_order,
                ProjectInput(view=self._view.model_copy(deep=True), revision=self._revision,
                             audit=audit, idempotency_key=self._input.idempotency_key),
                **options(f"save read model ({self._view.status.value})"),
            )


def _business_error(failure: ActivityError) -> ApplicationError:
    cause = failure.cause
    if isinstance(cause, ApplicationError) and cause.type in (errors.INVALID_INPUT, errors.NOT_ALLOWED):
        return ApplicationError(cause.message, *cause.details, type=cause.type, non_retryable=True,
                                category=errors.BENIGN)
    raise failure


def _stock_lines(lines: list[PricedLine]) -> list[StockLine]:
    return [StockLine(sku=line.sku, quantity=line.quantity) for line in lines]


def _dump(lines: list[PricedLine]) -> list[dict[str, Any]]:
    return [line.model_dump(mode="json") for line in lines]


def _human(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _details(view: OrderView) -> str:
    """What the Temporal UI shows as the workflow's current details (markdown)."""
    lines = [f"**{view.status.value}**" + (f" / {view.sub_status}" if view.sub_status else "")
             + f" since {view.updated_at:%Y-%m-%d %H:%M:%S} UTC (version {view.version})"]
    if view.waiting_for:
        lines.append(f"Waiting for: {view.waiting_for}")
    if view.hold_reason:
        lines.append(f"Hold reason: {view.hold_reason}")
    if view.needs_attention:
        lines.append(f"⚠ Needs attention: {view.attention_reason}")
    if view.cancel_reason:
        lines.append(f"Cancel reason: {view.cancel_reason}")
    if view.compensation_pending:
        lines.append(f"Compensation pending: {', '.join(view.compensation_pending)}")
    lines.append(f"Customer {view.customer_id} · owner {view.owner_id} · "
                 f"{view.total} {view.currency} · {view.payment_terms} · {view.fulfillment}")
    return "\n\n".join(lines)
