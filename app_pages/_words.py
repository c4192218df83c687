"""How the pages say things: statuses, who started a run, notes, and library messages in page wording.

The library's messages are written for every front end; a few name a command-line flag. The pages show them through
:func:`for_page`, which says the same thing in terms of the page's widgets.
"""

from __future__ import annotations

import re
import time
from typing import Any, Iterable, Mapping, Optional

from multilabel.words import about_seconds, count, status_word  # noqa: F401  (status_word: the pages import it from here)


# (pattern, replacement) pairs turning command-line wording into page wording.
_PAGE_WORDING = [
    (re.compile(r"name them, e\.g\. --labels '[^']*'(?: or --labels '[^']*')?"),
     "choose them in 'Label columns'"),
    (re.compile(r"use --device auto"), "choose Device 'auto'"),
    (re.compile(r"--labels\b"), "'Label columns'"),
    (re.compile(r"--([a-z][a-z-]*)"), lambda m: f"'{m[1].replace('-', ' ')}'"),
]


def for_page(message: str) -> str:
    """A library message with command-line flags replaced by what the page calls them."""
    for pattern, replacement in _PAGE_WORDING:
        message = pattern.sub(replacement, message)
    return message


def clock(ts: Optional[float]) -> str:
    return time.strftime("%H:%M", time.localtime(ts)) if ts else "?"


def owner_line(view: Any, me: str) -> str:
    """'started by this browser session at 14:02' / '… another browser session …' / '… the command line …'."""
    by: Optional[str] = getattr(view, "started_by", None)
    at = clock(getattr(view, "started_at", None))
    if by == me:
        return f"started by this browser session at {at}"
    if by and by.startswith("browser session"):
        return f"started by another browser session at {at}"
    if by and by.startswith("CLI"):
        return f"started from the command line at {at}"
    return f"started by {by} at {at}" if by else f"started at {at}"


_BY_BROWSER = re.compile(r"\bby (browser session [0-9a-f]{6})\b")


def note_words(text: str, me: Optional[str]) -> str:
    """A note as this browser reads it: 'stopped by browser session 1a2b3c' (stored: who it was) says 'stopped by
    this browser session' or '... another browser session' (a person cannot tell whose 1a2b3c is)."""
    return _BY_BROWSER.sub(lambda m: "by this browser session" if m[1] == me else "by another browser session", text)


def notes_lines(notes: Iterable[Mapping[str, Any]] | None, me: Optional[str]) -> list[str]:
    """One line per note on a run: 'Note (14:05): stopped by another browser session'. ``me``: this browser's
    name (browser_session()), None where there is none."""
    return [f"Note ({clock(n.get('at'))}): {note_words(n.get('text', ''), me)}" for n in (notes or [])]


def rows_line(info: Mapping[str, Any], alive: bool) -> str:
    """'1,600 training / 400 validation rows', or 'preparing data…' before the engine has split the data."""
    if "n_train" in info and "n_val" in info:
        return f"{info['n_train']:,} training / {info['n_val']:,} validation rows"
    return "preparing data…" if alive else "rows not recorded"


def run_state_words(view: Any) -> str:
    """The status part of the Train page's run line (Markdown): '**running** (pausing after epoch 4…)'."""
    word = f"**{status_word(view.status)}**"
    if view.stopping:
        return f"{word} (stopping…)"
    if view.paused:
        return f"**paused** at epoch {view.epoch}"
    if view.pausing:
        return f"{word} (pausing after epoch {view.epoch + 1}…)"
    if view.stepping:
        return f"{word} (one more epoch, then paused…)"
    return word


def setup_line(view: Any) -> str:
    """'1,600 training / 400 validation rows · 10 → 64 → 5 · lr 0.001 · batch 100 · device cpu'."""
    cfg, info = view.config, view.info
    return (f"{rows_line(info, view.alive)} · {cfg['input_size']} → {cfg['hidden_size']} → {cfg['num_outputs']} · "
            f"lr {cfg['learning_rate']:g} · {batch_words(cfg, info)} · device {info.get('device', cfg['device'])}")


def refit_words(refit_s: tuple[float, float]) -> str:
    """' + refit on all rows 2–226 s': the refit's time from the best epoch so far to the last epoch."""
    low, high = round(refit_s[0]), round(refit_s[1])
    if high < 1:
        return " + refit on all rows (under 1 s)"
    return f" + refit on all rows about {high} s" if low == high else f" + refit on all rows {low}–{high} s"


