"""What the Search page shows about a background search, worked out from its job record (``jobs.find_job``) and its
study (``search.study_summary``): the phase and status words, the budget, the trials table, when hyperparameter
importance is fitted again, and how often the live view polls. Plain functions of plain dicts; no Streamlit."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

import pandas as pd

from . import jobs, search
from .config import knob_text, knob_words
from .errors import MultilabelError

# The live view reads the study from its SQLite file and redraws the table and charts every POLL_S, slower for big
# studies, so that it takes at most about a tenth of a core away from the search's workers (benchmarks/README.md).
POLL_S, POLL_MAX_S, POLL_SHARE = 1.0, 5.0, 0.1

# Numbers in the trials table, and short headers with widths (pixels) so that every column fits the page's width at
# 1400 px: the knobs' own names (learning_rate, threshold_mode) made the last columns fall off the right edge.
# How the trials table prints its number columns (printf style, as st.column_config.NumberColumn takes them); the
# cells stay numbers, so sorting by a column's header sorts by value (as text, 1.00e-03 came before 3.00e-04).
TABLE_FORMATS = {"objective": "%.4f", "Hamming": "%.4f", "micro-F1": "%.4f", "learning_rate": "%g",
                 "weight_decay": "%g", "dropout": "%.2f", "input_noise": "%.2f", "best epoch": "%.0f",
                 "duration (s)": "%.1f"}
TABLE_COLUMNS = {"trial": ("trial", 45), "state": ("state", 72), "objective": ("objective", 72),
                 "Hamming": ("Hamming", 70), "micro-F1": ("micro-F1", 68), "hidden_size": ("hidden", 58),
                 "learning_rate": ("lr", 64), "weight_decay": ("decay", 76), "dropout": ("dropout", 58),
                 "input_noise": ("noise", 52), "batch_size": ("batch", 50), "pos_weight": ("pos w.", 52),
                 "threshold_mode": ("thresholds", 74), "best epoch": ("best ep.", 62), "duration (s)": ("time s", 52)}
# Each short header's hover text: a knob in the Train form's words, the rest in a few words.
_COLUMN_HELP = {"objective": "what the search minimizes: held-out binary cross-entropy, mean over the CV folds",
                "Hamming": "held-out Hamming loss, mean over the CV folds", "best epoch": "the epoch the folds chose",
                "micro-F1": "held-out micro-F1 at 0.5, mean over the CV folds", "duration (s)": "seconds the trial took"}


def column_help(column: str) -> Optional[str]:
    """The hover text of the trials table's column ``column`` (None for trial and state)."""
    if column in search.SPACE:
        return knob_words(column)
    return _COLUMN_HELP.get(column)
FINISHED_STATES = ("COMPLETE", "PRUNED", "FAIL")  # a WAITING trial has not run yet


def poll_interval_s(render_s: float) -> float:
    """Seconds between polls of the live view, given how long the last one took to draw (``render_s``)."""
    return min(POLL_MAX_S, max(POLL_S, render_s / POLL_SHARE))


def job_summary(job: Mapping[str, Any]) -> Optional[dict[str, Any]]:
    """The job's study as the page shows it (``jobs.settle``), or None while its process has not created it."""
    try:
        return jobs.settle(search.study_summary(search.cached_storage(job["storage"]), job["study"],
                                                members=int(job.get("members") or 5)), dict(job))
    except MultilabelError:
        return None


