"""Runs as experiments (multilabel.experiments and its figures): real runs trained by the engine in worker processes
into a real SQLite store, turned into the Runs table, filtered, sorted, smoothed and exported."""

from __future__ import annotations

import io
import json
import math
import re

import pandas as pd
import pytest

from multilabel import MultilabelError, TrainConfig, make_synthetic
from multilabel import experiments as ex
from multilabel.charts import (figure_html, parallel_coordinates_figure, runs_overlay_figure,
                               smoothed_overlay_figure)
from multilabel.config import knobs
from multilabel.session import get_registry

SETTINGS = [  # (name, hidden, learning rate, optimizer, epochs, seed)
    ("small adam", 8, 1e-2, "adam", 6, 1),
    ("wide adamw", 32, 1e-3, "adamw", 9, 2),
    ("Mid ADAM", 16, 5e-2, "adam", 7, 3),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """Three finished runs with different settings (trained in worker processes), plus one failed run that logged
    three real epochs (copied from a finished run's history) before failing, in one run store."""
    home = tmp_path_factory.mktemp("experiments")
    registry = get_registry(home)
    ids = {}
    for name, hidden, lr, optimizer, epochs, seed in SETTINGS:
        config = TrainConfig(input_size=6, hidden_size=hidden, num_outputs=3, epochs=epochs, learning_rate=lr,
                             optimizer=optimizer, patience=0, seed=seed, device="cpu").validate()
        session = registry.start(config, make_synthetic(300, 6, 3, seed=seed), name=name,
                                 started_by="browser session abc123")
        assert session.join(timeout=120) and session.snapshot()["status"] == "completed", session.snapshot()["error"]
        ids[name] = session.run_id
    store = registry.store
    source = store.history(ids["wide adamw"])[:3]
    broken = store.create_run(store.get_run(ids["wide adamw"])["config"], {"source": "csv", "name": "emotions.csv",
                                                                           "rows": 593}, name="broken")
    for record in source:
        store.log_epoch(broken, record)
    store.fail(broken, "training diverged")
    ids["broken"] = broken
    return {"store": store, "ids": ids, "history": source}


def frame_of(store, **kwargs) -> pd.DataFrame:
    return ex.runs_frame(store.list_runs(), store.history, **kwargs)


def test_the_table_has_every_trainconfig_field_and_the_stored_values(trained):
    store, ids = trained["store"], trained["ids"]
    frame = frame_of(store).set_index("run")
    headers = dict(ex.config_columns())
    assert [f.name for f in knobs()] == list(headers)  # every field, in TrainConfig's order
    for name, run_id in ids.items():
        run = store.get_run(run_id)
        row = frame.loc[run_id]
        for field, header in headers.items():
            if field == "batch_size" and (run["info"] or {}).get("batch_size"):
                # a run set to auto (0) shows the size it used, as the engine resolved it
                assert row[header] == run["info"]["batch_size"] == (run["config"][field] or 32), name
                continue
            assert row[header] == run["config"][field], (name, field)
        assert (row["name"], row["status"], row["epochs run"]) == (name, run["status"], run["epochs_done"])
        assert row["duration s"] == pytest.approx(run["duration_s"])
    finished = frame.loc[ids["small adam"]]
    assert finished["data"] == "synthetic" and finished["rows"] == 300
    assert finished["started by"] == "browser session abc123"
    best = store.get_run(ids["small adam"])["best"]
    for column, key, _, _ in ex.METRICS:
        assert finished[column] == pytest.approx(best[key])
    assert finished["best epoch"] == best["epoch"]
    assert frame.loc[ids["broken"], "data"] == "emotions.csv"
    assert list(frame_of(store).columns) == ex.all_columns()
    assert set(ex.DEFAULT_COLUMNS) <= set(ex.all_columns())


def test_an_unfinished_run_shows_its_measured_epoch_of_lowest_validation_loss(trained):
    store, ids, history = trained["store"], trained["ids"], trained["history"]
    asked = []

    def history_of(run_id):
        asked.append(run_id)
        return store.history(run_id)

    frame = ex.runs_frame(store.list_runs(), history_of).set_index("run")
    assert asked == [ids["broken"]]  # finished runs carry their best metrics: no history read for them
    measured = [r for r in history if r.get("val_micro_f1") is not None]
    top = min(measured, key=lambda r: r["val_loss"])
    row = frame.loc[ids["broken"]]
    assert row["status"] == "failed" and row["best epoch"] == top["epoch"]
    assert row["val loss"] == pytest.approx(top["val_loss"])
    assert row["val micro-F1"] == pytest.approx(top["val_micro_f1"])
    assert row["val subset acc"] == pytest.approx(top["val_subset_accuracy"])


def test_best_metrics_without_any_measured_epoch_are_missing_not_zero():
    values, epoch = ex.best_metrics({"best": None}, [{"epoch": 1, "val_loss": 0.7, "train_loss": 0.8}])
    assert epoch is None and values["val loss"] == 0.7
    assert all(values[c] is None for c in ex.METRIC_COLUMNS if c != "val loss")
    assert ex.best_metrics({"best": None}, []) == ({c: None for c in ex.METRIC_COLUMNS}, None)
    partial = {"id": "p", "best": {"val_loss": 0.5, "epoch": 2, "partial": True}, "config": {}, "data": {}}
    measured = [{"epoch": 1, "val_loss": 0.6, "val_micro_f1": 0.4}, {"epoch": 2, "val_loss": 0.5, "val_micro_f1": 0.7}]
    frame = ex.runs_frame([partial], lambda run_id: measured)  # a best record without metrics: read the history
    assert frame.loc[0, "val micro-F1"] == 0.7 and frame.loc[0, "best epoch"] == 2
    assert "started" not in ex.numeric_columns(frame) and "val loss" in ex.numeric_columns(frame)
    # A live run's row is read before its history: epochs logged in between count as run, so the best epoch never
    # exceeds the epochs run (seen once in CI: best epoch 17 of 16 epochs run).
    live = {"id": "l", "status": "running", "best": None, "config": {}, "data": {}, "epochs_done": 1}
    frame = ex.runs_frame([live], lambda run_id: measured)
    assert frame.loc[0, "epochs run"] == 2 and frame.loc[0, "best epoch"] == 2


def test_filters_by_status_data_text_and_ranges(trained):
    store, ids = trained["store"], trained["ids"]
    frame = frame_of(store)
    pick = lambda spec: set(ex.filter_runs(frame, spec)["run"])  # noqa: E731
    assert pick(ex.RunFilter()) == set(ids.values())
    assert pick(ex.RunFilter(statuses=("failed",))) == {ids["broken"]}
    assert pick(ex.RunFilter(data=("synthetic",))) == {ids[n] for n in ("small adam", "wide adamw", "Mid ADAM")}
    assert pick(ex.RunFilter(text="ADAM")) == {ids[n] for n in ("small adam", "wide adamw", "Mid ADAM")}
    assert pick(ex.RunFilter(text="  mid ")) == {ids["Mid ADAM"]}  # case-insensitive, spaces ignored
    store.add_note(ids["small adam"], "Baseline for the report")
    try:
        assert pick(ex.RunFilter(text="baseline")) == set()  # the frame was built before the note
        assert set(ex.filter_runs(frame_of(store), ex.RunFilter(text="baseline"))["run"]) == {ids["small adam"]}
    finally:
        store.delete_note(ids["small adam"], 0)
    assert pick(ex.RunFilter(text=ids["broken"][-6:])) == {ids["broken"]}  # the run id is searched too
    assert pick(ex.RunFilter(ranges=(("hidden", 10, 40),))) == {ids[n] for n in ("wide adamw", "Mid ADAM", "broken")}
    assert pick(ex.RunFilter(ranges=(("lr", 0.005, 0.05),))) == {ids["small adam"], ids["Mid ADAM"]}
    assert pick(ex.RunFilter(statuses=("completed",), ranges=(("hidden", 10, 40),))) == {ids["wide adamw"],
                                                                                          ids["Mid ADAM"]}
    with pytest.raises(MultilabelError, match="no column 'nope' to filter on"):
        ex.filter_runs(frame, ex.RunFilter(ranges=(("nope", 0, 1),)))


def test_a_range_drops_runs_without_a_value():
    frame = ex.runs_frame([{"id": "a", "name": "a", "status": "failed", "config": {}, "data": {}, "best": None,
                            "epochs_done": 0, "notes": [], "created_at": 1.0, "duration_s": None}], lambda _: [])
    assert ex.filter_runs(frame, ex.RunFilter(ranges=(("val loss", 0, 10),))).empty
    assert len(ex.filter_runs(frame, ex.RunFilter())) == 1


def test_sorts_numbers_and_words_with_missing_values_last(trained):
    store, ids = trained["store"], trained["ids"]
    frame = frame_of(store)
    by_hidden = ex.sort_runs(frame, "hidden")["run"].tolist()
    assert by_hidden[0] == ids["small adam"] and by_hidden[-2:] in ([ids["wide adamw"], ids["broken"]],
                                                                    [ids["broken"], ids["wide adamw"]])
    assert ex.sort_runs(frame, "lr", descending=True)["run"].tolist()[0] == ids["Mid ADAM"]
    assert ex.sort_runs(frame, "name")["name"].tolist() == ["broken", "Mid ADAM", "small adam", "wide adamw"]
    f1 = frame.set_index("run")["val micro-F1"]
    for descending in (False, True):
        order = ex.sort_runs(frame, "val micro-F1", descending)["val micro-F1"].tolist()
        assert order == sorted(f1.tolist(), reverse=descending)
    tied = ex.sort_runs(frame, "inputs")["run"].tolist()
    assert tied == frame["run"].tolist()  # every run has 6 inputs: the order given is kept
    with pytest.raises(MultilabelError, match="no column 'nope' to sort by"):
        ex.sort_runs(frame, "nope")
    missing = pd.DataFrame({"run": ["a", "b", "c"], "x": [2.0, math.nan, 1.0]})
    assert ex.sort_runs(missing, "x")["run"].tolist() == ["c", "a", "b"]
    assert ex.sort_runs(missing, "x", descending=True)["run"].tolist() == ["a", "c", "b"]


def test_ema_is_tensorboards_debiased_moving_average():
    values = [1.0, 3.0, None, 2.0, float("nan"), 5.0]
    assert ex.ema(values, 0.0) == [1.0, 3.0, None, 2.0, None, 5.0]
    w, last, n, expected = 0.6, 0.0, 0, []
    for v in values:
        if v is None or v != v:
            expected.append(None)
            continue
        last, n = w * last + (1 - w) * v, n + 1
        expected.append(last / (1 - w ** n))
    smoothed = ex.ema(values, w)
    assert smoothed == pytest.approx(expected)
    assert smoothed[0] == 1.0  # no pull toward zero at the start
    assert ex.ema([0.4] * 50, 0.99) == pytest.approx([0.4] * 50)
    assert ex.ema([], 0.5) == []
    for bad in (-0.1, 1.0):
        with pytest.raises(MultilabelError, match=r"smoothing must be in \[0, 1\)"):
            ex.ema([1.0], bad)


def test_history_csv_holds_every_epoch_and_flattens_nested_values(trained):
    store, ids = trained["store"], trained["ids"]
    history = store.history(ids["wide adamw"])
    data = ex.history_csv(history)
    assert data == ex.history_csv(store.history(ids["wide adamw"]))  # the same bytes each time
    table = pd.read_csv(io.BytesIO(data))
    assert table.columns[0] == "epoch" and table["epoch"].tolist() == list(range(1, 10))
    assert table["train_loss"].tolist() == pytest.approx([r["train_loss"] for r in history], rel=1e-12)
    assert table["val_loss"].tolist() == pytest.approx([r["val_loss"] for r in history], rel=1e-12)
    measured = [r for r in history if "val_per_label" in r]
    assert measured
    for label in measured[-1]["val_per_label"]:
        column = table.set_index("epoch")[f"val_per_label/{label}/f1"]
        for r in measured:
            assert column[r["epoch"]] == pytest.approx(r["val_per_label"][label]["f1"])
    net = measured[-1]["net"]
    last = table.set_index("epoch").loc[measured[-1]["epoch"]]
    assert last["net/weight_norm/hidden"] == pytest.approx(net["weight_norm"][0])
    assert last["net/grad_norm/output"] == pytest.approx(net["grad_norm"][1])
    assert not any("layers" in c for c in table.columns)
    assert ex.history_csv([]) == b"epoch\n"


def test_labels_add_the_id_only_where_names_collide():
    assert ex.unique_labels([("a", "x"), ("b", "x"), ("c", "y"), ("d", None)]) == {
        "a": "x (a)", "b": "x (b)", "c": "y", "d": "d"}


def test_hyperparameter_axes_are_the_settings_that_differ(trained):
    frame = frame_of(trained["store"])
    # batch: the finished runs used 32 (auto), the run that failed before training never resolved its auto (0)
    assert ex.hyperparameter_columns(frame) == ["data", "hidden", "max epochs", "lr", "batch", "seed", "optimizer"]
    assert ex.hyperparameter_columns(frame.iloc[:1]) == []
    assert len(ex.hyperparameter_columns(frame, varying_only=False)) == len(knobs()) + 1


# -- figures ---------------------------------------------------------------------------------------------------------

def test_parallel_coordinates_has_numeric_categorical_and_log_axes_coloured_by_a_metric(trained):
    store, ids = trained["store"], trained["ids"]
    frame = frame_of(store)
    records = frame.to_dict("records")
    hyper = ex.hyperparameter_columns(frame)
    fig = parallel_coordinates_figure(records, hyper, list(ex.METRIC_COLUMNS), "val micro-F1").to_plotly_json()
    (trace,) = fig["data"]
    assert trace["type"] == "parcoords"
    dims = {d["label"]: d for d in trace["dimensions"]}
    assert list(dims) == ["data", "hidden", "max epochs", "lr (log)", "batch", "seed", "optimizer", *ex.METRIC_COLUMNS]
    order = list(frame["run"])
    assert list(dims["hidden"]["values"]) == [float(v) for v in frame["hidden"]]
    assert list(dims["optimizer"]["ticktext"]) == ["adam", "adamw"]
    assert [dims["optimizer"]["ticktext"][c] for c in dims["optimizer"]["values"]] == list(frame["optimizer"])
    assert list(dims["lr (log)"]["values"]) == pytest.approx([math.log10(v) for v in frame["lr"]])
    assert list(dims["lr (log)"]["ticktext"]) == ["0.001", "0.01", "0.05"]
    assert list(trace["line"]["color"]) == pytest.approx(list(frame["val micro-F1"]))
    assert trace["line"]["reversescale"] is False
    assert len(order) == 4 and "left out" not in fig["layout"]["title"]["text"]

    loss = parallel_coordinates_figure(records, hyper, ["val loss"], "val loss", higher_is_better=False)
    assert loss.to_plotly_json()["data"][0]["line"]["reversescale"] is True
    unmeasured = [{**r, "val micro-F1": math.nan} if r["run"] == ids["broken"] else r for r in records]
    left = parallel_coordinates_figure(unmeasured, hyper, ["val micro-F1"], "val micro-F1").to_plotly_json()
    assert "1 run without val micro-F1 left out" in left["layout"]["title"]["text"]
    assert len(left["data"][0]["dimensions"][0]["values"]) == 3
    empty = parallel_coordinates_figure([], hyper, ["val loss"], "val loss").to_plotly_json()
    assert "No run has val loss yet" in json.dumps(empty)


def test_smoothed_overlay_draws_raw_faint_behind_the_smoothed_line(trained):
    store, ids = trained["store"], trained["ids"]
    histories = {name: store.history(ids[name]) for name in ("small adam", "wide adamw")}
    plain = smoothed_overlay_figure(histories, "val_loss", "Validation loss", "loss", 0.0).to_plotly_json()
    assert plain == runs_overlay_figure(histories, "val_loss", "Validation loss", "loss").to_plotly_json()
    fig = smoothed_overlay_figure(histories, "val_loss", "Validation loss", "loss", 0.8, log_y=True).to_plotly_json()
    traces = {t["name"]: t for t in fig["data"]}
    assert list(traces) == ["small adam (raw)", "small adam", "wide adamw (raw)", "wide adamw"]
    for name, history in histories.items():
        raw, smooth = traces[f"{name} (raw)"], traces[name]
        assert list(raw["y"]) == pytest.approx([r["val_loss"] for r in history])
        assert list(smooth["y"]) == pytest.approx(ex.ema([r["val_loss"] for r in history], 0.8))
        assert list(raw["x"]) == list(smooth["x"]) == [r["epoch"] for r in history]
        assert raw["opacity"] < 0.5 and raw["showlegend"] is False and "opacity" not in smooth
        assert raw["line"]["color"] == smooth["line"]["color"]
    assert fig["layout"]["yaxis"]["type"] == "log"
    assert "smoothing 0.80" in fig["layout"]["title"]["text"]
    assert smoothed_overlay_figure(histories, "val_loss", "t", "loss", 0.0, log_y=True).layout.yaxis.type == "log"


def test_a_figure_exports_as_offline_html_with_the_same_bytes_each_time(trained):
    store, ids = trained["store"], trained["ids"]
    fig = smoothed_overlay_figure({"a": store.history(ids["small adam"])}, "val_loss", "Validation loss", "loss",
                                  0.5)
    page = figure_html(fig)
    assert page == figure_html(fig)
    text = page.decode("utf-8")
    assert text.startswith("<!doctype html>") and "Validation loss" in text
    assert not re.search(r"<script[^>]+src=", text)  # plotly.js is inside the page: nothing fetched when opened
    assert "Plotly.newPlot" in text and len(page) > 1_000_000


def test_range_bounds_whole_numbers_for_integer_columns_and_none_when_nothing_to_narrow():
    frame = pd.DataFrame({"hidden": pd.array([32, 64, 128], dtype="Int64"), "lr": [1e-3, 3e-3, None],
                          "same": [0.5, 0.5, None], "empty": [None, None, None]})
    bounds, why_not = ex.range_bounds(frame, "hidden")
    assert bounds == (32, 128) and all(isinstance(b, int) for b in bounds) and why_not is None
    assert ex.range_bounds(frame, "lr") == ((1e-3, 3e-3), None)
    assert ex.range_bounds(frame, "same")[1] == "Every run with same has 0.5: nothing to narrow."
    assert ex.range_bounds(frame, "empty")[1] == "No run has empty yet: nothing to narrow."
    metric = ex.METRIC_COLUMNS[1]  # as the table prints it: 0.706, not 0.705882
    same = pd.DataFrame({metric: [0.705882, 0.705882]})
    assert ex.range_bounds(same, metric)[1] == f"Every run with {metric} has {ex.number_format(metric) % 0.705882}: " \
        "nothing to narrow." and "0.705882" not in ex.range_bounds(same, metric)[1]


def test_clamp_range_and_kept_choices_follow_what_the_runs_offer_now():
    assert ex.clamp_range((0.2, 0.8), 0.0, 1.0) == (0.2, 0.8)
    assert ex.clamp_range((0.2, 0.8), 0.3, 0.5) == (0.3, 0.5)
    assert ex.clamp_range((0.9, 1.2), 0.0, 0.5) == (0.5, 0.5)  # a range wholly outside collapses onto the edge
    assert ex.kept_choices(["c", "a", "x"], ["a", "b", "c"]) == ["c", "a"]


def test_metrics_epoch_words_say_where_the_shown_metrics_come_from():
    assert ex.metrics_epoch_words({"best": {"epoch": 12}}, 12) == "best epoch 12"
    assert ex.metrics_epoch_words({"best": None}, 7) == "epoch 7 so far"
    assert ex.metrics_epoch_words({"best": None}, None) == "none"


def test_a_runs_data_is_named_by_its_file_without_the_folder():
    # Command-line runs stored the path as typed: the Runs page counted one file as two datasets.
    assert ex.data_label({"source": "csv", "name": "/tmp/walk/emotions.csv"}) == "emotions.csv"
    assert ex.data_label({"source": "csv", "name": "emotions.csv"}) == "emotions.csv"
    assert ex.data_label({"source": "synthetic"}) == "synthetic" and ex.data_label(None) == "unknown"


def test_run_link_opens_a_new_link_once_and_keeps_a_missing_one_until_a_pick_or_an_arrival():
    state: dict = {}
    link = ex.RunLink(state, "p")
    assert link.follow("b", ["a", "b"], arrived=True) == "b" and link.missing_run() is None
    link.shown("b")
    assert link.follow("b", ["a", "b"]) is None  # the page's own link: the picker's choice stands
    assert link.follow("nosuch", ["a", "b"], arrived=True) is None and link.missing_run() == "nosuch"
    link.shown("a")
    assert link.follow("a", ["a", "b"]) is None and link.missing_run() == "nosuch"  # the page's next draw: still said
    link.picked()
    assert link.missing_run() is None
    link.follow("gone", ["a"])
    link.follow(None, ["a"], arrived=True)  # back on the page by the sidebar: an old link is not said again
    assert link.missing_run() is None


def test_compared_after_edit_keeps_the_hidden_runs_compared_before():
    assert ex.compared_after_edit(["a", "b", "c"], ["c"], ["c", "d"]) == ["c", "a", "b"]
    assert ex.compared_after_edit(["a", "b", "c"], [], ["a"]) == ["b", "c"]  # unpicked where shown: gone
    assert ex.compared_after_edit(["a"], ["d", "a"], ["a", "d"]) == ["d", "a"]


def test_a_range_slider_takes_the_tables_digits():
    frame = pd.DataFrame({"val micro-F1": [0.7149, 0.934], "val Hamming": [0.0341, 0.05], "lr": [1e-3, 3e-3],
                          "hidden": pd.array([8, 32], dtype="Int64")})
    assert ex.range_slider(frame, "val micro-F1", 0.7149, 0.934) == (pytest.approx(0.001), "%.3f")
    assert ex.range_slider(frame, "val Hamming", 0.0341, 0.05) == (pytest.approx(0.0001), "%.4f")
    assert ex.range_slider(frame, "lr", 1e-3, 3e-3) == (pytest.approx(2e-5), "%g")
    assert ex.range_slider(frame, "hidden", 8, 32) == (None, None)


def test_a_filter_that_hides_every_compared_run_compares_the_runs_it_shows_until_cleared():
    # A walk: Status 'completed' left 'Compare runs' empty beside two completed runs.
    compared = ["a", "b"]
    now = ex.compared_for_filter(compared, ["c", "d"], ["a", "b", "c", "d"])
    assert now == ["c", "d", "a", "b"] and ex.kept_choices(now, ["c", "d"]) == ["c", "d"]
    assert ex.kept_choices(now, ["a", "b", "c", "d"]) == ["c", "d", "a", "b"]  # cleared: the hidden ones are back
    assert ex.compared_for_filter(compared, ["a", "c"], ["a", "b", "c", "d"]) == compared  # one still shown
    # emptied by hand under a filter (the shown runs did not change): it stays empty there
    assert ex.compared_for_filter(["a", "b"], ["c"], ["c"]) == ["a", "b"]
    assert ex.compared_for_filter([], ["c", "d"], ["a", "c", "d"]) == []  # emptied with no filter: stays empty
