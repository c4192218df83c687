"""The ensemble's cut-off and mix from out-of-fold predictions, measured paired on outer folds (issue 25).

``--run``: for every outer fold of benchmarks/suite.py's datasets (RepeatedKFold 1x3, --seed), one in-memory search of
--trials trials (3 CV folds each, one process, one thread: the same work whatever the machine's load) on the
training fold only; then the shipped defaults (train + refit, one seed), the tuned RBF SVM, the search's "best"
ensemble (5 configurations x 3 seeds refit on all rows) and the fold nets of its candidates (``search.oof_bags``: the
best 5 and the defaults' configurations, each trained once per CV fold) are scored on the held-out outer fold. The
probabilities (outer fold and out-of-fold) go to one .npz per fold in --out, so ``--report`` can compare rules
without training again:
  best-half    "best" cut at 0.5 (``--threshold trial``: what the search shipped before)
  best-oof     "best" cut at ``oof.safe_threshold`` of its 5 configurations' out-of-fold mix (``--threshold oof``)
  bag5-half / bag5-oof      the 5 configurations' fold nets alike, cut at 0.5 / as best-oof
  greedy-half / greedy-oof  the fold nets mixed by ``oof.greedy_select`` (``--choose oof``), cut at 0.5 / safe
  best-f1gain  "best" cut as best-oof, but moved from 0.5 only for a micro-F1 gain of 0.02 on the mix
  best-shrunk  "best" cut halfway between 0.5 and best-oof's cut
  best-perlabel  "best" cut per label, each at its fewest out-of-fold errors

    python benchmarks/search_cuts.py --run --datasets teacher,emotions --trials 20 --out /tmp/cuts
    python benchmarks/search_cuts.py --report --out /tmp/cuts

``--from-cli DIR``: the same files from the folds that ``search_cli_cv.py --keep DIR`` kept (the CLI's search and its
shipped ensemble on each outer training fold): no new search, the candidates' fold nets trained again from the
study, the defaults and the SVM fitted on the same rows; then ``--report`` on them.

    python benchmarks/search_cuts.py --from-cli /tmp/cli-folds --out /tmp/cli-cuts
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import optuna  # noqa: E402
import torch  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from sklearn.model_selection import RepeatedKFold  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import suite  # noqa: E402
from multilabel import TrainConfig, oof, search  # noqa: E402

SHOW = ("defaults", "svm", "best-half", "best-oof", "greedy-oof")


def run_fold(out: Path, ds: str, fold: int, tr: np.ndarray, te: np.ndarray, trials: int, seed: int) -> None:
    path = out / f"{ds}-{fold}.npz"
    if path.exists():  # a run cut short starts again where it stopped
        return
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    X, Y = suite.DATASETS[ds][0]()
    data = suite._dataset(X, Y, ds)
    train = suite._subset(data, tr)
    X_te = data.X[te]
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        defaults = suite.fit_ours({}, train, X_te, seed, False)
        svm = suite.fit_svm(train, X_te, seed)
        study = search.memory_study(seed=seed)
        search.run_search(train, TrainConfig(input_size=train.X.shape[1], num_outputs=train.Y.shape[1]), study,
                          trials=trials, folds=3)
        best = search.build_ensemble(train, study, members=5, seeds=3, choice="best", threshold="trial")
        candidates, bags = search.oof_bags(train, study, members=5)
        tests = np.stack([np.mean([net.predict_proba(X_te) for net in b.nets], axis=0) for b in bags])
    np.savez(path, Y_te=data.Y[te], Y_tr=train.Y, defaults=defaults, svm=svm, best=best.predict_proba(X_te),
             oofs=np.stack([b.oof for b in bags]), tests=tests, complete=len(search.completed(study)))
    print(f"{ds} fold {fold}: {time.perf_counter() - t0:.0f} s, {len(search.completed(study))} complete trials, "
          f"{len(candidates)} candidates", flush=True)


def from_cli(out: Path, folder: Path) -> None:
    """``run_fold``'s file for one fold that search_cli_cv.py kept (``folder``: train.csv, test.csv, runs/ with the
    study, ensemble.pt): the CLI's study and shipped ensemble, not a new search."""
    import pandas as pd

    from multilabel import load_checkpoint
    from multilabel.data import load_csv
    path = out / f"{folder.name}.npz"
    if path.exists():
        return
    torch.set_num_threads(1)
    fold = int(folder.name.rsplit("-", 1)[1])
    test = pd.read_csv(folder / "test.csv")
    labels = [c for c in test.columns if c.startswith("y")]
    train = load_csv(folder / "train.csv", labels)
    X_te = test[train.feature_names].to_numpy(np.float32)
    study = optuna.load_study(study_name=search.DEFAULT_STUDY, storage=search.default_storage(folder / "runs"))
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        defaults = suite.fit_ours({}, train, X_te, fold, False)
        svm = suite.fit_svm(train, X_te, fold)
        best = load_checkpoint(folder / "ensemble.pt").predict_proba(X_te)
        candidates, bags = search.oof_bags(train, study, members=5)
        tests = np.stack([np.mean([net.predict_proba(X_te) for net in b.nets], axis=0) for b in bags])
    np.savez(path, Y_te=test[labels].to_numpy(np.float32), Y_tr=train.Y, defaults=defaults, svm=svm, best=best,
             oofs=np.stack([b.oof for b in bags]), tests=tests, complete=len(search.completed(study)))
    print(f"{folder.name}: {time.perf_counter() - t0:.0f} s, {len(candidates)} candidates", flush=True)


