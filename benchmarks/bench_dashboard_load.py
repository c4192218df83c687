"""Does a watched dashboard slow training, and do live runs slow the dashboard? (issue 8)

A real ``streamlit run app.py`` server and real Chromium (Playwright, Debian's /usr/bin/chromium). Runs are started
through the registry API in this process (they train in worker processes; the server only reads the run store, as
it does for runs its own pages start), and each watched run has its own browser context on the Train page
(``?run=<id>``), whose live view polls every POLL_S. Phases, each a window of --window seconds:

1. one run alone, nobody watching; 2. the same run watched by one browser context; 3. the same run unwatched again
(the mean of 1 and 3 is the unwatched rate, cancelling drift); 4. four runs at once, each watched by its own
context: total epochs/s, and meanwhile the server's /_stcore/health latency (a few probes) and the time a fresh
browser context takes to render the Home page's title.

Chromium runs at ``nice -n 19``: the viewers' browsers stand in for browsers on other machines.
Targets (printed, never asserted): health <= 100 ms, Home <= 3 s, 4-run total >= 0.8x one alone, watched >= 0.95x
unwatched. Epochs/s come from the run store (epochs logged in the window / the window's length).

    python benchmarks/bench_dashboard_load.py               # about 2 minutes
    python benchmarks/bench_dashboard_load.py --window 5    # a quick check that it works
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _server import CHROMIUM_ARGS, health_ms, niced_chromium, streamlit_server  # noqa: E402
from multilabel import TrainConfig, make_synthetic  # noqa: E402
from multilabel.session import SessionRegistry  # noqa: E402
from multilabel.store import RunStore  # noqa: E402

LOAD_MS = 120_000


def epochs_per_s(store: RunStore, run_ids: list[str], window: float) -> list[float]:
    """Each run's epochs logged during the next ``window`` seconds, per second."""
    start = {r: store.get_run(r)["epochs_done"] for r in run_ids}
    t0 = time.monotonic()
    time.sleep(window)
    elapsed = time.monotonic() - t0
    return [(store.get_run(r)["epochs_done"] - start[r]) / elapsed for r in run_ids]


def watch(browser, url: str, run_id: str):
    """A browser context on the Train page of ``run_id``, once its live view shows an epoch."""
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = context.new_page()
    page.goto(f"{url}/Train?run={run_id}", timeout=LOAD_MS, wait_until="commit")
    try:
        page.locator("[data-testid='stProgress']").filter(has_text=re.compile(r"epoch \d+/\d+")).first.wait_for(
            timeout=LOAD_MS)
        page.locator(".js-plotly-plot").first.wait_for(timeout=LOAD_MS)
    except Exception:
        page.screenshot(path="bench_dashboard_load_failure.png")
        raise SystemExit(f"the Train page of {run_id} never showed an epoch (screenshot: "
                         f"bench_dashboard_load_failure.png); page text:\n{page.inner_text('body')[:2000]}")
    return context


def home_render_s(browser, url: str) -> float:
    context = browser.new_context()
    page = context.new_page()
    t0 = time.perf_counter()
    page.goto(url + "/", timeout=LOAD_MS, wait_until="commit")
    page.get_by_role("heading", name="multilabel").wait_for(timeout=LOAD_MS)
    elapsed = time.perf_counter() - t0
    context.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--window", type=float, default=20.0, help="seconds per measured phase [default: 20]")
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--labels", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--probes", type=int, default=7, help="health probes during the busy phase [default: 7]")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    data = make_synthetic(args.rows, args.features, args.labels, seed=0)
    config = TrainConfig(input_size=args.features, hidden_size=args.hidden, num_outputs=args.labels, epochs=2000,
                         batch_size=args.batch, device="cpu", patience=0).validate()
    with tempfile.TemporaryDirectory(prefix="bench_dashboard_load_") as tmp, streamlit_server(Path(tmp)) as url, \
            sync_playwright() as pw:
        store = RunStore(tmp)
        registry = SessionRegistry(store)
        # Chromium at nice 19: the viewers' browsers stand in for browsers on other machines (issue 24).
        browser = pw.chromium.launch(executable_path=niced_chromium(Path(tmp)), args=CHROMIUM_ARGS)
        home_idle = home_render_s(browser, url)  # also warms the server's first page load
        health_idle = [health_ms(url) for _ in range(args.probes)]

        # 1-3: one run, unwatched / watched / unwatched.
        first = registry.start(config, data, name="alone")
        while store.get_run(first.run_id)["epochs_done"] < 2:
            time.sleep(0.1)
        (unwatched_a,) = epochs_per_s(store, [first.run_id], args.window)
        context = watch(browser, url, first.run_id)
        (watched,) = epochs_per_s(store, [first.run_id], args.window)
        context.close()
        (unwatched_b,) = epochs_per_s(store, [first.run_id], args.window)
        registry.stop(first.run_id)
        first.join()
        alone = (unwatched_a + unwatched_b) / 2

        # 4: several runs, each watched; the server probed meanwhile.
        sessions = [registry.start(config, data, name=f"busy {i}") for i in range(args.runs)]
        contexts = [watch(browser, url, s.run_id) for s in sessions]
        t_end = time.monotonic() + args.window
        before = {s.run_id: store.get_run(s.run_id)["epochs_done"] for s in sessions}
        t0 = time.monotonic()
        health_busy: list[float] = []
        home_busy = home_render_s(browser, url)
        while time.monotonic() < t_end or len(health_busy) < args.probes:
            if len(health_busy) < args.probes:
                health_busy.append(health_ms(url) or float("inf"))
            time.sleep(max(0.0, min(args.window / args.probes, t_end - time.monotonic())))
            if time.monotonic() >= t_end and len(health_busy) >= args.probes:
                break
        elapsed = time.monotonic() - t0
        busy_rates = [(store.get_run(s.run_id)["epochs_done"] - before[s.run_id]) / elapsed for s in sessions]
        for context in contexts:
            context.close()
        for s in sessions:
            registry.stop(s.run_id)
        for s in sessions:
            s.join()
        threads = [registry.view(s.run_id).info.get("threads") for s in sessions]
        browser.close()

    total = sum(busy_rates)

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(f"dashboard under load: {args.rows:,} x {args.features} synthetic, {args.labels} labels, hidden "
          f"{args.hidden}, batch {args.batch}, CPU ({os.cpu_count()} cores), windows of {args.window:g} s")
    print(f"  health, idle            median {statistics.median(health_idle):7.1f} ms   max {max(health_idle):7.1f} ms")
    print(f"  health, {args.runs} watched runs median {statistics.median(health_busy):7.1f} ms   max "
          f"{max(health_busy):7.1f} ms   (target <= 100 ms: {verdict(max(health_busy) <= 100)})")
    print(f"  Home title, idle        {home_idle:7.2f} s")
    print(f"  Home title, {args.runs} runs      {home_busy:7.2f} s   (target <= 3 s: {verdict(home_busy <= 3)})")
    print(f"  one run alone           {alone:7.2f} epochs/s   (unwatched windows {unwatched_a:.2f}, "
          f"{unwatched_b:.2f})")
    print(f"  one run watched         {watched:7.2f} epochs/s   ratio {watched / alone:.2f}   (target >= 0.95: "
          f"{verdict(watched / alone >= 0.95)})")
    print(f"  {args.runs} runs watched, total  {total:7.2f} epochs/s   ratio {total / alone:.2f}   (target >= 0.8: "
          f"{verdict(total / alone >= 0.8)}); per run " + ", ".join(f"{r:.2f}" for r in busy_rates)
          + f"; torch threads per run {threads}")


if __name__ == "__main__":
    main()
