"""The Search page's live panel: one search's status, best trial, ensemble (or why there is none), trials table and
charts, redrawn by a fragment that polls while the search runs."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from multilabel import MultilabelError, jobs, search, searchview as sv
from multilabel.charts import search_importance_figure, search_parallel_figure, search_progress_figure
from app_pages._export import onnx_button
from app_pages._keys import ENSEMBLE_PREFIX, PREDICT_RUN
from app_pages._nav import PREDICT, charts_after_table, charts_due, while_shown
from app_pages._shared import error, model_from_store, plain
from app_pages._words import importance_wait_words, trial_counts, trial_state_word

# Each arrival on the page (_nav.arrived) draws a search's trials table without its charts; the browser asks for them
# once it has drawn the table (plotly's evaluation held the table back for seconds: benchmarks/README.md).
CHARTS_DRAWN = "search_charts_drawn"


@st.cache_data(show_spinner=False, max_entries=16)
def importances(storage: str, study: str, step: int) -> tuple[dict, int]:
    """Fitted once per refresh ``step`` (the cache key; see searchview.importance_step), not on every poll."""
    return sv.importances(storage, study)


def ended(job: dict, best: dict | None, home: Path) -> None:
    """An ended search: its ensemble for Predict, or why there is none; a refit with another ensemble size."""
    if job["ensemble"]:
        ready, use = sv.ensemble_words(job)
        st.success(ready)
        if st.button(use, type="primary", key="search_to_predict"):
            st.session_state[PREDICT_RUN] = ENSEMBLE_PREFIX + job["study"]  # Predict preselects it, puts it in its URL
            st.switch_page(PREDICT)
        onnx_button(st, lambda: model_from_store(str(job["ensemble"])), f"{job['study']}.onnx", "search_onnx")
    elif best is None:
        st.warning("The search ended before any trial completed, so there is no ensemble. Start a new search "
                   "with a larger budget.")
    else:
        reason = sv.no_ensemble_reason(job)
        st.warning("The search ended without an ensemble" + (f": {plain(reason)}" if reason else "."))
    if best is not None:
        with st.expander("Refit with another ensemble size"):
            k = st.number_input("Members", 1, 20, int(job["members"]), key="search_refit_members",
                                help="1 = the single best configuration; more = the best N averaged")
            n_seeds = st.number_input("Seeds per configuration", 1, 10, int(job.get("seeds", 1)),
                                      key="search_refit_seeds", help="1 member with 1 seed = one model")
            if st.button("Refit on all rows", key="search_refit"):
                try:
                    jobs.rebuild(job["study"], int(k), home, seeds=int(n_seeds))
                except MultilabelError as exc:
                    error(exc)
                else:
                    st.rerun()


def render(job: dict, home: Path, charts: bool = True) -> bool:
    """Draw the search ``job``; without ``charts``, its trials table and a line where they come. Returns whether the
    trials table was drawn."""
    summary = sv.job_summary(job)
    trials = summary["trials"] if summary else []
    states = summary["states"] if summary else {}
    now = time.time()
    st.markdown(sv.status_line(job, states, trial_counts(states, alive=job["alive"]), now))
    refit = sv.live_refit(job, states, now)
    if refit:
        st.progress(min(1.0, refit["epochs_done"] / max(1, refit["epochs"])), text=sv.refit_line(job, refit))
    elif job["alive"] and job.get("phase") == "refit":  # a page's Refit: its process loads torch and the study
        st.progress(0.0, text="Refit: starting its process…")
    if job["outcome"] == "died":
        st.error("The search process ended without finishing (killed, or the machine restarted): its finished "
                 "trials are kept; a trial it was running did not finish. Refit below, or start a new search.")
    if job["outcome"] == "stopped" and states.get("FAIL"):
        st.caption("The trial that was running when Stop was pressed is recorded as failed: it did not finish.")
    st.caption(plain(sv.data_line(job)))
    # Once ended, the estimate of the ensemble it built (its final JSON); while it runs, of the one it would build.
    estimate = (job.get("result") or {}).get("estimate") or (summary or {}).get("estimate")
    if estimate:
        st.caption(sv.estimate_line(estimate))
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
        ended(job, best, home)
    if not trials:
        st.info("Waiting for the first trial… (each trial trains on every split before it counts)")
        return False
    # A missing number (a pruned, running or waiting trial's objective) is an empty cell, not the word "None".
    st.space("small")  # the table's toolbar (on hover) shows above its top right, over what is drawn above it
    listed = sv.table_order(trials, sv.searching(job, states, now))
    table = sv.trials_table(listed)
    table["state"] = [trial_state_word(t["state"], job["alive"]) for t in listed]
    st.dataframe(table, hide_index=True, key="search_trials_table", placeholder="",
                 column_config={c: (st.column_config.NumberColumn(label, width=px, format=sv.TABLE_FORMATS[c],
                                                                  help=sv.column_help(c))
                                    if c in sv.TABLE_FORMATS else
                                    st.column_config.Column(label, width=px, help=sv.column_help(c)))
                                for c, (label, px) in sv.TABLE_COLUMNS.items()})
    completed = sv.completed(trials)
    if not sv.draws_charts(job["alive"], completed):  # ended with no completed trial: the warning above says so
        return True
    if not charts:
        charts_after_table(key="search_table_drawn")
        return True
    left, right = st.columns(2)
    left.plotly_chart(search_progress_figure(trials), key="search_progress")
    fit_began = time.perf_counter()
    with right:
        if sv.importance_due(completed):
            try:
                found, covered = importances(job["storage"], job["study"],
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
    return True


def live_panel(study: str, home: Path, alive: bool) -> None:
    """The search ``study`` drawn live: a fragment that polls its job and study while the search runs (``alive``)."""
    charts_due(CHARTS_DRAWN)  # an arrival draws the trials table first, the charts once the browser has drawn it

    every = sv.poll_interval_s(st.session_state.get("search_render_s", 0.0)) if alive else None

    @st.fragment(run_every=while_shown(every))
    def live_view() -> None:
        began = time.perf_counter()
        current = jobs.find_job(study, home)
        if current is None or (alive and not current["alive"]):
            st.rerun()  # the search ended: draw the page again once (Stop disabled, the ensemble offered)
        st.session_state["search_importance_s"] = 0.0
        if render(current, home, charts=bool(st.session_state.get(CHARTS_DRAWN))):
            st.session_state[CHARTS_DRAWN] = True  # the next call (the browser's, or a poll's) draws them
        st.session_state["search_render_s"] = (time.perf_counter() - began
                                               - st.session_state["search_importance_s"])

    live_view()
