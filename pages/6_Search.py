"""Search page: one click starts a hyperparameter search (Optuna) in a background process; watch its trials live,
stop it, and hand the ensemble of the best configurations to Predict."""

import streamlit as st

from app_pages._nav import PREDICT, page

page("Search")
st.title("Search")
st.caption("Find a good model for your data: a background search tries many settings (hidden size, learning rate, "
           "weight decay, dropout, input noise, batch size, pos_weight), scores each on cross-validation folds of "
           "your data, then refits the best few on all rows as one ensemble for Predict.")
status_slot = st.empty()
status_slot.caption("loading…")

import time  # noqa: E402

from multilabel import MultilabelError, guess_label_columns, make_synthetic, read_csv  # noqa: E402
from multilabel import search, searchview as sv  # noqa: E402
from multilabel.charts import (search_importance_figure, search_parallel_figure,  # noqa: E402
                               search_progress_figure)
from multilabel.data import dataset_from_frame  # noqa: E402
from multilabel.paths import os_error_message  # noqa: E402
from multilabel.store import default_home  # noqa: E402
from app_pages._export import onnx_button  # noqa: E402
from app_pages._keys import ENSEMBLE_PREFIX, PREDICT_RUN  # noqa: E402
from app_pages._shared import error, model_from_store, plain, release_upload, show_label_warnings  # noqa: E402
from app_pages._words import importance_wait_words, trial_counts  # noqa: E402

status_slot.empty()
HOME = default_home()


@st.cache_data(show_spinner=False, max_entries=16)
def importances(storage: str, study: str, step: int) -> tuple[dict, int]:
    """Fitted once per refresh ``step`` (the cache key; see searchview.importance_step), not on every poll."""
    return sv.importances(storage, study)


# -- which search ----------------------------------------------------------------------------------------------------
jobs = {job["study"]: job for job in search.list_jobs(HOME)}
study, stale = sv.chosen_study(st.query_params.get("study"), st.session_state.get("search_study"), jobs)
if stale:
    st.warning(f"No search named {plain(stale)} in this run store; start a new one below.")
    st.query_params.pop("study", None)
if study:
    st.session_state["search_study"] = study
    st.query_params["study"] = study  # a reload or a copied link opens this search again
else:
    st.session_state.pop("search_study", None)

NEW = "(start a new search)"


def pick() -> None:
    chosen = st.session_state["search_pick"]
    if chosen == NEW:
        st.session_state.pop("search_study", None)
        st.query_params.pop("study", None)
    else:
        st.session_state["search_study"] = chosen


if jobs:
    st.session_state["search_pick"] = study or NEW  # the widget follows the page's choice (a start, a link)
    st.selectbox("Search", [NEW, *jobs], key="search_pick", on_change=pick,
                 format_func=lambda s: s if s not in jobs else sv.job_option(jobs[s]))

