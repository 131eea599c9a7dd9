"""The pure business rules, without Temporal or a database."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from workflows import rules
from workflows.rules import Compensation, OrderStatus, Role


@pytest.mark.parametrize(("text", "expected"), [
    ("45", timedelta(seconds=45)), ("45s", timedelta(seconds=45)), ("10m", timedelta(minutes=10)),
    ("24h", timedelta(hours=24)), ("7d", timedelta(days=7)), (" 3d ", timedelta(days=3)),
])
def test_durations_accept_seconds_and_unit_suffixes(text: str, expected: timedelta) -> None:
    assert rules.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1w", "-5s", "ten", "5 minutes", "1.5h"])
def test_malformed_durations_are_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="45s, 10m, 24h, 7d"):
        rules.parse_duration(text)


def test_line_amount_applies_the_discount_and_rounds_half_up_to_the_cent() -> None:
    assert rules.line_amount(Decimal("19.99"), 3, Decimal(0)) == Decimal("59.97")
    assert rules.line_amount(Decimal("10.00"), 1, Decimal("12.5")) == Decimal("8.75")
    assert rules.line_amount(Decimal("0.05"), 1, Decimal("50")) == Decimal("0.03")  # 0.025 → 0.03


def test_order_total_is_exact_in_decimal() -> None:
    assert rules.order_total([Decimal("0.10")] * 3) == Decimal("0.30")


def test_credit_fits_up_to_and_including_the_limit() -> None:
    assert rules.credit_fits(Decimal("100"), Decimal("60"), Decimal("40"))
    assert not rules.credit_fits(Decimal("100"), Decimal("60"), Decimal("40.01"))


def test_approval_is_needed_strictly_above_the_threshold() -> None:
    assert not rules.needs_approval(Decimal("10000"), Decimal("10000"))
    assert rules.needs_approval(Decimal("10000.01"), Decimal("10000"))


def test_warehouse_ships_a_processing_order_with_a_tracking_number() -> None:
    assert rules.check_status_change(OrderStatus.PROCESSING, OrderStatus.SHIPPED, Role.WAREHOUSE,
                                     sub_status=None, reason=None,
                                     fields={"tracking_number": "SF1"}) is None


def test_shipping_without_a_tracking_number_is_refused() -> None:
    refusal = rules.check_status_change(OrderStatus.PROCESSING, OrderStatus.SHIPPED, Role.WAREHOUSE,
                                        sub_status=None, reason=None, fields={"tracking_number": None})
    assert refusal is not None and "tracking_number" in refusal


def test_shipped_to_cancelled_is_not_a_status_change() -> None:
    refusal = rules.check_status_change(OrderStatus.SHIPPED, OrderStatus.CANCELLED, Role.ADMIN,
                                        sub_status=None, reason="x", fields={})
    assert refusal is not None and "cancel command" in refusal


def test_refused_transition_names_the_allowed_ones() -> None:
    refusal = rules.check_status_change(OrderStatus.PROCESSING, OrderStatus.DELIVERED, Role.WAREHOUSE,
                                        sub_status=None, reason=None, fields={})
    assert refusal is not None and "allowed: SHIPPED, ON_HOLD" in refusal


def test_manual_hold_requires_a_reason() -> None:
    refusal = rules.check_status_change(OrderStatus.PROCESSING, OrderStatus.ON_HOLD, Role.MANAGER,
                                        sub_status=None, reason=" ", fields={})
    assert refusal is not None and "requires a reason" in refusal


def test_sub_status_must_come_from_the_catalog_of_the_status() -> None:
    assert rules.check_status_change(OrderStatus.PROCESSING, OrderStatus.PROCESSING, Role.WAREHOUSE,
                                     sub_status="PACKED", reason=None, fields={}) is None
    refusal = rules.check_status_change(OrderStatus.PROCESSING, OrderStatus.PROCESSING, Role.WAREHOUSE,
                                        sub_status="AWAITING_ACCEPTANCE", reason=None, fields={})
    assert refusal is not None and "IN_PRODUCTION, PACKED" in refusal


def test_terminal_orders_take_no_status_change() -> None:
    for status in rules.TERMINAL_STATUSES:
        assert rules.check_status_change(status, OrderStatus.PROCESSING, Role.ADMIN,
                                         sub_status=None, reason="x", fields={}) is not None


def test_cancel_is_allowed_until_completed_and_only_once() -> None:
    assert rules.cancel_refusal(OrderStatus.SHIPPED, settling=False) is None
    assert rules.cancel_refusal(OrderStatus.DELIVERED, settling=False) is None
    assert rules.cancel_refusal(OrderStatus.DELIVERED, settling=True) is not None
    assert rules.cancel_refusal(OrderStatus.COMPLETED, settling=False) is not None
    assert "irreversible" in (rules.cancel_refusal(OrderStatus.CANCELLED, settling=False) or "")


def test_compensation_runs_in_reverse_order_of_the_lifecycle() -> None:
    assert rules.compensation_plan(captured=True, shipped=True, reserved=False, credit_held=True) == [
        Compensation.REFUND, Compensation.RESTOCK, Compensation.RELEASE_CREDIT]
    assert rules.compensation_plan(captured=False, shipped=False, reserved=True, credit_held=False) == [
        Compensation.RELEASE_RESERVATION]
    assert rules.compensation_plan(captured=False, shipped=False, reserved=False, credit_held=False) == []


def test_after_shipping_only_notes_can_be_edited() -> None:
    assert rules.edit_refusal(OrderStatus.SHIPPED, settling=False, paid=False, fields={"notes"}) is None
    refusal = rules.edit_refusal(OrderStatus.SHIPPED, settling=False, paid=False, fields={"lines"})
    assert refusal is not None and "editable: notes" in refusal


def test_paid_orders_keep_their_lines() -> None:
    assert rules.edit_refusal(OrderStatus.PROCESSING, settling=False, paid=True, fields={"lines"})
    assert rules.edit_refusal(OrderStatus.PROCESSING, settling=False, paid=True, fields={"notes"}) is None


def test_sales_touch_only_their_own_orders_and_others_touch_any() -> None:
    assert rules.may_touch_order(Role.SALES, "sam", "sam")
    assert not rules.may_touch_order(Role.SALES, "sam", "sue")
    assert rules.may_touch_order(Role.MANAGER, "max", "sue")


@pytest.mark.parametrize("command", list(rules.Command))
def test_admin_may_do_everything(command: rules.Command) -> None:
    assert rules.is_permitted(Role.ADMIN, command)


def test_only_managers_and_admins_approve() -> None:
    allowed = {role for role in Role if rules.is_permitted(role, rules.Command.APPROVE_ORDER)}
    assert allowed == {Role.MANAGER, Role.ADMIN}


def test_the_admin_catalog_replaces_the_built_in_sub_statuses() -> None:
    assert rules.check_status_change(OrderStatus.PROCESSING, OrderStatus.PROCESSING, Role.WAREHOUSE,
                                     sub_status="QUALITY_CHECK", reason=None, fields={},
                                     labels=["QUALITY_CHECK"]) is None
    refusal = rules.check_status_change(OrderStatus.PROCESSING, OrderStatus.PROCESSING, Role.WAREHOUSE,
                                        sub_status="PACKED", reason=None, fields={}, labels=[])
    assert refusal is not None and "allowed: none" in refusal