def _scores(probs: np.ndarray, Y: np.ndarray, cut: float) -> tuple[float, float]:
    return search._metrics(probs, Y, np.full(Y.shape[1], cut, dtype=np.float32))


def fold_rows(path: Path) -> dict[str, tuple[float, float]]:
    z = np.load(path)
    Y_te, Y_tr, oofs, tests = z["Y_te"], z["Y_tr"], z["oofs"], z["tests"]
    seen = ~np.isnan(oofs).any(axis=(0, 2))
    held, Y = oofs[:, seen], Y_tr[seen]
    k = min(5, len(held))
    counts = oof.greedy_select(list(held), Y, 5)
    w = np.asarray(counts, dtype=float) / sum(counts)
    out = {"defaults": _scores(z["defaults"].astype(np.float32), Y_te, 0.5),
           "svm": _scores(z["svm"].astype(np.float32), Y_te, 0.5)}
    for name, test, mix in (("best", z["best"], held[:k].mean(0)), ("bag5", tests[:k].mean(0), held[:k].mean(0)),
                            ("greedy", np.tensordot(w, tests, 1), np.tensordot(w, held, 1))):
        out[f"{name}-half"] = _scores(test, Y_te, 0.5)
        out[f"{name}-oof"] = _scores(test, Y_te, oof.safe_threshold(mix, Y, search.GLOBAL_THRESHOLDS))
    # Stricter and per-label rules for "best"'s cut, on the same out-of-fold mix (screened 2026-12-06 night)
    mix, test = held[:k].mean(0), z["best"]
    out["best-f1gain"] = _scores(test, Y_te, _cut(mix, Y, f1_gain=0.02))
    out["best-shrunk"] = _scores(test, Y_te, 0.5 + 0.5 * (oof.safe_threshold(mix, Y, search.GLOBAL_THRESHOLDS) - 0.5))
    out["best-perlabel"] = search._metrics(test, Y_te, _per_label_cuts(mix, Y))
    return out


def _cut(mix: np.ndarray, Y: np.ndarray, f1_gain: float) -> float:
    """``oof.safe_threshold``, moving from 0.5 only for a micro-F1 gain of at least ``f1_gain`` on the mix."""
    ham5, f15 = _scores(mix, Y, 0.5)
    best = (-f15, 0.0, 0.5)
    for t in search.GLOBAL_THRESHOLDS:
        ham, f1 = _scores(mix, Y, t)
        if ham <= ham5 + 1e-12 and f1 >= f15 + f1_gain:
            best = min(best, (-round(f1, 9), abs(t - 0.5), float(t)))
    return best[2]