def epoch_progress_words(view: Any, eta_s: float, refit_s: Optional[tuple[float, float]],
                         samples_per_s: Optional[float]) -> str:
    """The progress bar's text: 'epoch 3/20 · 9,000 samples/s · ETA 12 s · train loss 0.3000 · val loss 0.3100'.

    ``samples_per_s``: trainview.samples_per_s's, the last whole epoch's while the run trains and its mean once it
    has ended (said as 'mean'); None (no whole epoch yet) says none. A paused run has no speed and no ETA: it waits
    for a person, not for the CPU. ``refit_s``: the refit on all rows still to come after the epochs (refit "all"),
    as trainview.refit_eta_range's (best epoch so far, last epoch) seconds, or None. A range, said as one: a floor
    alone ('≥ 2 s' at epoch 2) hid that the refit can take as long as the training."""
    last = view.history[-1]
    speed = [] if samples_per_s is None else [f"{'' if view.alive else 'mean '}{samples_per_s:,.0f} samples/s"]
    then_refit = "" if refit_s is None else refit_words(refit_s)
    # No ETA to the last epoch once the epochs are over (refitting: its own line gives its time) or about to end
    # (stopping: a stopped run keeps its best weights, it is not refit).
    counting = view.alive and not view.stopping and not view.info.get("refitting")
    pace = ["paused"] if view.paused else [*speed, f"ETA {eta_s:.0f} s{then_refit}"] if counting else speed
    return " · ".join([f"epoch {last['epoch']}/{view.epochs}", *pace, f"train loss {last['train_loss']:.4f}",
                       f"val loss {last['val_loss']:.4f}"])


def refitting_words(refit: Mapping[str, Any]) -> str:
    """What a run says while it refits on all rows after its epochs."""
    expected = (f", expected to take {about_seconds(refit['expected_s'])}" if refit.get("expected_s") is not None
                else "")
    return (f"Training done; refitting on all {refit['rows']:,} rows for {refit['epochs']} epochs (the best epoch "
            f"count{expected}) before saving the model…")


def saved_model_words(view: Any) -> str:
    """What a finished run saved: 'refit on all 1,600 rows for 31 epochs' (Refit on all rows) or 'best epoch 31'."""
    refit = view.info.get("refit")
    if refit:
        return f"refit on all {refit['rows']:,} rows for {refit['epochs']} epochs"
    stopped = " (its refit on all rows was stopped)" if view.info.get("refit_stopped") else ""
    return f"best epoch {(view.best or {}).get('epoch')}{stopped}"


def final_metrics_words(view: Any) -> str:
    """The caption under a run's best metrics: where they come from (an interrupted run's logged epoch, or the
    best weights at the tuned thresholds, and what the refit on all rows means for them)."""
    best, info = view.best, view.info
    if "thresholds" not in best:  # an interrupted run: its best measured epoch, as logged
        return ("The run did not finish: these are its logged epoch of lowest validation loss (threshold 0.5); its "
                "checkpoint holds the best weights saved before it ended.")
    refit = info.get("refit") if not view.alive else None
    cut = info.get("refit_stopped") if not view.alive else None
    # Stopped in its epochs with Refit on all rows on: no refit came (a stopped run is not refit)
    skipped = (not view.alive and not refit and not cut and view.status == "stopped"
               and (view.config or {}).get("refit") == "all")
    return ("Final metrics use the best epoch's weights and the per-label thresholds "
            + ", ".join(f"{t:.2f}" for t in best["thresholds"]) + "."
            + (f" The saved model was then refit on all {refit['rows']:,} rows for {refit['epochs']} epochs (Refit "
               "on all rows): the validation rows are part of its training data, so these metrics are the run's "
               "estimate for it." if refit else "")
            + (f" The refit on all {cut['rows']:,} rows was stopped after {cut['done']} of its {cut['epochs']} "
               "epochs, so the saved model is these best-epoch weights, trained on the training split alone."
               if cut else "")
            + (" The run was stopped, so it was not refit on all rows: the saved model is these best-epoch "
               "weights, trained on the training split alone." if skipped else ""))


# Stop / Pause / Resume / One epoch asked of another session's run: (the question's verb, the note's past tense).
CONTROL_WORDS = {"stop": ("Stop it", "stopped"), "pause": ("Pause it", "paused"), "resume": ("Resume it", "resumed"),
                 "step": ("Run one epoch of it", "stepped")}


def control_question(action: str, owner: str) -> str:
    """'This run was started by another browser session at 14:02. Stop it anyway? …' (``owner``: owner_line's)."""
    verb, past = CONTROL_WORDS[action]
    return f"This run was {owner}. {verb} anyway? A note on the run will say that this browser session {past} it."


