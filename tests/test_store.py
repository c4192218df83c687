"""The run store: SQLite beside checkpoint files; every epoch committed as it ends; a dead owner reads 'interrupted'."""

from __future__ import annotations

import json
import signal
import time

import numpy as np
import pytest

from multilabel import MultilabelError
from multilabel.store import FINISHED, LIVE_ONLY_FIELDS, RunStore, default_home
from multilabel.store_schema import ADDED_COLUMNS, SCHEMA_VERSION

CONFIG = {"hidden_size": 8, "epochs": 3}
DATA = {"source": "synthetic", "rows": 100}


def record(epoch: int, **extra) -> dict:
    return {"epoch": epoch, "train_loss": 1.0 / epoch, "val_loss": 2.0 / epoch,
            "probe_probs": [[0.1 * epoch]], "prob_hist": [{"neg": [epoch], "pos": [0]}], **extra}


def test_a_run_is_created_running_with_its_config_and_data(store):
    run_id = store.create_run(CONFIG, DATA, name="first")
    run = store.get_run(run_id)
    assert (run["name"], run["status"], run["epochs_done"]) == ("first", "running", 0)
    assert run["config"] == CONFIG and run["data"] == DATA
    assert run["duration_s"] >= 0 and run["finished_at"] is None


def test_epochs_are_kept_in_order_and_live_only_fields_only_for_the_last(store):
    run_id = store.create_run(CONFIG, DATA)
    for epoch in (1, 2, 3):
        store.log_epoch(run_id, record(epoch))
    history = store.history(run_id)
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert history[1] == {"epoch": 2, "train_loss": 0.5, "val_loss": 1.0}
    assert not any(key in r for r in history for key in LIVE_ONLY_FIELDS)
    run = store.get_run(run_id)
    assert run["epochs_done"] == 3
    assert run["last_live"] == {"probe_probs": [[pytest.approx(0.3)]], "prob_hist": [{"neg": [3], "pos": [0]}]}


def test_finish_and_fail_record_outcome_metrics_and_message(store, tmp_path):
    done = store.create_run(CONFIG, DATA)
    store.set_info(done, {"device": "cpu", "n_train": 80})
    store.finish(done, "early_stopped", best={"micro_f1": 0.75}, checkpoint=tmp_path / "m.pt")
    broken = store.create_run(CONFIG, DATA)
    store.fail(broken, "training diverged at epoch 3")

    run = store.get_run(done)
    assert run["status"] == "early_stopped" and run["best"] == {"micro_f1": 0.75}
    assert run["checkpoint"] == str(tmp_path / "m.pt") and run["info"]["n_train"] == 80
    assert run["finished_at"] is not None and run["duration_s"] >= 0
    failed = store.get_run(broken)
    assert failed["status"] == "failed" and failed["error"] == "training diverged at epoch 3"


def test_list_runs_is_newest_first(store):
    ids = [store.create_run(CONFIG, DATA, name=f"run{i}") for i in range(3)]
    assert [r["id"] for r in store.list_runs()] == list(reversed(ids))
    assert [r["id"] for r in store.list_runs(limit=2)] == list(reversed(ids))[:2]


def test_latest_checkpoint_is_the_newest_finished_run_whose_file_exists(store):
    older = store.create_run(CONFIG, DATA)
    store.checkpoint_path(older).write_bytes(b"x")
    store.finish(older, "completed", checkpoint=store.checkpoint_path(older))
    gone = store.create_run(CONFIG, DATA)
    store.finish(gone, "stopped", checkpoint=store.checkpoint_path(gone))  # its file was never written
    failed = store.create_run(CONFIG, DATA)
    store.fail(failed, "boom")
    assert store.latest_checkpoint()["id"] == older


def test_latest_checkpoint_is_none_in_an_empty_store(store):
    assert store.latest_checkpoint() is None


def test_delete_run_removes_its_row_epochs_and_checkpoint(store):
    run_id = store.create_run(CONFIG, DATA)
    store.log_epoch(run_id, record(1))
    store.checkpoint_path(run_id).write_bytes(b"x")
    store.delete_run(run_id)
    assert store.list_runs() == [] and store.history(run_id) == []
    assert not store.checkpoint_path(run_id).exists()
    with pytest.raises(MultilabelError, match=f"no run '{run_id}'"):
        store.get_run(run_id)


def test_unknown_run_id_is_a_clear_error(store):
    with pytest.raises(MultilabelError, match="no run 'nope' in .*list runs with 'python -m multilabel runs'"):
        store.get_run("nope")


