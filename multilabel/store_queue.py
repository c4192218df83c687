"""The queue of configured runs that start one after another (session.SessionRegistry.enqueue), as part of the run
store: rows in the store's ``queue`` table, each run's arrays in ``queue/<id>.npz`` beside it."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .errors import MultilabelError
from .jobs import owner_alive
from .paths import atomic_path, os_error_message

if TYPE_CHECKING:
    import numpy as np


class QueueMixin:
    """RunStore's queue methods; they use its ``home``, ``_owner`` and one-transaction ``_tx``."""

    home: Path
    _owner: str

    if TYPE_CHECKING:
        def _tx(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def queue_path(self, item_id: int) -> Path:
        return self.home / "queue" / f"{item_id}.npz"

    def enqueue(self, config: dict[str, Any], data: dict[str, Any], arrays: dict[str, np.ndarray],
                name: str | None = None, started_by: str | None = None) -> int:
        """Add a configured run to the end of the queue; ``arrays`` (X, Y, names) are kept in queue/<id>.npz."""
        with self._tx() as db:
            item_id = db.execute("INSERT INTO queue (created_at, state, name, config, data, started_by) "
                                 "VALUES (?, 'adding', ?, ?, ?, ?)",
                                 (time.time(), name, json.dumps(config), json.dumps(data), started_by)).lastrowid
        import numpy as np
        path = self.queue_path(item_id)
        try:
            try:
                path.parent.mkdir(exist_ok=True)
            except OSError as exc:
                raise MultilabelError(os_error_message(exc, f"writing {str(path)!r}")) from None
            with atomic_path(path) as tmp:
                np.savez(tmp, **arrays)
        except MultilabelError:
            with self._tx() as db:
                db.execute("DELETE FROM queue WHERE id=?", (item_id,))
            raise
        with self._tx() as db:
            db.execute("UPDATE queue SET state='waiting' WHERE id=?", (item_id,))
        return int(item_id)

    def queue(self, states: tuple[str, ...] = ("waiting", "starting")) -> list[dict[str, Any]]:
        """Queue items in the given states, in queue order (oldest first)."""
        with self._tx() as db:
            rows = db.execute(f"SELECT * FROM queue WHERE state IN ({','.join('?' * len(states))}) ORDER BY id",
                              states).fetchall()
        out = []
        for row in rows:
            item = dict(row)
            item["config"], item["data"] = json.loads(item["config"]), json.loads(item["data"])
            out.append(item)
        return out

    def unqueue(self, item_id: int) -> bool:
        """Remove a waiting item; False when it has already started (or is gone)."""
        with self._tx() as db:
            removed = db.execute("UPDATE queue SET state='removed' WHERE id=? AND state='waiting'",
                                 (item_id,)).rowcount == 1
        if removed:
            self.queue_path(item_id).unlink(missing_ok=True)
        return removed

    def claim_next_queued(self, stale_s: float = 120.0) -> Optional[dict[str, Any]]:
        """The first waiting item, claimed ('starting') for this caller, if no run is live and none is starting.

        One write transaction (BEGIN IMMEDIATE), so two registries (two servers on one store) never start two
        queued runs side by side. A claim older than ``stale_s`` (its registry died) is given up.
        """
        with self._tx() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE queue SET state='waiting', claimed_at=NULL WHERE state='starting' AND claimed_at<?",
                       (time.time() - stale_s,))
            if db.execute("SELECT 1 FROM queue WHERE state='starting'").fetchone() is not None:
                return None
            running = db.execute("SELECT owner FROM runs WHERE status='running'").fetchall()
            if any(r[0] == self._owner or owner_alive(r[0]) for r in running):
                return None
            row = db.execute("SELECT * FROM queue WHERE state='waiting' ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            db.execute("UPDATE queue SET state='starting', claimed_at=? WHERE id=?", (time.time(), row["id"]))
        item = dict(row)
        item["config"], item["data"] = json.loads(item["config"]), json.loads(item["data"])
        return item

    def queued_started(self, item_id: int, run_id: Optional[str] = None, error: Optional[str] = None) -> None:
        """A claimed item became run ``run_id`` (or could not start: ``error``); its arrays are deleted."""
        with self._tx() as db:
            db.execute("UPDATE queue SET state=?, run_id=?, error=? WHERE id=?",
                       ("started" if run_id else "failed", run_id, error, item_id))
        self.queue_path(item_id).unlink(missing_ok=True)

    def dismiss_queued(self, item_id: int) -> bool:
        """A started (or failed) item's line is not wanted any more: it leaves the lists of ``queue(("started",
        "failed"))``; its run is untouched. False where the item is not started or failed."""
        with self._tx() as db:
            return db.execute("UPDATE queue SET state='dismissed' WHERE id=? AND state IN ('started', 'failed')",
                              (item_id,)).rowcount == 1

