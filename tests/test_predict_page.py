"""The Predict page under AppTest: a model chosen by link (?model=, a search's ensemble included), and, when the
uploaded CSV carries the model's label columns, the per-label analysis of the predictions on that file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, f1_score, hamming_loss, precision_score, recall_score, \
    roc_auc_score
from streamlit.testing.v1 import AppTest

from multilabel import TrainConfig, jobs, load_checkpoint, make_synthetic
from multilabel.session import get_registry

from app_pages._nav import PAGES
from pagetest import open_page, shown

REPO = Path(__file__).resolve().parents[1]
PREDICT = PAGES["Predict"]
from pagetest import WAIT_S
LABELS = ["label_0", "label_1", "label_2"]


# ``home`` (the run store, live runs stopped afterwards) is a fixture of tests/conftest.py.

def app(**query: str) -> AppTest:
    return open_page(PREDICT, **query)


def trained_run(home: Path, seed: int = 1, name: str | None = None) -> str:
    config = TrainConfig(input_size=6, hidden_size=8, num_outputs=3, epochs=30, patience=0, seed=seed,
                         learning_rate=1e-2).validate()
    session = get_registry(home).start(config, make_synthetic(300, 6, 3, seed=seed), name=name)
    assert session.join(timeout=WAIT_S) and session.snapshot()["status"] == "completed"
    return session.run_id


def labelled_csv(rows: int = 200, seed: int = 5) -> tuple[pd.DataFrame, bytes]:
    """Rows from the same generator as the runs, with their true label columns and an id column."""
    data = make_synthetic(rows, 6, 3, seed=seed)
    frame = pd.DataFrame(data.X, columns=data.feature_names)
    frame.insert(0, "id", [f"r{i}" for i in range(rows)])
    for j, name in enumerate(LABELS):
        frame[name] = data.Y[:, j].astype(int)
    return frame, frame.to_csv(index=False).encode()


def charts(at: AppTest) -> dict[str, dict]:
    return {el.proto.id.rsplit("-", 1)[-1]: json.loads(el.proto.spec) for el in at.get("plotly_chart")}


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_a_csv_with_the_label_columns_gets_the_per_label_analysis_at_the_current_thresholds(home):
    run_id = trained_run(home)
    at = app()
    frame, content = labelled_csv()
    at.file_uploader(key="predict_csv").set_value(("test.csv", content, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning, [w.value for w in at.warning]  # the label columns are used, not "left out"
    assert any(s.value == "Against this file's labels" for s in at.subheader)

    trained = load_checkpoint(get_registry(home).store.get_run(run_id)["checkpoint"])
    probs = trained.predict_proba(frame[[f"x{i}" for i in range(6)]].to_numpy(np.float32))
    Y = frame[LABELS].to_numpy()

    def check(thresholds: list[float]) -> None:
        pred = (probs >= np.asarray(thresholds, dtype=np.float32)).astype(int)
        shown = metrics(at)
        assert shown["Micro-F1"] == f"{f1_score(Y, pred, average='micro'):.3f}"
        assert shown["Macro-F1"] == f"{f1_score(Y, pred, average='macro', zero_division=0):.3f}"
        assert shown["Hamming loss"] == f"{hamming_loss(Y, pred):.4f}"
        table = [d.value for d in at.dataframe if "AUROC" in d.value.columns][0]
        assert table["label"].tolist() == LABELS
        assert table["truly 1"].tolist() == Y.sum(axis=0).tolist()
        assert table["predicted 1"].tolist() == pred.sum(axis=0).tolist()  # the counts of the chart above it
        for j in range(3):
            assert table["threshold"][j] == pytest.approx(thresholds[j])
            assert table["recall"][j] == pytest.approx(recall_score(Y[:, j], pred[:, j]))
            if pred[:, j].any():
                assert table["precision"][j] == pytest.approx(precision_score(Y[:, j], pred[:, j]))
            else:  # nothing predicted 1: precision is undefined and shown empty, not as 0
                assert np.isnan(table["precision"][j])
            assert table["F1"][j] == pytest.approx(f1_score(Y[:, j], pred[:, j]))
            assert table["AUROC"][j] == pytest.approx(roc_auc_score(Y[:, j], probs[:, j]), abs=1e-5)
            assert table["average precision"][j] == pytest.approx(average_precision_score(Y[:, j], probs[:, j]),
                                                                  abs=1e-5)
        grid = json.dumps(charts(at)["predict_confusion"])
        for j in range(3):  # each label's true-positive count is in the grid
            tp = int(((pred[:, j] == 1) & (Y[:, j] == 1)).sum())
            assert str(tp) in grid

    check(list(trained.thresholds))
    figures = charts(at)
    assert figures["predict_pr"]["layout"]["title"]["text"] == "Precision-recall · label_0"
    assert "ROC" in figures["predict_roc"]["layout"]["title"]["text"]

    # Another label for the curves; a moved threshold re-scores at once.
    at.selectbox(key=f"predict_curve_label_{run_id}").set_value(2).run()
    assert charts(at)["predict_pr"]["layout"]["title"]["text"] == "Precision-recall · label_2"
    at.slider(key=f"thr_{run_id}_2").set_value(0.2).run()
    check([trained.thresholds[0], trained.thresholds[1], 0.2])
    marker = charts(at)["predict_pr"]["data"][-1]
    assert marker["name"].startswith("threshold 0.20")
    # The table names each row's predicted labels (not the file's labels) at the thresholds, then the probabilities.
    result = at.dataframe[0].value
    cut = probs >= np.float32([trained.thresholds[0], trained.thresholds[1], 0.2])
    assert result["predicted labels"].tolist() == [", ".join(n for n, on in zip(LABELS, row) if on) or "(none)"
                                                   for row in cut]
    assert [c for c in result.columns if c.endswith("_prob")] == [f"{n}_prob" for n in LABELS]


def test_a_csv_without_label_columns_gets_no_analysis_and_bad_labels_say_why(home):
    trained_run(home)
    at = app()
    frame, content = labelled_csv(rows=40)
    at.file_uploader(key="predict_csv").set_value(("plain.csv", frame.drop(columns=LABELS).to_csv(index=False)
                                                   .encode(), "text/csv")).run()
    assert not at.exception and not at.subheader
    frame["label_1"] = frame["label_1"] * 3  # not 0/1
    at.file_uploader(key="predict_csv").set_value(("bad.csv", frame.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception
    assert any("label_1" in shown(w.value) and "not compared" in w.value for w in at.warning), [w.value for w in at.warning]
    assert not at.subheader
    # the predictions themselves are still there (beside the model's ONNX download)
    assert [b.proto.id.rsplit("-", 1)[-1] for b in at.get("download_button")] == ["download_onnx", "download"]


def test_a_model_link_preselects_that_run_and_a_stale_one_says_so(home):
    first = trained_run(home, seed=1, name="first")
    second = trained_run(home, seed=2, name="second")
    at = app(model=first)
    assert at.selectbox(key="predict_run_select").value == first
    at = app(model=second)
    assert at.selectbox(key="predict_run_select").value == second
    at.selectbox(key="predict_run_select").set_value(first).run()
    assert at.query_params["model"] == first  # the URL follows the choice: a reload keeps it
    at = app(model="gone")
    assert any("not in this run store" in w.value for w in at.warning)
    assert not at.exception


@pytest.mark.slow
def test_a_search_ensemble_is_listed_and_predicts_the_members_mean(home):
    trained_run(home)
    job = jobs.launch(make_synthetic(240, 6, 3, seed=3), "ens", home=home, trials=2, folds=1, members=2,
                      epochs=3, seeds=1, data_info={"source": "csv", "name": "t.csv"})
    deadline = time.monotonic() + WAIT_S
    while jobs.find_job("ens", home)["alive"]:
        assert time.monotonic() < deadline, "the tiny search did not end"
        time.sleep(0.3)
    job = jobs.find_job("ens", home)
    assert job["ensemble"]
    at = app(model="search:ens")
    assert at.selectbox(key="predict_run_select").value == "search:ens"
    # Counted as the Search page counts it: nets, configurations and seeds
    label = at.selectbox(key="predict_run_select").format_func("search:ens")
    assert label.startswith("search:ens · t.csv · ensemble of 2 nets (2 configurations × 1 seed)")
    # its own training file scored: the same optimism note as for a run (the ensemble is refit on all its rows)
    from multilabel.predictview import model_choices, training_rows_note
    trained_on = model_choices(get_registry(home).store, "search:")["search:ens"]["data"]
    assert "optimistic" in training_rows_note(trained_on, "t.csv", 240, None)  # no fingerprint: name and rows
    assert training_rows_note(trained_on, "t.csv", 30, None) is None
    # scored as the Search page estimates what it ships (one fold here: no spread), not its best trial's CV score
    assert label.endswith(f"estimated micro-F1 {job['result']['estimate']['micro_f1']:.3f}"), label
    frame, content = labelled_csv(rows=30)
    at.file_uploader(key="predict_csv").set_value(("t.csv", content, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    ensemble = load_checkpoint(job["ensemble"])
    expected = ensemble.predict_proba(frame[[f"x{i}" for i in range(6)]].to_numpy(np.float32))
    result = at.dataframe[0].value
    np.testing.assert_allclose(result[[f"{n}_prob" for n in LABELS]].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    assert len(ensemble.nets) == 2


def test_a_handed_over_run_is_chosen_once_and_the_last_choice_survives_a_page_change(home):
    first = trained_run(home, seed=1, name="first")
    second = trained_run(home, seed=2, name="second")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    at.session_state["predict_run"] = second  # what Train's "Predict with this model" sets
    at.switch_page(PREDICT).run()
    assert at.selectbox(key="predict_run_select").value == second
    at.selectbox(key="predict_run_select").set_value(first).run()
    at.switch_page(PAGES["Runs"]).run()
    at.query_params.clear()  # the sidebar link carries no ?model=
    at.switch_page(PREDICT).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="predict_run_select").value == first  # not the old hand-over again


def test_scoring_the_models_own_training_file_says_the_scores_are_optimistic(home):
    """Fixed thresholds are 0.5, not 'tuned'; the training CSV again (same name, same rows) gets a warning."""
    from multilabel.data import dataset_from_frame

    frame, content = labelled_csv(rows=120, seed=7)
    data = dataset_from_frame(frame.drop(columns=["id"]), LABELS, "'train.csv'")
    config = TrainConfig(input_size=6, hidden_size=8, num_outputs=3, epochs=5, patience=0).validate()
    session = get_registry(home).start(config, data)
    assert session.join(timeout=WAIT_S) and session.snapshot()["status"] == "completed"
    at = app()
    assert any("They start at the model's own (0.5 for every label)" in c.value for c in at.caption)
    _, other = labelled_csv(rows=120, seed=8)
    at.file_uploader(key="predict_csv").set_value(("other.csv", other, "text/csv")).run()
    assert not [w.value for w in at.warning if "optimistic" in w.value]  # other rows: no word
    at.file_uploader(key="predict_csv").set_value(("train.csv", content, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [w.value for w in at.warning if "trained on" in w.value and "optimistic" in w.value]


def test_a_run_link_opens_that_run_as_on_train_and_inspect(home):
    older, newer = trained_run(home, seed=1, name="older"), trained_run(home, seed=2, name="newer")
    assert app().selectbox(key="predict_run_select").value == newer  # no link: the newest
    at = app(run=older)  # ?run=<id>, as Train and Inspect take it (it opened the newest, with no word)
    assert at.selectbox(key="predict_run_select").value == older and not at.warning
    assert at.selectbox(key="predict_run_select").format_func(older).startswith("older · synthetic · completed")


def test_a_command_line_run_warns_on_its_own_rows_under_any_file_name(home, emotions_csv, emotion_labels, capsys):
    # The walk: a run trained with `train --data /path/to/emotions.csv` got no note for an upload of emotions.csv
    # (its stored name was the whole path), and the same rows as emotions_bom.csv got none for any run.
    from multilabel.cli import main

    assert main(["train", "--data", str(emotions_csv), "--labels", ",".join(emotion_labels), "--epochs", "1",
                 "--hidden-size", "8", "--quiet", "--store", str(home)]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    at = app(model=run_id)
    content = emotions_csv.read_bytes()
    at.file_uploader(key="predict_csv").set_value(("emotions.csv", content, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    (note,) = [shown(w.value) for w in at.warning if "optimistic" in w.value]
    assert note.startswith("'emotions.csv' holds the same 593 rows as the data this model was trained on: "), note
    lines = content.decode().splitlines()
    shuffled = "\n".join([lines[0], *reversed(lines[1:])]) + "\n"
    at.file_uploader(key="predict_csv").set_value(("emotions_bom.csv", b"\xef\xbb\xbf" + shuffled.encode(),
                                                   "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    (note,) = [shown(w.value) for w in at.warning if "optimistic" in w.value]
    assert note.startswith("'emotions_bom.csv' holds the same 593 rows as the data this model was trained on "
                           "('emotions.csv'): "), note


def test_the_checkpoint_uploader_takes_one_file_and_refuses_a_wrong_one_in_one_line(home):
    """It had type=["pt"]: the browser kept each refused file as a red chip beside the loaded checkpoint. Now it takes
    any one file, and a file that is not a .pt is refused in one line; a .pt after it loads as before."""
    run_id = trained_run(home)
    at = app()
    at.radio(key="model_source").set_value("Upload a checkpoint").run()
    uploader = at.file_uploader(key="ckpt_upload")
    assert list(uploader.proto.type) == [] and not uploader.proto.multiple_files
    uploader.set_value(("notcsv.csv", b"a,b\n1,2\n", "text/csv")).run()
    assert [shown(e.value) for e in at.error] == ["'notcsv.csv' is not a checkpoint: upload a .pt file saved by multilabel "
                                           "(Train, Runs or the CLI save them)."]
    raw = Path(get_registry(home).store.checkpoint_path(run_id)).read_bytes()
    at.file_uploader(key="ckpt_upload").set_value(("m.pt", raw, "application/octet-stream")).run()
    assert not at.error and not at.exception
    assert any(c.value.startswith("6 features → 3 labels") for c in at.caption)
