"""Runs page: every stored run as an experiment. A table of all its settings and best validation metrics (choose
columns, sort, filter), hyperparameters against metrics in parallel coordinates, overlay curves with smoothing and a
log scale, names and notes, exports (history CSV, charts as HTML), and one run's actions (open, predict, delete).
The table and curves refresh on their own while a run trains."""

from pathlib import Path

import streamlit as st

from app_pages._nav import PREDICT, TRAIN, page

page("Runs")
st.title("Runs")

import pandas as pd  # noqa: E402  (heavy imports after the title is on screen)

from multilabel import MultilabelError  # noqa: E402
from multilabel import experiments as ex  # noqa: E402
from multilabel.charts import figure_html, parallel_coordinates_figure, smoothed_overlay_figure  # noqa: E402
from multilabel.store import check_note  # noqa: E402
from app_pages._export import onnx_button  # noqa: E402
from app_pages._shared import model_from_store, plain, registry  # noqa: E402
from app_pages._words import browser_session, clock, notes_lines, owner_line, status_word  # noqa: E402

LIVE_POLL_S = 2.0  # how often the table and curves refresh while some run trains
ME = browser_session()
reg = registry()
store = reg.store
if not store.list_runs(limit=1):
    st.info("No runs yet: start one on the Train page (or with `python -m multilabel train`).")
    st.stop()
live_at_start = bool(store.live_run_ids())


# Pickers show run names, and the browser keeps a picker's choice as the text it showed: after a rename that text
# names no option, so the choice would be lost. Each rename therefore gives the pickers new keys and carries their
# choices (run ids) over.
NAMES_VERSION, CARRY = "runs_names_version", "runs_carry"


def keyed(base: str) -> str:
    version = st.session_state.get(NAMES_VERSION, 0)
    return f"{base}_v{version}" if version else base


def carried(base: str):
    """The choice a picker had before the last rename (once), else None."""
    return st.session_state.get(CARRY, {}).pop(base, None)


def fmt(value) -> str:
    return "—" if value is None or value != value else f"{value:.3f}"


def table_config() -> dict:
    """How the table shows its columns: numbers with sensible digits, statuses in words, widths that fit."""
    config = {c: st.column_config.NumberColumn(format="%.3f") for c in ex.METRIC_COLUMNS}
    config.update({
        "name": st.column_config.TextColumn(width="medium"), "status": st.column_config.TextColumn(width="small"),
        "data": st.column_config.TextColumn(width="small"), "lr": st.column_config.NumberColumn(format="%g"),
        "batch": st.column_config.NumberColumn(help="rows per optimizer step (a run set to auto shows the size it used)"),
        "eval every": st.column_config.NumberColumn(help="validation metrics every N epochs; 0 = auto"),
        "weight decay": st.column_config.NumberColumn(format="%g"),
        "duration s": st.column_config.NumberColumn(format="%.1f"),
        "started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
        "run": st.column_config.TextColumn("run id"),
    })
    return config


def controls(frame) -> tuple[ex.RunFilter, str, bool, list[str]]:
    """The filter, sort and column widgets: (filter, sort column, descending, visible columns)."""
    a, b, c, d, e = st.columns([2, 2, 3, 2, 1.6])
    statuses = a.multiselect("Status", sorted(frame["status"].dropna().unique()), format_func=status_word,
                             key="f_status", placeholder="any")
    data = b.multiselect("Data", sorted(frame["data"].dropna().unique()), key="f_data", placeholder="any")
    text = c.text_input("Search names and notes", key="f_text", placeholder="e.g. baseline")
    sort = d.selectbox("Sort by", ex.all_columns(), index=ex.all_columns().index("started"), key="sort")
    descending = e.toggle("Descending", value=True, key="descending")
    f, g, h = st.columns([5, 2, 3])
    visible = f.multiselect("Columns", ex.all_columns(), default=list(ex.DEFAULT_COLUMNS), key="columns")
    numeric = ex.numeric_columns(frame)
    on = g.selectbox("Range on", ["(none)", *numeric], key="range_on")
    ranges: tuple = ()
    if on != "(none)":
        low, high = ex.value_range(frame, on)
        if pd.api.types.is_integer_dtype(frame[on]):
            low, high = int(low), int(high)
        key = f"range_{on}"
        if frame[on].isna().all():
            h.caption(f"No run has {on} yet: nothing to narrow.")
        elif low == high:
            h.caption(f"Every run with {on} has {low:g}: nothing to narrow.")
        else:
            if key in st.session_state:  # live runs move a metric's range: keep the chosen one inside it
                lo, hi = st.session_state[key]
                inside = (min(max(lo, low), high), max(min(hi, high), low))
                if inside != (lo, hi):
                    st.session_state[key] = inside
            lo, hi = h.slider(f"{on} between", low, high, None if key in st.session_state else (low, high), key=key)
            ranges = ((on, lo, hi),)
    return ex.RunFilter(tuple(statuses), tuple(data), text, ranges), sort, descending, visible or ["name"]


