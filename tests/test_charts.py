"""Chart builders: pure functions of hand-made run data -> plotly figures (no Streamlit, no browser)."""

from __future__ import annotations

import pytest

from multilabel.charts import (HIST_GAP_PX, HIST_ROW_PX, MARKERS_UP_TO, RUN_COLORS, empty_figure, MAX_POINTS, POS_COLOR, NEG_COLOR, TRAIN_COLOR, VAL_COLOR, label_frequency_figure,
                               loss_figure, metrics_figure, per_label_figure, probability_histogram_figure,
                               probe_heatmap, runs_overlay_figure, thin)
from multilabel.metrics import HIST_BINS

LABELS = ["amazed-suprised", "happy-pleased", "quiet-still"]


def history(n: int, offset: float = 0.0) -> list[dict]:
    """``n`` epoch records shaped like the engine's, with values that differ per epoch and per key."""
    return [{"epoch": e, "train_loss": 1.0 / e + offset, "val_loss": 1.5 / e + offset,
             "val_micro_f1": e / (n + 1), "val_macro_f1": e / (n + 2), "val_subset_accuracy": e / (n + 3)}
            for e in range(1, n + 1)]


def traces_by_name(fig) -> dict:
    return {t.name: t for t in fig.data}


# -- thin ----------------------------------------------------------------------------------------------------------

def test_thin_keeps_short_histories_whole_and_copies_them():
    h = history(7)
    shown = thin(h, max_points=7)
    assert shown == h
    assert shown is not h


@pytest.mark.parametrize("n,cap", [(8, 7), (1001, 500), (1234, 10), (3, 2)])
def test_thin_caps_points_keeps_first_and_last_in_order(n, cap):
    h = history(n)
    shown = thin(h, max_points=cap)
    epochs = [r["epoch"] for r in shown]
    assert len(shown) == cap
    assert epochs[0] == 1 and epochs[-1] == n
    assert epochs == sorted(set(epochs))  # strictly increasing: no repeats, no reordering
    gaps = [b - a for a, b in zip(epochs, epochs[1:])]
    assert max(gaps) - min(gaps) <= 1  # evenly spaced


def test_thin_default_cap_is_max_points():
    assert len(thin(history(MAX_POINTS + 1))) == MAX_POINTS
    assert len(thin(history(MAX_POINTS))) == MAX_POINTS


# -- loss ----------------------------------------------------------------------------------------------------------

def test_loss_figure_has_train_and_validation_lines_with_the_losses():
    h = history(5)
    fig = loss_figure(h, best_epoch=3)
    assert [t.name for t in fig.data] == ["train", "validation"]
    train, val = fig.data
    assert list(train.x) == [1, 2, 3, 4, 5] and list(val.x) == [1, 2, 3, 4, 5]
    assert list(train.y) == pytest.approx([r["train_loss"] for r in h])
    assert list(val.y) == pytest.approx([r["val_loss"] for r in h])
    assert train.line.color == TRAIN_COLOR and val.line.color == VAL_COLOR
    assert fig.layout.xaxis.title.text == "epoch"
    assert fig.layout.yaxis.title.text == "loss"
    assert "cross-entropy" in fig.layout.title.text


def test_loss_figure_marks_the_best_epoch():
    fig = loss_figure(history(5), best_epoch=3)
    assert len(fig.layout.shapes) == 1
    assert fig.layout.shapes[0].x0 == 3 and fig.layout.shapes[0].x1 == 3
    assert [a.text for a in fig.layout.annotations] == ["best 3"] and fig.layout.annotations[0].xanchor == "left"
    # at the axis's end the label sits left of the line (right of it, it ran off the chart as "bes")
    assert loss_figure(history(10), best_epoch=10).layout.annotations[0].xanchor == "right"


@pytest.mark.parametrize("best", [None, 0])
def test_loss_figure_without_a_best_epoch_draws_no_marker(best):
    fig = loss_figure(history(4), best_epoch=best)
    assert len(fig.layout.shapes) == 0 and len(fig.layout.annotations) == 0


def test_loss_figure_of_an_empty_history_has_empty_lines():
    fig = loss_figure([])
    assert [t.name for t in fig.data] == ["train", "validation"]
    assert all(len(t.x) == 0 for t in fig.data)


def test_loss_figure_thins_long_histories_to_the_cap_keeping_the_last_epoch():
    h = history(1200)
    fig = loss_figure(h, best_epoch=1200)
    for trace in fig.data:
        assert len(trace.x) == MAX_POINTS
        assert trace.x[0] == 1 and trace.x[-1] == 1200
    assert fig.data[0].y[-1] == pytest.approx(h[-1]["train_loss"])


def test_loss_figure_keeps_missing_values_as_gaps():
    h = history(3)
    del h[1]["val_loss"]
    fig = loss_figure(h)
    assert list(traces_by_name(fig)["validation"].y) == [h[0]["val_loss"], None, h[2]["val_loss"]]


# -- metrics -------------------------------------------------------------------------------------------------------

def test_metrics_figure_plots_micro_macro_f1_and_subset_accuracy():
    h = history(4)
    fig = metrics_figure(h)
    names = [t.name for t in fig.data]
    assert names == ["micro-F1", "macro-F1", "subset accuracy (exact match)"]
    by = traces_by_name(fig)
    assert list(by["micro-F1"].y) == pytest.approx([r["val_micro_f1"] for r in h])
    assert list(by["macro-F1"].y) == pytest.approx([r["val_macro_f1"] for r in h])
    assert list(by["subset accuracy (exact match)"].y) == pytest.approx([r["val_subset_accuracy"] for r in h])
    assert all(list(t.x) == [1, 2, 3, 4] for t in fig.data)
    assert fig.layout.xaxis.title.text == "epoch" and fig.layout.yaxis.title.text == "score"
    assert list(fig.layout.yaxis.range) == [0, 1.02]
    assert not any("accuracy" == n.lower() for n in names)  # never element-wise "accuracy"


def test_metrics_figure_thins_long_histories():
    fig = metrics_figure(history(2000))
    assert all(len(t.x) == MAX_POINTS and t.x[-1] == 2000 for t in fig.data)


# -- per label -----------------------------------------------------------------------------------------------------

def test_per_label_figure_bars_f1_and_auroc_per_label_name():
    per_label = {"amazed-suprised": {"f1": 0.5, "auroc": 0.75, "support": 4},
                 "happy-pleased": {"f1": 0.25, "auroc": None, "support": 0},
                 "quiet-still": {"f1": 1.0, "auroc": 0.875, "support": 3}}
    fig = per_label_figure(per_label)
    assert [t.name for t in fig.data] == ["F1", "AUROC"]
    f1, auroc = fig.data
    assert all(t.type == "bar" for t in fig.data)
    assert list(f1.x) == LABELS and list(auroc.x) == LABELS
    assert list(f1.y) == [0.5, 0.25, 1.0]
    assert list(auroc.y) == [0.75, None, 0.875]
    assert list(f1.text) == ["0.50", "0.25", "1.00"]
    assert list(auroc.text) == ["0.75", "n/a", "0.88"]  # a one-class label says n/a, not 0
    assert fig.layout.barmode == "group"
    assert fig.layout.yaxis.title.text == "score"


# -- probe heatmap -------------------------------------------------------------------------------------------------

