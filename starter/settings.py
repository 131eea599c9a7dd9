"""Configuration from environment variables (the table in api.md), read once by pydantic-settings."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator
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
    metrics_host: str = Field(default="0.0.0.0", alias="ORDERS_METRICS_HOST")

    # --- one worker process (worker.py); see the README, "Running workers" -------------------------
    # Activities are synchronous (SQLAlchemy sessions) and run in a thread pool of this size; each
    # running activity holds one database connection, so size the database pool alike.
    max_concurrent_activities: int = Field(default=16, ge=1, alias="ORDERS_MAX_CONCURRENT_ACTIVITIES")
    activity_threads: int | None = Field(default=None, ge=1, alias="ORDERS_ACTIVITY_THREADS")
    max_concurrent_workflow_tasks: int = Field(
        default=100, ge=2, alias="ORDERS_MAX_CONCURRENT_WORKFLOW_TASKS")  # the SDK needs 2+ (sticky)
    # Sticky cache: open orders kept in memory; an evicted one is rebuilt by replaying its history.
    max_cached_workflows: int = Field(default=1000, ge=0, alias="ORDERS_MAX_CACHED_WORKFLOWS")
    # On SIGTERM the worker stops polling and gives running activities this long to finish.
    drain_timeout: Duration = Field(default=timedelta(seconds=30), alias="ORDERS_DRAIN_TIMEOUT")
    # Logs of every process (worker, API, CLI): JSON lines, or the console renderer (default on a tty).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", alias="ORDERS_LOG_LEVEL")
    log_format: Literal["json", "console"] | None = Field(default=None, alias="ORDERS_LOG_FORMAT")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _enough_activity_threads(self) -> Settings:
        if self.activity_threads is not None and self.activity_threads < self.max_concurrent_activities:
            # The worker would accept tasks that then wait for a thread while their timeout runs.
            raise ValueError(
                f"ORDERS_ACTIVITY_THREADS ({self.activity_threads}) must be at least "
                f"ORDERS_MAX_CONCURRENT_ACTIVITIES ({self.max_concurrent_activities})")
        return self

    @property
    def activity_pool_size(self) -> int:
        """Threads for synchronous activities (default: one per activity allowed to run at once)."""
        return self.activity_threads or self.max_concurrent_activities


@lru_cache
def get_settings() -> Settings:
    return Settings()
