"""Search trials per minute: pruning on a snapshot of the completed trials (``search.MedianCurves``, shipped) against
Optuna's storage-backed pruning (``trial.report`` + ``trial.should_prune`` at every epoch), side by side in one run.

Both sides run the same seeded study (same sampler seed, one process, a fresh SQLite file each) on emotions.csv with
the CLI's defaults (3 folds): the same rule decides, so they should run the same trials, prune them at the same
epochs and reach the same values; the table says whether they did ("same trials"). The sides alternate, --repeats
times; the median time is shown.

    python benchmarks/bench_search_pruning.py                    # 40 trials a side, 2 repeats (about 4 minutes)
    python benchmarks/bench_search_pruning.py --trials 15 --repeats 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optuna  # noqa: E402
import torch  # noqa: E402

from multilabel import TrainConfig, load_csv  # noqa: E402
from multilabel import search  # noqa: E402

EMOTIONS = Path(__file__).resolve().parents[1] / "tests" / "data" / "emotions.csv"
LABELS = "amazed-suprised,happy-pleased,relaxing-calm,quiet-still,sad-lonely,angry-aggresive"


class StoragePruning:
    """What the search did before MedianCurves: every epoch written to the storage and the pruner asked there."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    def should_prune(self, step: int, value: float) -> bool:
        self.trial.report(value, step)
        return self.trial.should_prune()


def run(data, base: TrainConfig, trials: int, folds: int, pruning: type, folder: Path) -> tuple[float, list]:
    search.MedianCurves = pruning  # make_objective looks the class up when a trial starts
    study = search.open_study(f"sqlite:///{folder / f'{pruning.__name__}.db'}", "bench", seed=0)
    t0 = time.perf_counter()
    search.run_search(data, base, study, trials=trials, folds=folds)
    seconds = time.perf_counter() - t0
    outcome = [(t.state.name, t.last_step, None if t.value is None else round(t.value, 6))
               for t in study.get_trials(deepcopy=False)]
    return seconds, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore")  # the objective's own report of an already reported step (old side only)
    data = load_csv(EMOTIONS, LABELS)
    base = TrainConfig(input_size=data.X.shape[1], num_outputs=data.Y.shape[1], device="cpu").validate()
    shipped = search.MedianCurves
    times: dict[str, list[float]] = {"storage": [], "snapshot": []}
    outcomes: dict[str, list] = {}
    print(f"emotions.csv, {args.trials} trials a side, {args.folds} folds, SQLite, {args.threads} thread(s), "
          f"{args.repeats} repeat(s)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name, pruning in (("storage", StoragePruning), ("snapshot", shipped)):
                folder = Path(tmp) / f"{name}{r}"
                folder.mkdir()
                seconds, outcome = run(data, base, args.trials, args.folds, pruning, folder)
                times[name].append(seconds)
                outcomes.setdefault(name, outcome)
                print(f"  repeat {r + 1} {name:>8}: {seconds:7.1f} s", flush=True)
    search.MedianCurves = shipped
    old, new = statistics.median(times["storage"]), statistics.median(times["snapshot"])
    states = {name: sum(1 for o in outcome if o[0] == "PRUNED") for name, outcome in outcomes.items()}
    print(f"{'pruning':>30} {'seconds':>8} {'trials/min':>11} {'pruned':>7}")
    print(f"{'per epoch in storage (Optuna)':>30} {old:>8.1f} {60 * args.trials / old:>11.1f} {states['storage']:>7}")
    print(f"{'snapshot (MedianCurves)':>30} {new:>8.1f} {60 * args.trials / new:>11.1f} {states['snapshot']:>7}")
    print(f"speed-up {old / new:.2f}x; same trials (states, last steps, values): "
          f"{outcomes['storage'] == outcomes['snapshot']}")


if __name__ == "__main__":
    main()
