"""docker-compose.yml cannot be started here (no Docker engine), so it is checked by reading it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from starter.settings import Settings
from starter.temporal import ENVCONFIG_VARIABLES
from workflows.rules import parse_duration

ROOT = Path(__file__).parent.parent
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]
DOTENV = dict(line.split("=", 1) for line in (ROOT / ".env").read_text().splitlines()
              if line and not line.startswith("#"))
SETTING_NAMES = {field.alias for field in Settings.model_fields.values()}
# Read by the Temporal SDK's environment configuration (TLS, API key, profiles), not by Settings.
APP_VARIABLES = SETTING_NAMES | set(ENVCONFIG_VARIABLES)
INTERPOLATION = re.compile(r"(?<!\$)\$\{(\w+)\}")


def interpolated(value: str) -> str:
    """A compose value with ${VAR} replaced from .env, as `docker compose` does."""
    return INTERPOLATION.sub(lambda match: DOTENV[match[1]], value)


def test_the_deployment_has_every_part() -> None:
    expected = {"postgresql", "temporal-schema", "temporal", "temporal-ui", "migrate", "api", "worker"}
    assert expected <= set(SERVICES)


def test_temporal_schema_is_set_up_by_admin_tools_not_the_deprecated_auto_setup_image() -> None:
    images = [service.get("image", "") for service in SERVICES.values()]
    assert not any("auto-setup" in image for image in images)
    assert SERVICES["temporal-schema"]["image"].startswith("temporalio/admin-tools:")
    schema_dependency = SERVICES["temporal"]["depends_on"]["temporal-schema"]
    assert schema_dependency["condition"] == "service_completed_successfully"


def test_every_image_version_is_pinned_in_dotenv() -> None:
    for name, service in SERVICES.items():
        image = service.get("image", "")
        for variable in re.findall(r"\$\{(\w+)\}", image):
            assert DOTENV.get(variable), f"{name}: {variable} is not pinned in .env"
        if image and "${" not in image:
            assert name in {"migrate", "api", "worker"}, f"{name}: image {image} is not pinned in .env"


def test_app_services_are_configured_only_with_real_settings() -> None:
    for name in ("migrate", "api", "worker"):
        for variable in SERVICES[name]["environment"]:
            assert variable in APP_VARIABLES, f"{name}: {variable} is not a setting of the app"


def test_every_interpolated_variable_is_defined_in_dotenv() -> None:
    for variable in INTERPOLATION.findall(COMPOSE_TEXT):
        assert DOTENV.get(variable), f"${{{variable}}} is used in docker-compose.yml but not set in .env"


def test_app_environments_are_valid_settings() -> None:
    for name in ("migrate", "api", "worker"):
        env = {key: interpolated(str(value)) for key, value in SERVICES[name]["environment"].items()
               if key in SETTING_NAMES}
        Settings.model_validate(env)  # raises on a value the app would refuse at start


def test_docker_waits_for_a_worker_to_drain_before_killing_it() -> None:
    worker = SERVICES["worker"]
    drain = parse_duration(interpolated(worker["environment"]["ORDERS_DRAIN_TIMEOUT"]))
    grace = parse_duration(interpolated(worker["stop_grace_period"]))
    assert grace > drain, f"stop_grace_period {grace} must exceed ORDERS_DRAIN_TIMEOUT {drain}"
    assert worker["command"][:2] == ["python", "worker.py"]  # exec form: SIGTERM reaches python


def test_worker_health_is_its_metrics_endpoint() -> None:
    worker = SERVICES["worker"]
    port = worker["environment"]["ORDERS_METRICS_PORT"]
    assert f"localhost:{port}/metrics" in " ".join(worker["healthcheck"]["test"])
    assert worker["environment"]["ORDERS_LOG_FORMAT"] == "json"


def test_api_port_and_ui_port_agree_with_the_settings_and_the_readme() -> None:
    api_env = SERVICES["api"]["environment"]
    assert f"8000:{api_env['ORDERS_API_PORT']}" in SERVICES["api"]["ports"]
    assert api_env["ORDERS_API_HOST"] == "0.0.0.0"
    assert "8233:8080" in SERVICES["temporal-ui"]["ports"]


def test_the_app_reaches_postgres_and_temporal_by_service_name() -> None:
    env = SERVICES["worker"]["environment"]
    assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgresql:5432/" in env["DATABASE_URL"]
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_workers_can_be_scaled() -> None:
    worker = SERVICES["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["environment"]["ORDERS_METRICS_PORT"] in {str(p) for p in worker["expose"]}


def test_services_others_wait_for_have_healthchecks() -> None:
    for name in ("postgresql", "temporal", "api"):
        assert "healthcheck" in SERVICES[name], name