def phase(job: Mapping[str, Any], states: Mapping[str, int], now: float) -> str:
    """What the search does now, from its job record, its trials' ``states`` (counts by state) and the clock ``now``
    (seconds, as ``job["started"]``): running, refitting the best on all rows (after the time budget, Stop, or a
    page's Refit), or, once its process is gone, its outcome (finished, stopped, died)."""
    if not job["alive"]:
        return job["outcome"]
    settled = any(states.get(s, 0) for s in FINISHED_STATES) and not states.get("RUNNING", 0)
    if job.get("phase") == "refit":
        return f"refitting the best {job['members']} on all rows"
    refits = bool(states.get("COMPLETE", 0))  # the refit takes the best completed trials: none, nothing to refit
    if settled and job.get("stop_requested"):
        return "stopping: refitting the best on all rows" if refits else "stopping: no completed trial to refit"
    if settled and job.get("timeout") and elapsed_s(job, now) >= job["timeout"]:
        return "refitting the best on all rows" if refits else "ending: no completed trial to refit"
    return "running"


def live_refit(job: Mapping[str, Any], states: Mapping[str, int], now: float) -> Optional[dict[str, int]]:
    """The counts of the refit a live search is doing now (``jobs.refit_progress``), else None: while its trials
    run, a file left from an earlier refit is not this one's."""
    if not job["alive"] or "refitting" not in phase(job, states, now):
        return None
    return jobs.refit_progress(dict(job))


def refit_line(job: Mapping[str, Any], counts: Mapping[str, int]) -> str:
    """The refit's progress under the status line, from ``jobs.refit_progress``: 'Refit on all 2,000 rows:
    configuration 2 of 5 (3 nets each) · 96 of 240 epochs of all configurations'."""
    configs, nets = counts.get("configs", 1), counts.get("nets", 1)
    each = nets // max(1, configs)
    if configs > 1:
        which = f"configuration {counts.get('config', 1)} of {configs}" + (f" ({each} nets each)" if each > 1 else "")
    else:
        which = f"one configuration, {each} nets trained together" if each > 1 else "one net"
    rows = counts.get("rows", job["rows"])
    total = " of all configurations" if configs > 1 else ""  # not configuration 2's own: every one's best epochs
    return f"Refit on all {rows:,} rows: {which} · {counts['epochs_done']:,} of {counts['epochs']:,} epochs{total}"


def elapsed_s(job: Mapping[str, Any], now: float) -> float:
    """Seconds since the job started (shown only; nothing stored depends on it)."""
    return now - job.get("started", now)


def budget_line(job: Mapping[str, Any]) -> str:
    """'5 min or 40 trials', '40 trials', or 'no limit'."""
    parts = []
    if job.get("timeout"):
        parts.append(f"{job['timeout'] / 60:g} min")
    if job.get("trials"):
        parts.append(f"{job['trials']} trials")
    return " or ".join(parts) or "no limit"


def status_line(job: Mapping[str, Any], states: Mapping[str, int], counts: str, now: float) -> str:
    """The page's status line (markdown): the phase in bold, the trial ``counts`` (in words), the budget and, while
    it runs, the minutes so far (a page's Refit: since the refit began, the search's budget being spent)."""
    if job["alive"] and job.get("phase") == "refit":
        began = job.get("refit_started", now)
        return f"status: **{phase(job, states, now)}** · {counts or 'no trial'} · {max(0.0, now - began):.0f} s so far"
    if job["alive"]:
        return (f"status: **{phase(job, states, now)}** · {counts or 'no trial yet'} · budget {budget_line(job)} · "
                f"{elapsed_s(job, now) / 60:.1f} min so far")
    return f"status: **{job['outcome']}** · {counts or 'no trial'} · budget {budget_line(job)}"


def data_line(job: Mapping[str, Any]) -> str:
    """'name.csv: 2,000 rows, 10 features → 5 labels · 3 CV folds per trial' (the name not yet made safe)."""
    data = job.get("data") or {}
    folds = job["folds"]
    return (f"{data.get('name') or data.get('source', 'data')}: {job['rows']:,} rows, {len(job['features'])} "
            f"features → {len(job['labels'])} labels · {folds} CV fold{'' if folds == 1 else 's'} per trial")


def jobs_by_study(home: Any = None) -> dict[str, dict[str, Any]]:
    """Every background search started in ``home``, by study name, most recently started first."""
    return {job["study"]: job for job in jobs.list_jobs(home)}


