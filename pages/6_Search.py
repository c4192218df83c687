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

import pandas as pd  # noqa: E402

from multilabel import MultilabelError, make_synthetic  # noqa: E402
from multilabel import search  # noqa: E402
from multilabel.charts import (search_importance_figure, search_parallel_figure,  # noqa: E402
                               search_progress_figure)
from multilabel.data import dataset_from_frame  # noqa: E402
from multilabel.paths import os_error_message  # noqa: E402
from multilabel.store import default_home  # noqa: E402
from app_pages._export import onnx_button  # noqa: E402
from app_pages import _upload  # noqa: E402
from app_pages._shared import error, model_from_store, plain  # noqa: E402
from app_pages._words import importance_wait_words, trial_counts  # noqa: E402

# The live view reads the study from its SQLite file and redraws the table and charts: measured 34 / 107 / 224 ms
# of server time at 20 / 100 / 300 trials when every poll read every trial; search.cached_storage now reads only
# the trials that are new or were running (a 1,200-trial study: 12 ms a poll against 1.1 s). It polls every POLL_S,
# slower for big studies, so that it takes at most about a tenth of a core away from the search's workers.
POLL_S, POLL_MAX_S, POLL_SHARE = 1.0, 5.0, 0.1
status_slot.empty()

HOME = default_home()
ENSEMBLE_PREFIX = "search:"  # Predict's model key for a search's ensemble: "search:<study>"


@st.cache_data(show_spinner=False, max_entries=16)
def importances(storage: str, study: str, step: int) -> tuple[dict, int]:
    """fANOVA importances and how many completed trials they cover, once per ``step`` (the key), not on every
    poll: a fit takes 1-8 s of the server's CPU (100-300 trials), which a running search needs more."""
    found = search.param_importances(search.cached_storage(storage), study)
    summary = search.study_summary(search.cached_storage(storage), study)
    return found, summary["states"].get("COMPLETE", 0)


def importance_step(completed: int, final: bool) -> int:
    """The last refresh point 8, 12, 18, 27, 40, 60, 90, ... (x1.5 each) at or below ``completed``; while running,
    so importance is fitted about log(trials) times; once the search has ended, ``completed`` (one last fit)."""
    if final:
        return completed
    step, nxt = search.MIN_IMPORTANCE_TRIALS, search.MIN_IMPORTANCE_TRIALS
    while nxt <= completed:
        step = nxt
        nxt = step * 3 // 2
    return step


def summary_of(job: dict) -> dict | None:
    try:
        return search.settle(search.study_summary(search.cached_storage(job["storage"]), job["study"]), job)
    except MultilabelError:
        return None  # the process has not created the study yet


def trials_table(trials: list[dict]) -> pd.DataFrame:
    rows = []
    for t in trials:
        row = {"trial": t["number"], "state": t["state"].lower(), "objective": t["value"], "Hamming": t["hamming"],
               "micro-F1": t["micro_f1"]}
        # categorical knobs as text: a column of mixed types (0 = auto, 32, ...) reads badly, and a missing value
        # would turn a column of ints into floats ("64.0")
        row.update({name: (("" if t["params"].get(name) is None else str(t["params"][name])) if kind == "cat"
                           else t["params"].get(name)) for name, (kind, _) in search.SPACE.items()})
        row.update({"best epoch": t["best_epoch"], "duration (s)": t["duration_s"]})
        rows.append(row)
    return pd.DataFrame(rows)


TABLE_FORMATS = {"objective": "{:.4f}", "Hamming": "{:.4f}", "micro-F1": "{:.4f}", "learning_rate": "{:.2e}",
                 "weight_decay": "{:.2e}", "dropout": "{:.2f}", "input_noise": "{:.2f}", "best epoch": "{:.1f}",
                 "duration (s)": "{:.1f}"}


# Short headers and widths (pixels) so that every column fits the page's width at 1400 px: the knobs' own names
# (learning_rate, threshold_mode) made the last columns fall off the right edge.
TABLE_COLUMNS = {"trial": ("trial", 45), "state": ("state", 72), "objective": ("objective", 72),
                 "Hamming": ("Hamming", 70), "micro-F1": ("micro-F1", 68), "hidden_size": ("hidden", 58),
                 "learning_rate": ("lr", 68), "weight_decay": ("decay", 68), "dropout": ("dropout", 58),
                 "input_noise": ("noise", 52), "batch_size": ("batch", 50), "pos_weight": ("pos w.", 52),
                 "threshold_mode": ("thresholds", 74), "best epoch": ("best ep.", 62), "duration (s)": ("s", 45)}


def budget_line(job: dict) -> str:
    parts = []
    if job.get("timeout"):
        parts.append(f"{job['timeout'] / 60:g} min")
    if job.get("trials"):
        parts.append(f"{job['trials']} trials")
    return " or ".join(parts) or "no limit"


# -- which search ----------------------------------------------------------------------------------------------------
jobs = {job["study"]: job for job in search.list_jobs(HOME)}
study = st.query_params.get("study") or st.session_state.get("search_study")  # a link wins over the last choice
if study and study not in jobs:
    if st.query_params.get("study") == study:
        st.warning(f"No search named {plain(study)} in this run store; start a new one below.")
        st.query_params.pop("study", None)
    st.session_state.pop("search_study", None)
    study = None
