"""multilabel.searchview: what the Search page shows about a background search, from plain job and study dicts."""

from __future__ import annotations

import pandas as pd
import pytest

from multilabel import search, searchview as sv


def job(**changes) -> dict:
    record = {"study": "search-1", "alive": True, "outcome": "running", "started": 1000.0, "members": 3, "seeds": 2,
              "timeout": 300.0, "trials": None, "rows": 2000, "features": ["a", "b"], "labels": ["x", "y", "z"],
              "folds": 3, "data": {"source": "synthetic"}, "stop_requested": False}
    return {**record, **changes}


def test_phase_follows_the_job_record_and_the_trials_states():
    done = {"COMPLETE": 4}
    assert sv.phase(job(), {"COMPLETE": 2, "RUNNING": 1}, now=2000.0) == "running"
    assert sv.phase(job(), done, now=1100.0) == "running"  # within the time budget, between two trials
    assert sv.phase(job(), done, now=1300.0) == "refitting the best on all rows"  # past the budget, none running
    assert sv.phase(job(), {"COMPLETE": 4, "RUNNING": 1}, now=1300.0) == "running"  # the last trial still runs
    assert sv.phase(job(stop_requested=True), done, now=1001.0) == "stopping: refitting the best on all rows"
    assert sv.phase(job(stop_requested=True), {}, now=1001.0) == "running"  # nothing finished: nothing to refit
    assert sv.phase(job(phase="refit"), {}, now=1001.0) == "refitting the best 3 on all rows"
    assert sv.phase(job(alive=False, outcome="died"), done, now=1001.0) == "died"
    assert sv.phase(job(timeout=None), {"PRUNED": 9}, now=10 ** 9) == "running"  # a trial budget only


def test_a_search_stopped_or_out_of_time_before_any_trial_completed_does_not_say_refitting():
    # Stop pressed while the first trial ran: it is recorded as failed, the rest never ran; nothing will be refit.
    early = {"FAIL": 1, "WAITING": 3}
    assert sv.phase(job(stop_requested=True), early, now=1012.0) == "stopping: no completed trial to refit"
    assert sv.live_refit(job(stop_requested=True), early, now=1012.0) is None
    assert sv.phase(job(), {"PRUNED": 2}, now=1300.0) == "ending: no completed trial to refit"  # past the budget
    assert sv.phase(job(stop_requested=True), {"FAIL": 1, "COMPLETE": 1}, now=1012.0) == \
        "stopping: refitting the best on all rows"


def test_charts_are_drawn_while_a_search_runs_or_once_it_has_a_completed_trial():
    assert sv.draws_charts(alive=True, completed_trials=0)  # they fill as trials complete
    assert sv.draws_charts(alive=False, completed_trials=1)
    assert not sv.draws_charts(alive=False, completed_trials=0)  # ended with none: nothing to chart


def test_status_line_budget_and_data_words():
    assert sv.budget_line(job()) == "5 min"
    assert sv.budget_line(job(trials=40)) == "5 min or 40 trials"
    assert sv.budget_line(job(timeout=None, trials=None)) == "no limit"
    line = sv.status_line(job(), {"COMPLETE": 1}, "1 complete", now=1090.0)
    assert line == "status: **running** · 1 complete · budget 5 min · 1.5 min so far"
    assert sv.status_line(job(), {}, "", now=1000.0).startswith("status: **running** · no trial yet ·")
    assert sv.status_line(job(alive=False, outcome="stopped"), {}, "", now=0.0) == \
        "status: **stopped** · no trial · budget 5 min"
    assert sv.data_line(job()) == "synthetic: 2,000 rows, 2 features → 3 labels · 3 CV folds per trial"
    assert sv.data_line({**job(), "folds": 1}).endswith("· 1 CV fold per trial")
    assert sv.data_line(job(data={"source": "csv", "name": "e.csv"})).startswith("e.csv: 2,000 rows")
    assert sv.job_option(job(outcome="finished")) == "search-1 · finished · 2,000 rows"
    # A page's Refit of an ended search: the picker and the status say so, with the refit's own time (the
    # search's "3.6 min so far" against a 1 min budget read as an overrun)
    rebuilding = job(phase="refit", refit_started=1200.0)
    assert sv.job_option(rebuilding) == "search-1 · refitting · 2,000 rows"
    assert sv.status_line(rebuilding, {"COMPLETE": 4}, "4 complete", now=1212.4) == (
        "status: **refitting the best 3 on all rows** · 4 complete · 12 s so far")
    assert not sv.searching(rebuilding, {"COMPLETE": 4}, now=1212.4)  # its table lists the best first
    assert sv.searching(job(), {"COMPLETE": 2, "RUNNING": 1}, now=1100.0)
    assert not sv.searching(job(alive=False, outcome="finished"), {"COMPLETE": 4}, now=1100.0)


