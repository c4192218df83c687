"""The headless front door: CSV -> train -> predict -> evaluate, and one clear line (no traceback) for every bad input.

A few tests run the real ``python -m multilabel`` in a child process; the many bad-input cases call ``main()`` in
this process (same parser, same error handling, no 2 s import per case).
"""

from __future__ import annotations

import json
from pathlib import Path
import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from multilabel import available_devices, load_checkpoint, make_synthetic, save_checkpoint
from multilabel.cli import build_parser, main
from multilabel.config import knobs
from multilabel.errors import MultilabelError
from multilabel.metrics import evaluate

GOOD = "a,b,y1,y2\n1,2,0,1\n3,4,1,0\n5,6,1,1\n7,8,0,0\n9,10,1,0\n"


@pytest.fixture
def model_file(trained_small, tmp_path):
    return save_checkpoint(trained_small, tmp_path / "model.pt")


def missing_device() -> str:
    return next(d for d in ("cuda", "mps") if d not in available_devices())


def assert_one_clear_line(stderr: str, *fragments: str) -> str:
    """stderr is exactly one 'error: ...' line naming the problem; no traceback, no warnings, nothing else."""
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    assert lines[0].isprintable()
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def run_main(capsys, *argv: object) -> tuple[int, str, str]:
    """``main(argv)`` here; a Python warning counts as a failure, since the real CLI would print it on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert [str(w.message) for w in caught] == []
    return code, captured.out, captured.err


# -- the real front door, in a child process ---------------------------------------------------------------------------

@pytest.mark.slow
def test_csv_train_predict_evaluate_round_trip(cli, tmp_path, emotions_csv, emotion_labels):
    model = tmp_path / "emotions.pt"
    trained = cli("train", "--data", emotions_csv, "--labels", "amazed*,happy*,*-calm,quiet-*,sad*,angry*",
                  "--epochs", "5", "--hidden-size", "32", "--out", model, "--quiet")
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert summary["status"] == "completed" and summary["epochs_run"] == 5 and summary["device"] == "cpu"
    assert summary["checkpoint"] == str(model) and model.is_file()
    assert list(summary["best"]["per_label"]) == emotion_labels

    # Unlabelled rows with an id column: features found by name, the id passed through.
    frame = pd.read_csv(emotions_csv)
    features = frame.drop(columns=emotion_labels)
    unlabelled = features.copy()
    unlabelled.insert(0, "clip_id", [f"clip-{i:04d}" for i in range(len(frame))])
    unlabelled.to_csv(tmp_path / "clips.csv", index=False)
    predicted = cli("predict", "--model", model, "--data", tmp_path / "clips.csv", "--out", tmp_path / "out.csv")
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout) == {"rows": 593, "out": str(tmp_path / "out.csv"), "notes": []}
    out = pd.read_csv(tmp_path / "out.csv")
    prob_columns = [f"{label}_prob" for label in emotion_labels]
    assert list(out.columns) == ["clip_id", *prob_columns, *emotion_labels]
    assert out["clip_id"].tolist() == unlabelled["clip_id"].tolist()
    loaded = load_checkpoint(model)
    probs = loaded.predict_proba(features.to_numpy())
    np.testing.assert_allclose(out[prob_columns].to_numpy(), probs, atol=1e-6)
    np.testing.assert_array_equal(out[emotion_labels].to_numpy(), probs >= np.array(loaded.thresholds))

    evaluated = cli("evaluate", "--model", model, "--data", emotions_csv)
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert {"rows", "hamming_loss", "micro_f1", "macro_f1", "subset_accuracy", "per_label"} <= set(metrics)
    assert metrics["rows"] == 593 and list(metrics["per_label"]) == emotion_labels
    truth = frame[emotion_labels].to_numpy(np.float32)
    assert [metrics["per_label"][label]["support"] for label in emotion_labels] == truth.sum(axis=0).tolist()
    expected = evaluate(torch.from_numpy(probs), torch.from_numpy(truth), loaded.thresholds, emotion_labels)
    for key in ("hamming_loss", "micro_f1", "macro_f1", "subset_accuracy"):
        assert metrics[key] == pytest.approx(expected[key], abs=1e-6), key


@pytest.mark.parametrize("case", ["non-numeric feature", "png at predict", "missing features at predict",
                                  "unknown device"])
def test_bad_input_in_a_child_process_exits_non_zero_with_one_line(cli, write_csv, model_file, tmp_path, png_bytes,
                                                                   case):
    model = model_file
    if case == "non-numeric feature":
        args = ["train", "--data", write_csv("a,b,y\n1,2,0\n3,oops,1\n"), "--labels", "y"]
        fragments = ["feature column 'b'", "is not numeric (row 3: 'oops')"]
    elif case == "png at predict":
        args = ["predict", "--model", model, "--data", write_csv(png_bytes, "photo.png"), "--out", tmp_path / "o.csv"]
        fragments = ["photo.png", "is not a readable CSV"]
    elif case == "missing features at predict":
        args = ["predict", "--model", model, "--data", write_csv("x0,x1,x2,x3,x4\n1,2,3,4,5\n"),
                "--out", tmp_path / "o.csv"]
        fragments = ["lacks 1 feature column the model needs: 'x5'"]
    else:
        args = ["train", "--synthetic", "--device", missing_device()]
        fragments = [f"device {missing_device()!r} is not available", "(available: cpu"]
    result = cli(*args)
    assert result.returncode == 2 and result.stdout == ""
    assert_one_clear_line(result.stderr, *fragments)


# -- main() in this process: every bad input, one clear line -----------------------------------------------------------

TRAIN_FILE_CASES = [
    ("no label column matched", GOOD, "z*", ["no column matches label pattern 'z*'; columns are: a, b, y1, y2"]),
    ("non-numeric feature", "a,b,y\n1,2,0\n3,x,1\n", "y", ["feature column 'b'", "not numeric (row 3: 'x')"]),
    ("NaN cell", "a,b,y\n1,2,0\n3,NaN,1\n", "y", ["feature column 'b'", "empty or NaN cell at row 3"]),
    ("empty cell", "a,b,y\n1,,0\n3,4,1\n", "y", ["feature column 'b'", "empty or NaN cell at row 2"]),
    ("inf cell", "a,b,y\n1,2,0\n-inf,4,1\n", "y", ["feature column 'a'", "infinite cell at row 3"]),
    ("label 2", "a,y\n1,0\n2,2\n", "y", ["label column 'y'", "has the value 2 at row 3", "must be 0 or 1"]),
    ("label 0.5", "a,y\n1,0.5\n2,1\n", "y", ["label column 'y'", "has the value 0.5 at row 2"]),
    ("label text", "a,y\n1,1\n2,maybe\n", "y", ["label column 'y'", "has the value 'maybe' at row 3"]),
    ("duplicate names", "a,a,y\n1,2,0\n3,4,1\n", "y", ["has the column name 'a' twice"]),
    ("empty file", "", "y", ["is empty"]),
    ("header only", "a,b,y\n", "y", ["has a header but no data rows"]),
    ("no header", "1,2,0\n3,4,1\n", "0", ["has no header row"]),
    ("ragged rows", "a,b,y\n1,2,0\n3,4\n5,6,1,9\n", "y", ["is not a readable CSV"]),
    ("random bytes", bytes(range(256)) * 8, "y", ["is not a readable CSV"]),
]


@pytest.mark.parametrize("content, labels, fragments", [c[1:] for c in TRAIN_FILE_CASES],
                         ids=[c[0] for c in TRAIN_FILE_CASES])
def test_bad_training_file_gives_one_clear_line(capsys, write_csv, tmp_path, content, labels, fragments):
    path = write_csv(content, "train.csv")
    code, out, err = run_main(capsys, "train", "--data", path, "--labels", labels, "--epochs", "1", "--quiet",
                              "--store", tmp_path / "store")
    assert code == 2 and out == ""
    assert_one_clear_line(err, *fragments)
    assert str(path) in err or "columns are" in err


def test_a_png_given_as_training_data_gives_one_clear_line(capsys, write_csv, tmp_path, png_bytes):
    code, _, err = run_main(capsys, "train", "--data", write_csv(png_bytes, "cat.png"), "--labels", "y",
                            "--store", tmp_path / "store")
    assert code == 2
    assert_one_clear_line(err, "cat.png", "is not a readable CSV")


@pytest.mark.parametrize("argv, fragments", [
    (["--hidden-size", "0"], ["--hidden-size must be >= 1, got 0"]),
    (["--lr", "0"], ["--lr must be > 0.0, got 0.0"]),
    (["--lr", "50"], ["--lr must be <= 10.0, got 50.0"]),
    (["--val-fraction", "1.5"], ["--val-fraction must be < 1.0, got 1.5"]),
    (["--cuda-graph", "on", "--device", "cpu"], ["--cuda-graph 'on' needs a CUDA device; use --cuda-graph 'auto'"]),
    (["--device", "MISSING"], ["is not available on this machine", "(available: cpu", "use --device auto"]),
    (["--samples", "1"], ["--samples must be from 50 to 2,000,000, got 1"]),
    (["--samples", "3"], ["--samples must be from 50 to 2,000,000, got 3"]),  # trained before: F1 0.0, AUROC null
    (["--samples", "2000001"], ["--samples must be from 50 to 2,000,000, got 2,000,001"]),
], ids=["hidden_size 0", "learning rate 0", "learning rate 50", "val_fraction 1.5", "cuda graph on cpu",
        "unknown device", "one sample", "three samples", "too many samples"])
def test_bad_setting_gives_one_clear_line_naming_the_flag_typed(capsys, tmp_path, argv, fragments):
    argv = [missing_device() if a == "MISSING" else a for a in argv]
    code, out, err = run_main(capsys, "train", "--synthetic", "--epochs", "1", "--quiet", "--store", tmp_path, *argv)
    assert code == 2 and out == ""
    line = assert_one_clear_line(err, *fragments)
    assert not any(f.name in line for f in knobs() if "_" in f.name), line  # no internal field names


def test_the_cli_trains_on_the_dashboards_fewest_samples(capsys, tmp_path):
    from multilabel.trainview import SAMPLES_RANGE
    code, out, err = run_main(capsys, "train", "--synthetic", "--samples", SAMPLES_RANGE[0], "--epochs", "1",
                              "--refit", "none", "--quiet", "--store", tmp_path)
    assert code == 0, err  # the range's end is taken, as the Train page takes it


def test_config_errors_keep_their_field_words_for_the_dashboard():
    from multilabel.config import TrainConfig
    with pytest.raises(MultilabelError, match=r"^learning_rate must be <= 10.0"):
        TrainConfig(learning_rate=50.0).validate()  # config.py's own words: only the CLI names flags


def test_search_help_shows_the_default_values_not_python_names(capsys):
    from multilabel import search
    from multilabel.config import TrainConfig
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "search." not in text and "TrainConfig" not in text
    for value in (search.ENSEMBLE_SEEDS, search.ENSEMBLE_THRESHOLD, search.ENSEMBLE_CHOICE, search.OBJECTIVE,
                  search.DEFAULT_STUDY):
        assert f"[default: {value}]" in text, value
    assert f"maximum epochs per trial [default: {TrainConfig.epochs}" in text


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "export", "runs", "search"])
def test_no_help_names_a_python_object(capsys, command):
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    text = capsys.readouterr().out
    assert not re.search(r"default: [^\]]*(search\.|TrainConfig|(?<!\$)\b[A-Z]{2,}_[A-Z])", text), text


def test_input_size_that_contradicts_the_csv_is_refused(capsys, write_csv, tmp_path):
    code, _, err = run_main(capsys, "train", "--data", write_csv(GOOD), "--labels", "y*", "--input-size", "3",
                            "--store", tmp_path)
    assert code == 2
    assert_one_clear_line(err, "--input-size is 3 but the data has 2")


def test_data_without_labels_flag_is_refused(capsys, write_csv, tmp_path):
    code, _, err = run_main(capsys, "train", "--data", write_csv(GOOD), "--store", tmp_path)
    assert code == 2
    assert_one_clear_line(err, "--labels is required with --data")


@pytest.mark.parametrize("cells", [("true", "false"), ('"1"', '"0"'), ("True", "FALSE")],
                         ids=["true/false", "quoted 0/1", "capitalized booleans"])
def test_boolean_and_text_labels_train(capsys, write_csv, tmp_path, cells):
    rows = "".join(f"{i},{i * i},{cells[i % 2]}\n" for i in range(12))
    code, out, err = run_main(capsys, "train", "--data", write_csv("a,b,flag\n" + rows), "--labels", "flag",
                              "--epochs", "2", "--quiet", "--store", tmp_path)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["status"] == "completed" and list(summary["best"]["per_label"]) == ["flag"]


def test_predict_with_missing_feature_columns_names_them(capsys, write_csv, tmp_path, model_file):
    data = write_csv("id,x0,x2,x4\nr1,1,2,3\n")
    code, _, err = run_main(capsys, "predict", "--model", model_file, "--data", data, "--out", tmp_path / "o.csv")
    assert code == 2
    assert_one_clear_line(err, "lacks 3 feature columns the model needs: 'x1', 'x3', 'x5'")
    assert not (tmp_path / "o.csv").exists()


def test_predict_by_position_prints_a_note_and_succeeds(capsys, write_csv, tmp_path, model_file):
    data = write_csv("c0,c1,c2,c3,c4,c5\n1,2,3,4,5,6\n0,0,0,0,0,0\n")
    code, out, err = run_main(capsys, "predict", "--model", model_file, "--data", data, "--out", tmp_path / "o.csv")
    assert code == 0
    assert err.startswith("note: no column of") and "used in order" in err
    assert json.loads(out)["rows"] == 2 and len(pd.read_csv(tmp_path / "o.csv")) == 2


@pytest.mark.parametrize("argv, fragments", [
    (["--chunk-rows", "0"], ["--chunk-rows must be >= 1, got 0"]),
    (["--device", "MISSING"], ["is not available on this machine", "(available: cpu"]),
], ids=["chunk rows 0", "unknown device"])
def test_bad_predict_setting_gives_one_clear_line(capsys, write_csv, tmp_path, model_file, argv, fragments):
    argv = [missing_device() if a == "MISSING" else a for a in argv]
    data = write_csv("x0,x1,x2,x3,x4,x5\n1,2,3,4,5,6\n")
    code, _, err = run_main(capsys, "predict", "--model", model_file, "--data", data, "--out", tmp_path / "o.csv",
                            *argv)
    assert code == 2
    assert_one_clear_line(err, *fragments)


def test_a_malicious_model_file_is_refused_by_predict(capsys, write_csv, tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "multilabel-checkpoint", "config": Payload()}, evil)
    data = write_csv("x0,x1,x2,x3,x4,x5\n1,2,3,4,5,6\n")
    code, _, err = run_main(capsys, "predict", "--model", evil, "--data", data, "--out", tmp_path / "o.csv")
    assert code == 2
    assert_one_clear_line(err, "evil.pt", "was refused")
    assert not marker.exists()


def test_a_pickle_that_is_not_a_model_is_refused_by_evaluate(capsys, write_csv, tmp_path):
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(pickle.dumps({"just": "a dict"}))
    code, _, err = run_main(capsys, "evaluate", "--model", bogus, "--data", write_csv(GOOD))
    assert code == 2
    assert_one_clear_line(err, "model.pt")


def test_evaluate_without_the_models_label_columns_says_to_use_predict(capsys, write_csv, model_file):
    data = write_csv("x0,x1,x2,x3,x4,x5\n1,2,3,4,5,6\n")
    code, _, err = run_main(capsys, "evaluate", "--model", model_file, "--data", data)
    assert code == 2
    assert_one_clear_line(err, "lacks the label columns 'label_0', 'label_1', 'label_2'", "use predict")


def test_evaluate_ignores_an_id_column_as_predict_does(capsys, write_csv, trained_small, model_file):
    data = make_synthetic(60, 6, 3, noise=0.1, seed=11)
    frame = pd.DataFrame(data.X, columns=data.feature_names)
    frame.insert(0, "id", [f"song-{i}" for i in range(len(frame))])
    for j, label in enumerate(data.label_names):
        frame[label] = data.Y[:, j].astype(int)
    path = write_csv(frame.to_csv(index=False))
    code, out, err = run_main(capsys, "evaluate", "--model", model_file, "--data", path)
    assert code == 0, err
    got = json.loads(out)
    probs = trained_small.predict_proba(data.X)
    expected = evaluate(torch.from_numpy(probs), torch.from_numpy(data.Y), trained_small.thresholds, data.label_names)
    assert got["rows"] == 60
    assert got["micro_f1"] == pytest.approx(expected["micro_f1"])
    assert got["subset_accuracy"] == pytest.approx(expected["subset_accuracy"])


# -- help and listing --------------------------------------------------------------------------------------------------

def test_train_help_has_a_flag_with_help_and_default_for_every_config_field(capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["train", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--lr" in text and "--hidden-size" in text and "--synthetic" in text
    for field in knobs():
        flag = "--lr" if field.name == "learning_rate" else "--" + field.name.replace("_", "-")
        assert flag in text, field.name
        assert f"[default: {field.default}]" in text, field.name


def test_flags_reach_the_config(capsys, tmp_path):
    code, out, err = run_main(capsys, "train", "--synthetic", "--samples", "200", "--input-size", "4",
                              "--num-outputs", "2", "--hidden-size", "9", "--epochs", "3", "--lr", "0.02",
                              "--threshold-mode", "fixed", "--quiet", "--store", tmp_path, "--name", "flags")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["epochs_run"] == 3 and summary["best"]["thresholds"] == [0.5, 0.5]
    config = load_checkpoint(summary["checkpoint"]).config
    assert (config.input_size, config.num_outputs, config.hidden_size, config.learning_rate) == (4, 2, 9, 0.02)


def test_runs_lists_stored_runs_as_a_table_and_as_json(capsys, tmp_path):
    assert run_main(capsys, "runs", "--store", tmp_path)[1].startswith("no runs in ")
    code, out, _ = run_main(capsys, "train", "--synthetic", "--samples", "200", "--epochs", "2", "--quiet",
                            "--store", tmp_path, "--name", "listed")
    run_id = json.loads(out)["run_id"]
    code, table, _ = run_main(capsys, "runs", "--store", tmp_path)
    assert code == 0 and run_id in table and "completed" in table and "synthetic" in table
    code, lines, _ = run_main(capsys, "runs", "--store", tmp_path, "--json")
    (row,) = [json.loads(line) for line in lines.splitlines()]
    assert row["id"] == run_id and row["name"] == "listed" and row["epochs_done"] == 2
    assert row["status"] == "completed" and row["config"]["epochs"] == 2


@pytest.mark.slow
def test_ctrl_c_stops_training_after_the_epoch_and_keeps_the_best_model(tmp_path):
    """SIGINT (Ctrl-C) mid-run: exit 0, status 'stopped', a checkpoint that loads, fewer epochs than asked for."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from pathlib import Path

    from multilabel.store import RunStore

    repo = Path(__file__).resolve().parents[1]
    home = tmp_path / "home"
    child = subprocess.Popen([sys.executable, "-m", "multilabel", "train", "--synthetic", "--samples", "500",
                              "--epochs", "100000", "--patience", "0", "--quiet", "--store", str(home)],
                             cwd=repo, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # `cmd &` ignores it
    try:
        deadline = time.monotonic() + 120  # a safety net for a child that never starts, not a speed check
        epochs_done = 0
        while time.monotonic() < deadline and child.poll() is None and epochs_done < 2:
            if (home / "runs.db").exists():
                store = RunStore(home)
                runs = store.list_runs()
                epochs_done = runs[0]["epochs_done"] if runs else 0
                store.close()
            time.sleep(0.1)
        assert epochs_done >= 2 and child.poll() is None
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    assert "stopping" in err and "Traceback" not in err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "stopped" and 2 <= result["epochs_run"] < 100000
    trained = load_checkpoint(result["checkpoint"])
    assert trained.predict_proba(make_synthetic(10, 10, 5).X).shape == (10, 5)


# -- output paths checked before training, OS errors, pipes, stores that are not there ----------------------

def stored_runs(home) -> list:
    from multilabel.store import RunStore

    if not RunStore.exists(home):
        return []
    store = RunStore(home)
    try:
        return store.list_runs()
    finally:
        store.close()


@pytest.mark.parametrize("case", ["a folder", "a missing folder", "under a file"])
def test_train_refuses_an_unusable_out_before_training(capsys, tmp_path, case):
    (tmp_path / "a_file").write_text("x")
    out = {"a folder": tmp_path, "a missing folder": tmp_path / "nope" / "m.pt",
           "under a file": tmp_path / "a_file" / "m.pt"}[case]
    fragment = {"a folder": "is a folder; give a file name inside it, e.g.", "a missing folder": "does not exist",
                "under a file": "is a file, not a folder"}[case]
    code, out_text, err = run_main(capsys, "train", "--synthetic", "--epochs", "1", "--quiet",
                                   "--store", tmp_path / "store", "--out", out)
    assert code == 2 and out_text == ""
    assert_one_clear_line(err, "--out", fragment)
    assert stored_runs(tmp_path / "store") == []  # refused before a run was even created, let alone trained


def test_train_refuses_an_out_folder_that_refuses_writes_in_a_child_process(cli, tmp_path, lock):
    folder = tmp_path / "locked"
    folder.mkdir()
    lock(folder)
    result = cli("train", "--synthetic", "--epochs", "1", "--quiet", "--store", tmp_path / "store",
                 "--out", folder / "m.pt")
    assert result.returncode == 2 and result.stdout == ""
    assert_one_clear_line(result.stderr, "--out", "cannot write in the folder", "choose a writable folder")
    assert stored_runs(tmp_path / "store") == []


@pytest.mark.parametrize("case", ["a folder", "a missing folder", "under a file", "locked folder", "data folder"])
def test_predict_refuses_unusable_paths_with_one_line(capsys, write_csv, tmp_path, model_file, lock, case):
    data = write_csv("x0,x1,x2,x3,x4,x5\n1,2,3,4,5,6\n")
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "locked").mkdir()
    out, fragments = {
        "a folder": (tmp_path, ["--out", "is a folder"]),
        "a missing folder": (tmp_path / "nope" / "o.csv", ["--out", "does not exist"]),
        "under a file": (tmp_path / "a_file" / "o.csv", ["--out", "is a file, not a folder"]),
        "locked folder": (tmp_path / "locked" / "o.csv", ["--out", "cannot write in the folder"]),
        "data folder": (tmp_path / "o.csv", ["is a folder, not a file; give the path of a CSV file"]),
    }[case]
    if case == "locked folder":
        lock(tmp_path / "locked")
    if case == "data folder":
        data = tmp_path
    code, out_text, err = run_main(capsys, "predict", "--model", model_file, "--data", data, "--out", out)
    assert code == 2 and out_text == ""
    assert_one_clear_line(err, *fragments)


