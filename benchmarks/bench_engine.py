"""Training speed of the engine against hand-written loops, side by side on the same data in one run.

Rows (samples/s, median of --repeats runs, after a warm-up):
  engine          multilabel.train(config, data) as shipped: metrics on, on CUDA cuda_graph="auto".
                  Timed from on_start (called just before the first epoch) to the last on_epoch, so it covers every
                  epoch in full: the training steps, the validation pass, the metrics, histograms, probe rows and
                  best-weights copy that the user gets each epoch. It leaves out the one-off set-up (standardize,
                  copy to the device, CUDA-graph capture) and the final threshold pass, as the hand loops leave out
                  theirs. The engine's own per-epoch samples_per_s (history, whole epochs with their metrics) is
                  printed beside it; the gap between the two is the callbacks and the time between epochs.
  engine-nograph  CUDA only: the same with cuda_graph="off".
  engine-defaults the engine with TrainConfig's shipped defaults for everything but the sizes, the batch, the
                  epochs, patience 0 and the held-out share (issue 24: dropout 0.3, AdamW with weight decay 1.0,
                  learning rate 1e-3, whatever input noise is by default). A refit is a second training after
                  train() returns: bench_cli_job.py times it.
  resident        hand-written: data on the device once, randperm per epoch, index_select batches, Adam, loss
                  summed on the device, one .item() per epoch. No validation.
  resident-dropout  the same loop with the defaults' regularization written the obvious way: nn.Dropout after
                  the ReLU, torch.optim.AdamW with the defaults' learning rate and weight decay.
  graph           CUDA only: resident, with forward+loss+backward+Adam(capturable=True) captured as one CUDA graph
                  fed through a static index buffer (the last partial batch runs eagerly, as in the engine).
  naive           DataLoader(TensorDataset) on the host, .to(device) per batch, loss.item() per step.

Every loop trains on n_train rows per epoch: the rows the engine keeps after holding out val_fraction.

    python benchmarks/bench_engine.py                       # CPU here, CUDA where there is one
    python benchmarks/bench_engine.py --device cpu --batch-sizes 512 4096 --rows 50000
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import multilabel  # noqa: E402
from multilabel import MLP, TrainConfig  # noqa: E402
from multilabel.engine import split_indices  # noqa: E402

LEARNING_RATE = 3e-3
# On CUDA there are five rows per batch size, so fewer repeats keep the default run under about three minutes.
CPU_DEFAULTS = dict(input_size=64, hidden_size=256, num_outputs=16, rows=50_000, batch_sizes=[512, 4096], repeats=5)
CUDA_DEFAULTS = dict(input_size=128, hidden_size=512, num_outputs=32, rows=262_144, batch_sizes=[512, 4096, 65536],
                     repeats=3)
TARGET_ENGINE_VS_RESIDENT_CPU = 0.95
TARGET_DEFAULTS_VS_DROPOUT_LOOP = 0.85
TARGET_ENGINE_VS_GRAPH_CUDA = 0.80
TARGET_GRAPH_BATCH = 4096


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# A runner trains for `epochs` epochs and returns (loop seconds, rows trained, extra columns).
Runner = Callable[[int], tuple[float, int, dict]]


def engine_runner(data: multilabel.Dataset, args: argparse.Namespace, batch_size: int, device: torch.device,
                  cuda_graph: str, defaults: bool = False) -> Runner:
    def run(epochs: int) -> tuple[float, int, dict]:
        sizes = dict(input_size=args.input_size, hidden_size=args.hidden_size, num_outputs=args.num_outputs,
                     batch_size=batch_size, epochs=epochs, patience=0, device=device.type,
                     val_fraction=args.val_fraction)
        if defaults:  # everything else as shipped
            config = TrainConfig(**sizes)
        else:  # the hand loops' model and optimizer: no dropout, Adam without weight decay
            config = TrainConfig(**sizes, threshold_mode="fixed", weight_decay=0.0, learning_rate=LEARNING_RATE,
                                 cuda_graph=cuda_graph, dropout=0.0, optimizer="adam")
        marks: list[float] = []

        def on_start(info: dict) -> None:
            sync(device)
            marks.append(time.perf_counter())

        def on_epoch(record: dict) -> None:
            # The engine has read this epoch's losses and probabilities to the host: its device work is done.
            marks.append(time.perf_counter())

        result = multilabel.train(config, data, on_epoch=on_epoch, on_start=on_start)
        n_train = result.info["n_train"]
        history_rate = statistics.median(r["samples_per_s"] for r in result.history)
        return marks[-1] - marks[0], n_train * epochs, {"history_samples_per_s": history_rate,
                                                        "cuda_graph": result.info["cuda_graph"]}
    return run


def resident_runner(X: torch.Tensor, Y: torch.Tensor, args: argparse.Namespace, batch_size: int,
                    device: torch.device, dropout: bool = False) -> Runner:
    def run(epochs: int) -> tuple[float, int, dict]:
        torch.manual_seed(0)
        if dropout:  # the shipped defaults' regularization, written the obvious way
            shipped = TrainConfig()
            model = nn.Sequential(nn.Linear(args.input_size, args.hidden_size), nn.ReLU(),
                                  nn.Dropout(shipped.dropout), nn.Linear(args.hidden_size, args.num_outputs)).to(device)
            optimizer: torch.optim.Optimizer = torch.optim.AdamW(model.parameters(), lr=shipped.learning_rate,
                                                                 weight_decay=shipped.weight_decay)
        else:
            model = MLP(args.input_size, args.hidden_size, args.num_outputs).to(device)
            optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        model.train()
        loss_fn = nn.BCEWithLogitsLoss()
        gen = torch.Generator(device=device)
        gen.manual_seed(0)
        n = X.shape[0]
        loss_sum = torch.zeros((), device=device)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(epochs):
            loss_sum.zero_()
            perm = torch.randperm(n, device=device, generator=gen)
            for start in range(0, n, batch_size):
                idx = perm[start:start + batch_size]
                loss = loss_fn(model(X.index_select(0, idx)), Y.index_select(0, idx))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum.add_(loss.detach() * idx.numel())
            epoch_loss = (loss_sum / n).item()  # the one host sync per epoch
        sync(device)
        assert math.isfinite(epoch_loss)
        return time.perf_counter() - t0, n * epochs, {}
    return run


def graph_runner(X: torch.Tensor, Y: torch.Tensor, args: argparse.Namespace, batch_size: int,
                 device: torch.device) -> Runner:
    def run(epochs: int) -> tuple[float, int, dict]:
        torch.manual_seed(0)
        model = MLP(args.input_size, args.hidden_size, args.num_outputs).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, capturable=True)
        loss_fn = nn.BCEWithLogitsLoss()
        n = X.shape[0]
        bs = min(batch_size, n)
        loss_sum = torch.zeros((), device=device)
        static_idx = torch.arange(bs, device=device)

        def step(idx: torch.Tensor) -> None:
            loss = loss_fn(model(X.index_select(0, idx)), Y.index_select(0, idx))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum.add_(loss.detach() * idx.numel())

        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up (kernel selection, Adam state) before capture, off the default stream
                step(static_idx)
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            loss = loss_fn(model(X.index_select(0, static_idx)), Y.index_select(0, static_idx))
            loss.backward()
            optimizer.step()
            loss_sum.add_(loss.detach() * bs)
        gen = torch.Generator(device=device)
        gen.manual_seed(0)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(epochs):
            loss_sum.zero_()
            perm = torch.randperm(n, device=device, generator=gen)
            for start in range(0, n, bs):
                idx = perm[start:start + bs]
                if idx.numel() == bs:
                    static_idx.copy_(idx)
                    graph.replay()
                else:
                    step(idx)
            epoch_loss = (loss_sum / n).item()
        sync(device)
        assert math.isfinite(epoch_loss)
        return time.perf_counter() - t0, n * epochs, {}
    return run


def naive_runner(X_host: torch.Tensor, Y_host: torch.Tensor, args: argparse.Namespace, batch_size: int,
                 device: torch.device) -> Runner:
    def run(epochs: int) -> tuple[float, int, dict]:
        torch.manual_seed(0)
        model = MLP(args.input_size, args.hidden_size, args.num_outputs).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        loss_fn = nn.BCEWithLogitsLoss()
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X_host, Y_host), batch_size=batch_size,
                                             shuffle=True)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(epochs):
            total = 0.0
            for xb, yb in loader:
                xb, yb = xb.to(device), yb.to(device)
                loss = loss_fn(model(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * xb.shape[0]  # the per-step host sync this row exists to show
        sync(device)
        assert math.isfinite(total)
        return time.perf_counter() - t0, X_host.shape[0] * epochs, {}
    return run


def calibrate_epochs(run: Runner, target_s: float, max_epochs: int) -> int:
    """Epochs that make one timed run last about target_s on a quiet machine.

    The first call warms up (allocator, kernels, lazy imports); the fastest of three one-epoch probes sets the pace,
    so a burst of load from other processes during calibration cannot shrink a row to a single epoch. A row whose
    warm-up epoch alone lasts target_s gets one epoch and no probes.
    """
    first = run(1)[0]
    if first >= target_s:  # a slow row (the DataLoader one): one epoch already fills a timed run
        return 1
    per_epoch = max(min(run(1)[0] for _ in range(3)), 1e-6)
    return max(1, min(max_epochs, round(target_s / per_epoch)))


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu",
                        help="device to train on (default: cuda if available, else cpu)")
    parser.add_argument("--input-size", type=int, help="features (default 64 on CPU, 128 on CUDA)")
    parser.add_argument("--hidden-size", type=int, help="hidden units (default 256 on CPU, 512 on CUDA)")
    parser.add_argument("--num-outputs", type=int, help="labels (default 16 on CPU, 32 on CUDA)")
    parser.add_argument("--rows", type=int, help="synthetic rows incl. validation (default 50000 CPU, 262144 CUDA)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", help="default 512 4096 (CPU), 512 4096 65536 (CUDA)")
    parser.add_argument("--val-fraction", type=float, default=0.05, help="engine's held-out share (default 0.05)")
    parser.add_argument("--repeats", type=int, help="timed runs per row; the median is shown (default 5 CPU, 3 CUDA)")
    parser.add_argument("--target-s", type=float, default=1.5,
                        help="seconds one timed run should last; sets the epochs per row (default 1.5)")
    parser.add_argument("--max-epochs", type=int, default=1000, help="cap on epochs per timed run (default 1000)")
    parser.add_argument("--skip-naive", action="store_true", help="leave out the DataLoader row")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's own choice, as a user gets)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but torch.cuda.is_available() is False")
    defaults = CUDA_DEFAULTS if device.type == "cuda" else CPU_DEFAULTS
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    data = multilabel.make_synthetic(args.rows, args.input_size, args.num_outputs, seed=0)
    n_train = len(split_indices(args.rows, args.val_fraction, 0)[0])
    # The hand loops get exactly as many rows per epoch as the engine trains on (it holds out val_fraction).
    X_host = torch.from_numpy(data.X[:n_train].copy())
    Y_host = torch.from_numpy(data.Y[:n_train].copy())
    X_dev, Y_dev = X_host.to(device), Y_host.to(device)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {device} ({name}); torch {torch.__version__}")
    print(f"MLP {args.input_size} -> {args.hidden_size} -> {args.num_outputs}; {args.rows} rows, engine holds out "
          f"{args.rows - n_train} for validation; every loop trains {n_train} rows per epoch")
    print(f"samples/s = training rows per second of the epoch loop; median of {args.repeats} runs of "
          f"~{args.target_s} s "
          "each, runs interleaved across rows\n")

    results: dict[int, dict[str, dict]] = {}
    for bs in args.batch_sizes:
        runners: dict[str, Runner] = {"engine": engine_runner(data, args, bs, device, "auto")}
        if device.type == "cuda":
            runners["engine-nograph"] = engine_runner(data, args, bs, device, "off")
        runners["engine-defaults"] = engine_runner(data, args, bs, device, "auto", defaults=True)
        runners["resident"] = resident_runner(X_dev, Y_dev, args, bs, device)
        runners["resident-dropout"] = resident_runner(X_dev, Y_dev, args, bs, device, dropout=True)
        if device.type == "cuda":
            runners["graph"] = graph_runner(X_dev, Y_dev, args, bs, device)
        if not args.skip_naive:
            runners["naive"] = naive_runner(X_host, Y_host, args, bs, device)
        epochs = {k: calibrate_epochs(r, args.target_s, args.max_epochs) for k, r in runners.items()}
        rates: dict[str, list[float]] = {k: [] for k in runners}
        extra: dict[str, dict] = {}
        for _ in range(args.repeats):
            for key, run in runners.items():
                seconds, rows, more = run(epochs[key])
                rates[key].append(rows / seconds)
                if more:
                    extra.setdefault(key, {"history": []})
                    extra[key]["history"].append(more["history_samples_per_s"])
                    extra[key]["cuda_graph"] = more["cuda_graph"]
        results[bs] = {k: {"rate": statistics.median(v), "epochs": epochs[k], **extra.get(k, {})}
                       for k, v in rates.items()}
        print_batch(bs, results[bs])
    print_ratios(results, device)


def print_batch(bs: int, rows: dict[str, dict]) -> None:
    print(f"batch {bs}")
    print(f"  {'loop':<17} {'epochs/run':>10} {'samples/s':>14} {'engine history samples/s':>26}  note")
    for key, row in rows.items():
        hist = fmt_rate(statistics.median(row["history"])) if "history" in row else ""
        note = ""
        if "cuda_graph" in row:
            note = "graph captured" if row["cuda_graph"] else "eager steps"
        print(f"  {key:<17} {row['epochs']:>10} {fmt_rate(row['rate']):>14} {hist:>26}  {note}")
    print()


def print_ratios(results: dict[int, dict[str, dict]], device: torch.device) -> None:
    print("ratios (same run)")
    print(f"  {'batch':>7}  {'ratio':<36} {'value':>7}  target")
    for bs, rows in results.items():
        def ratio(a: str, b: str) -> float | None:
            return rows[a]["rate"] / rows[b]["rate"] if a in rows and b in rows else None

        lines = [("engine / resident", ratio("engine", "resident"),
                  f">= {TARGET_ENGINE_VS_RESIDENT_CPU}x" if device.type == "cpu" else ""),
                 ("engine-defaults / resident-dropout", ratio("engine-defaults", "resident-dropout"),
                  f">= {TARGET_DEFAULTS_VS_DROPOUT_LOOP}x" if device.type == "cpu" else ""),
                 ("engine-defaults / resident", ratio("engine-defaults", "resident"), ""),
                 ("engine-defaults / engine", ratio("engine-defaults", "engine"), "")]
        if device.type == "cuda":
            lines += [("engine / graph", ratio("engine", "graph"),
                       f">= {TARGET_ENGINE_VS_GRAPH_CUDA}x" if bs == TARGET_GRAPH_BATCH else ""),
                      ("engine-nograph / resident", ratio("engine-nograph", "resident"), ""),
                      ("graph / resident", ratio("graph", "resident"), "")]
        lines.append(("resident / naive", ratio("resident", "naive"), ""))
        for label, value, target in lines:
            if value is None:
                continue
            verdict = ""
            if target:
                verdict = "  met" if value >= float(target.split()[1].rstrip("x")) else "  NOT met"
            print(f"  {bs:>7}  {label:<36} {value:>6.2f}x  {target}{verdict}")


if __name__ == "__main__":
    main()
