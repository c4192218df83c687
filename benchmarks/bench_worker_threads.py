"""How fast does a run alone train in its worker process, with the threads the registry gives it (one per
threads.MACS_PER_THREAD multiply-adds of a step, at most every core) against every core?

Workers come from the forkserver, whose OpenMP threads sleep while they wait (multilabel/_preload.py). Each case
starts one run through SessionRegistry, as the Train page does, waits for its second epoch, then counts the epochs
the run store logs in a window; shipped and every-core alternate per case. Ratios are printed, never asserted.

    python benchmarks/bench_worker_threads.py               # about 2 minutes
    python benchmarks/bench_worker_threads.py --window 3    # a quick check that it works
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from multilabel import TrainConfig, make_synthetic  # noqa: E402
from multilabel.session import SessionRegistry  # noqa: E402
from multilabel.store import RunStore  # noqa: E402
from multilabel.threads import run_macs  # noqa: E402
from multilabel.worker import cpu_cores  # noqa: E402

# (what, rows, features, hidden, labels, batch); batch 0 = auto, the default.
CASES = [
    ("the Train page's defaults", 2_000, 10, 256, 5, 0),
    ("bench_dashboard_load's run", 20_000, 32, 256, 8, 128),
    ("50k x 64, hidden 512, batch 512", 50_000, 64, 512, 16, 512),
    ("issue 24's job: 100k x 64, hidden 512, batch 4096", 100_000, 64, 512, 16, 4096),
]


def epochs_per_s(threads: int | None, config: TrainConfig, data, window: float) -> tuple[float, int]:
    """(epochs/s over ``window`` seconds after the second epoch, the run's torch threads)."""
    with tempfile.TemporaryDirectory(prefix="bench_worker_threads_") as home:
        store = RunStore(home)
        registry = SessionRegistry(store, threads_per_run=threads)
        session = registry.start(config, data)
        while store.get_run(session.run_id)["epochs_done"] < 2:
            time.sleep(0.02)
        start, t0 = store.get_run(session.run_id)["epochs_done"], time.monotonic()
        time.sleep(window)
        rate = (store.get_run(session.run_id)["epochs_done"] - start) / (time.monotonic() - t0)
        used = registry.view(session.run_id).info.get("threads")
        registry.stop(session.run_id)
        session.join()
        store.close()
    return rate, used


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--window", type=float, default=8.0, help="seconds per measured window [default: 8]")
    ap.add_argument("--rounds", type=int, default=2, help="alternations per case [default: 2]")
    args = ap.parse_args()
    cores = cpu_cores()
    lines = []
    for what, rows, features, hidden, labels, batch in CASES:
        data = make_synthetic(rows, features, labels, seed=0)
        config = TrainConfig(input_size=features, hidden_size=hidden, num_outputs=labels, epochs=100_000,
                             batch_size=batch, device="cpu", patience=0).validate()
        shipped, every = [], []
        for _ in range(args.rounds):
            shipped.append(epochs_per_s(None, config, data, args.window))
            every.append(epochs_per_s(cores, config, data, args.window))
        s = sum(r for r, _ in shipped) / len(shipped)
        e = sum(r for r, _ in every) / len(every)
        lines.append(f"  {what:<52} {run_macs(config, rows) / 1e6:7.1f}M  shipped {s:7.2f} epochs/s "
                     f"({shipped[0][1]} thr)  every core {e:7.2f} ({cores} thr)  ratio {s / e:5.2f}")
    print(f"a run alone in its worker, {cores} cores, windows of {args.window:g} s, {args.rounds} rounds "
          f"(multiply-adds per step, epochs/s, shipped / every core):")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
