"""The Streamlit pages under streamlit.testing.v1.AppTest: widgets in, runs, tables and charts out.

Each test points MULTILABEL_HOME at its own tmp_path before building the AppTest: app_pages/_shared.py caches the
registry per home folder with st.cache_resource (process-global), so a distinct folder isolates the tests.
AppTest never fires st.fragment(run_every=...) by itself, so waits re-run the script in a loop with a deadline.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from multilabel import TrainConfig, load_checkpoint, make_synthetic
from multilabel.predict import PROB_SUFFIX, predict_frame
from multilabel.session import get_registry

from app_pages._nav import PAGES
from app_pages._shared import plain
from pagetest import REPO, WAIT_S, open_page, progress_texts, shown, text, wait_for, wait_until

PAGE = {name.lower(): path for name, path in PAGES.items()}  # page paths live in one place: app_pages/_nav.py


# -- helpers -------------------------------------------------------------------------------------------------------

# ``home`` (the run store, live runs stopped afterwards) is a fixture of tests/conftest.py.

def app(page: str | None = None) -> AppTest:
    return open_page(page)


def status_is(*statuses: str) -> Callable[[AppTest], bool]:
    return lambda at: any(f"status: **{s}**" in text(at) for s in statuses)


def epoch_shown(at: AppTest) -> int:
    """The N of the 'epoch N/M' progress text, 0 when no epoch has ended yet."""
    for t in progress_texts(at):
        if t.startswith("epoch "):
            return int(t.split()[1].split("/")[0])
    return 0


def charts(at: AppTest) -> dict[str, dict]:
    """Plotly charts by widget key (the element id ends with '-<key>'), as figure dicts."""
    return {el.proto.id.rsplit("-", 1)[-1]: json.loads(el.proto.spec) for el in at.get("plotly_chart")}


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def inspect_link(at: AppTest) -> str:
    """The run panel's link to Inspect ('' when not drawn)."""
    return next((el.proto.label for el in at.get("page_link") if el.proto.label.startswith("Inspect:")), "")


def trained_run(home: Path, epochs: int = 8, seed: int = 1, rows: int = 300) -> str:
    """A finished run in ``home``'s store, trained with the library on synthetic data (6 features, 3 labels)."""
    config = TrainConfig(input_size=6, hidden_size=8, num_outputs=3, epochs=epochs, patience=0, seed=seed).validate()
    session = get_registry(home).start(config, make_synthetic(rows, 6, 3, seed=seed))
    assert session.join(timeout=WAIT_S), "library training did not finish"
    assert session.snapshot()["status"] == "completed", session.snapshot()["error"]
    return session.run_id


def features_csv(rows: int = 40, seed: int = 5) -> tuple[pd.DataFrame, bytes]:
    """A CSV with the 6 synthetic feature columns plus an id column that must pass through."""
    data = make_synthetic(rows, 6, 3, seed=seed)
    frame = pd.DataFrame(data.X, columns=data.feature_names)
    frame.insert(0, "id", [f"r{i}" for i in range(rows)])
    return frame, frame.to_csv(index=False).encode()


