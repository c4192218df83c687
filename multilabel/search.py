"""Hyperparameter search (Optuna) and the ensemble it ends with.

A study samples hidden size, learning rate, weight decay, dropout, input noise, batch size, pos_weight and threshold
mode. Each trial trains on ``folds`` cross-validation folds of the training data only: disjoint validation blocks of
about ``val_fraction`` of the rows each (``fold_rows``: five blocks of one seeded shuffle at the default 0.2, then
the next shuffle's), the same for every trial, so ``folds`` = 5 is plain 5-fold CV and no held-out row counts twice.
A median pruner stops hopeless trials early on their per-epoch validation loss (``MedianCurves``: Optuna's
MedianPruner rule on the completed trials' curves, read once per trial rather than once per epoch). A trial's
value (lower is better) is, by default (OBJECTIVE "bce"), the held-out rows' mean binary cross-entropy averaged over
folds; "mix" is the mean over folds of ``(hamming_loss + 1 - micro_f1) / 2``. Both are kept as user attributes; with
tuned thresholds the thresholds are cross-fitted (tuned on one half of the held-out rows, scored on the other, and
the other way round), so tuning cannot flatter itself. Each trial also records the one threshold for every label
that does best on its pooled held-out rows (``global_threshold``).

The study lives in Optuna storage (an SQLAlchemy URL; default ``sqlite:///<run store>/search.db``), so several
processes or machines can work on one study: ``python -m multilabel search --storage URL --study NAME`` on each.

``build_ensemble`` refits the best ``k`` trials' configurations on ALL training rows, each for its mean best
epoch count, with one or several seeds each (several: trained together, ``multilabel.batched``), and returns ONE
``TrainedModel`` whose probabilities are the members' mean. Each trial keeps its value on every fold, and the trial
of the defaults (the first warm start) is marked, so ``estimate`` can say how well the ensemble's configurations did
on the folds (mean and spread) and whether the best trial is distinguishable from the defaults; ``chosen_trials``
also offers ensembles that keep the defaults ("guarded", "with-defaults") and "oof" (``build_oof``: each chosen
configuration trained once per CV fold, mixed and cut on their out-of-fold predictions, ``multilabel.oof``), measured
on outer folds.

Background searches (processes, job files) are ``multilabel.jobs``'. This module runs past 500 lines on purpose:
the objective, the pruning rule, the study and the ensemble all read and write the same trial user attributes
(``config``, ``best_epoch``, ``thresholds``, ``curve``...), which read best in one file.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import optuna

from .batched import refit_seeds
from .checkpoint import TrainedModel
from .config import TrainConfig
from .data import Dataset, Standardizer
from .engine import train
from .refit import refit
from .errors import MultilabelError
from .metrics import tune_thresholds
from .threads import run_macs, step_threads
from .search_defaults import (CHOICES, DEFAULT_STUDY, ENSEMBLE_CHOICE, ENSEMBLE_SEEDS, ENSEMBLE_THRESHOLD,  # noqa: F401
                              OBJECTIVE, OBJECTIVES, THRESHOLDS)

GLOBAL_THRESHOLDS = tuple(round(0.3 + 0.025 * i, 3) for i in range(13))  # 0.3 .. 0.6
DB_NAME = "search.db"
OPEN_ATTEMPTS = 5

# The search space: name -> (kind, values or (low, high)). "cat" = categorical, "log" = log-uniform float.
SPACE: dict[str, tuple[str, Any]] = {
    "hidden_size": ("cat", [64, 128, 256, 512, 1024]),
    "learning_rate": ("log", (3e-4, 1e-2)),
    "weight_decay": ("log", (1e-6, 1.0)),
    "dropout": ("float", (0.0, 0.6)),
    "input_noise": ("float", (0.0, 1.0)),
    "batch_size": ("cat", [0, 32, 64, 128, 256]),  # 0 = auto (training rows / 16, clipped to 32..1024)
    "pos_weight": ("cat", ["none", "auto"]),
    "threshold_mode": ("cat", ["fixed", "tuned"]),
}


def space(objective: str | None = None) -> dict[str, tuple[str, Any]]:
    """The knobs a study with this objective samples: SPACE, except that the "bce" objective keeps the 0.5
    cut-off (threshold_mode "fixed" only). Held-out cross-entropy cannot see a threshold, so it would pick
    "tuned" (F1-maximizing thresholds, more positives: a worse Hamming loss) at random."""
    if (objective or OBJECTIVE) == "bce":
        return {**SPACE, "threshold_mode": ("cat", ["fixed"])}
    return dict(SPACE)


# Where a fresh study starts (enqueued before the sampler takes over): the shipped defaults' neighbourhood, so a short
# search is never worse than training with the defaults. Knobs left out come from the base config.
WARM_START: list[dict[str, Any]] = [
    {},  # the base config itself (TrainConfig defaults unless the caller changed them)
    # Strong regularization: the best of 19 variants on emotions.csv, worse on a smooth teacher, so a start and not a
    # default (benchmarks/README.md, round 4).
    {"input_noise": 0.6, "weight_decay": 1.0, "dropout": 0.5},
    {"hidden_size": 512, "dropout": 0.5},
    {"learning_rate": 3e-3, "weight_decay": 1e-3},
]


def default_storage(home: str | os.PathLike | None = None) -> str:
    """``sqlite:///<home>/search.db``, home being ``home``, $MULTILABEL_HOME or ./runs (the run store's folder)."""
    from .store import default_home
    folder = Path(home) if home is not None else default_home()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / DB_NAME).resolve()}"


