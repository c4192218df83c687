"""Quality on real data: multilabel.train against scikit-learn's MLPClassifier on the MULAN 'emotions' set.

One 70/30 split of the 593 rows (seeded by --split-seed, the same rows for both sides; --resplit draws a new
split per seed instead). Per seed:
  ours     multilabel.train(TrainConfig(input_size=72, num_outputs=6, seed=seed, **knobs), the 70% part): train()
           holds out its own validation rows from that part (early stopping, tuned thresholds), then
           trained.predict_proba(the 30% part) >= trained.thresholds.
  sklearn  StandardScaler + MLPClassifier(default settings, random_state=seed, max_iter=--max-iter), fitted on the
           70% part, predict(the 30% part).
Both are scored with sklearn.metrics on the 30% part: Hamming loss (lower is better) and micro-F1 (higher is better).

    python benchmarks/emotions_vs_sklearn.py                 # shipped defaults, 5 seeds
    python benchmarks/emotions_vs_sklearn.py --sweep         # a small grid around the defaults
    python benchmarks/emotions_vs_sklearn.py --set hidden_size=128 --set dropout=0.2   # one chosen setting
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import f1_score, hamming_loss  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import multilabel  # noqa: E402
from multilabel import Dataset, TrainConfig  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "emotions.csv"
TEST_FRACTION = 0.3
SHIPPED = TrainConfig()

# One knob at a time around the shipped defaults, then a few pairs and triples (the triples combine the pairs that
# beat MLPClassifier on both metrics in the first sweep). Values that equal the
# shipped default are dropped when the grid is built, so the grid stays right if the defaults change.
SINGLE_KNOBS: dict[str, list[Any]] = {
    "hidden_size": [32, 64, 128],
    "learning_rate": [1e-3, 3e-3],
    "patience": [10, 20],
    "threshold_mode": ["fixed", "tuned"],
    "weight_decay": [0.0, 1e-4],
    "dropout": [0.0, 0.2],
    "batch_size": [32, 64],
}
COMBOS: list[dict[str, Any]] = [
    {"hidden_size": 128, "dropout": 0.2},
    {"learning_rate": 1e-3, "batch_size": 32},
    {"learning_rate": 1e-3, "patience": 10},
    {"threshold_mode": "fixed", "dropout": 0.2},
    {"threshold_mode": "fixed", "hidden_size": 128},
    {"threshold_mode": "fixed", "learning_rate": 1e-3},
    {"threshold_mode": "fixed", "batch_size": 32},
    {"threshold_mode": "fixed", "patience": 10},
    {"dropout": 0.2, "learning_rate": 1e-3},
    {"hidden_size": 32, "learning_rate": 1e-3},
    {"threshold_mode": "fixed", "dropout": 0.2, "batch_size": 32},
    {"threshold_mode": "fixed", "dropout": 0.2, "hidden_size": 128},
    {"threshold_mode": "fixed", "dropout": 0.2, "weight_decay": 0.0},
    {"threshold_mode": "fixed", "dropout": 0.2, "learning_rate": 1e-3},
]


def load(path: Path) -> Dataset:
    header = path.open().readline().strip().split(",")
    return multilabel.load_csv(path, header[-6:])


def split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * TEST_FRACTION))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def subset(data: Dataset, rows: np.ndarray) -> Dataset:
    return Dataset(X=data.X[rows], Y=data.Y[rows], feature_names=data.feature_names, label_names=data.label_names)


def scores(Y_true: np.ndarray, Y_pred: np.ndarray) -> dict[str, float]:
    return {"hamming": float(hamming_loss(Y_true, Y_pred)),
            "micro_f1": float(f1_score(Y_true, Y_pred, average="micro", zero_division=0))}


def run_ours(data: Dataset, train_rows: np.ndarray, test_rows: np.ndarray, seed: int, knobs: dict[str, Any]
             ) -> dict[str, float]:
    config = TrainConfig(input_size=data.X.shape[1], num_outputs=data.Y.shape[1], seed=seed, **knobs)
    t0 = time.perf_counter()
    result = multilabel.train(config, subset(data, train_rows))
    probs = result.trained.predict_proba(data.X[test_rows])
    pred = (probs >= np.asarray(result.trained.thresholds, dtype=np.float32)).astype(int)
    return {**scores(data.Y[test_rows], pred), "epochs": len(result.history), "seconds": time.perf_counter() - t0}


def run_sklearn(data: Dataset, train_rows: np.ndarray, test_rows: np.ndarray, seed: int, max_iter: int
                ) -> dict[str, float]:
    model = make_pipeline(StandardScaler(), MLPClassifier(random_state=seed, max_iter=max_iter))
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(data.X[train_rows], data.Y[train_rows].astype(int))
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    pred = model.predict(data.X[test_rows])
    return {**scores(data.Y[test_rows], pred), "epochs": model[-1].n_iter_, "converged": converged,
            "seconds": time.perf_counter() - t0}


def mean_std(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {sd:.4f}"


def describe(knobs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in knobs.items()) or "defaults"


def parse_set(items: list[str]) -> dict[str, Any]:
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    knobs: dict[str, Any] = {}
    for item in items:
        name, _, text = item.partition("=")
        if name not in fields:
            raise SystemExit(f"--set {item}: {name!r} is not a TrainConfig field ({', '.join(fields)})")
        default = getattr(SHIPPED, name)
        knobs[name] = type(default)(text) if not isinstance(default, str) else text
    return knobs


def sweep_grid() -> list[dict[str, Any]]:
    grid: list[dict[str, Any]] = [{}]
    for name, values in SINGLE_KNOBS.items():
        grid += [{name: v} for v in values if v != getattr(SHIPPED, name)]
    for combo in COMBOS:
        knobs = {k: v for k, v in combo.items() if v != getattr(SHIPPED, k)}
        if knobs and knobs not in grid:
            grid.append(knobs)
    return grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"emotions CSV (default {DEFAULT_DATA})")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 for both models (default 5)")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the fixed 70/30 split (default 0)")
    parser.add_argument("--resplit", action="store_true", help="draw a new 70/30 split per seed (split-seed + seed)")
    parser.add_argument("--max-iter", type=int, default=2000, help="MLPClassifier max_iter (default 2000)")
    parser.add_argument("--set", action="append", default=[], metavar="KNOB=VALUE",
                        help="override a TrainConfig default for ours (repeatable), e.g. --set dropout=0.2")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for torch and for sklearn's BLAS, the same for both sides (default 1: the "
                             "nets are tiny, one thread is as fast and steadier on a shared machine)")
    parser.add_argument("--sweep", action="store_true",
                        help="try a small grid of our knobs (one, two or three at a time)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        run(args)


def run(args: argparse.Namespace) -> None:
    data = load(args.data)
    seeds = list(range(args.seeds))
    splits = {s: split(data.num_rows, args.split_seed + (s if args.resplit else 0)) for s in seeds}
    tr, te = splits[0]
    print(f"{args.data.name}: {data.num_rows} rows, {data.X.shape[1]} features, labels {', '.join(data.label_names)}")
    print(f"split: {len(tr)} train / {len(te)} test rows, " + (f"new split per seed (split seed {args.split_seed}+seed)"
          if args.resplit else f"the same split for every seed (split seed {args.split_seed})"))
    shipped = {f.name: getattr(SHIPPED, f.name) for f in dataclasses.fields(TrainConfig)
               if f.name in {"hidden_size", "learning_rate", "batch_size", "epochs", "patience", "weight_decay",
                             "dropout", "val_fraction", "threshold_mode", "pos_weight"}}
    print(f"ours: TrainConfig defaults {describe(shipped)}")
    print(f"sklearn: StandardScaler + MLPClassifier(defaults, max_iter={args.max_iter}); {args.threads} CPU thread(s) "
          "for both\n")

    sk = {s: run_sklearn(data, *splits[s], s, args.max_iter) for s in seeds}
    sk_ham = [sk[s]["hamming"] for s in seeds]
    sk_f1 = [sk[s]["micro_f1"] for s in seeds]

    if not args.sweep:
        knobs = parse_set(args.set)
        ours = {s: run_ours(data, *splits[s], s, knobs) for s in seeds}
        print(f"ours with {describe(knobs)}")
        print(f"  {'seed':>4}  {'ours hamming':>12} {'sk hamming':>11}  {'ours microF1':>12} {'sk microF1':>11}"
              f"  {'ours epochs':>11} {'sk iters':>9}")
        for s in seeds:
            o, k = ours[s], sk[s]
            conv = "" if k["converged"] else " (not converged)"
            print(f"  {s:>4}  {o['hamming']:>12.4f} {k['hamming']:>11.4f}  {o['micro_f1']:>12.4f}"
                  f" {k['micro_f1']:>11.4f}"
                  f"  {o['epochs']:>11} {k['epochs']:>9}{conv}")
        o_ham = [ours[s]["hamming"] for s in seeds]
        o_f1 = [ours[s]["micro_f1"] for s in seeds]
        print(f"\n  {'':<9} {'ours':>17} {'sklearn':>17}  ratio ours/sklearn")
        print(f"  {'hamming':<9} {mean_std(o_ham):>17} {mean_std(sk_ham):>17}  "
              f"{statistics.mean(o_ham) / statistics.mean(sk_ham):.3f}x  (lower is better)")
        print(f"  {'micro-F1':<9} {mean_std(o_f1):>17} {mean_std(sk_f1):>17}  "
              f"{statistics.mean(o_f1) / statistics.mean(sk_f1):.3f}x  (higher is better)")
        print(f"  seconds per fit: ours {statistics.mean(ours[s]['seconds'] for s in seeds):.2f}, "
              f"sklearn {statistics.mean(sk[s]['seconds'] for s in seeds):.2f}")
        return

    print(f"sklearn over {len(seeds)} seeds: hamming {mean_std(sk_ham)}, micro-F1 {mean_std(sk_f1)}"
          f" (converged in {sum(sk[s]['converged'] for s in seeds)}/{len(seeds)} seeds)\n")
    sk_ham_mean, sk_f1_mean = statistics.mean(sk_ham), statistics.mean(sk_f1)
    rows = []
    print(f"  {'ours: changes from the defaults':<50} {'hamming':>17} {'micro-F1':>17} {'ham x':>6} {'F1 x':>6}"
          f" {'epochs':>6}  both >= sklearn")
    for knobs in sweep_grid():
        ours = [run_ours(data, *splits[s], s, knobs) for s in seeds]
        ham = [o["hamming"] for o in ours]
        f1 = [o["micro_f1"] for o in ours]
        wins = statistics.mean(ham) <= sk_ham_mean and statistics.mean(f1) >= sk_f1_mean
        rows.append((knobs, statistics.mean(ham), statistics.mean(f1), wins))
        print(f"  {describe(knobs):<50} {mean_std(ham):>17} {mean_std(f1):>17} "
              f"{statistics.mean(ham) / sk_ham_mean:>5.3f}x {statistics.mean(f1) / sk_f1_mean:>5.3f}x "
              f"{statistics.mean(o['epochs'] for o in ours):>6.0f}  {'yes' if wins else 'no'}", flush=True)
    winners = [r for r in rows if r[3]]
    print(f"\nsettings at least as good as MLPClassifier on both (mean over {len(seeds)} seeds): "
          + ("none" if not winners else ""))
    for knobs, ham, f1, _ in sorted(winners, key=lambda r: (r[1], -r[2])):
        print(f"  {describe(knobs):<50} hamming {ham:.4f} (sklearn {sk_ham_mean:.4f}), "
              f"micro-F1 {f1:.4f} (sklearn {sk_f1_mean:.4f})")


if __name__ == "__main__":
    main()
