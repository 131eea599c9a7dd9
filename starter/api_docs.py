"""What `/openapi.json` shows beyond the models: the error model, error answers and examples.

Kept out of `api.py` so the routes stay readable; nothing here makes a decision.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

ORDER_ID = "3f9c1b7e2a4d4c6e8f0a1b2c3d4e5f60"
ADDRESS = {"name": "李雷", "phone": "+86 138 0013 8000", "line1": "1 Nanjing Rd", "city": "上海",
           "postal_code": "200000", "country": "CN"}


class ErrorInfo(BaseModel):
    code: str = Field(description="snake_case, stable: what a program branches on",
                      examples=["invalid_input"])
    message: str = Field(description="a sentence for people")
    details: Any = Field(default=None, description="for invalid_input: [{field, message, type, in?}]; "
                                                   "otherwise code-specific or null")


class ErrorBody(BaseModel):
    """Every failure, whatever its status, has this shape."""

    error: ErrorInfo


def _error(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


_ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    401: ("Missing or unknown bearer token.", _error("unauthorized", "a bearer token is required")),
    403: ("The role may not do this, or (sales) the order is not theirs.",
          _error("forbidden", "role finance may not cancel order")),
    404: ("No such order, customer or product.", _error("not_found", f"order {ORDER_ID!r} does not exist")),
    409: ("Not allowed in the current state, a stale expected_version, or an Idempotency-Key reused with "
          "another body.",
          _error("not_allowed", "SHIPPED → CANCELLED is not allowed for role warehouse (allowed: DELIVERED)",
                 {"allowed": ["DELIVERED"]})),
    413: ("The body is larger than 1 MiB.",
          _error("content_too_large", "the request body is larger than 1048576 bytes",
                 {"limit_bytes": 1048576})),
    422: ("Invalid input: details name each field and the rule it broke.",
          _error("invalid_input", "lines[0].quantity: Input should be greater than 0",
                 [{"field": "lines[0].quantity", "in": "body", "message": "Input should be greater than 0",
                   "type": "greater_than"}])),
    500: ("An unexpected error; it has been logged.",
          _error("internal_error", "an unexpected error occurred; it has been logged")),
    503: ("Temporal or the database does not answer, or the order cannot answer right now.",
          _error("temporal_unavailable", "Temporal at localhost:7233 is not reachable")),
    504: ("The order did not answer in time; the command may still be applied: read the order again.",
          _error("timeout", f"order {ORDER_ID} did not answer in time; retry or check it")),
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with the error model and an example."""
    return {
        status: {"model": ErrorBody, "description": _ERRORS[status][0],
                 "content": {"application/json": {"example": _ERRORS[status][1]}}}
        for status in statuses
    }


def example(status: int, value: Any, description: str = "OK") -> dict[int | str, dict[str, Any]]:
    return {status: {"description": description, "content": {"application/json": {"example": value}}}}


# Errors any authenticated route may answer; reading a body adds 413; orders live in Temporal (503/504).
AUTHENTICATED = (401, 403, 422, 500)
WITH_BODY = (*AUTHENTICATED, 413)
ORDER_READ = (*AUTHENTICATED, 404, 503, 504)
ORDER_COMMAND = (*WITH_BODY, 404, 409, 503, 504)


# --- examples ---------------------------------------------------------------------------------------

NEW_ORDER: dict[str, Any] = {
    "credit": {
        "summary": "Credit terms, two lines, one discounted",
        "value": {"customer_id": "C-1001", "lines": [{"sku": "SKU-1", "quantity": 2},
                                                     {"sku": "SKU-2", "quantity": 3, "discount_pct": "10"}],
                  "shipping_address": ADDRESS, "payment_terms": "credit", "notes": "call before delivery"},
    },
    "prepaid_manual": {
        "summary": "Prepaid, shipped by the warehouse, on behalf of a sales person",
        "value": {"customer_id": "C-1001", "lines": [{"sku": "SKU-1", "quantity": 1}],
                  "shipping_address": ADDRESS, "payment_terms": "prepaid", "fulfillment": "manual",
                  "owner_id": "u_5a1e3c9d0b2f4e67"},
    },
}