def suggest(trial: optuna.Trial, base: TrainConfig, objective: str | None = None) -> TrainConfig:
    """The trial's TrainConfig: ``base`` with every knob of ``space(objective)`` sampled (decoupled weight decay)."""
    values: dict[str, Any] = {}
    for name, (kind, spec) in space(objective).items():
        if kind == "cat":
            values[name] = trial.suggest_categorical(name, spec)
        elif kind == "log":
            values[name] = trial.suggest_float(name, *spec, log=True)
        else:
            values[name] = trial.suggest_float(name, *spec)
    if "optimizer" in TrainConfig.__dataclass_fields__:
        values["optimizer"] = "adamw"
    return base.replace(**values).validate()


def _metrics(probs: np.ndarray, Y: np.ndarray, thresholds: np.ndarray) -> tuple[float, float]:
    """(Hamming loss, micro-F1) of (n, labels) probabilities cut at per-label thresholds against 0/1 targets."""
    pred = probs >= thresholds
    y = Y > 0.5
    tp, fp, fn = (pred & y).sum(), (pred & ~y).sum(), (~pred & y).sum()
    return float((fp + fn) / Y.size), float(2 * tp / max(2 * tp + fp + fn, 1))


def score_holdout(probs: np.ndarray, Y: np.ndarray, mode: str) -> dict[str, Any]:
    """Hamming loss and micro-F1 of held-out probabilities; ``mode`` "tuned" cross-fits thresholds on two halves.

    ``probs``, ``Y``: (n, labels). Returns hamming, micro_f1, bce (unweighted) and thresholds (tuned on all rows,
    for the final model; 0.5 each when fixed).
    """
    n = len(Y)
    eps = 1e-7
    p = np.clip(probs, eps, 1 - eps)
    bce = float(-(Y * np.log(p) + (1 - Y) * np.log(1 - p)).mean())
    if mode == "tuned" and n >= 4:
        half = np.arange(n) % 2 == 0
        tp = fp = fn = 0
        for a, b in ((half, ~half), (~half, half)):
            cut = np.asarray(tune_thresholds(probs[a], Y[a]), dtype=np.float32)
            pred, y = probs[b] >= cut, Y[b] > 0.5
            tp += (pred & y).sum()
            fp += (pred & ~y).sum()
            fn += (~pred & y).sum()
        thresholds = tune_thresholds(probs, Y)
        return {"hamming": float((fp + fn) / Y.size), "micro_f1": float(2 * tp / max(2 * tp + fp + fn, 1)),
                "bce": bce, "thresholds": thresholds}
    thresholds = [0.5] * Y.shape[1]
    ham, f1 = _metrics(probs, Y, np.asarray(thresholds, dtype=np.float32))
    return {"hamming": ham, "micro_f1": f1, "bce": bce, "thresholds": thresholds}


class _Stopped(Exception):
    """Raised from on_epoch when the caller's stop event is set mid-trial."""


