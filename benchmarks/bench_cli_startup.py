"""How fast the CLI answers when it has nothing heavy to do: ``python -m multilabel runs`` and every command's
``--help``, each in a fresh process (median of 5), with its peak memory and whether torch, pandas or pyarrow got
imported. Target: <= 0.5 s each, torch never.

    python benchmarks/bench_cli_startup.py                      # this checkout
    python benchmarks/bench_cli_startup.py --against /work/main  # and another checkout, side by side, with ratios

``runs`` lists a store of 20 finished runs made here in a temporary folder (the same store for both checkouts).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = [["runs"], ["--help"], ["train", "--help"], ["evaluate", "--help"], ["predict", "--help"],
            ["export", "--help"], ["search", "--help"], ["runs", "--help"]]
HEAVY = ("torch", "pandas", "pyarrow", "optuna")


def make_store(home: Path, runs: int = 20) -> None:
    sys.path.insert(0, str(REPO))
    from multilabel.store import RunStore

    store = RunStore(home)
    for i in range(runs):
        run_id = store.create_run({"hidden_size": 8}, {"source": "synthetic", "rows": 100}, name=f"run {i}")
        for epoch in (1, 2, 3):
            store.log_epoch(run_id, {"epoch": epoch, "val_loss": 1.0 / epoch, "val_micro_f1": 0.5})
        store.finish(run_id, "completed", best={"epoch": 3, "val_loss": 0.33, "micro_f1": 0.5, "hamming_loss": 0.2})
    store.close()


def once(repo: Path, argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak resident MB) of one fresh ``python -m multilabel ARGV`` in ``repo``."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "multilabel", *argv], cwd=repo, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"python -m multilabel {' '.join(argv)} failed in {repo} (exit {process.returncode})")
    return seconds, usage.ru_maxrss / 1024


def imported(repo: Path, argv: list[str], env: dict[str, str]) -> list[str]:
    """The heavy packages ``python -m multilabel ARGV`` imports (from ``python -X importtime``)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "multilabel", *argv], cwd=repo, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    names = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return [name for name in HEAVY if name in names]


def measure(repo: Path, home: Path, repeats: int) -> dict[str, tuple[float, float, list[str]]]:
    env = {**os.environ, "MULTILABEL_HOME": str(home), "PYTHONPATH": str(repo)}
    out = {}
    for argv in COMMANDS:
        once(repo, argv, env)  # warm the file cache: every checkout gets the same start
        timings = [once(repo, argv, env) for _ in range(repeats)]
        out[" ".join(argv)] = (statistics.median(t for t, _ in timings), max(m for _, m in timings),
                               imported(repo, argv, env))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", type=Path, help="another checkout to time side by side (e.g. main before a change)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "store"
        make_store(home)
        here = measure(REPO, home, args.repeats)
        other = measure(args.against.resolve(), home, args.repeats) if args.against else None
    print(f"python -m multilabel ..., fresh processes, median of {args.repeats} ({os.cpu_count()} cores)")
    header = f"{'command':<18} {'seconds':>8} {'peak MB':>8}  {'imports':<21}"
    if other:
        header += f"| {'other s':>8} {'other MB':>8}  {'other imports':<21}| time ratio (this / other)"
    print(header)
    for name, (seconds, mb, heavy) in here.items():
        line = f"{name:<18} {seconds:>8.3f} {mb:>8.0f}  {','.join(heavy) or '-':<21}"
        if other:
            o_seconds, o_mb, o_heavy = other[name]
            line += f"| {o_seconds:>8.3f} {o_mb:>8.0f}  {','.join(o_heavy) or '-':<21}| {seconds / o_seconds:.2f}x"
        print(line)
    slow = [name for name, (seconds, _, _) in here.items() if seconds > 0.5]
    torch_users = [name for name, (_, _, heavy) in here.items() if "torch" in heavy]
    print(f"over 0.5 s: {', '.join(slow) or 'none'}; importing torch: {', '.join(torch_users) or 'none'}")


if __name__ == "__main__":
    main()
