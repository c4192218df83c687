"""Quality suite: candidate TrainConfig defaults vs scikit-learn's MLPClassifier vs a tuned RBF SVM, across datasets.

Datasets (every one multi-label, features numeric):
  emotions       tests/data/emotions.csv (593 rows, 72 features, 6 labels), the one real file we ship
  mlc-*          sklearn.datasets.make_multilabel_classification: bag-of-words-like count features, different sizes,
                 label counts, label densities (n_labels) and noise (extra irrelevant features, label flips)
  teacher-*      multilabel.make_synthetic: a hidden tanh teacher net, correlated neighbouring labels, rare tail labels
  corr-rare      make_multilabel_classification with extra labels that are AND/OR of others (strong label
                 correlation) and rare labels (1-3% positives)
  few-rows-wide  300 rows x 1,200 count features (1,000 of them noise), 8 labels
  long-tail      2,000 rows x 120 features, 40 labels: 12 common ones and 28 rare ones (10% down to 0.5% positives)
Sizes go from 300 to 20,000 rows (the 20,000-row one only in --full) and 10 to 1,200 features.

Every dataset is scored by repeated k-fold CV (emotions: 5x5 in --full, the others 2x3; --quick: 1x3 everywhere):
each method is fitted on the k-1 training folds only and scored on the held-out fold with sklearn.metrics
(Hamming loss, lower is better; micro-F1, higher is better). Methods:
  ours:<name>        multilabel.train(TrainConfig(**candidate)) on the training folds (it holds out its own
                     validation rows for early stopping), then refit.refit_result (as the worker does; the named
                     candidates pin refit="none", "default" is the shipped TrainConfig, which refits), then
                     predict_proba >= the model's thresholds
  ours:<name>+refit  the same with refit="all": retrained on ALL training-fold rows for the best epoch count
  sk-mlp             StandardScaler + MLPClassifier(128, early_stopping=True)
  search             multilabel.search for --search-budget seconds on the training folds, then its ensemble
                     (the best --search-members configurations refit on all training-fold rows)
  search-seeds       the same search; the ensemble is the best configuration with --search-members seeds
  search:O:S:T[:C]   the same search with objective O (bce | mix), then the best --search-members configurations
                     x S seeds each, cut at threshold T (trial | global); e.g. search:bce:3:global; C: the ensemble's
                     configurations, best | with-defaults | guarded (search.chosen_trials; issue 25)
  search-cli         what `python -m multilabel search` ships: 3 CV folds per trial, search.ENSEMBLE_SEEDS seeds,
                     ENSEMBLE_THRESHOLD, ENSEMBLE_CHOICE (benchmarks/search_cli_cv.py runs the CLI itself)
  svm                StandardScaler + per label GridSearchCV(SVC(rbf), C in SVM_C, inner 3-fold) (binary relevance, as
                     MultiOutputClassifier does, but a label constant in a fold predicts that constant):
                     binary relevance, C chosen per label on the training folds only
Per dataset every method gets a rank on each metric (1 = best, ties share); the summary shows the mean rank over
datasets and metrics, and the worst case: the largest Hamming excess and micro-F1 shortfall against the best
method of that dataset. CPU, one torch thread and one BLAS thread per process; --jobs processes (default 2).

    python benchmarks/suite.py --quick            # about 5 minutes on 2 cores
    python benchmarks/suite.py                    # all candidates, 2x3 CV (emotions 5x5)
    python benchmarks/suite.py --full             # adds the 20,000-row dataset
    python benchmarks/suite.py --methods ours:new,svm --datasets emotions --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from sklearn.datasets import make_multilabel_classification  # noqa: E402
from sklearn.metrics import f1_score, hamming_loss  # noqa: E402
from sklearn.model_selection import GridSearchCV, RepeatedKFold  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import multilabel  # noqa: E402
from multilabel import Dataset, TrainConfig  # noqa: E402
from multilabel.refit import refit_result  # noqa: E402

EMOTIONS = Path(__file__).resolve().parents[1] / "tests" / "data" / "emotions.csv"
SVM_C = (0.5, 2.0, 8.0)
SVM_C_QUICK = (1.0, 4.0)

# The old defaults are pinned here (not read from TrainConfig) so the comparison survives changing the defaults.
CANDIDATES: dict[str, dict[str, Any]] = {
    "old": dict(hidden_size=64, batch_size=32, learning_rate=3e-3, weight_decay=1e-4, dropout=0.0, patience=20,
                threshold_mode="fixed"),
    "w256": dict(hidden_size=256, batch_size=0, learning_rate=1e-3, weight_decay=1e-4, dropout=0.3, patience=20,
                 threshold_mode="fixed"),
    "w512": dict(hidden_size=512, batch_size=0, learning_rate=1e-3, weight_decay=1e-4, dropout=0.5, patience=20,
                 threshold_mode="fixed"),
    "w256-adamw": dict(hidden_size=256, batch_size=0, learning_rate=1e-3, weight_decay=1e-2, dropout=0.3,
                       patience=20, threshold_mode="fixed", optimizer="adamw"),
    "w256-adamw-cos": dict(hidden_size=256, batch_size=0, learning_rate=1e-3, weight_decay=1e-2, dropout=0.3,
                           patience=20, threshold_mode="fixed", optimizer="adamw", lr_schedule="cosine", epochs=100),
    "w256-adamw-cos-lr3": dict(hidden_size=256, batch_size=0, learning_rate=3e-3, weight_decay=1e-2, dropout=0.3,
                               patience=20, threshold_mode="fixed", optimizer="adamw", lr_schedule="cosine",
                               epochs=100),
    "w256-adamw-cos-wd.1": dict(hidden_size=256, batch_size=0, learning_rate=1e-3, weight_decay=0.1, dropout=0.3,
                                patience=20, threshold_mode="fixed", optimizer="adamw", lr_schedule="cosine",
                                epochs=100),
    "w512-adamw-cos": dict(hidden_size=512, batch_size=0, learning_rate=1e-3, weight_decay=1e-2, dropout=0.5,
                           patience=20, threshold_mode="fixed", optimizer="adamw", lr_schedule="cosine", epochs=100),
}

for _knobs in CANDIDATES.values():  # the candidates are scored as train() leaves them; "+refit" adds the refit
    _knobs.setdefault("refit", "none")


# ---- datasets ---------------------------------------------------------------------------------------------------

def _dataset(X: np.ndarray, Y: np.ndarray, name: str) -> Dataset:
    keep = (Y.sum(axis=0) > 0) & (Y.sum(axis=0) < len(Y))  # a label that never (or always) fires says nothing
    Y = Y[:, keep]
    return Dataset(X=np.ascontiguousarray(X, dtype=np.float32), Y=np.ascontiguousarray(Y, dtype=np.float32),
                   feature_names=[f"f{i}" for i in range(X.shape[1])], label_names=[f"y{j}" for j in range(Y.shape[1])],
                   description={"name": name})


def _mlc(n: int, d: int, labels: int, density: int, noise_features: int = 0, flip: float = 0.0,
         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X, Y = make_multilabel_classification(n_samples=n, n_features=d - noise_features, n_classes=labels,
                                          n_labels=density, length=50, allow_unlabeled=True, random_state=seed)
    rng = np.random.default_rng(seed)
    if noise_features:
        X = np.hstack([X, rng.poisson(2.0, size=(n, noise_features))])
    if flip:
        Y = np.where(rng.random(Y.shape) < flip, 1 - Y, Y)
    return X.astype(np.float32), Y.astype(np.float32)


def _corr_rare(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X, Y = _mlc(n, 60, 8, 3, noise_features=20, seed=seed)
    rng = np.random.default_rng(seed + 1)
    derived = [Y[:, 0] * Y[:, 1], np.maximum(Y[:, 2], Y[:, 3]), Y[:, 4] * (1 - Y[:, 5])]
    Y = np.column_stack([Y] + derived)
    # Rare labels: a narrow region of one feature combination (1-3% positives), 5% of them flipped.
    score = X[:, 0] + X[:, 1] - X[:, 2]
    for q in (0.97, 0.985):
        rare = (score > np.quantile(score, q)).astype(np.float32)
        rare = np.where(rng.random(n) < 0.05 * rare, 0, rare)
        Y = np.column_stack([Y, rare])
    return X, Y.astype(np.float32)


def _long_tail(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Many labels, most of them rare (issue 25: shaped like real tag data): 12 common labels from
    make_multilabel_classification plus 28 tail labels, each a high quantile of its own random projection of a few
    features (10% down to 0.5% positives, log-spaced), with 3% of their positives and 0.2% of their negatives flipped."""
    X, Y = _mlc(n, 120, 12, 3, noise_features=40, seed=seed)
    rng = np.random.default_rng(seed + 1)
    Z = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-6)
    tail = []
    for rate in np.geomspace(0.10, 0.005, 28):
        w = np.zeros(X.shape[1])
        w[rng.choice(80, size=4, replace=False)] = rng.standard_normal(4)  # the informative columns only
        score = Z @ w + 0.3 * rng.standard_normal(n)
        y = (score > np.quantile(score, 1 - rate)).astype(np.float32)
        flip = np.where(y > 0, rng.random(n) < 0.03, rng.random(n) < 0.002)
        tail.append(np.where(flip, 1 - y, y))
    return X, np.column_stack([Y, *tail]).astype(np.float32)


