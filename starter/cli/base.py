"""What every operator command shares: exit codes, errors on stderr, the token, running a piece of work
over the service layer with a progress spinner, and printing for people (tables) or scripts (--json).

Commands never decide anything themselves: they parse, call `starter.service.Services` (or
`starter.webhooks.Webhooks`) and print. A `ServiceError` becomes the exit code of its HTTP status.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from starter.settings import Settings

if TYPE_CHECKING:  # the service layer (Temporal, SQLAlchemy) loads only for commands that use it
    from starter.service import ServiceError, Services
    from workflows.models import Actor

T = TypeVar("T")

EXIT_OK, EXIT_OTHER, EXIT_BAD_INPUT, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_DENIED = 0, 1, 2, 3, 4, 5

EXIT_CODES_HELP = """Exit codes (errors on stderr, results on stdout):

* 0 ok
* 1 anything else: Temporal or the database unreachable, a timeout
* 2 bad input: HTTP 422, a wrong option or value
* 3 not found: HTTP 404
* 4 conflict: not allowed in the order's current state, a stale --expected-version, an id or
  Idempotency-Key already used (HTTP 409)
* 5 no token, an unknown token, or a role that may not do it (HTTP 401/403)

`--json` prints what the HTTP API answers. The token comes from --token, else ORDERS_TOKEN, else
ORDERS_ADMIN_TOKEN."""

TokenOption = Annotated[str | None, typer.Option(
    "--token", help="bearer token [default: ORDERS_TOKEN, else ORDERS_ADMIN_TOKEN]", show_default=False)]
# Whether the running command got --json: set by the option's callback while the arguments are parsed,
# so every helper (errors, spinner) knows without being passed the flag.
_json_output: ContextVar[bool] = ContextVar("json_output", default=False)


def _remember_json(value: bool) -> bool:
    _json_output.set(bool(value))
    return value


JsonOption = Annotated[bool, typer.Option(
    "--json", help="print JSON (the HTTP API's answer) for scripts; errors too, on stderr",
    callback=_remember_json)]


def settings() -> Settings:
    """Read fresh from the environment each time (not the cached get_settings: tests vary env)."""
    return Settings()


def console() -> Console:
    """On a terminal, its width; piped into a file or grep, wide enough that nothing is cut."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 240)


def fail(message: str, code: int = EXIT_OTHER, hint: str | None = None, *, error_code: str | None = None,
         details: Any = None) -> NoReturn:
    """The error on stderr, then what to do next: `error: …` and `hint: …` lines for people; with
    --json the HTTP API's error shape `{"error": {"code", "message", "details", "hint"}}` instead."""
    if json_requested():
        error = {"code": error_code or _ERROR_CODES.get(code, "error"), "message": message,
                 "details": details, **({"hint": hint} if hint else {})}
        typer.echo(json.dumps({"error": error}, ensure_ascii=False, default=str), err=True)
        raise typer.Exit(code)
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)
    raise typer.Exit(code)


_ERROR_CODES = {EXIT_BAD_INPUT: "invalid_input", EXIT_NOT_FOUND: "not_found", EXIT_CONFLICT: "not_allowed",
                EXIT_DENIED: "unauthorized"}


def json_requested() -> bool:
    """Whether the running command was given --json."""
    return _json_output.get()


def exit_code(error: ServiceError) -> int:
    """The exit code of a refusal, by its HTTP status."""
    if error.status in (400, 413, 422):
        return EXIT_BAD_INPUT
    if error.status == 404:
        return EXIT_NOT_FOUND
    if error.status == 409:
        return EXIT_CONFLICT
    if error.status in (401, 403):
        return EXIT_DENIED
    return EXIT_OTHER


def hint_for(error: ServiceError, config: Settings, not_found: str | None = None,
             conflict: str | None = None) -> str | None:
    """What to do next after a refusal; `not_found` and `conflict` are the command's own advice for a
    404 and a 409."""
    if error.status == 401:
        return ("pass a valid token with --token or ORDERS_TOKEN (`orders user create` makes one; "
                "ORDERS_ADMIN_TOKEN works too)")
    if error.status == 403:
        return "ask someone whose role may do this (README: Roles and permissions)"
    if error.status == 404:
        return not_found
    if error.status == 409 and conflict:
        return conflict
    if error.code == "stale_version":
        return "the order changed meanwhile: look at it again and pass its current --expected-version"
    if error.code == "idempotency_key_reused":
        return "this key belongs to another order body: use a new --idempotency-key"
    if error.code == "already_exists":
        return "pick another id, or look at the existing one with `show`"
    if error.code == "below_reserved":
        return "only available units can be removed: see them with `orders product show SKU`"
    if error.code == "not_allowed":
        return "see what the order accepts now: `orders order show ID` and `orders order history ID`"
    if error.status in (400, 422):
        return "fix the fields named above and run the command again (--help lists the options)"
    if error.status == 503:
        return (f"is Temporal running at {config.temporal_address} (namespace {config.temporal_namespace})? "
                "`orders dev` starts one; TEMPORAL_ADDRESS points elsewhere")
    if error.status == 504:
        return (f"is a worker polling task queue {config.temporal_task_queue!r}? `orders worker` starts "
                "one; the command may still be applied, see `orders order history ID`")
    return None


