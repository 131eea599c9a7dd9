"""`python -m bench [--quick]`: one command, every figure, a markdown table at the end.

Starts its own dev server and SQLite orders database in a temp dir, worker processes as needed,
and stops them all on exit or Ctrl-C. Figures are printed, never asserted: they depend on the
machine and on whatever else runs on it (the load average is printed with them).
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.latency import update_latency
from bench.memory import worker_memory
from bench.procs import stop_all, watch
from bench.report import header, table
from bench.run import FULL, QUICK, Config, Run
from bench.seed import create_database
from bench.server import start_server
from bench.throughput import full_vs_bare, worker_scaling

PHASES = ("1", "2", "3", "4")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Phases: 1 OrderWorkflow vs bare workflow · 2 update latency idle/under load · "
               "3 worker memory per open order · 4 one vs two worker processes. "
               "The full run takes about 10 min on 2 idle cores (more on a busy machine); --quick 1–3 min. "
               "Phase 3 stops at 2000 open orders by default: --phases 3 --memory 1000,2000,4000 "
               "adds the 4000 level (another 5–10 min).")
    p.add_argument("--quick", action="store_true", help="small numbers, a smoke run")
    p.add_argument("--orders", type=int, help="whole orders per measured round (phase 1)")
    p.add_argument("--scale-orders", type=int, help="whole orders per measured round (phase 4)")
    p.add_argument("--concurrency", type=int, help="orders in flight")
    p.add_argument("--samples", type=int, help="updates timed, idle and under load (phase 2)")
    p.add_argument("--memory", help="open-order levels for phase 3, e.g. 1000,2000,4000")
    p.add_argument("--phases", default=",".join(PHASES), help="which phases to run, e.g. 1,2")
    p.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for `temporal server start-dev` (repeatable), "
                        "e.g. --server-arg=--sqlite-pragma --server-arg=synchronous=off")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (databases, logs)")
    return p.parse_args(argv)


def config_of(args: argparse.Namespace) -> Config:
    config = QUICK if args.quick else FULL
    overrides = {"orders": args.orders, "scale_orders": args.scale_orders,
                 "concurrency": args.concurrency, "samples": args.samples}
    if args.memory:
        overrides["memory_levels"] = tuple(int(n) for n in args.memory.split(","))
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})


async def benchmark(args: argparse.Namespace, workdir: Path, command: str) -> None:
    config = config_of(args)
    phases = set(args.phases.split(","))
    url = f"sqlite:///{workdir / 'orders.db'}"
    began = time.monotonic()
    catalog = create_database(url)
    server, address, client = await start_server(workdir, args.server_arg)
    run = Run(config, workdir, url, address, client, server, catalog)
    run.say(f"dev server pid {server.pid} at {address}, orders database {url}; "
            f"ready in {time.monotonic() - began:.1f}s")
    print(f"  {shlex.join(server.argv)}", flush=True)
    head = header(command, config)
    profiles = None
    if "1" in phases:
        profiles = await full_vs_bare(run)
    if "2" in phases:
        await update_latency(run)
    if "4" in phases:  # before 3, whose thousands of open orders stay in the server's store
        await worker_scaling(run)
    if "3" in phases:
        await worker_memory(run)
    run.say("done")
    print()
    print(table(run, head, profiles))


INTERRUPTED: list[str] = []


async def main_async(args: argparse.Namespace, workdir: Path, command: str) -> None:
    task = asyncio.current_task()
    assert task is not None

    def interrupt(sig: signal.Signals) -> None:
        INTERRUPTED.append(sig.name)
        task.cancel()

    def quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if INTERRUPTED and isinstance(context.get("exception"), asyncio.CancelledError):
            return  # RPCs abandoned by the interrupt, reported as never retrieved
        loop.default_exception_handler(context)

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(quiet)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt, sig)
    async with asyncio.TaskGroup() as group:
        watcher = group.create_task(watch())
        try:
            await benchmark(args, workdir, command)
        finally:
            watcher.cancel()


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    workdir = Path(tempfile.mkdtemp(prefix="orders-bench-"))
    ok = False
    try:
        asyncio.run(main_async(args, workdir, command))
        ok = True
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted; stopping the server and workers", file=sys.stderr)
    except BaseExceptionGroup as group:
        if INTERRUPTED:  # the Temporal client turns a cancelled call into its own error type
            print(f"\n{INTERRUPTED[0]}: stopping the server and workers", file=sys.stderr)
        for error in [] if INTERRUPTED else group.exceptions:
            cause = error.__cause__ or getattr(error, "cause", None)
            print(f"benchmark failed: {error!r}" + (f", cause: {cause!r}" if cause else ""),
                  file=sys.stderr)
    finally:
        stop_all()
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"logs and databases kept in {workdir}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
