"""Control of runs in worker processes (issue 11): pause, one epoch, resume, stop while paused, continue, the queue.

Real worker processes and a real SQLite store. The exactness tests compare a worker-run pause/step/resume and a
continuation through the registry with one uninterrupted in-process run of the same length: same losses every epoch,
same final weights. Deadlines are safety nets, never speed checks; timings are printed, not asserted.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
import torch

from multilabel import MultilabelError, load_checkpoint, make_synthetic, train
from multilabel.session import SessionRegistry
from multilabel.store import RunStore, owner_alive, owner_pid

WAIT_S = 120


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


@pytest.fixture
def registry(store):
    """One torch thread per worker (deterministic, kind to a shared machine); live workers are killed at the end."""
    reg = SessionRegistry(store, threads_per_run=1)
    yield reg
    for item in store.queue():
        store.unqueue(item["id"])
    for run_id in store.live_run_ids():
        owner = store.get_run(run_id)["owner"]
        if owner != store.owner and owner_alive(owner):
            os.kill(owner_pid(owner), signal.SIGKILL)


def weights(trained) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in trained.model.state_dict().items()}


def losses(history) -> list[tuple[int, float, float]]:
    return [(r["epoch"], r["train_loss"], r["val_loss"]) for r in history]


def assert_same_run(view, expected) -> None:
    """A stored run (view) has exactly the numbers of an in-process TrainResult: every epoch's losses, the final
    checkpoint's weights, the best epoch and metrics."""
    assert losses(view.history) == losses(expected.history)
    assert view.best["epoch"] == expected.best_epoch
    assert view.best["micro_f1"] == expected.best["micro_f1"]
    stored = load_checkpoint(view.checkpoint)
    for name, value in weights(expected.trained).items():
        np.testing.assert_array_equal(weights(stored)[name], value)
    for name, value in expected.resume.model.items():  # the last weights too, not only the best ones
        assert torch.equal(torch.as_tensor(stored.resume["model"][name]), value)


def test_pause_one_epoch_and_resume_in_a_worker_give_the_numbers_of_an_uninterrupted_run(registry, store,
                                                                                        small_data, make_config):
    config = make_config(epochs=14, dropout=0.2)  # dropout: the CPU random stream must survive the wait too
    session = registry.start(config, small_data, started_by="browser session aaa")
    wait_for(lambda: registry.view(session.run_id).epoch >= 2, "two epochs")
    asked = time.monotonic()
    session.pause(by="browser session aaa")
    view = wait_for(lambda: (v := registry.view(session.run_id)).paused and v, "the run to pause")
    took = time.monotonic() - asked
    held = view.epoch
    assert view.status == "running" and view.alive and not view.pausing and held < config.epochs
    time.sleep(1.0)  # several epochs' worth of time (an epoch takes milliseconds here)
    view = registry.view(session.run_id)
    assert view.epoch == held and view.paused, "epochs were trained while paused"
    assert store.training_run_ids() == [], "a paused run still counts as using the cores"
    print(f"\npause took effect {took * 1000:.0f} ms after it was asked (epoch {held})")

    session.step(by="browser session aaa")
    view = wait_for(lambda: (v := registry.view(session.run_id)).epoch == held + 1 and v.paused and v,
                    "one more epoch, then paused again")
    time.sleep(0.5)
    assert registry.view(session.run_id).epoch == held + 1, "a step trained more than one epoch"
    session.step()
    session.step()  # two clicks: two epochs
    wait_for(lambda: (v := registry.view(session.run_id)).epoch == held + 3 and v.paused, "two more epochs")

    session.resume(by="browser session aaa")
    assert session.join(timeout=WAIT_S)
    view = registry.view(session.run_id)
    assert view.status == "completed" and not view.paused and view.notes == []  # the owner's own clicks: no notes
    torch.set_num_threads(1)
    assert_same_run(view, train(config, small_data))