def test_ensemble_words_count_configurations_and_seeds():
    assert sv.ensemble_words(job(members=2, seeds=2)) == (
        "Ensemble of the best 2 configurations x 2 seeds (4 nets), each refit on all 2,000 rows, is ready.",
        "Use the ensemble on Predict")
    assert sv.ensemble_words(job(members=1, seeds=1)) == (
        "The best configuration, refit on all 2,000 rows, is ready.", "Use the best model on Predict")
    assert sv.ensemble_words(job(members=1, seeds=3))[0].startswith("The best configuration x 3 seeds (3 nets), each")


def test_ensemble_words_count_what_the_search_built_and_say_why_it_is_fewer_than_asked():
    # A search stopped after 2 trials, the defaults' the better: the other left out as worse beyond the noise.
    stopped = {"estimate": _estimate(choice="best", keeps_defaults=False, trials=[0], best_trial=0, completed=2)}
    assert sv.ensemble_words(job(members=5, seeds=3, result=stopped)) == (
        "The defaults' configuration x 3 seeds (3 nets), each refit on all 2,000 rows, is ready. It holds fewer than "
        "the 5 configurations asked: only 2 trials completed; 1 of the best was left out, worse than the best beyond "
        "the folds' noise.", "Use the ensemble on Predict")
    assert sv.configurations(job(members=5, seeds=3, result=stopped)) == 1
    both = {"estimate": _estimate(choice="best", keeps_defaults=False, trials=[3, 0], best_trial=3, completed=2)}
    assert sv.ensemble_words(job(members=5, seeds=3, result=both))[0] == (
        "Ensemble of the best 2 configurations x 3 seeds (6 nets), each refit on all 2,000 rows, is ready. It holds "
        "fewer than the 5 configurations asked: only 2 trials completed.")
    full = {"estimate": _estimate(choice="best", keeps_defaults=False, trials=[3, 0, 7, 1, 2], completed=40)}
    assert sv.ensemble_words(job(members=5, seeds=3, result=full))[0] == (
        "Ensemble of the best 5 configurations x 3 seeds (15 nets), each refit on all 2,000 rows, is ready.")


def _estimate(**changes) -> dict:
    record = {"choice": "guarded", "trials": [0], "best_trial": 12, "defaults_trial": 0, "distinguishable": False, "keeps_defaults": True,
              "with_defaults": True, "hamming": 0.1932, "hamming_sd": 0.0041, "micro_f1": 0.6504, "micro_f1_sd": 0.0123, "folds": 3}
    return {**record, **changes}


