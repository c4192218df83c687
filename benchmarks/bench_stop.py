"""How soon does Stop end a run inside a long epoch? (issue 8: a 1M-row run at batch 32, status 'stopped' <= 2 s)

A synthetic run of --rows rows trains in a worker process through the registry, as the dashboard starts it. Once
the run reports progress inside its first epoch (steps done / total), ``registry.stop`` is called and the clock runs
until the store says 'stopped' (the worker has validated the partial epoch, computed the final metrics and saved the
checkpoint and validation arrays). Repeated --repeats times; prints each time and the median. Not a test.

    python benchmarks/bench_stop.py                 # 1,000,000 rows x 32 features, 8 labels, batch 32
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from multilabel import TrainConfig, make_synthetic  # noqa: E402
from multilabel.session import SessionRegistry  # noqa: E402
from multilabel.store import RunStore  # noqa: E402

TARGET_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--labels", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = make_synthetic(args.rows, args.features, args.labels, seed=0)
    config = TrainConfig(input_size=args.features, num_outputs=args.labels, batch_size=args.batch, epochs=5,
                         device="cpu").validate()
    times = []
    with tempfile.TemporaryDirectory() as home:
        registry = SessionRegistry(RunStore(home))
        for _ in range(args.repeats):
            session = registry.start(config, data)
            deadline = time.monotonic() + 600
            while not (registry.view(session.run_id).progress or {}).get("step"):
                if time.monotonic() > deadline:
                    sys.exit("no progress inside the first epoch in 600 s")
                time.sleep(0.05)
            progress = registry.view(session.run_id).progress
            t0 = time.monotonic()
            registry.stop(session.run_id)
            while registry.store.get_run(session.run_id)["status"] == "running":
                time.sleep(0.01)
            took = time.monotonic() - t0
            view = registry.view(session.run_id)
            times.append(took)
            print(f"stopped at step {progress['step']:,}/{progress['steps']:,} of epoch {progress['epoch']}: status "
                  f"'{view.status}' after {took:.2f} s; partial epoch {view.history[-1].get('partial')}, "
                  f"checkpoint {'kept' if view.checkpoint else 'MISSING'}")
            session.join(60)
    median = statistics.median(times)
    print(f"{args.rows:,} rows x {args.features} features, {args.labels} labels, batch {args.batch}, CPU: click -> "
          f"'stopped' median {median:.2f} s (target <= {TARGET_S:g} s: {'met' if median <= TARGET_S else 'NOT met'})")


if __name__ == "__main__":
    main()