def test_stop_ends_a_paused_run_and_another_sessions_pause_leaves_a_note(registry, small_data, make_config):
    session = registry.start(make_config(epochs=100_000), small_data, started_by="browser session aaa")
    wait_for(lambda: registry.view(session.run_id).epoch >= 1, "an epoch")
    registry.pause(session.run_id, by="browser session bbb")
    wait_for(lambda: registry.view(session.run_id).paused, "the run to pause")
    registry.stop(session.run_id, by="browser session bbb")
    assert session.join(timeout=WAIT_S)
    view = registry.view(session.run_id)
    assert view.status == "stopped" and not view.paused and not view.alive
    assert [n["text"] for n in view.notes] == ["paused by browser session bbb", "stopped by browser session bbb"]
    assert load_checkpoint(view.checkpoint).resume is not None


def test_a_pause_asked_before_the_first_epoch_holds_the_run_at_epoch_0(registry, small_data, make_config):
    session = registry.start(make_config(epochs=5), small_data)
    registry.pause(session.run_id)
    view = wait_for(lambda: (v := registry.view(session.run_id)).paused and v, "the run to pause")
    assert view.epoch in (0, 1)  # the first epoch may have ended before the worker read the request
    registry.resume(session.run_id)
    assert session.join(timeout=WAIT_S) and registry.view(session.run_id).status == "completed"


def test_continuing_a_run_through_the_registry_equals_one_uninterrupted_run(registry, store, small_data,
                                                                           make_config):
    config = make_config(epochs=10, dropout=0.2)
    first = registry.start(config.replace(epochs=4), small_data, started_by="browser session aaa")
    assert first.join(timeout=WAIT_S)
    parent_before = registry.view(first.run_id)
    assert parent_before.status == "completed" and parent_before.info["resumable"] == 4

    rest = registry.continue_run(first.run_id, 6, started_by="browser session aaa")  # synthetic data: rebuilt
    assert rest.run_id != first.run_id
    assert rest.join(timeout=WAIT_S)
    view = registry.view(rest.run_id)
    assert view.status == "completed", view.error
    assert view.continued_from == first.run_id and view.epochs == 10 and view.config["epochs"] == 10
    assert [r["epoch"] for r in view.history] == list(range(1, 11))  # the parent's epochs, then its own
    torch.set_num_threads(1)
    assert_same_run(view, train(config, small_data))

    parent = registry.view(first.run_id)  # the parent is left as it was
    assert parent.status == "completed" and losses(parent.history) == losses(parent_before.history)
    assert parent.checkpoint != view.checkpoint and load_checkpoint(parent.checkpoint).resume["epoch"] == 4

    again = registry.continue_run(rest.run_id, 2)  # a continuation continues too
    assert again.join(timeout=WAIT_S)
    assert registry.view(again.run_id).status == "completed"
    assert [r["epoch"] for r in registry.view(again.run_id).history] == list(range(1, 13))
    assert losses(registry.view(again.run_id).history)[:10] == losses(view.history)


def test_a_paused_then_continued_csv_run_needs_its_rows_and_refuses_others(registry, store, make_config,
                                                                          emotions_csv, emotion_labels):
    from multilabel.data import load_csv

    data = load_csv(str(emotions_csv), ",".join(emotion_labels))
    config = make_config(input_size=data.X.shape[1], num_outputs=data.Y.shape[1], epochs=2)
    first = registry.start(config, data)
    assert first.join(timeout=WAIT_S)
    with pytest.raises(MultilabelError, match="give the same file"):
        registry.continue_run(first.run_id, 2)
    shuffled = load_csv(str(emotions_csv), ",".join(emotion_labels))
    shuffled.X = shuffled.X[::-1].copy()
    with pytest.raises(MultilabelError, match="data differs"):
        registry.continue_run(first.run_id, 2, data=shuffled)
    with pytest.raises(MultilabelError, match="at least 1 more epoch"):
        registry.continue_run(first.run_id, 0, data=data)
    runs_before = len(store.list_runs())
    child = registry.continue_run(first.run_id, 2, data=data)
    assert child.join(timeout=WAIT_S) and registry.view(child.run_id).status == "completed"
    assert len(store.list_runs()) == runs_before + 1  # the refusals created no run


