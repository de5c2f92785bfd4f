"""Switching a SQLite file to WAL waits for a lock held by another connection."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cjgrade.errors import StorageError
from cjgrade.store.database import ensure_sqlite_wal


def _hold_exclusive_lock(path: Path, seconds: float, ready: threading.Event) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    ready.set()
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


@contextmanager
def _locked_elsewhere(tmp_path: Path, seconds: float) -> Iterator[Path]:
    """A new SQLite file that another connection holds exclusively for ``seconds``; the
    holder is joined on exit."""
    path = tmp_path / "db.sqlite3"
    sqlite3.connect(path).close()
    ready = threading.Event()
    holder = threading.Thread(target=_hold_exclusive_lock, args=(path, seconds, ready))
    holder.start()
    ready.wait(5)
    try:
        yield path
    finally:
        holder.join()


def test_wal_switch_waits_for_a_held_lock(tmp_path: Path) -> None:
    """A file locked by another connection is switched to WAL once the lock is released."""
    with _locked_elsewhere(tmp_path, 0.4) as path:
        ensure_sqlite_wal(str(path), wait_s=10)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_wal_switch_gives_up_with_a_clear_error(tmp_path: Path) -> None:
    """A lock held longer than the wait is a StorageError naming the file, not a hang."""
    with (
        _locked_elsewhere(tmp_path, 1.5) as path,
        pytest.raises(StorageError, match=r"db\.sqlite3"),
    ):
        ensure_sqlite_wal(str(path), wait_s=0.3)
