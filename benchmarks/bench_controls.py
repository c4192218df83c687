"""Click to effect while a run trains: Pause, Resume, One epoch and Stop on Train, and each page's first content.

A fresh `streamlit run app.py` per tree and round, Chromium (Playwright on /usr/bin/chromium, at nice 19 so the
browser does not take the server's CPU) at 1400x900, as a person sees it:

* Train: Start a synthetic run long enough to train through the whole round (--epochs, --rows); once it has
  logged epochs, each control is clicked (a mouse press where it is on screen, as a person clicks; a control out of
  the window fails the bench) and the clock runs until the page shows the new state: Pause -> the
  status says 'pausing' or 'paused' and the button reads Resume; Resume -> 'running' and the button reads Pause;
  One epoch -> 'one more epoch' or 'paused'; Stop -> 'stopping' or 'stopped'. Targets: <= 1 s each.
* With that run training again (a second Start), each page is opened three ways (MODES): by its sidebar link in the
  tab that started the run, by its URL in a new tab of the same browser, and by its URL in a fresh browser profile
  (empty cache); a new tab comes to the front, so the tab that started the run is hidden meanwhile, as a browser hides
  it (headless Chromium keeps every tab 'visible': the bench sets what the page's Page Visibility API says and fires
  its event; ``--tabs-stay-visible`` leaves it shown, as a second window beside the first would); from the click or
  `goto` to the page's title, and to its first content (Home: the devices table;
  Runs: the runs table; Predict: the model picker; Inspect: the label's precision, recall and F1, then its first
  chart; Search: the data source; Sigmoid vs softmax: its Train button). Target: <= 2 s.

``--baseline REV`` measures a git revision the same way in the same run, interleaved round by round.

    python benchmarks/bench_controls.py --rounds 2 --baseline 33e22cb
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
from typing import Optional

from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import CHROMIUM_ARGS, REPO, niced_chromium, streamlit_server  # noqa: E402
from bench_first_paint import DEVICES_TABLE, extract  # noqa: E402

TIMEOUT_MS = 60_000
CONTROLS = [("pause", "Pause", re.compile(r"status: (paused|running \(pausing)"), "Resume"),
            ("resume", "Resume", re.compile(r"status: running(?! \()"), "Pause"),
            ("step", "One epoch", re.compile(r"status: (paused|running \(one more epoch)"), None),
            ("resume2", "Resume", re.compile(r"status: running(?! \()"), "Pause"),
            ("stop", "Stop", re.compile(r"status: (stopped|running \(stopping)"), None)]
# How a page is opened: a click on its link in the sidebar of the tab where the run was started (the app's own
# navigation: one browser session, no page load); its URL in a new tab of that browser (a page load, with the
# browser's cache); its URL in a fresh browser profile (a page load with an empty cache: a first visit).
MODES = ("sidebar", "new tab", "new browser")
NAV = {"Home": "/", "Runs": "/Runs", "Predict": "/Predict", "Inspect": "/Inspect", "Search": "/Search",
       "Sigmoid vs softmax": "/Sigmoid_vs_softmax"}
# (page path, title, first content: a CSS selector, and what comes after it in the same open, timed too, or None).
# Inspect's numbers come before its charts, which wait for the browser to load plotly (benchmarks/README.md).
PAGES = [("/", "multilabel", DEVICES_TABLE, None),
         ("/Runs", "Runs", "[data-testid='stDataFrame']", None),
         ("/Predict", "Predict", "[data-testid='stSelectbox']", None),
         ("/Inspect", "Inspect", "[data-testid='stMetric']", ".js-plotly-plot"),
         ("/Search", "Search", "[data-testid='stRadio']", None),
         ("/Sigmoid_vs_softmax", "Sigmoid vs softmax", ".st-key-heads_run button", None)]


# What a browser says of a tab's visibility, under the bench's control (headless Chromium says 'visible' of every tab).
VISIBILITY_JS = """
window.__hidden = false;
Object.defineProperty(Document.prototype, 'visibilityState',
    {get() { return window.__hidden ? 'hidden' : 'visible'; }, configurable: true});
