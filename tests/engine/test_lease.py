"""Batch leases: a dead process of this host loses its lease at once; a live holder keeps it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid

import pytest

from cjgrade.engine.ledger import BatchLedger, lease_owner
from cjgrade.errors import ConfigError
from cjgrade.store import Store

from .conftest import make_spec


def _dead_pid() -> int:
    """The pid of a process of this host that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def _batch(store: Store) -> tuple[BatchLedger, str]:
    ledger = BatchLedger(store)
    uid = str(uuid.uuid4())
    await ledger.create_batch(make_spec(n_students=4, budget=8), uid, [])
    return ledger, uid


async def test_dead_local_holder_loses_its_lease_at_once(store: Store) -> None:
    ledger, uid = await _batch(store)
    dead = f"{socket.gethostname()}:{_dead_pid()}"
    await ledger.acquire(uid, dead)
    await ledger.acquire(uid, lease_owner())  # no wait for the 120 s lease to expire
    assert (await ledger.load_batch(uid)).status == "running"


async def test_live_holder_keeps_its_lease(store: Store) -> None:
    ledger, uid = await _batch(store)
    parent = f"{socket.gethostname()}:{os.getppid()}"  # alive while this test runs
    await ledger.acquire(uid, parent)
    with pytest.raises(ConfigError, match="is being run by"):
        await ledger.acquire(uid, lease_owner())


async def test_holder_on_another_host_keeps_its_lease(store: Store) -> None:
    ledger, uid = await _batch(store)
    await ledger.acquire(uid, f"not-{socket.gethostname()}:{_dead_pid()}")
    with pytest.raises(ConfigError, match="is being run by"):
        await ledger.acquire(uid, lease_owner())