def test_predict_on_a_data_folder_in_a_child_process(cli, tmp_path, model_file):
    result = cli("predict", "--model", model_file, "--data", tmp_path, "--out", tmp_path / "o.csv")
    assert result.returncode == 2
    assert_one_clear_line(result.stderr, "is a folder, not a file")


def test_a_full_disk_while_saving_the_checkpoint_is_one_line(capsys, tmp_path, monkeypatch):
    """ENOSPC at the checkpoint write, injected in-process (the training thread runs in this process)."""
    import errno

    def full(obj, fh):
        fh.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    code, out, err = run_main(capsys, "train", "--synthetic", "--samples", "200", "--epochs", "2", "--quiet",
                              "--store", tmp_path)
    assert code == 2 and out == ""
    assert_one_clear_line(err, "cannot finish writing the checkpoint", "No space left on device",
                          "free some disk space")
    # no half-written file left (the live view's snapshot, written whole with numpy before the failure, stays)
    assert [p for p in (tmp_path / "checkpoints").iterdir() if not p.name.endswith(".live.npz")] == []


def test_a_full_disk_while_logging_an_epoch_is_one_line(capsys, tmp_path, monkeypatch):
    """SQLite's 'database or disk is full' at an epoch's INSERT, injected through the store's connection."""
    import sqlite3

    from multilabel import store as store_mod

    class FullAtEpochs:
        def __init__(self, db):
            object.__setattr__(self, "db", db)

        def execute(self, sql, *params):
            if sql.startswith("INSERT OR REPLACE INTO epochs"):
                raise sqlite3.OperationalError("database or disk is full")
            return self.db.execute(sql, *params)

        def __getattr__(self, name):
            return getattr(self.db, name)

        def __setattr__(self, name, value):
            setattr(self.db, name, value)

        def __enter__(self):
            return self.db.__enter__()

        def __exit__(self, *exc):
            return self.db.__exit__(*exc)

    real_connect = sqlite3.connect
    monkeypatch.setattr(store_mod.sqlite3, "connect", lambda *a, **k: FullAtEpochs(real_connect(*a, **k)))
    code, out, err = run_main(capsys, "train", "--synthetic", "--samples", "200", "--epochs", "2", "--quiet",
                              "--store", tmp_path)
    assert code == 2 and out == ""
    assert_one_clear_line(err, "cannot finish writing the run store", "database or disk is full",
                          "free some disk space")


