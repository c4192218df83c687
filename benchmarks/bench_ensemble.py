"""Ensemble members trained together (one stacked model, multilabel.batched.refit_seeds) against one by one
(multilabel.refit.refit per seed), side by side in one run: members per minute and the ratio.

Both train the same k members (same initial weights, same batch orders, same epochs) on the same rows; the stacked
run gives the same weights up to float rounding (pinned by tests/test_search.py). Timings alternate between the two
paths, --repeats times; the median is shown.

    python benchmarks/bench_ensemble.py                          # emotions-sized data (593 x 72 -> 6), k = 5
    python benchmarks/bench_ensemble.py --rows 20000 --members 10 --hidden 512 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from multilabel import TrainConfig, make_synthetic  # noqa: E402
from multilabel.batched import refit_seeds  # noqa: E402
from multilabel.refit import refit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=593)
    parser.add_argument("--features", type=int, default=72)
    parser.add_argument("--labels", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=0, help="0 = auto")
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--members", type=int, nargs="+", default=[5])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = make_synthetic(args.rows, args.features, args.labels, noise=0.3, seed=0)
    config = TrainConfig(input_size=args.features, num_outputs=args.labels, hidden_size=args.hidden,
                         batch_size=args.batch_size, dropout=args.dropout, optimizer="adamw", weight_decay=1e-2,
                         lr_schedule="cosine", device=args.device).validate()
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    print(f"{args.rows} rows, {args.features} -> {args.hidden} -> {args.labels}, batch {args.batch_size or 'auto'}, "
          f"{args.epochs} epochs, {args.device}, {args.threads} thread(s)")
    print(f"{'members':>7} {'one by one s':>13} {'together s':>11} {'members/min alone':>18} "
          f"{'members/min together':>21} {'speed-up':>9}")
    refit_seeds(config, data, 1, [0, 1])  # warm-up (allocator, kernels)
    for k in args.members:
        seeds = list(range(k))
        alone, together = [], []
        for _ in range(args.repeats):
            sync()
            t0 = time.perf_counter()
            for s in seeds:
                refit(config.replace(seed=s), data, args.epochs)
            sync()
            alone.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            refit_seeds(config, data, args.epochs, seeds)
            sync()
            together.append(time.perf_counter() - t0)
        a, t = statistics.median(alone), statistics.median(together)
        print(f"{k:>7} {a:>13.2f} {t:>11.2f} {60 * k / a:>18.1f} {60 * k / t:>21.1f} {a / t:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