def start_synthetic(at: AppTest, epochs: int, samples: int | None = None, patience: int | None = None) -> AppTest:
    if samples is not None:
        at.number_input(key="syn_samples").set_value(samples)
    if patience is not None:
        at.slider(key="patience").set_value(patience)
    at.slider(key="epochs").set_value(epochs).run()
    at.button(key="start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# -- Home ----------------------------------------------------------------------------------------------------------

def test_home_lists_the_devices_of_this_machine(home):
    at = app()
    assert not at.exception
    assert [t.value for t in at.title] == ["multilabel"]
    devices = at.table[0].value  # a static table: a few rows need no data grid (whose script a new tab loads)
    assert "device" in devices.columns and "name" in devices.columns
    assert devices["device"].iloc[0] == "cpu"
    assert at.subheader[0].value == "Devices on this machine"
    intro = " ".join(m.value for m in at.markdown)  # every page of the sidebar is introduced, not three of seven
    assert all(f"**{name}**" in intro for name in ("Train", "Predict", "Runs", "Search", "Inspect",
                                                   "Sigmoid vs softmax"))
    # The shortcuts carry an icon: as plain grey text they read as captions, not links
    shortcuts = {"Train a model", "Search for a good model", "Predict on a CSV", "Browse runs"}
    links = {el.proto.label: el.proto.icon for el in at.get("page_link") if el.proto.label in shortcuts}
    assert set(links) == shortcuts
    assert all(icon.startswith(":material/") for icon in links.values()), links


# -- Train ---------------------------------------------------------------------------------------------------------

def test_train_page_before_any_run_invites_a_start(home):
    at = app(PAGE["train"])
    assert not at.exception
    assert any("Start training" in i.value for i in at.info)
    assert at.button(key="start").disabled is False
    assert at.button(key="stop").disabled is True
    # An arrival sends no plotly chart and no code block (their scripts held the whole page back in a new browser);
    # the browser's rerun once it has drawn Start brings the empty frames where the curves will come.
    assert charts(at) == {} and not at.code
    assert "Command line" in at.expander[-1].label and "python -m multilabel train" in at.text[0].value
    at.run()
    figs = charts(at)
    assert set(figs) == {"loss_frame", "metrics_frame"} and all(f["data"] == [] for f in figs.values())
    assert "python -m multilabel train" in at.code[0].value


def test_hidden_size_and_epochs_take_a_typed_number_beside_their_slider(home):
    """20 or 100 exactly, without finding the pixel: the number box and the slider show one value."""
    at = app(PAGE["train"])

    def box(label: str):
        return next(n for n in at.number_input if n.label == f"{label} (exact)")

    box("Epochs").set_value(100).run()
    assert at.slider(key="epochs").value == 100 and at.session_state["train_form"]["epochs"] == 100
    box("Hidden size").set_value(20).run()
    assert at.slider(key="hidden_size").value == 20
    at.slider(key="epochs").set_value(5).run()
    assert box("Epochs").value == 5
    at.run()  # another rerun (the browser sends every widget's value): nothing goes back to an old value
    assert at.slider(key="epochs").value == box("Epochs").value == at.session_state["train_form"]["epochs"] == 5
    assert at.query_params["epochs"] == "5" and at.query_params["hidden_size"] == "20"
    assert not at.exception
    # Arrow keys on the slider, then Tab into the box: the slider's move and the box's (now stale) value came in one
    # batch, and the box's callback read the key the slider's move had just renamed (a KeyError in the terminal).
    # AppTest calls the two callbacks in the other order, so this checks the outcome (the slider's value), not the race.
    at.slider(key="hidden_size").set_value(48)
    box("Hidden size").set_value(20)
    at.run()
    assert not at.exception and at.slider(key="hidden_size").value == 48 == at.session_state["train_form"][
        "hidden_size"]


def test_a_number_typed_out_of_range_is_said_under_its_box_and_holds_start(home):
    """Streamlit's own bounds kept 100000 in red in the browser and sent nothing: Start trained on the old value."""
    at = app(PAGE["train"])
    hidden = next(n for n in at.number_input if n.label == "Hidden size (exact)")
    hidden.set_value(100_000).run()
    assert at.session_state["train_form"]["hidden_size"] != 100_000 and at.slider(key="hidden_size").value != 100_000
    said = [e.value for e in at.error if e.value.startswith("Hidden size: 100,000 is not between 1 and")]
    assert len(said) == 1 and "type a number in that range" in said[0]
    at.number_input(key="syn_samples").set_value(999_999_999_999).run()
    assert any(e.value.startswith("Samples: 999,999,999,999 is not between 50 and 2,000,000") for e in at.error)
    at.button(key="start").click().run()
    assert any(e.value.startswith("Not started") for e in at.error) and "run_id" not in at.session_state
    assert get_registry(home).store.list_runs() == []
    # back on the page after another: the boxes are drawn anew from the form, the old lines go with what was typed
    at.switch_page(PAGE["runs"]).run()
    at.switch_page(PAGE["train"]).run()
    assert not [e.value for e in at.error if "is not between" in e.value]
    hidden = next(n for n in at.number_input if n.label == "Hidden size (exact)")
    hidden.set_value(100_000).run()
    at.number_input(key="syn_samples").set_value(999_999_999_999).run()
    # typed right again (or the slider moved): the line goes, the form takes the number, Start starts
    next(n for n in at.number_input if n.label == "Hidden size (exact)").set_value(64).run()
    at.number_input(key="syn_samples").set_value(400).run()
    assert not at.error and at.session_state["train_form"]["hidden_size"] == 64
    assert at.session_state["train_form"]["syn_samples"] == 400
    assert not at.exception


def test_train_page_warns_when_adam_meets_the_adamw_weight_decay(home):
    at = app(PAGE["train"])
    assert not [w for w in at.warning if "weight decay" in w.value]  # the defaults: adamw, decay 1.0
    at.selectbox(key="optimizer").set_value("adam").run()
    lines = [w.value for w in at.warning if "weight decay" in w.value]
    assert len(lines) == 1 and "optimizer adam is an L2 penalty" in lines[0] and "\n" not in lines[0]
    at.select_slider(key="weight_decay").set_value(1e-4).run()
    assert not [w for w in at.warning if "weight decay" in w.value]


def test_synthetic_run_completes_and_shows_metrics_and_curves(home):
    at = app(PAGE["train"])
    epochs = 15
    start_synthetic(at, epochs=epochs, patience=0)
    run_id = at.session_state["run_id"]
    assert at.query_params["run"] == run_id  # the URL carries the run, so a reload re-attaches
    wait_until(at, status_is("completed"), "the run to complete")
    assert f"`{run_id}`" in text(at)
    assert not at.exception and not at.error

    shown = metrics(at)
    for label in ("Best epoch", "Val micro-F1", "Val macro-F1", "Val Hamming loss", "Val subset accuracy"):
        assert label in shown
    assert int(shown["Best epoch"]) in range(1, epochs + 1)
    assert 0.0 <= float(shown["Val micro-F1"]) <= 1.0
    assert re.fullmatch(r"0\.\d{4}", shown["Val Hamming loss"])  # 4 decimals, as Predict, Search, Runs, Inspect
    assert not any(m.label.lower() == "accuracy" for m in at.metric)  # never element-wise accuracy
    assert epoch_shown(at) == epochs
    assert progress_texts(at)[0].startswith(f"epoch {epochs}/{epochs}")
    # Batch size auto (0): the caption says the size used (1,600 training rows / 16), never "batch 0".
    assert any(" · batch 100 (auto) · " in c.value for c in at.caption), [c.value for c in at.caption]
    assert get_registry(home).store.get_run(run_id)["info"]["batch_size"] == 100
    # The default refits on all rows after training; the page says the saved model is that refit, not the best epoch.
    refit = get_registry(home).store.get_run(run_id)["info"]["refit"]
    assert refit["epochs"] == int(shown["Best epoch"])
    assert any(f"refit on all {refit['rows']:,} rows for {refit['epochs']} epochs" in c.value for c in at.caption)

    figs = charts(at)
    assert {"loss_chart", "metrics_chart", "per_label_chart", "probe_chart", "hist_chart"} <= set(figs)
    loss = {t["name"]: t for t in figs["loss_chart"]["data"]}
    assert set(loss) == {"train", "validation"}
    assert loss["train"]["x"] == list(range(1, epochs + 1))
    assert len(loss["validation"]["y"]) == epochs
    stored = get_registry(home).store.history(run_id)
    assert loss["validation"]["y"] == pytest.approx([r["val_loss"] for r in stored])
    assert [t["x"] for t in figs["per_label_chart"]["data"]][0] == [f"label_{j}" for j in range(5)]  # 5 labels
    hist_traces = figs["hist_chart"]["data"]
    assert len(hist_traces) == 2 * 5

    # Buttons after the run: start again enabled, stop disabled; the run can go to Predict.
    assert at.button(key="start").disabled is False
    assert at.button(key="stop").disabled is True
    assert at.button(key="to_predict").label == "Predict with this model"
    assert get_registry(home).store.get_run(run_id)["status"] == "completed"


def test_stop_mid_run_ends_it_as_stopped_with_best_weights(home):
    at = app(PAGE["train"])
    start_synthetic(at, epochs=2000, samples=3000, patience=0)
    run_id = at.session_state["run_id"]
    wait_until(at, lambda a: epoch_shown(a) >= 1 and inspect_link(a), "the first epoch")
    assert status_is("running")(at)
    assert inspect_link(at).endswith(", live")
    stop = at.button(key="stop")
    assert stop.disabled is False  # a full rerun of a live run enables Stop
    assert at.button(key="start").disabled is True
    stop.click().run()
    wait_until(at, status_is("stopped"), "the run to stop")
    run = get_registry(home).store.get_run(run_id)
    assert run["status"] == "stopped"
    assert run["epochs_done"] in range(1, 2000)
    assert Path(run["checkpoint"]).is_file()
    assert "Best epoch" in metrics(at)
    loss = {t["name"]: t for t in charts(at)["loss_chart"]["data"]}
    assert len(loss["train"]["x"]) == run["epochs_done"]
    assert inspect_link(at) == "Inspect: per-label PR/ROC curves, confusion and the network"  # no longer 'live'


def test_starting_a_run_enables_stop_and_disables_start_at_once(home):
    """In a browser only the polling fragment reruns while a run is live, so the buttons must already be right on
    the script run that started it (not only after some later full rerun)."""
    at = app(PAGE["train"])
    start_synthetic(at, epochs=2000, samples=3000, patience=0)
    assert get_registry(home).get(at.session_state["run_id"]).running
    assert at.button(key="stop").disabled is False, "Stop is disabled on the run that started training"
    assert at.button(key="start").disabled is True, "Start is still enabled on the run that started training"


def test_csv_training_defaults_labels_to_the_trailing_binary_columns(home, emotions_csv, emotion_labels):
    EMOTION_LABELS = emotion_labels
    at = app(PAGE["train"])
    at.radio(key="source").set_value("Upload CSV").run()
    at.file_uploader(key="train_csv").set_value(("emotions.csv", emotions_csv.read_bytes(), "text/csv")).run()
    assert not at.exception and not at.error
    assert any("593 rows × 78 columns" in c.value for c in at.caption)
    (labels,) = at.multiselect
    assert labels.value == EMOTION_LABELS
    assert metrics(at) == {"Input size": "72", "Number of outputs": "6"}

    # Dropping a label moves it to the features.
    labels.unselect("angry-aggresive").run()
    assert metrics(at) == {"Input size": "73", "Number of outputs": "5"}
    labels.select("angry-aggresive").run()

    at.slider(key="epochs").set_value(8).run()
    at.button(key="start").click().run()
    run_id = at.session_state["run_id"]
    wait_until(at, status_is("completed", "stopped early"), "the CSV run to finish")
    assert not at.exception and not at.error
    figs = charts(at)
    assert figs["per_label_chart"]["data"][0]["x"] == EMOTION_LABELS
    run = get_registry(home).store.get_run(run_id)
    assert run["config"]["input_size"] == 72 and run["config"]["num_outputs"] == 6
    assert run["data"]["source"] == "csv" and run["data"]["labels"] == EMOTION_LABELS
    trained = load_checkpoint(run["checkpoint"])
    assert trained.label_names == EMOTION_LABELS
    assert len(trained.feature_names) == 72


@pytest.mark.parametrize("content,needle", [
    (b"", "empty"),
    (b"a,b,label\n1,x,0\n2,3,1\n", "not numeric"),
    (b"1,2,3\n4,5,6\n", "no header"),
])
def test_train_with_a_bad_csv_shows_an_error_not_an_exception(home, content, needle):
    at = app(PAGE["train"])
    at.radio(key="source").set_value("Upload CSV").run()
    at.file_uploader(key="train_csv").set_value(("bad.csv", content, "text/csv")).run()
    at.button(key="start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(e.value for e in at.error)
    assert needle in errors
    assert "run_id" not in at.session_state
    assert get_registry(home).store.list_runs() == []


def test_start_with_upload_chosen_but_no_file_says_what_to_do(home):
    at = app(PAGE["train"])
    at.radio(key="source").set_value("Upload CSV").run()
    at.button(key="start").click().run()
    assert not at.exception
    assert "upload a CSV first" in " ".join(e.value for e in at.error)


def test_a_run_survives_leaving_the_page_and_reattaches(home):
    at = app(PAGE["train"])
    start_synthetic(at, epochs=2000, samples=3000, patience=0)
    run_id = at.session_state["run_id"]

    at.switch_page(PAGE["runs"]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table.loc[table["run"] == run_id, "status"].tolist() == ["running"]
    assert any("Running: stop it on the Train page" in c.value for c in at.caption)
    assert "delete" not in [b.key for b in at.button]  # a live run cannot be deleted

    at.switch_page(PAGE["train"]).run()
    assert at.session_state["run_id"] == run_id
    assert f"`{run_id}`" in text(at)
    first = epoch_shown(wait_until(at, lambda a: epoch_shown(a) >= 1, "an epoch after re-attaching"))
    wait_until(at, lambda a: epoch_shown(a) > first, "the epoch counter to move on")
    assert get_registry(home).get(run_id).running
    at.button(key="stop").click().run()
    wait_until(at, status_is("stopped"), "the re-attached run to end")
    assert get_registry(home).store.get_run(run_id)["status"] == "stopped"
    assert "Val micro-F1" in metrics(at)


def test_a_new_tab_with_the_run_in_the_url_reattaches(home):
    run_id = trained_run(home, epochs=6)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    at.query_params["run"] = run_id
    at.switch_page(PAGE["train"]).run()
    assert not at.exception
    assert at.session_state["run_id"] == run_id
    assert status_is("completed")(at) and f"`{run_id}`" in text(at)
    # An arrival: the status and the controls first, the charts in the run the browser asks for once it drew Start.
    assert charts(at) == {} and "Drawing the charts…" in [c.value for c in at.caption]
    at.run()
    assert len(charts(at)["loss_chart"]["data"][0]["x"]) == 6
    assert "Drawing the charts…" not in [c.value for c in at.caption]
    # the form shows the settings of the run on screen, not the defaults
    assert at.slider(key="epochs").value == 6
    assert at.slider(key="hidden_size").value == 8
    assert at.slider(key="patience").value == 0


def test_a_stale_run_link_starts_fresh(home):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    at.query_params["run"] = "no-such-run"
    at.switch_page(PAGE["train"]).run()
    assert not at.exception and not at.error
    assert "run_id" not in at.session_state
    assert any("Start training" in i.value for i in at.info)


def test_a_stored_run_from_another_process_shows_from_the_store(home):
    """A run this process does not hold live (a server restart, the CLI) is drawn from the store."""
    run_id = trained_run(home, epochs=5)
    get_registry(home)._sessions.clear()  # forget the live session: what a restarted server would see
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    at.query_params["run"] = run_id
    at.switch_page(PAGE["train"]).run()
    assert not at.exception
    assert status_is("completed")(at)
    assert {"Val micro-F1", "Best epoch"} <= set(metrics(at))
    figs = charts(at.run())  # the browser's call once it has drawn Start (an arrival leaves the charts to it)
    assert len(figs["loss_chart"]["data"][0]["x"]) == 5
    assert "probe_chart" in figs and "hist_chart" in figs  # the last epoch's live view is kept in the store


# -- Predict -------------------------------------------------------------------------------------------------------

def prediction_downloads(at):
    """Predict's downloads of predictions: every download button but the model's own (Download as ONNX)."""
    return [b for b in at.get("download_button") if b.key != "download_onnx"]


def test_predict_without_runs_offers_a_checkpoint_upload(home):
    at = app(PAGE["predict"])
    assert not at.exception
    assert at.radio(key="model_source").value == "Upload a checkpoint"
    assert at.file_uploader(key="ckpt_upload") is not None
    assert len(at.get("download_button")) == 0


def test_predict_scores_an_uploaded_csv_and_offers_the_download(home, downloads):
    run_id = trained_run(home)
    at = app(PAGE["predict"])
    assert at.radio(key="model_source").value == "From a run"
    assert at.selectbox(key="predict_run_select").value == run_id
    frame, content = features_csv(rows=40)
    at.file_uploader(key="predict_csv").set_value(("batch.csv", content, "text/csv")).run()
    assert not at.exception and not at.error

    labels = ["label_0", "label_1", "label_2"]
    result = at.dataframe[0].value
    # On screen each row's predicted labels come first, then the probabilities; the file keeps the CLI's columns.
    assert list(result.columns) == ["id", "predicted labels", *[f"{lab}{PROB_SUFFIX}" for lab in labels]]
    assert len(result) == 40
    assert result["id"].tolist() == frame["id"].tolist()  # other columns pass through, in row order
    trained = load_checkpoint(get_registry(home).store.get_run(run_id)["checkpoint"])
    expected, _ = predict_frame(trained, frame)
    for lab in labels:
        np.testing.assert_allclose(result[lab + PROB_SUFFIX].to_numpy(), expected[lab + PROB_SUFFIX].to_numpy(),
                                   rtol=1e-5, atol=1e-6)
    assert result["predicted labels"].tolist() == [", ".join(lab for lab in labels if row[lab] == 1) or "(none)"
                                                   for _, row in expected.iterrows()]
    assert "40 rows scored" in text(at)

    (button,) = prediction_downloads(at)
    assert button.label == "Download predictions (CSV)"
    (csv,) = [d for d in downloads if d["mimetype"] == "text/csv"]
    assert csv["filename"] == "batch_predictions.csv"
    downloaded = pd.read_csv(io.BytesIO(csv["data"]))
    assert list(downloaded.columns) == ["id", *[f"{lab}{PROB_SUFFIX}" for lab in labels], *labels]
    np.testing.assert_allclose(downloaded["label_1_prob"], expected["label_1_prob"], rtol=1e-5, atol=1e-6)

    freq = charts(at)["freq_chart"]
    assert freq["data"][0]["x"] == labels
    assert freq["data"][0]["text"] == [f"{int(expected[lab].sum()):,}" for lab in labels]


def test_predict_thresholds_change_the_labels(home):
    run_id = trained_run(home)
    at = app(PAGE["predict"])
    _, content = features_csv(rows=30)
    at.file_uploader(key="predict_csv").set_value(("batch.csv", content, "text/csv")).run()
    at.slider(key=f"thr_{run_id}_0").set_value(0.0)
    at.slider(key=f"thr_{run_id}_2").set_value(1.0).run()
    assert not at.exception
    result = at.dataframe[0].value
    shown = [set(filter(None, row.split(", "))) for row in result["predicted labels"]]
    assert all("label_0" in row for row in shown)  # every probability is >= 0
    assert [("label_2" in row) for row in shown] == [bool(p >= 1.0) for p in result["label_2_prob"]]


def test_predict_with_an_uploaded_checkpoint(home):
    run_id = trained_run(home)
    checkpoint = Path(get_registry(home).store.get_run(run_id)["checkpoint"]).read_bytes()
    at = app(PAGE["predict"])
    at.radio(key="model_source").set_value("Upload a checkpoint").run()
    at.file_uploader(key="ckpt_upload").set_value(("model.pt", checkpoint, "application/octet-stream")).run()
    assert not at.exception and not at.error
    assert any("6 features → 3 labels" in c.value for c in at.caption)
    _, content = features_csv(rows=10)
    at.file_uploader(key="predict_csv").set_value(("batch.csv", content, "text/csv")).run()
    assert not at.exception and not at.error
    assert len(at.dataframe[0].value) == 10
    assert len(prediction_downloads(at)) == 1


def test_predict_with_a_garbage_checkpoint_shows_an_error(home):
    at = app(PAGE["predict"])
    at.file_uploader(key="ckpt_upload").set_value(("model.pt", b"not a checkpoint at all", "application/octet-stream"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1 and "model.pt" in shown(at.error[0].value)
    assert len(at.get("download_button")) == 0


@pytest.mark.parametrize("content,needle", [
    (b"a,b\n1,2\n3,4\n", "lacks"),  # not the model's features
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00\x01", "'junk.csv'"),  # binary garbage
    (b"", "empty"),
    (b"x0,x1,x2,x3,x4,x5\n1,2,3,4,5,oops\n", "not numeric"),
    (b"x0,x1,x2,x3,x4,x5\n1,2,3,4,5,\n", "row 2"),  # an empty feature cell
])
def test_predict_with_a_bad_csv_shows_an_error_not_an_exception(home, content, needle):
    trained_run(home)
    at = app(PAGE["predict"])
    at.file_uploader(key="predict_csv").set_value(("junk.csv", content, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1, [e.value for e in at.error]
    assert needle in shown(at.error[0].value)
    assert len(prediction_downloads(at)) == 0
    assert len(at.dataframe) == 0


def test_train_page_hands_its_run_to_predict(home):
    at = app(PAGE["train"])
    start_synthetic(at, epochs=5, samples=200, patience=0)
    run_id = at.session_state["run_id"]
    wait_until(at, status_is("completed"), "the run to complete")
    at.button(key="to_predict").click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Predict"]
    assert at.session_state["predict_run"] == run_id
    at.switch_page(PAGE["predict"]).run()  # AppTest keeps its own page choice: follow the switch by hand
    assert at.selectbox(key="predict_run_select").value == run_id


def test_a_failed_run_shows_its_message_on_train_and_runs(home):
    store = get_registry(home).store
    run_id = store.create_run(TrainConfig().to_dict(), {"source": "synthetic", "rows": 100})
    message = "training diverged at epoch 3: the loss became nan; lower the learning rate (now 0.1)"
    store.fail(run_id, message)

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    at.query_params["run"] = run_id
    at.switch_page(PAGE["train"]).run()
    assert not at.exception
    assert status_is("failed")(at)
    assert [e.value for e in at.error] == [plain(message)]
    assert len(at.get("plotly_chart")) == 0 and not at.metric

    at.switch_page(PAGE["runs"]).run()
    assert not at.exception
    assert any(plain(message) in e.value and "failed" in e.value for e in at.error)
    assert len(at.get("download_button")) == 0  # no checkpoint to offer


# -- Runs ----------------------------------------------------------------------------------------------------------

def test_runs_page_without_runs_says_so(home):
    at = app(PAGE["runs"])
    assert not at.exception
    assert any("No runs yet" in i.value for i in at.info)


def test_runs_page_lists_runs_and_overlays_their_curves(home):
    first = trained_run(home, epochs=4, seed=1)
    second = trained_run(home, epochs=7, seed=2)
    at = app(PAGE["runs"])
    assert not at.exception
    at.run()  # the charts come with the run the browser asks for after a first draw
    table = at.dataframe[0].value
    assert table["run"].tolist() == [second, first]  # newest first
    assert table["status"].tolist() == ["completed", "completed"]
    assert table["epochs run"].tolist() == [7, 4] and table["max epochs"].tolist() == [7, 4]
    store = get_registry(home).store
    best = [store.get_run(r)["best"] for r in (second, first)]
    assert table["val micro-F1"].tolist() == pytest.approx([b["micro_f1"] for b in best])
    assert table["best epoch"].tolist() == [b["epoch"] for b in best]

    assert at.multiselect(key="compare").value == [second, first]
    figs = charts(at)
    for key, metric in (("overlay_loss", "val_loss"), ("overlay_f1", "val_micro_f1")):
        lines = {t["name"]: t for t in figs[key]["data"]}
        assert set(lines) == {first, second}
        for run in (first, second):  # every epoch that has the metric (fast epochs may skip metrics: engine.py)
            having = [r for r in store.history(run) if metric in r]
            assert lines[run]["x"] == [r["epoch"] for r in having]
            assert lines[run]["y"] == pytest.approx([r[metric] for r in having])
        assert lines[first]["x"][0] == 1 and lines[first]["x"][-1] == 4 and lines[second]["x"][-1] == 7

    at.multiselect(key="compare").unselect(second).run()
    assert [t["name"] for t in charts(at)["overlay_loss"]["data"]] == [first]
    at.multiselect(key="compare").unselect(first).run()
    assert "overlay_loss" not in charts(at)
    assert "download_ckpt" in [b.proto.id.rsplit("-", 1)[-1] for b in at.get("download_button")]  # its checkpoint


def test_delete_needs_confirmation_and_removes_the_run(home):
    keep = trained_run(home, epochs=3, seed=1)
    doomed = trained_run(home, epochs=3, seed=2)
    store = get_registry(home).store
    checkpoint = Path(store.get_run(doomed)["checkpoint"])
    at = app(PAGE["runs"])
    at.selectbox(key="detail_run").set_value(doomed).run()

    at.button(key="delete").click().run()
    assert not at.exception
    assert any(doomed in w.value and "cannot be undone" in w.value for w in at.warning)
    at.button(key="delete_no").click().run()  # cancel keeps it
    assert not at.warning
    assert {r["id"] for r in store.list_runs()} == {keep, doomed}

    at.button(key="delete").click().run()
    at.button(key="delete_yes").click().run()
    assert not at.exception
    assert [r["id"] for r in store.list_runs()] == [keep]
    assert not checkpoint.exists()
    assert at.dataframe[0].value["run"].tolist() == [keep]
    # The browser kept showing the deleted run's name in 'Run' (its own copy of the choice) above the next run's
    # details: the picker gets a new key, as after a rename.
    assert at.selectbox(key="detail_run_v1").value == keep
    assert at.text_input(key=f"name_{keep}").value == keep


def test_runs_page_opens_a_run_on_train_and_on_predict(home):
    run_id = trained_run(home, epochs=3)
    at = app(PAGE["runs"])
    at.button(key="open_train").click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Train"]
    assert at.session_state["run_id"] == run_id
    at.switch_page(PAGE["train"]).run()  # AppTest keeps its own page choice: follow the switch by hand
    assert at.slider(key="epochs").value == 3  # the form shows the opened run's settings
    assert at.slider(key="hidden_size").value == 8

    at.switch_page(PAGE["runs"]).run()
    at.button(key="open_predict").click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Predict"]
    assert at.session_state["predict_run"] == run_id


# -- the Train form keeps what the page shows --------------------------------------------------------------------------

from app_pages import _form  # noqa: E402

KNOBS = {k.name: k for k in _form.knobs()}


def widget_of(at: AppTest, k: "_form.Knob"):
    kind = {"slider": at.slider, "select_slider": at.select_slider, "toggle": at.toggle, "select": at.selectbox,
            "number": at.number_input}[k.ui]
    return kind(key=k.name)


def another_value(k: "_form.Knob"):
    """A widget value other than the default, and not the widget's minimum (the value the old form fell to)."""
    if k.ui == "toggle":
        return True
    if k.options is not None:
        options = list(k.options)
        return next(o for o in reversed(options) if o != k.default)
    if isinstance(k.default, float):
        return 0.35 if k.default != 0.35 else 0.4
    return k.default + 3 if k.max is None or k.default + 3 <= k.max else k.default - 3


def config_value(k: "_form.Knob", shown):
    """The TrainConfig value a widget value stands for (a toggle stands for one of two choices)."""
    if k.ui == "toggle" and k.options:
        return list(k.options)[1 if shown else 0]
    return shown


def test_the_form_has_a_widget_for_every_knob_of_the_train_page():
    names = set(KNOBS)
    assert {"input_size", "num_outputs", "hidden_size", "epochs", "learning_rate", "batch_size", "val_fraction",
            "patience", "seed", "device", "pos_weight", "threshold_mode"} <= names
    for k in KNOBS.values():
        assert k.label and k.help, k  # label and help come from TrainConfig's metadata (or the page's fallback)
    assert KNOBS["device"].options == ["auto", *__import__("multilabel").available_devices()]


@pytest.mark.parametrize("name", list(KNOBS))
@pytest.mark.slow
def test_each_widget_survives_a_source_switch_and_a_page_change_and_trains(home, name):
    """Change one widget, switch the source to Upload CSV and back, go to Runs and back, start: the stored config
    equals what every widget showed (the form once dropped synthetic sliders to 1 and others to their minimum)."""
    k = KNOBS[name]
    at = app(PAGE["train"])
    at.number_input(key="syn_samples").set_value(300).run()
    new = another_value(k)
    widget_of(at, k).set_value(new).run()
    assert widget_of(at, k).value == new

    at.radio(key="source").set_value("Upload CSV").run()
    assert not at.exception
    at.radio(key="source").set_value("Synthetic").run()
    at.switch_page(PAGE["runs"]).run()
    at.switch_page(PAGE["home"]).run()
    at.switch_page(PAGE["train"]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert widget_of(at, k).value == new, f"{name} came back as {widget_of(at, k).value}, not {new}"
    assert at.number_input(key="syn_samples").value == 300

    shown = {n: config_value(kn, widget_of(at, kn).value) for n, kn in KNOBS.items()}
    at.button(key="start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    run = get_registry(home).store.get_run(at.session_state["run_id"])
    assert {n: run["config"][n] for n in shown} == shown
    assert run["config"][name] == config_value(k, new)
    assert run["data"]["rows"] == 300


def test_the_csv_and_its_label_choice_survive_a_source_switch_and_a_page_change(home, emotions_csv,
                                                                                 emotion_labels):
    at = app(PAGE["train"])
    at.slider(key="hidden_size").set_value(40).run()
    at.radio(key="source").set_value("Upload CSV").run()
    at.file_uploader(key="train_csv").set_value(("emotions.csv", emotions_csv.read_bytes(), "text/csv")).run()
    size_line = [c.value for c in at.caption if ": 593 rows" in c.value]
    at.multiselect(key="labels").unselect("angry-aggresive").run()
    assert metrics(at) == {"Input size": "73", "Number of outputs": "5"}
    # the same words before and after a rerun of the page (the browser still shows the file in the uploader)
    assert [c.value for c in at.caption if ": 593 rows" in c.value] == size_line

    at.radio(key="source").set_value("Synthetic").run()
    assert at.slider(key="input_size").value == TrainConfig().input_size  # the CSV never touched these
    assert at.slider(key="num_outputs").value == TrainConfig().num_outputs
    at.switch_page(PAGE["predict"]).run()
    at.switch_page(PAGE["train"]).run()
    at.radio(key="source").set_value("Upload CSV").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(plain("emotions.csv") + ": 593 rows" in c.value and "(kept until you upload another file)" in c.value
               for c in at.caption)
    assert at.multiselect(key="labels").value == emotion_labels[:-1]
    assert metrics(at) == {"Input size": "73", "Number of outputs": "5"}
    assert at.slider(key="hidden_size").value == 40

    at.button(key="start").click().run()
    assert not at.exception and not at.error
    run = get_registry(home).store.get_run(at.session_state["run_id"])
    assert (run["config"]["input_size"], run["config"]["num_outputs"], run["config"]["hidden_size"]) == (73, 5, 40)
    assert run["data"]["labels"] == emotion_labels[:-1]


def test_no_label_chosen_says_so_in_page_words(home, emotions_csv, emotion_labels):
    at = app(PAGE["train"])
    at.radio(key="source").set_value("Upload CSV").run()
    at.file_uploader(key="train_csv").set_value(("emotions.csv", emotions_csv.read_bytes(), "text/csv")).run()
    at.multiselect(key="labels").set_value([]).run()
    at.button(key="start").click().run()
    errors = " ".join(e.value for e in at.error)
    assert "choose at least one label column" in errors and "--" not in errors
    assert get_registry(home).store.list_runs() == []


def test_a_second_file_with_the_same_header_shows_its_own_label_choice(home):
    """The picker shows what the counts below it say: with the same header, the browser kept the first file's
    empty choice while 'Number of outputs' said 2, and Start said to choose a label column."""
    at = app(PAGE["train"])
    at.radio(key="source").set_value("Upload CSV").run()
    at.file_uploader(key="train_csv").set_value(("bad.csv", b"f1,f2,a,b\n1,2,3,4\n5,6,7,8\n", "text/csv")).run()
    assert at.multiselect(key="labels").value == []  # no 0/1 column to guess
    good = "f1,f2,a,b\n" + "".join(f"{i},{i % 3},{i % 2},{(i + 1) % 2}\n" for i in range(40))
    at.file_uploader(key="train_csv").set_value(("good.csv", good.encode(), "text/csv")).run()
    assert at.multiselect(key="labels").value == ["a", "b"]
    assert {m.label: m.value for m in at.metric}["Number of outputs"] == "2"
    at.button(key="start").click().run()
    assert not at.error and "run_id" in at.session_state


def test_the_uploads_preview_shows_an_empty_cell_as_missing_not_none(home):
    at = app(PAGE["train"])
    at.radio(key="source").set_value("Upload CSV").run()
    at.file_uploader(key="train_csv").set_value(("gap.csv", b"f1,f2,a,b\n1,,0,1\n2,3,1,0\n", "text/csv")).run()
    preview = at.dataframe[0]
    assert preview.value["f2"].isna().iloc[0] and preview.proto.placeholder == "(missing)"  # the grid drew "None"
    # Rows numbered as the messages number them (the header is row 1): "row 2" is the preview's first row
    assert list(preview.value.index) == [2, 3]


def test_a_text_feature_column_is_said_when_the_file_is_chosen_not_after_start(home):
    at = app(PAGE["train"])
    at.radio(key="source").set_value("Upload CSV").run()
    rows = "".join(f"{i},{i % 3},{'bad' if i == 2 else i},{i % 2}\n" for i in range(30))
    at.file_uploader(key="train_csv").set_value(("text_col.csv", ("f1,f2,comment,y\n" + rows).encode(),
                                                 "text/csv")).run()
    assert at.multiselect(key="labels").value == ["y"]
    said = [e.value for e in at.error]
    assert len(said) == 1 and "comment" in said[0] and "numeric" in said[0], said  # before any Start
    at.multiselect(key="labels").set_value(["y", "comment"]).run()  # another choice, checked again
    said = [e.value for e in at.error]
    assert len(said) == 1 and said[0].startswith("label column 'comment'") and "0 or 1" in said[0], said
    at.multiselect(key="labels").set_value(["y", "f2"]).run()  # f2 is 0, 1 or 2: still said
    assert len(at.error) == 1 and "'f2'" in at.error[0].value


def test_an_empty_label_guess_says_why_and_what_to_do(home):
    # The last column is 0/1/2: no trailing 0/1 column to guess, and the picker used to come up empty, unexplained.
    at = app(PAGE["train"])
    at.radio(key="source").set_value("Upload CSV").run()
    rows = "".join(f"{i},{i % 2},{i % 3}\n" for i in range(30))
    at.file_uploader(key="train_csv").set_value(("counts.csv", ("f1,a,b\n" + rows).encode(), "text/csv")).run()
    assert at.multiselect(key="labels").value == []
    said = [i.value for i in at.info if i.value.startswith("No label columns")]
    assert said == [plain("No label columns were chosen for you: they are guessed as the 0/1 columns at the end of "
                          "the file, and its last column, 'b', has the value 2 at row 4. Choose the label columns "
                          "above.")]
    at.multiselect(key="labels").set_value(["a"]).run()  # chosen: the line goes
    assert not [i for i in at.info if i.value.startswith("No label columns")] and not at.error


def test_a_tab_with_no_run_lists_the_runs_training_now_and_opens_one(home):
    """A new tab said 'no run yet' while a run it had queued (or another tab's) trained, with no way to it."""
    owner = app(PAGE["train"])
    start_synthetic(owner, epochs=2000, samples=3000, patience=0)
    run_id = owner.session_state["run_id"]
    wait_for(lambda: run_id in get_registry(home).store.live_run_ids(), "the run to train")
    other = app(PAGE["train"])  # another browser, no run in its URL
    lines = [c.value for c in other.caption if c.value.startswith("Training now")]
    assert len(lines) == 1 and f"run `{run_id}`" in lines[0] and "started by another browser session" in lines[0]
    other.button(key=f"open_live_{run_id}").click().run()
    assert other.session_state["run_id"] == run_id and status_is("running")(other)
    get_registry(home).stop(run_id, by="test")


def test_a_failed_start_keeps_the_run_on_screen_and_says_why(home, emotions_csv):
    """A Start that the data refuses, with a finished run on the page: the one-line reason, and that run's charts
    still drawn (the start's placeholder frames once took the run's chart keys: a duplicate-key exception)."""
    run_id = trained_run(home, epochs=5)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    at.query_params["run"] = run_id
    at.switch_page(PAGE["train"]).run().run()  # the second: the browser's call for the charts once it drew Start
    assert len(charts(at)["loss_chart"]["data"][0]["x"]) == 5
    at.radio(key="source").set_value("Upload CSV").run()
    at.file_uploader(key="train_csv").set_value(("emotions.csv", emotions_csv.read_bytes(), "text/csv")).run()
    at.multiselect(key="labels").set_value([]).run()
    at.button(key="start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "choose at least one label column" in " ".join(e.value for e in at.error)
    assert status_is("completed")(at) and at.session_state["run_id"] == run_id
    assert len(charts(at)["loss_chart"]["data"][0]["x"]) == 5
    assert [r["id"] for r in get_registry(home).store.list_runs()] == [run_id]


# -- statuses, owners and notes (items 5 and 6) --------------------------------------------------------------------

def test_an_early_stopped_run_reads_stopped_early_on_train_and_runs(home):
    store = get_registry(home).store
    run_id = store.create_run(TrainConfig().to_dict(), {"source": "synthetic", "rows": 100})
    store.finish(run_id, "early_stopped")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    at.query_params["run"] = run_id
    at.switch_page(PAGE["train"]).run()
    assert status_is("stopped early")(at) and "early_stopped" not in text(at)
    at.switch_page(PAGE["runs"]).run()
    assert at.dataframe[0].value["status"].tolist() == ["stopped early"]


def test_another_session_sees_the_owner_and_must_confirm_a_stop_which_leaves_a_note(home):
    owner = app(PAGE["train"])
    start_synthetic(owner, epochs=2000, samples=3000, patience=0)
    run_id = owner.session_state["run_id"]
    assert "started by this browser session at" in text(owner)

    other = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    other.query_params["run"] = run_id
    other.switch_page(PAGE["train"]).run()
    assert "started by another browser session at" in text(other)
    other.button(key="stop").click().run()
    assert any("started by another browser session" in w.value and "Stop it anyway" in w.value
               for w in other.warning)
    assert get_registry(home).is_live(run_id) if hasattr(get_registry(home), "is_live") else True
    other.button(key="stop_no").click().run()
    assert not other.warning
    assert get_registry(home).get(run_id).running, "Cancel stopped the run"

    other.button(key="stop").click().run()
    other.button(key="stop_yes").click().run()
    wait_until(owner, status_is("stopped"), "the other session's stop to end the run")
    other_id = other.session_state["browser_id"]
    notes = [shown(c.value) for c in owner.caption if shown(c.value).startswith("Note (")]
    assert len(notes) == 1 and "stopped by another browser session" in notes[0] and other_id not in notes[0]
    owner.switch_page(PAGE["runs"]).run()
    assert any("stopped by another browser session" in c.value for c in owner.caption)
    other.switch_page(PAGE["runs"]).run()  # the note is stored with who it was: the stopper reads its own
    assert any("stopped by this browser session" in c.value for c in other.caption)


def test_the_owner_stops_its_own_run_without_a_question_or_a_note(home):
    at = app(PAGE["train"])
    start_synthetic(at, epochs=2000, samples=3000, patience=0)
    at.button(key="stop").click().run()
    assert not at.warning
    wait_until(at, status_is("stopped"), "the run to stop")
    assert not [c.value for c in at.caption if c.value.startswith("Note (")]


def test_runs_shows_the_metrics_of_a_live_run_so_far(home):
    at = app(PAGE["train"])
    start_synthetic(at, epochs=2000, samples=3000, patience=0)
    run_id = at.session_state["run_id"]
    wait_until(at, lambda a: epoch_shown(a) >= 2, "two epochs")
    at.switch_page(PAGE["runs"]).run()
    row = at.dataframe[0].value.set_index("run").loc[run_id]
    assert row["status"] == "running"
    assert 0.0 <= row["val micro-F1"] <= 1.0 and 1 <= row["best epoch"] <= row["epochs run"], row.to_dict()
    assert any(re.search(r"validation metrics: epoch \d+ so far", c.value) for c in at.caption)
    assert "None" not in at.dataframe[0].value.to_string()
    shown = metrics(at)  # the selected run (the only one): every metric so far, none of them "None"
    for label in ("Val micro-F1", "Val macro-F1", "Val Hamming loss", "Val subset accuracy"):
        assert 0.0 <= float(shown[label]) <= 1.0, (label, shown[label])
    assert re.fullmatch(r"0\.\d{4}", shown["Val Hamming loss"])  # 4 decimals on every page


def test_the_download_keeps_its_bytes_across_unrelated_reruns(home, downloads):
    run_id = trained_run(home)
    at = app(PAGE["predict"])
    _, content = features_csv(rows=30)
    at.file_uploader(key="predict_csv").set_value(("batch.csv", content, "text/csv")).run()
    at.run()
    at.run()
    csvs = [d["data"] for d in downloads if d["mimetype"] == "text/csv"]
    assert len(csvs) == 3 and csvs[0] is csvs[1] is csvs[2]  # the same bytes object: the same file behind the link
    at.slider(key=f"thr_{run_id}_0").set_value(0.0).run()
    moved = [d["data"] for d in downloads if d["mimetype"] == "text/csv"][-1]
    assert moved is not csvs[0] and moved != csvs[0]  # a threshold change does make a new file
    (button,) = prediction_downloads(at)
    assert button.proto.ignore_rerun  # a click does not rerun the page under the download


def test_the_url_keeps_the_form_so_a_new_session_opens_the_same_settings(home):
    at = app(PAGE["train"])
    at.slider(key="hidden_size").set_value(40).run()
    at.toggle(key="threshold_mode").set_value(True).run()
    at.select_slider(key="learning_rate").set_value(0.01).run()
    params = dict(at.query_params)
    assert {k: v[0] if isinstance(v, list) else v for k, v in params.items()} == {
        "hidden_size": "40", "threshold_mode": "tuned", "learning_rate": "0.01"}

    fresh = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)  # a reload: a new session, the same URL
    for key, value in params.items():
        fresh.query_params[key] = value
    fresh.switch_page(PAGE["train"]).run()
    assert not fresh.exception and not fresh.warning
    assert fresh.slider(key="hidden_size").value == 40
    assert fresh.toggle(key="threshold_mode").value is True
    assert fresh.select_slider(key="learning_rate").value == 0.01

    at.slider(key="hidden_size").set_value(TrainConfig().hidden_size).run()  # back to the default: out of the URL
    assert "hidden_size" not in at.query_params


def test_the_url_keeps_the_data_settings_so_a_copied_link_opens_the_same_data(home):
    at = app(PAGE["train"])
    at.number_input(key="syn_samples").set_value(3000).run()
    at.slider(key="syn_noise").set_value(0.15).run()
    at.slider(key="hidden_size").set_value(128).run()
    params = {k: v[0] if isinstance(v, list) else v for k, v in dict(at.query_params).items()}
    assert params == {"samples": "3000", "noise": "0.15", "hidden_size": "128"}  # the link lost the first two

    fresh = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)  # the link in a new tab
    for key, value in params.items():
        fresh.query_params[key] = value
    fresh.switch_page(PAGE["train"]).run()
    assert not fresh.exception and not fresh.warning, [w.value for w in fresh.warning]
    assert fresh.number_input(key="syn_samples").value == 3000 and fresh.slider(key="syn_noise").value == 0.15
    assert fresh.slider(key="hidden_size").value == 128
    command = [t.value for t in [*fresh.code, *fresh.text] if t.value.startswith("python -m multilabel train")]
    assert "--samples 3000 --noise 0.15" in command[0]  # the command line builds the same data

    at.radio(key="source").set_value("Upload CSV").run()
    assert at.query_params["source"] == "csv"
    bad = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    bad.query_params["source"] = "csv"
    bad.query_params["samples"] = "lots"
    bad.switch_page(PAGE["train"]).run()
    assert not bad.exception and bad.radio(key="source").value == "Upload CSV"
    assert [shown(w.value) for w in bad.warning] == [
        "samples='lots' in the link was ignored (the number of samples must be a whole number from 50 to 2,000,000)"]
    assert bad.session_state["train_form"]["syn_samples"] == 2000


def test_a_bad_value_in_the_url_is_left_out_with_a_reason(home):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    at.query_params["epochs"] = "lots"
    at.query_params["hidden_size"] = "12"
    at.switch_page(PAGE["train"]).run()
    assert not at.exception
    assert any("epochs='lots'" in w.value for w in at.warning)
    assert at.slider(key="epochs").value == TrainConfig().epochs
    assert at.slider(key="hidden_size").value == 12
    at.run()  # the browser's call for the chart frames, right after the arrival: the reason stays on screen
    assert any("epochs='lots'" in w.value for w in at.warning)
    at.switch_page(PAGE["runs"]).run()
    at.switch_page(PAGE["train"]).run()  # a later visit: the link is old news
    assert not any("epochs='lots'" in w.value for w in at.warning)
