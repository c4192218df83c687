"""Issue 26 targets, measured side by side in one run: ONNX scoring, Parquet prediction, TensorBoard logging.

  onnx         a --rows x --cols Parquet file (float32, shipped-default net: cols -> 256 -> 6), scored end to end in
               fresh processes, interleaved --repeats times: ``python -m multilabel predict --data X.parquet --out
               P.parquet`` against a plain onnxruntime script (pyarrow reads row groups, InferenceSession.run, pyarrow
               writes the probabilities; no torch imported) on the model exported by ``python -m multilabel
               export``. Prints rows/s of each and onnx/predict (target >= 2x). Also the in-process scoring alone
               (one InferenceSession.run against TrainedModel.predict_proba on the same 1M rows in memory).
  parquet      for each --sizes N: the same rows as CSV and as Parquet, ``predict_csv`` on each in a fresh process
               (peak RSS = VmHWM before and after; rows/s). Target: Parquet's peak flat as N grows (as the CSV
               path's), Parquet rows/s >= CSV's.
  tensorboard  worker.run_training (what ``train`` runs) with and without the ``--tensorboard`` tracker, in this
               process, interleaved --repeats times: wall seconds (median and min), without/with as a throughput
               ratio, and the share of the run spent inside the tracker (target: with >= 0.95x without, i.e. the
               tracker's share <= 5%).

    python benchmarks/bench_export.py                        # all three at moderate sizes (about 5-8 min)
    python benchmarks/bench_export.py --parts onnx --rows 1000000
    python benchmarks/bench_export.py --parts parquet --sizes 1000000 4000000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

GEN_ROWS = 100_000
ROW_GROUP = 65_536

ONNX_SCRIPT = r"""
import sys
import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq

model, data, out = sys.argv[1:4]
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
import json
features, labels = json.loads(meta["feature_names"]), json.loads(meta["label_names"])
writer = None
for batch in pq.ParquetFile(data).iter_batches(batch_size=65536, columns=features):
    X = np.column_stack([batch.column(c).to_numpy() for c in features]).astype(np.float32, copy=False)
    (probs,) = session.run(["probabilities"], {"features": X})
    table = pa.Table.from_arrays([pa.array(probs[:, j]) for j in range(len(labels))], names=labels)
    writer = writer or pq.ParquetWriter(out, table.schema)
    writer.write_table(table)
writer.close()
"""

RSS_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from multilabel import load_checkpoint
from multilabel.predict import predict_csv

def hwm():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))

trained = load_checkpoint(sys.argv[2])
before = hwm()
t0 = time.perf_counter()
rows = predict_csv(trained, sys.argv[3], sys.argv[4])["rows"]
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - t0, "before_kib": before, "after_kib": hwm()}))
"""


def write_data(folder: Path, rows: int, cols: int, csv: bool = False, seed: int = 0) -> tuple[Path, Path | None]:
    """rows x cols float32 (4 decimals) as Parquet (row groups of ROW_GROUP) and, with ``csv``, as CSV."""
    rng = np.random.default_rng(seed)
    schema = pa.schema([(f"f{j}", pa.float32()) for j in range(cols)])
    pq_path, csv_path = folder / f"data-{rows}.parquet", folder / f"data-{rows}.csv" if csv else None
    pq_writer = pq.ParquetWriter(str(pq_path), schema)
    csv_writer = pacsv.CSVWriter(str(csv_path), schema) if csv_path else None
    for start in range(0, rows, GEN_ROWS):
        n = min(GEN_ROWS, rows - start)
        block = np.round(rng.standard_normal((cols, n), dtype=np.float32), 4)
        table = pa.Table.from_arrays([pa.array(block[j]) for j in range(cols)], schema=schema)
        pq_writer.write_table(table, row_group_size=ROW_GROUP)
        if csv_writer:
            csv_writer.write_table(table)
    pq_writer.close()
    if csv_writer:
        csv_writer.close()
    return pq_path, csv_path


def make_checkpoint(folder: Path, cols: int, outputs: int = 6) -> Path:
    """A net of the shipped default size (TrainConfig's hidden_size) with a real standardizer, trained 1 epoch."""
    from multilabel import TrainConfig, make_synthetic, save_checkpoint, train

    data = make_synthetic(4000, cols, outputs, seed=1)
    data.feature_names = [f"f{j}" for j in range(cols)]
    config = TrainConfig(input_size=cols, num_outputs=outputs, epochs=1, device="cpu", refit="none").validate()
    return save_checkpoint(train(config, data).trained, folder / "model.pt")


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def run(cmd: list[str], **kwargs) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, **kwargs)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return seconds


