"""Runs page: every stored run, overlay curves, download a checkpoint, delete a run."""

from pathlib import Path

import streamlit as st

from app_pages._nav import PREDICT, TRAIN, page

page("Runs")
st.title("Runs")

from multilabel.charts import runs_overlay_figure  # noqa: E402  (heavy imports after the title is on screen)
from app_pages._shared import registry  # noqa: E402
from app_pages._words import browser_session, clock, notes_lines, owner_line, status_word  # noqa: E402

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
        return {k: best.get(k) for k in ("micro_f1", "macro_f1", "hamming_loss")}, f"best epoch {best.get('epoch')}"
    measured = [r for r in store.history(run["id"]) if r.get("val_micro_f1") is not None]
    if not measured:
        return {}, "not measured yet" if run["status"] in ("running", "starting") else "none"
    last = measured[-1]
    return ({"micro_f1": last["val_micro_f1"], "macro_f1": last.get("val_macro_f1"),
             "hamming_loss": last.get("val_hamming_loss")}, f"epoch {last['epoch']} (so far)")


def row(run: dict) -> dict:
    config, data = run["config"], run["data"] or {}
    values, at = latest_metrics(run)
    fmt = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731
    rows = f" ({data['rows']:,} rows)" if isinstance(data.get("rows"), int) else ""
    return {
        "run": run["id"], "status": status_word(run["status"]),
        "started": clock(run["created_at"]), "data": (data.get("name") or data.get("source", "")) + rows,
        "network": f"{config.get('input_size')}→{config.get('hidden_size')}→{config.get('num_outputs')} · "
                   f"lr {config.get('learning_rate', 0):g} · batch {config.get('batch_size')}",
        "epochs": f"{run['epochs_done']}/{config.get('epochs')}",
        "micro-F1": fmt(values.get("micro_f1")), "macro-F1": fmt(values.get("macro_f1")),
        "Hamming": fmt(values.get("hamming_loss")), "metrics at": at,
        "time (s)": f"{run['duration_s']:.1f}" if run["duration_s"] is not None else "—",
    }


# Narrow columns, text values: the table fits the page, and a run without metrics says so instead of "None".
st.dataframe([row(r) for r in runs], hide_index=True, width="stretch",
             column_config={"run": st.column_config.TextColumn(width="small"),
                            "network": st.column_config.TextColumn(width="medium"),
                            "data": st.column_config.TextColumn(width="medium")})
st.caption("Validation metrics at threshold 0.5 for a live run, at the run's own thresholds once it has ended.")

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
st.caption(f"Status: {status_word(run['status'])} · {owner_line_for(run)}")
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