def job_option(job: Mapping[str, Any]) -> str:
    """A search in the page's picker: 'search-2 · finished · 2,000 rows' ('refitting' while a page's Refit runs)."""
    state = "refitting" if job["alive"] and job.get("phase") == "refit" else job["outcome"]
    return f"{job['study']} · {state} · {job['rows']:,} rows"


def searching(job: Mapping[str, Any], states: Mapping[str, int], now: float) -> bool:
    """Whether the search still runs trials (its table lists the newest first), not refitting nor ended."""
    return bool(job["alive"]) and phase(job, states, now) == "running"


def configurations(job: Mapping[str, Any]) -> int:
    """How many configurations the ended search's ensemble holds: those it chose (its final JSON's ``estimate``),
    which can be fewer than the ``members`` asked for (few trials completed, or some left out as worse)."""
    guess = (job.get("result") or {}).get("estimate") or {}
    if guess.get("keeps_defaults"):
        return int(job["members"])  # the guard's: the defaults' configuration with the seeds of every member asked
    return len(guess.get("trials") or []) or int(job["members"])


def ensemble_words(job: Mapping[str, Any]) -> tuple[str, str]:
    """(what is ready, the label of the button that hands it to Predict) for an ended job with an ensemble, in the
    words of what the search chose (its final JSON's ``estimate``, ``search.chosen_trials``): the defaults' alone,
    the defaults' and the best others, or the best; and why it holds fewer configurations than asked, if so."""
    members, seeds = int(job["members"]), int(job.get("seeds", 1))
    guess = (job.get("result") or {}).get("estimate") or {}
    configs = configurations(job)
    single = configs == 1 and seeds == 1
    times = f" x {seeds} seed{'s' if seeds > 1 else ''} ({configs * seeds} nets), each refit"
    if guess.get("keeps_defaults"):
        ready = ("The defaults' configuration, refit" if single else
                 f"Ensemble of the defaults' configuration x {members * seeds} seeds ({members * seeds} nets), "
                 "each refit")
    elif guess.get("choice") == "with-defaults" and guess.get("with_defaults") and configs > 1:
        others = configs - 1
        ready = f"Ensemble of the defaults' and the best {others} other configuration{'s' if others > 1 else ''}" \
                + times
    elif configs == 1:
        which = "defaults'" if guess.get("trials") == [guess.get("defaults_trial")] else "best"
        ready = f"The {which} configuration, refit" if single else f"The {which} configuration" + times
    else:
        ready = f"Ensemble of the best {configs} configurations" + times
    why, done = [], guess.get("completed")  # None: a search from before the count was kept
    if done is not None and done < members and configs < members:
        why.append(f"only {done} trial{'s' if done != 1 else ''} completed")
    left = 0 if done is None else min(members, done) - configs
    if left > 0 and guess.get("choice") == "best":
        why.append(f"{left} of the best {'was' if left == 1 else 'were'} left out, worse than the best beyond "
                   "the folds' noise")
    fewer = f" It holds fewer than the {members} configurations asked: {'; '.join(why)}." if why else ""
    return (f"{ready} on all {job['rows']:,} rows, is ready.{fewer}",
            "Use the best model on Predict" if single else "Use the ensemble on Predict")


