"""The run store: every run's parameters, per-epoch metrics and checkpoint, in SQLite beside checkpoint files.

Layout of a home folder: ``runs.db`` (SQLite, WAL) and ``checkpoints/<run_id>.pt``. Each epoch is committed as it
ends, so a crash loses nothing already logged; a run left 'running' by a process that is gone reads as
'interrupted'. The schema and its migrations are in store_schema, the queue of runs waiting to start in
store_queue. What is left runs past 500 lines on purpose: one class whose methods are each one transaction on the
runs table, kept together so that table's SQL reads in one place.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import urllib.parse
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional

from .errors import MultilabelError
from .jobs import owner_alive, owner_pid, process_token
from .paths import atomic_path, check_writable_folder, os_error_message
from .store_queue import QueueMixin
from .store_schema import ADDED_COLUMNS, migrate

if TYPE_CHECKING:
    import numpy as np

HOME_ENV = "MULTILABEL_HOME"
DEFAULT_HOME = "runs"
# Live-view fields that are large and only matter while a run is live; the store keeps them for the last epoch only.
LIVE_ONLY_FIELDS = ("probe_probs", "prob_hist")

FINISHED = ("completed", "early_stopped", "stopped")
# Runs whose checkpoint a person may predict with: finished ones, and interrupted ones (a killed worker or server)
# whose checkpoint of the best weights so far was saved while they trained.
WITH_MODEL = (*FINISHED, "interrupted")

MAX_NAME = 80  # characters in a run's display name
# Each run gets a small file reserved (written in full) when it is created: when the disk fills, the store cannot
# record why the run ended, but this file can still be overwritten in place (its blocks are already allocated), so
# the message reaches the person. Removed when the run finishes normally.
ERROR_FILE_BYTES = 4096
MAX_NOTE = 2000  # characters in one note


def check_name(name: str) -> str:
    """A run name as stored: stripped; MultilabelError (one line) if empty or longer than MAX_NAME characters."""
    name = " ".join(str(name).split())  # one line: newlines and runs of spaces become single spaces
    if not name:
        raise MultilabelError("a run name cannot be empty; type at least one character")
    if len(name) > MAX_NAME:
        raise MultilabelError(f"a run name can have at most {MAX_NAME} characters (this one has {len(name)}); "
                              "shorten it")
    return name


def check_note(text: str) -> str:
    """A note as stored: stripped; MultilabelError (one line) if empty or longer than MAX_NOTE characters."""
    text = str(text).strip()
    if not text:
        raise MultilabelError("a note cannot be empty; type some text (or delete the note)")
    if len(text) > MAX_NOTE:
        raise MultilabelError(f"a note can have at most {MAX_NOTE} characters (this one has {len(text)}); shorten it")
    return text


def logged_best(records: Iterable[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The best metrics of epoch records (engine.train's): those of the measured epoch of lowest validation loss,
    as a finished run's ``best`` names them (no "thresholds": they were measured at 0.5), or None."""
    top = None
    for r in records:
        loss = r.get("val_loss")
        if r.get("val_micro_f1") is None or not isinstance(loss, (int, float)) or loss != loss:
            continue
        if top is None or loss < top["val_loss"]:
            top = r
    if top is None:
        return None
    return {"epoch": top["epoch"], "val_loss": top["val_loss"], "micro_f1": top["val_micro_f1"],
            "macro_f1": top.get("val_macro_f1"), "hamming_loss": top.get("val_hamming_loss"),
            "subset_accuracy": top.get("val_subset_accuracy"), "from_epochs_logged": True}


def default_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME)


