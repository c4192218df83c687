"""The Inspect page under AppTest: a finished run's curves, confusion grid and threshold trade-off; saving
thresholds into the model that Predict then uses.

Each test points MULTILABEL_HOME at its own tmp_path (app_pages/_shared.py caches the registry per home folder).
Expected numbers come from scikit-learn on the run's stored validation split, not from the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score
from streamlit.testing.v1 import AppTest

from multilabel import TrainConfig, load_checkpoint, make_synthetic
from multilabel.session import get_registry
from multilabel.store import RunStore

from app_pages._nav import INSPECT, PREDICT

REPO = Path(__file__).resolve().parents[1]
PAGE = INSPECT
import pagetest
from pagetest import WAIT_S


# ``home`` (the run store, live runs stopped afterwards) is a fixture of tests/conftest.py.


def trained_run(home: Path, seed: int = 1, epochs: int = 25) -> str:
    """A finished run in ``home``'s store (6 features, 3 labels label_0..label_2), trained through the registry."""
    config = TrainConfig(input_size=6, hidden_size=8, num_outputs=3, epochs=epochs, patience=0, seed=seed,
                         learning_rate=1e-2).validate()
    session = get_registry(home).start(config, make_synthetic(300, 6, 3, seed=seed), name=f"run seed {seed}")
    assert session.join(timeout=WAIT_S), "library training did not finish"
    assert session.snapshot()["status"] == "completed", session.snapshot()["error"]
    return session.run_id


