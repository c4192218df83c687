"""The Train page opened by the sidebar on a fresh server, as a newcomer does: Home, then Train.

For each round and each ``--wait`` (seconds on Home before the click: 2 s while the server's worker forkserver still
imports torch, 12 s after), a fresh `streamlit run app.py` and a fresh Chromium page (nice 0, as a person's browser)
at 1400x900. From the click on the sidebar's Train link, the first time each part of the page is in the DOM, read in
the page by a MutationObserver: the title, the Start button (the form), the command line's code block, the first
chart frame and its first drawn plot; and the sum of the browser's long tasks (main thread busy over 50 ms).

``--baseline REV`` measures a git revision the same way, interleaved round by round, and prints ratios.

    python benchmarks/bench_train_open.py --rounds 3 --baseline 2cfdcaf
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import CHROMIUM_ARGS, REPO, niced_chromium, streamlit_server  # noqa: E402
from bench_first_paint import extract  # noqa: E402

TIMEOUT_MS = 60_000
PARTS = {"title": "h1", "start": ".st-key-start button", "code": "[data-testid=stCode]",
         "frame": ".stPlotlyChart", "plot": ".js-plotly-plot .main-svg"}
WATCH = """(parts) => { window.__t0 = performance.now(); window.__seen = {}; window.__long = 0;
  new PerformanceObserver(l => l.getEntries().forEach(e => { window.__long += e.duration; }))
    .observe({type: 'longtask', buffered: false});
  new MutationObserver(() => { for (const [k, s] of Object.entries(parts))
      if (!(k in window.__seen) && document.querySelector(s)) window.__seen[k] = performance.now() - window.__t0; })
    .observe(document.body, {subtree: true, childList: true}); }"""


def measure(browser, root: Path, wait_s: float) -> dict[str, float]:
    """One open on a fresh server: seconds from the click to each of PARTS, and the long tasks' sum."""
    with tempfile.TemporaryDirectory() as home, streamlit_server(Path(home), root=root) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url + "/")
        page.get_by_role("heading", name="multilabel", exact=True).wait_for(timeout=TIMEOUT_MS)
        page.wait_for_timeout(wait_s * 1000)
        page.evaluate(WATCH, PARTS)
        page.locator("[data-testid='stSidebar']").get_by_role("link", name="Train", exact=True).click()
        page.locator(PARTS["plot"]).first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_timeout(500)
        seen = page.evaluate("() => window.__seen")
        out = {k: seen.get(k, float("nan")) / 1000 for k in PARTS}
        out["long"] = page.evaluate("() => window.__long") / 1000
        page.close()
    return out


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wait", type=float, nargs="+", default=[2.0, 12.0], help="seconds on Home before the click")
    parser.add_argument("--baseline", help="a git revision to measure side by side")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        trees = {"this tree": REPO}
        if args.baseline:
            trees[args.baseline] = extract(args.baseline, Path(tmp) / "baseline")
        browser = pw.chromium.launch(executable_path=niced_chromium(Path(tmp), 0), args=CHROMIUM_ARGS)
        results = {(name, w): [] for name in trees for w in args.wait}
        for r in range(args.rounds):
            for w in args.wait:
                for name, root in trees.items():  # interleaved: the trees share the machine's load
                    began = time.perf_counter()
                    results[name, w].append(measure(browser, root, w))
                    got = results[name, w][-1]
                    print(f"round {r + 1} wait {w:g} s {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in got.items())
                          + f" ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
        browser.close()
    names = list(trees)
    print(f"\nmedian of {args.rounds} rounds, seconds from the click on Train (fresh server each round)\n")
    print("| wait on Home | measure | " + " | ".join(names) + (" | ratio |" if len(names) == 2 else " |"))
    print("|---|---|" + "---|" * len(names) + ("---|" if len(names) == 2 else ""))
    for w in args.wait:
        for key in [*PARTS, "long"]:
            med = [statistics.median(x[key] for x in results[n, w]) for n in names]
            label = "main thread busy (long tasks)" if key == "long" else key
            ratio = f" | {med[0] / med[1]:.2f}" if len(names) == 2 else ""
            print(f"| {w:g} s | {label} | " + " | ".join(f"{m:.2f}" for m in med) + ratio + " |")


if __name__ == "__main__":
    main()
