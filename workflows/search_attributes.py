"""The order's search attributes: what operators filter on in the Temporal UI and `temporal` CLI."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
ORDER_OWNER = SearchAttributeKey.for_keyword("OrderOwner")
ORDER_TOTAL = SearchAttributeKey.for_float("OrderTotal")
NEEDS_ATTENTION = SearchAttributeKey.for_bool("NeedsAttention")

ALL = (ORDER_STATUS, CUSTOMER_ID, ORDER_OWNER, ORDER_TOTAL, NEEDS_ATTENTION)
