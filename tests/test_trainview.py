"""The Train page's decisions (multilabel/trainview.py): the data its form describes, the command line's data
description, the data a Continue needs, ETA and refit estimates, when the live view polls and redraws, the queue."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from multilabel import MultilabelError, TrainConfig
from multilabel.jobs import train_command
from multilabel.data import make_synthetic
from multilabel.refit import refit_expected_s
from multilabel.session import RunView
from multilabel.trainview import (LABELS_POLL_FACTOR, DataChoice, can_continue, continue_data, data_from_query,
                                  data_to_query, eta_s, first_epoch_fraction, labels_poll_s, page_outdated, poll_s,
                                  queue_busy, queue_position, refit_eta_range, samples_per_s, started_from_queue)


def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40), "c": rng.normal(size=40),
                         "y1": rng.integers(0, 2, 40), "y2": rng.integers(0, 2, 40)})


def config_for(input_size: int, num_outputs: int) -> TrainConfig:
    return TrainConfig(input_size=input_size, num_outputs=num_outputs, seed=3, epochs=4).validate()


def view(**fields) -> RunView:
    base = dict(run_id="r1", status="running", history=[], epoch=0, epochs=10,
                config={"input_size": 3, "hidden_size": 8, "num_outputs": 2, "learning_rate": 1e-3, "device": "cpu"})
    return RunView(**{**base, **fields})


def record(epoch: int, duration_s: float = 2.0, best_epoch: int = 1, samples_per_s: float = 100.0) -> dict:
    return {"epoch": epoch, "duration_s": duration_s, "best_epoch": best_epoch, "samples_per_s": samples_per_s,
            "train_loss": 0.5, "val_loss": 0.6}


def test_synthetic_choice_builds_the_seeded_data_the_form_sizes_describe():
    data, config = DataChoice("synthetic", 7, 3, rows=120, noise=0.2).build(config_for)
    assert (config.input_size, config.num_outputs) == (7, 3)
    assert data.X.shape == (120, 7) and data.Y.shape == (120, 3)
    same = make_synthetic(120, 7, 3, noise=0.2, seed=3)
    np.testing.assert_array_equal(data.X, same.X)
    np.testing.assert_array_equal(data.Y, same.Y)


def test_the_data_settings_round_trip_through_a_links_query_and_bad_ones_are_said():
    assert data_to_query("synthetic", 2000, 0.1) == {}  # the defaults: a short link
    query = data_to_query("synthetic", 3000, 0.15)
    assert query == {"samples": "3000", "noise": "0.15"}
    assert data_from_query(query) == ({"samples": 3000, "noise": 0.15}, [])
    assert data_to_query("csv", 2000, 0.1) == {"source": "csv"}
    assert data_from_query({"source": "csv", "epochs": "9"}) == ({"source": "csv"}, [])  # TrainConfig's are not
    assert data_from_query({"noise": "0.13"})[0] == {"noise": 0.15}  # onto the slider's steps
    values, problems = data_from_query({"source": "s3", "samples": "3e3", "noise": "nan"})
    assert values == {} and problems == [
        "source='s3' in the link was ignored (it must be synthetic or csv)",
        "samples='3e3' in the link was ignored (the number of samples must be a whole number from 50 to 2,000,000)",
        "noise='nan' in the link was ignored (label noise must be a number from 0 to 2)"]
    assert data_from_query({"samples": "10", "noise": "2.5"})[0] == {}


def test_the_samples_per_s_shown_is_the_last_whole_epochs_while_training_and_the_runs_mean_once_ended():
    # A walk: 112,630 samples/s while it trained, then 16,952 after Stop: the pace of the 0.36 s epoch Stop cut short
    history = [record(e, duration_s=1.0, samples_per_s=110_000.0) for e in (1, 2)]
    history.append(record(3, duration_s=3.0, samples_per_s=112_630.0))
    assert samples_per_s(history, alive=True) == 112_630.0
    stopped = history + [{**record(4, duration_s=0.36, samples_per_s=16_952.0), "partial": True}]
    assert samples_per_s(stopped, alive=True) == 112_630.0  # stopping: the pace before the cut
    # Ended: rows over seconds of the whole epochs (2 x 110,000 + 3 x 112,630) / 5 s, the partial one left out
    assert samples_per_s(stopped, alive=False) == pytest.approx((2 * 110_000 + 3 * 112_630) / 5)
    # A completed run whose last epoch was slow (a walk: 16,162) is read by all its epochs
    completed = history + [record(4, duration_s=1.0, samples_per_s=16_162.0)]
    assert samples_per_s(completed, alive=False) == pytest.approx((2 * 110_000 + 3 * 112_630 + 16_162) / 6)
    assert samples_per_s([], alive=True) is None
    assert samples_per_s([{**record(1, duration_s=0.2, samples_per_s=900.0), "partial": True}], alive=False) is None


def test_csv_choice_builds_from_the_table_and_sizes_the_config_by_its_columns():
    data, config = DataChoice("csv", 10, 5, frame=table(), labels=["y1", "y2"], name="t.csv").build(config_for)
    assert data.X.shape == (40, 3) and data.Y.shape == (40, 2)
    assert (config.input_size, config.num_outputs) == (3, 2)


def test_a_csv_choice_says_what_start_would_refuse_before_start():
    good = DataChoice("csv", 10, 5, frame=table(), labels=["y1", "y2"], name="t.csv")
    assert good.problem() is None
    texty = table().assign(x1=["a"] + [0.5] * 39)
    bad = DataChoice("csv", 10, 5, frame=texty, labels=["y1", "y2"], name="t.csv")
    assert "feature column 'x1'" in bad.problem() and "not numeric" in bad.problem()
    with pytest.raises(MultilabelError, match="not numeric"):  # the same refusal as Start's
        bad.build(config_for)
    # nothing to check yet, or nothing a file can get wrong
    assert DataChoice("csv", 10, 5, frame=table(), name="t.csv").problem() is None
    assert DataChoice("synthetic", 7, 3, rows=120).problem() is None


@pytest.mark.parametrize("choice, message", [
    (DataChoice("csv", 10, 5), "upload a CSV first"),
    (DataChoice("csv", 10, 5, frame=table(), name="t.csv"), "choose at least one label column"),
])
def test_an_incomplete_csv_choice_says_what_is_missing(choice, message):
    with pytest.raises(MultilabelError, match=message):
        choice.build(config_for)


def test_the_command_lines_data_uses_placeholders_for_what_the_dashboard_does_not_know():
    nothing = DataChoice("csv", 10, 5)
    assert nothing.shape() == (10, 5)
    assert nothing.description() == {"source": "csv", "name": "YOUR_FILE.csv", "labels": ["LABEL_COLUMNS"]}
    unlabelled = DataChoice("csv", 10, 5, frame=table(), name="t.csv")
    assert unlabelled.shape() == (5, 5)  # every column a feature until labels are chosen
    chosen = DataChoice("csv", 10, 5, frame=table(), labels=["y1", "y2"], name="t.csv")
    assert chosen.shape() == (3, 2)
    line = train_command(config_for(*chosen.shape()), chosen.description())
    assert "--data t.csv --labels y1,y2" in line
    synthetic = DataChoice("synthetic", 7, 3, rows=500, noise=0.25)
    assert synthetic.shape() == (7, 3)
    assert "--synthetic --samples 500 --noise 0.25" in train_command(config_for(7, 3), synthetic.description())


def test_continue_regenerates_synthetic_data_and_needs_a_csv_runs_table_uploaded_again():
    assert continue_data({"source": "synthetic", "rows": 100}, None) is None
    assert continue_data(None, None) is None
    with pytest.raises(MultilabelError, match="upload 'songs.csv' again"):
        continue_data({"source": "csv", "name": "songs.csv", "labels": ["y1"]}, None)
    data = continue_data({"source": "csv", "name": "songs.csv", "labels": ["y2"]},
                         {"frame": table(), "name": "songs.csv"})
    assert data.Y.shape == (40, 1) and data.X.shape == (40, 4)  # the run's labels, not the page's choice


def test_only_an_ended_run_with_resume_state_can_continue():
    assert can_continue(view(status="completed", info={"resumable": True}))
    assert can_continue(view(status="stopped", info={"resumable": True}))
    assert not can_continue(view(status="completed"))
    assert not can_continue(view(status="failed", info={"resumable": True}))
    assert not can_continue(view(status="running", alive=True, info={"resumable": True}))


def test_eta_is_the_average_epoch_time_times_the_epochs_left():
    assert eta_s([], 10) == 0.0
    assert eta_s([record(1, 2.0), record(2, 4.0)], 10) == pytest.approx(3.0 * 8)


def test_refit_estimate_only_for_a_live_run_that_will_refit_and_has_not_started_it():
    history = [record(1, best_epoch=1), record(2, best_epoch=2)]
    info = {"n_train": 80, "n_val": 20}
    cfg = {**view().config, "refit": "all"}
    # from the best epoch so far to the run's last epoch (a walk read '≥ 2 s' of a refit that took 104 s)
    live = view(alive=True, history=history, info=info, config=cfg)
    assert refit_eta_range(live) == (pytest.approx(refit_expected_s(history, 100, 2)),
                                     pytest.approx(refit_expected_s(history, 100, live.epochs)))
    assert refit_eta_range(live)[1] == pytest.approx(refit_eta_range(live)[0] * 5)  # 10 epochs against 2
    assert refit_eta_range(view(alive=False, history=history, info=info, config=cfg)) is None
    assert refit_eta_range(view(alive=True, history=history, info=info)) is None  # no refit
    refitting = {**info, "refitting": {"rows": 100, "epochs": 2}}
    assert refit_eta_range(view(alive=True, history=history, info=refitting, config=cfg)) is None


def test_first_epoch_fraction_follows_the_in_epoch_progress():
    assert first_epoch_fraction(view()) == 0.0
    assert first_epoch_fraction(view(progress={"step": 3, "steps": 12})) == 0.25


def test_the_live_view_polls_fast_for_the_first_epoch_and_slower_with_more_runs():
    assert poll_s(False, 3, False, 0.7, 3.0, 0.2) is None
    assert poll_s(True, 1, True, 0.7, 3.0, 0.2) == 0.2
    assert poll_s(True, 0, False, 0.7, 3.0, 0.2) == 0.7
    assert poll_s(True, 2, False, 0.7, 3.0, 0.2) == pytest.approx(1.4)
    # The per-label charts follow at a slower cadence, and stop with the curves.
    assert labels_poll_s(None) is None
    assert labels_poll_s(0.7) == pytest.approx(0.7 * LABELS_POLL_FACTOR) and LABELS_POLL_FACTOR > 1
    # Paused (or pausing): the per-label charts keep up with the curves, to the epoch the run paused at (the walk
    # saw "(epoch 14)" under a run paused at 24 for seconds).
    assert labels_poll_s(0.7, held=True) == pytest.approx(0.7) and labels_poll_s(None, held=True) is None
    assert poll_s(True, 9, False, 0.7, 3.0, 0.2) == 3.0


def test_the_whole_page_redraws_when_the_run_ends_starts_its_curves_or_pauses():
    assert page_outdated(view(alive=False), was_live=True, waiting=False, held=False)
    assert page_outdated(view(alive=True, history=[record(1)]), was_live=True, waiting=True, held=False)
    assert page_outdated(view(alive=True, paused=True), was_live=True, waiting=False, held=False)
    assert page_outdated(view(alive=True), was_live=True, waiting=False, held=True)  # resumed
    assert not page_outdated(view(alive=True, history=[record(1)]), was_live=True, waiting=False, held=False)
    assert not page_outdated(view(alive=False), was_live=False, waiting=False, held=False)


def test_queue_position_counts_from_one_and_is_none_once_started():
    queued = [{"id": 4}, {"id": 7}]
    assert queue_position(queued, 7) == 2
    assert queue_position(queued, 9) is None
    # first in line with no run training: the registry starts it now, it has no place to wait at
    assert queue_position(queued, 4) == 1 and queue_position(queued, 4, training=False) is None
    assert queue_position(queued, 7, training=False) == 2


def test_the_queue_box_follows_waiting_items_and_the_runs_it_started_until_they_end():
    started = [{"run_id": "a"}, {"run_id": None}, {"run_id": "b"}]
    assert queue_busy([{"id": 1}], [], [])  # an item waits
    assert queue_busy([], started, ["b", "z"])  # nothing waits, but a run it started trains: its status will change
    assert not queue_busy([], started, ["z"])  # every run it started has ended: nothing to follow


def test_started_from_queue_lists_this_sessions_newest_started_or_failed_items(store):
    data = make_synthetic(50, 3, 2, seed=0)
    arrays = {"X": data.X, "Y": data.Y}
    ids = [store.enqueue({"epochs": 1}, {"source": "synthetic"}, arrays, started_by=by)
           for by in ("me", "me", "other", "me", "me", "me")]
    store.queued_started(ids[0], run_id="run-a")
    store.queued_started(ids[1], error="no room")
    store.queued_started(ids[2], run_id="run-other")
    store.queued_started(ids[3], run_id="run-d")
    store.queued_started(ids[4], run_id="run-e")  # ids[5] still waits
    assert [q["id"] for q in started_from_queue(store, "me")] == [ids[1], ids[3], ids[4]]
    assert [q["id"] for q in started_from_queue(store, "me", last=5)] == [ids[0], ids[1], ids[3], ids[4]]
    # with each run's status now: none for a run that is not in the store (these ids never were) or never started
    real = store.create_run(TrainConfig().to_dict(), {"source": "synthetic", "rows": 50})
    store.finish(real, "completed")
    late = store.enqueue({"epochs": 1}, {"source": "synthetic"}, arrays, started_by="me")
    store.queued_started(late, run_id=real)
    assert [q["run_status"] for q in started_from_queue(store, "me")] == [None, None, "completed"]


def test_more_epochs_offers_the_rest_of_a_stopped_run_and_what_a_full_one_planned():
    from multilabel.trainview import more_epochs_default
    cfg = {"epochs": 200}
    assert more_epochs_default(view(status="stopped", config=cfg, info={"resumable": 125})) == 75  # the rest
    assert more_epochs_default(view(status="completed", config=cfg, info={"resumable": 200})) == 200
    # A continued run of 250 = its parent's 200 + 50 of its own: 50 again, not 250
    child = view(status="completed", config={"epochs": 250}, info={"resumable": 250}, continued_from="p")
    assert more_epochs_default(child, {"resumable": 200}) == 50
    assert more_epochs_default(view(status="stopped", config={"epochs": 250}, info={"resumable": 230},
                                    continued_from="p"), {"resumable": 200}) == 20
