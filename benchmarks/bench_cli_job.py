"""The whole CLI job against a hand-written script doing the same work, side by side (issue 8).

Both are fresh ``python`` processes timed from start to exit, run interleaved (cli, hand, cli, hand, ...), and the
median of each is compared. The job: parse a CSV of ROWS x FEATURES features + LABELS 0/1 label columns, standardize
on the training split, train Linear(FEATURES, HIDDEN) -> ReLU -> Linear(HIDDEN, LABELS) with Adam for EPOCHS
epochs at batch BATCH on the CPU with the data resident (one permutation per epoch, index_select batches), a
validation loss every epoch, keep the best weights, save them. The CLI does more on top (metrics within their
time budget, the run store, a checkpoint with names and thresholds, final metrics); the target is that all of it
costs at most 10%: ratio = hand / cli >= 0.9.

Beside that same-work pair, the CLI runs the shipped defaults (issue 24: whatever TrainConfig's defaults are; today
dropout 0.3, AdamW with weight decay 1.0, refit on all rows), with only the job's sizes, --patience 0 (every epoch
runs, as on the hand side) and --device cpu given:
  defaults                 the job as a new user runs it (the refit included)
  defaults, refit none     the same without the refit
  defaults, dropout 0      the same without the refit and without dropout
Targets: (dropout 0) / (refit none) >= 0.85 (dropout costs at most 15%); defaults / (refit none) <= 2.3 (the refit
trains on 1.25x the rows of the first training). --baseline DIR adds the same three rows run from another checkout
(e.g. ``git archive <commit> | tar -x -C DIR``), interleaved with these, for before/after tables.

    python benchmarks/bench_cli_job.py --skip-hand --baseline /tmp/before   # the defaults, before and after

    python benchmarks/bench_cli_job.py                 # 100k x 64, 16 labels, hidden 512, 20 epochs, 3 repeats
    python benchmarks/bench_cli_job.py --rows 20000 --epochs 5 --repeats 2   # a quick check
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = 0.9
TARGET_DROPOUT = 0.85
TARGET_REFIT = 2.3

HAND = textwrap.dedent("""
    import sys, time
    import numpy as np, pandas as pd, torch
    from torch import nn

    path, n_labels, hidden, epochs, batch, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), \\
        int(sys.argv[5]), sys.argv[6]
    frame = pd.read_csv(path, engine="pyarrow")
    labels = [c for c in frame.columns if c.startswith("y")]
    X = frame.drop(columns=labels).to_numpy(np.float32)
    Y = frame[labels].to_numpy(np.float32)
    order = np.random.default_rng(0).permutation(len(X))
    n_val = int(round(len(X) * 0.2))
    tr, va = np.sort(order[n_val:]), np.sort(order[:n_val])
    mean, std = X[tr].mean(0), X[tr].std(0)
    std[std < 1e-12] = 1.0
    X = (X - mean) / std
    X_tr, Y_tr = torch.from_numpy(X[tr]), torch.from_numpy(Y[tr])
    X_va, Y_va = torch.from_numpy(X[va]), torch.from_numpy(Y[va])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(X.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, n_labels))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(0)
    best, best_state = float("inf"), None
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(X_tr), generator=gen)
        total = torch.zeros(())
        for s in range(0, len(perm), batch):
            idx = perm[s:s + batch]
            loss = loss_fn(model(X_tr.index_select(0, idx)), Y_tr.index_select(0, idx))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        model.eval()
        with torch.no_grad():
            val = loss_fn(model(X_va), Y_va).item()
        if val < best:
            best, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
    torch.save({"state_dict": best_state, "mean": mean, "std": std}, out)