def fold_rows(n: int, val_fraction: float, fold: int) -> np.ndarray:
    """The validation rows of cross-validation fold ``fold`` (0, 1, ...) of ``n`` rows: block ``fold % k`` of the
    ``k = round(1 / val_fraction)`` near-equal disjoint blocks of a shuffle seeded with ``fold // k`` (so folds
    0..k-1 never share a row and together cover every row; fold k starts over on a new shuffle). Sorted indices."""
    k = min(max(2, int(round(1 / val_fraction))), n)
    order = np.random.default_rng(fold // k).permutation(n)
    return np.sort(np.array_split(order, k)[fold % k])


def global_threshold(probs: np.ndarray, Y: np.ndarray) -> float:
    """The one threshold in GLOBAL_THRESHOLDS that minimizes ``(hamming + 1 - micro_f1) / 2`` on ``probs`` (n, labels)
    against 0/1 ``Y``; ties go to the one nearest 0.5. One number fitted on every held-out row and label is far less
    noisy than a threshold per label on small data."""
    y = Y > 0.5
    best: tuple[float, float, float] | None = None
    for t in GLOBAL_THRESHOLDS:
        pred = probs >= t
        tp, fp, fn = (pred & y).sum(), (pred & ~y).sum(), (~pred & y).sum()
        value = ((fp + fn) / Y.size + 1 - 2 * tp / max(2 * tp + fp + fn, 1)) / 2
        key = (round(float(value), 9), abs(t - 0.5), float(t))
        if best is None or key < best:
            best = key
    assert best is not None
    return best[2]


def make_objective(data: Dataset, base: TrainConfig, folds: int,
                   stop: Optional[threading.Event] = None,
                   objective: str | None = None) -> Callable[[optuna.Trial], float]:
    """The study's objective on ``data`` (the training rows only): see the module docstring.

    ``objective``: "bce" (default, OBJECTIVE): the held-out rows' mean binary cross-entropy, averaged over folds;
    "mix": ``(hamming + 1 - micro_f1) / 2`` at the trial's thresholds. Both are recorded as user attributes.
    """
    if folds < 1:
        raise MultilabelError(f"folds must be >= 1, got {folds}")
    target = objective or OBJECTIVE
    if target not in OBJECTIVES:
        raise MultilabelError(f"objective must be one of {', '.join(OBJECTIVES)}, got {target!r}")

    defaults = warm_params(base, {}, target)  # the first warm start's parameters: the trial of the defaults

    def objective(trial: optuna.Trial) -> float:
        config = suggest(trial, base, target)
        with step_threads(run_macs(config, data.num_rows)):
            return run_trial(trial, config)

    def run_trial(trial: optuna.Trial, config: TrainConfig) -> float:
        scores, best_epochs, thresholds, pooled = [], [], [], []
        pruner = MedianCurves(trial)  # the completed trials' curves, read once for the whole trial
        curve: list[list[float]] = []  # [step, validation loss] of every epoch, stored with the trial if it completes
        for fold in range(folds):
            step0 = fold * config.epochs

            def on_epoch(record: dict[str, Any], step0: int = step0) -> None:
                if stop is not None and stop.is_set():
                    raise _Stopped()
                step, value = step0 + record["epoch"], record["val_loss"]
                curve.append([step, value])
                if pruner.should_prune(step, value):
                    trial.report(value, step)  # TPE ranks pruned trials by their last step and value
                    raise optuna.TrialPruned(f"pruned at fold {fold} epoch {record['epoch']}")

            val_idx = fold_rows(data.num_rows, config.val_fraction, fold)
            # Per-label metrics only on the first and last epoch: the trial needs the loss, and the dashboard's
            # per-epoch metrics are a noticeable share of a small trial (benchmarks/README.md).
            result = train(config.replace(seed=fold, eval_every=config.epochs), data, on_epoch=on_epoch, stop=stop,
                           val_rows=val_idx)
            if stop is not None and stop.is_set():
                raise _Stopped()
            probs = result.trained.predict_proba(data.X[val_idx])
            scored = score_holdout(probs, data.Y[val_idx], config.threshold_mode)
            scores.append(scored)
            pooled.append((probs, data.Y[val_idx]))
            best_epochs.append(result.best_epoch)
            thresholds.append(scored["thresholds"])
        hamming = float(np.mean([s["hamming"] for s in scores]))
        micro_f1 = float(np.mean([s["micro_f1"] for s in scores]))
        trial.set_user_attr("hamming", hamming)
        trial.set_user_attr("micro_f1", micro_f1)
        trial.set_user_attr("bce", float(np.mean([s["bce"] for s in scores])))
        trial.set_user_attr("best_epoch", float(np.mean(best_epochs)))
        for key in ("bce", "hamming", "micro_f1"):  # per fold: the spread of the estimate, paired across trials
            trial.set_user_attr(FOLD_ATTR + key, [float(s[key]) for s in scores])
        if trial.params == defaults:
            trial.set_user_attr(DEFAULTS_ATTR, True)
        trial.set_user_attr("thresholds", [float(t) for t in np.mean(thresholds, axis=0)])
        trial.set_user_attr("config", config.to_dict())
        trial.set_user_attr("global_threshold", global_threshold(np.concatenate([p for p, _ in pooled]),
                                                                 np.concatenate([y for _, y in pooled])))
        trial.set_user_attr(CURVE_ATTR, curve)
        trial.report(curve[-1][1], int(curve[-1][0]))  # its last step, as a pruned trial's (study_summary's last_step)
        if target == "bce":
            return float(np.mean([s["bce"] for s in scores]))
        return (hamming + 1.0 - micro_f1) / 2

    return objective


FOLD_ATTR = "fold_"  # fold_bce, fold_hamming, fold_micro_f1: a completed trial's value on each of its folds
DEFAULTS_ATTR = "defaults"  # True on the trial whose parameters are the base config's (the first warm start)
# The best trial is distinguishable from the defaults when its held-out cross-entropy is lower on the same folds by
# more than this many standard errors of the paired per-fold differences (a one-sided t-test at about 2).
DISTINGUISH_T = 2.0


def defaults_trial(study: optuna.Study) -> Optional[optuna.trial.FrozenTrial]:
    """The completed trial of the base config's own parameters (the first warm start), or None."""
    found = [t for t in completed(study) if t.user_attrs.get(DEFAULTS_ATTR)]
    return min(found, key=lambda t: t.number) if found else None


def distinguishable(best: optuna.trial.FrozenTrial, defaults: optuna.trial.FrozenTrial) -> Optional[bool]:
    """Whether ``best`` beats ``defaults`` on the same folds by more than DISTINGUISH_T standard errors of the
    per-fold differences in held-out cross-entropy; False when it is the defaults' trial. None when that cannot be
    told: one fold (no spread), or trials from before the folds' values were kept."""
    if best.number == defaults.number:
        return False
    a, b = best.user_attrs.get(FOLD_ATTR + "bce"), defaults.user_attrs.get(FOLD_ATTR + "bce")
    if not a or not b or len(a) != len(b) or len(a) < 2:
        return None
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)  # > 0: best is better on that fold
    return bool(d.mean() > DISTINGUISH_T * d.std(ddof=1) / math.sqrt(len(d)))


def _spread(values: Any) -> Optional[float]:
    return float(np.std(values, ddof=1)) if values is not None and len(values) > 1 else None


def chosen_trials(study: optuna.Study, members: int = 5, mode: str = "configs", choice: str | None = None
                  ) -> tuple[list[optuna.trial.FrozenTrial], bool, Optional[bool]]:
    """The trials whose configurations ``build_ensemble`` refits, best first: (trials, whether the defaults' trial
    alone was kept by the guard, whether the best trial is distinguishable from the defaults' (None: cannot be told,
    no trial of the defaults or one fold)). ``choice`` (default ENSEMBLE_CHOICE): "best": the best ``members`` but
    any that did worse than the best beyond the folds' noise (``distinguishable``; mode "seeds": the best one);
    "with-defaults": the defaults' configuration and the best ``members`` - 1 others
    (one member, or mode "seeds": the best one); "guarded": the defaults' alone unless the best is distinguishable
    from it, else as "best"."""
    choice = choice or ENSEMBLE_CHOICE
    if choice not in CHOICES:
        raise MultilabelError(f"choice must be one of {', '.join(CHOICES)}, got {choice!r}")
    done = completed(study)
    if not done:
        return [], False, None
    best, defaults = done[0], defaults_trial(study)
    apart = None if defaults is None else distinguishable(best, defaults)
    if choice == "oof" and mode != "seeds":  # the candidates: the best and the defaults' (multilabel.oof selects)
        extra = [defaults] if defaults is not None and defaults.number not in [t.number for t in done[:members]] else []
        return done[:members] + extra, False, apart
    if choice == "guarded" and defaults is not None and apart is False:
        return [defaults], True, apart
    if mode == "seeds":
        return [best], False, apart
    if choice == "with-defaults" and defaults is not None and members > 1:
        return [defaults] + [t for t in done if t.number != defaults.number][:members - 1], False, apart
    # Not a configuration that did worse than the best beyond the folds' noise: after a short or stopped search the
    # best few include such trials, which the mean then pays for. Among a long search's best few it is rare
    # (measured on outer folds: benchmarks/README.md, "Issue 25, continued: ... why teacher misses").
    return [t for t in done[:members] if not distinguishable(best, t)], False, apart


