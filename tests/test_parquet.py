"""Parquet wherever a CSV is accepted: training data, evaluation, streamed prediction (Parquet in and
out), the pages' upload widgets; a bad file gets the same kind of one-line message as a bad CSV."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from multilabel import MultilabelError, load_csv, make_synthetic, read_csv
from multilabel.checkpoint import save_checkpoint
from multilabel.predict import predict_csv

from pagetest import open_page
from app_pages._nav import PAGES


def _frame(rows: int = 300, seed: int = 4) -> pd.DataFrame:
    data = make_synthetic(rows, 6, 3, seed=seed)
    frame = pd.DataFrame(data.X, columns=data.feature_names)
    frame.insert(0, "id", [f"r{i}" for i in range(rows)])
    for j, name in enumerate(data.label_names):
        frame[name] = data.Y[:, j].astype(np.int64)
    return frame


def test_a_parquet_file_loads_as_the_same_csv_does(tmp_path):
    frame = _frame().drop(columns="id")
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    from_csv, from_parquet = load_csv(tmp_path / "d.csv", "label_*"), load_csv(tmp_path / "d.parquet", "label_*")
    assert from_parquet.feature_names == from_csv.feature_names == [f"x{i}" for i in range(6)]
    assert from_parquet.label_names == ["label_0", "label_1", "label_2"]
    np.testing.assert_allclose(from_parquet.X, from_csv.X, rtol=1e-6)
    np.testing.assert_array_equal(from_parquet.Y, from_csv.Y)
    # An upload (bytes with a name) is recognised by its magic bytes as well as by its name.
    upload = io.BytesIO((tmp_path / "d.parquet").read_bytes())
    assert read_csv(upload).shape == frame.shape


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_text("x0,x1,label_0\n1,2,0\n"), "is not a readable Parquet file"),
    (lambda p: p.write_bytes(_parquet_bytes(_numeric())[:200]), "is not a readable Parquet file"),
    (lambda p: _numeric().iloc[:0].to_parquet(p), "has columns but no data rows"),
    (lambda p: _numeric().assign(x2=lambda f: f["x2"].where(f.index != 40)).to_parquet(p),
     "feature column 'x2' in 'bad.parquet' has an empty or NaN cell at row 42"),
    (lambda p: _numeric().assign(x3="a").to_parquet(p), "feature column 'x3' in 'bad.parquet' is not numeric"),
    (lambda p: _numeric().assign(label_1=2).to_parquet(p), "label column 'label_1' in 'bad.parquet' has the value 2"),
    (lambda p: p.mkdir(), "is a folder"),
])
def test_a_bad_parquet_file_is_one_clear_line(tmp_path, monkeypatch, make, words):
    monkeypatch.chdir(tmp_path)
    make(tmp_path / "bad.parquet")
    with pytest.raises(MultilabelError) as err:
        load_csv("bad.parquet", "label_*")
    assert words in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(MultilabelError, match="does not exist"):
        load_csv("missing.parquet", "label_*")


def _numeric() -> pd.DataFrame:
    return _frame().drop(columns="id")


def _parquet_bytes(frame: pd.DataFrame, **kwargs) -> bytes:
    out = io.BytesIO()
    frame.to_parquet(out, **kwargs)
    return out.getvalue()


def test_predict_streams_parquet_by_row_groups_and_writes_parquet(trained_small, tmp_path):
    frame = _frame(1000).drop(columns=["label_0", "label_1", "label_2"])
    frame.to_csv(tmp_path / "in.csv", index=False)
    frame.to_parquet(tmp_path / "in.parquet", row_group_size=128)  # 8 row groups
    assert pq.ParquetFile(tmp_path / "in.parquet").metadata.num_row_groups == 8
    predict_csv(trained_small, tmp_path / "in.csv", tmp_path / "ref.csv")
    summary = predict_csv(trained_small, tmp_path / "in.parquet", tmp_path / "out.parquet", chunk_rows=200)
    assert summary["rows"] == 1000 and summary["notes"] == []
    ref, got = pd.read_csv(tmp_path / "ref.csv"), pd.read_parquet(tmp_path / "out.parquet")
    assert list(got.columns) == list(ref.columns) == ["id", "label_0_prob", "label_1_prob", "label_2_prob",
                                                      "label_0", "label_1", "label_2"]
    assert got["id"].tolist() == ref["id"].tolist()
    np.testing.assert_allclose(got["label_0_prob"], ref["label_0_prob"], atol=1e-6)
    expected = trained_small.predict_proba(frame[trained_small.feature_names].to_numpy(np.float32))
    np.testing.assert_allclose(got[["label_0_prob", "label_1_prob", "label_2_prob"]], expected, atol=1e-6)
    assert str(got["label_2"].dtype) == "int8"
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups > 1  # written chunk by chunk
    # Parquet in, CSV out; CSV in, Parquet out
    predict_csv(trained_small, tmp_path / "in.parquet", tmp_path / "out.csv")
    predict_csv(trained_small, tmp_path / "in.csv", tmp_path / "out2.parquet")
    np.testing.assert_allclose(pd.read_csv(tmp_path / "out.csv")["label_1_prob"], ref["label_1_prob"], atol=1e-6)
    np.testing.assert_allclose(pd.read_parquet(tmp_path / "out2.parquet")["label_1_prob"], ref["label_1_prob"],
                               atol=1e-6)


def test_predict_names_a_bad_cell_in_a_later_row_group_and_leaves_no_output(trained_small, tmp_path):
    frame = _frame(1000).drop(columns=["label_0", "label_1", "label_2"])
    frame.loc[900, "x4"] = np.inf
    frame.to_parquet(tmp_path / "in.parquet", row_group_size=128)
    with pytest.raises(MultilabelError, match="feature column 'x4' in .* has an infinite cell at row 902"):
        predict_csv(trained_small, tmp_path / "in.parquet", tmp_path / "out.parquet", chunk_rows=100)
    assert not (tmp_path / "out.parquet").exists() and not (tmp_path / "out.parquet.part").exists()
    frame.drop(columns=["x1"]).to_parquet(tmp_path / "lacks.parquet")
    with pytest.raises(MultilabelError, match="lacks 1 feature column"):
        predict_csv(trained_small, tmp_path / "lacks.parquet", tmp_path / "out.csv")


@pytest.mark.slow
def test_cli_train_evaluate_predict_and_search_read_parquet(cli, tmp_path):
    frame = _frame(300)
    frame.drop(columns="id").to_parquet(tmp_path / "train.parquet")
    frame.to_parquet(tmp_path / "test.parquet")
    done = cli("train", "--data", tmp_path / "train.parquet", "--labels", "label_*", "--epochs", 3, "--quiet",
               "--out", tmp_path / "m.pt")
    assert done.returncode == 0, done.stderr
    done = cli("evaluate", "--model", tmp_path / "m.pt", "--data", tmp_path / "test.parquet")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == 300
    done = cli("predict", "--model", tmp_path / "m.pt", "--data", tmp_path / "test.parquet", "--out",
               tmp_path / "p.parquet")
    assert done.returncode == 0, done.stderr
    assert pd.read_parquet(tmp_path / "p.parquet")["id"].tolist() == frame["id"].tolist()
    done = cli("search", "--data", tmp_path / "train.parquet", "--labels", "label_*", "--trials", 1, "--epochs", 2,
               "--folds", 1, "--members", 0, "--quiet", "--storage", f"sqlite:///{tmp_path / 's.db'}")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["states"] == {"COMPLETE": 1}
    (tmp_path / "fake.parquet").write_text("not parquet")
    done = cli("predict", "--model", tmp_path / "m.pt", "--data", tmp_path / "fake.parquet", "--out",
               tmp_path / "q.csv")
    assert done.returncode == 2 and "is not a readable Parquet file" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_train_and_predict_pages_take_a_parquet_upload(home, trained_small):
    frame = _frame(200)
    content = _parquet_bytes(frame)
    at = open_page(PAGES["Train"])
    at.radio(key="source").set_value("Upload CSV").run()
    at.file_uploader(key="train_csv").set_value(("songs.parquet", content, "application/octet-stream")).run()
    # read; its text 'id' column (passed through on Predict) is what Start would refuse, said at once
    assert not at.exception and len(at.error) == 1 and "feature column 'id'" in at.error[0].value, at.error
    (labels,) = at.multiselect
    assert labels.value == ["label_0", "label_1", "label_2"]  # the trailing 0/1 columns, as for a CSV
    assert any("200 rows × 10 columns" in c.value for c in at.caption)

    save_checkpoint(trained_small, home / "m.pt")
    at = open_page(PAGES["Predict"])
    at.radio(key="model_source").set_value("Upload a checkpoint").run()
    at.file_uploader(key="ckpt_upload").set_value(("m.pt", (home / "m.pt").read_bytes(),
                                                   "application/octet-stream")).run()
    at.file_uploader(key="predict_csv").set_value(("batch.parquet", content, "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = at.dataframe[0].value
    expected = trained_small.predict_proba(frame[trained_small.feature_names].to_numpy(np.float32))
    np.testing.assert_allclose(shown["label_0_prob"].to_numpy(), expected[:, 0], atol=1e-6)
    at.file_uploader(key="predict_csv").set_value(("bad.parquet", b"PAR1 not really", "application/octet-stream")).run()
    assert not at.exception and len(at.error) == 1 and "is not a readable Parquet file" in at.error[0].value