def test_probe_heatmap_colours_by_probability_and_dots_true_labels():
    probs = [[0.1, 0.9, 0.5], [0.734, 0.02, 0.999]]
    targets = [[0, 1, 1], [1, 0, 0]]
    fig = probe_heatmap(probs, targets, LABELS)
    assert len(fig.data) == 1
    hm = fig.data[0]
    assert hm.type == "heatmap"
    assert [list(r) for r in hm.z] == probs
    assert list(hm.x) == LABELS
    assert list(hm.y) == ["row 1", "row 2"]
    assert (hm.zmin, hm.zmax) == (0, 1)
    assert [list(r) for r in hm.text] == [["0.10", "0.90 ●", "0.50 ●"], ["0.73 ●", "0.02", "1.00"]]
    assert hm.texttemplate == "%{text}"
    assert fig.layout.yaxis.autorange == "reversed"  # row 1 on top
    assert "●" in fig.layout.title.text


def test_probe_heatmap_grows_with_the_number_of_rows():
    small = probe_heatmap([[0.5]] * 3, [[0]] * 3, ["a"])
    big = probe_heatmap([[0.5]] * 32, [[1]] * 32, ["a"])
    assert small.layout.height == 260
    assert big.layout.height == 22 * 32
    assert all(t[0].endswith(" ●") for t in big.data[0].text)


# -- probability histograms ----------------------------------------------------------------------------------------

def hists(n_labels: int) -> list[dict]:
    return [{"neg": [j * 100 + i for i in range(HIST_BINS)], "pos": [j * 100 + 50 + i for i in range(HIST_BINS)]}
            for j in range(n_labels)]


def panels(fig) -> dict[str, tuple[tuple[float, float], tuple[float, float]]]:
    """Subplot panels that hold traces: x-axis name -> (x domain, y domain)."""
    out = {}
    for trace in fig.data:
        suffix = trace.xaxis[1:]
        x_dom = tuple(fig.layout[f"xaxis{suffix}"].domain)
        y_dom = tuple(fig.layout[f"yaxis{trace.yaxis[1:]}"].domain)
        out[trace.xaxis] = (x_dom, y_dom)
    return out


def plot_px(fig) -> float:
    return fig.layout.height - fig.layout.margin.t - fig.layout.margin.b


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] - 1e-9 and b[0] < a[1] - 1e-9


def test_probability_histogram_one_subplot_per_label_in_rows_of_three():
    names = ["l0", "l1", "l2", "l3", "l4"]
    prob_hist = hists(5)
    fig = probability_histogram_figure(prob_hist, names)
    assert [a.text for a in fig.layout.annotations] == names  # panel titles are the label names
    assert fig.layout.height == plot_px(fig) + fig.layout.margin.t + fig.layout.margin.b
    assert len(fig.data) == 2 * 5  # a grey and a red bar series per label
    for j in range(5):
        neg, pos = fig.data[2 * j], fig.data[2 * j + 1]
        assert (neg.type, pos.type) == ("bar", "bar")
        assert (neg.name, pos.name) == ("true 0", "true 1")
        assert neg.marker.color == NEG_COLOR and pos.marker.color == POS_COLOR
        assert list(neg.y) == prob_hist[j]["neg"] and list(pos.y) == prob_hist[j]["pos"]
        axis = "x" if j == 0 else f"x{j + 1}"
        assert neg.xaxis == axis and pos.xaxis == axis  # label j lands in its own panel
        assert len(neg.x) == HIST_BINS
        assert neg.x[0] == pytest.approx(0.5 / HIST_BINS) and neg.x[-1] == pytest.approx(1 - 0.5 / HIST_BINS)
        assert list(fig.layout[f"xaxis{axis[1:]}"].range) == [0, 1]
    assert [t.showlegend for t in fig.data] == [True, True] + [False] * 8  # one legend entry per class
    assert fig.layout.barmode == "overlay"
    shown = panels(fig)
    assert len({x for x, _ in shown.values()}) == 3  # three columns
    assert len({y for _, y in shown.values()}) == 2  # two rows
    # Panels 0-2 on the top row, 3-4 below, left to right.
    assert shown["x"][1] == shown["x3"][1] and shown["x4"][1] == shown["x5"][1]
    assert shown["x"][1][0] > shown["x4"][1][0]
    assert shown["x"][0][0] < shown["x2"][0][0] < shown["x3"][0][0]


@pytest.mark.parametrize("n_labels,n_cols,n_rows", [(1, 1, 1), (2, 2, 1), (3, 3, 1), (4, 3, 2), (6, 3, 2),
                                                    (7, 3, 3), (12, 3, 4), (32, 3, 11)])
def test_probability_histogram_grid_has_a_panel_per_label(n_labels, n_cols, n_rows):
    names = [f"l{j}" for j in range(n_labels)]
    fig = probability_histogram_figure(hists(n_labels), names)
    assert len(fig.data) == 2 * n_labels
    shown = panels(fig)
    assert len(shown) == n_labels
    assert len({x for x, _ in shown.values()}) == n_cols
    assert len({y for _, y in shown.values()}) == n_rows
    assert plot_px(fig) == HIST_ROW_PX * n_rows + HIST_GAP_PX * (n_rows - 1)
    for x_dom, y_dom in shown.values():
        assert 0 <= x_dom[0] < x_dom[1] <= 1 and 0 <= y_dom[0] < y_dom[1] <= 1
    boxes = list(shown.values())
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (overlaps(a[0], b[0]) and overlaps(a[1], b[1])), "two panels overlap"
    assert [a.text for a in fig.layout.annotations] == names


# -- runs overlay --------------------------------------------------------------------------------------------------

def test_runs_overlay_draws_one_line_per_run_named_by_run():
    histories = {"run-a": history(3), "run-b": history(5, offset=1.0)}
    fig = runs_overlay_figure(histories, "val_loss", "Validation loss", "loss")
    assert [t.name for t in fig.data] == ["run-a", "run-b"]
    a, b = fig.data
    assert list(a.x) == [1, 2, 3] and list(b.x) == [1, 2, 3, 4, 5]
    assert list(b.y) == pytest.approx([r["val_loss"] for r in histories["run-b"]])
    assert fig.layout.title.text == "Validation loss"
    assert fig.layout.xaxis.title.text == "epoch" and fig.layout.yaxis.title.text == "loss"


def test_runs_overlay_picks_the_requested_key_and_thins():
    histories = {"long": history(1500)}
    fig = runs_overlay_figure(histories, "val_micro_f1", "F1", "micro-F1")
    (line,) = fig.data
    assert len(line.x) == MAX_POINTS and line.x[-1] == 1500
    assert line.y[-1] == pytest.approx(histories["long"][-1]["val_micro_f1"])


def test_runs_overlay_of_no_runs_is_empty():
    assert len(runs_overlay_figure({}, "val_loss", "t", "loss").data) == 0


# -- label frequency -----------------------------------------------------------------------------------------------

def test_label_frequency_shows_counts_on_the_axis_and_the_bars_and_the_share_in_the_hover():
    # The walk: an axis titled "share of rows" over bars labelled 169, 93, 293: the units disagreed.
    fig = label_frequency_figure(LABELS, [1500, 0, 4000], 4000)
    (bar,) = fig.data
    assert list(bar.x) == LABELS
    assert list(bar.y) == [1500, 0, 4000] and list(bar.text) == ["1,500", "0", "4,000"]
    assert fig.layout.yaxis.title.text == "rows predicted 1" and fig.layout.yaxis.range[1] >= 4000
    assert list(bar.customdata) == pytest.approx([0.375, 0.0, 1.0])
    assert "of 4,000 rows (%{customdata:.1%})" in bar.hovertemplate
    assert "4,000 rows" in fig.layout.title.text
    assert label_frequency_figure(["a"], [1], 1).layout.title.text == "Predicted positives per label (1 row)"