# -- start a search --------------------------------------------------------------------------------------------------
if not study:
    st.subheader("Data")
    source = st.radio("Source", ["Synthetic", "Upload CSV"], horizontal=True, key="search_source")
    data_ready = None  # a function that builds the Dataset at Start (synthetic) or the chosen CSV's parts
    if source == "Synthetic":
        cols = st.columns(4)
        samples = cols[0].number_input("Samples", 50, 200_000, 2000, 500, key="search_samples")
        inputs = cols[1].number_input("Input size", 1, 512, 10, key="search_inputs")
        outputs = cols[2].number_input("Number of outputs", 1, 64, 5, key="search_outputs")
        noise = cols[3].slider("Label noise", 0.0, 2.0, 0.1, 0.05, key="search_noise")
        data_info = {"source": "synthetic", "samples": int(samples), "noise": float(noise)}
        data_ready = lambda: make_synthetic(int(samples), int(inputs), int(outputs), noise=float(noise), seed=0)  # noqa: E731
    else:
        upload = st.file_uploader("CSV with a header row (or Parquet); features numeric, labels 0/1",
                                  type=["csv", "parquet"], key="search_csv")
        kept = st.session_state.get("search_upload")
        if upload is not None and (kept is None or kept["id"] != upload.file_id):
            st.session_state.pop("search_upload", None)  # the earlier table first (see Train)
            kept = None
            try:
                kept = {"id": upload.file_id, "name": upload.name, "frame": read_csv(upload, f"'{upload.name}'")}
            except MultilabelError as exc:
                kept = None
                error(exc)
            else:
                release_upload(upload)  # parsed and kept: the file's bytes need not stay in the server's memory
            st.session_state["search_upload"] = kept
        train_upload = st.session_state.get("train_upload")  # the file chosen on the Train page, if any
        if kept is None and train_upload is not None:
            kept = {"id": train_upload["id"], "name": train_upload["name"], "frame": train_upload["frame"]}
            st.caption("Using the CSV uploaded on the Train page; upload another file to replace it.")
        if kept is not None:
            frame, file_name = kept["frame"], kept["name"]
            st.caption(f"{plain(file_name)}: {len(frame):,} rows × {len(frame.columns)} columns")
            columns = [str(c) for c in frame.columns]
            if st.session_state.get("search_labels_file") != kept["id"]:
                st.session_state["search_labels_file"] = kept["id"]
                st.session_state["search_labels"] = [c for c in guess_label_columns(frame) if c in columns]
            labels = st.multiselect("Label columns", columns, key="search_labels",
                                    help="each chosen column is one yes/no label; all other columns are features")
            if labels:
                show_label_warnings(frame, labels, f"'{file_name}'")
                data_info = {"source": "csv", "name": file_name}
                data_ready = lambda: dataset_from_frame(frame, labels, f"'{file_name}'")  # noqa: E731
            else:
                st.info("Choose the label columns.")

    st.subheader("Budget")
    cols = st.columns(4)
    minutes = cols[0].number_input("Minutes (0 = no time limit)", 0.0, 600.0, 5.0, 1.0, key="search_minutes",
                                   help="no new trial starts after this; then the ensemble is built")
    trials = cols[1].number_input("Trials (0 = no limit)", 0, 10_000, 0, 5, key="search_trials")
    epochs = cols[2].number_input("Max epochs per trial", 1, 2000, 200, 10, key="search_epochs",
                                  help="each trial stops early when validation loss stops improving")
    folds = cols[3].number_input("CV folds per trial", 1, 10, 3, key="search_folds",
                                 help="each trial is scored on this many cross-validation folds of your data (5 = every row held out once)")
    cols = st.columns(4)
    members = cols[0].number_input("Ensemble: best configurations", 1, 20, 5, key="search_members",
                                   help="the best N configurations are refit on all rows and averaged")
    seeds = cols[1].number_input("Seeds per configuration", 1, 10, search.ENSEMBLE_SEEDS, key="search_seeds",
                                 help="each configuration is refit with this many seeds (trained together); "
                                      "the ensemble averages all N x seeds nets")
    workers = cols[2].number_input("Worker processes", 1, 8, 1, key="search_workers",
                                   help="processes that run trials side by side on this machine")
    study_name = cols[3].text_input("Search name", search.next_study_name(HOME), key="search_name",
                              help="names this search in the run store and in the page's link")

    if st.button("Start search", type="primary", key="search_start"):
        try:
            if data_ready is None:
                raise MultilabelError("choose the data first: upload a CSV and pick its label columns")
            if not minutes and not trials:
                raise MultilabelError("give the search a budget: minutes, trials, or both")
            data = data_ready()
            job = search.launch(data, study_name, home=HOME, trials=int(trials) or None,
                                timeout=float(minutes) * 60 or None, folds=int(folds), jobs=int(workers),
                                members=int(members), epochs=int(epochs), data_info=data_info,
                                seeds=int(seeds))
        except MultilabelError as exc:
            error(exc)
        except OSError as exc:  # the run store's folder cannot take the search's files
            st.error(plain(os_error_message(exc, "starting the search")))
        else:
            st.session_state["search_study"] = job["study"]
            st.session_state.pop("search_name", None)  # the next search gets the next free name
            st.rerun()
    st.stop()

# -- one search, live ------------------------------------------------------------------------------------------------
job = search.find_job(study, HOME)
alive = job["alive"]
stop_col, _ = st.columns([1, 5])
if stop_col.button("Stop", key="search_stop", disabled=not alive,
                   help="like Ctrl-C: the running trial ends, finished trials are kept, the ensemble is built"):
    search.stop_job(study, HOME)
    st.rerun()
panel = st.container(key="search_panel")


