"""The run store's SQLite schema as ordered migrations keyed on ``PRAGMA user_version``.

A store at version N gets migrations N+1 .. len(MIGRATIONS) in order, in one write transaction (BEGIN IMMEDIATE: two
processes opening one old store migrate it once), and ends at ``SCHEMA_VERSION``. A new change to the schema is a
new function appended to MIGRATIONS; a released one is never edited.
"""

from __future__ import annotations

import sqlite3
from typing import Callable

# Columns of ``runs`` added after the first release. Stores from before versioning (user_version 0) may have any
# subset of them; migration 1 adds those missing. A reader of an older store that cannot migrate (read-only) reads
# them as NULL.
ADDED_COLUMNS = {"started_by": "TEXT",  # who started it: 'browser session 1a2b3c', 'CLI pid 123 on host'
                 "notes": "TEXT",  # JSON list of {"at": unix time, "text": str}
                 "progress": "TEXT",  # JSON: the engine's latest on_progress inside the current epoch
                 "stop_requested": "REAL",  # unix time a stop was asked for (by any process), else NULL
                 "pause_requested": "REAL",  # unix time a pause was asked for, NULL while the run may train
                 "step_until": "INTEGER",  # with a pause: train up to this epoch, then wait again
                 "continued_from": "TEXT"}  # the run this one continues (its epochs were copied in)

_FIRST_RELEASE = ("""
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,            -- running | completed | early_stopped | stopped | failed | interrupted
    created_at REAL NOT NULL,
    finished_at REAL,
    owner TEXT,                      -- 'pid:create-time' of the process that runs it (multilabel.jobs)
    config TEXT NOT NULL,            -- JSON of TrainConfig
    data TEXT NOT NULL,              -- JSON description of the data
    info TEXT,                       -- JSON: device, split sizes, names, probe labels
    best TEXT,                       -- JSON: best validation metrics
    last_live TEXT,                  -- JSON: the last epoch's probe probabilities and histograms
    epochs_done INTEGER NOT NULL DEFAULT 0,
    checkpoint TEXT,
    error TEXT
)""", """
CREATE TABLE IF NOT EXISTS epochs (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
)""")


def _runs_and_epochs(db: sqlite3.Connection) -> None:
    """1: the runs and epochs tables with every column added before versioning (a store from then gains those it
    lacks)."""
    for statement in _FIRST_RELEASE:  # not executescript: it would commit the migration's transaction
        db.execute(statement)
    have = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    for column, kind in ADDED_COLUMNS.items():
        if column not in have:
            db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")


def _queue(db: sqlite3.Connection) -> None:
    """2: the queue of configured runs that start one after another (session.SessionRegistry.enqueue). state:
    adding | waiting | starting (claimed by a registry) | started (run_id set) | failed (error set) | removed."""
    db.execute("""
        CREATE TABLE IF NOT EXISTS queue (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at REAL NOT NULL,
            state TEXT NOT NULL,
            claimed_at REAL,
            name TEXT,
            config TEXT NOT NULL,            -- JSON of TrainConfig
            data TEXT NOT NULL,              -- JSON description of the data (the arrays are in queue/<id>.npz)
            started_by TEXT,
            run_id TEXT,
            error TEXT
        )""")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_runs_and_epochs, _queue]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection) -> int:
    """Bring the store ``db`` (a connection in Python's default transaction mode) to SCHEMA_VERSION; returns the
    version it had. Always writes (the version), so a store that cannot be written fails here, at open. A store
    newer than this code is left alone (its extra columns are not read)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        found = db.execute("PRAGMA user_version").fetchone()[0]
        for step in MIGRATIONS[found:]:
            step(db)
        db.execute(f"PRAGMA user_version={max(found, SCHEMA_VERSION)}")
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return found