def _per_label_cuts(mix: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Each label's own cut: the one with the fewest out-of-fold errors (its Hamming loss), ties nearest 0.5."""
    cuts = np.full(Y.shape[1], 0.5, dtype=np.float32)
    for j in range(Y.shape[1]):
        y = Y[:, j] > 0.5
        errors = lambda t: int(((mix[:, j] >= t) != y).sum())  # noqa: E731
        cuts[j] = min(search.GLOBAL_THRESHOLDS + (0.5,), key=lambda t: (errors(t), abs(t - 0.5)))
    return cuts


def report(out: Path) -> None:
    rows: dict[str, list[dict[str, tuple[float, float]]]] = {}
    for path in sorted(out.glob("*.npz")):
        rows.setdefault(path.stem.rsplit("-", 1)[0], []).append(fold_rows(path))
    sd = (lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else float("nan"))
    print("| dataset | folds | " + " | ".join(f"`{m}`" for m in SHOW) + " |")
    print("|---" * (len(SHOW) + 2) + "|")
    wins: dict[str, list[int]] = {}
    for ds, folds in rows.items():
        cells = []
        d = np.array([f["defaults"] for f in folds]).mean(0)
        s = np.array([f["svm"] for f in folds]).mean(0)
        for m in folds[0]:
            v = np.array([f[m] for f in folds])
            h, f1 = v.mean(0)
            wins.setdefault(m, [0, 0])
            wins[m][0] += bool(h < d[0] and f1 > d[1])
            wins[m][1] += bool(h < s[0] and f1 > s[1])
            if m in SHOW:
                cells.append(f"{h:.4f} ± {sd(v[:, 0]):.4f} / {f1:.4f} ± {sd(v[:, 1]):.4f}")
        print(f"| {ds} | {len(folds)} | " + " | ".join(cells) + " |")
    print(f"\ndatasets (of {len(rows)}) better than the one-seed defaults / than the SVM on both metrics:")
    for m, (a, b) in wins.items():
        print(f"  {m:12s} {a} / {b}")
    for m in ("best-oof", "bag5-oof", "greedy-oof", "greedy-half", "best-f1gain", "best-shrunk", "best-perlabel"):
        d = np.concatenate([[np.subtract(f[m], f["best-half"]) for f in folds] for folds in rows.values()])
        print(f"{m} - best-half, paired over {len(d)} folds: Hamming {d[:, 0].mean():+.4f} (lower on "
              f"{int((d[:, 0] < 0).sum())}, higher on {int((d[:, 0] > 0).sum())}), micro-F1 {d[:, 1].mean():+.4f} "
              f"(higher on {int((d[:, 1] > 0).sum())}, lower on {int((d[:, 1] < 0).sum())})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="store_true", help="search and score the folds (writes --out)")
    parser.add_argument("--report", action="store_true", help="the tables from --out")
    parser.add_argument("--datasets", default=",".join(suite.DATASETS))
    parser.add_argument("--trials", type=int, default=20, help="trials per search [default: 20]")
    parser.add_argument("--jobs", type=int, default=2, help="folds at once [default: 2]")
    parser.add_argument("--seed", type=int, default=1, help="the outer folds' RepeatedKFold seed [default: 1]")
    parser.add_argument("--out", type=Path, required=True, help="folder of the per-fold .npz files")
    parser.add_argument("--from-cli", type=Path, metavar="DIR", help="the folds search_cli_cv.py --keep DIR kept")
    args = parser.parse_args()
    if args.run:
        args.out.mkdir(parents=True, exist_ok=True)
        tasks = []
        for ds in args.datasets.split(","):
            X, _ = suite.DATASETS[ds][0]()
            for f, (tr, te) in enumerate(RepeatedKFold(n_splits=3, n_repeats=1, random_state=args.seed).split(X)):
                tasks.append((ds, f, tr, te))
        Parallel(n_jobs=args.jobs)(delayed(run_fold)(args.out, ds, f, tr, te, args.trials, f)
                                   for ds, f, tr, te in tasks)
    if args.from_cli:
        args.out.mkdir(parents=True, exist_ok=True)
        kept = sorted(p for p in args.from_cli.iterdir() if (p / "ensemble.pt").is_file())
        Parallel(n_jobs=args.jobs)(delayed(from_cli)(args.out, folder) for folder in kept)
    if args.report or not (args.run or args.from_cli):
        report(args.out)


if __name__ == "__main__":
    main()
