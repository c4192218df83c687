"""Batch prediction speed and memory: multilabel.predict.predict_csv against parsing the same CSV alone.

Generates a CSV of --rows rows x --cols float columns in a temporary folder (deleted afterwards), builds a small
model for it (MLP cols -> hidden -> outputs, standardizer of zeros and ones, thresholds 0.5), then, interleaved,
--repeats times each:
  parse only   pyarrow.csv.open_csv over the file with the ReadOptions predict_csv itself passes (caught once on a
               small file), batches consumed and dropped; with --alt-block-size, again with that block size;
  predict_csv  multilabel.predict.predict_csv(trained, csv, out.csv): parse, check features, model, write.
Prints rows/s of each (median) and the ratio predict/parse (target >= 0.8x). With --breakdown, one more pass times
predict_csv's stages separately (parse, features, model, write) to show where the time goes.

Peak memory: for each --rss-sizes N, a fresh Python process loads the checkpoint and runs predict_csv on an N-row
file, and reports its peak resident memory before and after the call; with --rss-reader, another fresh process
runs the reader alone (same block size, and --alt-block-size if given) to show how much of that peak is pyarrow's.
On Linux the peak is VmHWM from /proc/self/status. resource.getrusage(RUSAGE_SELF).ru_maxrss is printed beside it
for reference only: in a child started by subprocess it starts at the *parent's* peak (the kernel carries it over
fork/vfork + exec), so it shows this benchmark's own peak until the child exceeds it. A streaming reader should
keep the peak flat as the file grows.

    python benchmarks/bench_predict.py                                   # 1M rows, peak RSS at 1M
    python benchmarks/bench_predict.py --rss-sizes 1000000 4000000       # also 4M rows (about 4 GB on disk)
    python benchmarks/bench_predict.py --rows 200000 --rss-sizes 200000  # a quick look
    python benchmarks/bench_predict.py --rss-sizes 1000000 4000000 --rss-reader --alt-block-size 4194304 --breakdown
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import torch  # noqa: E402

from multilabel import MLP, Standardizer, TrainConfig, TrainedModel, save_checkpoint  # noqa: E402
from multilabel import predict as predict_mod  # noqa: E402

TARGET_PREDICT_VS_PARSE = 0.8
GEN_CHUNK_ROWS = 100_000

RSS_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import pyarrow.csv as pacsv
from multilabel import load_checkpoint
from multilabel.predict import predict_csv

mode, checkpoint, csv, out, block_size = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])


def vm_hwm_kib():
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None


trained = load_checkpoint(checkpoint)
before = {"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "hwm_kib": vm_hwm_kib()}
t0 = time.perf_counter()
if mode == "predict":
    rows = predict_csv(trained, csv, out)["rows"]
else:
    rows = sum(b.num_rows for b in pacsv.open_csv(csv, read_options=pacsv.ReadOptions(block_size=block_size)))
seconds = time.perf_counter() - t0
after = {"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "hwm_kib": vm_hwm_kib()}
print(json.dumps({"rows": rows, "seconds": seconds, "before": before, "after": after}))
"""


def write_csv(path: Path, rows: int, cols: int, seed: int = 0) -> None:
    """rows x cols float32 values with 4 decimals (about 7-8 bytes a cell), written in chunks by pyarrow."""
    rng = np.random.default_rng(seed)
    names = [f"f{j}" for j in range(cols)]
    schema = pa.schema([(n, pa.float32()) for n in names])
    with pacsv.CSVWriter(str(path), schema) as writer:
        for start in range(0, rows, GEN_CHUNK_ROWS):
            n = min(GEN_CHUNK_ROWS, rows - start)
            block = np.round(rng.standard_normal((cols, n), dtype=np.float32), 4)  # column-major: one row per column
            writer.write_table(pa.Table.from_arrays([pa.array(block[j]) for j in range(cols)], schema=schema))


def repeat_csv(base: Path, base_rows: int, path: Path, rows: int) -> None:
    """A bigger file by repeating the base file's data rows (rows must be a multiple of base_rows)."""
    with base.open("rb") as src, path.open("wb") as dst:
        header = src.readline()
        dst.write(header)
        for _ in range(rows // base_rows):
            src.seek(len(header))
            shutil.copyfileobj(src, dst, 16 << 20)


def make_model(cols: int, hidden: int, outputs: int) -> TrainedModel:
    torch.manual_seed(0)
    config = TrainConfig(input_size=cols, hidden_size=hidden, num_outputs=outputs).validate()
    return TrainedModel(model=MLP(cols, hidden, outputs).eval(), config=config,
                        feature_names=[f"f{j}" for j in range(cols)],
                        label_names=[f"label_{j}" for j in range(outputs)],
                        standardizer=Standardizer(np.zeros(cols, np.float32), np.ones(cols, np.float32)),
                        thresholds=[0.5] * outputs)


def predict_read_options(trained: TrainedModel, folder: Path) -> pacsv.ReadOptions:
    """The ReadOptions predict_csv hands to pyarrow.csv.open_csv, caught on a 10-row file."""
    small, out = folder / "probe.csv", folder / "probe_out.csv"
    write_csv(small, 10, len(trained.feature_names))
    seen: list[Any] = []
    real_open = pacsv.open_csv

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("read_options", args[1] if len(args) > 1 else None))
        return real_open(*args, **kwargs)

    predict_mod.pacsv.open_csv = spy
    try:
        predict_mod.predict_csv(trained, small, out)
    finally:
        predict_mod.pacsv.open_csv = real_open
        small.unlink(missing_ok=True)
        out.unlink(missing_ok=True)
    return seen[0] if seen and seen[0] is not None else pacsv.ReadOptions()