def open_page(run: str | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    if run:
        at.query_params["run"] = run
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> dict[str, dict]:
    return {el.proto.id.rsplit("-", 1)[-1]: json.loads(el.proto.spec) for el in at.get("plotly_chart")}


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def caption_of(at: AppTest, run_id: str, j: int) -> str:
    """The trade-off line under label j's slider (the caption that follows it in the same column)."""
    slider = at.slider(key=f"inspect_thr_{run_id}_{j}")
    texts = [c.value for c in at.caption if c.value.startswith("precision ")]
    sliders = [s for s in at.slider if s.key.startswith(f"inspect_thr_{run_id}_")]
    return texts[sliders.index(slider)]


def expected(probs: np.ndarray, targets: np.ndarray, j: int, threshold: float) -> dict[str, float | str]:
    """Label j's precision, recall, F1 (as the page formats them) and TP at ``threshold``, by scikit-learn."""
    pred = probs[:, j] >= np.float32(threshold)
    return {"precision": f"{precision_score(targets[:, j], pred):.3f}" if pred.any() else "n/a",
            "recall": f"{recall_score(targets[:, j], pred):.3f}",
            "f1": f"{f1_score(targets[:, j], pred, zero_division=0.0):.3f}",
            "p": precision_score(targets[:, j], pred, zero_division=0.0), "r": recall_score(targets[:, j], pred),
            "tp": int((pred & (targets[:, j] == 1)).sum())}


def test_inspect_without_runs_says_so(home):
    at = open_page()
    assert any("No runs yet" in i.value for i in at.info)


def test_inspect_a_run_without_validation_data_says_so_in_one_line(home):
    run_id = trained_run(home)
    RunStore(home).validation_path(run_id).unlink()
    at = open_page()
    (info,) = at.info
    assert "no stored validation data" in info.value and "\n" not in info.value
    assert not at.get("plotly_chart") and not at.slider


def test_inspect_curves_sliders_and_save(home):
    run_id = trained_run(home)
    store = RunStore(home)
    probs, targets = store.load_validation(run_id)
    at = open_page()
    assert at.selectbox(key="inspect_run").value == run_id
    assert at.query_params["run"] == run_id  # a copied link reopens this run

    # At the saved thresholds (0.5), every label's line matches scikit-learn.
    for j in range(3):
        want = expected(probs, targets, j, 0.5)
        assert at.slider(key=f"inspect_thr_{run_id}_{j}").value == 0.5
        assert caption_of(at, run_id, j).startswith(
            f"precision {want['precision']} · recall {want['recall']} · F1 {want['f1']} (TP {want['tp']},")
    assert at.button(key="save_thresholds").disabled  # nothing changed yet
    assert "inspect_onnx" in {b.proto.id.rsplit("-", 1)[-1] for b in at.get("download_button")}

    # Switch the curves to label_1: titles and legends follow, with AP and AUROC from scikit-learn.
    at.selectbox(key=f"inspect_label_{run_id}").set_value(1).run()
    figs = charts(at)
    assert figs["pr_chart"]["layout"]["title"]["text"] == "Precision-recall · label_1"
    assert figs["pr_chart"]["data"][0]["name"] == f"label_1 · AP {average_precision_score(targets[:, 1], probs[:, 1]):.2f}"
    assert figs["roc_chart"]["data"][0]["name"] == f"label_1 · AUROC {roc_auc_score(targets[:, 1], probs[:, 1]):.2f}"

    # Move label_1's threshold: its line, the metrics above the curves and the marked point change to the new values.
    before = caption_of(at, run_id, 1)
    at.slider(key=f"inspect_thr_{run_id}_1").set_value(0.3).run()
    assert not at.exception
    want = expected(probs, targets, 1, 0.3)
    line = caption_of(at, run_id, 1)
    assert line != before
    assert line.startswith(f"precision {want['precision']} · recall {want['recall']} · F1 {want['f1']}")
    assert line.endswith("saved 0.50")
    shown = metrics(at)
    assert shown["Threshold · label_1"] == "0.30"  # a label is named as typed (an intraword _ opens nothing)
    assert (shown["Precision"], shown["Recall"], shown["F1"]) == (want["precision"], want["recall"], want["f1"])
    cuts = np.array([0.5, 0.3, 0.5], dtype=np.float32)
    macro = f1_score(targets, (probs >= cuts).astype(int), average="macro", zero_division=0.0)
    assert shown["Val macro-F1"] == f"{macro:.3f}"  # the whole model's numbers follow the sliders too
    point = charts(at)["pr_chart"]["data"][-1]
    assert point["mode"] == "markers"
    assert (point["x"][0], point["y"][0]) == pytest.approx((want["r"], want["p"]))
    assert caption_of(at, run_id, 0).startswith(f"precision {expected(probs, targets, 0, 0.5)['precision']} ")
    # The confusion grid's label_1 panel counts at 0.3.
    grid = charts(at)["confusion_chart"]
    assert grid["data"][1]["text"][1][1].startswith(f"TP {want['tp']:,}<br>")
    assert "threshold 0.30" in grid["layout"]["annotations"][1]["text"]

    # Save: a new checkpoint carries the thresholds; the page says so and reads them back as saved.
    assert not at.button(key="save_thresholds").disabled
    at.button(key="save_thresholds").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert load_checkpoint(store.checkpoint_path(run_id)).thresholds == pytest.approx([0.5, 0.3, 0.5])
    assert any("Saved into run" in s.value and "label\\_1 0.30" in s.value for s in at.success)
    assert caption_of(at, run_id, 1).endswith("saved 0.30")
    assert at.button(key="save_thresholds").disabled
    assert store.get_run(run_id)["best"]["thresholds"] == pytest.approx([0.5, 0.3, 0.5])

    # Predict (a fresh session) starts from the saved thresholds: its cached model was reloaded for the new file.
    predict = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    predict.switch_page(PREDICT).run()
    assert [predict.slider(key=f"thr_{run_id}_{j}").value for j in range(3)] == pytest.approx([0.5, 0.3, 0.5])


def test_inspect_first_draw_shows_the_numbers_and_has_the_browser_ask_for_the_charts(home):
    """A browser session that opens on Inspect gets the numbers first, without plotly charts (a new tab would
    evaluate plotly before showing either), and a one-shot timer fragment; the next draw, the one that timer asks
    for, has the charts and no timer. (tests/browser/test_inspect_browser.py opens Inspect by its URL and waits for
    its three charts: the timer's redraw in a real browser.)"""
    from app_pages._inspect_views import DRAWING, TICKS
    run_id = trained_run(home)
    probs, targets = RunStore(home).load_validation(run_id)
    at = open_page()
    assert not at.get("plotly_chart")
    assert [c.value for c in at.caption].count(DRAWING) == 2  # under the curves' numbers and under "Confusion"
    want = expected(probs, targets, 0, 0.5)
    assert metrics(at)["Precision"] == want["precision"] and metrics(at)["F1"] == want["f1"]
    assert caption_of(at, run_id, 0).startswith(f"precision {want['precision']} · ")  # the sliders' lines too
    assert at.session_state[TICKS] == 1  # the timer fragment was declared and ran once, inline, without a rerun
    at.session_state[TICKS] = 5
    at.run()  # what the timer's tick does: the whole page again
    assert not at.exception, [e.value for e in at.exception]
    assert {"pr_chart", "roc_chart", "confusion_chart"} <= set(charts(at))
    assert DRAWING not in [c.value for c in at.caption]
    assert metrics(at)["Precision"] == want["precision"]
    assert at.session_state[TICKS] == 5  # not declared again: it ticked once


def test_inspect_come_to_from_another_page_draws_its_charts_at_once(home):
    """Come to by the sidebar from a page that drew first (plotly already loaded there), Inspect has no timer."""
    from app_pages._inspect_views import DRAWING
    from app_pages._nav import TRAIN
    trained_run(home)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.switch_page(TRAIN).run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert {"pr_chart", "roc_chart", "confusion_chart"} <= set(charts(at))
    assert DRAWING not in [c.value for c in at.caption]


def test_inspect_opens_the_run_in_the_link(home):
    older = trained_run(home, seed=1, epochs=3)
    newer = trained_run(home, seed=2, epochs=3)
    assert open_page().selectbox(key="inspect_run").value == newer
    assert open_page(run=older).selectbox(key="inspect_run").value == older


def test_inspect_best_f1_and_reset_buttons_move_the_sliders(home):
    from multilabel.metrics import tune_thresholds
    run_id = trained_run(home)
    probs, targets = RunStore(home).load_validation(run_id)
    best = tune_thresholds(probs, targets)
    assert best != [0.5, 0.5, 0.5]  # else this test could not tell the buttons apart
    at = open_page()
    assert at.button(key="reset_thresholds").disabled
    at.button(key="tune_thresholds").click().run()
    assert [at.slider(key=f"inspect_thr_{run_id}_{j}").value for j in range(3)] == pytest.approx(best)
    for j in range(3):
        want = expected(probs, targets, j, best[j])
        assert caption_of(at, run_id, j).startswith(f"precision {want['precision']} · recall {want['recall']} · ")
    at.button(key="reset_thresholds").click().run()
    assert [at.slider(key=f"inspect_thr_{run_id}_{j}").value for j in range(3)] == [0.5, 0.5, 0.5]
    assert at.button(key="save_thresholds").disabled


# -- live runs and the network view ------------------------------------------------------------------------------------

def wait_page(at: AppTest, done, what: str, timeout: float = WAIT_S):
    """Rerun the page (AppTest never fires run_every itself) until ``done(at)`` gives a value; return it."""
    pagetest.wait_until(at, done, what, timeout)
    return done(at)


def live_epoch(at: AppTest) -> int | None:
    """The epoch in the live PR chart's title, or None while there is none."""
    import re

    fig = charts(at).get("live_pr_chart")
    found = fig and re.search(r"\(epoch (\d+)\)$", fig["layout"]["title"]["text"])
    return int(found.group(1)) if found else None


def start_long_run(home: Path, seed: int = 3):
    config = TrainConfig(input_size=6, hidden_size=8, num_outputs=3, epochs=100_000, patience=0, seed=seed,
                         learning_rate=1e-2, batch_size=32).validate()
    return get_registry(home).start(config, make_synthetic(600, 6, 3, seed=seed), name="live one")


def test_inspect_a_live_run_follows_its_newest_epoch_then_shows_the_finished_view(home):
    session = start_long_run(home)
    store = RunStore(home)
    at = open_page(run=session.run_id)
    assert at.selectbox(key="inspect_run").value == session.run_id
    first = wait_page(at, live_epoch, "the live PR curve")
    later = wait_page(at, lambda a: (e := live_epoch(a)) and e > first and e, "a newer epoch in the live PR curve")
    assert later > first
    assert at.slider(key=f"inspect_live_thr_{session.run_id}").value == 0.5
    assert not [s for s in at.slider if s.key.startswith("inspect_thr_")]  # no saving thresholds on a live run

    # What the page shows is the published epoch's numbers: AP and AUROC from scikit-learn on the live file.
    def agrees(a: AppTest):
        snap = store.load_live_validation(session.run_id)
        figs = charts(a)
        if snap is None or live_epoch(a) != snap["epoch"]:
            return False
        probs, targets = snap["probs"], snap["targets"]
        ap = average_precision_score(targets[:, 0], probs[:, 0])
        auc = roc_auc_score(targets[:, 0], probs[:, 0])
        grid = figs["live_confusion_chart"]
        tp = int(((probs[:, 0] >= np.float32(0.5)) & (targets[:, 0] == 1)).sum())
        return (figs["live_pr_chart"]["data"][0]["name"] == f"label_0 · AP {ap:.2f}"
                and figs["live_roc_chart"]["data"][0]["name"] == f"label_0 · AUROC {auc:.2f}"
                and grid["data"][0]["text"][1][1].startswith(f"TP {tp:,}<br>")
                and grid["layout"]["title"]["text"].endswith(f"(epoch {snap['epoch']})"))
    wait_page(at, agrees, "the page and the live file to agree on one epoch")

    session.stop()
    assert session.join(timeout=WAIT_S)
    # The fragment sees the run end and redraws the page: the finished view with its threshold sliders.
    wait_page(at, lambda a: [s for s in a.slider if s.key.startswith(f"inspect_thr_{session.run_id}_")],
              "the finished view")
    assert "pr_chart" in charts(at) and "live_pr_chart" not in charts(at)


def test_network_view_of_a_live_run_and_of_a_finished_run(home):
    session = start_long_run(home, seed=5)
    at = open_page(run=session.run_id)
    at.radio(key="inspect_view").set_value("Network").run()
    assert at.query_params["view"] == "Network"  # a copied link reopens this view

    def net_epoch(a: AppTest):
        fig = charts(a).get("network_chart")
        return fig and "network_curves_chart" in charts(a) and fig["layout"]["title"]["text"].rsplit(" ", 1)[-1]
    first = wait_page(at, net_epoch, "the network picture")
    wait_page(at, lambda a: (e := net_epoch(a)) and e != first, "a newer epoch in the network picture")
    session.stop()
    assert session.join(timeout=WAIT_S)
    at.run()
    done = RunStore(home).get_run(session.run_id)["epochs_done"]
    assert any(c.value.startswith(f"Stopped · {done} epochs") for c in at.caption)

    # Finished: the curves are the records' per-layer numbers, the picture the last published epoch's weights.
    store = RunStore(home)
    history = store.history(session.run_id)
    evaluated = [r for r in history if "net" in r]
    figs = charts(at)
    curves = figs["network_curves_chart"]["data"]
    assert curves[0]["x"] == [r["epoch"] for r in evaluated]
    assert curves[0]["y"] == pytest.approx([r["net"]["weight_norm"][0] for r in evaluated])
    assert curves[3]["y"] == pytest.approx([r["net"]["grad_norm"][1] for r in evaluated])
    assert curves[4]["y"] == pytest.approx([r["net"]["dead_relu"] for r in evaluated])
    snap = store.load_live_validation(session.run_id)
    assert snap["epoch"] == history[-1]["epoch"]
    best = store.get_run(session.run_id)["best"]["epoch"]  # stopped: not refit, the saved net is the best epoch's
    assert any(f"(the last evaluated epoch; the saved model: best epoch {best})" in c.value for c in at.caption)
    picture = figs["network_chart"]
    assert picture["layout"]["title"]["text"] == f"The network (epoch {snap['epoch']})"
    titles = [a["text"] for a in picture["layout"]["annotations"]]
    dead = int((~snap["alive"]).sum())
    assert titles[:3] == ["<b>input · 6</b>", f"<b>hidden (ReLU) · 8 · {dead} dead</b>",
                          "<b>outputs (sigmoid per label) · 3</b>"]
    nodes = [t for t in picture["data"] if t["mode"] != "lines"]
    assert sorted(n for t in nodes for n in t["text"]) == sorted(
        [f"x{i}" for i in range(6)] + [f"h{h}" for h in range(8)] + ["label_0", "label_1", "label_2"])
    # Hidden unit h's colour is its incoming weight norm over the layer's largest.
    norms = np.linalg.norm(snap["weights"][0], axis=1)
    hidden = next(t for t in nodes if t["text"][0].startswith("h") and "color" in t["marker"]
                  and isinstance(t["marker"]["color"], list))
    for name, color in zip(hidden["text"], hidden["marker"]["color"]):
        assert color == pytest.approx(norms[int(name[1:])] / norms.max(), rel=1e-5)


def test_network_view_of_a_net_too_large_to_publish_draws_the_saved_model(home):
    run_id = trained_run(home, epochs=4)
    store = RunStore(home)
    snap = store.load_live_validation(run_id)
    # As the worker writes it for a net over callbacks.LIVE_WEIGHTS_MAX weights: no weight matrices.
    store.save_live_validation(run_id, {k: np.asarray(snap[k]) for k in ("epoch", "probs", "targets", "alive")})
    at = open_page(run=run_id)
    at.radio(key="inspect_view").set_value("Network").run()
    assert not at.exception, [e.value for e in at.exception]
    picture = charts(at)["network_chart"]
    assert picture["layout"]["title"]["text"] == "The network"  # the saved model: no epoch of its own in the title
    refit = store.get_run(run_id)["info"]["refit"]  # Refit on all rows (the default): the saved net is the refit
    assert any(f"the saved model's weights (refit on all {refit['rows']:,} rows for {refit['epochs']} epochs; dead "
               "units unknown; a net this large" in c.value for c in at.caption), [c.value for c in at.caption]
    trained = load_checkpoint(store.checkpoint_path(run_id))
    norms = np.linalg.norm(trained.model.net[-1].weight.detach().numpy(), axis=1)
    outputs = next(t for t in picture["data"] if t["mode"] != "lines" and t["text"][0] == "label_0")
    assert outputs["marker"]["color"] == pytest.approx((norms / norms.max()).tolist(), rel=1e-5)


def test_inspect_words_name_the_run_and_its_state():
    from app_pages._words import inspect_option, inspect_status_line, score_or_na

    assert inspect_option({"id": "r1", "name": "r1"}) == "r1"
    assert inspect_option({"id": "r1", "name": "baseline"}) == "baseline · r1"
    live = {"status": "running", "best": None, "epochs_done": 3}
    assert inspect_status_line(live, 1.0) == "Training now · the views follow its newest evaluated epoch (every 1 s)."
    done = {"status": "early_stopped", "best": {"epoch": 31}, "epochs_done": 40}
    assert inspect_status_line(done, 1.0) == "Stopped early · 40 epochs · best epoch 31."  # the pages' words
    assert inspect_status_line({**done, "best": None}, 1.0) == "Stopped early · 40 epochs."
    assert inspect_status_line({"status": "stopped", "best": None, "epochs_done": 1}, 1.0) == "Stopped · 1 epoch."
    assert score_or_na(None) == "n/a" and score_or_na(0.12345) == "0.123"


def test_a_one_label_run_reads_1_label_not_1_labels(home):
    # The walk: "119 validation rows · 1 labels · best epoch 4".
    config = TrainConfig(input_size=6, hidden_size=8, num_outputs=1, epochs=3, patience=0, seed=1).validate()
    session = get_registry(home).start(config, make_synthetic(300, 6, 1, seed=1), name="one label")
    assert session.join(timeout=WAIT_S) and session.snapshot()["status"] == "completed"
    at = open_page(session.run_id)
    (line,) = [c.value for c in at.caption if "validation row" in c.value]
    assert line.startswith("60 validation rows · 1 label · best epoch "), line


def test_a_link_to_a_run_that_is_not_there_says_so_while_the_newest_stands_in(home):
    """/Inspect?run=nosuch: one line says the link's run is not there, above the newest run; it stays through the
    page's second draw in a new tab (the charts' rerun, with the URL now naming the newest run) and goes once
    someone picks a run."""
    from app_pages._inspect_views import TICKS
    older = trained_run(home, seed=1, epochs=3)
    newer = trained_run(home, seed=2, epochs=3)
    at = open_page(run="nosuch")
    line = ("No run nosuch to inspect in this run store (unknown, deleted, or without a model yet); showing the "
            "newest run instead.")
    assert [w.value for w in at.warning] == [line]
    assert at.selectbox(key="inspect_run").value == newer and at.query_params["run"] == newer
    at.session_state[TICKS] = 5
    at.run()  # what the charts' timer does in a new tab: the whole page again
    assert [w.value for w in at.warning] == [line]
    assert at.selectbox(key="inspect_run").value == newer
    at.selectbox(key="inspect_run").set_value(older).run()
    assert not at.warning and at.query_params["run"] == older
    at.selectbox(key="inspect_run").set_value(newer).run()
    assert not at.warning