def part_onnx(folder: Path, rows: int, cols: int, repeats: int) -> None:
    checkpoint = make_checkpoint(folder, cols)
    onnx_path = folder / "model.onnx"
    run([sys.executable, "-m", "multilabel", "export", "--model", str(checkpoint), "--out", str(onnx_path)])
    data, _ = write_data(folder, rows, cols)
    script = folder / "score_onnx.py"
    script.write_text(ONNX_SCRIPT)
    times: dict[str, list[float]] = {"predict": [], "onnx": []}
    for _ in range(repeats):
        times["predict"].append(run([sys.executable, "-m", "multilabel", "predict", "--model", str(checkpoint),
                                     "--data", str(data), "--out", str(folder / "p.parquet")]))
        times["onnx"].append(run([sys.executable, str(script), str(onnx_path), str(data), str(folder / "o.parquet")]))
    got = pq.read_table(folder / "o.parquet").column("label_0").to_numpy()
    ref = pq.read_table(folder / "p.parquet").column("label_0_prob").to_numpy()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"onnx: {rows:,} rows x {cols} features, Parquet in and out, fresh processes, median of {repeats}")
    print(f"  python -m multilabel predict   {med['predict']:7.2f} s  {rows / med['predict']:>12,.0f} rows/s  "
          f"(all: {', '.join(f'{t:.2f}' for t in times['predict'])})")
    print(f"  onnxruntime script             {med['onnx']:7.2f} s  {rows / med['onnx']:>12,.0f} rows/s  "
          f"(all: {', '.join(f'{t:.2f}' for t in times['onnx'])})")
    ratio = med["predict"] / med["onnx"]
    print(f"  onnx / predict: {ratio:.2f}x (target >= 2x: {met(ratio >= 2)}); max |prob diff| label_0: "
          f"{np.abs(got - ref).max():.2e}")

    # The scoring alone, in this process, on the same rows in memory.
    import onnxruntime as ort
    import torch

    from multilabel import load_checkpoint
    X = np.column_stack([c.to_numpy() for c in pq.read_table(data).columns]).astype(np.float32)
    trained = load_checkpoint(checkpoint)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    alone = {"torch": [], "onnx": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        trained.predict_proba(X)
        alone["torch"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        session.run(["probabilities"], {"features": X})
        alone["onnx"].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in alone.items()}
    print(f"  scoring alone, in memory ({torch.get_num_threads()} torch threads, onnxruntime default threads): "
          f"predict_proba {med['torch']:.2f} s, InferenceSession.run {med['onnx']:.2f} s, "
          f"ratio {med['torch'] / med['onnx']:.2f}x")


def part_parquet(folder: Path, sizes: list[int], cols: int) -> None:
    checkpoint = make_checkpoint(folder, cols)
    print(f"parquet: predict_csv on the same rows as CSV and as Parquet ({cols} features), a fresh process each")
    print(f"  {'rows':>10} {'format':>8} {'rows/s':>12} {'peak RSS before':>16} {'after':>10}")
    seen: dict[str, list[tuple[float, float]]] = {"csv": [], "parquet": []}  # (rows/s, peak MiB) per size
    for rows in sizes:
        pq_path, csv_path = write_data(folder, rows, cols, csv=True)
        for kind, path in (("csv", csv_path), ("parquet", pq_path)):
            proc = subprocess.run([sys.executable, "-c", RSS_CHILD, str(ROOT), str(checkpoint), str(path),
                                   str(folder / "out.csv")], capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-2000:])
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            seen[kind].append((r["rows"] / r["seconds"], r["after_kib"] / 1024))
            print(f"  {rows:>10,} {kind:>8} {r['rows'] / r['seconds']:>12,.0f} {r['before_kib'] / 1024:>13,.0f} MiB "
                  f"{r['after_kib'] / 1024:>6,.0f} MiB")
        pq_path.unlink()
        csv_path.unlink()
    growth = {k: v[-1][1] - v[0][1] for k, v in seen.items()}
    faster = all(p[0] >= c[0] for p, c in zip(seen["parquet"], seen["csv"]))
    flat = growth["parquet"] <= growth["csv"] + 16  # within 16 MiB of the CSV path's growth
    print(f"  peak growth {sizes[0]:,} -> {sizes[-1]:,} rows: csv {growth['csv']:+.0f} MiB, parquet "
          f"{growth['parquet']:+.0f} MiB (target: parquet's no more than csv's: {met(flat)}); "
          f"parquet rows/s >= csv's at every size: {met(faster)}")


