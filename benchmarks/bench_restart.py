"""A restarted orchestrator: how soon after ``cjgrade serve`` starts again its batch resumes.

Real processes throughout: the Tansu broker (started here, one per run), a scratch
PostgreSQL database, ``--workers`` ``cjgrade worker`` processes with the simulated judge
``sim/bt`` at ``--latency``, and ``cjgrade serve`` (API and orchestrator). A batch of
``--essays`` x ``--per-essay`` comparisons is submitted after a warm-up batch (every worker has
joined and answered); ``--kill-at`` seconds in, serve gets ``--signal`` (KILL or TERM);
``--down-for`` seconds after it exited a new serve starts. Per run, one JSON row:

* ``ready_s``: the new serve's ``/readyz`` reports the orchestrator running;
* ``first_outcome_s`` / ``resumed_s``: the first / the ``--resume-count``-th outcome stored
  after the restart, counted from the new process's start (the issue's "resumes within 10 s");
* ``wall_s``, ``redispatches``, ``repeat_calls`` of the whole batch, and the outcomes the
  client's watcher did not get (``client_missing``).

    python benchmarks/bench_restart.py                      # SIGKILL, 3 runs
    python benchmarks/bench_restart.py --signal TERM --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_distributed import (  # a sibling script, run from this folder
    CJGRADE,
    bench_spec,
    drop_database,
    free_port,
    run_batch,
    scratch_database,
    start_broker,
    start_workers,
    stop_processes,
    write_options,
)

from cjgrade.bus.kafka import KafkaTransport
from cjgrade.distributed.submit import AssessmentWatcher, submit_assessment
from cjgrade.store import list_comparisons, open_store


class Serve:
    """One ``cjgrade serve`` process, its stderr in ``log``."""

    def __init__(self, database_url: str, bootstrap: str, home: Path, log: Path) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CJGRADE_CONFIG")}
        env["CJGRADE_HOME"] = str(home)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [CJGRADE, "serve", "--port", str(self.port), "--database-url", database_url,
             "--bootstrap", bootstrap, "--log-level", "info"],
            env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab"))

    async def ready(self, timeout_s: float = 60) -> float:
        """Seconds from the process's start to ``/readyz`` with the orchestrator running."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"serve exited with {self.proc.returncode}")
                try:
                    r = await http.get(f"http://127.0.0.1:{self.port}/readyz")
                    if r.status_code == 200 and r.json()["checks"].get("orchestrator") == "ok":
                        return time.monotonic() - self.started
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError(f"serve was not ready within {timeout_s} s")

    def stop(self, sig: int, timeout_s: float = 40) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def stored(store: Any, batch_uuid: str) -> list[Any]:
    async with store.transaction() as session:
        return list(await list_comparisons(session, batch_uuid))


async def count_done(store: Any, batch_uuid: str) -> int:
    return sum(1 for c in await stored(store, batch_uuid) if c.status != "pending")


async def one_run(args: argparse.Namespace, workdir: Path, run: int) -> dict:
    broker, bootstrap = start_broker()  # a broker per run: no consumer group carried over
    database_url, db_name = await scratch_database()
    store = await open_store(database_url)
    options = workdir / f"judges{run}.json"
    write_options(options, args.essays, args.latency, np.random.default_rng(args.seed + run))
    workers = start_workers(args.workers, bootstrap, options, args.concurrency, workdir,
                            log_level="warning")
    log = workdir / f"serve{run}.log"
    first = Serve(database_url, bootstrap, workdir, log)
    second: Serve | None = None
    client = await KafkaTransport(bootstrap).start()
    try:
        await first.ready()
        # Warm-up, as in a cluster whose workers already serve: every worker has joined the
        # group and answered (the measured batch pays no group formation).
        capacity = args.workers * args.concurrency
        _, warm, _ = await run_batch(client, store, bench_spec(
            2 * capacity, 4 * capacity, args.concurrency, None, f"warm-up {run}"), args.timeout)
        if warm.status != "completed":
            raise RuntimeError(f"the warm-up batch ended {warm.status}")
        spec = bench_spec(args.essays, args.essays * args.per_essay, args.concurrency,
                          None, f"restart run {run}")
        batch_uuid = str(uuid.uuid4())
        async with AssessmentWatcher(client, batch_uuid, comparisons=True, store=store,
                                     poll_s=2.0) as watcher:
            began = time.monotonic()
            await submit_assessment(client, store, spec, batch_uuid=batch_uuid)
            await asyncio.sleep(max(0.0, args.kill_at - (time.monotonic() - began)))
            sig = getattr(signal, f"SIG{args.signal}")
            await asyncio.to_thread(first.stop, sig)
            await asyncio.sleep(args.down_for)
            before = await count_done(store, batch_uuid)
            second = Serve(database_url, bootstrap, workdir, log)
            ready_s = await second.ready()
            first_s = resumed_s = None
            while resumed_s is None and time.monotonic() - second.started < 120:
                n = await count_done(store, batch_uuid)
                now = time.monotonic() - second.started
                if first_s is None and n > before:
                    first_s = now
                if n >= before + args.resume_count or n == len(await stored(store,
                                                                                batch_uuid)):
                    resumed_s = now
                await asyncio.sleep(0.05)
            out = await watcher.wait(timeout_s=args.timeout)
            wall = time.monotonic() - began
        rows = await stored(store, batch_uuid)
        row = {"run": run, "signal": args.signal, "kill_at_s": args.kill_at,
               "down_for_s": args.down_for, "status": out.status,
               "done_at_restart": before, "ready_s": round(ready_s, 2),
               "first_outcome_s": round(first_s, 2) if first_s is not None else None,
               "resumed_s": round(resumed_s, 2) if resumed_s is not None else None,
               "resume_count": args.resume_count, "wall_s": round(wall, 1),
               "comparisons": len(rows),
               "redispatches": sum(c.redispatches for c in rows),
               "repeat_calls": sum(c.repeat_calls for c in rows),
               "client_missing": len({c.id for c in rows} - set(out.comparisons))}
        print(json.dumps(row), flush=True)
        return row
    finally:
        await client.close()
        for serve in (first, second):
            if serve is not None:
                serve.stop(signal.SIGTERM)
        stop_processes(workers)
        await store.close()
        await drop_database(db_name)
        broker.kill()
        broker.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--signal", choices=["KILL", "TERM"], default="KILL")
    parser.add_argument("--kill-at", type=float, default=8.0,
                        help="seconds into the batch when serve is stopped")
    parser.add_argument("--down-for", type=float, default=5.5,
                        help="seconds between serve's exit and the new serve's start")
    parser.add_argument("--resume-count", type=int, default=10,
                        help="outcomes stored after the restart that count as resumed")
    parser.add_argument("--essays", type=int, default=200)
    parser.add_argument("--per-essay", type=int, default=8,
                        help="the budget is essays x per-essay (1,600 for 200 essays)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--workdir", default=None, help="keep the logs here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(args.workdir or scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        for run in range(args.runs):
            await one_run(args, workdir, run)


if __name__ == "__main__":
    asyncio.run(main())
