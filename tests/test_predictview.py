"""The Predict page's decisions (multilabel/predictview.py): the models it offers, the scored file's own labels,
the notes it shows, the table's column widths; and how it words a model (app_pages._words.model_label)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from multilabel import TrainConfig, make_synthetic
from multilabel.predictview import (PREDICTED, column_widths, file_labels, header_px, model_choices,
                                   notes_to_show, predicted_column, shown_frame)
from multilabel.session import get_registry

from app_pages._words import model_label


def test_models_are_the_runs_with_a_checkpoint_with_their_best_score(home):
    registry = get_registry(home)
    config = TrainConfig(input_size=4, hidden_size=8, num_outputs=2, epochs=3, patience=0, seed=0).validate()
    session = registry.start(config, make_synthetic(120, 4, 2, seed=0), name="small")
    assert session.join(timeout=120) and session.snapshot()["status"] == "completed"
    models = model_choices(registry.store, "search:")
    assert list(models) == [session.run_id]
    model = models[session.run_id]
    stored = registry.store.get_run(session.run_id)
    assert model["what"] == "run" and model["checkpoint"] == stored["checkpoint"]
    assert model["micro_f1"] == stored["best"]["micro_f1"] and model["data"]["source"] == "synthetic"
    assert model_label(model) == f"small · synthetic · completed · val micro-F1 {stored['best']['micro_f1']:.3f}"


def test_an_ensemble_reads_as_the_search_counts_it():
    # the name as the README and the URL give it (search:<study>), the score as the Search page estimates it
    ensemble = {"what": "ensemble", "study": "s1", "members": 5, "seeds": 3, "micro_f1": 0.79, "micro_f1_sd": 0.0123,
                "estimated": True, "data": {"source": "csv", "name": "emotions.csv", "rows": 593}}
    assert model_label(ensemble) == ("search:s1 · emotions.csv · ensemble of 15 nets (5 configurations × 3 seeds) · "
                                     "estimated micro-F1 0.790 ± 0.012")
    assert model_label({**ensemble, "micro_f1_sd": None}).endswith("· estimated micro-F1 0.790")  # one fold
    assert model_label({**ensemble, "members": 1, "seeds": 1, "micro_f1": math.nan, "micro_f1_sd": None,
                        "estimated": False}).startswith(
        "search:s1 · emotions.csv · best model · CV micro-F1 nan")  # a search from before estimates: its best trial's


def test_a_file_with_the_models_label_columns_gives_them_and_bad_ones_say_why():
    frame = pd.DataFrame({"x": [0.1, 0.2, 0.3], "a": [0, 1, 1], "b": [1, 0, 1]})
    truth, problem = file_labels(frame, ["a", "b"], "'t.csv'")
    np.testing.assert_array_equal(truth, [[0, 1], [1, 0], [1, 1]])
    assert problem is None
    assert file_labels(frame, ["a", "c"], "'t.csv'") == (None, None)  # not every label: no analysis, no complaint
    bad = frame.assign(b=[1, 7, 0])
    truth, problem = file_labels(bad, ["a", "b"], "'t.csv'")
    assert truth is None and "'b'" in problem and "'t.csv'" in problem


def test_the_left_out_label_columns_note_goes_only_where_the_labels_are_compared():
    from multilabel.predict import left_out_note

    for replaced in (["a"], ["a", "b"]):  # the note as predict writes it, in either number
        notes = [left_out_note(replaced, "'t.csv'"), "no column of 't.csv' has a feature name"]
        assert notes_to_show(notes, has_labels=False) == notes
        assert notes_to_show(notes, has_labels=True) == notes[1:]


def test_probability_columns_are_as_wide_as_their_headers_and_the_predicted_labels_take_the_rest():
    # short names: the predicted labels get their widest, the probability bars share the rest
    assert column_widths(1, ["a", "b", "c"], 930) == (100, 360, [90 + (930 - 100 - 270 - 360) // 3] * 3)
    # many labels: each bar at least its header (or 90 px), the predicted labels at least 160 px; the table scrolls
    assert column_widths(5, list("abcdefgh"), 930) == (100, 160, [90] * 8)


EMOTIONS = ["amazed-suprised", "happy-pleased", "relaxing-calm", "quiet-still", "sad-lonely", "angry-aggresive"]


def test_emotions_headers_fit_whole_and_the_table_still_fits_the_page():
    _, predicted, probs = column_widths(0, EMOTIONS, 930)
    assert all(px >= header_px(n) for px, n in zip(probs, EMOTIONS))  # no header cut short (the walk saw "amazed-s")
    assert predicted + sum(probs) <= 930 and predicted >= header_px("happy-pleased, relaxing-calm")
    long = [f"a label with a long name {j}" for j in range(6)]
    assert column_widths(0, long, 930)[2] == [header_px(n) for n in long]  # wider than the page: it scrolls


def test_the_shown_table_names_each_rows_predicted_labels_then_the_probabilities():
    result = pd.DataFrame({"id": [7, 8, 9], "a_prob": [0.9, 0.1, 0.6], "a": [1, 0, 1],
                           "b_prob": [0.7, 0.2, 0.1], "b": [1, 0, 0]})
    shown = shown_frame(result, ["id"], ["a", "b"], "_prob")
    assert list(shown.columns) == ["id", PREDICTED, "a_prob", "b_prob"]
    assert shown[PREDICTED].tolist() == ["a, b", "(none)", "a"]
    assert shown["a_prob"].tolist() == [0.9, 0.1, 0.6]
    # a file with its own "predicted labels" column keeps it, beside the model's
    own = result.rename(columns={"id": PREDICTED})
    assert list(shown_frame(own, [PREDICTED], ["a", "b"], "_prob").columns) == [
        PREDICTED, predicted_column([PREDICTED]), "a_prob", "b_prob"] and predicted_column([PREDICTED]) != PREDICTED


def test_the_training_rows_note_knows_the_rows_under_any_name_and_in_any_order(emotions_csv, emotion_labels):
    # The walk: the same rows as emotions_bom.csv got no word (the note went by the file name alone).
    from multilabel.data import load_csv, read_csv, stored_description
    from multilabel.predictview import scored_fingerprint, training_rows_note

    trained_on = stored_description(load_csv(emotions_csv, emotion_labels))  # as a run stores it
    frame = read_csv(emotions_csv)  # as the page reads an upload
    features = [c for c in frame.columns if c not in emotion_labels]
    shuffled = frame.sample(frac=1.0, random_state=0)
    shuffled.insert(0, "clip", range(len(frame)))  # a pass-through column changes nothing
    truth, _ = file_labels(shuffled, emotion_labels, "'emotions_bom.csv'")
    note = training_rows_note(trained_on, "emotions_bom.csv", len(frame),
                              scored_fingerprint(shuffled, features, truth))
    assert note and note.startswith("'emotions_bom.csv' holds the same 593 rows as the data this model was trained "
                                    "on ('emotions.csv'): ") and "optimistic" in note
    held_out = frame.iloc[:500]  # the training file's name, other rows: no word
    truth, _ = file_labels(held_out, emotion_labels, "'emotions.csv'")
    assert training_rows_note(trained_on, "emotions.csv", 500, scored_fingerprint(held_out, features, truth)) is None
    changed = frame.copy()
    changed.loc[7, features[0]] += 1.0  # one cell differs: other rows
    truth, _ = file_labels(changed, emotion_labels, "'emotions.csv'")
    assert training_rows_note(trained_on, "emotions.csv", 593, scored_fingerprint(changed, features, truth)) is None
    assert scored_fingerprint(frame, features, None) is None  # no labels, no fingerprint (and no comparison)


def test_a_run_from_before_fingerprints_falls_back_to_the_file_name_and_row_count():
    from multilabel.predictview import training_rows_note

    # The command line stored the path as typed; the note compares the file's name.
    old = {"source": "csv", "name": "/tmp/walk14/tests/data/emotions.csv", "rows": 593, "labels": ["a"]}
    note = training_rows_note(old, "emotions.csv", 593, "0" * 24)
    assert note and note.startswith("'emotions.csv' has the name and the 593 rows of the data this model was trained "
                                    "on: ")
    assert training_rows_note(old, "emotions.csv", 592, None) is None
    assert training_rows_note(old, "emotions_bom.csv", 593, None) is None
    assert training_rows_note({"source": "synthetic", "rows": 593}, "emotions.csv", 593, None) is None
    assert training_rows_note(None, "emotions.csv", 593, None) is None
