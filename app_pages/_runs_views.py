"""The Runs page's experiments view: filter, sort and column controls, the runs table, hyperparameters against
metrics in parallel coordinates, and overlay curves; redrawn by a fragment while a run trains."""

from __future__ import annotations

from typing import Optional

import pandas as pd

import streamlit as st

from multilabel import MultilabelError
from multilabel import experiments as ex
from multilabel.charts import figure_html, parallel_coordinates_figure, smoothed_overlay_figure
from multilabel.predictview import header_px
from multilabel.store import RunStore
from app_pages._nav import charts_after_table
from app_pages._shared import plain
from app_pages._words import status_word

LIVE_POLL_S = 2.0  # how often the table and curves refresh while some run trains
# Each arrival on the page (_nav.arrived) sends the table alone; the browser asks for the charts once it has drawn
# the table (app_pages/_nav.py, rerun_when_drawn).
CHARTS_DRAWN = "runs_charts_drawn"

# Pickers show run names, and the browser keeps a picker's choice as the text it showed: after a rename that text
# names no option, so the choice would be lost. Each rename therefore gives the pickers new keys and carries their
# choices (run ids) over.
NAMES_VERSION, CARRY = "runs_names_version", "runs_carry"
SHOWN = "runs_shown"  # the ids the table shows (its filters applied): the page's 'One run' picks among them
COMPARED_SHOWN = "runs_compared_shown"  # the runs the filters showed on the page's last run (compared_for_filter)
COMPARED = "runs_compared"  # the runs to compare, also those a filter hides now (the picker shows the others)
PAGE_PASS = "runs_page_pass"  # set by the page script before the view: this call is the whole page's, not a rerun


def keyed(base: str) -> str:
    version = st.session_state.get(NAMES_VERSION, 0)
    return f"{base}_v{version}" if version else base


def carried(base: str):
    """The choice a picker had before the last rename (once), else None."""
    return st.session_state.get(CARRY, {}).pop(base, None)


def forget(run_id: str) -> None:
    """After ``run_id`` is deleted: new keys for the pickers (the browser kept showing the deleted run's name in
    'Run' while the page below it showed another run), the compared runs without it."""
    st.session_state[COMPARED] = [i for i in st.session_state.get(COMPARED) or [] if i != run_id]
    st.session_state[NAMES_VERSION] = st.session_state.get(NAMES_VERSION, 0) + 1


def compare_edited(key: str, offered: list[str]) -> None:
    """'Compare runs' changed by hand: its choice among the ``offered`` runs, and the hidden runs compared before."""
    st.session_state[COMPARED] = ex.compared_after_edit(st.session_state.get(COMPARED) or [],
                                                        st.session_state[key], offered)


def text_px(column, low: int, high: int) -> int:
    """A text column's width in pixels for its longest cell or its header (``header_px``), within low..high: 'small'
    (75 px) cut 'stopped early' and 'emotions.csv' short."""
    longest = max([len(str(column.name)), *(len(str(v)) for v in column.dropna())])
    return max(low, min(high, header_px("x" * longest)))


def table_config(display) -> dict:
    """How the table ``display`` shows its columns: numbers with sensible digits, statuses in words, text columns
    as wide as their text (within bounds)."""
    # the table's digits for metrics and durations: experiments.NUMBER_FORMATS (a range slider's ends read the same)
    config = {c: st.column_config.NumberColumn(format=ex.number_format(c)) for c in ex.NUMBER_FORMATS}
    config.update({
        "name": st.column_config.TextColumn(width=text_px(display["name"], 120, 240)),
        "status": st.column_config.TextColumn(width=text_px(display["status"], 70, 120)),
        "data": st.column_config.TextColumn(width=text_px(display["data"], 70, 180)),
        "lr": st.column_config.NumberColumn(format="%g"),
        "batch": st.column_config.NumberColumn(help="rows per optimizer step (a run set to auto shows the size it used)"),
        "eval every": st.column_config.NumberColumn(help="validation metrics every N epochs; 0 = auto"),
        "weight decay": st.column_config.NumberColumn(format="%g"),
        "started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
        "run": st.column_config.TextColumn("run id"),
    })
    return config