TRIAL_STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")


def trial_counts(states: Mapping[str, int], alive: bool = True) -> str:
    """'2 complete · 1 pruned · 1 running · 1 waiting': a search's trials by state, in the order they pass. Once
    the search has ended, a trial still waiting was not run, and one still running was cut off ("finished · 3
    waiting" read as if they would still run)."""
    order = [*TRIAL_STATES, *sorted(set(states) - set(TRIAL_STATES))]
    return " · ".join(f"{states[s]} {trial_state_word(s, alive)}" for s in order if states.get(s))


def trial_state_word(state: str, alive: bool = True) -> str:
    """A trial's state as the Search page says it (see trial_counts)."""
    if not alive and state in ("WAITING", "RUNNING"):
        return "not run" if state == "WAITING" else "cut off"  # short: the trials table's state column is narrow
    return "failed" if state == "FAIL" else state.lower()


def importance_wait_words(completed: int, needed: int, alive: bool) -> str:
    """What the Search page says where hyperparameter importance cannot be fitted yet, and what to look at instead."""
    instead = ("Meanwhile the chart below draws every trial's settings against its objective, and the table lists "
               "each trial's settings and scores (sort it by objective).")
    if alive:
        return (f"Hyperparameter importance needs {needed} completed trials (on fewer it is noise); {completed} so "
                f"far. {instead}")
    return (f"This search completed {completed} trial{'s' if completed != 1 else ''}: hyperparameter importance needs "
            f"{needed}, so it is not shown; a longer budget (more minutes or trials) gets there. "
            + instead.replace("Meanwhile the", "The"))


def search_model_words(members: int, seeds: int) -> str:
    """What a search built, as the Search page counts it: 'best model', or 'ensemble of 15 nets (5 × 3 seeds)'."""
    if members == 1 and seeds == 1:
        return "best model"
    return f"ensemble of {members * seeds} nets ({members} configuration{'s' if members > 1 else ''} × {seeds} " \
           f"seed{'s' if seeds > 1 else ''})"


def model_label(model: Mapping[str, Any]) -> str:
    """How Predict lists a model (predictview.model_choices' values): 'run-3 · synthetic · completed · val micro-F1
    0.812', or 'search:s1 · emotions.csv · ensemble of 15 nets (5 configurations × 3 seeds) · estimated micro-F1
    0.790 ± 0.012' (the Search page's estimate of what it ships, ± its spread over the folds; 'CV micro-F1' of its
    best trial for a search from before estimates)."""
    from multilabel.experiments import data_label

    data = data_label(model.get("data"))  # which data: runs on emotions.csv and on synthetic data looked alike
    if model["what"] == "ensemble":
        spread = model.get("micro_f1_sd")
        score = (f"estimated micro-F1 {model['micro_f1']:.3f}" + (f" ± {spread:.3f}" if spread is not None else "")
                 if model.get("estimated") else f"CV micro-F1 {model['micro_f1']:.3f}")
        return f"search:{model['study']} · {data} · {search_model_words(model['members'], model['seeds'])} · {score}"
    return f"{model['name']} · {data} · {status_word(model['status'])} · val micro-F1 {model['micro_f1']:.3f}"


def threshold_origin(mode: str, thresholds: Iterable[float]) -> str:
    """Where a model's thresholds come from, for the sentence 'They start at the model's own (...)'."""
    cuts = list(thresholds)
    if all(abs(t - 0.5) < 1e-9 for t in cuts):
        return "0.5 for every label"
    if mode == "tuned":
        return "tuned per label on its validation split"
    return "per label, as saved on the Inspect page"


BROWSER_COOKIE = "multilabel_browser"  # the browser's name for its runs, kept across reloads and restarts
_BROWSER_ID = re.compile(r"[0-9a-f]{6}")


def batch_words(config: Mapping[str, Any], info: Mapping[str, Any]) -> str:
    """'batch 100', or 'batch 100 (auto)' for a run set to auto (0) once it has started; 'batch auto' before."""
    used = info.get("batch_size")
    if config.get("batch_size"):
        return f"batch {config['batch_size']}"
    return f"batch {used} (auto)" if used else "batch auto"