def experiments_view() -> None:
    """Table, parallel coordinates and overlay curves of the filtered runs (re-drawn by each poll while live)."""
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
    display = shown.assign(status=shown["status"].map(status_word),
                           started=pd.to_datetime(shown["started"], unit="s"))
    st.dataframe(display, hide_index=True, width="stretch", column_order=visible, column_config=table_config(),
                 key="runs_table")
    live = f" · {len(live_now)} live, refreshing every {LIVE_POLL_S:g} s" if live_now else ""
    st.caption(f"{len(shown)} of {len(frame)} runs shown{live}. Best validation metrics: a finished run's best "
               "epoch at its own thresholds; a live or unfinished run's measured epoch of lowest validation loss so "
               "far (threshold 0.5). Charts: the camera icon on a chart's toolbar saves it as PNG.")
    if shown.empty:
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
    key, before = keyed("compare"), carried("compare")
    default = ids[: min(3, len(ids))] if before is None else [i for i in before if i in labels]
    if key in st.session_state:  # a filter may hide runs picked before: keep the visible ones
        default = None
        kept = [i for i in st.session_state[key] if i in labels]
        if kept != st.session_state[key]:
            st.session_state[key] = kept
    chosen = st.multiselect("Compare runs", ids, default=default, format_func=lambda i: labels.get(i, i),
                            key=key)
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


st.fragment(experiments_view, run_every=LIVE_POLL_S if live_at_start else None)()


# -- one run: name, notes, exports, actions ---------------------------------------------------------------------

def owner_line_for(run: dict) -> str:
    class _View:  # owner_line reads started_by / started_at
        started_by, started_at = run.get("started_by"), run["created_at"]
    return owner_line(_View, ME)


def rename(run_id: str) -> None:
    try:
        store.rename(run_id, st.session_state[f"name_{run_id}"])
    except MultilabelError as exc:
        st.session_state["run_error"] = str(exc)
        return
    st.session_state[CARRY] = {base: st.session_state.get(keyed(base)) for base in ("compare", "detail_run")}
    st.session_state[NAMES_VERSION] = st.session_state.get(NAMES_VERSION, 0) + 1


def add_note(run_id: str) -> None:
    key = f"new_note_{run_id}"
    try:
        store.add_note(run_id, check_note(st.session_state.get(key, "")))
        st.session_state[key] = ""
    except MultilabelError as exc:
        st.session_state["run_error"] = str(exc)


def save_note(run_id: str, index: int) -> None:
    try:
        store.edit_note(run_id, index, st.session_state.get(f"note_text_{run_id}_{index}", ""))
    except MultilabelError as exc:
        st.session_state["run_error"] = str(exc)


def delete_note(run_id: str, index: int) -> None:
    try:
        store.delete_note(run_id, index)
        st.session_state.pop(f"note_text_{run_id}_{index}", None)
        st.session_state.pop(f"note_pick_{run_id}", None)
    except MultilabelError as exc:
        st.session_state["run_error"] = str(exc)


st.subheader("One run")
runs = store.list_runs()  # names and notes may have just changed
if not runs:
    st.stop()
ids = [r["id"] for r in runs]
labels = ex.unique_labels((r["id"], r["name"]) for r in runs)
key, before = keyed("detail_run"), carried("detail_run")
if key in st.session_state and st.session_state[key] not in ids:
    st.session_state.pop(key)  # deleted meanwhile
