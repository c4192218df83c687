"""The Train page after a newcomer's walk (s16): a one-row table is said as soon as it is there, a link to a run that
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