def test_data_survives_reopening_the_store(store_home):
    first = RunStore(store_home)
    run_id = first.create_run(CONFIG, DATA)
    first.log_epoch(run_id, record(1))
    first.finish(run_id, "completed")
    first.close()
    again = RunStore(store_home)
    assert again.get_run(run_id)["status"] == "completed" and len(again.history(run_id)) == 1
    again.close()


def test_a_home_that_is_a_file_is_refused_with_the_fix(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(MultilabelError, match="the run store folder .* is not writable .*set MULTILABEL_HOME \\(or --store\\)"):
        RunStore(blocker / "home")


def test_a_corrupt_database_file_is_refused_with_the_fix(tmp_path):
    (tmp_path / "runs.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(MultilabelError, match="is not a usable run store"):
        RunStore(tmp_path)


def test_default_home_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MULTILABEL_HOME", str(tmp_path / "elsewhere"))
    assert default_home() == tmp_path / "elsewhere"
    monkeypatch.delenv("MULTILABEL_HOME")
    assert str(default_home()) == "runs"


def test_the_store_survives_a_killed_training_process(store_home, spawn_cli):
    """SIGKILL a CLI training mid-run: its epochs are all kept, it reads 'interrupted', the store still takes runs."""
    child = spawn_cli("train", "--synthetic", "--samples", "500", "--epochs", "100000", "--patience", "0", "--quiet",
                      "--store", store_home)
    watcher, runs = None, []
    deadline = time.monotonic() + 120  # a safety net for a child that never starts, not a speed check
    while time.monotonic() < deadline and child.poll() is None:
        if (store_home / "runs.db").exists():
            watcher = watcher or RunStore(store_home)
            runs = watcher.list_runs()
            if runs and runs[0]["epochs_done"] >= 2:
                break
        time.sleep(0.1)
    assert child.poll() is None, f"training ended by itself: {child.stderr.read().decode()}"
    assert runs and runs[0]["epochs_done"] >= 2, "no epochs were logged before the deadline"
    assert runs[0]["status"] == "running"  # its owner is alive
    child.send_signal(signal.SIGKILL)
    child.wait()  # reaped: the pid is gone, not a zombie that still answers kill(pid, 0)
    watcher.close()

    store = RunStore(store_home)
    (run,) = store.list_runs()
    assert run["status"] == "interrupted" and run["finished_at"] is None
    history = store.history(run["id"])
    assert run["epochs_done"] >= 2
    assert [r["epoch"] for r in history] == list(range(1, run["epochs_done"] + 1))
    assert all(r["val_loss"] > 0 for r in history)

    new_id = store.create_run(CONFIG, DATA)
    store.log_epoch(new_id, record(1))
    store.finish(new_id, "completed", best={"micro_f1": 0.5})
    assert store.get_run(new_id)["status"] in FINISHED and len(store.list_runs()) == 2
    store.close()


def test_progress_is_kept_until_its_epoch_is_logged_or_the_run_ends(store):
    run_id = store.create_run(CONFIG, DATA)
    store.set_progress(run_id, {"epoch": 1, "step": 10, "steps": 100})
    assert store.get_run(run_id)["progress"] == {"epoch": 1, "step": 10, "steps": 100}
    store.log_epoch(run_id, record(1))
    assert store.get_run(run_id)["progress"] is None
    store.set_progress(run_id, {"epoch": 2, "step": 5, "steps": 100})
    store.finish(run_id, "stopped")
    assert store.get_run(run_id)["progress"] is None


def test_a_stop_request_is_stored_once_and_a_live_checkpoint_is_recorded(store, tmp_path):
    run_id = store.create_run(CONFIG, DATA)
    assert not store.stop_requested(run_id) and store.get_run(run_id)["stop_requested"] is None
    store.request_stop(run_id)
    first = store.get_run(run_id)["stop_requested"]
    store.request_stop(run_id)
    assert store.stop_requested(run_id) and store.get_run(run_id)["stop_requested"] == first
    store.set_checkpoint(run_id, tmp_path / "best.pt")
    assert store.get_run(run_id)["checkpoint"] == str(tmp_path / "best.pt")
    assert store.get_run(run_id)["status"] == "running"


def test_a_step_counts_each_ask_but_a_step_to_a_given_epoch_asked_twice_is_one_epoch(store):
    run_id = store.create_run(CONFIG, DATA)
    for epoch in (1, 2):
        store.log_epoch(run_id, record(epoch))
    store.request_step(run_id)
    store.request_step(run_id)  # two asks: two epochs
    assert store.pause_state(run_id) == (True, 4)
    other = store.create_run(CONFIG, DATA)
    store.log_epoch(other, record(1))
    store.request_step(other, until=2)
    store.request_step(other, until=2)  # the same click delivered twice
    assert store.pause_state(other) == (True, 2)
    store.request_step(other, until=1)  # a page drawn earlier never takes back a step already asked for
    assert store.pause_state(other) == (True, 2)
    store.request_step(other, until=3)
    assert store.pause_state(other) == (True, 3)


def test_a_run_owned_by_an_exited_unreaped_process_reads_interrupted(store):
    """A zombie (exited, not yet reaped: an orphaned worker whose new parent never reaps) is not a live owner."""
    import subprocess
    import sys

    from multilabel.jobs import process_token

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        token = process_token(child.pid)
        deadline = time.monotonic() + 60  # a safety net, not a speed check
        while not open(f"/proc/{child.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.02)
        run_id = store.create_run(CONFIG, DATA)
        with store._tx() as db:
            db.execute("UPDATE runs SET owner=? WHERE id=?", (token, run_id))
        run = store.get_run(run_id)
        assert run["status"] == "interrupted" and f"pid {child.pid}" in run["error"]
        assert store.live_run_ids() == []
    finally:
        child.wait()


def test_claiming_a_run_makes_this_process_its_owner(store_home):
    first, second = RunStore(store_home), RunStore(store_home)
    run_id = first.create_run(CONFIG, DATA)
    second.claim(run_id)
    assert first.get_run(run_id)["owner"] == second.owner and first.live_run_ids() == [run_id]
    first.close()
    second.close()


def test_a_full_disk_while_saving_validation_arrays_is_one_line_and_leaves_nothing(store, monkeypatch):
    import errno

    import numpy as np

    def full(path, **arrays):
        open(path, "wb").write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", full)
    with pytest.raises(MultilabelError, match="cannot finish writing .*val.npz': No space left on device; free some"):
        store.save_validation("run1", np.zeros((3, 2)), np.zeros((3, 2)))
    assert list((store.home / "checkpoints").iterdir()) == []


# -- names and notes -------------------------------------------------------------------------------------------------

def test_rename_keeps_a_one_line_name_and_refuses_empty_or_too_long_ones(store, store_home):
    from multilabel.store import MAX_NAME

    run_id = store.create_run(CONFIG, DATA)
    assert store.get_run(run_id)["name"] == run_id  # unnamed runs are called by their id
    assert store.rename(run_id, "  baseline\n  adam  ") == "baseline adam"
    assert store.get_run(run_id)["name"] == "baseline adam"
    for bad, message in (("   ", "a run name cannot be empty; type at least one character"),
                         ("x" * (MAX_NAME + 1), f"a run name can have at most {MAX_NAME} characters (this one has "
                                                f"{MAX_NAME + 1}); shorten it")):
        with pytest.raises(MultilabelError) as info:
            store.rename(run_id, bad)
        assert str(info.value) == message
    assert store.rename(run_id, "y" * MAX_NAME) == "y" * MAX_NAME
    with pytest.raises(MultilabelError, match="no run 'nope'"):
        store.rename("nope", "name")
    store.close()
    assert RunStore(store_home).get_run(run_id)["name"] == "y" * MAX_NAME  # kept on disk


def test_notes_can_be_edited_and_deleted_by_position(store):
    run_id = store.create_run(CONFIG, DATA)
    store.add_note(run_id, "first")
    store.add_note(run_id, "second")
    stamps = [n["at"] for n in store.get_run(run_id)["notes"]]
    store.edit_note(run_id, 0, "  first, reworded ")
    notes = store.get_run(run_id)["notes"]
    assert [n["text"] for n in notes] == ["first, reworded", "second"]
    assert [n["at"] for n in notes] == stamps  # an edit keeps the note's time
    with pytest.raises(MultilabelError, match="a note cannot be empty"):
        store.edit_note(run_id, 1, " ")
    with pytest.raises(MultilabelError, match=r"has no note 3 \(it has 2\)"):
        store.edit_note(run_id, 2, "text")
    with pytest.raises(MultilabelError, match=r"has no note 0"):
        store.delete_note(run_id, -1)
    store.delete_note(run_id, 0)
    assert [n["text"] for n in store.get_run(run_id)["notes"]] == ["second"]
    store.delete_note(run_id, 0)
    assert store.get_run(run_id)["notes"] == []
    with pytest.raises(MultilabelError, match="no run 'nope'"):
        store.delete_note("nope", 0)


# ---- schema migrations: every older store opens and upgrades ---------------------------------------------------------

FIRST_RELEASE_RUNS = """CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL, finished_at REAL, owner TEXT, config TEXT NOT NULL, data TEXT NOT NULL, info TEXT,
    best TEXT, last_live TEXT, epochs_done INTEGER NOT NULL DEFAULT 0, checkpoint TEXT, error TEXT)"""
EPOCHS = """CREATE TABLE epochs (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, epoch INTEGER NOT NULL,
    record TEXT NOT NULL, PRIMARY KEY (run_id, epoch))"""


def _old_store(home, added: tuple[str, ...], version: int, queue: bool = False) -> None:
    """A runs.db as an older release wrote it: the first release's tables plus the columns ``added``, one finished
    run with two epochs, at ``PRAGMA user_version`` ``version``."""
    import sqlite3

    home.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(home / "runs.db")
    db.execute(FIRST_RELEASE_RUNS)
    db.execute(EPOCHS)
    for column in added:
        db.execute(f"ALTER TABLE runs ADD COLUMN {column} {ADDED_COLUMNS[column]}")
    if queue:
        db.execute("CREATE TABLE queue (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, state TEXT "
                   "NOT NULL, claimed_at REAL, name TEXT, config TEXT NOT NULL, data TEXT NOT NULL, started_by TEXT, "
                   "run_id TEXT, error TEXT)")
    db.execute("INSERT INTO runs (id, name, status, created_at, finished_at, owner, config, data, best, epochs_done) "
               "VALUES ('old', 'old run', 'completed', 1.0, 2.0, '1:?', ?, ?, ?, 2)",
               (json.dumps(CONFIG), json.dumps(DATA), json.dumps({"epoch": 2, "val_loss": 0.5})))
    for epoch in (1, 2):
        db.execute("INSERT INTO epochs VALUES ('old', ?, ?)", (epoch, json.dumps({"epoch": epoch, "val_loss": 0.5})))
    db.execute(f"PRAGMA user_version={version}")
    db.commit()
    db.close()


@pytest.mark.parametrize("added, version, queue", [
    ((), 0, False),  # the first release
    (("started_by", "notes", "progress", "stop_requested"), 0, False),  # before pause and continue
    (tuple(ADDED_COLUMNS), 0, True),  # the last store before versioning (columns and queue, user_version 0)
    (tuple(ADDED_COLUMNS), 1, False),  # version 1: before the queue was a migration
], ids=["first-release", "before-control", "unversioned-latest", "version-1"])
def test_a_store_of_every_older_schema_opens_and_upgrades(tmp_path, added, version, queue):
    import sqlite3

    home = tmp_path / "old"
    _old_store(home, added, version, queue)
    listed = RunStore(home, readonly=True).list_runs()  # read as it is, before any upgrade
    assert [(r["id"], r["status"], r["started_by"]) for r in listed] == [("old", "completed", None)]
    store = RunStore(home)
    run = store.get_run("old")
    assert run["status"] == "completed" and run["notes"] == [] and run["best"]["val_loss"] == 0.5
    assert [r["epoch"] for r in store.history("old")] == [1, 2]
    store.request_pause("old")
    assert store.pause_state("old") == (True, None)
    assert store.enqueue(CONFIG, DATA, {"X": np.zeros((2, 2))}) == 1 and len(store.queue()) == 1
    new = store.create_run(CONFIG, DATA, started_by="test")
    assert store.get_run(new)["started_by"] == "test"
    store.close()
    db = sqlite3.connect(home / "runs.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert set(ADDED_COLUMNS) <= {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    db.close()
    RunStore(home).close()  # opening an up-to-date store again changes nothing


def test_migrations_run_in_order_from_the_stores_version_once(tmp_path):
    import sqlite3

    from multilabel import store_schema

    db = sqlite3.connect(tmp_path / "x.db")
    assert store_schema.migrate(db) == 0 and store_schema.migrate(db) == SCHEMA_VERSION
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(store_schema.MIGRATIONS)
    db.execute("PRAGMA user_version=1")
    db.execute("DROP TABLE queue")
    db.commit()
    assert store_schema.migrate(db) == 1  # only migration 2 ran: the queue is back
    assert db.execute("SELECT count(*) FROM queue").fetchone() == (0,)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")  # a store a newer release wrote: left as it is
    db.commit()
    assert store_schema.migrate(db) == SCHEMA_VERSION + 5
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 5
    db.close()
