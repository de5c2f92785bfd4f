"""Switching a SQLite file to WAL waits for a lock held by another connection."""

from __future__ import annotations

import sqlite3
import threading
import time
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


def test_wal_switch_waits_for_a_held_lock(tmp_path: Path) -> None:
    """A file locked by another connection is switched to WAL once the lock is released."""
    path = tmp_path / "db.sqlite3"
    sqlite3.connect(path).close()
    ready = threading.Event()
    holder = threading.Thread(target=_hold_exclusive_lock, args=(path, 0.4, ready))
    holder.start()
    ready.wait(5)
    ensure_sqlite_wal(str(path), wait_s=10)
    holder.join()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_wal_switch_gives_up_with_a_clear_error(tmp_path: Path) -> None:
    """A lock held longer than the wait is a StorageError naming the file, not a hang."""
    path = tmp_path / "db.sqlite3"
    sqlite3.connect(path).close()
    ready = threading.Event()
    holder = threading.Thread(target=_hold_exclusive_lock, args=(path, 1.5, ready))
    holder.start()
    ready.wait(5)
    try:
        with pytest.raises(StorageError, match=r"db\.sqlite3"):
            ensure_sqlite_wal(str(path), wait_s=0.3)
    finally:
        holder.join()