def test_label_frequency_of_zero_rows_does_not_divide_by_zero():
    fig = label_frequency_figure(["a", "b"], [0, 0], 0)
    assert list(fig.data[0].y) == [0.0, 0.0]


# -- sampled points, epochs in titles, distinct colours, room for panel titles -----------------------------------------

def sampled_history(n: int, every: int) -> list[dict]:
    """``n`` epochs with losses, metrics only on epochs divisible by ``every`` plus the first and the last."""
    out = []
    for r in history(n):
        if not (r["epoch"] % every == 0 or r["epoch"] in (1, n)):
            r = {k: v for k, v in r.items() if not k.startswith("val_") or k == "val_loss"}
        out.append(r)
    return out


def test_sampled_metrics_are_drawn_as_markers_at_the_measured_epochs_only():
    h = sampled_history(200, 10)
    fig = metrics_figure(h)
    measured = [1, *range(10, 201, 10)]
    for trace in fig.data:
        assert list(trace.x) == measured
        assert "markers" in trace.mode
    assert "21 of 200 epochs measured" in fig.layout.title.text


def test_dense_metrics_are_a_plain_line_and_few_points_get_markers():
    assert all(t.mode == "lines" for t in metrics_figure(history(MARKERS_UP_TO + 1)).data)
    assert all("markers" in t.mode for t in metrics_figure(history(3)).data)


def test_a_one_epoch_run_is_visible_as_points():
    h = history(1)
    for fig in (loss_figure(h, best_epoch=1), metrics_figure(h),
                runs_overlay_figure({"a": h}, "val_loss", "Validation loss", "loss")):
        for trace in fig.data:
            assert len(trace.x) == 1 and "markers" in trace.mode  # a lone point on a line-only trace draws nothing


@pytest.mark.parametrize("build", [
    lambda e: per_label_figure({"a": {"f1": 0.5, "auroc": 0.7}}, epoch=e),
    lambda e: probe_heatmap([[0.2]], [[1]], ["a"], epoch=e),
    lambda e: probability_histogram_figure(hists(1), ["a"], epoch=e),
])
def test_every_live_figure_names_its_epoch(build):
    assert build(40).layout.title.text.endswith("(epoch 40)")
    assert "epoch" not in build(None).layout.title.text


