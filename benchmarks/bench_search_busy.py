"""A search on a machine that is doing something else: `python -m multilabel search` (emotions, a fixed number of
trials, the default ensemble) alone and beside one busy process, wall time of fresh processes.

A search started from the Search page runs beside the server, the browser drawing its live charts and maybe a
training run; a search's trials and its ensemble train small nets, whose steps are too small to split over threads
(multilabel/threads.py). The busy process is a Python loop at the same priority, standing in for any of those.
``--baseline REV`` measures a git revision's tree the same way, interleaved. Ratios printed, nothing asserted.

    python benchmarks/bench_search_busy.py --baseline 3f2c87a     # about 3 minutes
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import REPO  # noqa: E402
from bench_first_paint import extract  # noqa: E402

LABELS = "amazed-suprised,happy-pleased,relaxing-calm,quiet-still,sad-lonely,angry-aggresive"


def search_s(root: Path, trials: int) -> float:
    """Wall seconds of one search with ensemble, in a fresh process run from ``root``."""
    with tempfile.TemporaryDirectory(prefix="bench_search_busy_") as home:
        argv = [sys.executable, "-m", "multilabel", "search", "--data", str(REPO / "tests" / "data" / "emotions.csv"),
                "--labels", LABELS, "--trials", str(trials), "--seed", "0", "--storage", f"sqlite:///{home}/s.db",
                "--out", f"{home}/model.pt", "--quiet"]
        env = {**os.environ, "MULTILABEL_HOME": home}
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=8, help="trials per search [default: 8]")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds [default: 2]")
    ap.add_argument("--baseline", help="a git revision to measure side by side")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this tree": REPO}
        if args.baseline:
            trees[args.baseline] = extract(args.baseline, Path(tmp) / "baseline")
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for load in ("alone", "beside a busy process"):
                busy = (subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load != "alone" else None)
                try:
                    for name, root in trees.items():
                        times.setdefault((name, load), []).append(search_s(root, args.trials))
                finally:
                    if busy is not None:
                        busy.kill()
                        busy.wait()
    print(f"`search` on emotions, {args.trials} trials + the default ensemble, {os.cpu_count()} cores, median of "
          f"{args.rounds} (wall seconds):")
    for name in trees:
        alone = statistics.median(times[(name, "alone")])
        busy = statistics.median(times[(name, "beside a busy process")])
        print(f"  {name:<10} alone {alone:7.1f} s   beside a busy process {busy:7.1f} s   busy / alone {busy / alone:5.2f}"
              f"   (rounds: {', '.join(f'{t:.1f}' for t in times[(name, 'beside a busy process')])})")


if __name__ == "__main__":
    main()