ORDER_VIEW: dict[str, Any] = {
    "order_id": ORDER_ID, "status": "PROCESSING", "sub_status": None, "version": 3,
    "customer_id": "C-1001", "owner_id": "u_5a1e3c9d0b2f4e67",
    "lines": [
        {"sku": "SKU-1", "quantity": 2, "unit_price": "129.90", "discount_pct": "0", "amount": "259.80"},
        {"sku": "SKU-2", "quantity": 3, "unit_price": "10.00", "discount_pct": "10", "amount": "27.00"},
    ],
    "total": "286.80", "currency": "CNY", "shipping_address": ADDRESS, "payment_terms": "credit",
    "fulfillment": "auto", "notes": "call before delivery", "needs_attention": False,
    "attention_reason": None, "hold_reason": None, "waiting_for": "the carrier booking", "shipment": None,
    "invoice": None,
    "payments": [], "return": None, "cancel_reason": None, "compensation_pending": [],
    "created_at": "2025-03-10T08:00:00Z", "updated_at": "2025-03-10T08:00:01Z",
}

ORDER_PAGE = {"items": [ORDER_VIEW], "next_cursor": "WyIyMDI1LTAzLTEwVDA4OjAwOjAwKzAwOjAwIiwgIjNmOWMiXQ"}

HISTORY = [
    {"id": "6c1d…", "order_id": ORDER_ID, "at": "2025-03-10T08:00:00Z", "actor": "u_5a1e3c9d0b2f4e67",
     "role": "sales", "action": "create", "accepted": True, "from_status": None, "to_status": "PENDING",
     "changes": {}, "reason": None, "request_id": "0b8e…"},
    {"id": "9a2f…", "order_id": ORDER_ID, "at": "2025-03-10T09:12:00Z", "actor": "u_5a1e3c9d0b2f4e67",
     "role": "sales", "action": "edit", "accepted": True, "from_status": "PROCESSING",
     "to_status": "PROCESSING", "changes": {"notes": ["call before delivery", "leave at the door"]},
     "reason": "customer call", "request_id": "77aa…"},
    {"id": "e4b0…", "order_id": ORDER_ID, "at": "2025-03-10T09:30:00Z", "actor": "u_f00dfeed00000000",
     "role": "finance", "action": "cancel", "accepted": False, "from_status": "PROCESSING",
     "to_status": "PROCESSING", "changes": {}, "reason": "forbidden: role finance may not cancel order",
     "request_id": "c3d4…"},
]

ACCEPTED = {"order_id": ORDER_ID, "accepted": True}

EDIT: dict[str, Any] = {
    "notes": {"summary": "Change the notes",
              "value": {"notes": "leave at the door", "reason": "customer call"}},
    "lines": {"summary": "Change quantities, refusing a lost update",
              "value": {"expected_version": 3, "lines": [{"sku": "SKU-1", "quantity": 5}],
                        "reason": "customer ordered more"}},
    "address": {"summary": "Correct the shipping address",
                "value": {"shipping_address": {**ADDRESS, "line1": "2 Nanjing Rd"},
                          "reason": "typo in street"}},
}

STATUS: dict[str, Any] = {
    "ship": {"summary": "Warehouse ships a manual order",
             "value": {"status": "SHIPPED", "carrier": "SF Express", "tracking_number": "SF1234567890"}},
    "label": {"summary": "Set a sub-status label", "value": {"status": "PROCESSING", "sub_status": "PACKED"}},
    "hold": {"summary": "Put on hold (reason required)",
             "value": {"status": "ON_HOLD", "reason": "address being checked with the customer"}},
}

CANCEL = {"cancel": {"summary": "Cancel (void), irreversible", "value": {"reason": "customer changed mind"}}}
APPROVE = {"approve": {"summary": "Approve a held order", "value": {"reason": "long-standing customer"}}}
REJECT = {"reject": {"summary": "Reject a held order (cancels it)", "value": {"reason": "credit too risky"}}}
PAYMENT = {"payment": {"summary": "Record the payment of the full total",
                       "value": {"amount": "286.80", "reference": "PAY-20250310-0001"}}}