def part_tensorboard(folder: Path, repeats: int, samples: int, epochs: int) -> None:
    """In this process, interleaved: worker.run_training (what ``train`` runs) with and without a TensorBoard tracker,
    wall seconds of each; and the seconds spent inside the tracker's calls (its own share of the run, which the
    machine's load cannot inflate the way it inflates a difference of two wall times)."""
    import torch

    from multilabel import TrainConfig, make_synthetic
    from multilabel.store import RunStore
    from multilabel.tracking import Trackers, TrackerSpec
    from multilabel.worker import StopFlag, run_training

    class Timed(Trackers):
        spent = 0.0

        def _each(self, method: str, *args: object) -> None:
            t0 = time.perf_counter()
            super()._each(method, *args)
            Timed.spent += time.perf_counter() - t0

    data = make_synthetic(samples, 20, 6, seed=0)
    config = TrainConfig(input_size=20, num_outputs=6, epochs=epochs, patience=0, device="cpu").validate()
    store = RunStore(folder / "store")
    times: dict[str, list[float]] = {"without": [], "with": []}
    shares = []
    warm = store.create_run(config.to_dict(), data.description)  # first-run costs (kernels, caches) out of the way
    run_training(store, warm, config.replace(epochs=1), data, StopFlag(store, warm))
    for i in range(repeats):
        for kind in ("without", "with"):
            run_id = store.create_run(config.to_dict(), data.description)
            trackers = None
            if kind == "with":
                Timed.spent = 0.0
                trackers = Timed.open(TrackerSpec(tensorboard=str(folder / "tb")), run_id, config,
                                      list(data.label_names), data.description)
            t0 = time.perf_counter()
            result = run_training(store, run_id, config, data, StopFlag(store, run_id), trackers=trackers)
            seconds = time.perf_counter() - t0
            assert result is not None and result.outcome == "completed"
            times[kind].append(seconds)
            if kind == "with":
                shares.append(Timed.spent / seconds)
    store.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    print(f"tensorboard: worker.run_training, {samples:,} synthetic rows x 20 -> 6 labels, {epochs} epochs, the "
          f"shipped defaults otherwise (refit on all rows included), {torch.get_num_threads()} torch threads, "
          f"interleaved, {repeats} each")
    for k in ("without", "with"):
        print(f"  {k:>8} tracker  median {med[k]:6.2f} s  min {best[k]:6.2f} s  "
              f"(all: {', '.join(f'{t:.2f}' for t in times[k])})")
    share = statistics.median(shares)
    print(f"  throughput with / without: median {med['without'] / med['with']:.3f}x, min "
          f"{best['without'] / best['with']:.3f}x; time inside the tracker: {100 * share:.2f}% of the run "
          f"(with / without >= 0.95x: {met(share <= 0.05)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["onnx", "parquet", "tensorboard"],
                        choices=["onnx", "parquet", "tensorboard"])
    parser.add_argument("--rows", type=int, default=1_000_000, help="onnx: rows [default: 1,000,000]")
    parser.add_argument("--cols", type=int, default=64, help="features [default: 64]")
    parser.add_argument("--sizes", type=int, nargs="+", default=[250_000, 1_000_000],
                        help="parquet: row counts [default: 250,000 1,000,000]")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=20_000, help="tensorboard: training rows [default: 20,000]")
    parser.add_argument("--epochs", type=int, default=20, help="tensorboard: epochs [default: 20]")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        folder = Path(tmp)
        if "onnx" in args.parts:
            part_onnx(folder, args.rows, args.cols, args.repeats)
        if "parquet" in args.parts:
            part_parquet(folder, args.sizes, args.cols)
        if "tensorboard" in args.parts:
            part_tensorboard(folder, args.repeats, args.samples, args.epochs)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
