"""The training loop's callbacks, each on its own: the hook order, pause, early stopping, checkpoint and live
snapshot cadences, the refit on all rows."""

from __future__ import annotations

import threading
import time

import pytest

from multilabel import train
from multilabel.callbacks import Callback, Checkpoint, EarlyStopping, LiveSnapshots, Pause, Refit, Report
from pagetest import without_timing


class Recorder(Callback):
    """Writes down every hook the loop calls, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_train_begin(self, loop, info):
        self.calls.append("train_begin")

    def on_epoch_begin(self, loop, epoch):
        self.calls.append(f"epoch_begin {epoch}")

    def on_validated(self, loop, epoch, val_probs):
        self.calls.append(f"validated {epoch}")

    def on_evaluated(self, loop, epoch, val_probs, alive):
        self.calls.append(f"evaluated {epoch}")

    def on_epoch_end(self, loop, record):
        self.calls.append(f"epoch_end {record['epoch']}")

    def on_train_end(self, loop, result):
        self.calls.append(f"train_end {result.outcome}")


def test_the_loop_calls_every_hook_in_the_documented_order(small_data, make_config):
    recorder = Recorder()
    train(make_config(epochs=3, eval_every=2), small_data, callbacks=[recorder])
    assert recorder.calls == [
        "train_begin",
        "epoch_begin 1", "validated 1", "evaluated 1", "epoch_end 1",  # the first epoch always gets metrics
        "epoch_begin 2", "validated 2", "evaluated 2", "epoch_end 2",
        "epoch_begin 3", "validated 3", "evaluated 3", "epoch_end 3",  # and the last
        "train_end completed"]
    assert not recorder.wants_progress  # no clock is read per step for a callback that does not listen


def test_report_hands_progress_inside_an_epoch_only_to_a_listener_that_asks(small_data, make_config, monkeypatch):
    import multilabel.stepper as stepper
    monkeypatch.setattr(stepper, "PROGRESS_S", 0.0)
    monkeypatch.setattr(stepper, "STOP_CHECK_S", 0.0)
    progress, records = [], []
    assert not Report(on_epoch=records.append).wants_progress
    train(make_config(epochs=2, batch_size=8), small_data, callbacks=[Report(on_progress=progress.append)])
    assert progress and {p["epoch"] for p in progress} == {1, 2} and all(0 < p["step"] < p["steps"] for p in progress)


def test_early_stopping_alone_ends_the_run_as_patience_does_and_never_overrides_a_stop(small_data, make_config):
    by_config = train(make_config(epochs=40, patience=2, learning_rate=5e-2), small_data)
    by_callback = train(make_config(epochs=40, patience=0, learning_rate=5e-2), small_data,
                        callbacks=[EarlyStopping(2)])
    assert by_config.outcome == by_callback.outcome == "early_stopped"
    assert without_timing(by_callback.history) == without_timing(by_config.history)
    last = by_callback.history[-1]
    assert last["epoch"] - last["best_epoch"] == 2

    stopped = threading.Event()
    stopped.set()
    result = train(make_config(epochs=5), small_data, stop=stopped, callbacks=[EarlyStopping(1)])
    assert result.outcome == "stopped"


def test_checkpoint_offers_only_within_its_time_share_and_never_the_last_epoch(small_data, make_config):
    hourly, budgetless = [], []
    train(make_config(epochs=6), small_data, callbacks=[Checkpoint(hourly.append, every_s=3600.0)])
    assert hourly == []  # an hour never passes in a six-epoch run
    # share 0: the first offer is free, every later one would pass a budget of 0 seconds
    result = train(make_config(epochs=6), small_data, callbacks=[Checkpoint(budgetless.append, every_s=0.0,
                                                                            share=0.0)])
    (offer,) = budgetless
    assert offer.metrics["partial"] is True and offer.metrics["epoch"] == 1 < len(result.history)


def test_live_snapshots_always_get_the_first_and_last_epoch_and_otherwise_keep_to_their_share(small_data,
                                                                                            make_config):
    free, none_between = LiveSnapshots(lambda live: None, every_s=0.0, share=1e9), []
    result = train(make_config(epochs=5, eval_every=1), small_data,
                   callbacks=[free, LiveSnapshots(lambda live: none_between.append(live.epoch), every_s=0.0,
                                                  share=0.0)])
    assert free.offers == 5 and none_between == [1, 5] and len(result.history) == 5


def test_pause_holds_the_run_before_its_next_epoch_and_changes_no_number(small_data, make_config):
    config = make_config(epochs=4)
    pause = threading.Event()
    progress, waited = [], []

    def pause_after_epoch_2(record):
        if record["epoch"] == 2:
            pause.set()
            threading.Timer(0.3, pause.clear).start()
            waited.append(time.perf_counter())

    held = train(config, small_data, on_epoch=pause_after_epoch_2, on_progress=progress.append,
                 callbacks=[Pause(pause, poll_s=0.01)])
    assert held.history[2]["epoch"] == 3 and time.perf_counter() - waited[0] >= 0.3
    steps = -(-held.info["n_train"] // 32)
    assert progress == [{"epoch": 3, "step": 0, "steps": steps, "paused": True}]  # once, when the wait begins
    assert without_timing(held.history) == without_timing(train(config, small_data).history)


def test_a_stop_while_paused_ends_the_run_at_the_epoch_it_was_paused_after(small_data, make_config):
    pause, stop = threading.Event(), threading.Event()

    def pause_after_epoch_2(record):
        if record["epoch"] == 2:
            pause.set()
            threading.Timer(0.2, stop.set).start()

    result = train(make_config(epochs=5), small_data, stop=stop, on_epoch=pause_after_epoch_2,
                   callbacks=[Pause(pause, poll_s=0.01)])
    assert result.outcome == "stopped" and len(result.history) == 2 and result.resume.epoch == 2


def test_refit_says_its_plan_and_each_epoch_and_is_left_out_when_a_stop_is_asked(small_data, make_config):
    config = make_config(epochs=4, refit="all")
    plans, epochs = [], []
    result = train(config, small_data, callbacks=[Refit(plans.append, epochs.append)])
    (plan,) = plans
    assert plan["epochs"] == result.best_epoch and plan["rows"] == small_data.num_rows and plan["expected_s"] > 0
    assert epochs == list(range(1, result.best_epoch + 1))
    assert result.info["refit"]["epochs"] == result.best_epoch and result.trained.metrics["rows"] == 400

    stop = threading.Event()
    stopped_after = train(config, small_data, stop=stop, on_epoch=lambda r: r["epoch"] == 4 and stop.set(),
                          callbacks=[Refit(plans.append)])
    assert stopped_after.outcome == "completed" and "refit" not in stopped_after.info and len(plans) == 1
    assert "refit_stopped" not in stopped_after.info  # stopped before the refit began: there was none to cut

    # A stop during the refit: the run's own model is kept, and the info says how far the refit got.
    stop = threading.Event()
    cut = train(config, small_data, stop=stop, callbacks=[Refit(plans.append, lambda e: e == 1 and stop.set())])
    assert cut.outcome == "completed" and "refit" not in cut.info and "rows" not in cut.trained.metrics
    assert cut.info["refit_stopped"] == {"epochs": cut.best_epoch, "done": 1, "rows": 400}


@pytest.mark.parametrize("hook", ["on_train_begin", "on_epoch_end"])
def test_an_error_in_a_callback_reaches_the_caller(small_data, make_config, hook):
    class Broken(Callback):
        pass

    def fail(*args):
        raise RuntimeError("listener broke")

    broken = Broken()
    setattr(broken, hook, fail)
    with pytest.raises(RuntimeError, match="listener broke"):
        train(make_config(epochs=2), small_data, callbacks=[broken])