class RunStore(QueueMixin):
    """Thread-safe access to one home folder's runs. Plain dicts in and out."""

    def __init__(self, home: str | os.PathLike | None = None, readonly: bool = False) -> None:
        self.home = Path(home) if home is not None else default_home()
        if readonly:
            self._open_readonly()
            return
        try:
            (self.home / "checkpoints").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MultilabelError(self._not_writable(exc.strerror or str(exc))) from None
        problem = check_writable_folder(self.home) or check_writable_folder(self.home / "checkpoints")
        if problem is not None:
            raise MultilabelError(self._not_writable(problem))
        self.path = self.home / "runs.db"
        self._lock = threading.Lock()
        self._owner = process_token(os.getpid())
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            migrate(self._db)  # always writes: a read-only runs.db (or folder) fails here, not at the first epoch
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc) or "read-only" in str(exc) or "unable to open" in str(exc):
                raise MultilabelError(self._not_writable(str(exc))) from None
            raise MultilabelError(f"{str(self.path)!r} is not a usable run store ({exc}); point --store or "
                                  "MULTILABEL_HOME at another folder") from None
        except sqlite3.DatabaseError as exc:
            raise MultilabelError(f"{str(self.path)!r} is not a usable run store ({exc}); point --store or "
                                  "MULTILABEL_HOME at another folder") from None
        self._db.row_factory = sqlite3.Row

    def _open_readonly(self) -> None:
        """Open an existing runs.db for reading only (listing a store on a read-only disk or folder): no folder is
        made, nothing is written; any write raises MultilabelError from ``_tx``."""
        self.path = self.home / "runs.db"
        self._lock = threading.Lock()
        self._owner = process_token(os.getpid())
        if not self.path.is_file():
            raise MultilabelError(f"no run store at {str(self.path)!r}; check --store or MULTILABEL_HOME")
        uri = "file:" + urllib.parse.quote(str(self.path.resolve())) + "?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
            self._db.execute("SELECT 1 FROM runs LIMIT 1").fetchall()
        except sqlite3.OperationalError:
            # A WAL database in a folder where SQLite cannot create its shared-memory file: read it as a snapshot.
            try:
                self._db = sqlite3.connect(uri + "&immutable=1", uri=True, check_same_thread=False, timeout=30)
                self._db.execute("SELECT 1 FROM runs LIMIT 1").fetchall()
            except sqlite3.DatabaseError as exc:
                raise MultilabelError(f"{str(self.path)!r} cannot be read ({exc}); check the file") from None
        except sqlite3.DatabaseError as exc:
            raise MultilabelError(f"{str(self.path)!r} is not a usable run store ({exc}); point --store or "
                                  "MULTILABEL_HOME at another folder") from None
        have = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        self._missing_columns = [c for c in ADDED_COLUMNS if c not in have]  # an older store: read as NULL
        self._db.row_factory = sqlite3.Row

    def _not_writable(self, reason: str) -> str:
        return (f"the run store folder {str(self.home)!r} is not writable ({reason}); set {HOME_ENV} (or --store) "
                "to a folder you can write to")

    @staticmethod
    def exists(home: str | os.PathLike | None = None) -> bool:
        """Whether ``home`` (default: $MULTILABEL_HOME or ./runs) already holds a run store; creates nothing."""
        return ((Path(home) if home is not None else default_home()) / "runs.db").is_file()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. A full disk or a store made read-only meanwhile is a MultilabelError (one line)."""
        try:
            with self._lock, self._db:
                yield self._db
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "full" in text or "readonly" in text or "read-only" in text or "disk I/O" in text:
                raise MultilabelError(os_error_message(exc, f"writing the run store {str(self.path)!r}")) from None
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def checkpoint_path(self, run_id: str) -> Path:
        return self.home / "checkpoints" / f"{run_id}.pt"

    def validation_path(self, run_id: str) -> Path:
        return self.home / "checkpoints" / f"{run_id}.val.npz"

    def save_validation(self, run_id: str, probs: np.ndarray, targets: np.ndarray) -> Path:
        """Keep a finished run's validation probabilities (n_val, labels) float32 and 0/1 targets (written atomically)."""
        import numpy as np
        path = self.validation_path(run_id)
        with atomic_path(path) as tmp:  # a full disk: one line, no half-written file
            np.savez_compressed(tmp, probs=np.asarray(probs, dtype=np.float32),
                                targets=np.asarray(targets, dtype=np.int8))
        return path

    def load_validation(self, run_id: str) -> Optional[tuple[np.ndarray, np.ndarray]]:
        """(probs float32, targets int8) saved by ``save_validation``, or None for a run without them."""
        import numpy as np
        try:
            with np.load(self.validation_path(run_id)) as saved:
                return saved["probs"], saved["targets"]
        except (OSError, KeyError, ValueError):
            return None

    # -- writes (one transaction each) --------------------------------------------------------------------------
    def create_run(self, config: dict[str, Any], data: dict[str, Any], name: str | None = None,
                   started_by: str | None = None) -> str:
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self._reserve_error_file(run_id)  # first: on a full disk no run is created at all
        with self._tx() as db:
            db.execute("INSERT INTO runs (id, name, status, created_at, owner, config, data, started_by) "
                       "VALUES (?,?,?,?,?,?,?,?)",
                       (run_id, name or run_id, "running", time.time(), self._owner, json.dumps(config),
                        json.dumps(data), started_by))
        return run_id

    def error_path(self, run_id: str) -> Path:
        return self.home / "checkpoints" / f"{run_id}.error"

    def _reserve_error_file(self, run_id: str) -> None:
        path = self.error_path(run_id)
        try:
            with open(path, "wb") as fh:
                fh.write(b" " * ERROR_FILE_BYTES)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise MultilabelError(os_error_message(exc, f"creating a run in {str(self.home)!r}")) from None

    def side_error(self, run_id: str) -> Optional[str]:
        """The message ``fail`` wrote to the run's reserved file because the store could not take it, or None."""
        try:
            text = self.error_path(run_id).read_bytes().decode("utf-8", "replace").strip()
        except OSError:
            return None
        return text or None

    def _write_side_error(self, run_id: str, message: str) -> bool:
        """Overwrite the reserved file in place (no new disk blocks needed); False where that fails too."""
        data = message.encode("utf-8")[:ERROR_FILE_BYTES].decode("utf-8", "ignore").encode("utf-8")
        try:
            with open(self.error_path(run_id), "r+b") as fh:
                fh.write(data.ljust(ERROR_FILE_BYTES, b" "))
                fh.flush()
                os.fsync(fh.fileno())
            return True
        except OSError:
            return False

    def add_note(self, run_id: str, text: str) -> None:
        """Append a visible note to a run (who stopped it, say), stamped with the time."""
        with self._tx() as db:
            row = db.execute("SELECT notes FROM runs WHERE id=?", (run_id,)).fetchone()
            notes = json.loads(row[0]) if row and row[0] else []
            notes.append({"at": time.time(), "text": text})
            db.execute("UPDATE runs SET notes=? WHERE id=?", (json.dumps(notes), run_id))

    def rename(self, run_id: str, name: str) -> str:
        """Give a run a new display name (surrounding spaces dropped); returns the name kept.

        Raises MultilabelError for an empty name, one longer than MAX_NAME characters, or an unknown run.
        """
        name = check_name(name)
        with self._tx() as db:
            changed = db.execute("UPDATE runs SET name=? WHERE id=?", (name, run_id)).rowcount
        if not changed:
            raise MultilabelError(f"no run {run_id!r} in {str(self.path)!r}; it may have been deleted")
        return name

    def edit_note(self, run_id: str, index: int, text: str) -> None:
        """Replace the text of note number ``index`` (0 = oldest) of a run; its time stays. Empty text is refused."""
        text = check_note(text)
        with self._tx() as db:
            notes = self._notes_for_change(db, run_id, index)
            notes[index] = {**notes[index], "text": text}
            db.execute("UPDATE runs SET notes=? WHERE id=?", (json.dumps(notes), run_id))

    def delete_note(self, run_id: str, index: int) -> None:
        """Remove note number ``index`` (0 = oldest) of a run."""
        with self._tx() as db:
            notes = self._notes_for_change(db, run_id, index)
            del notes[index]
            db.execute("UPDATE runs SET notes=? WHERE id=?", (json.dumps(notes), run_id))

    @staticmethod
    def _notes_for_change(db: sqlite3.Connection, run_id: str, index: int) -> list[dict[str, Any]]:
        row = db.execute("SELECT notes FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise MultilabelError(f"no run {run_id!r}; it may have been deleted")
        notes = json.loads(row[0]) if row[0] else []
        if not 0 <= index < len(notes):
            raise MultilabelError(f"run {run_id!r} has no note {index + 1} (it has {len(notes)}); reload the page")
        return notes

    @property
    def owner(self) -> str:
        """This process's owner token ('pid:start-time')."""
        return self._owner

    def claim(self, run_id: str) -> None:
        """Make this process the run's owner: the run reads 'interrupted' once this process is gone."""
        with self._tx() as db:
            db.execute("UPDATE runs SET owner=? WHERE id=?", (self._owner, run_id))

    def set_progress(self, run_id: str, progress: dict[str, Any]) -> None:
        """Where the current epoch is ({"epoch", "step", "steps"}); cleared when the epoch is logged."""
        with self._tx() as db:
            db.execute("UPDATE runs SET progress=? WHERE id=?", (json.dumps(progress), run_id))

    def set_checkpoint(self, run_id: str, checkpoint: str | os.PathLike) -> None:
        """Record a checkpoint written while the run is live (the best weights so far)."""
        with self._tx() as db:
            db.execute("UPDATE runs SET checkpoint=? WHERE id=?", (os.fspath(checkpoint), run_id))

    def request_stop(self, run_id: str) -> None:
        """Ask the run to stop (its owner polls this); the first request's time is kept."""
        with self._tx() as db:
            db.execute("UPDATE runs SET stop_requested=COALESCE(stop_requested, ?) WHERE id=?",
                       (time.time(), run_id))

    def stop_requested(self, run_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT stop_requested FROM runs WHERE id=?", (run_id,)).fetchone()
        return row is not None and row[0] is not None

    # -- control: pause, one epoch, continue, the queue ---------------------------------------------
    def request_pause(self, run_id: str, paused: bool = True) -> None:
        """Ask the run to wait between epochs (``paused``) or to go on; going on also drops a pending step."""
        with self._tx() as db:
            if paused:
                db.execute("UPDATE runs SET pause_requested=COALESCE(pause_requested, ?), step_until=NULL "
                           "WHERE id=?", (time.time(), run_id))
            else:
                db.execute("UPDATE runs SET pause_requested=NULL, step_until=NULL WHERE id=?", (run_id,))

    def request_step(self, run_id: str, until: Optional[int] = None) -> None:
        """One more epoch, then wait: pauses the run after the epoch following those done (or already asked for).

        ``until``: pause after that epoch instead (never earlier than a step already asked for). A page passes the
        epoch after the one logged (RunView.next_step), so the same click delivered twice asks for one epoch.
        """
        with self._tx() as db:
            if until is None:
                db.execute("UPDATE runs SET pause_requested=COALESCE(pause_requested, ?), "
                           "step_until=MAX(COALESCE(step_until, 0), epochs_done) + 1 WHERE id=?",
                           (time.time(), run_id))
            else:
                db.execute("UPDATE runs SET pause_requested=COALESCE(pause_requested, ?), "
                           "step_until=MAX(COALESCE(step_until, 0), ?) WHERE id=?", (time.time(), int(until), run_id))

    def pause_state(self, run_id: str) -> tuple[bool, Optional[int]]:
        """(pause asked for, the epoch a step may train up to or None), as the worker's pause flag polls it."""
        with self._lock:
            row = self._db.execute("SELECT pause_requested, step_until FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            return False, None
        return row[0] is not None, row[1]

    def training_run_ids(self) -> list[str]:
        """Live runs that are not waiting in a pause (they share the cores; a paused run uses none)."""
        live = set(self.live_run_ids())
        with self._lock:
            rows = self._db.execute("SELECT id FROM runs WHERE status='running' AND pause_requested IS NOT NULL "
                                    "AND (step_until IS NULL OR step_until <= epochs_done)").fetchall()
        waiting = {r[0] for r in rows}
        return [run_id for run_id in live if run_id not in waiting]

    def link_continuation(self, run_id: str, parent_id: str) -> None:
        """Make ``run_id`` the continuation of ``parent_id``: the parent's epochs (and live view) are copied in."""
        with self._tx() as db:
            db.execute("INSERT INTO epochs (run_id, epoch, record) SELECT ?, epoch, record FROM epochs "
                       "WHERE run_id=?", (run_id, parent_id))
            db.execute("UPDATE runs SET continued_from=?, epochs_done=(SELECT epochs_done FROM runs WHERE id=?), "
                       "last_live=(SELECT last_live FROM runs WHERE id=?) WHERE id=?",
                       (parent_id, parent_id, parent_id, run_id))

    def update_info(self, run_id: str, changes: dict[str, Any]) -> None:
        """Change some keys of a run's info (the worker's current torch threads, say)."""
        with self._tx() as db:
            row = db.execute("SELECT info FROM runs WHERE id=?", (run_id,)).fetchone()
            info = json.loads(row[0]) if row and row[0] else {}
            db.execute("UPDATE runs SET info=? WHERE id=?", (json.dumps({**info, **changes}), run_id))

    def set_info(self, run_id: str, info: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET info=? WHERE id=?", (json.dumps(info), run_id))

    def log_epoch(self, run_id: str, record: dict[str, Any]) -> None:
        live = {k: record[k] for k in LIVE_ONLY_FIELDS if k in record}
        kept = {k: v for k, v in record.items() if k not in LIVE_ONLY_FIELDS}
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO epochs (run_id, epoch, record) VALUES (?,?,?)",
                       (run_id, record["epoch"], json.dumps(kept)))
            if live:  # epochs without metrics (see engine.resolve_eval_every) keep the previous live view
                db.execute("UPDATE runs SET epochs_done=?, last_live=?, progress=NULL WHERE id=?",
                           (record["epoch"], json.dumps(live), run_id))
            else:
                db.execute("UPDATE runs SET epochs_done=?, progress=NULL WHERE id=?", (record["epoch"], run_id))

    def finish(self, run_id: str, status: str, best: dict[str, Any] | None = None,
               checkpoint: str | os.PathLike | None = None) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET status=?, finished_at=?, best=?, checkpoint=?, progress=NULL WHERE id=?",
                       (status, time.time(), json.dumps(best) if best is not None else None,
                        os.fspath(checkpoint) if checkpoint else None, run_id))
        self.error_path(run_id).unlink(missing_ok=True)

    def set_best(self, run_id: str, best: dict[str, Any]) -> None:
        """Replace a finished run's best validation metrics (after its thresholds changed, say); nothing else."""
        with self._tx() as db:
            db.execute("UPDATE runs SET best=? WHERE id=?", (json.dumps(best), run_id))

    def fail(self, run_id: str, message: str, status: str = "failed") -> None:
        """Record how the run ended. When the store cannot take it (a full disk), the message goes to the run's
        reserved error file, where readers find it (``get_run``'s error), and MultilabelError is raised."""
        try:
            with self._tx() as db:
                db.execute("UPDATE runs SET status=?, finished_at=?, error=?, progress=NULL WHERE id=?",
                           (status, time.time(), message, run_id))
        except MultilabelError:
            self._write_side_error(run_id, message)
            raise
        self.error_path(run_id).unlink(missing_ok=True)  # the store holds the message

    def delete_run(self, run_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM epochs WHERE run_id=?", (run_id,))
            db.execute("DELETE FROM runs WHERE id=?", (run_id,))
        self.checkpoint_path(run_id).unlink(missing_ok=True)
        self.validation_path(run_id).unlink(missing_ok=True)
        self.live_validation_path(run_id).unlink(missing_ok=True)
        self.error_path(run_id).unlink(missing_ok=True)

    # -- reads --------------------------------------------------------------------------------------------------
    def _row(self, row: sqlite3.Row) -> dict[str, Any]:
        run = dict(row)
        for column in getattr(self, "_missing_columns", ()):
            run.setdefault(column, None)
        for key in ("config", "data", "info", "best", "last_live", "progress"):
            run[key] = json.loads(run[key]) if run[key] else None
        run["notes"] = json.loads(run["notes"]) if run["notes"] else []
        if run["status"] == "running" and not (run["owner"] == self._owner or owner_alive(run["owner"])):
            run["status"] = "interrupted"  # its process is gone
            run["error"] = run["error"] or self.side_error(run["id"]) or (
                f"the process that trained it (pid {owner_pid(run['owner'])}) ended without finishing the run "
                "(killed?)")
        if run["status"] == "interrupted" and not run["best"]:
            run["best"] = self._logged_best(run["id"])
        elif run["status"] == "running" and run["owner"] == self._owner and run["error"] is None:
            run["error"] = self.side_error(run["id"])  # this process could not record the run's end (a full disk)
        end = run["finished_at"] or (time.time() if run["status"] == "running" else None)
        run["duration_s"] = (end - run["created_at"]) if end else None
        return run

    def _logged_best(self, run_id: str) -> Optional[dict[str, Any]]:
        """An interrupted run's best metrics from the epochs it logged: the measured epoch (validation metrics at
        threshold 0.5) of lowest validation loss, the rule the engine keeps weights by. Kept in the row once found
        (the run's process is gone, nothing else writes it), so listing a store reads its epochs once."""
        with self._lock:
            rows = self._db.execute("SELECT record FROM epochs WHERE run_id=? ORDER BY epoch", (run_id,)).fetchall()
        best = logged_best(json.loads(r[0]) for r in rows)
        if best is not None:
            try:
                with self._tx() as db:
                    db.execute("UPDATE runs SET best=? WHERE id=? AND best IS NULL", (json.dumps(best), run_id))
            except (MultilabelError, sqlite3.Error):  # a read-only or full store: found again at the next read
                pass
        return best

    def get_run(self, run_id: str) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise MultilabelError(f"no run {run_id!r} in {str(self.path)!r}; list runs with 'python -m multilabel runs'")
        return self._row(row)

    def list_runs(self, limit: int = 500) -> list[dict[str, Any]]:
        """Newest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM runs ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [self._row(r) for r in rows]

    def history(self, run_id: str, after: int = 0) -> list[dict[str, Any]]:
        """The run's epoch records in order; ``after=n`` returns only epochs > n (for incremental readers)."""
        with self._lock:
            rows = self._db.execute("SELECT record FROM epochs WHERE run_id=? AND epoch>? ORDER BY epoch",
                                    (run_id, after)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def live_run_ids(self) -> list[str]:
        """Runs being trained now: status 'running' and their owner process alive."""
        with self._lock:
            rows = self._db.execute("SELECT id, owner FROM runs WHERE status='running'").fetchall()
        return [r[0] for r in rows if r[1] == self._owner or owner_alive(r[1])]

    def latest_checkpoint(self) -> Optional[dict[str, Any]]:
        """The newest finished run that has a checkpoint file, or None."""
        for run in self.list_runs():
            if run["status"] in FINISHED and run["checkpoint"] and Path(run["checkpoint"]).is_file():
                return run
        return None

    # -- the live view's validation snapshot (callbacks.LiveValidation) ----------------------------------------------
    def live_validation_path(self, run_id: str) -> Path:
        return self.home / "checkpoints" / f"{run_id}.live.npz"

    def save_live_validation(self, run_id: str, arrays: dict[str, np.ndarray]) -> Path:
        """Replace the run's live snapshot (``callbacks.LiveValidation.arrays()``: epoch, probs (n_val, labels),
        targets, alive (hidden,), optionally w_hidden and w_output) atomically: a reader sees the old file or the
        new one, never half of one. Uncompressed: it is rewritten while the run trains, and read as often."""
        import numpy as np
        path = self.live_validation_path(run_id)
        with atomic_path(path) as tmp:  # a full disk: one line, no half-written file
            np.savez(tmp, **arrays)
        return path

    def load_live_validation(self, run_id: str) -> Optional[dict[str, Any]]:
        """The run's newest live snapshot as {"epoch": int, "probs", "targets", "alive", "weights": (w_hidden,
        w_output) or None}, or None when the run has none (not evaluated yet, or from before live snapshots)."""
        import numpy as np
        try:
            with np.load(self.live_validation_path(run_id)) as saved:
                weights = (saved["w_hidden"], saved["w_output"]) if "w_hidden" in saved.files else None
                return {"epoch": int(saved["epoch"]), "probs": saved["probs"], "targets": saved["targets"],
                        "alive": saved["alive"], "weights": weights}
        except (OSError, KeyError, ValueError):
            return None
