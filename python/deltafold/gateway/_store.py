"""The ``requests`` table: one row per response, written by one thread in batches.

SQLite calls block, so the event loop only puts a tuple on a queue; a writer thread takes
whatever has piled up (up to ``batch`` rows, waiting at most ``linger`` seconds for more once it
has one) and commits it in one transaction. WAL mode lets readers (``sqlite3 gateway.db``, the
tests) query while the gateway writes.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["COLUMNS", "RowWriter"]

_log = logging.getLogger("deltafold.gateway")

#: The columns of ``requests`` after ``id``, in insert order.
COLUMNS = (
    "started_at",
    "method",
    "path",
    "status_code",
    "format",
    "stream_status",
    "model",
    "finish_reason",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "bytes",
    "duration_ms",
    "summary_json",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status_code INTEGER,
    format TEXT,
    stream_status TEXT,
    model TEXT,
    finish_reason TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    total_tokens INTEGER,
    cached_input_tokens INTEGER,
    reasoning_tokens INTEGER,
    bytes INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    summary_json TEXT
)
"""

_INSERT = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"

_STOP = object()


class RowWriter:
    """Owns the database connection on its own thread; :meth:`put` is safe from any thread."""

    def __init__(self, path: str, *, batch: int = 256, linger: float = 0.05) -> None:
        self.path = path
        self._batch = batch
        self._linger = linger
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Opened here so a bad path fails at startup, not on the first request.
        connection = sqlite3.connect(path, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a crash may lose the last batches, never corrupt the table.
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(_SCHEMA)
        connection.commit()
        self._connection = connection
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="deltafold-rows", daemon=True)
        self._thread.start()

    def put(self, row: Sequence[Any]) -> None:
        """Queue one row (the values of :data:`COLUMNS`, in order)."""
        self._queue.put(row)

    def close(self, timeout: float = 10.0) -> None:
        """Write everything queued, then stop the thread and close the database."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        connection = self._connection
        pending: list[Any] = []
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                stopping = True
            else:
                pending.append(item)
                # Let a burst pile up into one transaction.
                while len(pending) < self._batch:
                    try:
                        item = self._queue.get(timeout=self._linger)
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True
                        break
                    pending.append(item)
            if pending:
                try:
                    with connection:
                        connection.executemany(_INSERT, pending)
                    self.written += len(pending)
                except sqlite3.Error:
                    _log.exception("deltafold.gateway: could not write %d rows", len(pending))
                pending = []
        connection.close()
