"""Worker settings from the environment, and where the client connects (envconfig profiles)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import TLSConfig

from starter.settings import Settings
from starter.temporal import connect_config
from worker import build_worker

PROFILE = """
[profile.prod]
address = "prod.tmprl.example:7233"
namespace = "orders-prod.abc12"
api_key = "secret-key"
"""


@pytest.fixture
def no_temporal_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)


def test_without_a_profile_the_client_goes_to_the_defaults(no_temporal_env: None) -> None:
    config = connect_config(Settings(), env={})

    assert config == {"target_host": "localhost:7233", "namespace": "default"}


def test_a_config_file_profile_gives_address_namespace_and_api_key_with_tls(
    no_temporal_env: None, tmp_path: Path,
) -> None:
    (tmp_path / "temporal.toml").write_text(PROFILE)
    env = {"TEMPORAL_CONFIG_FILE": str(tmp_path / "temporal.toml"), "TEMPORAL_PROFILE": "prod"}

    config = connect_config(Settings(), env=env)

    assert config["target_host"] == "prod.tmprl.example:7233"
    assert config["namespace"] == "orders-prod.abc12"
    assert config["api_key"] == "secret-key"
    assert config["tls"] is True


def test_an_address_or_namespace_we_set_wins_over_the_profile(
    no_temporal_env: None, tmp_path: Path,
) -> None:
    (tmp_path / "temporal.toml").write_text(PROFILE)
    env = {"TEMPORAL_CONFIG_FILE": str(tmp_path / "temporal.toml"), "TEMPORAL_PROFILE": "prod"}

    config = connect_config(Settings(temporal_address="127.0.0.1:7233"), env=env)

    assert config["target_host"] == "127.0.0.1:7233"
    assert config["namespace"] == "orders-prod.abc12"
    assert config["api_key"] == "secret-key"


def test_mutual_tls_comes_from_temporal_tls_variables(no_temporal_env: None, tmp_path: Path) -> None:
    (tmp_path / "client.key").write_text("KEY")
    env = {"TEMPORAL_ADDRESS": "temporal.internal:7233", "TEMPORAL_TLS_CLIENT_CERT_DATA": "CERT",
           "TEMPORAL_TLS_CLIENT_KEY_PATH": str(tmp_path / "client.key"),
           "TEMPORAL_TLS_SERVER_NAME": "temporal.internal"}

    config = connect_config(Settings(), env=env)

    assert config["target_host"] == "temporal.internal:7233"
    tls = config["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key, tls.domain) == (b"CERT", b"KEY", "temporal.internal")


def test_an_unknown_profile_is_a_clear_error(no_temporal_env: None, tmp_path: Path) -> None:
    (tmp_path / "temporal.toml").write_text(PROFILE)
    env = {"TEMPORAL_CONFIG_FILE": str(tmp_path / "temporal.toml"), "TEMPORAL_PROFILE": "staging"}

    with pytest.raises(RuntimeError, match="staging"):
        connect_config(Settings(), env=env)


def test_worker_tuning_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"ORDERS_MAX_CONCURRENT_ACTIVITIES": "8", "ORDERS_ACTIVITY_THREADS": "12",
                        "ORDERS_MAX_CONCURRENT_WORKFLOW_TASKS": "50", "ORDERS_MAX_CACHED_WORKFLOWS": "200",
                        "ORDERS_DRAIN_TIMEOUT": "2m", "ORDERS_LOG_LEVEL": "debug",
                        "ORDERS_LOG_FORMAT": "console"}.items():
        monkeypatch.setenv(name, value)

    settings = Settings()

    assert (settings.max_concurrent_activities, settings.activity_pool_size) == (8, 12)
    assert (settings.max_concurrent_workflow_tasks, settings.max_cached_workflows) == (50, 200)
    assert settings.drain_timeout == timedelta(minutes=2)
    assert (settings.log_level, settings.log_format) == ("DEBUG", "console")


def test_fewer_activity_threads_than_concurrent_activities_is_refused() -> None:
    with pytest.raises(ValidationError, match="ORDERS_ACTIVITY_THREADS"):
        Settings(max_concurrent_activities=16, activity_threads=4)


async def test_the_worker_is_built_with_the_settings(
    client: Client, sqlite_sessions: sessionmaker[Session],
) -> None:
    settings = Settings(max_concurrent_activities=4, max_concurrent_workflow_tasks=7,
                        max_cached_workflows=9, drain_timeout=timedelta(seconds=42))

    config = build_worker(client, sqlite_sessions, "unused", settings=settings).config()

    assert config["max_concurrent_activities"] == 4
    assert getattr(config["activity_executor"], "_max_workers", None) == 4
    assert config["max_concurrent_workflow_tasks"] == 7
    assert config["max_cached_workflows"] == 9
    assert config["graceful_shutdown_timeout"] == timedelta(seconds=42)
    assert config["interceptors"]
