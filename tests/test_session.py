"""Runs in worker processes: stop keeps a usable model, views are consistent copies, failures reach the store."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

from multilabel import Dataset, load_checkpoint, train
from multilabel.engine import split_indices
from multilabel.session import SessionRegistry, get_registry

from pagetest import WAIT_S, wait_for


def finish(session) -> dict:
    assert session.join(timeout=WAIT_S), "the worker did not end"
    return session.snapshot()


def val_loss_of(trained, data: Dataset, config) -> float:
    _, val_idx = split_indices(data.num_rows, config.val_fraction, config.seed)
    with torch.no_grad():
        logits = trained.model(torch.from_numpy(trained.standardizer.transform(data.X[val_idx])))
        return nn.BCEWithLogitsLoss()(logits, torch.from_numpy(data.Y[val_idx])).item()


def test_a_finished_run_is_in_the_snapshot_the_store_and_a_checkpoint(store, small_data, make_config):
    registry = SessionRegistry(store)
    session = registry.start(make_config(epochs=4), small_data, name="four epochs")
    snap = finish(session)

    assert snap["status"] == "completed" and snap["epoch"] == snap["epochs"] == 4 and not snap["alive"]
    assert snap["error"] is None and snap["info"]["n_val"] == 80
    in_process = train(make_config(epochs=4), small_data)  # the worker has one torch thread, as this process
    assert snap["best"]["micro_f1"] == in_process.best["micro_f1"]
    run = store.get_run(session.run_id)
    assert run["name"] == "four epochs" and run["status"] == "completed" and run["epochs_done"] == 4
    assert run["best"]["thresholds"] == snap["best"]["thresholds"]
    assert run["checkpoint"] == snap["checkpoint"] == str(store.checkpoint_path(session.run_id))
    stored = store.history(session.run_id)
    assert [r["val_loss"] for r in stored] == [r["val_loss"] for r in snap["history"]]
    loaded = load_checkpoint(snap["checkpoint"])
    assert loaded.run_id == session.run_id
    probs, targets = store.load_validation(session.run_id)
    config = make_config(epochs=4)
    _, val_idx = split_indices(small_data.num_rows, config.val_fraction, config.seed)
    np.testing.assert_array_equal(targets, small_data.Y[val_idx])
    np.testing.assert_allclose(probs, loaded.predict_proba(small_data.X[val_idx]), atol=1e-6)
    expected = in_process.trained.predict_proba(small_data.X)
    np.testing.assert_array_equal(loaded.predict_proba(small_data.X), expected)


def test_stop_mid_run_keeps_best_weights(store, small_data, make_config):
    config = make_config(epochs=100_000, learning_rate=3e-2)
    session = SessionRegistry(store).start(config, small_data)
    wait_for(lambda: session.snapshot()["epoch"] >= 3, "three epochs")
    session.stop()
    snap = finish(session)

    assert snap["status"] == "stopped"
    assert 3 <= snap["epoch"] < config.epochs
    history = snap["history"]
    best_epoch = snap["best"]["epoch"]
    assert history[best_epoch - 1]["val_loss"] == min(r["val_loss"] for r in history)

    run = store.get_run(session.run_id)
    assert run["status"] == "stopped" and run["epochs_done"] == snap["epoch"]
    loaded = load_checkpoint(snap["checkpoint"])
    probs = loaded.predict_proba(small_data.X[:10])
    assert probs.shape == (10, 3) and np.isfinite(probs).all()
    assert val_loss_of(loaded, small_data, config) == pytest.approx(history[best_epoch - 1]["val_loss"], abs=1e-5)


def test_snapshots_read_during_training_are_always_consistent(store, small_data, make_config):
    config = make_config(epochs=60)
    session = SessionRegistry(store).start(config, small_data)
    problems: list[str] = []
    seen: list[int] = []

    def read() -> None:
        try:
            while True:
                snap = session.snapshot()
                epochs = [r["epoch"] for r in snap["history"]]
                if epochs != list(range(1, len(epochs) + 1)) or snap["epoch"] != len(epochs):
                    problems.append(f"inconsistent snapshot: epoch {snap['epoch']}, history {epochs}")
                if snap["status"] not in ("starting", "running", "completed"):
                    problems.append(f"unexpected status {snap['status']!r}")
                seen.append(snap["epoch"])
                if not snap["alive"] and snap["status"] == "completed":
                    return
        except Exception as exc:  # any exception in a reader is a failure of snapshot()
            problems.append(f"{type(exc).__name__}: {exc}")

    readers = [threading.Thread(target=read, daemon=True) for _ in range(4)]
    for reader in readers:
        reader.start()
    snap = finish(session)
    for reader in readers:
        reader.join(timeout=WAIT_S)

    assert problems == []
    assert snap["epoch"] == 60 and max(seen) == 60
    assert len(set(seen)) > 2  # the readers really watched the run progress


def test_a_snapshot_is_a_copy_the_reader_cannot_corrupt(store, small_data, make_config):
    session = SessionRegistry(store).start(make_config(epochs=3), small_data)
    first = finish(session)
    first["history"].clear()
    first["status"] = "tampered"
    second = session.snapshot()
    assert len(second["history"]) == 3 and second["status"] == "completed"


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_a_failing_run_is_marked_failed_with_its_message(store, small_data, make_config):
    X = small_data.X.copy()
    X[:, 0] = 3e38
    X[::10, 0] = -3e38  # overflows when centred: the loss is NaN in epoch 1
    data = Dataset(X, small_data.Y, small_data.feature_names, small_data.label_names)
    session = SessionRegistry(store).start(make_config(), data)
    snap = finish(session)
    assert snap["status"] == "failed" and snap["error"].startswith("training diverged at epoch 1")
    assert snap.get("traceback") is None  # a user's mistake, not a bug: no traceback
    run = store.get_run(session.run_id)
    assert run["status"] == "failed" and run["error"] == snap["error"] and run["checkpoint"] is None


def test_registry_finds_sessions_by_run_id_and_lists_the_active_ones(store, small_data, make_config):
    registry = SessionRegistry(store)
    long_run = registry.start(make_config(epochs=100_000), small_data)
    short_run = registry.start(make_config(epochs=2), small_data)
    finish(short_run)
    try:
        assert registry.get(long_run.run_id) is long_run and registry.get(short_run.run_id) is short_run
        assert registry.get("unknown") is None and registry.get(None) is None
        assert {s.run_id for s in registry.sessions()} == {long_run.run_id, short_run.run_id}
        assert registry.active() == [long_run]
    finally:
        long_run.stop()
        finish(long_run)
    assert registry.active() == []


def test_get_registry_returns_one_registry_per_home_folder(tmp_path):
    a = get_registry(tmp_path / "a")
    assert get_registry(tmp_path / "a") is a
    assert get_registry(tmp_path / "a" / ".." / "a") is a
    b = get_registry(tmp_path / "b")
    assert b is not a and b.store.home == tmp_path / "b"


def test_view_is_the_same_shape_live_and_from_the_store(store, small_data, make_config):
    live_registry = SessionRegistry(store)
    session = live_registry.start(make_config(epochs=3), small_data)
    finish(session)
    live = live_registry.view(session.run_id)
    stored = SessionRegistry(store).view(session.run_id)  # another process's view: no live session, only the store

    for key in ("run_id", "status", "epoch", "epochs", "checkpoint", "alive", "stopping", "started_by"):
        assert getattr(live, key) == getattr(stored, key), key
    assert stored.status == "completed" and stored.epoch == 3 and stored.alive is False
    assert [r["val_loss"] for r in stored.history] == [r["val_loss"] for r in live.history]
    assert stored.best["thresholds"] == live.best["thresholds"]
    assert stored.info == live.info and stored.config == live.config
    last = live.history[-1]
    assert live.last_evaluated is last and "val_per_label" in last
    # The large live-only fields are kept for the newest evaluated epoch only, in ``live``, not in the history.
    assert len(live.live["probe_probs"]) == min(32, live.info["n_val"]) and live.live == stored.live
    assert len(stored.live["prob_hist"]) == 3 and "probe_probs" not in last


def test_a_run_remembers_who_started_it_and_notes_who_stopped_it(store, small_data, make_config):
    registry = SessionRegistry(store)
    mine = registry.start(make_config(epochs=100_000), small_data, started_by="browser session aaa")
    wait_for(lambda: registry.is_live(mine.run_id), "the run to go live")
    registry.stop(mine.run_id, by="browser session aaa")  # the owner stops it: no note
    finish(mine)
    assert store.get_run(mine.run_id)["notes"] == [] and not registry.is_live(mine.run_id)

    theirs = registry.start(make_config(epochs=100_000), small_data, started_by="browser session aaa")
    registry.stop(theirs.run_id, by="browser session bbb")
    finish(theirs)
    view = SessionRegistry(store).view(theirs.run_id)
    assert view.status == "stopped" and view.started_by == "browser session aaa"
    assert [n["text"] for n in view.notes] == ["stopped by browser session bbb"]


def test_a_store_from_before_ownership_gains_the_new_columns(tmp_path):
    import sqlite3
    from multilabel.store import RunStore
    home = tmp_path / "old"
    (home / "checkpoints").mkdir(parents=True)
    db = sqlite3.connect(home / "runs.db")
    db.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, created_at REAL "
               "NOT NULL, finished_at REAL, owner TEXT, config TEXT NOT NULL, data TEXT NOT NULL, info TEXT, best TEXT, "
               "last_live TEXT, epochs_done INTEGER NOT NULL DEFAULT 0, checkpoint TEXT, error TEXT)")
    db.execute("INSERT INTO runs (id, name, status, created_at, config, data) VALUES ('r1', 'r1', 'completed', 1.0, "
               "'{}', '{}')")
    db.commit()
    db.close()
    store = RunStore(home)
    run = store.get_run("r1")
    assert run["started_by"] is None and run["notes"] == []
    store.add_note("r1", "hello")
    assert [n["text"] for n in store.get_run("r1")["notes"]] == ["hello"]