run_id = st.selectbox("Run", ids, index=ids.index(before) if before in ids else 0,
                      format_func=lambda i: labels.get(i, i), key=key)
run = next(r for r in runs if r["id"] == run_id)
history = store.history(run_id)
values, epoch = ex.best_metrics(run, history)
duration = f" · {run['duration_s']:.1f} s" if run["duration_s"] is not None else ""
at = "none" if epoch is None else f"best epoch {epoch}" if run["best"] else f"epoch {epoch} so far"
st.caption(f"Run id {run_id} · status: {status_word(run['status'])} · {plain(owner_line_for(run))}{duration} · "
           f"validation metrics: {at}")
if epoch is not None:
    cols = st.columns(4)
    cols[0].metric("Val micro-F1", fmt(values.get("val micro-F1")))
    cols[1].metric("Val macro-F1", fmt(values.get("val macro-F1")))
    cols[2].metric("Val Hamming loss", fmt(values.get("val Hamming")))
    cols[3].metric("Val subset accuracy", fmt(values.get("val subset acc")))
if run["error"]:
    st.error(f"This run {status_word(run['status'])}: {plain(run['error'])}")
problem = st.session_state.pop("run_error", None)
if problem:
    st.error(plain(problem))

n, m = st.columns([4, 1], vertical_alignment="bottom")  # Rename level with the field, not with its label
n.text_input("Name", value=run["name"], key=f"name_{run_id}")
m.button("Rename", key="rename", on_click=rename, args=(run_id,))
for line in notes_lines(run.get("notes")):
    st.caption(plain(line))
with st.expander(f"Notes ({len(run['notes'])})"):
    st.text_area("New note", key=f"new_note_{run_id}", height=70)
    st.button("Add note", key="add_note", on_click=add_note, args=(run_id,))
    if run["notes"]:
        index = st.selectbox("Note to edit", range(len(run["notes"])), key=f"note_pick_{run_id}",
                             format_func=lambda i: f"Note {i + 1} ({clock(run['notes'][i].get('at'))})")
        st.text_area("Text", value=run["notes"][index].get("text", ""), key=f"note_text_{run_id}_{index}", height=70)
        x, y = st.columns(2)
        x.button("Save note", key="note_save", on_click=save_note, args=(run_id, index))
        y.button("Delete note", key="note_delete", on_click=delete_note, args=(run_id, index))

a, b, c = st.columns(3)
if history:
    b.download_button("Download history (CSV)", ex.history_csv(history), file_name=f"{run_id}-history.csv",
                      mime="text/csv", key="download_history", on_click="ignore")
if a.button("Open on the Train page", key="open_train"):
    st.session_state["run_id"] = run_id
    st.session_state["load_form"] = run_id  # the form shows this run's settings
    st.switch_page(TRAIN)
checkpoint = Path(run["checkpoint"]) if run["checkpoint"] else None
if checkpoint is not None and checkpoint.is_file():
    b.download_button("Download checkpoint", checkpoint.read_bytes(), file_name=f"{run_id}.pt", key="download_ckpt")
    onnx_button(b, lambda: model_from_store(str(checkpoint)), f"{run_id}.onnx", "download_onnx")
    if a.button("Predict with this model", key="open_predict"):
        st.session_state["predict_run"] = run_id
        st.switch_page(PREDICT)
live = reg.is_live(run_id)
if live:
    c.caption("Running: stop it on the Train page before deleting it.")
elif st.session_state.get("confirm_delete") == run_id:
    called = f" ({plain(run['name'])})" if run["name"] != run_id else ""
    c.warning(f"Delete run {run_id}{called} and its checkpoint? This cannot be undone.")
    if c.button("Yes, delete", type="primary", key="delete_yes"):
        store.delete_run(run_id)
        st.session_state.pop("confirm_delete")
        st.rerun()
    if c.button("Cancel", key="delete_no"):
        st.session_state.pop("confirm_delete")
        st.rerun()
elif c.button("Delete run", key="delete"):
    st.session_state["confirm_delete"] = run_id
    st.rerun()
