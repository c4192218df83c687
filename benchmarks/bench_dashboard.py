"""Does the live view slow training, and what does one poll cost?

Measured side by side in one process (the Streamlit server runs page scripts in threads of the process that
trains, so this is where they compete):

1. Training samples/s headless vs with the Train page polling, the same run three times: alone; while a thread
   does the live-view fragment's work every POLL_S seconds (snapshot, five figures, plotly JSON: what
   `st.fragment(run_every=...)` re-runs for an open browser tab); and while the main thread re-runs the whole
   Train page through AppTest every POLL_S (an upper bound: a browser re-runs only the fragment).
   Target: fragment polling >= 0.9x headless.
2. The cost of one poll with a 1,000-epoch history: ``registry.view()`` + every figure builder + plotly JSON
   serialization (the work behind one fragment re-run), and a whole Train-page run through AppTest. Target <= 50 ms.

    python benchmarks/bench_dashboard.py [--epochs 1000] [--rows 20000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ["MULTILABEL_HOME"] = tempfile.mkdtemp(prefix="bench-dashboard-")

from streamlit.testing.v1 import AppTest  # noqa: E402

from multilabel import TrainConfig, make_synthetic  # noqa: E402
from multilabel.charts import (loss_figure, metrics_figure, per_label_figure, probability_histogram_figure,  # noqa: E402
                               probe_heatmap)
from multilabel.engine import last_evaluated  # noqa: E402
from multilabel.session import get_registry  # noqa: E402

POLL_S = 0.7


def poll_once(registry, run_id: str) -> None:
    view = registry.view(run_id)
    history, last, live = view.history, view.history[-1], view.live
    labels = view.info["label_names"]
    for fig in (loss_figure(history, last["best_epoch"]), metrics_figure(history), per_label_figure(last_evaluated(history)["val_per_label"]),
                probe_heatmap(live["probe_probs"], view.info["probe_targets"], labels),
                probability_histogram_figure(live["prob_hist"], labels)):
        fig.to_json()


def train_page(run_id: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.session_state["run_id"] = run_id
    at.switch_page("pages/1_Train.py").run()
    return at


def mean_rate(history) -> float:
    return statistics.fmean(r["samples_per_s"] for r in history[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=1000, help="epochs of the history for the poll-cost measurement")
    ap.add_argument("--rows", type=int, default=20000, help="rows of the training-speed comparison")
    ap.add_argument("--train-epochs", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    registry = get_registry()

    # 1. training speed, headless vs polled
    data = make_synthetic(args.rows, 32, 8, seed=0)
    config = TrainConfig(input_size=32, hidden_size=128, num_outputs=8, epochs=args.train_epochs, patience=0,
                         batch_size=64, device="cpu").validate()
    def run_headless() -> tuple[float, list[float]]:
        session = registry.start(config, data)
        session.join()
        return mean_rate(session.snapshot()["history"]), []

    def run_fragment_polled() -> tuple[float, list[float]]:
        # An open tab re-runs only the live-view fragment: snapshot + figures + JSON every POLL_S, in a server thread.
        session, polls = registry.start(config, data), []

        def poll_loop() -> None:
            while session.running:
                t0 = time.perf_counter()
                if session.snapshot()["history"]:
                    poll_once(registry, session.run_id)
                polls.append(time.perf_counter() - t0)
                time.sleep(max(0.0, POLL_S - polls[-1]))

        poller = threading.Thread(target=poll_loop, daemon=True)
        poller.start()
        session.join()
        poller.join()
        return mean_rate(session.snapshot()["history"]), polls

    def run_page_polled() -> tuple[float, list[float]]:
        # Upper bound: the whole Train page re-run through AppTest each poll (AppTest cannot re-run a fragment alone).
        session, polls = registry.start(config, data), []
        at = train_page(session.run_id)
        while session.running:
            t0 = time.perf_counter()
            at.run()
            polls.append(time.perf_counter() - t0)
            time.sleep(max(0.0, POLL_S - polls[-1]))
        session.join()
        return mean_rate(session.snapshot()["history"]), polls

    modes = {"headless": run_headless, "live view polling (fragment work)": run_fragment_polled,
             "whole page re-run every poll": run_page_polled}
    rates: dict[str, list[float]] = {m: [] for m in modes}
    polls: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(args.rounds):  # interleaved rounds, medians: other load on the machine hits every mode alike
        for mode, fn in modes.items():
            rate, times = fn()
            rates[mode].append(rate)
            polls[mode].extend(times)
    base = statistics.median(rates["headless"])
    print(f"training {args.rows} rows x {args.train_epochs} epochs, 32 -> 128 -> 8, batch 64, cpu; poll every "
          f"{POLL_S} s; median of {args.rounds} interleaved rounds")
    for mode in modes:
        rate = statistics.median(rates[mode])
        extra = (f"   ratio {rate / base:.2f}x   ({len(polls[mode])} polls, median "
                 f"{statistics.median(polls[mode]) * 1000:.0f} ms)") if polls[mode] else ""
        print(f"  {mode:<36} {rate:10,.0f} samples/s{extra}")
    print("  target: fragment polling >= 0.90x headless; the whole-page row is an upper bound on the cost")

    # 2. one poll with a long history
    small = make_synthetic(400, 10, 5, seed=1)
    long_cfg = TrainConfig(input_size=10, hidden_size=16, num_outputs=5, epochs=args.epochs, patience=0,
                           batch_size=256, device="cpu").validate()
    long_run = registry.start(long_cfg, small)
    long_run.join()
    assert len(long_run.snapshot()["history"]) == args.epochs
    poll_once(registry, long_run.run_id)  # warm-up
    lib = []
    for _ in range(20):
        t0 = time.perf_counter()
        poll_once(registry, long_run.run_id)
        lib.append(time.perf_counter() - t0)
    at = train_page(long_run.run_id)
    page = []
    for _ in range(10):
        t0 = time.perf_counter()
        at.run()
        page.append(time.perf_counter() - t0)
    print(f"one poll with {args.epochs} epochs of history")
    print(f"  snapshot + 5 figures + JSON   median {statistics.median(lib) * 1000:6.1f} ms   (target <= 50 ms)")
    print(f"  whole Train page (AppTest)    median {statistics.median(page) * 1000:6.1f} ms   (includes widgets)")


if __name__ == "__main__":
    main()
