"""Page wording (app_pages/_words.py): library messages without command-line flags, statuses, owners, notes."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from app_pages._words import for_page, notes_lines, owner_line, rows_line, status_word
from multilabel import MultilabelError, TrainConfig
from multilabel.data import dataset_from_frame


def test_the_library_message_for_no_labels_reads_in_page_words():
    frame = pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]})
    with pytest.raises(MultilabelError) as err:
        dataset_from_frame(frame, [])
    assert "--labels" in str(err.value)  # the CLI's wording, which the page must not show
    shown = for_page(str(err.value))
    assert "--" not in shown and "'Label columns'" in shown


def test_a_device_message_reads_in_page_words():
    with pytest.raises(MultilabelError) as err:
        TrainConfig(device="mps").validate() if "mps" not in __import__("multilabel").available_devices() \
            else pytest.skip("this machine has an MPS device")
    shown = for_page(str(err.value))
    assert "--" not in shown and "Device 'auto'" in shown


@pytest.mark.parametrize("raw,word", [("early_stopped", "stopped early"), ("completed", "completed"),
                                      ("running", "running"), ("some_new_state", "some new state")])
def test_statuses_read_as_words(raw, word):
    assert status_word(raw) == word


def test_owner_lines_tell_this_session_from_another_and_the_cli():
    me = "browser session aaaaaa"
    at = 1_700_000_000.0
    assert owner_line(SimpleNamespace(started_by=me, started_at=at), me).startswith("started by this browser session at ")
    assert owner_line(SimpleNamespace(started_by="browser session bbbbbb", started_at=at), me).startswith(
        "started by another browser session at ")
    assert owner_line(SimpleNamespace(started_by="CLI pid 12 on box", started_at=at), me).startswith(
        "started from the command line at ")


def test_notes_and_rows_lines():
    # Stored: who it was; said: whether it was this browser (a walk read "stopped by browser session f11c28")
    note = [{"at": 1_700_000_000.0, "text": "stopped by browser session 1a2b3c"}]
    assert notes_lines(note, me="browser session 1a2b3c")[0].endswith("): stopped by this browser session")
    assert notes_lines(note, me="browser session 999999")[0].endswith("): stopped by another browser session")
    assert notes_lines(note, None)[0].endswith("): stopped by another browser session")  # no browser: not this one
    cli = [{"at": 1_700_000_000.0, "text": "stopped by the dashboard's server as it shut down"}]
    assert notes_lines(cli, None)[0].endswith("): stopped by the dashboard's server as it shut down")
    assert rows_line({}, alive=True) == "preparing data…"
    assert rows_line({"n_train": 1600, "n_val": 400}, alive=True) == "1,600 training / 400 validation rows"
    assert "?" not in rows_line({}, alive=False)


def test_batch_words_say_the_size_used_never_batch_0():
    from app_pages._words import batch_words

    assert batch_words({"batch_size": 64}, {"batch_size": 64}) == "batch 64"
    assert batch_words({"batch_size": 0}, {"batch_size": 100}) == "batch 100 (auto)"
    assert batch_words({"batch_size": 0}, {}) == "batch auto"  # before the worker has resolved it


def test_trial_counts_keep_waiting_trials_apart_and_importance_says_what_to_do():
    from app_pages._words import importance_wait_words, trial_counts

    assert trial_counts({"RUNNING": 1, "WAITING": 1, "COMPLETE": 2}) == "2 complete · 1 running · 1 waiting"
    # an ended search: its waiting trials were not run, a running one was cut off
    assert trial_counts({"RUNNING": 1, "WAITING": 3, "COMPLETE": 1}, alive=False) == (
        "1 complete · 1 cut off · 3 not run")
    assert trial_counts({"FAIL": 1, "PRUNED": 3}) == "3 pruned · 1 failed"
    assert trial_counts({}) == ""
    ended = importance_wait_words(6, 8, alive=False)
    assert ended.startswith("This search completed 6 trials: hyperparameter importance needs 8") and "budget" in ended
    assert "6 so far" in importance_wait_words(6, 8, alive=True)


def run_view(**fields):
    from multilabel.session import RunView

    base = dict(run_id="r1", status="running", history=[], epoch=3, epochs=20, alive=True,
                config={"input_size": 10, "hidden_size": 64, "num_outputs": 5, "learning_rate": 1e-3,
                        "device": "cpu", "batch_size": 100})
    return RunView(**{**base, **fields})


def test_the_run_line_says_what_the_run_is_doing_now():
    from app_pages._words import run_state_words

    assert run_state_words(run_view()) == "**running**"
    assert run_state_words(run_view(stopping=True)) == "**running** (stopping…)"
    assert run_state_words(run_view(paused=True)) == "**paused** at epoch 3"
    assert run_state_words(run_view(pausing=True)) == "**running** (pausing after epoch 4…)"
    assert run_state_words(run_view(stepping=True)) == "**running** (one more epoch, then paused…)"
    assert run_state_words(run_view(status="early_stopped", alive=False)) == "**stopped early**"


def test_setup_and_progress_lines_say_rows_shape_pace_and_eta():
    from app_pages._words import epoch_progress_words, setup_line

    info = {"n_train": 1600, "n_val": 400, "device": "cpu"}
    assert setup_line(run_view(info=info)) == ("1,600 training / 400 validation rows · 10 → 64 → 5 · lr 0.001 · "
                                               "batch 100 · device cpu")
    last = {"epoch": 4, "samples_per_s": 9000.0, "train_loss": 0.3, "val_loss": 0.31}
    assert epoch_progress_words(run_view(history=[last]), 12.0, None, 9000.0) == (
        "epoch 4/20 · 9,000 samples/s · ETA 12 s · train loss 0.3000 · val loss 0.3100")
    # the refit's time from the best epoch so far to the last epoch; under 1 s not a number
    assert "ETA 12 s + refit on all rows 5–60 s ·" in epoch_progress_words(run_view(history=[last]), 12.0,
                                                                          (5.0, 60.0), 9e3)
    assert "+ refit on all rows about 5 s ·" in epoch_progress_words(run_view(history=[last]), 12.0, (5.2, 4.9),
                                                                    9e3)
    assert "+ refit on all rows (under 1 s) ·" in epoch_progress_words(run_view(history=[last]), 12.0, (0.1, 0.3),
                                                                       9e3)
    assert "· paused ·" in epoch_progress_words(run_view(history=[last], paused=True), 12.0, None, 9e3)
    # an ended run's rate is its mean over its epochs (trainview.samples_per_s), and says so
    ended = epoch_progress_words(run_view(history=[last], alive=False), 0.0, None, 8500.0)
    assert ended == "epoch 4/20 · mean 8,500 samples/s · train loss 0.3000 · val loss 0.3100"
    # refitting after an early stop (the refit's own line gives its time), or stopping (no refit comes): no ETA
    refitting = run_view(history=[last], info={"refitting": {"rows": 2000, "epochs": 4}})
    assert epoch_progress_words(refitting, 48.0, None, 9000.0) == (
        "epoch 4/20 · 9,000 samples/s · train loss 0.3000 · val loss 0.3100")
    stopping = epoch_progress_words(run_view(history=[last], stopping=True), 71.0, (6.0, 9.0), 9000.0)
    assert "ETA" not in stopping and "refit" not in stopping and "9,000 samples/s" in stopping
    # stopped in its first epoch: no whole epoch, no rate
    assert epoch_progress_words(run_view(history=[last], alive=False), 0.0, None, None) == (
        "epoch 4/20 · train loss 0.3000 · val loss 0.3100")


def test_refit_and_final_metrics_captions():
    from app_pages._words import final_metrics_words, refitting_words, saved_model_words

    assert refitting_words({"rows": 2000, "epochs": 7, "expected_s": 4.2}) == (
        "Training done; refitting on all 2,000 rows for 7 epochs (the best epoch count, expected to take about 4 s) "
        "before saving the model…")
    assert "expected" not in refitting_words({"rows": 2000, "epochs": 7})
    assert "expected to take under 1 s)" in refitting_words({"rows": 200, "epochs": 2, "expected_s": 0.2})
    assert final_metrics_words(run_view(best={"epoch": 2})).startswith("The run did not finish")
    done = run_view(best={"thresholds": [0.3, 0.55]}, alive=False, info={"refit": {"rows": 2000, "epochs": 7}})
    assert final_metrics_words(done).startswith("Final metrics use the best epoch's weights and the per-label "
                                                "thresholds 0.30, 0.55. The saved model was then refit on all 2,000")
    assert final_metrics_words(run_view(best={"thresholds": [0.5]}, alive=False)).endswith("thresholds 0.50.")
    # Stop pressed during the refit: the run is completed, its saved model the best epoch's (not the refit's)
    cut = run_view(best={"thresholds": [0.5], "epoch": 9}, alive=False,
                   info={"refitting": {"rows": 60000, "epochs": 9}, "refit_stopped": {"rows": 60000, "epochs": 9,
                                                                                     "done": 2}})
    assert final_metrics_words(cut).endswith(
        "thresholds 0.50. The refit on all 60,000 rows was stopped after 2 of its 9 epochs, so the saved model is "
        "these best-epoch weights, trained on the training split alone.")
    assert saved_model_words(cut) == "best epoch 9 (its refit on all rows was stopped)"
    # Stopped in its epochs with Refit on all rows on: no refit came, and the caption says so
    stopped = run_view(best={"thresholds": [0.5], "epoch": 9}, alive=False, status="stopped",
                       config={"refit": "all"})
    assert final_metrics_words(stopped).endswith(
        "The run was stopped, so it was not refit on all rows: the saved model is these best-epoch weights, trained "
        "on the training split alone.")
    assert "refit" not in final_metrics_words(run_view(best={"thresholds": [0.5]}, alive=False, status="stopped",
                                                       config={"refit": "none"}))


def test_a_control_of_another_sessions_run_asks_first_and_says_what_the_note_will_say():
    from app_pages._words import control_question

    assert control_question("stop", "started by another browser session at 14:02") == (
        "This run was started by another browser session at 14:02. Stop it anyway? A note on the run will say that "
        "this browser session stopped it.")
    assert "Run one epoch of it anyway?" in control_question("step", "x")
