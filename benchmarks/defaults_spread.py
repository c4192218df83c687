"""How much of "the search against the defaults" is the defaults' own seed (issue 25).

The tables' `defaults` column is ONE training of ``TrainConfig()`` per outer fold (train + refit, as the worker does),
with the seed suite.py gives fold f: ``--seed`` + f; a user who clicks Start gets one such draw. This trains the same
defaults on the same outer folds (RepeatedKFold, ``--seed``, as suite.py and search_cli_cv.py) with seeds 0..N-1
(N > the folds, so the tables' draws are among them) and prints per dataset the tables' draw, the mean and spread over
the seeds, and on how many folds the tables' draw did better than the seeds' mean. With ``--cli JSON``
(a ``search_cli_cv.py --json`` file of the same folds) the search's rows are set against both.

    python benchmarks/defaults_spread.py --seeds 6                 # every suite dataset, 1x3
    python benchmarks/defaults_spread.py --datasets teacher:1x3,few-rows-wide:1x3 --seeds 6
    python benchmarks/defaults_spread.py --datasets teacher:1x3 --seeds 6 --cli /tmp/cli.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from sklearn.metrics import f1_score, hamming_loss  # noqa: E402
from sklearn.model_selection import RepeatedKFold  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import suite  # noqa: E402


def seed_scores(ds: str, cv: str, seeds: int, cv_seed: int) -> list[np.ndarray]:
    """Per outer fold, a (seeds, 2) array: Hamming loss and micro-F1 of the defaults trained with seeds 0..seeds-1
    (row ``cv_seed`` + fold is the tables' draw)."""
    import torch
    torch.set_num_threads(1)
    repeats, k = map(int, cv.lower().split("x"))
    X, Y = suite.DATASETS[ds][0]()
    data = suite._dataset(X, Y, ds)
    out = []
    for f, (tr, te) in enumerate(RepeatedKFold(n_splits=k, n_repeats=repeats, random_state=cv_seed).split(X)):
        if cv_seed + f >= seeds:
            raise SystemExit(f"--seeds {seeds} does not include fold {f}'s seed {cv_seed + f}: give more seeds")
        train, Yte = suite._subset(data, tr), Y[te].astype(int)
        with threadpool_limits(limits=1):
            preds = [suite.fit_ours({}, train, X[te], s, True) for s in range(seeds)]
        out.append(np.array([[hamming_loss(Yte, p), f1_score(Yte, p, average="micro", zero_division=0)]
                             for p in preds]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(f"{d}:1x3" for d in suite.DATASETS),
                        help="NAME:RxK,... (suite.py's datasets) [default: every suite dataset, 1x3]")
    parser.add_argument("--seeds", type=int, default=6, help="seeds 0..N-1 per fold [default: 6]")
    parser.add_argument("--seed", type=int, default=0, help="the outer folds' seed [default: 0, the tables']")
    parser.add_argument("--cli", type=Path, help="a search_cli_cv.py --json file of the same folds")
    args = parser.parse_args()
    cli = json.loads(args.cli.read_text())["rows"] if args.cli else []
    print(f"defaults, seeds 0..{args.seeds - 1}, Hamming loss / micro-F1 (mean over outer folds)")
    print(f"{'dataset':15s} {'drawn':>15s} {'seeds: mean ± sd over seeds':>30s} {'draw better':>14s}  search (CLI)")
    t0 = time.perf_counter()
    for spec in args.datasets.split(","):
        ds, cv = spec.split(":")
        folds = seed_scores(ds, cv, args.seeds, args.seed)
        drawn = [f[args.seed + i] for i, f in enumerate(folds)]  # the tables' one draw per fold
        first = np.mean(drawn, axis=0)
        means = np.mean([f.mean(axis=0) for f in folds], axis=0)
        per_seed = np.mean(folds, axis=0)  # (seeds, 2): each seed's mean over the folds
        sd = per_seed.std(axis=0, ddof=1)
        lucky = (sum(d[0] < f[:, 0].mean() for d, f in zip(drawn, folds)),
                 sum(d[1] > f[:, 1].mean() for d, f in zip(drawn, folds)))
        line = (f"{ds:15s} {first[0]:.4f} / {first[1]:.4f}   {means[0]:.4f} ± {sd[0]:.4f} / {means[1]:.4f} ± "
                f"{sd[1]:.4f}   {lucky[0]}/{len(folds)}, {lucky[1]}/{len(folds)}")
        for method in dict.fromkeys(r["method"] for r in cli if r["dataset"] == ds):
            rows = [r for r in cli if r["dataset"] == ds and r["method"] == method]
            h, f = np.mean([r["hamming"] for r in rows]), np.mean([r["micro_f1"] for r in rows])
            verdict = lambda ref: "both" if h < ref[0] and f > ref[1] else (  # noqa: E731
                "Hamming" if h < ref[0] else ("micro-F1" if f > ref[1] else "neither"))
            line += (f"  {method} {h:.4f} / {f:.4f} (better on {verdict(first)} against the draw, "
                     f"{verdict(means)} against the mean)")
        print(line, flush=True)
    print(f"\nwall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
