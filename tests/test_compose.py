"""docker-compose.yml cannot be started here (no Docker engine), so it is checked by reading it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from starter.settings import Settings

ROOT = Path(__file__).parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
DOTENV = dict(line.split("=", 1) for line in (ROOT / ".env").read_text().splitlines()
              if line and not line.startswith("#"))
SETTING_NAMES = {field.alias for field in Settings.model_fields.values()}


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
            assert variable in SETTING_NAMES, f"{name}: {variable} is not a setting of the app"


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
