"""Runs page: every stored run, overlay curves, download a checkpoint, delete a run."""

from pathlib import Path

import streamlit as st

from app_pages._nav import PREDICT, TRAIN, page

page("Runs")
st.title("Runs")

from multilabel.charts import runs_overlay_figure  # noqa: E402  (heavy imports after the title is on screen)
from app_pages._shared import registry  # noqa: E402
from app_pages._words import browser_session, notes_lines, owner_line, status_word  # noqa: E402

ME = browser_session()
reg = registry()
store = reg.store
runs = store.list_runs()
if not runs:
    st.info("No runs yet: start one on the Train page (or with `python -m multilabel train`).")
    st.stop()


def latest_metrics(run: dict) -> tuple[dict, str]:
    """The metrics to show for a run: its best epoch's once it has ended, else the newest measured epoch's."""
    if run["best"]:
        best = run["best"]
        return ({k: best.get(k) for k in ("micro_f1", "macro_f1", "hamming_loss", "subset_accuracy")},
                f"best epoch {best.get('epoch')}")
    measured = [r for r in store.history(run["id"]) if r.get("val_micro_f1") is not None]
    if not measured:
        return {}, "not measured yet" if run["status"] in ("running", "starting") else "none"
    last = measured[-1]
    return ({"micro_f1": last["val_micro_f1"], "macro_f1": last.get("val_macro_f1"),
             "hamming_loss": last.get("val_hamming_loss"), "subset_accuracy": last.get("val_subset_accuracy")},
            f"epoch {last['epoch']} so far")


def fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def row(run: dict) -> dict:
    config, data = run["config"], run["data"] or {}
    values, at = latest_metrics(run)
    rows = f" · {data['rows']:,} rows" if isinstance(data.get("rows"), int) else ""
    return {
        "run": run["id"], "status": status_word(run["status"]),
        "data": (data.get("name") or data.get("source", "")) + rows,
        "network": f"{config.get('input_size')}→{config.get('hidden_size')}→{config.get('num_outputs')} · "
                   f"lr {config.get('learning_rate', 0):g} · batch {config.get('batch_size')}",
        "epochs": f"{run['epochs_done']}/{config.get('epochs')}",
        "val micro-F1": fmt(values.get("micro_f1")) + (f" ({at})" if values else ""),
    }


# Few columns of set widths, text values: the table fits the page (no sideways scrolling), and a run without metrics
# says so ("—") instead of "None". The selected run's other metrics, owner and duration are under "One run".
WIDTHS = {"run": 175, "status": 95, "data": 150, "network": 170, "epochs": 75, "val micro-F1": 170}
st.dataframe([row(r) for r in runs], hide_index=True, width="stretch",
             column_config={c: st.column_config.TextColumn(width=w) for c, w in WIDTHS.items()})
st.caption("Validation metrics at threshold 0.5 for a live run (so far), at the run's own thresholds once it has "
           "ended (its best epoch).")

ids = [r["id"] for r in runs]
chosen = st.multiselect("Compare runs", ids, default=ids[: min(3, len(ids))], key="compare")
if chosen:
    histories = {i: store.history(i) for i in chosen}
    a, b = st.columns(2)
    a.plotly_chart(runs_overlay_figure(histories, "val_loss", "Validation loss", "loss"), key="overlay_loss")
    b.plotly_chart(runs_overlay_figure(histories, "val_micro_f1", "Validation micro-F1 (threshold 0.5)", "micro-F1"),
                   key="overlay_f1")



def owner_line_for(run: dict) -> str:
    class _View:  # owner_line reads started_by / started_at
        started_by, started_at = run.get("started_by"), run["created_at"]
    return owner_line(_View, ME)


st.subheader("One run")
run_id = st.selectbox("Run", ids, key="detail_run")
run = next(r for r in runs if r["id"] == run_id)
values, at = latest_metrics(run)
duration = f" · {run['duration_s']:.1f} s" if run["duration_s"] is not None else ""
st.caption(f"Status: {status_word(run['status'])} · {owner_line_for(run)}{duration} · validation metrics: {at}")
if values:
    cols = st.columns(4)
    cols[0].metric("Val micro-F1", fmt(values.get("micro_f1")))
    cols[1].metric("Val macro-F1", fmt(values.get("macro_f1")))
    cols[2].metric("Val Hamming loss", fmt(values.get("hamming_loss")))
    cols[3].metric("Val subset accuracy", fmt(values.get("subset_accuracy")))
for line in notes_lines(run.get("notes")):
    st.caption(line)
if run["error"]:
    st.error(f"This run {status_word(run['status'])}: {run['error']}")
a, b, c = st.columns(3)
if a.button("Open on the Train page", key="open_train"):
    st.session_state["run_id"] = run_id
    st.session_state["load_form"] = run_id  # the form shows this run's settings
    st.switch_page(TRAIN)
checkpoint = Path(run["checkpoint"]) if run["checkpoint"] else None
if checkpoint is not None and checkpoint.is_file():
    b.download_button("Download checkpoint", checkpoint.read_bytes(), file_name=f"{run_id}.pt", key="download_ckpt")
    if a.button("Predict with this model", key="open_predict"):
        st.session_state["predict_run"] = run_id
        st.switch_page(PREDICT)
live = reg.is_live(run_id)
if live:
    c.caption("Running: stop it on the Train page before deleting it.")
elif st.session_state.get("confirm_delete") == run_id:
    c.warning(f"Delete run {run_id} and its checkpoint? This cannot be undone.")
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
