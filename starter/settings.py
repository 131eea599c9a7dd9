"""Configuration from environment variables (the table in api.md), read once by pydantic-settings."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from workflows.rules import parse_duration

VAR_DIR = Path("var")

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    database_url: str = Field(default=f"sqlite:///{VAR_DIR / 'orders.db'}", alias="DATABASE_URL")
    temporal_address: str = Field(default="localhost:7233", alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    temporal_task_queue: str = Field(default="orders", alias="TEMPORAL_TASK_QUEUE")
    api_host: str = Field(default="127.0.0.1", alias="ORDERS_API_HOST")
    api_port: int = Field(default=8000, alias="ORDERS_API_PORT")
    admin_token: str | None = Field(default=None, alias="ORDERS_ADMIN_TOKEN")
    payment_window: Duration = Field(default=timedelta(hours=24), alias="ORDERS_PAYMENT_WINDOW")
    receipt_auto_confirm: Duration = Field(
        default=timedelta(days=7), alias="ORDERS_RECEIPT_AUTO_CONFIRM"
    )
    hold_timeout: Duration = Field(default=timedelta(days=3), alias="ORDERS_HOLD_TIMEOUT")
    approval_threshold: Decimal = Field(default=Decimal("10000"), alias="ORDERS_APPROVAL_THRESHOLD")
    fulfillment: Literal["auto", "manual"] = Field(default="auto", alias="ORDERS_FULFILLMENT")
    metrics_port: int | None = Field(default=None, alias="ORDERS_METRICS_PORT")


@lru_cache
def get_settings() -> Settings:
    return Settings()
