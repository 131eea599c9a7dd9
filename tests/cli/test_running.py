"""The `orders` command line: migrations, and clear errors with the documented exit codes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from db.migrate import current, upgrade
from starter.cli import (
    EXIT_BAD_INPUT,
    EXIT_CONFLICT,
    EXIT_DENIED,
    EXIT_NOT_FOUND,
    EXIT_OTHER,
    app,
    exit_code,
)
from starter.service import ServiceError

ADMIN_TOKEN = "cli-admin-token-0123456789"
NO_TEMPORAL = "127.0.0.1:1"

runner = CliRunner()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    upgrade(url)
    return url


def orders(*args: str, **env: str | None) -> tuple[int, str]:
    base: dict[str, str | None] = {"ORDERS_TOKEN": None, "ORDERS_ADMIN_TOKEN": ADMIN_TOKEN,
                                   "TEMPORAL_ADDRESS": NO_TEMPORAL}
    result = runner.invoke(app, list(args), env=base | env)
    return result.exit_code, result.output


def test_db_upgrade_migrates_a_new_sqlite_file_and_prints_the_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'orders.db'}"
    code, output = orders("db", "upgrade", DATABASE_URL=url)
    assert code == 0, output
    revision = current(url)
    assert revision is not None
    assert f"database at revision {revision}" in output
    code, output = orders("db", "upgrade", DATABASE_URL=url)  # a second run changes nothing
    assert code == 0 and revision in output


def test_db_upgrade_of_an_unreachable_database_fails_with_a_message() -> None:
    code, output = orders("db", "upgrade", "--database-url", "postgresql+psycopg://nobody@127.0.0.1:1/x")
    assert code == EXIT_OTHER
    assert "could not migrate the database" in output


def test_order_commands_without_a_token_are_refused(db_url: str) -> None:
    code, output = orders("order", "list", DATABASE_URL=db_url, ORDERS_ADMIN_TOKEN=None)
    assert code == EXIT_DENIED
    assert "no token" in output


def test_an_unknown_token_is_refused(db_url: str) -> None:
    code, output = orders("order", "list", "--token", "not-a-token", DATABASE_URL=db_url)
    assert code == EXIT_DENIED
    assert "token is not known" in output


def test_an_unknown_status_is_bad_input(db_url: str) -> None:
    code, output = orders("order", "list", "--status", "LOST", DATABASE_URL=db_url)
    assert code == EXIT_BAD_INPUT
    assert "--status" in output


def test_a_limit_out_of_range_is_bad_input_naming_the_field(db_url: str) -> None:
    code, output = orders("order", "list", "--limit", "0", DATABASE_URL=db_url)
    assert code == EXIT_BAD_INPUT
    assert "limit" in output


def test_list_as_json_on_an_empty_database(db_url: str) -> None:
    code, output = orders("order", "list", "--json", DATABASE_URL=db_url, ORDERS_TOKEN=ADMIN_TOKEN)
    assert code == 0, output
    assert json.loads(output) == {"items": [], "next_cursor": None}


def test_showing_an_order_while_temporal_is_down_explains_it(db_url: str) -> None:
    code, output = orders("order", "show", "abc", DATABASE_URL=db_url)
    assert code == EXIT_OTHER
    assert f"Temporal at {NO_TEMPORAL} is not reachable" in output


@pytest.mark.parametrize("command", ["show", "history"])
def test_an_unknown_order_is_not_found(command: str, db_url: str, temporal_env: WorkflowEnvironment) -> None:
    address = temporal_env.client.service_client.config.target_host
    code, output = orders("order", command, "no-such-order", DATABASE_URL=db_url, TEMPORAL_ADDRESS=address)
    assert code == EXIT_NOT_FOUND, output
    assert "'no-such-order' does not exist" in output


@pytest.mark.parametrize(("status", "code"), [(422, EXIT_BAD_INPUT), (404, EXIT_NOT_FOUND),
                                              (409, EXIT_CONFLICT), (403, EXIT_DENIED),
                                              (401, EXIT_DENIED), (503, EXIT_OTHER), (504, EXIT_OTHER)])
def test_service_errors_map_to_exit_codes(status: int, code: int) -> None:
    assert exit_code(ServiceError(status, "x", "x")) == code


def test_python_dash_m_runs_the_same_command_line() -> None:
    result = subprocess.run([sys.executable, "-m", "starter.cli", "--help"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "dev" in result.stdout and "order" in result.stdout


def test_setup_on_a_namespace_that_has_the_attributes_says_so(temporal_env: WorkflowEnvironment) -> None:
    address = temporal_env.client.service_client.config.target_host
    code, output = orders("setup", TEMPORAL_ADDRESS=address)
    assert code == 0, output
    assert "already registered" in output


def test_setup_without_temporal_explains_where_it_looked() -> None:
    code, output = orders("setup")
    assert code == EXIT_OTHER
    assert f"could not register search attributes on {NO_TEMPORAL}" in output


def test_dev_refuses_an_api_port_in_use_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "starter.cli", "dev", "--api-port", str(port), "--var-dir",
             str(tmp_path / "var")], capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path)
    assert result.returncode == EXIT_OTHER
    assert f"cannot use 127.0.0.1:{port} for the HTTP API" in result.stderr
    assert not (tmp_path / "var").exists()


def test_dev_refuses_an_api_port_that_is_the_temporal_ui_port(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "starter.cli", "dev", "--temporal-port", "17900", "--api-port", "18900",
         "--var-dir", str(tmp_path / "var")], capture_output=True, text=True, timeout=60, check=False,
        cwd=tmp_path)
    assert result.returncode == EXIT_OTHER
    assert "the ports must differ: Temporal 17900, Temporal UI 18900" in result.stderr