def fail_service(error: ServiceError, config: Settings, *, flags: Mapping[str, str] | None = None,
                 not_found: str | None = None, conflict: str | None = None) -> NoReturn:
    """Print a refusal: its sentence, each field it names (with the option that sets it), a hint."""
    details = error.details if isinstance(error.details, list) else []
    fields = [d for d in details if isinstance(d, dict) and d.get("field")]
    hint = hint_for(error, config, not_found, conflict)
    if json_requested():
        fail(error.message, exit_code(error), hint, error_code=error.code, details=error.details)
    lines = [error.message] if not fields else ["invalid input:"]
    for detail in fields:
        field = str(detail["field"])
        option = _option_for(field, flags or {})
        lines.append(f"  {field}{f' ({option})' if option else ''}: {detail.get('message')}")
    fail("\n".join(lines), exit_code(error), hint)


def _option_for(field: str, flags: Mapping[str, str]) -> str | None:
    """The longest `flags` key that is `field` or a prefix of it: "lines[0].sku" → "--line"."""
    matches = [key for key in flags if field == key or field.startswith((f"{key}.", f"{key}["))]
    return flags[max(matches, key=len)] if matches else None


def resolve_token(token: str | None, config: Settings) -> str:
    found = token or os.environ.get("ORDERS_TOKEN") or config.admin_token
    if not found:
        fail("no token", EXIT_DENIED,
             "set ORDERS_TOKEN or pass --token (a user's token from `orders user create`; "
             "ORDERS_ADMIN_TOKEN works too)")
    return found


def run(
    token: str | None,
    work: Callable[[Services, Actor], Awaitable[T]],
    *,
    progress: str | None = None,
    flags: Mapping[str, str] | None = None,
    not_found: str | None = None,
    conflict: str | None = None,
) -> T:
    """Authenticate the token and run `work` over the service layer; refusals become exit codes.

    `progress` is shown as a spinner on stderr while the work runs (only on a terminal, never with
    --json); `flags` maps body fields to the options that set them, for error messages; `not_found`
    and `conflict` say what to do after a 404 or 409. Warnings the service layer logs meanwhile (say,
    the webhook dispatcher could not be woken) are shown as `warning: …` lines on stderr.
    """
    config = settings()
    secret = resolve_token(token, config)

    from starter.service import ServiceError, Services

    async def session() -> T:
        services = await Services.open(config, connect_temporal=False)
        try:
            actor = await services.authenticate(secret)
            return await work(services, actor)
        finally:
            await services.close()

    warnings = _Warnings()
    logging.getLogger().addHandler(warnings)
    try:
        with spinner(progress, quiet=json_requested()):
            return asyncio.run(session())
    except ServiceError as error:
        fail_service(error, config, flags=flags, not_found=not_found, conflict=conflict)
    except (typer.Exit, typer.Abort):
        raise
    except Exception as error:  # e.g. a database that was never migrated
        fail(f"{type(error).__name__}: {error}", EXIT_OTHER,
             f"check DATABASE_URL ({_safe_url(config.database_url)}) and run `orders db upgrade`"
             if "sql" in type(error).__module__.lower() else None)
    finally:
        logging.getLogger().removeHandler(warnings)


class _Warnings(logging.Handler):
    """Warnings logged by this command's thread (its event loop) as `warning: …` lines on stderr."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread:
            typer.echo(f"warning: {record.getMessage()}", err=True)


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        credentials, _, host = rest.rpartition("@")
        return f"{scheme}://{credentials.split(':')[0]}:***@{host}"
    return url


@contextmanager
def spinner(message: str | None, *, quiet: bool = False, err: Console | None = None) -> Iterator[None]:
    """A Rich status spinner on stderr for work that takes more than a moment; nothing when stderr is
    not a terminal (pipes, CI, tests) or the caller asked for quiet output (--json)."""
    err = err or Console(stderr=True)
    if message is None or quiet or not err.is_terminal:
        yield
        return
    with err.status(message):
        yield


def print_json(data: Any) -> None:
    """Models as the HTTP API serialises them (mode json, by alias); lists of models too."""
    from pydantic import BaseModel

    def plain(item: Any) -> Any:
        return item.model_dump(mode="json", by_alias=True) if isinstance(item, BaseModel) else item

    data = [plain(d) for d in data] if isinstance(data, list) else plain(data)
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def time(iso: str | None) -> str:
    """An ISO 8601 UTC time as `YYYY-MM-DD HH:MM:SS`."""
    return iso.replace("T", " ")[:19] if iso else ""
