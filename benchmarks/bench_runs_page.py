"""The Runs page with many runs against the same page with a few, side by side: script-run time under AppTest.

Two run stores are filled once: ``--runs`` finished runs (default 200) and 3 finished runs, each run holding a real
engine history of ``--epochs`` epochs (one training run's records, copied; settings vary per run so the parallel
coordinates have axes). The page is then re-run in both stores, interleaved, ``--rounds`` times; the table prints
median and best script-run times and their ratio. Target: a re-run with 200 runs within 1 s (median) on 2 cores.

    python benchmarks/bench_runs_page.py
    python benchmarks/bench_runs_page.py --runs 500 --rounds 20
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_NUM_THREADS", "1")
TARGET_S = 1.0


def fill(home: Path, n: int, epochs: int) -> None:
    from multilabel import TrainConfig, make_synthetic, train
    from multilabel.store import RunStore

    store = RunStore(home)
    result = train(TrainConfig(input_size=6, hidden_size=8, num_outputs=3, epochs=epochs, patience=0,
                               device="cpu").validate(), make_synthetic(300, 6, 3, seed=1))
    rng = random.Random(0)
    for i in range(n):
        config = TrainConfig(input_size=6, hidden_size=rng.choice([8, 16, 64, 256]), num_outputs=3, epochs=epochs,
                             learning_rate=rng.choice([1e-3, 1e-2, 5e-2]), optimizer=rng.choice(["adam", "adamw"]),
                             seed=i, device="cpu")
        run_id = store.create_run(config.to_dict(), {"source": "synthetic", "rows": 300}, name=f"run {i}")
        for record in result.history:
            store.log_epoch(run_id, record)
        store.finish(run_id, "completed", best={**result.best, "micro_f1": rng.random()})
    store.close()


def page(home: Path):
    from streamlit.testing.v1 import AppTest

    os.environ["MULTILABEL_HOME"] = str(home)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.switch_page("pages/3_Runs.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        homes = {f"{args.runs} runs": Path(tmp) / "many", "3 runs": Path(tmp) / "few"}
        fill(homes[f"{args.runs} runs"], args.runs, args.epochs)
        fill(homes["3 runs"], 3, args.epochs)
        apps = {name: page(home) for name, home in homes.items()}
        times: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(args.rounds):  # interleaved: both see the same machine load
            for name, at in apps.items():
                os.environ["MULTILABEL_HOME"] = str(homes[name])
                start = time.perf_counter()
                at.run()
                times[name].append(time.perf_counter() - start)
                assert len(at.dataframe[0].value) == (args.runs if name != "3 runs" else 3)
        many, few = times[f"{args.runs} runs"], times["3 runs"]
        print(f"{'store':>10} | median s | best s")
        for name, values in times.items():
            print(f"{name:>10} | {statistics.median(values):8.3f} | {min(values):6.3f}")
        ratio = statistics.median(many) / statistics.median(few)
        met = "met" if statistics.median(many) <= TARGET_S else "NOT met"
        print(f"ratio {args.runs} / 3 runs (median): {ratio:.2f}x; target re-run <= {TARGET_S:g} s with "
              f"{args.runs} runs: {met}")


if __name__ == "__main__":
    main()