def _hue(color: str) -> float:
    import colorsys
    r, g, b = (int(color[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return colorsys.rgb_to_hsv(r, g, b)[0] * 360


def test_compared_runs_get_distinct_hues():
    histories = {f"run{i}": history(5, offset=i) for i in range(7)}
    fig = runs_overlay_figure(histories, "val_loss", "Validation loss", "loss")
    colors = [t.line.color for t in fig.data]
    assert colors == list(RUN_COLORS[:7]) and len(set(RUN_COLORS)) == len(RUN_COLORS)
    hues = [_hue(c) for c in colors]
    for i, a in enumerate(hues):
        for b in hues[i + 1:]:
            assert min(abs(a - b), 360 - abs(a - b)) >= 30, (colors, hues)  # no two blues


def test_overlay_marks_the_epochs_each_run_was_measured_at():
    fig = runs_overlay_figure({"a": sampled_history(100, 10), "b": history(100)}, "val_micro_f1", "F1", "F1")
    a, b = fig.data
    assert list(a.x) == [1, *range(10, 101, 10)] and "markers" in a.mode
    assert list(b.x) == list(range(1, 101)) and b.mode == "lines"
    assert "epoch %{x}" in a.hovertemplate


def test_histogram_panel_titles_sit_in_their_own_gap_not_on_the_row_above():
    fig = probability_histogram_figure(hists(7), [f"l{j}" for j in range(7)])
    px = plot_px(fig)
    shown = panels(fig)
    tops = sorted({y for _, y in shown.values()}, reverse=True)
    for upper, lower in zip(tops, tops[1:]):
        gap_px = (upper[0] - lower[1]) * px
        assert gap_px >= 50, gap_px  # the upper row's tick labels (~18 px) + a title line (~18 px) + air
    for ann in fig.layout.annotations:  # each title starts at the top of its own panel, in the gap above it
        assert ann.yanchor == "bottom" and any(abs(ann.y - y[1]) < 1e-6 for y in tops)


def test_empty_figure_is_a_frame_with_a_message():
    fig = empty_figure("Loss", "waiting for the first epoch…")
    assert len(fig.data) == 0 and fig.layout.title.text == "Loss"
    assert fig.layout.annotations[0].text == "waiting for the first epoch…"


# -- per-label analysis --------------------------------------------------------------------------------------------

def _curves(**changes):
    from multilabel.analysis import LabelCurves
    base = dict(label="happy", positives=2, negatives=2, precision=[0.5, 0.667, 1.0, 1.0], recall=[1.0, 1.0, 0.5, 0.0],
                pr_thresholds=[0.1, 0.4, 0.8], fpr=[0.0, 0.0, 0.5, 1.0], tpr=[0.0, 0.5, 1.0, 1.0],
                roc_thresholds=[1.0, 0.8, 0.4, 0.1], average_precision=0.8333, auroc=0.875)
    return LabelCurves(**{**base, **changes})


def _point(threshold=0.4, precision=2 / 3, recall=1.0, tp=2, fp=1, fn=0, tn=1):
    from multilabel.analysis import TradeoffPoint
    return TradeoffPoint(threshold=threshold, precision=precision, recall=recall, f1=2 * tp / (2 * tp + fp + fn),
                         tp=tp, fp=fp, fn=fn, tn=tn)


def test_pr_curve_has_ap_in_legend_prevalence_line_and_the_current_point():
    from multilabel.charts import pr_curve_figure
    fig = pr_curve_figure(_curves(), _point())
    curve, chance, point = fig.data
    assert curve.name == "happy · AP 0.83"
    assert list(curve.x) == [1.0, 1.0, 0.5, 0.0] and list(curve.y) == [0.5, 0.667, 1.0, 1.0]
    assert list(curve.customdata) == [0.1, 0.4, 0.8, None]  # hover: the threshold of each point
    assert list(chance.y) == [0.5, 0.5] and "prevalence 0.50" in chance.name
    assert (point.x[0], point.y[0]) == (1.0, pytest.approx(2 / 3)) and point.mode == "markers"
    assert point.name == "threshold 0.40: P 0.67 · R 1.00 · F1 0.80"
    assert fig.layout.xaxis.title.text == "recall" and fig.layout.yaxis.title.text == "precision"


def test_pr_curve_point_with_nothing_predicted_sits_at_precision_one():
    from multilabel.charts import pr_curve_figure
    fig = pr_curve_figure(_curves(), _point(threshold=0.95, precision=None, recall=0.0, tp=0, fp=0, fn=2, tn=2))
    assert (fig.data[-1].x[0], fig.data[-1].y[0]) == (0.0, 1.0)
    assert "P n/a" in fig.data[-1].name


def test_roc_curve_has_auroc_in_legend_chance_line_and_the_current_point():
    from multilabel.charts import roc_curve_figure
    fig = roc_curve_figure(_curves(), _point())
    curve, chance, point = fig.data
    assert curve.name == "happy · AUROC 0.88"
    assert list(curve.x) == [0.0, 0.0, 0.5, 1.0] and list(curve.y) == [0.0, 0.5, 1.0, 1.0]
    assert list(chance.x) == [0, 1] and list(chance.y) == [0, 1]
    assert (point.x[0], point.y[0]) == (0.5, 1.0)  # FPR = fp / (fp + tn) = 1/2, TPR = recall


def test_curves_of_a_one_class_label_say_why_they_are_empty():
    from multilabel.charts import pr_curve_figure, roc_curve_figure
    empty = _curves(positives=0, precision=[], recall=[], pr_thresholds=[], fpr=[], tpr=[], roc_thresholds=[],
                    average_precision=None, auroc=None)
    pr, roc = pr_curve_figure(empty, _point(precision=None, recall=None)), roc_curve_figure(empty)
    assert len(pr.data) == 0 and "no truly-1 rows" in pr.layout.annotations[0].text
    assert len(roc.data) == 0 and "only one class" in roc.layout.annotations[0].text


def test_confusion_grid_one_panel_per_label_with_counts_and_rates():
    from multilabel.analysis import Confusion
    from multilabel.charts import confusion_grid_figure
    cells = [Confusion(label=lab, threshold=0.3 + 0.1 * j, tn=8, fp=2, fn=1, tp=3 + j, tnr=0.8, fpr=0.2,
                       fnr=1 / (4 + j), tpr=(3 + j) / (4 + j)) for j, lab in enumerate(LABELS + ["sad"])]
    fig = confusion_grid_figure(cells, cols=3)
    assert len(fig.data) == 4
    first, last = fig.data[0], fig.data[3]
    assert [list(r) for r in first.z] == [[0.8, 0.2], [0.25, 0.75]]
    assert [list(r) for r in first.text] == [["TN 8<br>80%", "FP 2<br>20%"], ["FN 1<br>25%", "TP 3<br>75%"]]
    assert list(first.x) == ["predicted 0", "predicted 1"] and list(first.y) == ["truly 0", "truly 1"]
    assert last.text[1][1] == "TP 6<br>86%" and last.xaxis == "x4" and last.yaxis == "y4"
    assert [a.text for a in fig.layout.annotations] == [f"<b>{lab}</b> · threshold {0.3 + 0.1 * j:.2f}"
                                                         for j, lab in enumerate(LABELS + ["sad"])]
    # 4 panels in rows of 3: two rows, the fourth panel starts the second row below the first.
    assert fig.layout.xaxis4.domain == fig.layout.xaxis.domain
    assert fig.layout.yaxis4.domain[1] < fig.layout.yaxis.domain[0]
    assert [t.showscale for t in fig.data] == [True, False, False, False]
    # each title centred over its panel: plotly's "auto" anchor put the left column's titles to the right of centre
    for a, axis in zip(fig.layout.annotations, ("xaxis", "xaxis2", "xaxis3", "xaxis4")):
        assert a.xanchor == "center" and a.x == pytest.approx(sum(fig.layout[axis].domain) / 2)


def test_two_histograms_a_row_leave_room_for_the_right_panels_ticks():
    # the half-width column beside the probe heatmap: the right panels' count ticks sat on the left panels' bars
    two = probability_histogram_figure(hists(4), [f"l{j}" for j in range(4)], cols=2)
    three = probability_histogram_figure(hists(6), [f"l{j}" for j in range(6)], cols=3)
    assert two.layout.xaxis2.domain[0] - two.layout.xaxis.domain[1] >= 0.12  # ~55 px of ~450
    assert three.layout.xaxis2.domain[0] - three.layout.xaxis.domain[1] == pytest.approx(0.06)  # full width


def test_small_multiple_titles_are_centred_over_their_panels():
    from multilabel.charts import probability_histogram_figure

    hist = [{"neg": [1] * 10, "pos": [2] * 10} for _ in range(5)]
    fig = probability_histogram_figure(hist, [f"label_{j}" for j in range(5)], epoch=3, cols=3)
    titles = [a for a in fig.layout.annotations if a.text.startswith("label_")]
    assert len(titles) == 5 and all(a.xanchor == "center" for a in titles)


def test_confusion_grid_shows_na_for_an_empty_class():
    from multilabel.analysis import Confusion
    from multilabel.charts import confusion_grid_figure
    fig = confusion_grid_figure([Confusion("x", 0.5, tn=3, fp=1, fn=0, tp=0, tnr=0.75, fpr=0.25, fnr=None, tpr=None)])
    assert fig.data[0].text[1][1] == "TP 0<br>n/a"


def test_long_curves_are_thinned_keeping_both_ends_and_the_thresholds_aligned():
    from multilabel.charts import CURVE_POINTS, pr_curve_figure, roc_curve_figure
    n = 10 * CURVE_POINTS + 7
    recall = [1 - i / (n - 1) for i in range(n)]
    thresholds = [i / n for i in range(n - 1)]
    curves = _curves(precision=[0.5 + 0.5 * i / (n - 1) for i in range(n)], recall=recall, pr_thresholds=thresholds,
                     fpr=[i / (n - 1) for i in range(n)], tpr=[min(1.0, 2 * i / (n - 1)) for i in range(n)],
                     roc_thresholds=[1 - i / n for i in range(n)])
    pr = pr_curve_figure(curves).data[0]
    assert len(pr.x) == CURVE_POINTS
    assert (pr.x[0], pr.y[0], pr.x[-1], pr.y[-1]) == (1.0, 0.5, 0.0, 1.0)
    assert pr.customdata[-1] is None and pr.customdata[0] == 0.0
    k = len(pr.x) // 2  # a middle point keeps its own threshold: x = 1 - i/(n-1) and threshold = i/n, same i
    i = round((1 - pr.x[k]) * (n - 1))
    assert pr.customdata[k] == pytest.approx(i / n)
    roc = roc_curve_figure(curves).data[0]
    assert len(roc.x) == CURVE_POINTS and (roc.x[0], roc.x[-1], roc.y[-1]) == (0.0, 1.0, 1.0)


# -- sigmoid vs softmax --------------------------------------------------------------------------------------------

from multilabel.charts import (HEADS_FALSE_COLOR, HEADS_TRUE_COLOR, heads_loss_figure,  # noqa: E402
                               heads_metrics_figure, heads_probability_figure)

HEADS_LABELS = ["a", "b", "c"]
HEADS_TARGETS = [[1, 1, 0], [0, 1, 1]]
HEADS_PROBS = {"sigmoid": [[0.9, 0.8, 0.1], [0.2, 0.7, 0.4]], "softmax": [[0.45, 0.4, 0.15], [0.1, 0.6, 0.3]]}


def test_heads_probability_figure_puts_the_heads_side_by_side_and_colours_true_labels():
    fig = heads_probability_figure(HEADS_LABELS, HEADS_TARGETS, HEADS_PROBS, ["row 7", "row 9"])
    assert len(fig.data) == 2 * 2 * 2  # rows x heads x (truly 1, truly 0)
    bars = {(t.xaxis, t.name): t for t in fig.data}
    # Row 7 (first row): sigmoid on x, softmax on x2; row 9: sigmoid on x3, softmax on x4.
    assert list(bars["x", "truly 1"].x) == ["a", "b"] and list(bars["x", "truly 1"].y) == [0.9, 0.8]
    assert list(bars["x", "truly 0"].x) == ["c"] and list(bars["x", "truly 0"].y) == [0.1]
    assert list(bars["x2", "truly 1"].y) == [0.45, 0.4]
    assert list(bars["x4", "truly 1"].x) == ["b", "c"] and list(bars["x4", "truly 1"].y) == [0.6, 0.3]
    assert all(t.marker.color == (HEADS_TRUE_COLOR if t.name == "truly 1" else HEADS_FALSE_COLOR) for t in fig.data)
    assert list(bars["x", "truly 1"].text) == ["0.90", "0.80"]
    assert [t.showlegend for t in fig.data] == [True, True] + [False] * 6
    texts = [a.text for a in fig.layout.annotations]
    assert "sigmoid per label" in texts[0] and "softmax over labels" in texts[2]  # column headers
    assert "row 7: 2 of 2 true labels above 0.5 · Σp = 1.80" in texts
    assert "row 7: 0 of 2 true labels above 0.5 · Σp = 1.00" in texts
    assert "row 9: 1 of 2 true labels above 0.5 · Σp = 1.30" in texts
    assert "row 9: 1 of 2 true labels above 0.5 · Σp = 1.00" in texts
    assert len(fig.layout.shapes) == 4 and all(s.y0 == s.y1 == 0.5 for s in fig.layout.shapes)
    # A value near 0.4 printed above its bar sits on the dashed 0.5 line (the walk saw "0.36" crossed): the line is
    # drawn under the bars (no grid line over it), and every value carries a white halo that masks it.
    assert all(s.layer == "below" for s in fig.layout.shapes)
    assert not any(fig.layout[f"yaxis{s}"].showgrid for s in ("", "2", "3", "4"))
    assert all("3px #fff" in t.textfont.shadow for t in fig.data)
    # Sigmoid panels left of softmax panels; every panel shares the label order; only the bottom row names them.
    assert fig.layout.xaxis.domain[1] < fig.layout.xaxis2.domain[0]
    assert fig.layout.yaxis.domain[0] > fig.layout.yaxis3.domain[1]
    assert list(fig.layout.xaxis4.categoryarray) == HEADS_LABELS
    assert (fig.layout.xaxis.showticklabels, fig.layout.xaxis3.showticklabels) == (False, True)
    # A bar at p = 1 prints its value above the bar ("outside"): the axis leaves a fifth of the panel for it, so the
    # value stays inside its panel, under the row title that sits on the panel's top edge.
    assert all(fig.layout[f"yaxis{s}"].range[1] >= 1.2 for s in ("", "2", "3", "4"))


def test_heads_probability_figure_grows_with_rows_and_names_rows_by_default():
    one = heads_probability_figure(HEADS_LABELS, HEADS_TARGETS[:1], {k: v[:1] for k, v in HEADS_PROBS.items()})
    two = heads_probability_figure(HEADS_LABELS, HEADS_TARGETS, HEADS_PROBS)
    assert two.layout.height > one.layout.height
    assert any(a.text.startswith("row 2:") for a in two.layout.annotations)
    empty = heads_probability_figure(HEADS_LABELS, [], {"sigmoid": [], "softmax": []})
    assert len(empty.data) == 0


def test_heads_loss_figure_draws_train_and_validation_for_each_head():
    train = {"sigmoid": [0.6, 0.3, 0.2], "softmax": [1.5, 1.1, 1.0]}
    val = {"sigmoid": [0.5, 0.3, 0.25], "softmax": [1.4, 1.2, 1.1]}
    fig = heads_loss_figure(train, val)
    assert [(t.xaxis, t.name) for t in fig.data] == [("x", "train"), ("x", "validation"),
                                                      ("x2", "train"), ("x2", "validation")]
    assert list(fig.data[0].x) == [1, 2, 3] and list(fig.data[0].y) == train["sigmoid"]
    assert list(fig.data[3].y) == val["softmax"]
    assert fig.data[0].line.color == fig.data[2].line.color != fig.data[1].line.color
    assert [t.showlegend for t in fig.data] == [True, True, False, False]
    assert fig.layout.yaxis.title.text == "binary cross-entropy" and fig.layout.yaxis2.title.text == "cross-entropy"
    assert fig.layout.xaxis.domain[1] < fig.layout.xaxis2.domain[0]


def test_heads_metrics_figure_groups_micro_f1_and_subset_accuracy():
    table = [{"head": "sigmoid", "prediction": "p > 0.5 per label", "micro-F1": 0.9, "Hamming loss": 0.05,
              "subset accuracy": 0.66},
             {"head": "softmax", "prediction": "top-3 (best k)", "micro-F1": 0.67, "Hamming loss": 0.2,
              "subset accuracy": 0.12}]
    fig = heads_metrics_figure(table)
    assert [t.name for t in fig.data] == ["micro-F1", "subset accuracy"]
    assert list(fig.data[0].x) == ["sigmoid · p > 0.5 per label", "softmax · top-3 (best k)"]
    assert list(fig.data[0].y) == [0.9, 0.67] and list(fig.data[1].y) == [0.66, 0.12]
    assert list(fig.data[1].text) == ["0.66", "0.12"]
    assert fig.layout.barmode == "group"


# -- live per-label views and the network ------------------------------------------------------------------------------

def test_at_epoch_names_the_epoch_in_a_figure_s_title():
    from multilabel.charts import at_epoch

    fig = at_epoch(empty_figure("Precision-recall · a", "x"), 12)
    assert fig.layout.title.text == "Precision-recall · a (epoch 12)"
    assert at_epoch(empty_figure("T", "x"), None).layout.title.text == "T"


def test_network_figure_draws_every_shown_unit_and_edges_by_sign_and_strength():
    import numpy as np

    from multilabel.analysis import network_picture
    from multilabel.charts import NET_DEAD_COLOR, NET_NEG_COLOR, NET_POS_COLOR, network_figure

    w1 = np.array([[1.0, -0.1], [0.0, 2.0], [-3.0, 0.5]])  # (hidden 3, input 2)
    w2 = np.array([[0.2, -1.0, 0.4]])  # (labels 1, hidden 3)
    pic = network_picture(w1, w2, np.array([True, False, True]), ["a", "b"], ["y"])
    fig = network_figure(pic, epoch=4)
    assert fig.layout.title.text == "The network (epoch 4)"
    edges = [t for t in fig.data if t.mode == "lines"]
    segments = {color: sum(len(t.x) // 3 for t in edges if t.line.color == color)
                for color in (NET_POS_COLOR, NET_NEG_COLOR)}
    weights = [*w1.ravel(), *w2.ravel()]
    assert segments[NET_POS_COLOR] == sum(w >= 0 for w in weights) and segments[NET_NEG_COLOR] == sum(
        w < 0 for w in weights)
    # The strongest edge between two layers is drawn in the widest bin, the weakest non-zero in a narrower one.
    widest = max(t.line.width for t in edges)
    strongest = next(t for t in edges if t.line.color == NET_NEG_COLOR and t.line.width == widest)
    assert (strongest.x[0], strongest.x[1]) == (0, 1)  # input -> hidden: the -3.0 weight
    nodes = [t for t in fig.data if t.mode != "lines"]
    dead = [t for t in nodes if t.marker.color == NET_DEAD_COLOR]
    assert [list(t.text) for t in dead] == [["h1"]] and dead[0].marker.symbol == "x"
    names = sorted(n for t in nodes for n in t.text)
    assert names == ["a", "b", "h0", "h1", "h2", "y"]
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["<b>input · 2</b>", "<b>hidden (ReLU) · 3 · 1 dead</b>", "<b>outputs (sigmoid per label) · 1</b>"]


def test_network_figure_says_how_many_units_a_wide_layer_leaves_out():
    import numpy as np

    from multilabel.analysis import network_picture
    from multilabel.charts import network_figure

    pic = network_picture(np.ones((100, 3)), np.ones((2, 100)), max_units=10)
    fig = network_figure(pic)
    assert "+90 more not drawn (weaker)" in [a.text for a in fig.layout.annotations]
    assert sum(len(t.x) for t in fig.data if t.mode != "lines") == 3 + 10 + 2


def test_network_curves_figure_has_three_panels_of_the_records_numbers():
    from multilabel.charts import network_curves_figure

    cols = {"epoch": [1, 3, 5], "weight_norm_hidden": [1.0, 2.0, 3.0], "weight_norm_output": [0.5, 0.6, 0.7],
            "grad_norm_hidden": [0.3, 0.2, 0.1], "grad_norm_output": [0.03, 0.02, 0.01], "dead_relu": [0.0, 0.1, 0.25]}
    fig = network_curves_figure(cols, epoch=5)
    assert fig.layout.title.text == "Inside the net per epoch (epoch 5)"
    by_axis = {(t.yaxis, t.name): list(t.y) for t in fig.data}
    assert by_axis == {("y", "hidden layer"): [1.0, 2.0, 3.0], ("y", "output layer"): [0.5, 0.6, 0.7],
                       ("y2", "hidden layer"): [0.3, 0.2, 0.1], ("y2", "output layer"): [0.03, 0.02, 0.01],
                       ("y3", "dead hidden units"): [0.0, 0.1, 0.25]}
    assert all(list(t.x) == [1, 3, 5] for t in fig.data)
    assert tuple(fig.layout.yaxis3.range) == (0, 1.02)
    # the norms from 0 with headroom: the largest line did not run along the panel's top edge
    assert tuple(fig.layout.yaxis.range) == pytest.approx((0, 3.3)) and tuple(fig.layout.yaxis2.range) == \
        pytest.approx((0, 0.33))
    assert fig.layout.yaxis.domain[0] > fig.layout.yaxis2.domain[1] > fig.layout.yaxis2.domain[0] > \
        fig.layout.yaxis3.domain[1]


def test_figure_memo_builds_a_figure_once_per_key_and_forgets_the_oldest():
    from multilabel.charts import FigureMemo, empty_figure
    memo = FigureMemo(size=2)
    built = []

    def build(name):
        def make():
            built.append(name)
            return empty_figure(name, "note")
        return make

    first = memo.get(("run", 3, "loss"), build("a"))
    assert memo.get(("run", 3, "loss"), build("b")) is first  # the same epoch again: reused, not rebuilt
    assert built == ["a"] and memo.builds == 1
    memo.get(("run", 4, "loss"), build("c"))  # a new epoch: a new figure
    memo.get(("run", 5, "loss"), build("d"))  # the third key pushes out the least recently used one
    memo.get(("run", 3, "loss"), build("e"))
    assert built == ["a", "c", "d", "e"] and memo.builds == 4


def test_titles_sit_under_the_toolbar_band_and_few_trials_get_one_tick_each():
    from multilabel.charts import TOOLBAR_PX, loss_figure, search_progress_figure

    fig = loss_figure([{"epoch": 1, "train_loss": 0.5, "val_loss": 0.6}])
    assert fig.layout.title.yref == "container" and fig.layout.title.pad.t == TOOLBAR_PX
    assert fig.layout.margin.t >= TOOLBAR_PX + 60  # title and legend below the band
    trials = [{"number": n, "state": "COMPLETE", "value": v} for n, v in ((0, 0.3), (1, 0.28))]
    assert search_progress_figure(trials).layout.xaxis.dtick == 1
    one = search_progress_figure(trials[:1]).layout  # one trial: no trial -1, no negative objective (a walk)
    assert tuple(one.xaxis.range) == (-0.5, 0.5) and 0 < one.yaxis.range[0] < 0.3 < one.yaxis.range[1] < 0.35


def test_parallel_axes_get_round_ticks_covering_every_value_and_no_raw_range_ends():
    from multilabel.charts import parallel_coordinates_figure
    from multilabel.charts._base import _nice_ticks

    for low, high in ((0.39788, 0.4055317), (0.0, 0.6), (0.093, 0.114), (3e-4, 1e-2), (1.0, 7.0)):
        ticks = _nice_ticks(low, high)
        assert ticks[0] <= low and ticks[-1] >= high and 2 <= len(ticks) <= 7, (low, high, ticks)
        assert all(len(f"{t:.4g}") <= 6 for t in ticks)
    rows = [{"hidden": 64, "optimizer": "adamw (a long name)", "val loss": 0.39788},
            {"hidden": 128, "optimizer": "adam", "val loss": 0.4055317}]
    fig = parallel_coordinates_figure(rows, ["optimizer", "hidden"], ["val loss"], "val loss", False)
    for dim in fig.data[0].dimensions:  # tick values on every axis: plotly then prints no raw range ends
        assert dim.tickvals is not None and dim.ticktext is not None, dim.label
    loss = fig.data[0].dimensions[-1]
    assert list(loss.ticktext)[0] == "0.396" and loss.range[0] <= 0.39788 and loss.range[1] >= 0.4055317
    assert fig.layout.margin.l >= 7 * len("adamw (a long name)")  # the first axis's category names fit


def test_network_names_are_not_clipped_and_the_pr_legend_leaves_the_no_skill_line_free():
    import numpy as np

    from multilabel.analysis import label_curves
    from multilabel.charts import pr_curve_figure

    rng = np.random.default_rng(0)
    targets = (rng.random((200, 1)) < 0.1).astype(np.float32)  # prevalence 0.1: the line runs low
    probs = np.clip(targets * 0.6 + rng.random((200, 1)) * 0.5, 0, 1).astype(np.float32)
    fig = pr_curve_figure(label_curves(probs, targets, 0, "rare"))
    legend = fig.layout.legend  # at the bottom of the figure, under the axis title: off the plot area
    assert (legend.yref, legend.y, legend.yanchor) == ("container", 0, "bottom") and fig.layout.margin.b >= 120
    from multilabel.analysis import network_picture
    from multilabel.charts import network_figure

    w1, w2 = np.ones((3, 2)), np.ones((1, 3))
    long = "a_rather_long_feature_name_x"
    fig = network_figure(network_picture(w1, w2, np.array([True, True, True]), [long, "b"], ["y"]))
    named = [t for t in fig.data if t.mode == "markers+text" and long in list(t.text)]
    assert named and named[0].cliponaxis is False  # drawn into the margin, not cut at the plot's edge
    assert fig.layout.margin.l >= 7 * len(long) - 50


def test_a_parallel_axis_with_one_value_keeps_its_length():
    from multilabel.charts import parallel_coordinates_figure

    fig = parallel_coordinates_figure([{"val loss": 0.1036}], [], ["val loss"], "val loss", False)
    dim = fig.data[0].dimensions[0]
    assert dim.range[0] < 0.1036 < dim.range[1] and list(dim.tickvals)[0] < list(dim.tickvals)[-1]
    assert list(dim.ticktext) == ["", "0.1036", ""]


def test_every_parallel_axis_spans_exactly_its_ticks_so_all_axes_are_equally_long():
    # plotly stretches an axis past the others' ends to draw a tick outside its range (the log axis's decades were
    # such ticks: "one axis lower" on the Runs page); each axis's range is its ticks' span.
    from multilabel.charts import parallel_coordinates_figure

    rows = [{"lr": lr, "dropout": d, "hidden": h, "val loss": v}
            for lr, d, h, v in [(3e-4, 0.003, 64, 0.3), (2e-3, 0.2, 128, 0.25), (8e-3, 0.45, 256, 0.2)]]
    fig = parallel_coordinates_figure(rows, ["lr", "dropout", "hidden"], ["val loss"], "val loss", False)
    for dim in fig.data[0].dimensions:
        ticks = list(dim.tickvals)
        assert dim.range is None or (min(ticks), max(ticks)) == pytest.approx(tuple(dim.range)), dim.label
        assert all(min(ticks) <= v <= max(ticks) for v in dim.values), dim.label
    log_axes = [d for d in fig.data[0].dimensions if d.label.endswith("(log)")]
    assert [d.label for d in log_axes] == ["lr (log)", "dropout (log)"] and all(d.range for d in log_axes)


def test_every_search_parallel_axis_spans_its_ticks_and_batch_size_0_reads_auto():
    # The learning-rate axis (3e-4 .. 1e-2, log) had a 0.0001 tick below its range: plotly drew that axis lower than
    # the others; batch size 0 was printed "0" where the trials table says "auto".
    from multilabel.charts import search_parallel_figure
    from multilabel.search import SPACE

    trials = [{"number": i, "state": "COMPLETE", "value": v,
               "params": {"hidden_size": h, "learning_rate": lr, "weight_decay": wd, "dropout": d, "input_noise": n,
                          "batch_size": b, "pos_weight": "none", "threshold_mode": "fixed"}}
              for i, (h, lr, wd, d, n, b, v) in enumerate([(256, 1e-3, 1.0, 0.3, 0.0, 0, 0.2),
                                                           (64, 4e-4, 1e-5, 0.1, 0.5, 32, 0.25)])]
    dims = search_parallel_figure(trials, SPACE).data[0].dimensions
    for dim in dims:
        ticks = list(dim.tickvals)
        assert (min(ticks), max(ticks)) == pytest.approx(tuple(dim.range)), dim.label
        assert all(min(ticks) <= v <= max(ticks) for v in dim.values), dim.label
    # The Train form's words, not the field names; a long title on two lines (two long ones ran into each other)
    lr = next(d for d in dims if d.label == "learning rate<br>(log)")
    assert list(lr.ticktext) == ["0.0001", "0.001", "0.01"]
    assert list(next(d for d in dims if d.label == "batch size").ticktext) == ["auto", "32", "64", "128", "256"]
    assert [d.label for d in dims if "<br>" in d.label] == ["learning rate<br>(log)", "weight decay<br>(log)",
                                                            "weight rare<br>positives", "tune thresholds<br>per label"]
    assert not any("_" in d.label for d in dims)


def test_parallel_tick_labels_carry_a_wide_halo_over_the_lines_on_runs_and_search():
    # The lines from the axis before arrive where an axis writes its tick labels: plotly's default one-pixel shadow
    # left labels crossed by lines; a wide white halo keeps them readable.
    from multilabel.charts import parallel_coordinates_figure, search_parallel_figure

    rows = [{"optimizer": o, "hidden": h, "val loss": v} for o, h, v in [("adam", 64, 0.3), ("adamw", 128, 0.2)]]
    runs = parallel_coordinates_figure(rows, ["optimizer", "hidden"], ["val loss"], "val loss", False)
    trials = [{"number": i, "state": "COMPLETE", "value": v, "params": {"hidden_size": h}}
              for i, (h, v) in enumerate([(64, 0.3), (128, 0.2)])]
    search = search_parallel_figure(trials, {"hidden_size": ("cat", [64, 128])})
    for fig in (runs, search):
        halo = fig.data[0].tickfont.shadow
        assert halo.count("#fff") >= 3 and "3px" in halo, halo


def test_a_colour_scale_is_shown_only_when_the_lines_differ_in_colour():
    # One run alone drew a micro-F1 colour bar from 0.4 to 1.2 around its one value; without the bar, its last axis
    # title ran off the chart.
    from multilabel.charts import parallel_coordinates_figure, search_parallel_figure

    one = parallel_coordinates_figure([{"hidden": 64, "val micro-F1": 0.72}], ["hidden"], ["val micro-F1"],
                                      "val micro-F1")
    two = parallel_coordinates_figure([{"hidden": 64, "val micro-F1": 0.72}, {"hidden": 32, "val micro-F1": 0.6}],
                                      ["hidden"], ["val micro-F1"], "val micro-F1")
    assert one.data[0].line.showscale is False and two.data[0].line.showscale is True
    # without the scale, the last axis's title (centred under it) needs its own room on the right
    assert one.layout.margin.r >= 3.5 * len("val micro-F1") and two.layout.margin.r == 40
    trial = {"number": 0, "state": "COMPLETE", "value": 0.3, "params": {"hidden_size": 64}}
    space = {"hidden_size": ("cat", [64, 128])}
    assert search_parallel_figure([trial], space).data[0].line.showscale is False
    second = {**trial, "number": 1, "value": 0.2, "params": {"hidden_size": 128}}
    assert search_parallel_figure([trial, second], space).data[0].line.showscale is True


def _runs_page_rows(n: int = 6) -> tuple[list[dict], list[str], list[str]]:
    """Rows as the Runs page hands them over when its runs differ in many settings (the walk's 14 axes)."""
    import random

    rng = random.Random(3)
    choices = {"data": ["synthetic", "emotions.csv", "emotions_onelabel.csv"], "inputs": [10, 20, 72],
               "hidden": [128, 256], "outputs": [1, 5, 6], "max epochs": [5, 50, 100, 112, 200],
               "batch": [32, 100, 1024], "seed": [0, 7], "patience": [10, 20], "thresholds": ["fixed", "tuned"]}
    metrics = ["val loss", "val micro-F1", "val macro-F1", "val Hamming", "val subset acc"]
    rows = [{**{k: rng.choice(v) for k, v in choices.items()}, **{m: rng.uniform(0.1, 0.9) for m in metrics}}
            for _ in range(n)]
    for row, epochs in zip(rows, (5, 100, 112, 200)):
        row["max epochs"] = epochs
    return rows, list(choices), metrics


def _titles_apart(fig) -> None:
    """No two neighbouring axis titles overlap at the Runs page's width (estimated widths, as the builder does)."""
    import math

    from multilabel.charts._base import PAGE_PX, TITLE_CHAR_PX, TITLE_GAP_PX, TITLE_LINE_PX, axis_spacing

    trace = fig.data[0]
    titles = [d.label for d in trace.dimensions]
    spacing = axis_spacing(len(titles), fig.layout.margin.l, fig.layout.margin.r, bool(trace.line.showscale),
                           PAGE_PX)
    widths = [TITLE_CHAR_PX * max(len(line) for line in t.split("<br>")) for t in titles]
    if not trace.labelangle:
        for (a, wa), (b, wb) in zip(zip(titles, widths), zip(titles[1:], widths[1:])):
            assert (wa + wb) / 2 + TITLE_GAP_PX <= spacing, (a, b, spacing)
        return
    # Tilted titles are parallel: neighbours are spacing * sin(angle) apart, which must hold a line of text; the
    # first title's reach left of its axis fits in the left margin, and the bottom margin holds the longest.
    angle = math.radians(abs(trace.labelangle))
    assert spacing * math.sin(angle) >= TITLE_LINE_PX and all("<br>" not in t for t in titles)
    assert fig.layout.margin.l >= widths[0] * math.cos(angle)
    room = fig.layout.margin.b if trace.labelside == "bottom" else fig.layout.margin.t
    assert room >= max(widths) * math.sin(angle) + TITLE_LINE_PX


def test_parallel_axis_titles_of_many_runs_axes_do_not_run_together_at_the_page_width():
    # The walk's Runs page (14 axes, about 45 px apart): "outputsmax epochs (log)batch (log)" and
    # "val micro-F1val macro-F1val Hammingval subset acc" under the axes. Many axes: titles tilted; few: level.
    from multilabel.charts import parallel_coordinates_figure

    rows, hyper, metrics = _runs_page_rows()
    many = parallel_coordinates_figure(rows, hyper, metrics, "val micro-F1")
    assert len(many.data[0].dimensions) == 14 and many.data[0].labelangle == -30
    _titles_apart(many)
    axes = many.layout.height - many.layout.margin.t - many.layout.margin.b
    assert axes >= 250  # the chart grows with the titles' room: the axes keep their length
    few = parallel_coordinates_figure(rows, ["hidden", "max epochs"], metrics, "val micro-F1")
    assert few.data[0].labelangle == 0
    _titles_apart(few)
    assert [d.label for d in few.data[0].dimensions] == ["hidden", "max epochs (log)", *metrics]  # one line each


def test_search_parallel_titles_stay_level_and_apart_at_the_page_width():
    from multilabel.charts import search_parallel_figure
    from multilabel.search import SPACE

    trials = [{"number": i, "state": "COMPLETE", "value": v,
               "params": {"hidden_size": h, "learning_rate": 1e-3, "weight_decay": 1e-4, "dropout": 0.1,
                          "input_noise": 0.0, "batch_size": 32, "pos_weight": "none", "threshold_mode": "fixed"}}
              for i, (h, v) in enumerate([(64, 0.3), (128, 0.2)])]
    fig = search_parallel_figure(trials, SPACE)
    assert fig.data[0].labelangle == 0
    _titles_apart(fig)


def test_parallel_ticks_too_close_to_read_are_thinned_keeping_both_ends():
    # Max epochs 100 and 112 on a log axis: "112" printed over "100".
    import math

    from multilabel.charts import parallel_coordinates_figure
    from multilabel.charts._base import TICK_GAP

    rows, hyper, metrics = _runs_page_rows()
    dims = {d.label: d for d in parallel_coordinates_figure(rows, hyper, metrics, "val micro-F1").data[0].dimensions}
    epochs = dims["max epochs (log)"]
    present = sorted({r["max epochs"] for r in rows})
    assert epochs.ticktext[0] == f"{present[0]:g}" and epochs.ticktext[-1] == f"{present[-1]:g}"
    assert "100" in epochs.ticktext and "112" not in epochs.ticktext
    span = epochs.range[1] - epochs.range[0]
    assert math.log10(present[-1]) - math.log10(present[0]) == pytest.approx(span)
    for dim in dims.values():
        ticks = sorted(dim.tickvals)
        low, high = dim.range if dim.range else (ticks[0], ticks[-1])
        assert all(b - a >= TICK_GAP * (high - low) - 1e-9 for a, b in zip(ticks, ticks[1:])), dim.label


def test_parallel_tick_labels_have_a_solid_outline_not_only_a_blur():
    # Blurred shadows alone left the line running through "0.001" (Search's learning rate axis) visible.
    from multilabel.charts import parallel_coordinates_figure

    rows = [{"hidden": h, "val loss": v} for h, v in [(64, 0.3), (128, 0.2)]]
    halo = parallel_coordinates_figure(rows, ["hidden"], ["val loss"], "val loss", False).data[0].tickfont.shadow
    shadows = {s.strip() for s in halo.split(",")}
    assert {"-1px -1px 0 #fff", "1px 1px 0 #fff", "-2px 0px 0 #fff", "2px 0px 0 #fff", "0px -2px 0 #fff",
            "0px 2px 0 #fff"} <= shadows, halo


def test_heads_bar_values_never_sit_on_the_dashed_half_line():
    # The walk, Labels = 2: softmax values just under 0.5 ("0.43", "0.40", "0.44") were printed above their bars,
    # right on the dashed 0.5 line, and read like "-0.43". Tall bars print theirs inside, at the top; short ones
    # above them, ending well below the line.
    from multilabel.charts import HEADS_INSIDE_FROM

    probs = {"sigmoid": [[1.0, 0.96], [0.2, 0.51]], "softmax": [[0.43, 0.57], [0.44, 0.09]]}
    fig = heads_probability_figure(["label_0", "label_1"], [[1, 1], [1, 1]], probs)
    placed = {(v, pos) for t in fig.data for v, pos in zip(t.y, t.textposition)}
    assert placed == {(1.0, "inside"), (0.96, "inside"), (0.2, "outside"), (0.51, "inside"), (0.43, "inside"),
                      (0.57, "inside"), (0.44, "inside"), (0.09, "outside")}
    assert all(t.insidetextanchor == "end" for t in fig.data)  # at the bar's top, under the line for a value < 0.5
    # A value printed above its bar takes about 16 px, an eighth of a panel's unit (108 px with four rows).
    rows = heads_probability_figure(["a", "b"], [[1, 1]] * 4, {k: v * 2 for k, v in probs.items()})
    unit_px = (rows.layout.height - rows.layout.margin.t - rows.layout.margin.b) * (
        rows.layout.yaxis.domain[1] - rows.layout.yaxis.domain[0]) / rows.layout.yaxis.range[1]
    assert HEADS_INSIDE_FROM + 18 / unit_px < 0.5


def _epochs(n: int, first: int = 1, every: int = 1) -> list[dict]:
    return [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e,
             **({"val_micro_f1": 0.5, "val_macro_f1": 0.4, "val_subset_accuracy": 0.3} if (e - first) % every == 0
                or e == first + n - 1 else {})} for e in range(first, first + n)]


def test_epoch_axes_frame_the_epochs_shown_and_side_by_side_charts_start_alike():
    # Paused at epoch 10: plotly's own range ran to 11 on the loss chart and began the metrics chart at 0.
    history = _epochs(10, every=3)
    loss, metrics = loss_figure(history).layout.xaxis, metrics_figure(history).layout.xaxis
    assert list(loss.range) == list(metrics.range) == [0.5, 10.5]  # ticks 1..10, no 0 nor 11
    assert loss.dtick == 1
    one = loss_figure(_epochs(1)).layout.xaxis
    assert list(one.range) == [0.5, 1.5]
    long = loss_figure(_epochs(200)).layout.xaxis
    assert long.range[0] < 1 < 200 < long.range[1] and long.range[1] - 200 < 5 and long.dtick is None
    # Runs compared: one axis over every run's epochs, the shorter run included.
    pair = runs_overlay_figure({"a": _epochs(10), "b": _epochs(4)}, "val_loss", "Validation loss", "loss")
    assert list(pair.layout.xaxis.range) == [0.5, 10.5]
    continued = runs_overlay_figure({"a": _epochs(5, first=6)}, "val_loss", "Validation loss", "loss")
    assert list(continued.layout.xaxis.range) == [5.5, 10.5]


def test_the_network_panels_frame_every_epoch_measured():
    from multilabel.charts import network_curves_figure
    fig = network_curves_figure({"epoch": [1, 2, 3], "weight_norm_hidden": [1, 2, 3]})
    assert list(fig.layout.xaxis.range) == [0.5, 3.5]
