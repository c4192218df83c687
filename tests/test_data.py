"""Data in: CSV checks that name the column, row and fix; label parsing; the synthetic generator; standardization."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from multilabel import MultilabelError, Standardizer, guess_label_columns, load_csv, make_synthetic, read_csv
from multilabel.data import features_array, match_labels


def load_error(write_csv, content, labels="y*") -> str:
    path = write_csv(content, "bad.csv")
    with pytest.raises(MultilabelError) as info:
        load_csv(path, labels)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- good files ------------------------------------------------------------------------------------------------------

def test_load_csv_splits_features_and_labels_in_file_order(write_csv):
    path = write_csv("a,y2,b,y1\n1,0,2.5,1\n3,1,-4,0\n")
    data = load_csv(path, "y*")
    assert data.feature_names == ["a", "b"]
    assert data.label_names == ["y2", "y1"]
    assert data.X.dtype == np.float32 and data.Y.dtype == np.float32
    np.testing.assert_array_equal(data.X, [[1, 2.5], [3, -4]])
    np.testing.assert_array_equal(data.Y, [[0, 1], [1, 0]])
    assert data.description["rows"] == 2 and data.description["labels"] == ["y2", "y1"]


@pytest.mark.parametrize("cells", [
    ("true", "false", "TRUE"),
    ("True", "False", "true"),
    ('"1"', '"0"', '"1"'),
    ("1.0", "0.0", "1.0"),
    ("yes", "no", "yes"),
    (" 1", "0 ", "1"),
])
def test_label_spellings_of_zero_and_one_are_accepted(write_csv, cells):
    rows = "".join(f"{i},{cell}\n" for i, cell in enumerate(cells))
    data = load_csv(write_csv("x,y\n" + rows), "y")
    np.testing.assert_array_equal(data.Y[:, 0], [1, 0, 1])


def test_labels_chosen_by_names_and_globs_keep_file_order():
    columns = ["f1", "Class-b", "f2", "Class-a", "tag"]
    assert match_labels(columns, "tag,Class*") == ["Class-b", "Class-a", "tag"]
    assert match_labels(columns, ["Class-a", "Class-a"]) == ["Class-a"]


def test_hyphenated_emotion_labels_load_from_the_shared_csv(emotions_csv, emotion_labels):
    data = load_csv(emotions_csv, "*-*")
    assert data.label_names == emotion_labels
    assert data.X.shape == (593, 72) and data.Y.shape == (593, 6)
    assert set(np.unique(data.Y)) == {0.0, 1.0}


def test_guess_label_columns_finds_the_trailing_binary_columns(emotions_csv, emotion_labels):
    assert guess_label_columns(read_csv(emotions_csv)) == emotion_labels


def test_guess_label_columns_keeps_one_feature_when_every_column_is_binary():
    frame = pd.DataFrame({"a": [0, 1], "b": [1, 0], "c": [1, 1]})
    assert guess_label_columns(frame) == ["b", "c"]


def test_read_csv_accepts_bytes_and_file_objects_with_a_bom():
    text = "\ufeffa,y\n1,0\n2,1\n"
    assert list(read_csv(text.encode("utf-8"), "'upload'").columns) == ["a", "y"]
    assert list(read_csv(io.BytesIO(text.encode("utf-8")), "'upload'").columns) == ["a", "y"]


# -- bad files: one line that names the problem ----------------------------------------------------------------------

def test_no_label_column_matched_lists_the_columns(write_csv):
    message = load_error(write_csv, "a,b,c\n1,2,0\n", labels="label*")
    assert message == "no column matches label pattern 'label*'; columns are: a, b, c"


def test_empty_label_spec_is_refused():
    with pytest.raises(MultilabelError, match="no label columns given"):
        match_labels(["a", "b"], " , ")


def test_non_numeric_feature_names_column_row_and_value(write_csv):
    path = write_csv("a,b,y\n1,2,0\n3,4,1\n5,six,0\n")
    with pytest.raises(MultilabelError) as info:
        load_csv(path, "y")
    assert str(info.value) == (f"feature column 'b' in '{path}' is not numeric (row 4: 'six'); remove the column or "
                               "make it numeric")


@pytest.mark.parametrize("cell, what", [("", "an empty or NaN cell"), ("NaN", "an empty or NaN cell"),
                                        ("inf", "an infinite cell"), ("-inf", "an infinite cell")])
def test_missing_or_infinite_feature_cell_names_column_and_row(write_csv, cell, what):
    message = load_error(write_csv, f"a,b,y\n1,2,0\n3,{cell},1\n")
    assert "feature column 'b'" in message and f"has {what} at row 3" in message


def test_feature_beyond_float32_range_is_refused_not_turned_into_inf(write_csv):
    message = load_error(write_csv, "a,b,y\n1,2,0\n3,1e39,1\n")
    assert "feature column 'b'" in message and "1e+39" in message and "row 3" in message


@pytest.mark.parametrize("cell, shown", [("2", "2"), ("0.5", "0.5"), ("-1", "-1"), ("maybe", "'maybe'")])
def test_label_outside_zero_one_names_column_value_and_row(write_csv, cell, shown):
    message = load_error(write_csv, f"a,y\n1,0\n2,1\n3,{cell}\n")
    assert message.startswith("label column 'y' in ")
    assert f"has the value {shown} at row 4; labels must be 0 or 1" in message
    assert "np." not in message


def test_empty_label_cell_names_the_row(write_csv):
    message = load_error(write_csv, "a,y\n1,0\n2,\n")
    assert "label column 'y'" in message and "empty cell at row 3" in message


@pytest.mark.parametrize("header", ["a,a,y", "a,y,a", "a,,,y"])
def test_duplicate_column_names_are_refused(write_csv, header):
    width = len(header.split(","))
    message = load_error(write_csv, header + "\n" + ",".join(["0"] * width) + "\n")
    repeated = "''" if ",," in header else "'a'"
    assert f"has the column name {repeated} twice" in message


def test_duplicate_column_names_are_refused_in_an_upload_too():
    with pytest.raises(MultilabelError, match="column name 'a' twice"):
        read_csv(io.BytesIO(b"a,b,a\n1,2,3\n"), "'upload.csv'")


def test_a_real_column_named_like_a_pandas_repeat_is_kept(write_csv):
    data = load_csv(write_csv("a,a.1,y\n1,2,0\n3,4,1\n"), "y")
    assert data.feature_names == ["a", "a.1"]


@pytest.mark.parametrize("content, expected", [
    ("", "is empty"),
    ("\n\n", "is empty"),
    ("a,b,y\n", "has a header but no data rows"),
    ("1,2,0\n3,4,1\n", "has no header row"),
    ("a,b,y\n1,2,0\n3,4\n5,6,7,8\n", "is not a readable CSV"),
])
def test_unusable_file_shapes_say_what_is_wrong(write_csv, content, expected):
    assert expected in load_error(write_csv, content, labels="y")


def test_a_png_is_not_a_csv_and_its_bytes_stay_out_of_the_message(write_csv, png_bytes):
    message = load_error(write_csv, png_bytes)
    assert "is not a readable CSV" in message
    assert message.isprintable()


def test_random_binary_garbage_is_not_a_csv(write_csv):
    garbage = np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    message = load_error(write_csv, garbage)
    assert "is not a readable CSV" in message
    assert message.isprintable()


def test_missing_file_says_it_does_not_exist(tmp_path):
    with pytest.raises(MultilabelError, match="does not exist"):
        load_csv(tmp_path / "nope.csv", "y")


def test_choosing_every_column_as_a_label_leaves_no_features(write_csv):
    message = load_error(write_csv, "y1,y2\n0,1\n1,0\n")
    assert "has no feature columns left after taking 2 label columns" in message


def test_boolean_feature_column_is_pointed_at_the_labels(write_csv):
    message = load_error(write_csv, "a,flag,y\n1,true,0\n2,false,1\n")
    assert "feature column 'flag'" in message and "true/false" in message


def test_features_array_numbers_rows_from_the_offset_for_chunked_reads():
    frame = pd.DataFrame({"a": [1.0, 2.0, np.nan]})
    with pytest.raises(MultilabelError, match="at row 1004;"):
        features_array(frame, ["a"], "'f.csv'", row_offset=1000)


# -- synthetic generator ---------------------------------------------------------------------------------------------

def test_synthetic_shapes_names_and_dtypes():
    data = make_synthetic(300, 7, 4, seed=1)
    assert data.X.shape == (300, 7) and data.Y.shape == (300, 4)
    assert data.X.dtype == np.float32 and data.Y.dtype == np.float32
    assert data.feature_names == [f"x{i}" for i in range(7)]
    assert data.label_names == [f"label_{j}" for j in range(4)]
    assert data.description == {"source": "synthetic", "rows": 300, "noise": 0.1, "seed": 1}


def test_synthetic_is_reproducible_by_seed_and_differs_across_seeds():
    a, b, c = make_synthetic(200, seed=4), make_synthetic(200, seed=4), make_synthetic(200, seed=5)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.Y, b.Y)
    assert not np.array_equal(a.X, c.X)


def test_synthetic_base_rates_fall_from_common_to_rare():
    data = make_synthetic(20000, 10, 5, noise=0.0, seed=0)
    rates = data.Y.mean(axis=0)
    np.testing.assert_allclose(rates, np.linspace(0.5, 0.05, 5), atol=0.01)


def test_synthetic_neighbouring_labels_correlate():
    data = make_synthetic(20000, 10, 5, noise=0.0, seed=0)
    corr = np.corrcoef(data.Y.T)
    assert np.mean([corr[j, j + 1] for j in range(4)]) > 0.1


@pytest.mark.parametrize("args, message", [
    ((1, 10, 5), "n_samples must be >= 2, got 1"),
    ((10, 0, 5), "input_size and num_outputs must be >= 1, got 0 and 5"),
    ((10, 3, 2, -0.5), "noise must be >= 0, got -0.5"),
])
def test_synthetic_rejects_bad_sizes(args, message):
    with pytest.raises(MultilabelError) as info:
        make_synthetic(*args)
    assert str(info.value) == message


# -- standardization -------------------------------------------------------------------------------------------------

def test_standardizer_centres_and_scales_and_leaves_a_constant_column_at_zero():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]], dtype=np.float32)
    scaler = Standardizer.fit(X)
    np.testing.assert_allclose(scaler.mean, [3.0, 5.0])
    np.testing.assert_allclose(scaler.std, [np.sqrt(8 / 3), 1.0], rtol=1e-6)
    Z = scaler.transform(X)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z[:, 0], [-np.sqrt(1.5), 0.0, np.sqrt(1.5)], rtol=1e-6)
    np.testing.assert_array_equal(Z[:, 1], [0.0, 0.0, 0.0])


# -- one reader for every front door: other delimiters, UTF-16, folders, later blocks ----------------------------

COMMA = "a,b,y1,y2\n1,2.5,0,1\n3,-4,1,0\n5,6,1,1\n"


@pytest.mark.parametrize("delimiter", [";", "\t", "|"], ids=["semicolon", "tab", "pipe"])
def test_a_file_separated_by_another_delimiter_reads_like_the_comma_file(write_csv, delimiter):
    expected = load_csv(write_csv(COMMA, "comma.csv"), "y*")
    data = load_csv(write_csv(COMMA.replace(",", delimiter), "other.csv"), "y*")
    assert data.feature_names == ["a", "b"] and data.label_names == ["y1", "y2"]
    np.testing.assert_array_equal(data.X, expected.X)
    np.testing.assert_array_equal(data.Y, expected.Y)


def test_a_comma_in_a_cell_of_a_semicolon_file_is_data_not_a_delimiter(write_csv):
    """European spreadsheets: semicolons between fields, decimal commas inside them; the cell is named."""
    message = load_error(write_csv, "a;b;y\n1,5;2;0\n3;4;1\n")
    assert message.startswith("feature column 'a'")
    assert message.endswith("is not numeric (row 2: '1,5'); write numbers with a decimal point (1.5, not 1,5)")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"],
                         ids=["utf-16 with BOM", "utf-16-le no BOM", "utf-16-be no BOM"])
def test_utf16_text_is_decoded_not_called_binary(write_csv, encoding):
    text = "a,b,étiquette\n1,2,0\n3,4,1\n"
    data = load_csv(write_csv(text.encode(encoding), "excel.csv"), "étiquette")
    assert data.feature_names == ["a", "b"] and data.label_names == ["étiquette"]
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4]])
    assert list(read_csv(io.BytesIO(text.encode(encoding)), "'upload.csv'").columns) == ["a", "b", "étiquette"]


def test_nul_bytes_that_are_not_utf16_are_still_binary(write_csv):
    message = load_error(write_csv, b"a,b,y\n1,2,0\n" + b"\x00\x01\x02\x00\x00\x00" * 50)
    assert "is not a readable CSV (its content is binary, not text" in message


def test_a_folder_given_as_data_is_named_as_a_folder(tmp_path):
    with pytest.raises(MultilabelError) as info:
        load_csv(tmp_path, "y")
    assert str(info.value) == f"'{tmp_path}' is a folder, not a file; give the path of a CSV file"


def test_a_whole_file_read_infers_a_column_type_from_all_rows_not_the_first_block(write_csv):
    """Integers for the first 8 MB (two parser blocks), then a float: one float column, not a parse error."""
    path = write_csv("a,y\n" + "1,0\n" * 2_000_000 + "1.5,1\n")
    frame = read_csv(path)
    assert frame["a"].dtype == np.float64 and frame["a"].iloc[-1] == 1.5 and len(frame) == 2_000_001


def test_a_streamed_file_names_the_column_whose_type_changes_in_a_later_block(write_csv):
    from multilabel.data import open_csv

    path = write_csv("a,b\n" + "1,2\n" * 2_000_000 + "3,oops\n")
    stream = open_csv(path)
    with pytest.raises(MultilabelError) as info:
        for _ in stream:
            pass
    assert str(info.value) == (f"column 'b' in '{path}' has the value 'oops' at row 2000002, where the rows above "
                               "are numbers; fix that cell (or remove the column)")


# -- labels that cannot be learned are reported ----------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 1])
def test_a_label_column_with_one_value_in_every_row_is_a_warning(write_csv, value):
    path = write_csv(f"a,y1,y2\n1,0,{value}\n2,1,{value}\n3,0,{value}\n")
    data = load_csv(path, "y*")
    assert data.warnings == [f"label column 'y2' in '{path}' is {value} in every row: the model can only learn to "
                             f"answer {value} for it, and its F1 means nothing; check that it is the right column"]


def test_usable_labels_give_no_warnings(write_csv):
    assert load_csv(write_csv(COMMA), "y*").warnings == []
    assert make_synthetic(200).warnings == []


def test_a_windows_code_page_file_is_decoded_not_a_traceback(write_csv):
    """Excel's "CSV" on Windows: é as the one byte 0xe9 in the header and in a cell (not UTF-8)."""
    data = load_csv(write_csv("a,b,prête\n1,2,0\n3,4,1\n".encode("cp1252")), "prête")
    assert data.feature_names == ["a", "b"] and data.label_names == ["prête"]
    frame = read_csv(io.BytesIO("id,a,y\ncafé,1,0\n".encode("cp1252")), "'upload.csv'")
    assert frame["id"].tolist() == ["café"]


def test_binary_without_nul_bytes_is_still_binary(write_csv):
    message = load_error(write_csv, bytes(range(1, 256)) * 20)
    assert "is not a readable CSV (its content is binary, not text" in message