def _teacher(n: int, d: int, labels: int, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    data = multilabel.make_synthetic(n, d, labels, noise=noise, seed=seed)
    return data.X, data.Y


def _emotions() -> tuple[np.ndarray, np.ndarray]:
    header = EMOTIONS.open().readline().strip().split(",")
    data = multilabel.load_csv(EMOTIONS, header[-6:])
    return data.X, data.Y


# name -> (loader, cv (repeats, folds) in normal mode, in --full mode)
DATASETS: dict[str, tuple[Callable[[], tuple[np.ndarray, np.ndarray]], tuple[int, int], tuple[int, int]]] = {
    "emotions": (_emotions, (2, 5), (5, 5)),
    "mlc-yeastlike": (lambda: _mlc(1500, 103, 14, 4, noise_features=30, flip=0.03, seed=1), (2, 3), (2, 5)),
    "mlc-scenelike": (lambda: _mlc(1200, 294, 6, 1, noise_features=150, flip=0.01, seed=2), (2, 3), (2, 5)),
    "mlc-small-wide": (lambda: _mlc(500, 500, 10, 2, noise_features=400, seed=3), (2, 3), (2, 5)),
    "mlc-large": (lambda: _mlc(5000, 20, 5, 2, flip=0.05, seed=4), (1, 3), (2, 3)),
    "teacher": (lambda: _teacher(2000, 20, 8, 0.3, seed=5), (2, 3), (2, 5)),
    "teacher-noisy": (lambda: _teacher(1000, 50, 6, 1.0, seed=6), (2, 3), (2, 5)),
    "corr-rare": (lambda: _corr_rare(3000, seed=7), (1, 3), (2, 3)),
    # Issue 25: shaped like real data the project does not have. Few rows, many (mostly irrelevant) count features,
    # as in text or gene data; many labels with a long tail of rare ones, as in tagging data.
    "few-rows-wide": (lambda: _mlc(300, 1200, 8, 2, noise_features=1000, flip=0.01, seed=9), (2, 3), (2, 5)),
    "long-tail": (lambda: _long_tail(2000, seed=10), (1, 3), (2, 3)),
}
FULL_ONLY = {"mlc-20k": (lambda: _mlc(20000, 10, 4, 2, flip=0.05, seed=8), (1, 3), (1, 3))}


# ---- methods ----------------------------------------------------------------------------------------------------

def _subset(data: Dataset, rows: np.ndarray) -> Dataset:
    return Dataset(X=data.X[rows], Y=data.Y[rows], feature_names=data.feature_names, label_names=data.label_names)


def fit_ours(knobs: dict[str, Any], train: Dataset, X_test: np.ndarray, seed: int, do_refit: bool) -> np.ndarray:
    config = TrainConfig(input_size=train.X.shape[1], num_outputs=train.Y.shape[1], seed=seed, **knobs)
    if do_refit:
        config = config.replace(refit="all")
    # What the worker does: train, then refit on all rows when config.refit is "all" (the shipped default).
    trained = refit_result(config, train, multilabel.train(config, train)).trained
    probs = trained.predict_proba(X_test)
    return (probs >= np.asarray(trained.thresholds, dtype=np.float32)).astype(int)


def fit_search(train: Dataset, X_test: np.ndarray, seed: int, budget_s: float, folds: int, members: int,
               mode: str = "configs", objective: str | None = None, seeds: int = 1,
               threshold: str = "trial", choice: str = "best") -> tuple[np.ndarray, dict[str, Any]]:
    """multilabel.search on the training folds for ``budget_s`` seconds, then its ensemble of ``members``
    configurations x ``seeds`` seeds (``mode`` "seeds": the best configuration with ``members`` seeds)."""
    import optuna

    from multilabel import search
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = search.memory_study(seed=seed)
    base = TrainConfig(input_size=train.X.shape[1], num_outputs=train.Y.shape[1])
    search.run_search(train, base, study, timeout=budget_s, folds=folds, objective=objective)
    trained = search.build_ensemble(train, study, members=members, mode=mode, seeds=seeds, threshold=threshold,
                                    choice=choice)
    probs = trained.predict_proba(X_test)
    states = [t.state.name for t in study.get_trials()]
    info = {"trials": len(states), "complete": states.count("COMPLETE"), "pruned": states.count("PRUNED")}
    return (probs >= np.asarray(trained.thresholds, dtype=np.float32)).astype(int), info


def fit_sk_mlp(train: Dataset, X_test: np.ndarray, seed: int) -> np.ndarray:
    model = make_pipeline(StandardScaler(), MLPClassifier((128,), early_stopping=True, random_state=seed,
                                                          max_iter=500))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(train.X, train.Y.astype(int))
    return model.predict(X_test)


def fit_svm(train: Dataset, X_test: np.ndarray, seed: int, svm_c: tuple[float, ...] = SVM_C) -> np.ndarray:
    scaler = StandardScaler().fit(train.X)
    Xtr, Xte = scaler.transform(train.X), scaler.transform(X_test)
    out = np.zeros((len(X_test), train.Y.shape[1]), dtype=int)
    for j in range(train.Y.shape[1]):  # binary relevance; a label constant in this fold predicts that constant
        y = train.Y[:, j].astype(int)
        if y.min() == y.max() or min(y.sum(), len(y) - y.sum()) < 3:
            out[:, j] = int(round(y.mean()))
            continue
        search = GridSearchCV(SVC(kernel="rbf", gamma="scale"), {"C": list(svm_c)}, cv=3)
        out[:, j] = search.fit(Xtr, y).predict(Xte)
    return out


def method_names(candidates: list[str], refit_too: bool) -> list[str]:
    names = [f"ours:{c}" for c in candidates]
    if refit_too:
        names += [f"ours:{c}+refit" for c in candidates]
    return names + ["sk-mlp", "svm"]


def run_fold(ds_name: str, fold: int, rows: tuple[np.ndarray, np.ndarray], methods: list[str], seed: int,
             loader: Callable[[], tuple[np.ndarray, np.ndarray]], candidates: dict[str, dict[str, Any]],
             search_args: tuple[float, int, int] = (60.0, 2, 5), svm_c: tuple[float, ...] = SVM_C
             ) -> list[dict[str, Any]]:
    torch.set_num_threads(1)
    X, Y = loader()
    data = _dataset(X, Y, ds_name)
    tr, te = rows
    train = _subset(data, tr)
    out = []
    with threadpool_limits(limits=1):
        for method in methods:
            t0 = time.perf_counter()
            extra: dict[str, Any] = {}
            if method.startswith("search"):
                # search | search-seeds | search:OBJECTIVE:SEEDS:THRESHOLD (e.g. search:bce:3:global)
                parts = method.split(":")
                if method == "search-cli":  # what `python -m multilabel search` ships, on its default folds
                    from multilabel import search as ms
                    pred, extra = fit_search(train, data.X[te], seed, search_args[0], 3, search_args[2],
                                             seeds=ms.ENSEMBLE_SEEDS, threshold=ms.ENSEMBLE_THRESHOLD,
                                             choice=ms.ENSEMBLE_CHOICE)
                else:
                    pred, extra = fit_search(train, data.X[te], seed, *search_args,
                                             mode="seeds" if method == "search-seeds" else "configs",
                                             objective=parts[1] if len(parts) > 1 else None,
                                             seeds=int(parts[2]) if len(parts) > 2 else 1,
                                             threshold=parts[3] if len(parts) > 3 else "trial",
                                             choice=parts[4] if len(parts) > 4 else "best")
            elif method.startswith("ours:"):
                name = method[5:].removesuffix("+refit")
                pred = fit_ours(candidates[name], train, data.X[te], seed, method.endswith("+refit"))
            elif method == "sk-mlp":
                pred = fit_sk_mlp(train, data.X[te], seed)
            else:
                pred = fit_svm(train, data.X[te], seed, svm_c)
            Yte = data.Y[te].astype(int)
            out.append({"dataset": ds_name, "fold": fold, "method": method,
                        "hamming": float(hamming_loss(Yte, pred)),
                        "micro_f1": float(f1_score(Yte, pred, average="micro", zero_division=0)),
                        "seconds": time.perf_counter() - t0, **extra})
    return out


# ---- summary ----------------------------------------------------------------------------------------------------

def _ranks(values: dict[str, float], lower_better: bool) -> dict[str, float]:
    ordered = sorted(values.items(), key=lambda kv: kv[1] if lower_better else -kv[1])
    ranks: dict[str, float] = {}
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and abs(ordered[j + 1][1] - ordered[i][1]) < 1e-12:
            j += 1
        for k in range(i, j + 1):
            ranks[ordered[k][0]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def summarize(rows: list[dict[str, Any]], methods: list[str], datasets: list[str]) -> dict[str, Any]:
    table: dict[str, dict[str, dict[str, float]]] = {}
    for ds in datasets:
        table[ds] = {}
        for m in methods:
            mine = [r for r in rows if r["dataset"] == ds and r["method"] == m]
            if mine:
                sd = (lambda key: statistics.stdev(r[key] for r in mine) if len(mine) > 1 else 0.0)
                table[ds][m] = {"hamming": statistics.mean(r["hamming"] for r in mine),
                                "micro_f1": statistics.mean(r["micro_f1"] for r in mine),
                                "hamming_sd": sd("hamming"), "micro_f1_sd": sd("micro_f1"),
                                "seconds": statistics.mean(r["seconds"] for r in mine), "folds": len(mine)}
    summary: dict[str, dict[str, float]] = {m: {"rank_sum": 0.0, "n": 0, "worst_ham_excess": 0.0,
                                                "worst_f1_short": 0.0} for m in methods}
    for ds, per in table.items():
        ham_r = _ranks({m: v["hamming"] for m, v in per.items()}, True)
        f1_r = _ranks({m: v["micro_f1"] for m, v in per.items()}, False)
        best_ham = min(v["hamming"] for v in per.values())
        best_f1 = max(v["micro_f1"] for v in per.values())
        for m, v in per.items():
            v["rank_hamming"], v["rank_f1"] = ham_r[m], f1_r[m]
            s = summary[m]
            s["rank_sum"] += ham_r[m] + f1_r[m]
            s["n"] += 2
            s["worst_ham_excess"] = max(s["worst_ham_excess"], v["hamming"] - best_ham)
            s["worst_f1_short"] = max(s["worst_f1_short"], best_f1 - v["micro_f1"])
    for s in summary.values():
        s["mean_rank"] = s["rank_sum"] / max(s["n"], 1)
    return {"table": table, "summary": summary}


def print_report(result: dict[str, Any], methods: list[str]) -> None:
    table, summary = result["table"], result["summary"]
    width = max(len(m) for m in methods) + 2
    for ds, per in table.items():
        folds = next(iter(per.values()))["folds"]
        print(f"\n{ds} ({folds} test folds)")
        print(f"  {'method':<{width}} {'hamming':>8} {'sd':>7} {'rank':>5} {'micro-F1':>9} {'sd':>7} {'rank':>5} "
              f"{'s/fit':>7}")
        for m in methods:
            if m in per:
                v = per[m]
                print(f"  {m:<{width}} {v['hamming']:>8.4f} {v['hamming_sd']:>7.4f} {v['rank_hamming']:>5.1f} "
                      f"{v['micro_f1']:>9.4f} {v['micro_f1_sd']:>7.4f} {v['rank_f1']:>5.1f} {v['seconds']:>7.2f}")
    print(f"\nsummary over {len(table)} datasets (ranks over both metrics; worst = largest gap to the best method)")
    print(f"  {'method':<{width}} {'mean rank':>9} {'worst hamming excess':>21} {'worst micro-F1 shortfall':>25}")
    for m in sorted(methods, key=lambda m: summary[m]["mean_rank"]):
        s = summary[m]
        print(f"  {m:<{width}} {s['mean_rank']:>9.2f} {s['worst_ham_excess']:>21.4f} {s['worst_f1_short']:>25.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="1x3 CV everywhere; 'old', the shipped defaults (also refit), MLP and SVM (C in 1, 4)")
    parser.add_argument("--full", action="store_true", help="emotions 5x5, others more folds, plus the 20k dataset")
    parser.add_argument("--datasets", help="comma-separated subset of: " + ", ".join([*DATASETS, *FULL_ONLY]))
    parser.add_argument("--candidates", help="comma-separated subset of: " + ", ".join(CANDIDATES))
    parser.add_argument("--methods", help="exact method names (overrides --candidates), e.g. ours:w512,svm")
    parser.add_argument("--refit", action="store_true", help="also score every candidate refit on all rows")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cv", metavar="RxK", help="R repeats of K-fold CV for every dataset, e.g. 1x5")
    parser.add_argument("--json", type=Path, help="write the raw per-fold rows and the summary here")
    parser.add_argument("--search-budget", type=float, default=60.0, metavar="S",
                        help="method 'search': seconds of search per training fold (then the ensemble refit)")
    parser.add_argument("--search-folds", type=int, default=2, help="method 'search': holdout splits per trial")
    parser.add_argument("--search-members", type=int, default=5, help="method 'search': ensemble size")
    parser.add_argument("--include", type=Path, action="append", default=[],
                        help="per-fold rows of an earlier --json run (same datasets, CV and --seed) to rank "
                             "against: their methods are not rerun (repeatable)")
    args = parser.parse_args()

    known = {f.name for f in TrainConfig.__dataclass_fields__.values()}
    usable = {n for n, k in CANDIDATES.items() if set(k) <= known}
    skipped = sorted(set(CANDIDATES) - usable)
    if skipped:
        print(f"(candidates {', '.join(skipped)} need TrainConfig fields this checkout lacks; skipped)")
    all_sets = {**DATASETS, **(FULL_ONLY if args.full else {})}
    datasets = args.datasets.split(",") if args.datasets else list(all_sets)
    all_sets = {**DATASETS, **FULL_ONLY}
    if args.methods:
        methods = args.methods.split(",")
    else:
        cands = args.candidates.split(",") if args.candidates else (
            ["old", "default"] if args.quick else list(CANDIDATES))
        methods = method_names([c for c in cands if c in usable or c == "default"], args.refit)
    if any(m.startswith("ours:default") for m in methods):
        CANDIDATES["default"] = {}  # the shipped TrainConfig defaults
    tasks = []
    for ds in datasets:
        loader, normal, full = all_sets[ds]
        repeats, folds = (1, 3) if args.quick else (full if args.full else normal)
        if args.cv:
            repeats, folds = map(int, args.cv.lower().split("x"))
        X, _ = loader()
        splitter = RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=args.seed)
        for f, (tr, te) in enumerate(splitter.split(X)):
            tasks.append((ds, f, (tr, te)))
    print(f"{len(datasets)} datasets, {len(tasks)} folds, methods: {', '.join(methods)}; {args.jobs} processes, "
          "1 thread each", flush=True)
    t0 = time.perf_counter()
    done = Parallel(n_jobs=args.jobs, verbose=0)(
        delayed(run_fold)(ds, f, rows, methods, args.seed + f, all_sets[ds][0], CANDIDATES,
                          (args.search_budget, args.search_folds, args.search_members),
                          SVM_C_QUICK if args.quick else SVM_C) for ds, f, rows in tasks)
    rows = [r for fold_rows in done for r in fold_rows]
    for earlier in args.include:
        wanted = {(ds, f) for ds, f, _ in tasks}  # RepeatedKFold's first repeats are the same folds
        old_rows = [r for r in json.loads(earlier.read_text())["rows"]
                    if (r["dataset"], r["fold"]) in wanted and r["method"] not in methods]
        rows += old_rows
        methods += sorted({r["method"] for r in old_rows} - set(methods), key=lambda m: (not m.startswith("ours"), m))
    result = summarize(rows, methods, datasets)
    print_report(result, methods)
    print(f"\nwall time {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, **result}, indent=1))


if __name__ == "__main__":
    main()
