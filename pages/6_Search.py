"""Search page: one click starts a hyperparameter search (Optuna) in a background process; watch its trials live,
stop it, and hand the ensemble of the best configurations to Predict."""

import streamlit as st

from app_pages._nav import page

page("Search")
st.title("Search")
st.caption("Find a good model for your data: a background search tries many settings (hidden size, learning rate, "
           "weight decay, dropout, input noise, batch size, weight rare positives), scores each on cross-validation "
           "folds of your data, then refits the best few on all rows as one ensemble for Predict.")
status_slot = st.empty()
status_slot.caption("loading…")

from multilabel import MultilabelError, make_synthetic  # noqa: E402
from multilabel import jobs, search, searchview as sv  # noqa: E402
from multilabel.data import dataset_from_frame  # noqa: E402
from multilabel.paths import os_error_message  # noqa: E402
from multilabel.store import default_home  # noqa: E402
from app_pages import _upload  # noqa: E402
from multilabel.trainview import (DATA_QUERY_DEFAULTS, NOISE_HELP, NOISE_RANGE, NOISE_STEP, SAMPLES_HELP,  # noqa: E402
                                  SAMPLES_RANGE)
from app_pages._form import bounded_number, knobs, scope_problems  # noqa: E402
from app_pages._search_views import live_panel  # noqa: E402
from app_pages._shared import error, plain  # noqa: E402

status_slot.empty()
HOME = default_home()


# -- which search ----------------------------------------------------------------------------------------------------
by_study = sv.jobs_by_study(HOME)
study, stale = sv.chosen_study(st.query_params.get("study"), st.session_state.get("search_study"), by_study)
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


if by_study:
    st.session_state["search_pick"] = study or NEW  # the widget follows the page's choice (a start, a link)
    st.selectbox("Search", [NEW, *by_study], key="search_pick", on_change=pick,
                 format_func=lambda s: s if s not in by_study else sv.job_option(by_study[s]))

# -- start a search --------------------------------------------------------------------------------------------------
def number(container, label, low, high, value, key, step=None, help=None):
    return bounded_number(container, label, low, high, value, key, "search", step=step, help=help)


if not study:
    st.subheader("Data")
    source = st.radio("Source", ["Synthetic", "Upload CSV"], horizontal=True, key="search_source")
    data_ready = None  # a function that builds the Dataset at Start (synthetic) or the chosen CSV's parts
    if source == "Synthetic":
        # Train's words and ranges: what Train takes, Search takes
        cols, shape = st.columns(4), {k.name: k for k in knobs() if k.name in ("input_size", "num_outputs")}
        samples = number(cols[0], "Samples", *SAMPLES_RANGE, DATA_QUERY_DEFAULTS["samples"], "search_samples", step=500,
                         help=f"{SAMPLES_HELP}; each trial splits them into its CV folds")
        k = shape["input_size"]
        inputs = number(cols[1], k.label, k.min, k.max, k.default, "search_inputs", help=k.help)
        k = shape["num_outputs"]
        outputs = number(cols[2], k.label, k.min, k.max, k.default, "search_outputs", help=k.help)
        noise = cols[3].slider("Label noise", *NOISE_RANGE, DATA_QUERY_DEFAULTS["noise"], NOISE_STEP,
                               key="search_noise", help=NOISE_HELP)
        data_info = {"source": "synthetic", "samples": int(samples), "noise": float(noise)}
        data_ready = lambda: make_synthetic(int(samples), int(inputs), int(outputs), noise=float(noise), seed=0)  # noqa: E731
    else:
        # The Train page's table is offered until a file is uploaded here.
        kept, labels = _upload.upload_and_labels("search_csv", "search_upload",
                                                 _upload.session_label_picker("search_labels"), train_upload=True,
                                                 preview=True, say_earlier=True)  # first rows, kept: as on Train
        if kept is not None:
            frame, file_name = kept["frame"], kept["name"]
            if labels:
                _upload.say_data_problem(kept, labels, "search_data_checked")
                data_info = {"source": "csv", "name": file_name}
                data_ready = lambda: dataset_from_frame(frame, labels, f"'{file_name}'")  # noqa: E731
            else:
                st.info("Choose the label columns.")

    st.subheader("Budget")
    cols = st.columns(4)
    minutes = number(cols[0], "Minutes (0 = no time limit)", 0.0, 600.0, 5.0, "search_minutes", step=1.0,
                     help="no new trial starts after this; then the ensemble is built")
    trials = number(cols[1], "Trials (0 = no limit)", 0, 10_000, 0, "search_trials", step=5,
                    help="no new trial starts after this many; with minutes too, whichever comes first ends it")
    most = {k.name: k for k in knobs()}["epochs"]
    epochs = number(cols[2], "Max epochs per trial", most.min, most.max, most.default, "search_epochs", step=10,
                    help="each trial stops early when validation loss stops improving")
    folds = number(cols[3], "CV folds per trial", 1, 10, 3, "search_folds",
                   help="each trial is scored on this many cross-validation folds of your data (5 = every row held "
                        "out once)")
    cols = st.columns(4)
    members = number(cols[0], "Ensemble: best configurations", 1, 20, 5, "search_members",
                     help="the best N configurations are refit on all rows and averaged")
    seeds = number(cols[1], "Seeds per configuration", 1, 10, search.ENSEMBLE_SEEDS, "search_seeds",
                   help="each configuration is refit with this many seeds (trained together); the ensemble averages "
                        "all N x seeds nets")
    workers = number(cols[2], "Worker processes", 1, 8, 1, "search_workers",
                     help="processes that run trials side by side on this machine")
    study_name = cols[3].text_input("Search name", jobs.next_study_name(HOME), key="search_name",
                            help="names this search in the run store and in the page's link")

    if st.button("Start search", type="primary", key="search_start"):
        try:
            if scope_problems("search"):  # a number typed out of range: said under its box
                raise MultilabelError("not started: " + "; ".join(scope_problems("search")))  # all of them
            if data_ready is None:
                raise MultilabelError("choose the data first: upload a CSV and pick its label columns")
            if not minutes and not trials:
                raise MultilabelError("give the search a budget: minutes, trials, or both")
            data = data_ready()
            job = jobs.launch(data, study_name, home=HOME, trials=int(trials) or None,
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
job = jobs.find_job(study, HOME)
alive = job["alive"]
stop_col, _ = st.columns([1, 5])
if stop_col.button("Stop", key="search_stop", disabled=not alive,
                   help="like Ctrl-C: the running trial ends, finished trials are kept, the ensemble is built"):
    jobs.stop_job(study, HOME)
    st.rerun()
with st.container(key="search_panel"):
    live_panel(study, HOME, alive)