def estimate(study: optuna.Study, choice: str | None = None, members: int = 5, mode: str = "configs"
             ) -> Optional[dict[str, Any]]:
    """What the search ships (``chosen_trials``) and how well it should do on unseen rows: on each CV fold the mean
    of the chosen configurations' held-out Hamming loss and micro-F1, then the mean and standard deviation over folds
    (an ensemble usually does a little better than its members' mean), the defaults' trial's own values, and
    whether the best trial is distinguishable from the defaults'. None before a trial completed."""
    trials, kept, apart = chosen_trials(study, members, mode, choice)
    if not trials:
        return None
    defaults = defaults_trial(study)

    def folds(key: str) -> Optional[np.ndarray]:
        per = [t.user_attrs.get(FOLD_ATTR + key) for t in trials]
        if any(not v or len(v) != len(per[0]) for v in per):
            return None  # trials from before the folds' values were kept
        return np.mean(np.asarray(per, dtype=float), axis=0)

    ham, f1 = folds("hamming"), folds("micro_f1")
    done = completed(study)
    return {"choice": choice or ENSEMBLE_CHOICE, "trials": [t.number for t in trials],
            "best_trial": done[0].number, "completed": len(done),
            "defaults_trial": None if defaults is None else defaults.number, "distinguishable": apart,
            "keeps_defaults": kept,
            "with_defaults": defaults is not None and defaults.number in [t.number for t in trials],
            "hamming": float(np.mean([t.user_attrs["hamming"] for t in trials])), "hamming_sd": _spread(ham),
            "micro_f1": float(np.mean([t.user_attrs["micro_f1"] for t in trials])), "micro_f1_sd": _spread(f1),
            "folds": None if ham is None else len(ham),
            # The defaults' own held-out values on the same folds: what the estimate is to be read against.
            "defaults_hamming": None if defaults is None else float(defaults.user_attrs["hamming"]),
            "defaults_micro_f1": None if defaults is None else float(defaults.user_attrs["micro_f1"])}


# Pruning: Optuna's MedianPruner(n_startup_trials=5, n_warmup_steps=10) rule, applied by MedianCurves.
PRUNE_STARTUP_TRIALS = 5
PRUNE_WARMUP_STEPS = 10
CURVE_ATTR = "curve"  # a completed trial's user attribute: [[step, validation loss], ...] (step = fold x epochs + epoch)


class MedianCurves:
    """Optuna's median pruning rule on a snapshot of the study's completed trials, taken when a trial starts.

    ``optuna.pruners.MedianPruner`` reads every completed trial from the storage at every ``should_prune()`` and
    ``trial.report()`` writes one row per epoch: on an SQLite file a large share of a search's time
    (benchmarks/bench_search_pruning.py, numbers in benchmarks/README.md). Here a trial reads the completed trials
    once and decides locally with the same rule: no pruning before PRUNE_STARTUP_TRIALS trials completed or before
    step PRUNE_WARMUP_STEPS; then prune when the trial's best value so far is above the median of the completed trials'
    values at this step (steps that no completed trial reached never prune). Completed trials keep their curve as
    the user attribute ``curve``; studies from before it are read from their intermediate values. Trials that
    complete while this one runs (another worker's) count from the next trial on.
    """

    def __init__(self, trial: optuna.Trial) -> None:
        done = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        self.best = math.nan  # the trial's lowest value so far (NaN until a value is not NaN, as nanmin)
        self.active = len(done) >= PRUNE_STARTUP_TRIALS
        values: dict[int, list[float]] = {}
        for t in done if self.active else ():
            points = t.user_attrs.get(CURVE_ATTR)
            pairs = ((int(step), float(v)) for step, v in points) if points else t.intermediate_values.items()
            for step, value in pairs:
                values.setdefault(step, []).append(value)
        self.median = {step: float(np.nanmedian(v)) for step, v in values.items()
                       if not all(math.isnan(x) for x in v)}

    def should_prune(self, step: int, value: float) -> bool:
        """Record the trial's ``value`` at ``step`` (steps increasing); whether the trial should stop there."""
        self.best = value if math.isnan(self.best) or value < self.best else self.best
        if not self.active or step < PRUNE_WARMUP_STEPS:
            return False
        if math.isnan(self.best):
            return True
        median = self.median.get(step)
        return median is not None and self.best > median


def _sampler_and_pruner(seed: int | None) -> dict[str, Any]:
    # The study's own pruner is never asked (objectives use MedianCurves); it stays the rule MedianCurves applies.
    return {"sampler": optuna.samplers.TPESampler(seed=seed, n_startup_trials=8),
            "pruner": optuna.pruners.MedianPruner(n_startup_trials=PRUNE_STARTUP_TRIALS,
                                                  n_warmup_steps=PRUNE_WARMUP_STEPS)}


def memory_study(seed: int | None = None, study_name: str = DEFAULT_STUDY) -> optuna.Study:
    """A study kept in this process's memory only (benchmarks, tests, one-off searches)."""
    return optuna.create_study(study_name=study_name, direction="minimize", **_sampler_and_pruner(seed))