def browser_session() -> str:
    """This browser's name, e.g. 'browser session 1a2b3c': runs it starts are its own (``started_by``).

    A reload opens a new Streamlit session, but it is the same person: the name lives in a cookie
    (BROWSER_COOKIE, a year, this site only), read from the request that opened the session. A browser that has no
    cookie yet gets a new name, kept in st.session_state for the tab and written to the cookie for its next loads.
    """
    import uuid

    import streamlit as st

    if "browser_id" not in st.session_state:
        try:
            known = st.context.cookies.get(BROWSER_COOKIE)
        except Exception:  # no request behind this session (a script run by a test harness)
            known = None
        if isinstance(known, str) and _BROWSER_ID.fullmatch(known):
            st.session_state["browser_id"] = known
        else:
            st.session_state["browser_id"] = uuid.uuid4().hex[:6]
            st.session_state["browser_cookie_due"] = True
    if st.session_state.pop("browser_cookie_due", False):
        # A zero-height script element, only on the first page this browser opens without the cookie: at the end
        # of the sidebar, so that its absence on the next run shifts no element of the page (a shift left stale
        # copies of every widget on screen during that rerun).
        st.sidebar.html(f"""<script>window.parent.document.cookie =
            "{BROWSER_COOKIE}={st.session_state['browser_id']}; path=/; max-age=31536000; SameSite=Strict";</script>""",
                unsafe_allow_javascript=True)
    return f"browser session {st.session_state['browser_id']}"


def changed_words(cfg: Mapping[str, Any], leave_out: Iterable[str] = ()) -> list[str]:
    """A run's settings that differ from the defaults, in the form's words ('seed 7', 'dropout 0.5'), but those in
    ``leave_out``; [] for a config that does not parse."""
    from multilabel import MultilabelError
    from multilabel.config import TrainConfig, changed_knobs, knob_words

    try:
        changed = changed_knobs(TrainConfig.from_dict(dict(cfg)))
    except (MultilabelError, TypeError):
        return []
    return [f"{knob_words(k)} {v:g}" if isinstance(v, float) else f"{knob_words(k)} {v}"
            for k, v in changed.items() if k not in set(leave_out)]


QUEUE_LINE_SHOWN = ("input_size", "hidden_size", "num_outputs", "epochs", "learning_rate")


def queue_line(position: int, item: Mapping[str, Any], me: str) -> str:
    """'2. 10 → 256 → 5 · 200 epochs · lr 0.001 · synthetic, 2,000 rows · added by this browser session' (Markdown)."""
    from app_pages._shared import plain

    cfg, data = item.get("config") or {}, item.get("data") or {}
    if data.get("source") == "csv":
        source = f"{plain(data.get('name', 'CSV'))}, {data.get('rows', 0):,} rows"
    else:
        source = f"synthetic, {data.get('rows', 0):,} rows"
    by = item.get("started_by")
    who = ("added by this browser session" if by == me else "added by another browser session"
           if by and by.startswith("browser session") else f"added by {plain(by)}" if by else "")
    state = " · **starting…**" if item.get("state") == "starting" else ""
    # What else differs from the defaults (seed 1, dropout 0.5): two entries alike but for it read as duplicates.
    other = [plain(word) for word in changed_words(cfg, QUEUE_LINE_SHOWN)]
    parts = [f"{position}\\. {cfg.get('input_size')} → {cfg.get('hidden_size')} → {cfg.get('num_outputs')}",
             f"{cfg.get('epochs')} epochs", f"lr {cfg.get('learning_rate', 0):g}", *other, source, who]
    return " · ".join(p for p in parts if p) + state


def score_or_na(value: Optional[float]) -> str:
    """A precision, recall or rate with three decimals, or 'n/a' where it is undefined (nothing predicted 1)."""
    return "n/a" if value is None else f"{value:.3f}"


def inspect_option(run: Mapping[str, Any]) -> str:
    """A run in Inspect's picker: its name, and its id where the name differs. Nothing that changes (status,
    epochs, metrics): the browser keeps showing the text it drew first for the selected value."""
    return run["name"] if run["name"] == run["id"] else f"{run['name']} · {run['id']}"


def inspect_status_line(run: Mapping[str, Any], poll_s: float) -> str:
    """'Training now · the views follow its newest evaluated epoch (every 1 s).' or 'Completed · 40 epochs · best
    epoch 31.'"""
    if run["status"] == "running":
        return f"Training now · the views follow its newest evaluated epoch (every {poll_s:g} s)."
    best = (run["best"] or {}).get("epoch")
    return f"{status_word(run['status']).capitalize()} · {count(run['epochs_done'], 'epoch')}" + (
        f" · best epoch {best}" if best else "") + "."


def metric_or_dash(value: Optional[float], digits: int = 3) -> str:
    """A metric with three decimals (``digits``), or '—' where the run has none (None or NaN)."""
    return "—" if value is None or value != value else f"{value:.{digits}f}"
