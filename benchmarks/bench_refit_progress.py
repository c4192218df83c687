"""What the Search page's refit progress costs: ``search.build_ensemble`` watched (``progress.RefitProgress`` writing
its JSON file, as ``search --progress`` does) against unwatched, side by side in one run, on the same study.

A search of a few trials on emotions.csv (tests/data), then the shipped ensemble (5 configurations x 3 seeds) built
--rounds times each way, the order alternating; the median of each and their ratio are printed.

    python benchmarks/bench_refit_progress.py
    python benchmarks/bench_refit_progress.py --rounds 5 --trials 8
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from multilabel import TrainConfig, search  # noqa: E402
from multilabel.data import load_csv  # noqa: E402
from multilabel.progress import RefitProgress  # noqa: E402

LABELS = "amazed-suprised,happy-pleased,relaxing-calm,quiet-still,sad-lonely,angry-aggresive"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=6)
    args = parser.parse_args()
    data = load_csv(str(REPO / "tests" / "data" / "emotions.csv"), LABELS)
    study = search.memory_study(seed=0)
    base = TrainConfig(input_size=data.X.shape[1], num_outputs=data.Y.shape[1]).validate()
    search.run_search(data, base, study, trials=args.trials, folds=3)
    times: dict[str, list[float]] = {"unwatched": [], "watched": []}
    with tempfile.TemporaryDirectory() as folder:
        for r in range(args.rounds):
            for mode in (("unwatched", "watched") if r % 2 == 0 else ("watched", "unwatched")):
                began = time.perf_counter()
                if mode == "watched":
                    with RefitProgress(Path(folder) / "refit.json") as on_progress:
                        model = search.build_ensemble(data, study, members=5, seeds=3, on_progress=on_progress)
                else:
                    model = search.build_ensemble(data, study, members=5, seeds=3)
                times[mode].append(time.perf_counter() - began)
    for mode, seconds in times.items():
        print(f"{mode:>9}: median {statistics.median(seconds):.2f} s  ({', '.join(f'{s:.2f}' for s in seconds)})")
    print(f"{len(model.nets)} nets; watched / unwatched: "
          f"{statistics.median(times['watched']) / statistics.median(times['unwatched']):.3f}")


if __name__ == "__main__":
    main()
