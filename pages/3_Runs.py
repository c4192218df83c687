"""Runs page: every stored run as an experiment. A table of all its settings and best validation metrics (choose
columns, sort, filter), hyperparameters against metrics in parallel coordinates, overlay curves with smoothing and a
log scale, names and notes, exports (history CSV, charts as HTML), and one run's actions (open, predict, delete).
The table and curves refresh on their own while a run trains."""

from pathlib import Path
from types import SimpleNamespace

import streamlit as st

from app_pages._nav import PREDICT, TRAIN, arrived, charts_due, page, while_shown

page("Runs")
st.title("Runs")

from multilabel import MultilabelError  # noqa: E402  (heavy imports after the title is on screen)
from multilabel import experiments as ex  # noqa: E402
from multilabel.store import check_note  # noqa: E402
from app_pages._export import onnx_button  # noqa: E402
from app_pages._keys import LOAD_FORM, PREDICT_RUN, RUN_ID  # noqa: E402
from app_pages._runs_views import (CARRY, CHARTS_DRAWN, NAMES_VERSION, PAGE_PASS, SHOWN, carried,  # noqa: E402
                                   experiments_view, forget, keyed, poll_s)
from app_pages._shared import model_from_store, plain, registry  # noqa: E402
from app_pages._words import (browser_session, clock, metric_or_dash as fmt, notes_lines, owner_line,  # noqa: E402
                              status_word)

ME = browser_session()
reg = registry()
store = reg.store
if not store.list_runs(limit=1):
    st.info("No runs yet: start one on the Train page (or with `python -m multilabel train`).")
    st.stop()
live_at_start = bool(store.live_run_ids())
first_draw = not charts_due(CHARTS_DRAWN)  # each arrival: the table first, the charts once the browser drew it
st.session_state[PAGE_PASS] = True
st.fragment(experiments_view, run_every=while_shown(poll_s(live_at_start)))(store, live_at_start, first_draw)


# -- one run: name, notes, exports, actions ---------------------------------------------------------------------

def owner_line_for(run: dict) -> str:
    return owner_line(SimpleNamespace(started_by=run.get("started_by"), started_at=run["created_at"]), ME)


def rename(run_id: str) -> None:
    try:
        store.rename(run_id, st.session_state[f"name_{run_id}"])
    except MultilabelError as exc:
        st.session_state["run_error"] = str(exc)
        return
    st.session_state[CARRY] = {"detail_run": st.session_state.get(keyed("detail_run"))}  # compared: COMPARED
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
stored = {r["id"] for r in runs}
if SHOWN in st.session_state:  # the runs the table's filters let through
    shown_ids = set(st.session_state[SHOWN])
    runs = [r for r in runs if r["id"] in shown_ids]
ids = [r["id"] for r in runs]
link = ex.RunLink(st.session_state, "runs")  # ?run=<id>: a copied link, Back from Inspect
target = link.follow(st.query_params.get("run"), ids, arrived())
missing = link.missing_run()
if missing in stored:
    st.warning(f"Run {plain(missing)} of the link is hidden by the filters above: clear them to see it.")
elif missing:
    st.warning(f"No run {plain(missing)} in this run store (unknown or deleted); showing the table's first run "
               "instead.")
if not runs:
    st.caption("No run matches the filters above: change or clear them to pick a run here.")
    st.stop()
labels = ex.unique_labels((r["id"], r["name"]) for r in runs)
key, before = keyed("detail_run"), carried("detail_run")
if target is not None:
    st.session_state[key] = target
elif st.session_state.get(key) not in ids:  # a first draw, a rename's new key, or deleted meanwhile
    st.session_state[key] = before if before in ids else ids[0]
run_id = st.selectbox("Run", ids, format_func=lambda i: labels.get(i, i), key=key, on_change=link.picked)
st.query_params["run"] = run_id  # a reload or a copied link opens this run again
link.shown(run_id)
run = next(r for r in runs if r["id"] == run_id)
history = store.history(run_id)
values, epoch = ex.best_metrics(run, history)
live = reg.is_live(run_id)
duration = f" · took {run['duration_s']:.1f} s" if run["duration_s"] is not None and not live else ""
st.caption(f"Run id {run_id} · status: {status_word(run['status'])} · {plain(owner_line_for(run))}{duration} · "
           f"validation metrics: {ex.metrics_epoch_words(run, epoch)}")
if epoch is not None:
    cols = st.columns(4)
    cols[0].metric("Val micro-F1", fmt(values.get("val micro-F1")))
    cols[1].metric("Val macro-F1", fmt(values.get("val macro-F1")))
    cols[2].metric("Val Hamming loss", fmt(values.get("val Hamming"), 4))  # 4 decimals, as Predict and Search
    cols[3].metric("Val subset accuracy", fmt(values.get("val subset acc")))
if run["error"]:
    st.error(f"This run {status_word(run['status'])}: {plain(run['error'])}")
problem = st.session_state.pop("run_error", None)
if problem:
    st.error(plain(problem))

n, m = st.columns([4, 1], vertical_alignment="bottom")  # Rename level with the field, not with its label
n.text_input("Name", value=run["name"], key=f"name_{run_id}")
m.button("Rename", key="rename", on_click=rename, args=(run_id,))
for line in notes_lines(run.get("notes"), ME):
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
    st.session_state[RUN_ID] = run_id
    st.session_state[LOAD_FORM] = run_id  # the form shows this run's settings
    st.switch_page(TRAIN)
checkpoint = Path(run["checkpoint"]) if run["checkpoint"] else None
if checkpoint is not None and checkpoint.is_file():
    b.download_button("Download checkpoint", checkpoint.read_bytes(), file_name=f"{run_id}.pt", key="download_ckpt")
    onnx_button(b, lambda: model_from_store(str(checkpoint)), f"{run_id}.onnx", "download_onnx")
    if a.button("Predict with this model", key="open_predict"):
        st.session_state[PREDICT_RUN] = run_id
        st.switch_page(PREDICT)
if live:
    c.caption("Running: stop it on the Train page before deleting it.")
elif st.session_state.get("confirm_delete") == run_id:
    called = f" ({plain(run['name'])})" if run["name"] != run_id else ""
    c.warning(f"Delete run {run_id}{called} and its checkpoint? This cannot be undone.")
    if c.button("Yes, delete", type="primary", key="delete_yes"):
        store.delete_run(run_id)
        st.session_state.pop("confirm_delete")
        forget(run_id)
        st.rerun()
    if c.button("Cancel", key="delete_no"):
        st.session_state.pop("confirm_delete")
        st.rerun()
elif c.button("Delete run", key="delete"):
    st.session_state["confirm_delete"] = run_id
    st.rerun()