RECEIPT = {"receipt": {"summary": "The customer signed for the goods", "value": {"signed_by": "李雷"}}}

NEW_USER = {"sales": {"summary": "A sales person", "value": {"name": "韩梅梅", "role": "sales"}}}
CREATED_USER = {"id": "u_5a1e3c9d0b2f4e67", "name": "韩梅梅", "role": "sales",
                "token": "k3Jx…shown-once…"}
NEW_CUSTOMER = {"customer": {"summary": "A customer with credit",
                             "value": {"id": "C-1001", "name": "上海贸易有限公司",
                                       "credit_limit": "50000.00"}}}
CUSTOMER = {"id": "C-1001", "name": "上海贸易有限公司", "credit_limit": "50000.00", "credit_used": "286.80",
            "blocked": False}
NEW_PRODUCT = {"product": {"summary": "A product with initial stock",
                           "value": {"sku": "SKU-1", "name": "Widget", "unit_price": "129.90",
                                     "on_hand": 100}}}
SUB_STATUS = {"label": {"summary": "A new label for orders being processed",
                        "value": {"status": "PROCESSING", "label": "QUALITY_CHECK"}}}
SUB_STATUS_CATALOG = {"PROCESSING": ["IN_PRODUCTION", "PACKED", "QUALITY_CHECK"],
                      "SHIPPED": ["AWAITING_ACCEPTANCE"]}
PRODUCT = {"sku": "SKU-1", "name": "Widget", "unit_price": "129.90", "on_hand": 100, "reserved": 2,
           "available": 98, "active": True}
STOCK = {"restock": {"summary": "Goods received", "value": {"delta": 50, "reason": "delivery from supplier"}},
         "writeoff": {"summary": "Damaged goods", "value": {"delta": -2, "reason": "damaged in storage"}}}

SALES_REPORT = {"from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z", "group_by": "sku",
                "currency": "CNY",
                "rows": [{"key": "SKU-1", "orders": 12, "quantity": 30, "total": "3897.00"}],
                "orders": 12, "quantity": 30, "total": "3897.00"}
CANCELLATION_REPORT = {"from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z", "orders": 40,
                       "cancelled": 5, "rate": 0.125,
                       "by_reason": {"payment_timeout": 3, "rejected": 1, "customer changed mind": 1}}
CORRECTIONS_REPORT = {"from": None, "to": None, "edits": 7, "orders": 5,
                      "by_field": {"lines": 4, "shipping_address": 2, "notes": 1},
                      "by_user": {"u_5a1e3c9d0b2f4e67": {"edits": 7, "by_field": {"lines": 4,
                                                                                  "shipping_address": 2,
                                                                                  "notes": 1}}},
                      "refused": 2, "refused_by_reason": {"stale_version": 2}}
STUCK_REPORT = {"older_than_seconds": 3600, "as_of": "2025-03-10T12:00:00Z", "items": [{
    "order_id": ORDER_ID, "status": "ON_HOLD", "sub_status": None, "customer_id": "C-1001",
    "owner_id": "u_5a1e3c9d0b2f4e67", "total": "12900.00", "updated_at": "2025-03-10T08:00:00Z",
    "age_seconds": 14400, "age": "4h", "waiting_for": "a manager to approve or reject",
    "hold_reason": "above_approval_threshold", "needs_attention": False, "attention_reason": None,
    "must_act": "manager", "next_step": f"approve or reject (POST /orders/{ORDER_ID}/approve | /reject)"}]}

DESCRIPTION = """Durable order processing on Temporal: every order is one workflow.

* **Auth**: `Authorization: Bearer <token>`; missing/unknown token → 401, role not allowed → 403.
* **Errors** always have the shape `{"error": {"code", "message", "details"}}`; 422 details name each
  field and the rule it broke.
* **Money** is a decimal string (`"129.90"`), times are ISO 8601 UTC.
* **Lists** page with `limit` and the opaque `next_cursor` (pass it back as `cursor`).
* **POST /orders** takes an optional `Idempotency-Key`: the same key and body give the same order, the
  same key with another body is 409.
* **Commands** answer with the new order view; `?wait=false` delivers them as a signal and answers 202.
* Bodies are limited to 1 MiB (413).
"""
