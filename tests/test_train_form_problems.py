"""The Train page: a one-row table is said as soon as it is there, a link to a run that
is not in the store is said, every bad number is named on Start, and a link key the page does not read is said (with
the key meant) and dropped from the URL."""

from __future__ import annotations

import pandas as pd
import pytest

from multilabel import MultilabelError
from multilabel.engine import split_indices
from multilabel.trainview import DataChoice

from app_pages._nav import PAGES
from app_pages._shared import plain
from pagetest import open_page, shown

TRAIN = PAGES["Train"]
ONE_ROW = ("onerow.csv", b"f1,f2,a,b\n0.5,1.5,1,0\n", "text/csv")


def flat(params) -> dict[str, str]:
    return {k: v[0] if isinstance(v, list) else v for k, v in dict(params).items()}


# -- 2: a one-row table -------------------------------------------------------------------------------------------

def test_a_one_row_table_is_a_problem_of_the_choice_in_one_line_with_1_data_row():
    frame = pd.DataFrame({"f1": [0.5], "a": [1], "b": [0]})
    problem = DataChoice("csv", 1, 1, frame=frame, labels=["a", "b"], name="onerow.csv").problem()
    assert problem == ("'onerow.csv' has 1 data row; training needs at least 2 (one to train, one to validate); "
                       "add rows")
    two = DataChoice("csv", 1, 1, frame=pd.concat([frame, frame]), labels=["a", "b"], name="two.csv")
    assert two.problem() is None


def test_the_row_counts_say_1_row_not_row_s():
    with pytest.raises(MultilabelError, match=r"the data has 1 row; "):
        split_indices(1, 0.2, seed=0)
    with pytest.raises(MultilabelError, match=r"the data has 0 rows; "):
        split_indices(0, 0.2, seed=0)


def test_a_one_row_upload_is_said_at_once_and_its_size_line_says_1_row(home):
    at = open_page(TRAIN)
    at.radio(key="source").set_value("Upload CSV").run()
    at.file_uploader(key="train_csv").set_value(ONE_ROW).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "onerow.csv: 1 row × 4 columns (kept until you upload another file)" in [shown(c.value) for c in at.caption]
    errors = [e.value for e in at.error]
    assert [shown(e) for e in errors] == [("'onerow.csv' has 1 data row; training needs at least 2 (one to train, one to validate); "
                            "add rows")]  # before Start, as the file's other problems
    assert not at.warning, [w.value for w in at.warning]  # no "is 0 in every row" of each label above it


# -- 4: a link to a run that is not in the store ------------------------------------------------------------------

def test_a_link_to_a_run_not_in_the_store_says_so_and_drops_it_from_the_url(home):
    at = open_page(TRAIN, run="nosuch", epochs="30")
    assert not at.exception, [e.value for e in at.exception]
    said = [shown(w.value) for w in at.warning]
    assert said == ["No run named nosuch in this run store; set the data and knobs below to start a new one."]
    assert "run" not in flat(at.query_params) and flat(at.query_params)["epochs"] == "30"
    at.run()  # the arrival's second run (the browser's, once Start is drawn) keeps saying it
    assert [shown(w.value) for w in at.warning] == said
    assert "run_id" not in at.session_state


# -- 5: every number out of range is named on Start ---------------------------------------------------------------

def test_start_with_several_numbers_out_of_range_names_every_one(home):
    at = open_page(TRAIN)
    at.number_input(key="syn_samples").set_value(5_000_000)
    at.number_input(key="exact_hidden_size_0").set_value(5000)
    at.number_input(key="eval_every").set_value(-2).run()
    assert len(at.error) == 3
    at.button(key="start").click().run()
    not_started = [shown(e.value) for e in at.error if e.value.startswith("Not started")]
    assert len(not_started) == 1
    for part in ("Samples: 5,000,000 is not between 50 and 2,000,000", "Hidden size: 5,000 is not between",
                 "Metrics every N epochs (0 = auto): -2 is not between 0 and 1,000"):
        assert part in not_started[0], not_started[0]
    assert "run_id" not in at.session_state


# -- 6: a key the page does not read ------------------------------------------------------------------------------

def test_an_unknown_link_key_names_the_key_meant_and_leaves_the_url():
    from multilabel.trainview import close_key, unknown_key_line

    keys = ["learning_rate", "hidden_size", "epochs", "weight_decay", "batch_size", "samples", "noise", "seed"]
    assert [close_key(k, keys) for k in ("lr", "--lr", "LR", "learning-rate", "hidden", "epoch", "wd", "bs",
                                         "syn_samples", "nosie", "foo")] == [
        "learning_rate", "learning_rate", "learning_rate", "learning_rate", "hidden_size", "epochs", "weight_decay",
        "batch_size", "samples", "noise", None]
    assert unknown_key_line("lr", "abc", {"learning_rate": "Learning rate"}) == (
        "lr='abc' in the link was ignored: it is not a setting a link can carry; did you mean learning_rate= "
        "(Learning rate)?")


def test_a_link_with_lr_says_the_key_is_learning_rate_and_drops_lr_from_the_url(home):
    at = open_page(TRAIN, epochs="2000", lr="abc")
    assert not at.exception, [e.value for e in at.exception]
    said = [shown(w.value) for w in at.warning]
    assert said == ["lr='abc' in the link was ignored: it is not a setting a link can carry; did you mean "
                    "learning_rate= (Learning rate)?"]
    assert flat(at.query_params) == {"epochs": "2000"}
    bad_value = open_page(TRAIN, epochs="abc")  # a known key with a bad value leaves too
    assert "epochs" not in flat(bad_value.query_params) and len(bad_value.warning) == 1


def test_a_loaded_form_keeps_whole_number_boxes_whole(home):
    """load() puts a run's values into the widgets' keys: the Seed box drawn from its key came back as 0.00."""
    at = open_page(TRAIN, epochs="40", samples="3000", seed="7")
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    boxes = {n.label: n for n in at.number_input}
    assert boxes["Samples"].value == 3000 and boxes["Seed"].value == 7
    for label in ("Samples", "Seed", "Metrics every N epochs (0 = auto)"):
        assert boxes[label].proto.data_type == boxes[label].proto.INT and boxes[label].proto.format == "%d", label
