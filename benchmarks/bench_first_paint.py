"""What a person waits for in a real browser: first paint of Home and Train on a fresh server, and Start -> status.

For each round, a fresh `streamlit run app.py` (so torch and the pages import from cold, as on a first visit) and a
fresh Chromium page (Playwright on /usr/bin/chromium, the browser tests' arguments):

* Home: from `goto /` to the title visible (first paint), and to the device table visible (torch loaded);
* Train: from `goto /Train` (a direct link) to the title visible, and to the Start button visible (the form);
* Start on Train (synthetic defaults): from the click to the run's status line visible, to the loss chart's frame
  visible, and to the first point on the loss chart.

``--baseline REV`` measures a git revision the same way in the same run (extracted with `git archive` into a
temporary folder), interleaved round by round, so the two columns share the machine's load; ratios are printed.

    python benchmarks/bench_first_paint.py --rounds 3 --baseline e6a8e17
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Optional

from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import CHROMIUM, CHROMIUM_ARGS, REPO, streamlit_server  # noqa: E402
# The devices table: a static table now, a data grid in trees before 2026-12-06 evening (for --baseline).
DEVICES_TABLE = "[data-testid='stTable'], [data-testid='stDataFrame']"
TIMEOUT_MS = 120_000
ROWS = [("bare_title", "bare `st.title` app: title visible"), ("home_title", "Home: title visible"), ("home_full", "Home: device table visible"),
        ("train_title", "Train (direct link): title visible"), ("train_form", "Train: Start button visible"),
        ("start_status", "Start -> status line visible"), ("start_frame", "Start -> loss chart frame visible"),
        ("start_point", "Start -> first loss point")]


def server(root: Path, home: Path) -> contextlib.AbstractContextManager[str]:
    return streamlit_server(home, root=root, env={"OMP_NUM_THREADS": "1"})


def _loss_points(page: Page) -> int:
    return page.evaluate("""() => Math.max(0, ...[...document.querySelectorAll('.st-key-loss_chart .js-plotly-plot')]
        .map(el => (el.data && el.data[0] && el.data[0].x) ? el.data[0].x.length : 0))""")


def measure(browser, root: Path, train_path: str, bare: Path) -> dict[str, float]:
    """One round on a fresh server: seconds for each row of ROWS."""
    out: dict[str, float] = {}
    # The floor: Streamlit's own page (its JavaScript, the websocket, one script run) showing a title, nothing else.
    with tempfile.TemporaryDirectory() as home, server(bare, Path(home)) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        t0 = time.perf_counter()
        page.goto(url + "/", wait_until="commit")
        page.get_by_role("heading", name="multilabel", exact=True).wait_for(timeout=TIMEOUT_MS)
        out["bare_title"] = time.perf_counter() - t0
        page.close()
    with tempfile.TemporaryDirectory() as home, server(root, Path(home)) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        t0 = time.perf_counter()
        page.goto(url + "/", wait_until="commit")
        page.get_by_role("heading", name="multilabel", exact=True).wait_for(timeout=TIMEOUT_MS)
        out["home_title"] = time.perf_counter() - t0
        page.get_by_text("Devices on this machine").wait_for(timeout=TIMEOUT_MS)
        page.locator(DEVICES_TABLE).first.wait_for(timeout=TIMEOUT_MS)
        out["home_full"] = time.perf_counter() - t0
        page.close()

    with tempfile.TemporaryDirectory() as home, server(root, Path(home)) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        t0 = time.perf_counter()
        page.goto(url + train_path, wait_until="commit")
        page.get_by_role("heading", name="Train", exact=True).wait_for(timeout=TIMEOUT_MS)
        out["train_title"] = time.perf_counter() - t0
        start = page.locator(".st-key-start button")
        start.wait_for(timeout=TIMEOUT_MS)
        out["train_form"] = time.perf_counter() - t0
        page.wait_for_timeout(500)  # let the page settle: the click measures Start, not the first load
        start.scroll_into_view_if_needed()
        t0 = time.perf_counter()
        start.click()
        page.get_by_text("status:", exact=False).first.wait_for(state="visible", timeout=TIMEOUT_MS)
        out["start_status"] = time.perf_counter() - t0
        try:  # the run panel scrolled into the window (within 2 s of the status line)
            page.wait_for_function("""() => { const el = document.querySelector('.st-key-run_panel');
                if (!el) return false; const r = el.getBoundingClientRect();
                return r.top > -5 && r.top < window.innerHeight; }""", timeout=2000)
            in_view = True
        except PlaywrightTimeout:
            in_view = False
        page.locator(".st-key-loss_chart .js-plotly-plot").first.wait_for(state="visible", timeout=TIMEOUT_MS)
        out["start_frame"] = time.perf_counter() - t0
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while _loss_points(page) == 0 and time.monotonic() < deadline:
            page.wait_for_timeout(20)
        out["start_point"] = time.perf_counter() - t0
        if not in_view:
            print(f"  {root.name}: the run panel was not in the 1400x900 window after Start", file=sys.stderr)
        if page.locator(".st-key-stop button").is_enabled():
            page.locator(".st-key-stop button").click()
        page.close()
    return out


def extract(rev: str, into: Path) -> Path:
    """The tree of git revision ``rev`` (tracked files only), unpacked under ``into``."""
    data = subprocess.run(["git", "archive", rev], cwd=REPO, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", help="a git revision to measure side by side (e.g. e6a8e17)")
    parser.add_argument("--baseline-train-path", default="/train", help="the Train page's URL path in the baseline")
    args = parser.parse_args(argv)

    trees = {"this tree": (REPO, "/Train")}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        if args.baseline:
            trees[args.baseline] = (extract(args.baseline, Path(tmp) / "baseline"), args.baseline_train_path)
        bare = Path(tmp) / "bare"
        bare.mkdir()
        (bare / "app.py").write_text('import streamlit as st\nst.title("multilabel")\n')
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for r in range(args.rounds):
            for name, (root, train_path) in trees.items():  # interleaved: both trees see the same load
                results[name].append(measure(browser, root, train_path, bare))
                print(f"round {r + 1} {name}: " + ", ".join(f"{k} {v:.2f}s" for k, v in results[name][-1].items()),
                      file=sys.stderr)
        browser.close()

    names = list(trees)
    print(f"\nmedian of {args.rounds} rounds, seconds (fresh server each round; {os.cpu_count()} cores)\n")
    header = f"| {'measure':<36} | " + " | ".join(f"{n:>10}" for n in names)
    if len(names) == 2:
        header += " | ratio (this / baseline)"
    print(header + " |")
    print("|" + "-" * 38 + "|" + "|".join("-" * 12 for _ in names) + ("|" + "-" * 25 if len(names) == 2 else "")
          + "|")
    for key, label in ROWS:
        med = [statistics.median(rnd[key] for rnd in results[n]) for n in names]
        line = f"| {label:<36} | " + " | ".join(f"{m:>10.2f}" for m in med)
        if len(names) == 2:
            line += f" | {med[0] / med[1]:>23.2f}"
        print(line + " |")


if __name__ == "__main__":
    main()