def open_study(storage: str | None = None, study_name: str = DEFAULT_STUDY, seed: int | None = None,
               home: str | os.PathLike | None = None) -> optuna.Study:
    """Create or join the study ``study_name`` in ``storage`` (an SQLAlchemy URL; default: the run store's)."""
    url = storage or default_storage(home)
    for attempt in range(OPEN_ATTEMPTS):
        try:
            return optuna.create_study(storage=url, study_name=study_name, direction="minimize", load_if_exists=True,
                                       **_sampler_and_pruner(seed))
        except Exception as exc:
            if _read_only(exc):
                raise MultilabelError(f"the study storage {url!r} is read-only ({_first_line(exc)}); give --storage "
                                      "(or MULTILABEL_HOME) on a disk and folder you can write to") from None
            if not isinstance(exc, (ValueError, ImportError, optuna.exceptions.OptunaError)):
                # SQLAlchemy's errors: a server that is down, a bad password, or a race (workers started together
                # race to create the schema: a UNIQUE violation or 'database is locked'; it is there on a retry)
                if attempt + 1 == OPEN_ATTEMPTS or type(exc).__name__ in ("ArgumentError", "NoSuchModuleError"):
                    raise MultilabelError(f"cannot reach the study storage {url!r} ({type(exc).__name__}: "
                                          f"{str(exc).splitlines()[0][:160]})") from None
                time.sleep(0.2 * (attempt + 1) + random.random() * 0.3)
                continue
            raise MultilabelError(f"cannot open the study {study_name!r} in {url!r} "
                                  f"({str(exc).splitlines()[0][:160]}); give --storage as an SQLAlchemy URL such as "
                                  "sqlite:///search.db") from None
    raise AssertionError("unreachable")