def test_live_failed_or_checkpointless_runs_cannot_be_continued(registry, store, small_data, make_config):
    live = registry.start(make_config(epochs=100_000), small_data)
    with pytest.raises(MultilabelError, match="is running; only a finished or stopped run"):
        registry.continue_run(live.run_id, 3)
    registry.stop(live.run_id)
    assert live.join(timeout=WAIT_S)
    old = store.create_run(make_config().to_dict(), small_data.description)  # as an older version left it
    store.finish(old, "completed")
    with pytest.raises(MultilabelError, match="no checkpoint with a resume state"):
        registry.continue_run(old, 3)


def test_an_early_stopped_run_continues_without_early_stopping(registry, make_config):
    data = make_synthetic(300, 6, 3, noise=1.5, seed=3)  # noisy: validation loss soon stops improving
    first = registry.start(make_config(epochs=400, patience=2, learning_rate=5e-2), data)
    assert first.join(timeout=WAIT_S)
    parent = registry.view(first.run_id)
    assert parent.status == "early_stopped"
    child = registry.continue_run(first.run_id, 3)
    assert child.join(timeout=WAIT_S)
    view = registry.view(child.run_id)
    assert view.status == "completed" and view.config["patience"] == 0
    assert view.epoch == parent.epoch + 3
    assert any("early stopping is off" in n["text"] for n in view.notes)


def test_queued_runs_start_one_after_another_and_a_removed_one_never_starts(registry, store, small_data,
                                                                           make_config):
    first = registry.start(make_config(epochs=100_000), small_data)
    b = registry.enqueue(make_config(epochs=3, seed=1), small_data, name="queued b", started_by="browser session a")
    c = registry.enqueue(make_config(epochs=3, seed=2), small_data, name="queued c")
    d = registry.enqueue(make_config(epochs=3, seed=3), small_data, name="queued d")
    assert [item["id"] for item in registry.queued()] == [b, c, d]
    assert registry.unqueue(d) and not store.queue_path(d).exists()
    time.sleep(3 * 0.5)  # several queue polls: nothing starts while a run is live
    assert [item["id"] for item in registry.queued()] == [b, c]
    assert len(store.list_runs()) == 1

    registry.stop(first.run_id)
    assert first.join(timeout=WAIT_S)
    wait_for(lambda: not registry.queued(), "the queue to start both runs")
    runs = {run["name"]: run for run in store.list_runs()}
    wait_for(lambda: not store.live_run_ids(), "the queued runs to end")
    runs = {run["name"]: store.get_run(run["id"]) for run in store.list_runs()}
    assert set(runs) == {first.run_id, "queued b", "queued c"}
    a_run, b_run, c_run = runs[first.run_id], runs["queued b"], runs["queued c"]
    assert b_run["status"] == c_run["status"] == "completed"
    assert a_run["finished_at"] <= b_run["created_at"] and b_run["finished_at"] <= c_run["created_at"]
    assert b_run["started_by"] == "browser session a" and b_run["config"]["seed"] == 1
    assert not store.queue_path(b).exists() and not store.queue_path(c).exists()
    torch.set_num_threads(1)
    expected = train(make_config(epochs=3, seed=1), small_data)
    assert losses(store.history(b_run["id"])) == losses(expected.history)
    assert registry._queue_thread is None or not registry._queue_thread.is_alive() or not registry.queued()


def test_a_new_registry_goes_on_with_a_queue_left_by_another(store_home, small_data, make_config):
    first_store = RunStore(store_home)
    item = first_store.enqueue(make_config(epochs=2).to_dict(), small_data.description,
                               {"X": small_data.X, "Y": small_data.Y,
                                "feature_names": np.asarray(small_data.feature_names),
                                "label_names": np.asarray(small_data.label_names)}, name="left behind")
    store = RunStore(store_home)
    reg = SessionRegistry(store, threads_per_run=1)  # as a restarted server: its queue thread starts by itself
    wait_for(lambda: store.queue(("started",)), "the left queue item to start")
    run_id = store.queue(("started",))[0]["run_id"]
    assert store.queue(("started",))[0]["id"] == item
    assert reg.get(run_id).join(timeout=WAIT_S)
    assert store.get_run(run_id)["status"] == "completed" and store.get_run(run_id)["name"] == "left behind"
