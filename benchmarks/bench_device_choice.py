"""Is device="auto" honest? Per-step time of the engine on CPU and on CUDA for nets from tiny to large.

For each size: the engine's median per-epoch samples/s (training steps only, from the history) on each available
device, the resulting time per optimizer step, which device was faster, and what device="auto" picks.

    python benchmarks/bench_device_choice.py [--rows 20000] [--epochs 6]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from multilabel import TrainConfig, available_devices, make_synthetic, resolve_device, train  # noqa: E402

SIZES = [  # (input, hidden, outputs, batch)
    (10, 20, 5, 32),      # the seed article's net
    (72, 64, 6, 64),      # emotions.csv with the defaults
    (32, 128, 8, 256),
    (64, 256, 16, 512),
    (128, 512, 32, 512),
    (128, 512, 32, 4096),
]


def step_ms(config: TrainConfig, rows: int) -> float:
    data = make_synthetic(rows, config.input_size, config.num_outputs, seed=0)
    history = train(config, data).history[1:]  # drop the first epoch (warm-up)
    rate = statistics.median(r["samples_per_s"] for r in history)
    return config.batch_size / rate * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()
    devices = [d for d in available_devices() if d in ("cpu", "cuda")]
    print(f"{'net':<18} {'batch':>6} {'MACs/step':>11} " + " ".join(f"{d + ' ms/step':>14}" for d in devices)
          + f" {'faster':>7} {'auto':>5}")
    for inp, hid, out, bs in SIZES:
        base = TrainConfig(input_size=inp, hidden_size=hid, num_outputs=out, batch_size=bs, epochs=args.epochs,
                           patience=0, threshold_mode="fixed", val_fraction=0.05).validate()
        rows = max(args.rows, bs * 8)
        times = {d: step_ms(base.replace(device=d).validate(), rows) for d in devices}
        faster = min(times, key=times.get)
        auto = resolve_device(base, int(rows * (1 - base.val_fraction))).type
        print(f"{f'{inp}->{hid}->{out}':<18} {bs:>6} {base.macs_per_step():>11,} "
              + " ".join(f"{times[d]:>14.3f}" for d in devices) + f" {faster:>7} {auto:>5}"
              + ("" if auto == faster else "   <- auto differs"))


if __name__ == "__main__":
    main()