def _read_only(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says the storage cannot be written: a read-only file, folder or disk."""
    seen = 0
    while exc is not None and seen < 5:
        text = str(exc).lower()
        if "readonly" in text or "read-only" in text or "read only" in text:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:160]


def run_search(data: Dataset, base: TrainConfig, study: optuna.Study, trials: int | None = None,
               timeout: float | None = None, folds: int = 3, jobs: int = 1,
               on_trial: Optional[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = None,
               stop: Optional[threading.Event] = None, objective: str | None = None) -> optuna.Study:
    """Run trials of ``study`` on ``data`` until ``trials`` more have run here, ``timeout`` seconds passed, or
    ``stop`` is set. ``base`` gives the fixed knobs (epochs, patience, val_fraction, sizes). ``jobs`` threads.
    ``objective``: see ``make_objective`` (every process working on one study must use the same)."""
    objective_fn = make_objective(data, base, folds, stop, objective)
    if not study.get_trials(deepcopy=False):  # a fresh study: start from the defaults (see WARM_START)
        for changes in WARM_START[:trials]:  # no more than this call runs: none left waiting
            study.enqueue_trial(warm_params(base, changes, objective), skip_if_exists=True)

    def wrapped(trial: optuna.Trial) -> float:
        try:
            return objective_fn(trial)
        except _Stopped:
            trial.study.stop()  # no new trial; this one is recorded as failed (it did not finish)
            raise

    finished = [0]

    def count(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        finished[0] += 1

    callbacks = [count]
    if on_trial is not None:
        callbacks.append(on_trial)
    if stop is not None:
        callbacks.append(lambda s, t: s.stop() if stop.is_set() else None)
    started = time.monotonic()
    while True:
        left = None if trials is None else trials - finished[0]
        budget = None if timeout is None else timeout - (time.monotonic() - started)
        if (left is not None and left <= 0) or (budget is not None and budget <= 0):
            return study
        try:
            study.optimize(wrapped, n_trials=left, timeout=budget, n_jobs=jobs, callbacks=callbacks,
                           catch=(MultilabelError, _Stopped), gc_after_trial=False)
            return study
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError) as exc:
            # SQLite has no row locks, so two processes can both take the same waiting (enqueued) trial; the one that
            # records second gets "Cannot tell a COMPLETE trial", or UpdateFinishedTrialError when the other wrote
            # between Optuna's check and its write. The trial is recorded once, by the other process: carry on with
            # this process's remaining trials.
            lost_race = isinstance(exc, optuna.exceptions.UpdateFinishedTrialError) or "Cannot tell a" in str(exc)
            if not lost_race or (stop is not None and stop.is_set()):
                raise


def run_workers(data: Dataset, base: TrainConfig, study: optuna.Study, storage: str, data_csv: str, labels: str,
                trials: int | None, jobs: int = 1, timeout: float | None = None, folds: int = 3,
                objective: str | None = None, seed: int | None = None, epochs: int | None = None,
                stop: Optional[threading.Event] = None,
                on_trial: Optional[Callable[[optuna.Study, Optional[optuna.trial.FrozenTrial]], None]] = None,
                poll_s: float = 0.5) -> None:
    """``search --jobs J``: run ``trials`` (None: until ``timeout``) of ``study`` with J workers on this machine,
    this process and J-1 ``search`` processes on ``storage`` (``jobs.start_search_helpers``, reading ``data_csv``
    with ``labels``), splitting the trials. Each worker gets its share of the cores as torch threads; this process
    gets every core back on return. ``on_trial`` is called once per trial any worker finishes (with None for the
    helpers' trials, seen every ``poll_s`` seconds). Returns when every worker has ended, also on KeyboardInterrupt
    (re-raised once the helpers, who got the same Ctrl-C, have ended)."""
    import torch

    from . import jobs as processes

    def finished() -> int:
        return sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))

    told = [0]  # trials on_trial has been told of

    def tell(st: optuna.Study, trial: Optional[optuna.trial.FrozenTrial]) -> None:
        told[0] += 1
        if on_trial is not None:
            on_trial(st, trial)

    before = finished()
    shares = processes.split_trials(trials, jobs)
    helpers = processes.start_search_helpers(data_csv, labels, storage, study.study_name, shares[1:], jobs, folds,
                                             timeout, epochs, objective, seed)
    threads = torch.get_num_threads()
    share = processes.search_env(jobs).get("OMP_NUM_THREADS")
    if share:  # this worker's share of the cores, as its helpers'
        torch.set_num_threads(int(share))
    try:
        if shares[0] != 0:
            run_search(data, base, study, trials=shares[0], timeout=timeout, folds=folds, on_trial=tell, stop=stop,
                       objective=objective)
        for helper in helpers:
            while helper.poll() is None:
                for _ in range(finished() - before - told[0]):
                    tell(study, None)
                time.sleep(poll_s)
        for _ in range(finished() - before - told[0]) if helpers else ():  # those that ended after the last poll
            tell(study, None)
    finally:
        for helper in helpers:
            helper.wait()
        torch.set_num_threads(threads)  # the ensemble is built alone: every core again


def warm_params(base: TrainConfig, changes: dict[str, Any], objective: str | None = None) -> dict[str, Any]:
    """``space(objective)`` values of ``base`` with ``changes``, clipped into it (for ``study.enqueue_trial``)."""
    params: dict[str, Any] = {}
    for name, (kind, spec) in space(objective).items():
        value = changes.get(name, getattr(base, name))
        if kind == "cat":
            value = value if value in spec else spec[0]
        else:
            value = min(max(value, spec[0]), spec[1])
        params[name] = value
    return params


def completed(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Completed trials, best (lowest value) first."""
    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.value is not None and "config" in t.user_attrs]
    return sorted(done, key=lambda t: (t.value, t.number))


def build_ensemble(data: Dataset, study: optuna.Study, members: int = 5, mode: str = "configs",
                   stop: Optional[threading.Event] = None, seeds: int = 1,
                   threshold: str = "trial", choice: str = "best",
                   on_progress: Optional[Callable[[dict[str, int]], None]] = None) -> TrainedModel:
    """Refit the best trials on ALL rows of ``data`` and join them into one TrainedModel (mean probabilities).

    ``mode`` "configs": the best ``members`` trials' configurations, each with ``seeds`` seeds (0..seeds-1, trained
    together as one stacked model, multilabel.batched): members x seeds nets; "seeds": the best configuration with
    seeds 0..members-1, trained together. Each net trains for its trial's mean best epoch count. ``threshold``
    "trial": the mean of the trials' thresholds (0.5 for fixed-threshold trials, per label for tuned ones);
    "global": one cut-off for every label, the mean of the trials' ``global_threshold`` (see there); "oof": one
    cut-off for every label, from the chosen configurations' out-of-fold probabilities (``oof_threshold``).
    ``choice`` (``chosen_trials``; the CLI's is ENSEMBLE_CHOICE) "best" (default): the best trials; "with-defaults":
    the defaults' configuration takes the first place; "guarded": when the best trial is not distinguishable from the
    defaults', the defaults' configuration alone with members x seeds seeds (as many nets).
    ``on_progress(counts)`` after each refit epoch and once before the first: ``refit_progress``'s counts.
    """
    best = completed(study)
    if not best:
        raise MultilabelError(f"the study {study.study_name!r} has no completed trial yet; run some trials first")
    if members < 1 or seeds < 1:
        raise MultilabelError(f"members and seeds must be >= 1, got {members} and {seeds}")
    if threshold not in THRESHOLDS:
        raise MultilabelError(f"threshold must be one of {', '.join(THRESHOLDS)}, got {threshold!r}")
    if choice == "oof" and mode != "seeds":
        return build_oof(data, study, members, stop)
    chosen, kept, _ = chosen_trials(study, members, mode, choice)
    guess = estimate(study, choice, members, mode)
    oof_cut = None
    if threshold == "oof":
        oof_cut, at_cut = oof_threshold(data, study, chosen, stop)
        guess = {**(guess or {}), "cut": oof_cut, **at_cut}  # the estimate at the cut-off the ensemble ships
    if kept:  # no trial beat the defaults by more than the fold noise: the defaults, with as many nets as asked
        per_config = members * (1 if mode == "seeds" else seeds)
    else:
        per_config = members if mode == "seeds" else seeds
    fitted: list[TrainedModel] = []
    plan = [max(1, round(t.user_attrs["best_epoch"])) for t in chosen]
    for i, trial in enumerate(chosen):
        if on_progress is not None:
            on_progress(refit_progress(plan, i, 0, per_config, data.num_rows))
        if stop is not None and stop.is_set() and fitted:
            break
        config = TrainConfig.from_dict(trial.user_attrs["config"])
        _check_shape(config, data, trial, study)
        cut = trial.user_attrs["thresholds"]
        if threshold == "global":
            cut = [float(np.mean([t.user_attrs.get("global_threshold", 0.5) for t in chosen]))] * data.Y.shape[1]
        elif oof_cut is not None:
            cut = [oof_cut] * data.Y.shape[1]
        epochs = plan[i]
        tick = (None if on_progress is None else
                lambda epoch, i=i: on_progress(refit_progress(plan, i, epoch, per_config, data.num_rows)))
        with step_threads(per_config * run_macs(config, data.num_rows)):  # the stacked nets' step, all of them
            if per_config == 1:  # one net: the plain refit (its seed is the member's index, as before)
                fitted.append(refit(config.replace(seed=i), data, epochs, thresholds=cut, stop=stop, on_epoch=tick))
            else:  # k seeds of one configuration trained together as one stacked model (multilabel.batched)
                fitted += refit_seeds(config, data, epochs, [i * per_config + s for s in range(per_config)],
                                      thresholds=cut, stop=stop, on_epoch=tick)
    return ensemble(fitted, {"study": study.study_name,  # the trial of every net, in order
                             "trials": [t.number for t in chosen for _ in range(per_config)][:len(fitted)],
                             "seeds_per_trial": per_config, "threshold": threshold, "cut": oof_cut,
                             "cv_value": chosen[0].value, "cv_hamming": chosen[0].user_attrs["hamming"],
                             "cv_micro_f1": chosen[0].user_attrs["micro_f1"], "choice": choice,
                             "estimate": guess})


def refit_progress(plan: list[int], index: int, epoch: int, per_config: int, rows: int) -> dict[str, int]:
    """Where ``build_ensemble``'s refit on ``rows`` rows stands: configuration ``index`` (0-based) of ``plan`` (each
    configuration's epoch count) has trained ``epoch`` epochs. Counts: epochs done and in all (a configuration's
    ``per_config`` nets train together, so its epochs count once), the configuration being trained (1-based),
    configurations, nets, rows."""
    return {"epochs_done": sum(plan[:index]) + epoch, "epochs": sum(plan), "config": index + 1,
            "configs": len(plan), "nets": len(plan) * per_config, "rows": rows}


def oof_threshold(data: Dataset, study: optuna.Study, chosen: list[optuna.trial.FrozenTrial],
                  stop: Optional[threading.Event] = None) -> tuple[float, dict[str, Any]]:
    """``threshold`` "oof" of ``build_ensemble``: the ``chosen`` trials' configurations trained once per CV fold
    (``oof_bags``), their out-of-fold probabilities averaged alike, cut at ``oof.safe_threshold`` (the best micro-F1
    at no more Hamming loss than 0.5 gives there). Returns (the cut, ``oof.oof_metrics`` of the mix at it: Hamming
    loss and micro-F1 on each CV fold's held-out rows, mean and spread)."""
    from . import oof
    _, bags = oof_bags(data, study, stop=stop, trials=chosen)
    mix = np.mean([b.oof for b in bags], axis=0)
    seen = ~np.isnan(mix).any(axis=1)
    cut = oof.safe_threshold(mix[seen], data.Y[seen], GLOBAL_THRESHOLDS)
    val_fraction = bags[0].nets[0].config.val_fraction
    folds = [rows[seen[rows]] for rows in (fold_rows(data.num_rows, val_fraction, f) for f in range(len(bags[0].nets)))]
    return cut, oof.oof_metrics(mix, data.Y, cut, folds)


def oof_bags(data: Dataset, study: optuna.Study, members: int = 5, stop: Optional[threading.Event] = None,
             trials: Optional[list[optuna.trial.FrozenTrial]] = None
             ) -> tuple[list[optuna.trial.FrozenTrial], list[Any]]:
    """The "oof" ensemble's candidates (the best ``members`` trials and the defaults'; or ``trials``) and each
    one's ``multilabel.oof.FoldBag``: its configuration trained once per CV fold of its trial."""
    from . import oof
    candidates = trials if trials is not None else chosen_trials(study, members, "configs", "oof")[0]
    bags: list[oof.FoldBag] = []
    for trial in candidates:
        if stop is not None and stop.is_set() and bags:
            break
        config = TrainConfig.from_dict(trial.user_attrs["config"])
        _check_shape(config, data, trial, study)
        bags.append(oof.fold_bag(config, data, len(trial.user_attrs.get(FOLD_ATTR + "bce") or [0, 0, 0]), stop))
    return candidates[:len(bags)], bags


def build_oof(data: Dataset, study: optuna.Study, members: int = 5, stop: Optional[threading.Event] = None,
              cut: str = "safe", select: str = "greedy",
              bags: Optional[tuple[list[optuna.trial.FrozenTrial], list[Any]]] = None) -> TrainedModel:
    """The "oof" ensemble (``multilabel.oof``): the best ``members`` trials' configurations and the defaults' each
    trained once per CV fold of its trial (``oof_bags``, or ``bags`` already trained), a mix of them chosen on their
    out-of-fold probabilities (``select`` "greedy": ``members`` greedy picks; "uniform": the best ``members`` alike),
    cut at one threshold chosen on the mix's out-of-fold probabilities: ``cut`` "safe" (``oof.safe_threshold``: the
    best micro-F1 at no more Hamming loss than 0.5 gives), "mix" (``global_threshold``), "half" (0.5)."""
    from . import oof
    candidates, fitted = bags or oof_bags(data, study, members, stop)
    seen = ~np.isnan(np.stack([b.oof for b in fitted])).any(axis=(0, 2))  # rows every candidate held out
    if select == "greedy":
        counts = oof.greedy_select([b.oof[seen] for b in fitted], data.Y[seen], members)
    else:
        counts = [1 if i < members else 0 for i in range(len(fitted))]
    mix = sum(c * b.oof for c, b in zip(counts, fitted)) / sum(counts)
    if cut not in ("safe", "mix", "half"):
        raise MultilabelError(f"cut must be safe, mix or half, got {cut!r}")
    threshold = {"safe": lambda: oof.safe_threshold(mix[seen], data.Y[seen], GLOBAL_THRESHOLDS),
                 "mix": lambda: global_threshold(mix[seen], data.Y[seen]), "half": lambda: 0.5}[cut]()
    standardizer = Standardizer.fit(data.X)
    nets, configs, numbers = [], [], []
    for c, bag, trial in zip(counts, fitted, candidates):
        for net in bag.nets if c else ():
            nets += [oof.restandardize(net, standardizer)] * c  # picked c times: weighs c times in the mean
            configs += [net.config] * c
            numbers += [trial.number] * c
    held = (fold_rows(data.num_rows, fitted[0].nets[0].config.val_fraction, f) for f in range(len(fitted[0].nets)))
    folds = [rows[seen[rows]] for rows in held]
    first = fitted[0].nets[0]
    return TrainedModel(model=nets[0], config=configs[0], feature_names=list(first.feature_names),
                        label_names=list(first.label_names), standardizer=standardizer,
                        thresholds=[float(threshold)] * data.Y.shape[1],
                        metrics={"members": len(nets), "study": study.study_name, "trials": numbers,
                                 "choice": "oof", "candidates": [t.number for t in candidates], "weights": counts,
                                 "threshold": float(threshold), "cv_value": candidates[0].value,
                                 "estimate": estimate(study, "oof", members),
                                 "oof": oof.oof_metrics(mix, data.Y, float(threshold), folds)},
                        members=nets[1:], member_configs=configs[1:])


def _check_shape(config: TrainConfig, data: Dataset, trial: optuna.trial.FrozenTrial, study: optuna.Study) -> None:
    if config.input_size != data.X.shape[1] or config.num_outputs != data.Y.shape[1]:
        raise MultilabelError(f"trial {trial.number} of study {study.study_name!r} was run on data of another "
                              "shape; use a new --study name for this data")


def ensemble(models: list[TrainedModel], metrics: dict[str, Any] | None = None) -> TrainedModel:
    """One TrainedModel from several trained on the same rows (same standardizer): probabilities averaged."""
    first = models[0]
    for m in models[1:]:
        if m.feature_names != first.feature_names or m.label_names != first.label_names or not (
                np.array_equal(m.standardizer.mean, first.standardizer.mean)
                and np.array_equal(m.standardizer.std, first.standardizer.std)):
            raise MultilabelError("ensemble members must be trained on the same rows and columns")
    thresholds = [float(t) for t in np.mean([m.thresholds for m in models], axis=0)]
    return TrainedModel(model=first.model, config=first.config, feature_names=list(first.feature_names),
                        label_names=list(first.label_names), standardizer=first.standardizer, thresholds=thresholds,
                        metrics={"members": len(models), **(metrics or {})},
                        members=[m.model for m in models[1:]], member_configs=[m.config for m in models[1:]])


def study_summary(storage: str | None, study_name: str = DEFAULT_STUDY, members: int = 5) -> dict[str, Any]:
    """A plain dict of a study for tables and charts: counts by state, the best trial, and every trial's
    number, state, value, params, cross-validated hamming / micro_f1, best epoch and duration (seconds); ``estimate``
    (see there) says what the CLI's ensemble of ``members`` would be chosen from and how well it should score."""
    url = storage or default_storage()
    try:
        study = optuna.load_study(study_name=study_name, storage=url)
    except KeyError:
        raise MultilabelError(f"no study {study_name!r} in {url!r}") from None
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({"number": t.number, "state": t.state.name, "value": t.value, "params": dict(t.params),
                     "hamming": t.user_attrs.get("hamming"), "micro_f1": t.user_attrs.get("micro_f1"),
                     "best_epoch": t.user_attrs.get("best_epoch"),
                     "duration_s": t.duration.total_seconds() if t.duration is not None else None,
                     "last_step": t.last_step})
    states: dict[str, int] = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    done = [r for r in rows if r["state"] == "COMPLETE" and r["value"] is not None]
    best = min(done, key=lambda r: r["value"]) if done else None
    return {"study": study_name, "storage": url, "n_trials": len(rows), "states": states, "best": best,
            "trials": rows, "estimate": estimate(study, members=max(1, members))}


MIN_IMPORTANCE_TRIALS = 8  # hyperparameter importance means little before this many completed trials
_STORAGES: dict[str, Any] = {}  # one storage per URL in this process: no new engine on every poll


def cached_storage(url: str) -> Any:
    """One storage per URL in this process, kept for its polls: an ``RDBStorage`` (creating one costs an engine and a
    schema check) behind Optuna's own cache of finished trials, the storage ``optuna.load_study(storage=url)`` builds
    (``optuna.storages.get_storage``), so that a poll reads only the trials that were running or are new since the
    last one. Without it a poll decoded every trial again, seconds for the study a 5-minute search reaches
    (benchmarks/README.md, "The Search page's reads")."""
    if url not in _STORAGES:
        _STORAGES[url] = optuna.storages.get_storage(url)
    return _STORAGES[url]


def param_importances(storage: Any, study_name: str, seed: int = 0) -> dict[str, float]:
    """fANOVA importance of each hyperparameter for the objective (sums to 1), over completed trials.

    Raises MultilabelError when fewer than MIN_IMPORTANCE_TRIALS trials have completed or when the completed
    trials cannot separate the parameters (e.g. all share one value).
    """
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances
    study = optuna.load_study(study_name=study_name, storage=storage)
    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    if len(done) < MIN_IMPORTANCE_TRIALS:
        raise MultilabelError(f"importance needs {MIN_IMPORTANCE_TRIALS} completed trials; {len(done)} so far")
    try:
        return get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed))
    except (ValueError, RuntimeError) as exc:
        raise MultilabelError(f"importance cannot be computed yet ({str(exc).splitlines()[0][:120]})") from None


__all__ = ["CHOICES", "MIN_IMPORTANCE_TRIALS", "SPACE", "THRESHOLDS", "build_ensemble", "build_oof", "cached_storage",
           "chosen_trials", "completed", "default_storage", "defaults_trial", "distinguishable", "ensemble", "estimate",
           "fold_rows", "global_threshold", "make_objective", "memory_study", "oof_bags", "oof_threshold", "open_study",
           "param_importances", "refit_progress", "run_search", "score_holdout", "space", "study_summary", "suggest"]