def estimate_line(estimate: Optional[Mapping[str, Any]]) -> str:
    """The search's honest estimate in one line ('' before a trial completed), from ``search.estimate``: the held-out
    Hamming loss and micro-F1 of what it ships, with their spread over the CV folds, and whether the best trial is
    distinguishable from the defaults, e.g. 'estimated Hamming 0.1932 ± 0.0041, micro-F1 0.650 ± 0.012 over 3 folds
    (trial #0, the defaults); the best trial, #12, is not distinguishable from the defaults, so the ensemble keeps
    them'."""
    if not estimate:
        return ""
    ham, f1, folds = estimate["hamming"], estimate["micro_f1"], estimate.get("folds")
    old = estimate.get("folds") is None  # trials from before the folds' values were kept: no spread to give
    if estimate.get("hamming_sd") is None:
        line = f"estimated Hamming {ham:.4f}, micro-F1 {f1:.3f}" + (" (no spread recorded)" if old else
                                                                    " on 1 fold (no spread)")
    else:
        line = (f"estimated Hamming {ham:.4f} ± {estimate['hamming_sd']:.4f}, micro-F1 {f1:.3f} ± "
                f"{estimate['micro_f1_sd']:.3f} over {folds} folds")
    trials, best, defaults = estimate["trials"], estimate["best_trial"], estimate.get("defaults_trial")
    cut = estimate.get("cut")
    # What to read it against: the defaults' own trial on the same folds (unless the estimate is that trial's).
    alone = ("" if estimate.get("defaults_hamming") is None or trials == [defaults] else
             f"; the defaults alone: Hamming {estimate['defaults_hamming']:.4f}, micro-F1 "
             f"{estimate['defaults_micro_f1']:.3f}")
    if cut is not None:  # --threshold oof: the mean of the configurations' fold nets, cut where the ensemble is
        line += (f" (the ensemble's {len(trials)} configurations averaged on each fold's held-out rows, cut at "
                 f"{cut:.2f}{'; the defaults among them' if estimate.get('with_defaults') else ''}{alone}); ")
    elif len(trials) == 1:
        line += f" (trial #{trials[0]}{', the defaults' if trials[0] == defaults else ''}{alone}); "
    else:
        line += (f" (mean of the ensemble's {len(trials)} configurations"
                 f"{', the defaults among them' if estimate.get('with_defaults') else ''}{alone}); ")
    if defaults is None:
        return line + "no trial of the defaults to compare with"
    if best == defaults:
        return line + "no trial did better than the defaults"
    if estimate.get("distinguishable") is None:
        return line + ("its trials do not say whether the best beats the defaults" if old else
                       "one fold cannot tell the best trial from the defaults")
    # The test is paired, fold by fold, on held-out cross-entropy (search.distinguishable): say so, since the
    # Hamming spread above is over folds and a 0.002 lead inside a ± 0.015 spread read as a contradiction.
    paired = "held-out cross-entropy, paired fold by fold"
    if estimate.get("keeps_defaults"):
        return line + (f"the best trial, #{best}, is not distinguishable from the defaults ({paired}), so the "
                       "ensemble keeps them")
    if estimate.get("distinguishable"):
        return line + f"the best trial, #{best}, beats the defaults ({paired}: by more than 2 standard errors)"
    return line + f"the best trial, #{best}, is not distinguishable from the defaults ({paired})"


def no_ensemble_reason(job: Mapping[str, Any], max_chars: int = 200) -> str:
    """Why an ended search with a completed trial has no ensemble, in a few words ('' when unknown): from its final
    JSON line as ``search`` parses it (``job["result"]``: the refit was interrupted), else the last line the process
    wrote to its log before it ended (the error it stopped on), cut to ``max_chars``."""
    result = job.get("result")
    if result is not None:
        return "it was stopped before the ensemble was built" if result.get("interrupted") else ""
    try:
        lines = [ln for ln in Path(job["log"]).read_text().splitlines() if ln.strip()]
    except (OSError, KeyError):
        return ""
    return lines[-1][:max_chars] if lines else ""


def table_order(trials: list[Mapping[str, Any]], searching: bool) -> list[Mapping[str, Any]]:
    """The trials as the table lists them: the newest first while the search runs trials (``searching``: what it is
    doing); once they are over, the completed ones best first (the one the ensemble starts from on top), then the
    rest in the order they ran (newest first read as 0, 1, 3, 2 under two completed trials)."""
    if searching:
        return list(trials)[::-1]
    done = sorted((t for t in trials if t["state"] == "COMPLETE" and t["value"] is not None),
                  key=lambda t: (t["value"], t["number"]))
    return done + sorted((t for t in trials if not (t["state"] == "COMPLETE" and t["value"] is not None)),
                         key=lambda t: t["number"])


