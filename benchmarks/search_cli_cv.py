"""The one-click search as a new user runs it, scored on held-out folds: ``python -m multilabel search`` then
``python -m multilabel evaluate``, per CV fold, in fresh processes.

For every dataset of benchmarks/suite.py named in --datasets (with its own CV, e.g. ``emotions:1x5``), each training
fold is written to a CSV and searched with the CLI's defaults plus ``--timeout`` seconds and ``--jobs`` worker
processes (``--jobs 2`` = the issue's "5 minutes on 2 CPU cores"), in its own run store and study, ending with the
CLI's ensemble; ``evaluate`` then scores that checkpoint on the held-out fold (Hamming loss, micro-F1 at the
ensemble's thresholds). ``--parallel`` folds run at once: give the machine ``parallel x jobs`` free cores, or each
search gets less than its budget says. The same folds as suite.py (RepeatedKFold, --seed), so its SVM and defaults
rows (``--svm`` computes the tuned RBF SVM here too) compare fold by fold.

    python benchmarks/search_cli_cv.py --datasets emotions:1x5 --timeout 300 --jobs 2 --parallel 1 --svm
    python benchmarks/search_cli_cv.py --datasets emotions:1x5,mlc-scenelike:1x3 --timeout 300 --parallel 8
    python benchmarks/search_cli_cv.py --datasets emotions:2x5 --only 5-9 --svm    # the second repeat only
    python benchmarks/search_cli_cv.py --datasets emotions:5x5 --only 10-24 --svm  # repeats 3-5 (benchmarks/README, round 8)
    python benchmarks/search_cli_cv.py --datasets emotions:1x3 --repo /tmp/before --method before  # another commit's CLI

``--paired NAME=CHOICE`` also scores, on the same study, the ensemble ``search --trials 0 --choose CHOICE`` builds,
so the choice of the ensemble's configurations is compared on the same trials.
The search's own estimate (its final JSON's ``estimate``, issue 25) is kept with each fold and compared with the
outer fold's score at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.model_selection import RepeatedKFold  # noqa: E402

import suite  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
_LOCK = threading.Lock()


def write_csv(path: Path, X: np.ndarray, Y: np.ndarray) -> list[str]:
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    labels = [f"y{j}" for j in range(Y.shape[1])]
    for j, name in enumerate(labels):
        frame[name] = Y[:, j].astype(int)
    frame.to_csv(path, index=False)
    return labels


def evaluate(folder: Path, model: Path, env: dict, repo: Path, what: str) -> dict:
    ev = subprocess.run([sys.executable, "-m", "multilabel", "evaluate", "--model", str(model),
                         "--data", str(folder / "test.csv")], env=env, capture_output=True, text=True, cwd=repo)
    if ev.returncode != 0:
        raise SystemExit(f"{what}: evaluate failed: {ev.stderr.strip()[-400:]}")
    return json.loads(ev.stdout)


def _keep(args: argparse.Namespace, row: dict) -> None:
    if args.json is not None:  # each fold as it ends (a run cut short keeps what finished)
        with _LOCK, args.json.with_suffix(".partial.jsonl").open("a") as fh:
            fh.write(json.dumps(row) + "\n")


def run_fold(work: Path, ds: str, fold: int, tr: np.ndarray, te: np.ndarray, args: argparse.Namespace
             ) -> list[dict]:
    X, Y = suite.DATASETS[ds][0]()
    data = suite._dataset(X, Y, ds)
    folder = work / f"{ds}-{fold}"
    folder.mkdir(parents=True)
    labels = write_csv(folder / "train.csv", data.X[tr], data.Y[tr])
    write_csv(folder / "test.csv", data.X[te], data.Y[te])
    repo = args.repo or REPO
    env = {**os.environ, "MULTILABEL_HOME": str(folder / "runs"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "multilabel", "search", "--data", str(folder / "train.csv"),
           "--labels", ",".join(labels), "--timeout", str(args.timeout), "--jobs", str(args.jobs),
           "--seed", str(args.seed + fold), "--out", str(folder / "ensemble.pt"), "--quiet", *args.extra]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=repo)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{ds} fold {fold}: search failed: {done.stderr.strip()[-400:]}")
    summary = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    metrics = evaluate(folder, folder / "ensemble.pt", env, repo, f"{ds} fold {fold}")
    row = {"dataset": ds, "fold": fold, "method": args.method, "hamming": metrics["hamming_loss"],
           "micro_f1": metrics["micro_f1"], "seconds": seconds,
           "trials": {k: summary.get(k) for k in ("trials", "complete", "pruned", "states") if k in summary},
           "estimate": summary.get("estimate")}  # the search's own estimate (issue 25; None from older checkouts)
    _keep(args, row)
    print(f"  {ds} fold {fold}: search {seconds:.0f} s, Hamming {row['hamming']:.4f}, micro-F1 "
          f"{row['micro_f1']:.4f}, {row['trials']}", flush=True)
    rows = [row]
    for pair in args.paired:  # the same study's ensemble built with another --choose: paired, same trials
        name, _, choice = pair.partition("=")
        how = choice.split() if choice.startswith("--") else ["--choose", choice]  # a choice, or search's arguments
        again = subprocess.run([sys.executable, "-m", "multilabel", "search", "--data", str(folder / "train.csv"),
                                "--labels", ",".join(labels), "--trials", "0", *how,
                                "--out", str(folder / f"{name}.pt"), "--quiet"], env=env, capture_output=True,
                               text=True, cwd=repo)
        if again.returncode != 0:
            raise SystemExit(f"{ds} fold {fold}: --choose {choice} failed: {again.stderr.strip()[-400:]}")
        metrics = evaluate(folder, folder / f"{name}.pt", env, repo, f"{ds} fold {fold}")
        estimate = json.loads([ln for ln in again.stdout.splitlines() if ln.startswith("{")][-1]).get("estimate")
        rows.append({**row, "method": name, "hamming": metrics["hamming_loss"], "micro_f1": metrics["micro_f1"],
                     "estimate": estimate})
        _keep(args, rows[-1])
        print(f"  {ds} fold {fold}: {name} Hamming {rows[-1]['hamming']:.4f}, micro-F1 {rows[-1]['micro_f1']:.4f}",
              flush=True)
    return rows


def svm_row(ds: str, fold: int, tr: np.ndarray, te: np.ndarray) -> dict:
    from sklearn.metrics import f1_score, hamming_loss
    from threadpoolctl import threadpool_limits
    X, Y = suite.DATASETS[ds][0]()
    data = suite._dataset(X, Y, ds)
    with threadpool_limits(limits=1):
        pred = suite.fit_svm(suite._subset(data, tr), data.X[te], fold)
    Yte = data.Y[te].astype(int)
    return {"dataset": ds, "fold": fold, "method": "svm", "hamming": float(hamming_loss(Yte, pred)),
            "micro_f1": float(f1_score(Yte, pred, average="micro", zero_division=0))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="emotions:1x5", help="NAME:RxK,... (suite.py's datasets and CV)")
    parser.add_argument("--timeout", type=float, default=300.0, help="search seconds per fold [default: 300]")
    parser.add_argument("--jobs", type=int, default=2, help="search worker processes per fold [default: 2]")
    parser.add_argument("--parallel", type=int, default=1, help="folds searched at once [default: 1]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--svm", action="store_true", help="also the tuned RBF SVM on the same folds")
    parser.add_argument("--only", metavar="A-B", help="run only folds A..B of each dataset's CV (e.g. 5-9: the "
                                                      "second repeat of a 2x5), numbered as in the full CV")
    parser.add_argument("--json", type=Path, help="write the per-fold rows here")
    parser.add_argument("--keep", type=Path, help="keep each fold's files (CSVs, study, ensembles) in this new "
                        "folder, for search_cuts.py --from-cli")
    parser.add_argument("--repo", type=Path, help="run the CLI of this checkout (e.g. an older commit's, extracted "
                                                  "with git archive) on the same folds [default: this one]")
    parser.add_argument("--method", default="cli-search", help="the rows' method name [default: cli-search]")
    parser.add_argument("--paired", metavar="NAME=CHOICE", action="append", default=[],
                        help="also build the same study's ensemble with search --choose CHOICE and score it as method "
                             "NAME: paired, same trials (repeatable), e.g. --paired with-defaults=with-defaults; "
                             "CHOICE may be search's own arguments instead, e.g. --paired 'trial=--threshold trial'")
    parser.add_argument("extra", nargs="*", help="more arguments for 'search' (after --)")
    args = parser.parse_args()
    lo, hi = 0, 10**9
    if args.only:
        first, _, last = args.only.partition("-")
        try:
            lo, hi = int(first), int(last or first)
        except ValueError:
            parser.error(f"--only takes A-B (fold numbers), got {args.only!r}")
    tasks = []
    for spec in args.datasets.split(","):
        ds, cv = spec.split(":")
        repeats, k = map(int, cv.lower().split("x"))
        X, _ = suite.DATASETS[ds][0]()
        for f, (tr, te) in enumerate(RepeatedKFold(n_splits=k, n_repeats=repeats, random_state=args.seed).split(X)):
            if lo <= f <= hi:
                tasks.append((ds, f, tr, te))
    print(f"{len(tasks)} folds, {args.timeout:.0f} s x {args.jobs} processes each, {args.parallel} at once "
          f"({os.cpu_count()} CPUs)", flush=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="search-cv-") as tmp, ThreadPoolExecutor(args.parallel) as pool:
        work = args.keep or Path(tmp)
        rows = [r for fold_rows in pool.map(lambda t: run_fold(work, *t, args), tasks) for r in fold_rows]
    if args.svm:
        rows += [svm_row(*t) for t in tasks]
    print(f"\n{'dataset':16s} {'method':12s} {'Hamming loss':>18s} {'micro-F1':>18s}")
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows):
            mine = [r for r in rows if r["dataset"] == ds and r["method"] == method]
            if not mine:
                continue
            h, f = [r["hamming"] for r in mine], [r["micro_f1"] for r in mine]
            sd = (lambda v: statistics.stdev(v) if len(v) > 1 else 0.0)
            print(f"{ds:16s} {method:12s} {statistics.mean(h):.4f} ± {sd(h):.4f}   {statistics.mean(f):.4f} ± "
                  f"{sd(f):.4f}   per fold " + " ".join(f"{v:.3f}" for v in h))
    honest = [r for r in rows if r.get("estimate") and r["estimate"].get("hamming_sd") is not None]
    if honest:  # issue 25's target: the search's estimate within one fold-spread of the outer fold's score
        print("\nthe search's estimate against the outer fold (Hamming loss; within = |estimate - outer| <= its "
              "spread over the search's folds)")
        for ds, method in dict.fromkeys((r["dataset"], r["method"]) for r in honest):
            mine = [r for r in honest if r["dataset"] == ds and r["method"] == method]
            est = [r["estimate"]["hamming"] for r in mine]
            spread = [r["estimate"]["hamming_sd"] for r in mine]
            within = sum(abs(r["estimate"]["hamming"] - r["hamming"]) <= r["estimate"]["hamming_sd"] for r in mine)
            kept = sum(bool(r["estimate"].get("keeps_defaults")) for r in mine)
            print(f"{ds:16s} {method:14s} estimate {statistics.mean(est):.4f} ± {statistics.mean(spread):.4f}, outer "
                  f"{statistics.mean(r['hamming'] for r in mine):.4f}; within on {within}/{len(mine)} folds; "
                  f"defaults kept on {kept}/{len(mine)}")
    print(f"\nwall time {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "args": {k: v for k, v in vars(args).items()
                                                                if k != "json"}}, indent=1, default=str))


if __name__ == "__main__":
    main()