if study:
    st.session_state["search_study"] = study
    st.query_params["study"] = study  # a reload or a copied link opens this search again

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
                 format_func=lambda s: s if s not in jobs else
                 f"{s} · {jobs[s]['outcome']} · {jobs[s]['rows']:,} rows")

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
        # The Train page's table is offered until a file is uploaded here.
        kept, labels = _upload.upload_and_labels("search_csv", "search_upload",
                                                 _upload.session_label_picker("search_labels"), train_upload=True)
        if kept is not None:
            frame, file_name = kept["frame"], kept["name"]
            if labels:
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


def render(job: dict) -> None:
    summary = summary_of(job)
    trials = summary["trials"] if summary else []
    states = summary["states"] if summary else {}
    running = states.get("RUNNING", 0)
    finished = sum(states.get(s, 0) for s in ("COMPLETE", "PRUNED", "FAIL"))  # a WAITING trial has not run yet
    counts = trial_counts(states)
    if job["alive"]:
        elapsed = time.time() - job.get("started", time.time())
        if job.get("phase") == "refit":
            phase = f"refitting the best {job['members']} on all rows"
        elif finished and not running and job.get("stop_requested"):
            phase = "stopping: refitting the best on all rows"
        elif finished and not running and job.get("timeout") and elapsed >= job["timeout"]:
            phase = "refitting the best on all rows"
        else:
            phase = "running"
        st.markdown(f"status: **{phase}** · {counts or 'no trial yet'} · budget {budget_line(job)} · "
                    f"{elapsed / 60:.1f} min so far")
    else:
        word = job["outcome"]
        st.markdown(f"status: **{word}** · {counts or 'no trial'} · budget {budget_line(job)}")
        if word == "died":
            st.error("The search process ended without finishing (killed, or the machine restarted): its finished "
                     "trials are kept; a trial it was running did not finish. Refit below, or start a new search.")
        if word == "stopped" and states.get("FAIL"):
            st.caption("The trial that was running when Stop was pressed is recorded as failed: it did not finish.")
    data = job.get("data") or {}
    st.caption(f"{plain(data.get('name') or data.get('source', 'data'))}: {job['rows']:,} rows, "
               f"{len(job['features'])} features → {len(job['labels'])} labels · {job['folds']} CV fold(s) per trial")
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
        if job["ensemble"]:
            seeds = int(job.get("seeds", 1))
            single = job["members"] == 1 and seeds == 1
            st.success(("The best configuration, refit" if single else
                        f"Ensemble of the best {job['members']} configuration{'s' if job['members'] > 1 else ''} "
                        f"x {seeds} seed{'s' if seeds > 1 else ''} ({job['members'] * seeds} nets), each refit")
                       + f" on all {job['rows']:,} rows, is ready.")
            if st.button("Use the best model on Predict" if single else "Use the ensemble on Predict",
                         type="primary", key="search_to_predict"):
                st.session_state["predict_run"] = ENSEMBLE_PREFIX + study  # Predict preselects it, puts it in its URL
                st.switch_page(PREDICT)
            onnx_button(st, lambda: model_from_store(str(job["ensemble"])), f"{study}.onnx", "search_onnx")
        if not job["ensemble"] and best is None:
            st.warning("The search ended before any trial completed, so there is no ensemble. Start a new search "
                       "with a larger budget.")
        elif not job["ensemble"]:
            tail = ""
            try:
                lines = [ln for ln in open(job["log"]).read().splitlines() if ln.strip()]
                tail = lines[-1] if lines else ""
            except OSError:
                pass
            st.warning("The search ended without an ensemble" + (f": {plain(tail[:200])}" if tail else "."))
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

    if not trials:
        st.info("Waiting for the first trial… (each trial trains on every split before it counts)")
        return
    # A pruned or waiting trial has no objective yet: an empty cell, not the text "None".
    table = trials_table(trials[::-1])
    st.dataframe(table.style.format({c: f for c, f in TABLE_FORMATS.items() if c in table.columns}, na_rep=""),
                 hide_index=True, key="search_trials_table",
                 column_config={c: st.column_config.Column(label, width=px) for c, (label, px) in TABLE_COLUMNS.items()})
    left, right = st.columns(2)
    left.plotly_chart(search_progress_figure(trials), key="search_progress")
    completed = sum(1 for t in trials if t["state"] == "COMPLETE")
    fit_began = time.perf_counter()
    with right:
        if completed >= search.MIN_IMPORTANCE_TRIALS:
            try:
                found, covered = importances(job["storage"], study,
                                             importance_step(completed, final=not job["alive"]))
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


was_alive = alive


poll_s = min(POLL_MAX_S, max(POLL_S, st.session_state.get("search_render_s", 0.0) / POLL_SHARE))


@st.fragment(run_every=poll_s if alive else None)
def live_view() -> None:
    began = time.perf_counter()
    current = search.find_job(study, HOME)
    if current is None:
        st.rerun()
    if was_alive and not current["alive"]:
        st.rerun()  # the search ended: draw the page again once (Stop disabled, the ensemble offered)
    st.session_state["search_importance_s"] = 0.0
    render(current)
    st.session_state["search_render_s"] = (time.perf_counter() - began
                                           - st.session_state["search_importance_s"])


with panel:
    live_view()
