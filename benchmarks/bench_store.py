"""Ad-hoc timing (not a test): request and claim one round of 1,000 comparisons.

    .venv/bin/python benchmarks/bench_store.py [--pg postgresql://postgres@127.0.0.1/postgres]

Times, per database, what the engine does when it starts a round (``BatchLedger.add_round`` with
``claim=True``): ``request_comparisons`` of 1,000 new pairs plus ``claim_comparisons`` of them, in
one transaction; and, separately, claiming 1,000 already-requested comparisons. Median of 5 runs,
each on a fresh batch. Prints a Markdown table row per database.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from cjgrade.store import (
    NewComparison,
    NewEssay,
    Store,
    claim_comparisons,
    create_batch,
    open_store,
    request_comparisons,
)

N = 1000
REPEATS = 5


async def _one_run(store: Store) -> tuple[float, float]:
    async with store.transaction() as s:
        batch = await create_batch(s, [NewEssay(f"e{i}", text=f"Essay {i}") for i in range(50)])
    pairs = [
        NewComparison(k, f"e{a}", f"e{b}", f"{k:064x}")
        for k, (a, b) in enumerate(itertools.islice(itertools.combinations(range(50), 2), N))
    ]
    start = time.perf_counter()
    async with store.transaction() as s:
        await request_comparisons(s, batch.id, 1, pairs)
        claimed = await claim_comparisons(s, batch.id, limit=N, redispatch_after_s=0.0)
    both = time.perf_counter() - start
    assert len(claimed) == N
    # A resumed batch re-claims its (already dispatched) pending comparisons.
    start = time.perf_counter()
    async with store.transaction() as s:
        again = await claim_comparisons(s, batch.id, limit=N, redispatch_after_s=0.0)
    reclaim = time.perf_counter() - start
    assert len(again) == N
    return both, reclaim


async def _measure(url: str) -> tuple[float, float]:
    store = await open_store(url)
    try:
        runs = [await _one_run(store) for _ in range(REPEATS)]
    finally:
        await store.close()
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = await _measure(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
    admin = make_url(args.pg)
    name = f"cjgrade_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(host=admin.host, port=admin.port or 5432, user=admin.username,
                                 password=admin.password, database=admin.database)
    await conn.execute(f"CREATE DATABASE {name}")
    try:
        pg = await _measure(admin.set(database=name).render_as_string(hide_password=False))
    finally:
        await conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await conn.close()
    print("| | request + claim 1,000 (one transaction) | re-claim 1,000 dispatched |")
    for label, (both, reclaim) in (("SQLite", sqlite), ("PostgreSQL", pg)):
        print(f"| {label} | {both * 1000:.0f} ms | {reclaim * 1000:.0f} ms |")


if __name__ == "__main__":
    asyncio.run(main())
