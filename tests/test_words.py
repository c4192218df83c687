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
    assert notes_lines([{"at": 1_700_000_000.0, "text": "stopped by browser session b"}])[0].endswith(
        "): stopped by browser session b")
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
    assert trial_counts({"FAIL": 1, "PRUNED": 3}) == "3 pruned · 1 failed"
    assert trial_counts({}) == ""
    ended = importance_wait_words(6, 8, alive=False)
    assert ended.startswith("This search completed 6 trials: hyperparameter importance needs 8") and "budget" in ended
    assert "6 so far" in importance_wait_words(6, 8, alive=True)