def _significant(value: Optional[float], digits: int) -> Optional[float]:
    """``value`` rounded to ``digits`` significant digits: the browser's "%g" prints every digit it is given
    (0.000948058158, cut to "948058158" in a narrow column)."""
    return None if value is None else float(f"{value:.{digits}g}")


def trials_table(trials: list[Mapping[str, Any]], space: Mapping[str, tuple[str, Any]] = search.SPACE
                 ) -> pd.DataFrame:
    """One row per trial, in the given order: number, state (lower case), objective, Hamming, micro-F1, every
    knob of ``space``, best epoch and duration. Categorical knobs as text: a column of mixed types (0 = auto, 32,
    ...) reads badly, and a missing value would turn a column of ints into floats ("64.0")."""
    rows = []
    for t in trials:
        # A pruned trial's value is its last report on fewer epochs: among the finished ones it ranked with the best.
        done = t["state"] == "COMPLETE"
        row = {"trial": t["number"], "state": t["state"].lower(), "objective": t["value"] if done else None,
               "Hamming": t["hamming"] if done else None, "micro-F1": t["micro_f1"] if done else None}
        row.update({name: (knob_text(name, t["params"].get(name)) if kind == "cat" else
                           _significant(t["params"].get(name), 2) if kind == "log" else t["params"].get(name))
                    for name, (kind, _) in space.items()})
        row.update({"best epoch": t["best_epoch"], "duration (s)": t["duration_s"]})
        rows.append(row)
    return pd.DataFrame(rows)


def completed(trials: list[Mapping[str, Any]]) -> int:
    return sum(1 for t in trials if t["state"] == "COMPLETE")


def draws_charts(alive: bool, completed_trials: int) -> bool:
    """Whether the page draws a search's charts: while it runs (they fill as trials complete), or once it ended with
    a completed trial. An ended search without one has nothing to chart; its warning says why (no empty frames
    saying "yet")."""
    return alive or completed_trials > 0


def importance_due(completed_trials: int) -> bool:
    """Whether importance can be fitted at all: ``search.MIN_IMPORTANCE_TRIALS`` completed trials or more."""
    return completed_trials >= search.MIN_IMPORTANCE_TRIALS


def importance_step(completed_trials: int, final: bool) -> int:
    """The refresh point importance is fitted at: while the search runs, the last of 8, 12, 18, 27, 40, 60, 90, ...
    (x1.5 each, from ``search.MIN_IMPORTANCE_TRIALS``) at or below ``completed_trials``, so a search of n trials
    fits it about log(n) times (a fit takes 1-8 s of the server's CPU, which the running search needs more);
    once the search has ended (``final``), ``completed_trials`` itself: one last fit over every trial."""
    if final:
        return completed_trials
    step = nxt = search.MIN_IMPORTANCE_TRIALS
    while nxt <= completed_trials:
        step = nxt
        nxt = step * 3 // 2
    return step


def importances(storage: str, study: str) -> tuple[dict[str, float], int]:
    """fANOVA importances of the study's knobs and how many completed trials they cover (MultilabelError when they
    cannot be computed yet, see ``search.param_importances``)."""
    found = search.param_importances(search.cached_storage(storage), study)
    summary = search.study_summary(search.cached_storage(storage), study)
    return found, summary["states"].get("COMPLETE", 0)


def chosen_study(link: Optional[str], last: Optional[str], known: Any) -> tuple[Optional[str], Optional[str]]:
    """Which search the page opens: the one in the page's link wins over the session's ``last`` choice; one that
    is not among ``known`` opens none. Returns (study or None, the unknown study named by the link, to report)."""
    study = link or last
    if study and study not in known:
        return None, study if link == study else None
    return study, None