def test_estimate_line_gives_the_spread_over_folds_and_says_whether_the_best_beats_the_defaults():
    assert sv.estimate_line(_estimate()) == (
        "estimated Hamming 0.1932 ± 0.0041, micro-F1 0.650 ± 0.012 over 3 folds (trial #0, the defaults); the best "
        "trial, #12, is not distinguishable from the defaults (held-out cross-entropy, paired fold by fold), so the "
        "ensemble keeps them")
    assert sv.estimate_line(_estimate(best_trial=0)).endswith("(trial #0, the defaults); no trial did better than "
                                                               "the defaults")
    # The shipped choice: the defaults' configuration and the best others, their mean over the folds.
    mixed = _estimate(trials=[0, 12, 7, 3, 9], keeps_defaults=False)
    assert sv.estimate_line(mixed) == (
        "estimated Hamming 0.1932 ± 0.0041, micro-F1 0.650 ± 0.012 over 3 folds (mean of the ensemble's 5 "
        "configurations, the defaults among them); the best trial, #12, is not distinguishable from the defaults "
        "(held-out cross-entropy, paired fold by fold)")
    assert sv.estimate_line(_estimate(trials=[12], distinguishable=True, keeps_defaults=False)).endswith(
        "over 3 folds (trial #12); the best trial, #12, beats the defaults (held-out cross-entropy, paired fold by "
        "fold: by more than 2 standard errors)")
    one = _estimate(trials=[12], keeps_defaults=False, distinguishable=None, hamming_sd=None, micro_f1_sd=None,
                    folds=1)
    assert sv.estimate_line(one) == ("estimated Hamming 0.1932, micro-F1 0.650 on 1 fold (no spread) (trial #12); "
                                     "one fold cannot tell the best trial from the defaults")
    assert sv.estimate_line(_estimate(defaults_trial=None, distinguishable=None, keeps_defaults=False,
                                      with_defaults=False, trials=[12, 4])).endswith(
        "(mean of the ensemble's 2 configurations); no trial of the defaults to compare with")
    old = _estimate(trials=[12], keeps_defaults=False, distinguishable=None, hamming_sd=None, micro_f1_sd=None,
                    folds=None)  # a study from before the folds' values were kept
    assert sv.estimate_line(old) == ("estimated Hamming 0.1932, micro-F1 0.650 (no spread recorded) (trial #12); its "
                                     "trials do not say whether the best beats the defaults")
    assert sv.estimate_line(None) == ""
    # With the defaults' own values on the same folds: what to read the estimate against (the walk saw micro-F1 go
    # from 0.692, the defaults alone, to 0.688 beside "beats the defaults", and could not tell which was which).
    beside = _estimate(trials=[12, 7], keeps_defaults=False, with_defaults=False, distinguishable=True,
                       defaults_hamming=0.1950, defaults_micro_f1=0.692)
    assert sv.estimate_line(beside) == (
        "estimated Hamming 0.1932 ± 0.0041, micro-F1 0.650 ± 0.012 over 3 folds (mean of the ensemble's 2 "
        "configurations; the defaults alone: Hamming 0.1950, micro-F1 0.692); the best trial, #12, beats the "
        "defaults (held-out cross-entropy, paired fold by fold: by more than 2 standard errors)")
    alone = _estimate(best_trial=0, defaults_hamming=0.1932, defaults_micro_f1=0.650)  # the estimate is the defaults'
    assert "alone" not in sv.estimate_line(alone)
    # --threshold oof: the estimate is the configurations' out-of-fold mix at the cut the ensemble ships
    cut = _estimate(trials=[12, 7, 3], keeps_defaults=False, with_defaults=False, distinguishable=True, cut=0.4)
    assert sv.estimate_line(cut) == (
        "estimated Hamming 0.1932 ± 0.0041, micro-F1 0.650 ± 0.012 over 3 folds (the ensemble's 3 configurations "
        "averaged on each fold's held-out rows, cut at 0.40); the best trial, #12, beats the defaults (held-out "
        "cross-entropy, paired fold by fold: by more than 2 standard errors)")


def test_ensemble_words_name_the_defaults_when_the_search_kept_them():
    kept = {"estimate": _estimate()}
    assert sv.ensemble_words(job(members=5, seeds=3, result=kept))[0] == (
        "Ensemble of the defaults' configuration x 15 seeds (15 nets), each refit on all 2,000 rows, is ready.")
    assert sv.ensemble_words(job(members=1, seeds=1, result=kept)) == (
        "The defaults' configuration, refit on all 2,000 rows, is ready.", "Use the best model on Predict")
    mixed = {"estimate": _estimate(keeps_defaults=False, trials=[0, 12, 7], choice="with-defaults")}
    assert sv.ensemble_words(job(members=3, seeds=2, result=mixed))[0] == (
        "Ensemble of the defaults' and the best 2 other configurations x 2 seeds (6 nets), each refit on all 2,000 "
        "rows, is ready.")
    best = {"estimate": _estimate(keeps_defaults=False, with_defaults=False, trials=[12, 7])}
    assert sv.ensemble_words(job(members=2, seeds=2, result=best))[0].startswith("Ensemble of the best 2 configurations")
    # The shipped choice, "best", may have the defaults among its best: still the best N.
    among = {"estimate": _estimate(keeps_defaults=False, trials=[12, 0], choice="best")}
    assert sv.ensemble_words(job(members=2, seeds=2, result=among))[0].startswith("Ensemble of the best 2 configurations")


