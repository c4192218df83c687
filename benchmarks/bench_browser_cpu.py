"""What does watching a live run cost the watcher's browser? The CPU of Chromium (all its processes) showing one
live run's Train page, beside the server's and the worker's, over a window.

A real ``streamlit run app.py`` server and Debian's Chromium at normal priority (a user's browser on their own
machine draws at full speed; here it shares the 2 cores, so the run's epochs/s are printed for context only). The
run is bench_dashboard_load.py's (20,000 x 32, hidden 256, batch 128): every poll of the page finds new epochs.

    python benchmarks/bench_browser_cpu.py                  # about 1 minute
    python benchmarks/bench_browser_cpu.py --viewers 2      # two tabs on the same run
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _server import CHROMIUM, CHROMIUM_ARGS, streamlit_server  # noqa: E402
from bench_dashboard_load import watch  # noqa: E402
from multilabel import TrainConfig, make_synthetic  # noqa: E402
from multilabel.session import SessionRegistry  # noqa: E402
from multilabel.store import RunStore  # noqa: E402


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """User+system CPU seconds so far of the server, Chromium's processes and the run's worker (forkserver
    children), by kind."""
    import psutil

    out = {"server": 0.0, "chromium": 0.0, "worker": 0.0}
    for proc in psutil.process_iter(["pid", "cmdline", "cpu_times"]):
        try:
            cmd, times = " ".join(proc.info["cmdline"] or []), proc.info["cpu_times"]
        except (psutil.Error, TypeError):
            continue
        kind = ("server" if proc.info["pid"] == server_pid else "chromium" if "chromium" in cmd else
                "worker" if "forkserver" in cmd else None)
        if kind and times:
            out[kind] += times.user + times.system
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--window", type=float, default=20.0, help="seconds measured [default: 20]")
    ap.add_argument("--viewers", type=int, default=1, help="browser contexts on the run's Train page [default: 1]")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    data = make_synthetic(20_000, 32, 8, seed=0)
    config = TrainConfig(input_size=32, hidden_size=256, num_outputs=8, epochs=100_000, batch_size=128,
                         device="cpu", patience=0).validate()
    servers = []
    with tempfile.TemporaryDirectory(prefix="bench_browser_cpu_") as home, \
            streamlit_server(Path(home), on_start=servers.append) as url, sync_playwright() as pw:
        store = RunStore(home)
        registry = SessionRegistry(store)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        session = registry.start(config, data)
        contexts = [watch(browser, url, session.run_id) for _ in range(args.viewers)]
        time.sleep(3)  # past the first full draw
        before, epochs0, t0 = cpu_seconds(servers[0].pid), store.get_run(session.run_id)["epochs_done"], \
            time.monotonic()
        time.sleep(args.window)
        elapsed = time.monotonic() - t0
        after, epochs1 = cpu_seconds(servers[0].pid), store.get_run(session.run_id)["epochs_done"]
        for context in contexts:
            context.close()
        registry.stop(session.run_id)
        session.join()
        browser.close()
    cores = {k: (after[k] - before[k]) / elapsed for k in after}
    print(f"one live run watched by {args.viewers} Chromium context(s), window {args.window:g} s: "
          f"{(epochs1 - epochs0) / elapsed:.2f} epochs/s")
    print(f"  cores used: Chromium {cores['chromium']:.3f} ({cores['chromium'] / args.viewers:.3f} per viewer), "
          f"server {cores['server']:.3f}, worker {cores['worker']:.3f}")


if __name__ == "__main__":
    main()