""")


def make_csv(path: Path, rows: int, features: int, labels: int) -> None:
    sys.path.insert(0, str(REPO))
    import numpy as np
    import pandas as pd

    from multilabel import make_synthetic

    data = make_synthetic(rows, features, labels, seed=0)
    frame = pd.DataFrame(data.X, columns=[f"x{i}" for i in range(features)])
    for j in range(labels):
        frame[f"y{j}"] = data.Y[:, j].astype(np.int8)
    frame.to_csv(path, index=False, float_format="%.6g")


def timed(cmd: list[str], env: dict[str, str], cwd: Path = REPO) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--labels", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-hand", action="store_true", help="only the CLI rows of the shipped defaults")
    ap.add_argument("--baseline", type=Path, help="another checkout whose CLI runs the defaults' rows too")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_cli_job_") as tmp:
        tmp_path = Path(tmp)
        csv_path = tmp_path / "data.csv"
        make_csv(csv_path, args.rows, args.features, args.labels)
        env = {**os.environ, "MULTILABEL_HOME": str(tmp_path / "home")}
        job = [sys.executable, "-m", "multilabel", "train", "--data", str(csv_path), "--labels", "y*",
               "--hidden-size", str(args.hidden), "--epochs", str(args.epochs), "--batch-size", str(args.batch),
               "--device", "cpu", "--patience", "0", "--quiet", "--out", str(tmp_path / "cli.pt")]
        # the hand script's model and optimizer (the defaults add dropout and AdamW: other work)
        cli = job + ["--dropout", "0", "--optimizer", "adam", "--lr", "3e-3", "--weight-decay", "1e-4",
                     "--refit", "none"]  # the hand script trains once; the default refit would train a second time
        shipped = {"defaults": job, "defaults, refit none": job + ["--refit", "none"],
                   "defaults, dropout 0": job + ["--refit", "none", "--dropout", "0"]}
        hand = [sys.executable, "-c", HAND, str(csv_path), str(args.labels), str(args.hidden), str(args.epochs),
                str(args.batch), str(tmp_path / "hand.pt")]
        imports = [sys.executable, "-c", "import torch, pandas"]
        import_cli = [sys.executable, "-c", "import multilabel.cli, multilabel.worker"]
        commands = {} if args.skip_hand else {"cli": cli, "hand": hand, "import torch+pandas": imports,
                                              "import cli+worker": import_cli}
        commands.update(shipped)
        where = {name: REPO for name in commands}
        if args.baseline is not None:
            for name, command in shipped.items():
                commands[f"{name} (baseline)"] = command
                where[f"{name} (baseline)"] = args.baseline.resolve()
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):  # interleaved: a noisy neighbour hits every row alike
            for name, command in commands.items():
                times[name].append(timed(command, env, where[name]))

    print(f"CLI job vs hand-written script: {args.rows:,} x {args.features} CSV, {args.labels} labels, hidden "
          f"{args.hidden}, {args.epochs} epochs, batch {args.batch}, CPU, {args.repeats} interleaved repeats "
          f"(torch threads: {os.environ.get('OMP_NUM_THREADS', 'default')})")
    print(f"  {'':<33} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, values in times.items():
        print(f"  {name:<33} {statistics.median(values):9.2f} {min(values):7.2f} {max(values):7.2f}")
    med = {name: statistics.median(values) for name, values in times.items()}
    if "hand" in med:
        ratio = med["hand"] / med["cli"]
        print(f"  ratio hand / cli = {ratio:.2f}  (target >= {TARGET}): {'met' if ratio >= TARGET else 'NOT met'}")
    for suffix in ("", " (baseline)") if args.baseline is not None else ("",):
        ratio = med[f"defaults, dropout 0{suffix}"] / med[f"defaults, refit none{suffix}"]
        print(f"  ratio (dropout 0) / (refit none){suffix} = {ratio:.2f}  (target >= {TARGET_DROPOUT}): "
              f"{'met' if ratio >= TARGET_DROPOUT else 'NOT met'}")
        ratio = med[f"defaults{suffix}"] / med[f"defaults, refit none{suffix}"]
        print(f"  ratio defaults / (refit none){suffix} = {ratio:.2f}  (target <= {TARGET_REFIT}): "
              f"{'met' if ratio <= TARGET_REFIT else 'NOT met'}")


if __name__ == "__main__":
    main()