def time_parse(path: Path, options: pacsv.ReadOptions) -> tuple[float, int]:
    t0 = time.perf_counter()
    rows = 0
    for batch in pacsv.open_csv(path, read_options=options):
        rows += batch.num_rows
    return time.perf_counter() - t0, rows


def time_predict(trained: TrainedModel, path: Path, out: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    info = predict_mod.predict_csv(trained, path, out)
    seconds = time.perf_counter() - t0
    out.unlink()
    return seconds, info["rows"]


def time_stages(trained: TrainedModel, path: Path, out: Path, options: pacsv.ReadOptions) -> dict[str, float]:
    """predict_csv's loop with a clock per stage (same calls, same order, same reader options)."""
    stages = dict.fromkeys(["parse", "features", "model", "build+write"], 0.0)
    cut = np.asarray(trained.thresholds, np.float32)
    writer = None
    t_open = time.perf_counter()
    reader = iter(pacsv.open_csv(path, read_options=options))  # open_csv reads and parses the first block
    stages["parse"] += time.perf_counter() - t_open
    plan = None
    while True:
        t0 = time.perf_counter()
        batch = next(reader, None)
        t1 = time.perf_counter()
        stages["parse"] += t1 - t0
        if batch is None:
            break
        if plan is None:
            plan = predict_mod.plan_columns(trained, batch.schema.names)
        X = predict_mod._batch_features(batch, plan.features, "bench", 0)
        t2 = time.perf_counter()
        probs = trained.predict_proba(X)
        t3 = time.perf_counter()
        arrays = [pa.array(probs[:, j]) for j in range(probs.shape[1])]
        arrays += [pa.array((probs[:, j] >= cut[j]).astype(np.int8)) for j in range(probs.shape[1])]
        names = [n + predict_mod.PROB_SUFFIX for n in trained.label_names] + list(trained.label_names)
        table = pa.Table.from_arrays(arrays, names=names)
        if writer is None:
            writer = pacsv.CSVWriter(str(out), table.schema)
        writer.write_table(table)
        t4 = time.perf_counter()
        stages["features"] += t2 - t1
        stages["model"] += t3 - t2
        stages["build+write"] += t4 - t3
    if writer is not None:
        writer.close()
    out.unlink(missing_ok=True)
    return stages


def peak_rss(mode: str, checkpoint: Path, csv: Path, out: Path, block_size: int) -> dict[str, Any]:
    """Run predict_csv (mode "predict") or the reader alone (mode "parse") in a fresh process; its memory figures."""
    proc = subprocess.run([sys.executable, "-c", RSS_CHILD, str(ROOT), mode, str(checkpoint), str(csv), str(out),
                           str(block_size)], capture_output=True, text=True, check=False)
    out.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} subprocess failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the timed CSV (default 1000000)")
    parser.add_argument("--cols", type=int, default=128, help="float feature columns (default 128)")
    parser.add_argument("--hidden-size", type=int, default=64, help="model hidden units (default 64)")
    parser.add_argument("--num-outputs", type=int, default=8, help="model labels (default 8)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="timed passes of each, interleaved; median shown (default 1: one pass over a 1 GB file "
                             "already lasts 15-30 s on 2 cores)")
    parser.add_argument("--rss-sizes", type=int, nargs="*", default=[1_000_000],
                        help="rows of the files for the peak-RSS subprocesses (default 1000000; none: skip); a "
                             "multiple of --rows is made by repeating the --rows file")
    parser.add_argument("--alt-block-size", type=int, default=0, metavar="BYTES",
                        help="also time and measure the reader alone with this block_size (e.g. 4194304), to "
                             "compare with the one predict_csv uses (default 0: skip)")
    parser.add_argument("--rss-reader", action="store_true",
                        help="also measure the peak RSS of the reader alone, in its own fresh process")
    parser.add_argument("--breakdown", action="store_true", help="one more pass timing predict_csv's stages")
    parser.add_argument("--tmp", type=Path, default=None, help="folder for the temporary files (default: system temp)")
    args = parser.parse_args()

    trained = make_model(args.cols, args.hidden_size, args.num_outputs)
    with tempfile.TemporaryDirectory(prefix="bench_predict_", dir=args.tmp) as tmp_name:
        tmp = Path(tmp_name)
        options = predict_read_options(trained, tmp)
        block_sizes = [options.block_size] + ([args.alt_block_size] if args.alt_block_size else [])
        csv, out = tmp / f"data_{args.rows}.csv", tmp / "out.csv"
        t0 = time.perf_counter()
        write_csv(csv, args.rows, args.cols)  # just written, so it sits in the page cache for every pass below
        size_mb = csv.stat().st_size / 1e6
        print(f"generated {csv.name}: {args.rows:,} rows x {args.cols} float columns, {size_mb:,.0f} MB in "
              f"{time.perf_counter() - t0:.1f} s")
        print(f"model: MLP {args.cols} -> {args.hidden_size} -> {args.num_outputs}, CPU, torch threads "
              f"{torch.get_num_threads()}; predict_csv's reader block_size {options.block_size:,} bytes")

        passes: dict[str, list[float]] = {}
        for _ in range(args.repeats):
            for block_size in block_sizes:
                label = "parse only" + ("" if block_size == options.block_size else f", block {block_size:,}")
                seconds, rows = time_parse(csv, pacsv.ReadOptions(block_size=block_size))
                assert rows == args.rows
                passes.setdefault(label, []).append(seconds)
            seconds, rows = time_predict(trained, csv, out)
            assert rows == args.rows
            passes.setdefault("predict_csv", []).append(seconds)
        medians = {label: statistics.median(v) for label, v in passes.items()}
        print(f"\nthroughput, median of {args.repeats} interleaved passes over the same file")
        print(f"  {'pass':<36} {'seconds':>8} {'rows/s':>12} {'MB/s':>8}")
        for label, seconds in medians.items():
            print(f"  {label:<36} {seconds:>8.2f} {args.rows / seconds:>12,.0f} {size_mb / seconds:>8.0f}")
        ratio = medians["parse only"] / medians["predict_csv"]
        print(f"  ratio predict_csv / parse only: {ratio:.2f}x  (target >= {TARGET_PREDICT_VS_PARSE}x: "
              f"{'met' if ratio >= TARGET_PREDICT_VS_PARSE else 'NOT met'})")

        if args.breakdown:
            stages = time_stages(trained, csv, out, options)
            total = sum(stages.values())
            print("\npredict_csv stages (one pass, same calls as predict_csv)")
            for name, seconds in stages.items():
                print(f"  {name:<12} {seconds:>7.2f} s  {100 * seconds / total:>5.1f}%")

        sizes = sorted(set(args.rss_sizes))
        if not sizes:
            return
        checkpoint = save_checkpoint(trained, tmp / "model.pt")
        print("\npeak RSS (VmHWM) of a fresh process running predict_csv" + (", then the reader alone"
                                                                           if args.rss_reader else ""))
        print(f"  {'rows':>10} {'file MB':>8} {'pass':<28} {'before MiB':>11} {'peak MiB':>9} {'growth MiB':>11}"
              f" {'rows/s':>10}  {'ru_maxrss MiB (inherited)':>26}")
        peaks = []
        for n in sizes:
            if n == args.rows:
                path = csv
            else:
                path = tmp / f"data_{n}.csv"
                if n % args.rows == 0:
                    repeat_csv(csv, args.rows, path, n)
                else:
                    write_csv(path, n, args.cols)
            file_mb = path.stat().st_size / 1e6
            runs = [("predict", options.block_size)] + [("parse", b) for b in block_sizes if args.rss_reader]
            for mode, block_size in runs:
                got = peak_rss(mode, checkpoint, path, out, block_size)
                assert got["rows"] == n
                key = "hwm_kib" if got["after"]["hwm_kib"] is not None else "maxrss_kib"
                before, peak = got["before"][key] / 1024, got["after"][key] / 1024
                label = "predict_csv" if mode == "predict" else f"parse only, block {block_size:,}"
                if mode == "predict":
                    peaks.append(peak - before)
                print(f"  {n:>10,} {file_mb:>8,.0f} {label:<28} {before:>11,.0f} {peak:>9,.0f} {peak - before:>11,.0f}"
                      f" {n / got['seconds']:>10,.0f}  {got['after']['maxrss_kib'] / 1024:>26,.0f}")
            if path != csv:
                path.unlink()
        if len(sizes) > 1:
            grow = (peaks[-1] - peaks[0]) / max(peaks[0], 1.0)
            print(f"  predict_csv's memory above its start-up level changes by {100 * grow:+.0f}% for a "
                  f"{sizes[-1] / sizes[0]:.0f}x bigger file: "
                  + ("it does not grow with the file" if grow < 0.25 else "it GROWS with the file"))
        else:
            print("  one size only: add --rss-sizes 1000000 4000000 to see whether the peak grows with the file")


if __name__ == "__main__":
    main()
