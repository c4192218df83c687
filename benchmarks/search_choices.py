"""Which ensemble to build from one search, measured paired on outer folds (issue 25).

For every outer fold of benchmarks/suite.py's datasets (RepeatedKFold, --seed), one in-memory search runs on the
training fold only (--budget seconds, 3 CV folds per trial, one process), then several ensembles are built from the
same study and scored on the outer fold, with the shipped defaults (train + refit, one seed) and the tuned RBF SVM on
the same folds:
  best        the best 5 configurations x 3 seeds (what the search shipped before issue 25)
  guarded     the defaults' configuration x 15 seeds unless the best trial is distinguishable from it (shipped now)
  with-defaults  the defaults' configuration and the best 4 others, x 3 seeds each
  defaults15  the defaults' configuration x 15 seeds, whatever the search found
  oof         the best 5 and the defaults' configurations trained once per CV fold, mixed greedily on their
              out-of-fold probabilities, cut at the best micro-F1 at no Hamming cost there (search.build_oof)
  oof-mix     the same nets, cut at search.global_threshold of their out-of-fold probabilities
  oof-half    the same nets, cut at 0.5
  bag5        the best 5 configurations' fold nets alike, cut as ``oof``
  best-cut    ``best``, cut at bag5's out-of-fold threshold

    python benchmarks/search_choices.py --datasets teacher,emotions --budget 20 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import optuna  # noqa: E402
import torch  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from sklearn.metrics import f1_score, hamming_loss  # noqa: E402
from sklearn.model_selection import RepeatedKFold  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import suite  # noqa: E402
from multilabel import TrainConfig, search  # noqa: E402
from multilabel.batched import refit_seeds  # noqa: E402

CHOICES = ("best", "guarded", "with-defaults", "defaults15", "oof", "oof-mix", "oof-half", "bag5", "best-cut")


def _members(data, trials, seeds: int):
    fitted = []
    for i, t in enumerate(trials):
        config = TrainConfig.from_dict(t.user_attrs["config"])
        fitted += refit_seeds(config, data, max(1, round(t.user_attrs["best_epoch"])),
                              [i * seeds + s for s in range(seeds)], thresholds=t.user_attrs["thresholds"])
    return search.ensemble(fitted)


def run_fold(ds: str, fold: int, tr, te, budget: float, seed: int, methods=CHOICES) -> list[dict]:
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    X, Y = suite.DATASETS[ds][0]()
    data = suite._dataset(X, Y, ds)
    train = suite._subset(data, tr)
    Yte = data.Y[te].astype(int)
    out = []

    def score(method: str, pred, **extra) -> None:
        out.append({"dataset": ds, "fold": fold, "method": method, "hamming": float(hamming_loss(Yte, pred)),
                    "micro_f1": float(f1_score(Yte, pred, average="micro", zero_division=0)), **extra})

    with threadpool_limits(limits=1):
        score("defaults", suite.fit_ours({}, train, data.X[te], seed, False))
        score("svm", suite.fit_svm(train, data.X[te], seed))
        study = search.memory_study(seed=seed)
        base = TrainConfig(input_size=train.X.shape[1], num_outputs=train.Y.shape[1])
        t0 = time.perf_counter()
        search.run_search(train, base, study, timeout=budget, folds=3)
        est = search.estimate(study, "guarded")
        done, defaults = search.completed(study), search.defaults_trial(study)
        others = [t for t in done if defaults is None or t.number != defaults.number]
        bags = search.oof_bags(train, study, members=5) if set(CHOICES[4:]) & set(methods) else None
        for method in methods:
            if method == "oof":
                model = search.build_oof(train, study, members=5, bags=bags)
            elif method == "oof-mix":
                model = search.build_oof(train, study, members=5, bags=bags, cut="mix")
            elif method == "oof-half":
                model = search.build_oof(train, study, members=5, bags=bags, cut="half")
            elif method == "bag5":
                model = search.build_oof(train, study, members=5, bags=bags, select="uniform")
            elif method == "best-cut":
                model = search.build_ensemble(train, study, members=5, seeds=3, choice="best")
                cut = search.build_oof(train, study, members=5, bags=bags, select="uniform").thresholds
                model.thresholds = list(cut)
            elif method in ("best", "guarded"):
                model = search.build_ensemble(train, study, members=5, seeds=3, choice=method)
            elif method == "with-defaults":
                model = _members(train, ([defaults] if defaults else []) + others[:4], 3)
            else:
                model = _members(train, [defaults or done[0]], 15)
            pred = (model.predict_proba(data.X[te]) >= np.asarray(model.thresholds, dtype=np.float32)).astype(int)
            score(method, pred, estimate=est, complete=len(done), trials=len(study.get_trials()),
                  weights=model.metrics.get("weights"), cut=model.thresholds[0])
        print(f"{ds} fold {fold}: {time.perf_counter() - t0:.0f} s, {len(done)} complete, kept defaults: "
              f"{est['keeps_defaults']}; " + ", ".join(f"{r['method']} {r['hamming']:.4f}/{r['micro_f1']:.3f}"
                                                       for r in out), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(suite.DATASETS))
    parser.add_argument("--cv", default="1x3")
    parser.add_argument("--budget", type=float, default=20.0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--methods", default=",".join(CHOICES), help="which ensembles [default: all]")
    args = parser.parse_args()
    repeats, k = map(int, args.cv.split("x"))
    tasks = []
    for ds in args.datasets.split(","):
        X, _ = suite.DATASETS[ds][0]()
        for f, (tr, te) in enumerate(RepeatedKFold(n_splits=k, n_repeats=repeats, random_state=args.seed).split(X)):
            tasks.append((ds, f, tr, te))
    rows = [r for rs in Parallel(n_jobs=args.jobs)(delayed(run_fold)(ds, f, tr, te, args.budget, args.seed + f,
                                                                     args.methods.split(","))
                                                   for ds, f, tr, te in tasks) for r in rs]
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        for m in ("defaults", "svm", *args.methods.split(",")):
            mine = [r for r in rows if r["dataset"] == ds and r["method"] == m]
            h, f = [r["hamming"] for r in mine], [r["micro_f1"] for r in mine]
            sd = (lambda v: statistics.stdev(v) if len(v) > 1 else 0.0)
            print(f"{ds:16s} {m:14s} {statistics.mean(h):.4f} ± {sd(h):.4f}  {statistics.mean(f):.4f} ± {sd(f):.4f}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "args": vars(args)}, indent=1, default=str))


if __name__ == "__main__":
    main()