def test_an_os_error_anywhere_else_is_one_line_not_a_traceback(capsys, tmp_path, monkeypatch):
    import errno

    from multilabel import data as data_mod  # the CLI imports what a command uses when the command runs

    def broken(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error", "/dev/sdz")

    monkeypatch.setattr(data_mod, "make_synthetic", broken)
    code, _, err = run_main(capsys, "train", "--synthetic", "--quiet", "--store", tmp_path)
    assert code == 2
    assert_one_clear_line(err, "Input/output error (/dev/sdz)", "check the path and the disk")


def test_runs_into_a_pipe_that_closes_early_exits_quietly(store_home):
    """`python -m multilabel runs --json | head -1`: the reader leaves after one line; no BrokenPipeError traceback."""
    import subprocess
    import sys

    from multilabel.store import RunStore

    repo = Path(__file__).resolve().parents[1]
    single_thread = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    store = RunStore(store_home)
    config = make_synthetic(10).description
    for i in range(400):  # about 150 kB of JSON lines: more than a pipe buffer holds, so the writer must block
        store.create_run({"epochs": i, "padding": "x" * 300}, config, name=f"run {i}")
    store.close()
    child = subprocess.Popen([sys.executable, "-m", "multilabel", "runs", "--json", "--store", str(store_home)],
                             cwd=repo, env={**__import__("os").environ, **single_thread},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = child.stdout.readline()
    child.stdout.close()
    _, err = child.communicate(timeout=120)
    assert json.loads(first)["name"] == "run 399"
    assert err.decode() == "" and child.returncode == 141


def test_runs_on_a_store_that_does_not_exist_creates_nothing(cli, tmp_path):
    missing = tmp_path / "no" / "such" / "deep" / "path"
    result = cli("runs", "--store", missing)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == f"no runs in {missing / 'runs.db'}\n"
    assert not (tmp_path / "no").exists()
    json_result = cli("runs", "--json", "--store", missing)
    assert json_result.returncode == 0 and json_result.stdout == "" and not (tmp_path / "no").exists()


def test_a_store_that_is_not_writable_is_one_line_for_train_and_runs(cli, tmp_path, lock):
    from multilabel.store import RunStore

    RunStore(tmp_path / "home").close()  # an existing store, then made read-only (folder and database)
    lock(tmp_path / "home" / "runs.db")
    lock(tmp_path / "home")
    result = cli("train", "--synthetic", "--epochs", "1", "--quiet", "--store", tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert_one_clear_line(result.stderr, "the run store folder", "is not writable", "set MULTILABEL_HOME")
    # Listing writes nothing: a read-only store is listed, not refused.
    result = cli("runs", "--store", tmp_path / "home")
    assert result.returncode == 0 and result.stdout.startswith("no runs in"), result.stderr


def test_a_constant_label_column_is_a_warning_on_stderr(capsys, write_csv, tmp_path):
    rows = "".join(f"{i},{i % 3},{i % 2},0\n" for i in range(20))
    path = write_csv("a,b,y1,y2\n" + rows)
    code, out, err = run_main(capsys, "train", "--data", path, "--labels", "y*", "--epochs", "2", "--quiet",
                              "--store", tmp_path / "store")
    assert code == 0
    assert err.splitlines() == [f"warning: label column 'y2' in '{path}' is 0 in every row: the model can only "
                                "learn to answer 0 for it, and its F1 means nothing; check that it is the right column"]
    assert json.loads(out)["status"] == "completed"


def test_a_semicolon_separated_file_trains_evaluates_and_predicts(capsys, tmp_path):
    data = make_synthetic(120, 4, 2, seed=3)
    frame = pd.DataFrame(data.X, columns=data.feature_names)
    for j, label in enumerate(data.label_names):
        frame[label] = data.Y[:, j].astype(int)
    path = tmp_path / "semi.csv"
    frame.to_csv(path, sep=";", index=False)
    code, out, err = run_main(capsys, "train", "--data", path, "--labels", "label_*", "--epochs", "3", "--quiet",
                              "--store", tmp_path / "store", "--out", tmp_path / "m.pt")
    assert code == 0, err
    assert json.loads(out)["best"]["per_label"].keys() == {"label_0", "label_1"}
    code, out, err = run_main(capsys, "evaluate", "--model", tmp_path / "m.pt", "--data", path)
    assert code == 0, err
    assert json.loads(out)["rows"] == 120
    code, out, err = run_main(capsys, "predict", "--model", tmp_path / "m.pt", "--data", path,
                              "--out", tmp_path / "p.csv")
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "p.csv")) == 120


@pytest.mark.parametrize("edit, fragment", [
    (lambda p: p.__setitem__("feature_names", p["feature_names"][:-1]), "5 feature names for a net with 6 features"),
    (lambda p: p.__setitem__("std", torch.zeros_like(p["std"])), "std is 0 for feature 'x0'"),
    (lambda p: p.__setitem__("feature_names", ["x0"] * 6), "the feature name 'x0' appears twice"),
], ids=["feature names vs weights", "zero std", "duplicate feature names"])
@pytest.mark.slow
def test_predict_and_evaluate_refuse_an_inconsistent_checkpoint_with_one_line(cli, tmp_path, model_file, edit,
                                                                              fragment):
    payload = torch.load(model_file, weights_only=True)
    edit(payload)
    torch.save(payload, model_file)
    data = tmp_path / "in.csv"
    data.write_text("x0,x1,x2,x3,x4,x5,label_0,label_1,label_2\n1,2,3,4,5,6,0,1,0\n")
    for args in (["predict", "--out", tmp_path / "o.csv"], ["evaluate"]):
        result = cli(args[0], "--model", model_file, "--data", data, *args[1:])
        assert result.returncode == 2 and result.stdout == ""
        assert_one_clear_line(result.stderr, "is a damaged multilabel checkpoint", fragment)
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.slow
def test_train_warns_on_adam_with_a_strong_weight_decay_and_still_trains(cli):
    done = cli("train", "--synthetic", "--epochs", 2, "--optimizer", "adam", "--weight-decay", 1.0, "--quiet",
               "--refit", "none")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "optimizer adam is an L2 penalty" in warnings[0]
    quiet = cli("train", "--synthetic", "--epochs", 2, "--quiet", "--refit", "none")  # defaults: adamw
    assert quiet.returncode == 0 and "warning:" not in quiet.stderr


def test_the_default_refit_gets_its_own_bar_with_the_expected_time_and_is_in_the_summary(cli):
    done = cli("train", "--synthetic", "--samples", 500, "--epochs", 3, "--patience", 0)  # defaults: refit "all"
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    refit = summary["refit"]
    assert refit["rows"] == 500 and refit["epochs"] == summary["best"]["epoch"] and refit["seconds"] > 0
    bar = [line for line in done.stderr.splitlines() if "refit on all 500 rows, expected " in line]
    assert "expected about 0 s" not in done.stderr  # a walk read it of a refit under a second
    assert bar and f"{refit['epochs']}/{refit['epochs']}" in done.stderr.split("refit on all 500 rows")[-1]


def test_runs_table_shows_the_runs_name_and_the_pages_status_words(capsys, tmp_path):
    # The walk: `runs` printed no name ("emotions default") and the raw "early_stopped" where the pages say
    # "stopped early".
    from multilabel.store import RunStore

    code, out, _ = run_main(capsys, "train", "--synthetic", "--samples", "200", "--epochs", "2", "--quiet",
                            "--store", tmp_path, "--name", "emotions default")
    named = json.loads(out)["run_id"]
    code, out, _ = run_main(capsys, "train", "--synthetic", "--samples", "200", "--epochs", "2", "--quiet",
                            "--store", tmp_path)
    unnamed = json.loads(out)["run_id"]
    store = RunStore(tmp_path)
    run = store.get_run(named)
    store.finish(named, "early_stopped", best=run["best"], checkpoint=run["checkpoint"])  # as early stopping ends one
    store.close()
    code, table, _ = run_main(capsys, "runs", "--store", tmp_path)
    header, *lines = table.splitlines()
    assert code == 0 and header.split()[:3] == ["id", "name", "status"]
    (row,) = [line for line in lines if line.startswith(named)]
    assert re.split(r"\s{2,}", row)[1:3] == ["emotions default", "stopped early"] and "early_stopped" not in table
    (row,) = [line for line in lines if line.startswith(unnamed)]
    assert row.split()[1:3] == [unnamed, "completed"]  # unnamed: its id, as the Runs page names it
    code, lines, _ = run_main(capsys, "runs", "--store", tmp_path, "--json")
    assert {json.loads(line)["status"] for line in lines.splitlines()} == {"early_stopped", "completed"}  # raw


def test_a_csv_run_is_named_by_its_file_as_the_dashboard_names_it_with_the_path_kept(capsys, tmp_path, emotions_csv,
                                                                                      emotion_labels):
    # The walk: `train --data /tmp/walk14/tests/data/emotions.csv` showed the whole path in the Runs page's data
    # column, where the dashboard's run on the same file shows "emotions.csv": two datasets for one file.
    from multilabel.data import dataset_from_frame, read_csv, stored_description
    from multilabel.store import RunStore

    code, out, err = run_main(capsys, "train", "--data", emotions_csv, "--labels", ",".join(emotion_labels),
                              "--epochs", "1", "--hidden-size", "8", "--quiet", "--store", tmp_path)
    assert code == 0, err
    data = RunStore(tmp_path, readonly=True).get_run(json.loads(out)["run_id"])["data"]
    assert data["name"] == "emotions.csv" and data["path"] == str(Path(emotions_csv).resolve())
    uploaded = stored_description(dataset_from_frame(read_csv(emotions_csv), emotion_labels, "'emotions.csv'"))
    assert "fingerprint" in uploaded and {k: data[k] for k in uploaded} == uploaded  # as the page's upload's run
    code, table, _ = run_main(capsys, "runs", "--store", tmp_path)
    assert table.splitlines()[1].endswith("  emotions.csv")
