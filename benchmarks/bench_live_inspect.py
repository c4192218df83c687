"""What the Inspect page's live view costs training: the worker's on_validation hook (callbacks.LiveValidation written
atomically to the run store) against the same run without it, side by side in one process, interleaved.

Rows per case (samples/s of whole epochs, median of --repeats runs, each timed from on_start to the last on_epoch,
every epoch logged to a real SQLite run store as a worker does):
  off         engine.train with the store's per-epoch logging, no on_validation (what runs cost before the live view)
  on          the same plus the worker's hook as shipped: a snapshot on the first and last evaluated epochs and in
              between at most every callbacks.LIVE_EVERY_S (0.5 s) within callbacks.LIVE_SHARE (5%) of the time
  every       the hook on every evaluated epoch (no time budget): the worst case the budget protects against

Cases: a toy run (epochs of about a millisecond, where a write per epoch would hurt most), the bench_engine CPU
size (64 -> 256 -> 16, 50k rows), and a large validation split (200k rows, val_fraction 0.25, 50k x 16 cells per
snapshot). Targets: the snapshots' share of the time ('write on', measured by the engine within the run itself, so
robust to a busy machine) <= callbacks.LIVE_SHARE (5%), and on / off >= 0.97 on a quiet machine (on a shared one the
run-to-run noise is larger than the effect). Prints; asserts nothing.

    python benchmarks/bench_live_inspect.py
    python benchmarks/bench_live_inspect.py --repeats 5 --cases toy
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import multilabel.engine as engine  # noqa: E402
from multilabel.callbacks import LIVE_SHARE, LiveSnapshots, LiveValidation  # noqa: E402
from multilabel import TrainConfig, make_synthetic  # noqa: E402
from multilabel.store import RunStore  # noqa: E402

TARGET = 0.97
TARGET_SHARE = LIVE_SHARE
CASES = {  # name -> (rows, input, hidden, labels, batch, epochs, val_fraction)
    "toy": (600, 6, 16, 3, 32, 400, 0.2),
    "engine-cpu": (50_000, 64, 256, 16, 512, 6, 0.05),
    "big-val": (200_000, 32, 64, 16, 4096, 6, 0.25),
}


def run_once(store: RunStore, case: tuple, mode: str, device: str) -> tuple[float, float, int]:
    """(samples/s, share of the timed span spent writing snapshots, snapshots written)."""
    rows, inputs, hidden, labels, batch, epochs, val_fraction = case
    data = make_synthetic(rows, inputs, labels, seed=0)
    config = TrainConfig(input_size=inputs, hidden_size=hidden, num_outputs=labels, epochs=epochs, batch_size=batch,
                         patience=0, device=device, val_fraction=val_fraction, threshold_mode="fixed", eval_every=1)
    run_id = store.create_run(config.to_dict(), data.description, name=f"bench {mode}")
    marks: list[float] = []

    def on_start(info: dict) -> None:
        store.set_info(run_id, info)
        marks.append(time.perf_counter())

    def on_epoch(record: dict) -> None:
        store.log_epoch(run_id, record)
        marks.append(time.perf_counter())

    def on_validation(live: LiveValidation) -> None:  # as worker.run_training does it
        store.save_live_validation(run_id, live.arrays())

    every = [LiveSnapshots(on_validation, every_s=0.0, share=float("inf"))] if mode == "every" else []
    result = engine.train(config, data, on_epoch=on_epoch, on_start=on_start,
                          on_validation=on_validation if mode == "on" else None, callbacks=every)
    n_train = result.info["n_train"]
    store.delete_run(run_id)
    span = marks[-1] - marks[0]
    # The engine's own account of the hook: host copies of probabilities and weights, and the write.
    return (n_train * len(result.history) / span, result.info.get("live_s", 0.0) / span,
            result.info.get("live_offers", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    modes = ("off", "on", "every")
    print(f"device {args.device}, torch threads {args.threads}; samples/s, median of {args.repeats} interleaved runs "
          "(order alternates); 'write' = share of the timed span the engine spent on snapshots: host copies and the hook (count)")
    print(f"{'case':<12}{'off':>10}{'on':>10}{'every':>10}{'on/off':>8}{'every/off':>10}{'write on':>16}"
          f"{'write every':>18}  targets: write on <= {TARGET_SHARE:.0%}; on/off >= {TARGET}")
    with tempfile.TemporaryDirectory() as home:
        store = RunStore(home)
        for name in args.cases:
            run_once(store, CASES[name], "off", args.device)  # warm-up
            rates: dict[str, list[float]] = {m: [] for m in modes}
            share: dict[str, list[float]] = {m: [] for m in modes}
            count: dict[str, list[int]] = {m: [] for m in modes}
            for r in range(args.repeats):
                for mode in (modes if r % 2 == 0 else modes[::-1]):
                    rate, part, n = run_once(store, CASES[name], mode, args.device)
                    rates[mode].append(rate)
                    share[mode].append(part)
                    count[mode].append(n)
            med = {m: statistics.median(v) for m, v in rates.items()}
            ratio = med["on"] / med["off"]
            writes = {m: f"{statistics.median(share[m]):.2%} ({statistics.median(count[m]):.0f})" for m in modes}
            print(f"{name:<12}{med['off']:>10,.0f}{med['on']:>10,.0f}{med['every']:>10,.0f}{ratio:>8.3f}"
                  f"{med['every'] / med['off']:>10.3f}{writes['on']:>16}{writes['every']:>18}  "
                  f"{'met' if statistics.median(share['on']) <= TARGET_SHARE else 'NOT met'}; "
                  f"{'met' if ratio >= TARGET else 'NOT met'}", flush=True)
        store.close()


if __name__ == "__main__":
    main()