def ended(job: dict, best: dict | None) -> None:
    """An ended search: its ensemble for Predict, or why there is none; a refit with another ensemble size."""
    if job["ensemble"]:
        ready, use = sv.ensemble_words(job)
        st.success(ready)
        if st.button(use, type="primary", key="search_to_predict"):
            st.session_state[PREDICT_RUN] = ENSEMBLE_PREFIX + study  # Predict preselects it, puts it in its URL
            st.switch_page(PREDICT)
        onnx_button(st, lambda: model_from_store(str(job["ensemble"])), f"{study}.onnx", "search_onnx")
    elif best is None:
        st.warning("The search ended before any trial completed, so there is no ensemble. Start a new search "
                   "with a larger budget.")
    else:
        tail = sv.log_tail(job)
        st.warning("The search ended without an ensemble" + (f": {plain(tail)}" if tail else "."))
    if best is not None:
        with st.expander("Refit with another ensemble size"):
            k = st.number_input("Members", 1, 20, int(job["members"]), key="search_refit_members",
                                help="1 = the single best configuration; more = the best N averaged")
            n_seeds = st.number_input("Seeds per configuration", 1, 10, int(job.get("seeds", 1)),
                                      key="search_refit_seeds", help="1 member with 1 seed = one model")
            if st.button("Refit on all rows", key="search_refit"):
                try:
                    search.rebuild(study, int(k), HOME, seeds=int(n_seeds))
                except MultilabelError as exc:
                    error(exc)
                else:
                    st.rerun()


def render(job: dict) -> None:
    summary = sv.job_summary(job)
    trials = summary["trials"] if summary else []
    states = summary["states"] if summary else {}
    st.markdown(sv.status_line(job, states, trial_counts(states), time.time()))
    if job["outcome"] == "died":
        st.error("The search process ended without finishing (killed, or the machine restarted): its finished "
                 "trials are kept; a trial it was running did not finish. Refit below, or start a new search.")
    if job["outcome"] == "stopped" and states.get("FAIL"):
        st.caption("The trial that was running when Stop was pressed is recorded as failed: it did not finish.")
    st.caption(plain(sv.data_line(job)))
    best = summary["best"] if summary else None
    if best is not None:
        a, b, c, d = st.columns(4)
        a.metric("Best objective", f"{best['value']:.4f}",
                 help="the trial value: held-out binary cross-entropy, averaged over the trial's CV folds "
                      "(lower is better)")
        b.metric("Its Hamming loss", f"{best['hamming']:.4f}")
        c.metric("Its micro-F1", f"{best['micro_f1']:.4f}")
        d.metric("Best trial", f"#{best['number']}")
    if not job["alive"]:
        ended(job, best)
    if not trials:
        st.info("Waiting for the first trial… (each trial trains on every split before it counts)")
        return
    # A pruned or waiting trial has no objective yet: an empty cell, not the text "None".
    table = sv.trials_table(trials[::-1])
    st.dataframe(table.style.format({c: f for c, f in sv.TABLE_FORMATS.items() if c in table.columns}, na_rep=""),
                 hide_index=True, key="search_trials_table", column_config={
                     c: st.column_config.Column(label, width=px) for c, (label, px) in sv.TABLE_COLUMNS.items()})
    left, right = st.columns(2)
    left.plotly_chart(search_progress_figure(trials), key="search_progress")
    completed = sv.completed(trials)
    fit_began = time.perf_counter()
    with right:
        if sv.importance_due(completed):
            try:
                found, covered = importances(job["storage"], study,
                                             sv.importance_step(completed, final=not job["alive"]))
                st.plotly_chart(search_importance_figure(found), key="search_importance")
                if covered < completed:
                    st.caption(f"over the first {covered} completed trials; refreshed as the search goes on and "
                               "once more when it ends")
            except MultilabelError as exc:
                st.info(plain(str(exc)))
        else:
            st.info(importance_wait_words(completed, search.MIN_IMPORTANCE_TRIALS, job["alive"]))
    st.session_state["search_importance_s"] = time.perf_counter() - fit_began  # a rare fit: not a poll's cost
    st.plotly_chart(search_parallel_figure(trials, search.SPACE), key="search_parallel")


@st.fragment(run_every=sv.poll_interval_s(st.session_state.get("search_render_s", 0.0)) if alive else None)
def live_view() -> None:
    began = time.perf_counter()
    current = search.find_job(study, HOME)
    if current is None or (alive and not current["alive"]):
        st.rerun()  # the search ended: draw the page again once (Stop disabled, the ensemble offered)
    st.session_state["search_importance_s"] = 0.0
    render(current)
    st.session_state["search_render_s"] = (time.perf_counter() - began
                                           - st.session_state["search_importance_s"])


with panel:
    live_view()