Object.defineProperty(Document.prototype, 'hidden', {get() { return window.__hidden; }, configurable: true});
window.__setHidden = (hidden) => { window.__hidden = hidden; document.dispatchEvent(new Event('visibilitychange')); };
"""


def status_text(page: Page) -> str:
    return page.evaluate("""() => [...document.querySelectorAll('.st-key-run_panel p')].map(p => p.innerText)
        .find(t => t.includes('status:')) || ''""")


def wait_status(page: Page, pattern: re.Pattern, button: Optional[str]) -> None:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        if pattern.search(status_text(page)) and (
                button is None or page.get_by_role("button", name=button, exact=True).is_visible()):
            return
        page.wait_for_timeout(20)
    raise TimeoutError(f"no {pattern.pattern!r} / {button} in {TIMEOUT_MS} ms; status {status_text(page)!r}")


def click_in_view(page: Page, locator) -> float:
    """Click ``locator`` where it is on screen, as a person does, and return the clock at the press.

    A person clicks a button they see: it must be inside the window already (the run's controls are, after Start).
    Playwright's ``locator.click()`` first scrolls the element into view and waits for two animation frames with the
    same box, and in a page busy drawing charts that took 0.6-0.9 s before the press (benchmarks/README.md); a mouse
    press at the button's box measures only what the page does after it."""
    box = locator.bounding_box()
    size = page.viewport_size
    if box is None or box["y"] < -2 or box["y"] + box["height"] > size["height"] + 2 or box["x"] < 0:
        raise AssertionError(f"the control to click is not on screen (box {box}, window {size}): a person would have "
                             "to scroll to it")
    t0 = time.perf_counter()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    return t0


def start_run(page: Page, url: str, epochs: int, rows: int) -> None:
    page.goto(f"{url}/Train?epochs={epochs}&patience=0", wait_until="commit")  # no early stop: it trains throughout
    samples = page.get_by_label("Samples", exact=True)  # not its help button, "Help for Samples"
    samples.wait_for(timeout=TIMEOUT_MS)
    samples.fill(str(rows))
    samples.press("Enter")
    page.wait_for_timeout(1500)
    page.locator(".st-key-start button").first.click()
    wait_status(page, re.compile(r"status: running"), "Pause")
    page.get_by_text(re.compile(r"epoch \d+/")).first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(2000)  # a few epochs in: the page polls as it does for a person watching


def open_page(browser, train: Page, url: str, mode: str, path: str, title: str, content: str, later: Optional[str],
              out: dict[str, float], hide: bool = True) -> None:
    """Time one page open in ``mode`` into ``out`` (NaN where it never showed): the clock runs from the click on the
    sidebar link, or from ``goto``, to the page's title, to its first content and to ``later`` (if any)."""
    key = f"{mode}: {path}"
    out[f"{key} title"] = out[f"{key} content"] = float("nan")
    if later:
        out[f"{key} then {later}"] = float("nan")
    if mode == "sidebar":
        tab = train
    else:
        tab = (train.context.new_page() if mode == "new tab" else
               browser.new_page(viewport={"width": 1400, "height": 900}))
    if mode == "new tab" and hide:
        train.evaluate("window.__setHidden(true)")  # the new tab is in front
    t0 = time.perf_counter()
    if mode == "sidebar":
        name = next(n for n, p in NAV.items() if p == path)
        t0 = click_in_view(tab, tab.locator("[data-testid='stSidebar']").get_by_role("link", name=name, exact=True))
    else:
        tab.goto(url + path, wait_until="commit")
    try:
        tab.get_by_role("heading", name=title, exact=True).wait_for(timeout=TIMEOUT_MS)
        out[f"{key} title"] = time.perf_counter() - t0
        tab.locator(content).first.wait_for(state="visible", timeout=TIMEOUT_MS)
        out[f"{key} content"] = time.perf_counter() - t0
        if later:
            tab.locator(later).first.wait_for(state="visible", timeout=TIMEOUT_MS)
            out[f"{key} then {later}"] = time.perf_counter() - t0
    except PlaywrightTimeout:
        shot = Path(tempfile.gettempdir()) / f"bench_controls{path.replace('/', '_')}.png"
        tab.screenshot(path=str(shot))
        print(f"{mode}: {path} showed no {content} in {TIMEOUT_MS} ms (screenshot {shot})", file=sys.stderr)
    if mode == "sidebar":  # back to the live run, as a person does between pages
        tab.wait_for_timeout(1000)
        tab.locator("[data-testid='stSidebar']").get_by_role("link", name="Train", exact=True).click()
        wait_status(tab, re.compile(r"status: running"), "Pause")
        tab.wait_for_timeout(1000)
    else:
        tab.close()
        if mode == "new tab" and hide:
            train.evaluate("window.__setHidden(false)")  # back on the run's tab
            train.wait_for_timeout(1000)


def measure(browser, root: Path, epochs: int, rows: int, hide: bool = True) -> dict[str, float]:
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as home, streamlit_server(Path(home), root=root) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 900})  # the person's browser
        context.add_init_script(VISIBILITY_JS)
        page = context.new_page()
        start_run(page, url, epochs, rows)
        for key, name, pattern, button in CONTROLS:
            t0 = click_in_view(page, page.get_by_role("button", name=name, exact=True))
            wait_status(page, pattern, button)
            out[key] = time.perf_counter() - t0
            page.wait_for_timeout(1500)
        page.get_by_text(re.compile(r"status: stopped")).first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_timeout(1000)
        page.locator(".st-key-start button").first.click()  # a second run, training while the pages open
        wait_status(page, re.compile(r"status: running"), "Pause")
        page.wait_for_timeout(2000)
        for mode in MODES:
            for path, title, content, later in PAGES:
                open_page(browser, page, url, mode, path, title, content, later, out, hide)
        if "status: running" not in status_text(page):
            print(f"{root.name}: the run no longer trained at the end: {status_text(page)!r}", file=sys.stderr)
        page.get_by_role("button", name="Stop", exact=True).click()
        context.close()
        out["warning lines"] = sum(1 for line in (Path(home) / "server.log").read_text(errors="replace").splitlines()
                                   if "WARNING" in line or "Traceback" in line or "missing ScriptRunContext" in line)
    return out


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", help="a git revision to measure side by side (e.g. 33e22cb)")
    parser.add_argument("--epochs", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=50_000, help="synthetic rows (an epoch of 0.3-1 s here)")
    parser.add_argument("--baseline-first", action="store_true",
                        help="measure the baseline before this tree in each round (the first server of a round "
                             "met a colder machine in some runs)")
    parser.add_argument("--browser-nice", type=int, default=19,
                        help="Chromium's niceness: 19 measures what the server does; 0 is a local user's browser "
                             "beside the server on the same machine [default: 19]")
    parser.add_argument("--tabs-stay-visible", action="store_true",
                        help="leave the run's tab shown while a new tab opens (headless Chromium's own behaviour)")
    args = parser.parse_args(argv)
    trees = {"this tree": REPO}
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        if args.baseline:
            trees[args.baseline] = extract(args.baseline, Path(tmp) / "baseline")
        # Chromium at nice 19 by default (its renderers inherit it), so the clock measures what the server does.
        browser = pw.chromium.launch(executable_path=niced_chromium(Path(tmp), args.browser_nice), args=CHROMIUM_ARGS)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        order = list(trees.items())[::-1] if args.baseline_first else list(trees.items())
        for r in range(args.rounds):
            for name, root in order:
                results[name].append(measure(browser, root, args.epochs, args.rows, not args.tabs_stay_visible))
                print(f"round {r + 1} {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in results[name][-1].items()),
                      file=sys.stderr)
        browser.close()
    names = list(trees)
    print(f"\nmedian of {args.rounds} rounds, seconds from click or goto to the new state ({os.cpu_count()} cores; a "
          f"run of {args.rows:,} synthetic rows training; Chromium at nice {args.browser_nice}; the run's tab "
          f"{'shown' if args.tabs_stay_visible else 'hidden'} while a new tab opens)\n")
    print("| measure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for key in results[names[0]][0]:
        print(f"| {key} | " + " | ".join(f"{statistics.median(x[key] for x in results[n]):.2f}" for n in names) + " |")


if __name__ == "__main__":
    main()