def controls(frame) -> tuple[ex.RunFilter, str, bool, list[str]]:
    """The filter, sort and column widgets: (filter, sort column, descending, visible columns)."""
    a, b, c, d, e = st.columns([2.5, 2.3, 2.2, 2, 1.6])  # Status and Data wide enough for a chip like "stopped early"
    statuses = a.multiselect("Status", sorted(frame["status"].dropna().unique()), format_func=status_word,
                             key="f_status", placeholder="any", wrap=True)
    data = b.multiselect("Data", sorted(frame["data"].dropna().unique()), key="f_data", placeholder="any", wrap=True)
    text = c.text_input("Search names and notes", key="f_text", placeholder="e.g. baseline")
    sort = d.selectbox("Sort by", ex.all_columns(), index=ex.all_columns().index("started"), key="sort")
    descending = e.toggle("Descending", value=True, key="descending")
    f, g, h = st.columns([5, 2, 3])
    visible = f.multiselect("Columns", ex.all_columns(), default=list(ex.DEFAULT_COLUMNS), key="columns",
                             wrap=True)
    numeric = ex.numeric_columns(frame)
    on = g.selectbox("Range on", ["(none)", *numeric], key="range_on")
    ranges: tuple = ()
    if on != "(none)":
        (low, high), why_not = ex.range_bounds(frame, on)
        key = f"range_{on}"
        if why_not:
            h.caption(why_not)
        else:
            if key in st.session_state:  # live runs move a metric's range: keep the chosen one inside it
                inside = ex.clamp_range(st.session_state[key], low, high)
                if inside != tuple(st.session_state[key]):
                    st.session_state[key] = inside
            step, fmt = ex.range_slider(frame, on, low, high)
            lo, hi = h.slider(f"{on} between", low, high, None if key in st.session_state else (low, high), key=key,
                              step=step, format=fmt)
            ranges = ((on, lo, hi),)
    return ex.RunFilter(tuple(statuses), tuple(data), text, ranges), sort, descending, visible or ["name"]


def poll_s(live_at_start: bool) -> Optional[float]:
    """The fragment's ``run_every``: every LIVE_POLL_S while live, except on a first draw (the browser's "drawn"
    brings the next call)."""
    if not st.session_state.get(CHARTS_DRAWN):
        return None
    return LIVE_POLL_S if live_at_start else None


