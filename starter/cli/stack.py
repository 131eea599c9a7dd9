"""Commands that run the pieces: `dev`, `api`, `worker`, `setup`, `db upgrade`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from starter.cli.base import fail, settings

app = typer.Typer()
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command()
def dev(
    temporal_port: Annotated[int, typer.Option(help="gRPC port of the Temporal dev server")] = 7233,
    ui_port: Annotated[int | None, typer.Option(help="Temporal UI port [default: temporal port + 1000]")]
    = None,
    api_port: Annotated[int | None, typer.Option(help="HTTP API port [default: ORDERS_API_PORT]")] = None,
    demo: Annotated[bool, typer.Option("--demo/--no-demo", help="seed demo data on first run")] = True,
    var_dir: Annotated[Path, typer.Option(help="where the dev server and SQLite keep their files")]
    = Path("var"),
) -> None:
    """Local stack in the foreground: Temporal dev server + UI, migrations, worker, API, demo data."""
    from starter.dev import DevError, DevOptions, run_dev
    from starter.logs import configure_logging

    configure_logging("WARNING")
    options = DevOptions(temporal_port=temporal_port, ui_port=ui_port, api_port=api_port,
                         demo=demo, var_dir=var_dir)
    try:
        asyncio.run(run_dev(settings(), options))
    except DevError as error:
        fail(str(error))
    except KeyboardInterrupt:  # Ctrl-C before the stack installed its own handler: nothing started
        fail("interrupted", 130)


@db_app.command("upgrade")
def db_upgrade(
    database_url: Annotated[str | None, typer.Option(help="[default: DATABASE_URL]")] = None,
) -> None:
    """Apply the migrations to DATABASE_URL and print the revision reached."""
    from db.migrate import current, upgrade

    url = database_url or settings().database_url
    try:
        upgrade(url)
        revision = current(url)
    except Exception as error:
        fail(f"could not migrate the database: {error}", hint="check DATABASE_URL (or --database-url) "
             "and that the database server answers")
    typer.echo(f"database at revision {revision}")


@app.command()
def setup() -> None:
    """Register the order search attributes on the Temporal namespace (idempotent)."""
    from starter.temporal import connect, register_search_attributes

    config = settings()

    async def register() -> list[str]:
        client = await connect(config)
        return await register_search_attributes(client, config.temporal_namespace)

    try:
        added = asyncio.run(register())
    except Exception as error:
        fail(f"could not register search attributes on {config.temporal_address} "
             f"(namespace {config.temporal_namespace}): {error}",
             hint="start Temporal (`orders dev`) or point TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE at it")
    if added:
        typer.echo(f"added search attributes: {', '.join(added)}")
    else:
        typer.echo("search attributes already registered")


@app.command()
def api() -> None:
    """The HTTP API only (uvicorn on ORDERS_API_HOST:ORDERS_API_PORT)."""
    import uvicorn

    from starter.api import create_app
    from starter.logs import configure_logging

    configure_logging()
    config = settings()
    uvicorn.run(create_app(config), host=config.api_host, port=config.api_port, log_config=None)


@app.command()
def worker() -> None:
    """One worker process, same as `python worker.py`."""
    import worker as worker_module

    try:
        worker_module.main()
    except Exception as error:  # most often: Temporal not reachable at start
        config = settings()
        fail(f"the worker stopped ({config.temporal_address}, namespace {config.temporal_namespace}): "
             f"{error}", hint="start Temporal (`orders dev`) or point TEMPORAL_ADDRESS at it")
