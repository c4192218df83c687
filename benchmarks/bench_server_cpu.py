"""The server's own CPU per watching browser (issue 24): what each open Train page costs the `streamlit run` process.

A real ``streamlit run app.py`` server; one live run trains in a worker process (started through the registry API
in this process, so the worker is not a child of the server); 0, 1, 4 and 8 headless Chromium contexts watch its
Train page (``?run=<id>``, whose live view polls the store). Chromium runs at ``nice -n 19``: it stands in for
browsers on other machines and must not take the server's CPU. For each viewer count, after the pages show the run,
the server process's user + system CPU time (``/proc/<pid>/stat``) over a window of --window seconds, in cores
(CPU seconds per second), and per viewer: (cores with N viewers - cores with none) / N.

Target (printed, never asserted): <= 0.05 core per viewer.

    python benchmarks/bench_server_cpu.py                 # windows of 15 s: about 2 minutes
    python benchmarks/bench_server_cpu.py --window 5 --viewers 1 4   # a quick check
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _server import CHROMIUM_ARGS, niced_chromium, streamlit_server  # noqa: E402
from multilabel import TrainConfig, make_synthetic  # noqa: E402
from multilabel.session import SessionRegistry  # noqa: E402
from multilabel.store import RunStore  # noqa: E402

LOAD_MS = 120_000
TARGET_CORE_PER_VIEWER = 0.05
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime: fields 14 and 15 of the whole line


def cores_over(pid: int, window: float) -> float:
    c0, t0 = cpu_s(pid), time.monotonic()
    time.sleep(window)
    return (cpu_s(pid) - c0) / (time.monotonic() - t0)


def watch(browser, url: str, run_id: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = context.new_page()
    page.goto(f"{url}/Train?run={run_id}", timeout=LOAD_MS, wait_until="commit")
    page.locator("[data-testid='stProgress']").filter(has_text=re.compile(r"epoch \d+/\d+")).first.wait_for(
        timeout=LOAD_MS)
    page.locator(".js-plotly-plot").first.wait_for(timeout=LOAD_MS)
    return context


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--window", type=float, default=15.0, help="seconds per measured window [default: 15]")
    ap.add_argument("--viewers", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--settle", type=float, default=3.0, help="seconds after the pages load, before measuring")
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--labels", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch", type=int, default=512)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    data = make_synthetic(args.rows, args.features, args.labels, seed=0)
    config = TrainConfig(input_size=args.features, hidden_size=args.hidden, num_outputs=args.labels,
                         epochs=100_000, batch_size=args.batch, device="cpu", patience=0, refit="none").validate()
    procs: list[subprocess.Popen] = []
    rows: list[tuple[int, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench_server_cpu_") as tmp, \
            streamlit_server(Path(tmp), on_start=procs.append) as url, sync_playwright() as pw:
        pid = procs[0].pid
        store = RunStore(tmp)
        registry = SessionRegistry(store)
        browser = pw.chromium.launch(executable_path=niced_chromium(Path(tmp)), args=CHROMIUM_ARGS)
        session = registry.start(config, data, name="watched")
        while store.get_run(session.run_id)["epochs_done"] < 2:
            time.sleep(0.1)
        epochs0 = store.get_run(session.run_id)["epochs_done"]
        t_run = time.monotonic()
        idle = cores_over(pid, args.window)
        rows.append((0, idle, 0.0))
        for n in args.viewers:
            contexts = [watch(browser, url, session.run_id) for _ in range(n)]
            time.sleep(args.settle)
            cores = cores_over(pid, args.window)
            rows.append((n, cores, (cores - idle) / n))
            for context in contexts:
                context.close()
            time.sleep(args.settle)
        epochs_per_s = (store.get_run(session.run_id)["epochs_done"] - epochs0) / (time.monotonic() - t_run)
        registry.stop(session.run_id)
        session.join()
        browser.close()

    print(f"server CPU per watching viewer: one live run ({args.rows:,} x {args.features}, {args.labels} labels, "
          f"hidden {args.hidden}, batch {args.batch}; {epochs_per_s:.2f} epochs/s), Chromium at nice 19, "
          f"windows of {args.window:g} s, {os.cpu_count()} cores")
    print(f"  {'viewers':>7} {'server cores':>13} {'per viewer':>11}  target <= {TARGET_CORE_PER_VIEWER}")
    for n, cores, per in rows:
        verdict = "" if n == 0 else ("met" if per <= TARGET_CORE_PER_VIEWER else "NOT met")
        print(f"  {n:>7} {cores:13.3f} {per if n else float('nan'):11.3f}  {verdict}")


if __name__ == "__main__":
    main()