def experiments_view(store: RunStore, live_at_start: bool, first_draw: bool = False) -> None:
    """Table, parallel coordinates and overlay curves of the filtered runs (re-drawn by each poll while live);
    ``live_at_start``: whether some run trained when the page was drawn (a change redraws the whole page);
    ``first_draw``: the first draw of an arrival on the page, which shows the table and leaves the charts to the call
    that the browser makes once it has drawn the table (that call redraws the whole page, charts included)."""
    whole_page = st.session_state.pop(PAGE_PASS, False)  # the page's 'One run' is drawn after this call anyway
    if first_draw:
        if st.session_state.get(CHARTS_DRAWN):
            st.rerun()
        st.session_state[CHARTS_DRAWN] = True
    fresh = store.list_runs()
    live_now = store.live_run_ids()
    if bool(live_now) != live_at_start:
        st.rerun()  # a run started or the last live one ended: refresh the whole page, start or stop polling
    frame = ex.runs_frame(fresh, store.history)
    spec, sort, descending, visible = controls(frame)
    try:
        shown = ex.sort_runs(ex.filter_runs(frame, spec), sort, descending)
    except MultilabelError as exc:
        st.error(plain(str(exc)))
        return
    members = sorted(shown["run"])
    if st.session_state.get(SHOWN) != members:
        st.session_state[SHOWN] = members
        if not whole_page:
            st.rerun(scope="app")  # a filter changed which runs are shown: 'One run' below follows
    display = shown.assign(status=shown["status"].map(status_word),
                           started=pd.to_datetime(shown["started"], unit="s"))
    if spec.ranges:
        st.space("small")  # the table's toolbar (on hover) shows above its top right, over the range slider's track
    # A run with no measured epoch yet (queued, or failed before one) has no metrics: an empty cell, not "None".
    st.dataframe(display, hide_index=True, width="stretch", column_order=visible, column_config=table_config(display),
                 placeholder="", key="runs_table")
    live = f" · {len(live_now)} live, refreshing every {LIVE_POLL_S:g} s" if live_now else ""
    st.caption(f"{len(shown)} of {len(frame)} runs shown{live}. Best validation metrics: a finished run's best "
               "epoch at its own thresholds; a live or unfinished run's measured epoch of lowest validation loss so "
               "far (threshold 0.5). Charts: the camera icon on a chart's toolbar saves it as PNG.")
    if shown.empty:
        return
    if first_draw:
        charts_after_table(key="runs_table_drawn")
        return

    records = shown.to_dict("records")
    hyper = ex.hyperparameter_columns(shown)
    st.subheader("Hyperparameters against metrics")
    # One row: the colour, the download, and what the chart can show (no blank half beside a narrow picker).
    q, r, p = st.columns([1.2, 1, 3], vertical_alignment="bottom")
    color_by = q.selectbox("Colour by", list(ex.METRIC_COLUMNS), index=1, key="pc_color")
    if not hyper:
        p.caption("The runs shown share every setting: there is nothing to compare across (axes show metrics only).")
    parallel = parallel_coordinates_figure(records, hyper, list(ex.METRIC_COLUMNS), color_by,
                                           ex.HIGHER_IS_BETTER[color_by])
    st.plotly_chart(parallel, key="parallel")
    if shown[color_by].notna().any():  # something drawn: offer it
        r.download_button("Download as HTML", lambda: figure_html(parallel), mime="text/html",
                          file_name="runs-parallel-coordinates.html", key="html_parallel", on_click="ignore")

    st.subheader("Compare curves")
    labels = ex.unique_labels(zip(shown["run"], shown["name"]))
    ids = list(shown["run"])
    # The runs to compare live in COMPARED, hidden ones included: the picker shows those the filters let through,
    # and clearing a filter brings the others back (the picker's own state forgot them when they were hidden).
    key = keyed("compare")
    wanted = st.session_state.setdefault(COMPARED, ids[: min(3, len(ids))])
    wanted = st.session_state[COMPARED] = ex.compared_for_filter(wanted, ids, st.session_state.get(COMPARED_SHOWN))
    st.session_state[COMPARED_SHOWN] = ids
    st.session_state[key] = ex.kept_choices(wanted, labels)
    chosen = st.multiselect("Compare runs", ids, format_func=lambda i: labels.get(i, i), key=key, wrap=True,
                            on_change=compare_edited, args=(key, ids))
    s, t = st.columns([3, 1])
    smoothing = s.slider("Smoothing (EMA weight, as in TensorBoard)", 0.0, 0.99, 0.0, 0.01, key="smoothing")
    log_loss = t.toggle("Log scale for loss", key="log_loss")
    if not chosen:
        return
    histories = {labels[i]: store.history(i) for i in chosen}
    if not any(histories.values()):
        st.caption("The chosen runs have no epochs logged yet.")
        return
    loss = smoothed_overlay_figure(histories, "val_loss", "Validation loss", "loss", smoothing, log_loss)
    f1 = smoothed_overlay_figure(histories, "val_micro_f1", "Validation micro-F1 (threshold 0.5)", "micro-F1",
                                 smoothing)
    a, b = st.columns(2)
    a.plotly_chart(loss, key="overlay_loss")
    b.plotly_chart(f1, key="overlay_f1")
    a.download_button("Download loss chart as HTML", lambda: figure_html(loss), file_name="runs-val-loss.html",
                      mime="text/html", key="html_loss", on_click="ignore")
    b.download_button("Download micro-F1 chart as HTML", lambda: figure_html(f1), file_name="runs-val-micro-f1.html",
                      mime="text/html", key="html_f1", on_click="ignore")