def test_no_ensemble_reason_reads_the_parsed_result_else_the_log_s_last_line(tmp_path):
    log = tmp_path / "s.log"
    log.write_text('{"interrupted": true}\n')
    assert sv.no_ensemble_reason(job(log=str(log), result={"interrupted": True})) == \
        "it was stopped before the ensemble was built"
    assert sv.no_ensemble_reason(job(log=str(log), result={"interrupted": False})) == ""
    log.write_text("search: 3 trials\nerror: the folder is full " + "x" * 300 + "\n\n")  # no final JSON line
    reason = sv.no_ensemble_reason(job(log=str(log), result=None))
    assert reason.startswith("error: the folder is full") and len(reason) == 200
    log.write_text("")
    assert sv.no_ensemble_reason(job(log=str(log), result=None)) == ""
    assert sv.no_ensemble_reason(job(log=str(tmp_path / "missing.log"), result=None)) == ""


def test_importance_is_fitted_at_points_x1_5_apart_then_once_at_the_end():
    first = search.MIN_IMPORTANCE_TRIALS
    assert not sv.importance_due(first - 1) and sv.importance_due(first)
    steps = sorted({sv.importance_step(n, final=False) for n in range(first, 200)})
    assert steps[0] == first and steps[:7] == [8, 12, 18, 27, 40, 60, 90]
    assert all(b == a * 3 // 2 for a, b in zip(steps, steps[1:]))
    assert sv.importance_step(26, final=False) == 18 and sv.importance_step(27, final=False) == 27
    assert sv.importance_step(26, final=True) == 26  # the search ended: one last fit over every trial


def test_trials_table_keeps_categorical_knobs_as_text_and_missing_values_empty():
    space = {"hidden_size": ("cat", [64, 128]), "learning_rate": ("log", (1e-4, 1e-2))}
    trials = [{"number": 0, "state": "COMPLETE", "value": 0.3, "hamming": 0.1, "micro_f1": 0.8,
               "params": {"hidden_size": 64, "learning_rate": 1e-3}, "best_epoch": 5, "duration_s": 1.5},
              {"number": 1, "state": "RUNNING", "value": None, "hamming": None, "micro_f1": None,
               "params": {}, "best_epoch": None, "duration_s": None},
              {"number": 2, "state": "PRUNED", "value": 0.29, "hamming": 0.09, "micro_f1": 0.81,
               "params": {"hidden_size": 128, "learning_rate": 1e-2}, "best_epoch": 2, "duration_s": 0.4}]
    table = sv.trials_table(trials, space)
    # a pruned trial's value is a partial one (fewer epochs): not shown beside the finished trials' objectives
    assert table["objective"].iloc[0] == 0.3 and table.iloc[2][["objective", "Hamming", "micro-F1"]].isna().all()
    trials = trials[:2]
    table = sv.trials_table(trials, space)
    assert list(table.columns) == ["trial", "state", "objective", "Hamming", "micro-F1", "hidden_size",
                                   "learning_rate", "best epoch", "duration (s)"]
    assert table["hidden_size"].tolist() == ["64", ""] and table["state"].tolist() == ["complete", "running"]
    assert table["learning_rate"].iloc[0] == 1e-3 and pd.isna(table["learning_rate"].iloc[1])
    assert sv.completed(trials) == 1
    assert set(sv.TABLE_COLUMNS) >= set(table.columns) - {"learning_rate"} | set(search.SPACE)


def test_the_trials_table_keeps_numbers_as_numbers_and_the_page_prints_them_with_its_formats():
    # Numbers, so that sorting by a column's header sorts by value; a missing one stays missing (the page's
    # st.dataframe draws it as an empty cell, placeholder="").
    trials = [{"number": 0, "state": "COMPLETE", "value": 0.31234, "hamming": 0.1, "micro_f1": 0.8,
               "params": {"learning_rate": 3e-4, "dropout": 0.3}, "best_epoch": 5, "duration_s": 1.54},
              {"number": 1, "state": "PRUNED", "value": None, "hamming": None, "micro_f1": None,
               "params": {"learning_rate": 2e-3, "dropout": 0.1}, "best_epoch": None, "duration_s": 0.4}]
    table = sv.trials_table(trials)
    assert table.loc[1, ["objective", "Hamming", "micro-F1", "best epoch"]].isna().all()
    assert table.sort_values("learning_rate")["trial"].tolist() == [0, 1]  # 3e-4 before 2e-3
    printed = {c: sv.TABLE_FORMATS[c] % table.loc[0, c] for c in sv.TABLE_FORMATS
               if c in table.columns and pd.notna(table.loc[0, c])}  # knobs this trial did not set are missing
    assert printed == {"objective": "0.3123", "Hamming": "0.1000", "micro-F1": "0.8000", "learning_rate": "0.0003",
                       "dropout": "0.30", "best epoch": "5", "duration (s)": "1.5"}
    # A sampled rate is kept to 2 significant digits: the browser's "%g" prints every digit it gets, and a narrow
    # column showed the end of 0.000948058158 ("948058158").
    sampled = sv.trials_table([{**trials[0], "params": {"learning_rate": 0.000948058158, "weight_decay": 1.23456e-6}}])
    assert sampled.loc[0, "learning_rate"] == 0.00095 and sampled.loc[0, "weight_decay"] == 0.0000012
    assert sv.knob_text("batch_size", 0) == "auto" and sv.knob_text("batch_size", 256) == "256"
    assert sv.knob_text("hidden_size", None) == ""
    # short headers, each with the Train form's words on hover ('pos w.' alone said little)
    assert sv.column_help("pos_weight") == "weight rare positives" and sv.column_help("learning_rate") == "learning rate"
    assert sv.column_help("duration (s)") == "seconds the trial took" and sv.column_help("trial") is None


def test_the_table_lists_the_newest_trial_first_while_the_search_runs_and_the_best_first_once_it_ended():
    trials = [{"number": n, "state": state, "value": value} for n, state, value in
              [(0, "COMPLETE", 0.30), (1, "PRUNED", 0.25), (2, "COMPLETE", 0.28), (3, "FAIL", None),
               (4, "COMPLETE", 0.31), (5, "RUNNING", None)]]
    assert [t["number"] for t in sv.table_order(trials, searching=True)] == [5, 4, 3, 2, 1, 0]
    assert [t["number"] for t in sv.table_order(trials, searching=False)] == [2, 0, 4, 1, 3, 5]


def test_poll_interval_slows_down_for_slow_renders_within_bounds():
    assert sv.poll_interval_s(0.0) == sv.POLL_S
    assert sv.poll_interval_s(0.2) == pytest.approx(0.2 / sv.POLL_SHARE)
    assert sv.poll_interval_s(60.0) == sv.POLL_MAX_S


def test_chosen_study_prefers_the_link_and_reports_an_unknown_one():
    known = {"a": 1, "b": 2}
    assert sv.chosen_study("a", "b", known) == ("a", None)
    assert sv.chosen_study(None, "b", known) == ("b", None)
    assert sv.chosen_study("zz", "b", known) == (None, "zz")  # a stale link: said so, no fallback
    assert sv.chosen_study(None, "gone", known) == (None, None)  # a deleted last choice: quietly none
    assert sv.chosen_study(None, None, known) == (None, None)


def test_job_summary_is_none_before_the_study_exists(tmp_path):
    storage = search.default_storage(tmp_path)
    assert sv.job_summary(job(storage=storage)) is None
    study = search.open_study(storage, "search-1", seed=0)
    study.enqueue_trial({})
    summary = sv.job_summary(job(storage=storage, alive=False, outcome="died"))
    assert summary["states"] == {"WAITING": 1}


def test_jobs_by_study_is_empty_for_a_home_without_searches(tmp_path):
    assert sv.jobs_by_study(tmp_path) == {}


def test_refit_line_says_its_epoch_count_is_every_configurations():
    # "configuration 2 of 5 · 74 of 142 epochs" read as configuration 2's 142 epochs; 142 was all five's.
    counts = {"configs": 5, "config": 2, "nets": 15, "epochs_done": 74, "epochs": 142, "rows": 593}
    assert sv.refit_line(job(), counts) == (
        "Refit on all 593 rows: configuration 2 of 5 (3 nets each) · 74 of 142 epochs of all configurations")
    one = {"configs": 1, "config": 1, "nets": 3, "epochs_done": 5, "epochs": 30, "rows": 593}
    assert sv.refit_line(job(), one) == (
        "Refit on all 593 rows: one configuration, 3 nets trained together · 5 of 30 epochs")
