"""Predictions as tables: columns matched by name (or by position, with a note), extras passed through, CSVs chunked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from multilabel import MultilabelError
from multilabel.predict import PROB_SUFFIX, plan_columns, predict_csv, predict_frame


def feature_frame(trained, n=20, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.standard_normal((n, len(trained.feature_names))).astype(np.float32),
                        columns=trained.feature_names)


def output_columns(trained) -> list[str]:  # the expected names, in order
    return [f"{label}{PROB_SUFFIX}" for label in trained.label_names] + list(trained.label_names)


def test_features_are_matched_by_name_in_any_order_and_other_columns_pass_through(trained_small):
    frame = feature_frame(trained_small)
    expected = trained_small.predict_proba(frame.to_numpy())
    shuffled = frame[list(reversed(frame.columns))]
    shuffled.insert(0, "id", [f"row-{i}" for i in range(len(frame))])
    shuffled["note"] = "keep me"

    out, plan = predict_frame(trained_small, shuffled)

    assert plan.features == trained_small.feature_names and not plan.by_position and plan.notes == []
    assert list(out.columns) == ["id", "note"] + output_columns(trained_small)
    assert out["id"].tolist() == shuffled["id"].tolist() and (out["note"] == "keep me").all()
    probs = out[[f"{label}{PROB_SUFFIX}" for label in trained_small.label_names]].to_numpy()
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-7)


def test_zero_one_columns_follow_each_labels_own_threshold(trained_small):
    frame = feature_frame(trained_small, n=50)
    probs = trained_small.predict_proba(frame.to_numpy())
    thresholds = [0.0, 1.0, float(np.median(probs[:, 2]))]
    out, _ = predict_frame(trained_small, frame, thresholds=thresholds)
    names = trained_small.label_names
    assert (out[names[0]] == 1).all()  # a 0.0 cut: everything positive
    assert (out[names[1]] == (probs[:, 1] >= 1.0)).all()
    np.testing.assert_array_equal(out[names[2]].to_numpy(), (probs[:, 2] >= thresholds[2]).astype(np.int8))
    assert 0 < out[names[2]].sum() < 50


def test_default_thresholds_are_the_models_tuned_ones(trained_small):
    frame = feature_frame(trained_small, n=50)
    probs = trained_small.predict_proba(frame.to_numpy())
    out, _ = predict_frame(trained_small, frame)
    for j, label in enumerate(trained_small.label_names):
        np.testing.assert_array_equal(out[label].to_numpy(), probs[:, j] >= trained_small.thresholds[j])


@pytest.mark.parametrize("thresholds", [[0.5, 0.5], [0.5, 0.5, 1.5], [-0.1, 0.5, 0.5]])
def test_wrong_count_or_out_of_range_thresholds_are_refused(trained_small, thresholds):
    with pytest.raises(MultilabelError, match=r"give one threshold in \[0, 1\] per label \(3\)"):
        predict_frame(trained_small, feature_frame(trained_small), thresholds=thresholds)


def test_by_position_fallback_when_no_name_matches_but_the_numeric_count_fits(trained_small):
    frame = feature_frame(trained_small)
    renamed = frame.set_axis([f"col{i}" for i in range(frame.shape[1])], axis=1)
    renamed.insert(0, "id", range(len(frame)))
    renamed["id"] = renamed["id"].astype(str)

    out, plan = predict_frame(trained_small, renamed, name="'unnamed.csv'")

    assert plan.by_position and plan.features == list(renamed.columns[1:])
    assert len(plan.notes) == 1 and "used in order as the model's features" in plan.notes[0]
    assert "'unnamed.csv'" in plan.notes[0]
    assert out["id"].tolist() == renamed["id"].tolist()
    expected = trained_small.predict_proba(frame.to_numpy())
    np.testing.assert_allclose(out[output_columns(trained_small)[:3]].to_numpy(), expected, atol=1e-7)


def test_missing_feature_columns_are_named(trained_small):
    frame = feature_frame(trained_small).drop(columns=["x1", "x4"])
    with pytest.raises(MultilabelError) as info:
        predict_frame(trained_small, frame, name="'half.csv'")
    assert str(info.value) == ("'half.csv' lacks 2 feature columns the model needs: 'x1', 'x4'; add them "
                               "(the model was trained on 6 features)")


def test_no_matching_names_and_a_wrong_numeric_count_is_an_error_not_a_guess(trained_small):
    frame = feature_frame(trained_small).set_axis([f"c{i}" for i in range(6)], axis=1).drop(columns=["c0"])
    with pytest.raises(MultilabelError, match="lacks 6 feature column"):
        predict_frame(trained_small, frame)


def test_true_label_columns_in_the_input_are_not_written_twice(trained_small):
    frame = feature_frame(trained_small)
    label = trained_small.label_names[0]
    frame[label] = 1
    out, plan = predict_frame(trained_small, frame)
    assert list(out.columns) == output_columns(trained_small)
    assert plan.notes == [f"column {label!r} of the CSV was left out of the result: the predictions use that name"]
    frame[trained_small.label_names[1]] = 0
    _, plan = predict_frame(trained_small, frame)
    assert plan.notes == [f"columns {label!r}, {trained_small.label_names[1]!r} of the CSV were left out of the "
                          "result: the predictions use those names"]


def test_one_missing_feature_column_is_one_column(trained_small):
    with pytest.raises(MultilabelError) as info:
        predict_frame(trained_small, feature_frame(trained_small).drop(columns=["x1"]), name="'half.csv'")
    assert "'half.csv' lacks 1 feature column the model needs: 'x1';" in str(info.value)


def test_non_numeric_feature_cell_is_named(trained_small):
    frame = feature_frame(trained_small).astype(object)
    frame.loc[3, "x2"] = "n/a"
    with pytest.raises(MultilabelError, match=r"feature column 'x2' in the CSV is not numeric \(row 5: 'n/a'\)"):
        predict_frame(trained_small, frame)


def test_plan_columns_passes_through_everything_but_the_features(trained_small):
    plan = plan_columns(trained_small, ["id", *trained_small.feature_names, "extra"])
    assert plan.passthrough == ["id", "extra"] and plan.features == trained_small.feature_names


# -- CSV files, streamed -----------------------------------------------------------------------------------------------

def big_csv(trained, path, n=40_000, seed=1) -> pd.DataFrame:
    """A CSV over 1 MiB, so pyarrow really reads it in several blocks; with an id column to pass through."""
    frame = feature_frame(trained, n=n, seed=seed).astype(np.float64)
    frame.insert(0, "id", [f"r{i}" for i in range(n)])
    frame.to_csv(path, index=False)
    assert path.stat().st_size > 2 * (1 << 20)
    return frame


def test_chunked_predict_csv_gives_the_same_numbers_as_predict_frame(trained_small, tmp_path):
    source = tmp_path / "in.csv"
    big_csv(trained_small, source)
    summary = predict_csv(trained_small, source, tmp_path / "out.csv", chunk_rows=1000)
    assert summary == {"rows": 40_000, "out": str(tmp_path / "out.csv"), "notes": []}

    got = pd.read_csv(tmp_path / "out.csv")
    expected, _ = predict_frame(trained_small, pd.read_csv(source))
    assert list(got.columns) == list(expected.columns) == ["id"] + output_columns(trained_small)
    assert got["id"].tolist() == expected["id"].tolist()
    np.testing.assert_allclose(got.iloc[:, 1:].to_numpy(float), expected.iloc[:, 1:].to_numpy(float), atol=1e-6)


def test_a_bad_cell_deep_in_a_later_chunk_is_named_by_its_file_row(trained_small, tmp_path):
    source = tmp_path / "in.csv"
    frame = big_csv(trained_small, source)
    frame.loc[35_000, "x3"] = np.nan
    frame.to_csv(source, index=False)
    out = tmp_path / "out.csv"
    with pytest.raises(MultilabelError, match="feature column 'x3' .* empty or NaN cell at row 35002;"):
        predict_csv(trained_small, source, out, chunk_rows=1000)
    assert not out.exists() and not (tmp_path / "out.csv.part").exists()  # no half-written result


def test_predict_csv_by_position_reports_the_note(trained_small, write_csv, tmp_path):
    frame = feature_frame(trained_small, n=5).set_axis([f"c{i}" for i in range(6)], axis=1)
    source = write_csv(frame.to_csv(index=False), "unnamed.csv")
    summary = predict_csv(trained_small, source, tmp_path / "out.csv")
    assert len(summary["notes"]) == 1 and "used in order" in summary["notes"][0]


@pytest.mark.parametrize("content, expected", [
    ("", "is empty"),
    ("x0,x1,x2,x3,x4,x5\n", "has a header but no data rows"),
    ("x0,x0,x1,x2,x3,x4,x5\n1,2,3,4,5,6,7\n", "has the column name 'x0' twice"),
    ("x0,x1,x2,x3,x4,x5\n1,2,3,1e39,5,6\n", "feature column 'x3'"),
    ("x0,x1,x2,x3\n1,2,3,4\n", "lacks 2 feature columns the model needs: 'x4', 'x5'"),
])
def test_bad_prediction_files_get_a_clear_message(trained_small, write_csv, tmp_path, content, expected):
    with pytest.raises(MultilabelError) as info:
        predict_csv(trained_small, write_csv(content, "in.csv"), tmp_path / "out.csv")
    assert expected in str(info.value)
    assert not (tmp_path / "out.csv").exists()


def test_a_png_is_refused_with_a_printable_message(trained_small, write_csv, tmp_path, png_bytes):
    with pytest.raises(MultilabelError) as info:
        predict_csv(trained_small, write_csv(png_bytes, "photo.csv"), tmp_path / "out.csv")
    assert "is not a readable CSV" in str(info.value) and str(info.value).isprintable()


# -- the same reader as training: other delimiters and UTF-16 score the same ---------------------------------------

@pytest.mark.parametrize("delimiter, encoding", [(";", "utf-8"), ("\t", "utf-8"), (",", "utf-16"), (";", "utf-16-le")],
                         ids=["semicolon", "tab", "utf-16 BOM", "semicolon utf-16-le"])
def test_predict_csv_reads_what_training_reads(trained_small, tmp_path, delimiter, encoding):
    frame = feature_frame(trained_small, n=30).astype(np.float64)
    frame.insert(0, "id", [f"r{i}" for i in range(30)])
    comma, other = tmp_path / "comma.csv", tmp_path / "other.csv"
    frame.to_csv(comma, index=False)
    other.write_bytes(frame.to_csv(index=False, sep=delimiter).encode(encoding))
    predict_csv(trained_small, comma, tmp_path / "a.csv")
    summary = predict_csv(trained_small, other, tmp_path / "b.csv")
    assert summary["rows"] == 30
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "b.csv"), pd.read_csv(tmp_path / "a.csv"))


def test_label_frame_and_predict_csv_share_one_column_builder(trained_small, tmp_path):
    from multilabel.predict import label_frame
    from multilabel.predict import output_columns as build

    probs = np.array([[0.1, 0.5, 0.9], [0.7, 0.2, 0.4]], dtype=np.float32)
    cut = np.array([0.5, 0.5, 0.5], dtype=np.float32)
    cols = build(trained_small.label_names, probs, cut)
    assert list(cols) == output_columns(trained_small)
    assert [cols[label].tolist() for label in trained_small.label_names] == [[0, 1], [1, 0], [1, 0]]
    assert all(cols[label].dtype == np.int8 for label in trained_small.label_names)
    frame = label_frame(trained_small, probs, [0.5, 0.5, 0.5])
    assert list(frame.columns) == list(cols)
    np.testing.assert_array_equal(frame.to_numpy(), pd.DataFrame(cols).to_numpy())


# -- output paths: refused before any work; a full disk leaves nothing behind ---------------------------------------

@pytest.mark.parametrize("case", ["folder", "missing folder", "under a file"])
def test_an_output_path_that_cannot_be_written_is_refused_before_reading(trained_small, write_csv, tmp_path, case):
    source = write_csv(feature_frame(trained_small, n=5).to_csv(index=False), "in.csv")
    (tmp_path / "a_file").write_text("x")
    out = {"folder": tmp_path, "missing folder": tmp_path / "nope" / "out.csv",
           "under a file": tmp_path / "a_file" / "out.csv"}[case]
    expected = {"folder": "is a folder; give a file name inside it", "missing folder": "does not exist; create it",
                "under a file": "is a file, not a folder"}[case]
    with pytest.raises(MultilabelError) as info:
        predict_csv(trained_small, source, out)
    assert expected in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "nope").exists()


def test_an_output_folder_that_refuses_writes_is_refused(trained_small, write_csv, tmp_path, lock):
    source = write_csv(feature_frame(trained_small, n=5).to_csv(index=False), "in.csv")
    folder = tmp_path / "locked"
    folder.mkdir()
    lock(folder)
    with pytest.raises(MultilabelError, match=r"cannot write in the folder .*locked.* choose a writable folder"):
        predict_csv(trained_small, source, folder / "out.csv")


def test_a_full_disk_while_writing_gives_one_line_and_leaves_no_partial_file(trained_small, tmp_path, monkeypatch):
    import errno
    import types

    import pyarrow.csv as pacsv

    from multilabel import predict as predict_mod

    class FullDiskWriter:
        def __init__(self, path, schema):
            self.fh = open(path, "wb")

        def write_table(self, table):
            self.fh.write(b"half a row")
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            self.fh.close()

    monkeypatch.setattr(predict_mod, "pacsv", types.SimpleNamespace(CSVWriter=FullDiskWriter,
                                                                    open_csv=pacsv.open_csv))
    source = tmp_path / "in.csv"
    big_csv(trained_small, source)
    out = tmp_path / "out.csv"
    with pytest.raises(MultilabelError) as info:
        predict_csv(trained_small, source, out, chunk_rows=1000)
    assert str(info.value) == (f"cannot finish writing '{out}': No space left on device; free some disk space or "
                               "choose a folder on another disk")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
