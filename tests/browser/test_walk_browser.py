"""What a newcomer sees at 1400x900 (issue 22), on one server: a reload keeps the browser's identity, nothing
sticks out of the window on the right, and the plotly toolbar never covers a chart's title."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from multilabel.session import get_registry

pytestmark = pytest.mark.browser
LOAD_MS = 60_000
WINDOW = {"width": 1400, "height": 900}


def button(page: Page, key: str):
    return page.locator(f".st-key-{key} button").first


def status_line(page: Page):
    return page.locator(".st-key-run_panel p").filter(has_text="status:").first


# Stop, Pause and the run's status line all inside the window (Playwright's click would scroll to a button that is
# not: a person has to find it).
CONTROLS_IN_VIEW_JS = """() => {
    const inside = el => { if (!el) return false; const r = el.getBoundingClientRect();
        return r.height > 0 && r.top > -2 && r.bottom < window.innerHeight + 2; };
    const status = [...document.querySelectorAll('.st-key-run_panel p')].find(p => p.innerText.includes('status:'));
    return inside(document.querySelector('.st-key-stop button')) && inside(document.querySelector('.st-key-pause button'))
        && inside(status); }"""


def test_a_reload_keeps_the_browser_and_its_run_is_still_its_own(page: Page, server, screenshot):
    page.set_viewport_size(WINDOW)
    page.goto(f"{server.url}/Train?epochs=2000&patience=0&hidden_size=32&refit=none")  # no early stop
    expect(button(page, "start")).to_be_enabled(timeout=LOAD_MS)
    button(page, "start").click()
    expect(status_line(page)).to_contain_text("started by this browser session", timeout=LOAD_MS)
    expect(page).to_have_url(re.compile(r"[?&]run=[\w-]+"), timeout=LOAD_MS)
    expect(page.get_by_text(re.compile(r"epoch \d+/"))).to_be_visible(timeout=LOAD_MS)
    page.wait_for_function(CONTROLS_IN_VIEW_JS, timeout=10_000)  # after Start: the controls and the status in view
    screenshot("after-start")

    page.reload()
    expect(status_line(page)).to_contain_text("status: running", timeout=LOAD_MS)
    expect(status_line(page)).to_contain_text("started by this browser session")
    page.wait_for_function(CONTROLS_IN_VIEW_JS, timeout=10_000)  # the live run and its controls are in view
    screenshot("after-reload")
    button(page, "pause").click()  # its own run: no "...anyway?" question, no note
    expect(status_line(page)).to_contain_text(re.compile(r"paused|pausing"), timeout=LOAD_MS)
    expect(page.get_by_text("anyway?")).to_have_count(0)
    expect(page.get_by_text("Note (")).to_have_count(0)

    button(page, "enqueue").click()  # behind the paused run; it starts when that one stops
    expect(page.locator(".st-key-queue_panel")).to_contain_text("1 waiting", timeout=LOAD_MS)
    button(page, "stop").click()
    expect(status_line(page)).to_contain_text("stopped", timeout=LOAD_MS)
    # The queue box's line for the run it started, level with its Open button (they sat 10 px apart).
    line = page.locator(".st-key-queue_panel p").filter(has_text="Started from the queue").first
    expect(line).to_contain_text("running", timeout=LOAD_MS)
    open_button = page.locator(".st-key-queue_panel button").filter(has_text="Open").first
    expect(open_button).to_be_visible(timeout=LOAD_MS)
    for _ in range(20):  # measured once the box's rerun has settled
        a, b = line.bounding_box(), open_button.bounding_box()
        if abs((a["y"] + a["height"] / 2) - (b["y"] + b["height"] / 2)) <= 4:
            break
        page.wait_for_timeout(250)
    assert abs((a["y"] + a["height"] / 2) - (b["y"] + b["height"] / 2)) <= 4, (a, b)
    screenshot("queue-started")
    # That run stopped from another process (as the command line's Ctrl-C would): its line follows, Open stays.
    started = re.search(r"run (\S+) (?:\([^)]*\) )?· running", line.inner_text())[1]  # (what it changed)
    get_registry(server.home).stop(started, by="test")
    expect(line).to_contain_text("stopped", timeout=LOAD_MS)
    expect(open_button).to_be_visible()

    other = page.context.browser.new_context(viewport=WINDOW)  # another browser (no cookie): not its run
    try:
        tab = other.new_page()
        tab.goto(page.url)
        expect(tab.locator(".st-key-run_panel p").filter(has_text="status:").first).to_contain_text(
            "started by another browser session", timeout=LOAD_MS)
    finally:
        other.close()


def test_save_thresholds_then_the_terminal_has_no_warning_or_trace(page: Page, server, screenshot):
    """Start (a worker) and Save thresholds (sliders set through Session State) printed to the server's terminal:
    'missing ScriptRunContext!' per st.* call of the page run in the worker, and Streamlit's widget-default trace."""
    from multilabel.store import RunStore

    page.set_viewport_size(WINDOW)
    runs = [r for r in RunStore(server.home).list_runs() if r["checkpoint"]]
    assert runs, "the reload test leaves a stopped run with its best weights"
    page.goto(f"{server.url}/Inspect?run={runs[0]['id']}")
    expect(button(page, "tune_thresholds")).to_be_enabled(timeout=LOAD_MS)
    button(page, "tune_thresholds").click()
    expect(button(page, "save_thresholds")).to_be_enabled(timeout=LOAD_MS)
    button(page, "save_thresholds").click()
    expect(page.get_by_text("Saved into run")).to_be_visible(timeout=LOAD_MS)
    screenshot("inspect-saved")
    noise = [line for line in server.log_tail(200_000).splitlines()
             if re.search(r"WARNING|Traceback|Error|missing ScriptRunContext|streamlit run \[FILE_NAME\]", line)]
    assert noise == [], "\n".join(noise[:20])


TOOLBAR_CLEAR_JS = """() => {
    const hits = [];
    for (const plot of document.querySelectorAll('.js-plotly-plot')) {
        const bar = plot.querySelector('.modebar');
        const title = plot.querySelector('.gtitle');
        if (!bar || !title) continue;
        const a = bar.getBoundingClientRect(), b = title.getBoundingClientRect();
        if (a.width && b.width && a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)
            hits.push(title.textContent);
        for (const legend of plot.querySelectorAll('.legend')) {
            const c = legend.getBoundingClientRect();
            if (a.width && c.width && a.left < c.right && c.left < a.right && a.top < c.bottom && c.top < a.bottom)
                hits.push('legend of ' + title.textContent);
        }
    }
    return hits;
}"""

FITS_JS = """() => {
    const out = [];
    for (const table of document.querySelectorAll("[data-testid='stDataFrame']")) {
        const r = table.getBoundingClientRect();
        const scroller = table.querySelector('.dvn-scroller');
        if (r.right > window.innerWidth + 1) out.push('table right edge ' + r.right);
        if (scroller && scroller.scrollWidth > scroller.clientWidth + 2)
            out.push('table scrolls sideways: ' + scroller.scrollWidth + ' > ' + scroller.clientWidth);
    }
    return out;
}"""


def test_at_1400x900_tables_fit_and_the_toolbar_never_covers_a_title(page: Page, server, screenshot, tmp_path):
    """Predict's probability columns fell off the right edge; the plotly toolbar covered the ends of titles."""
    import pandas as pd

    from multilabel import make_synthetic
    from multilabel.store import RunStore

    page.set_viewport_size(WINDOW)
    run = [r for r in RunStore(server.home).list_runs() if r["checkpoint"]][0]
    data = make_synthetic(60, 10, 5, seed=4)  # the shape of the reload test's run: 10 features, 5 labels
    frame = pd.DataFrame(data.X, columns=data.feature_names)
    frame.insert(0, "id", range(len(frame)))
    csv = tmp_path / "score.csv"
    frame.to_csv(csv, index=False)
    page.goto(f"{server.url}/Predict?model={run['id']}")
    page.locator("[data-testid='stFileUploader'] input").last.set_input_files(str(csv))
    expect(page.get_by_text("rows scored")).to_be_visible(timeout=LOAD_MS)
    expect(page.locator("[data-testid='stDataFrame']").first).to_be_visible()
    page.wait_for_timeout(500)
    screenshot("predict")
    assert page.evaluate(FITS_JS) == []

    for path in (f"/Train?run={run['id']}", f"/Inspect?run={run['id']}", "/Runs"):
        page.goto(server.url + path)
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=LOAD_MS)
        page.wait_for_timeout(1000)
        plots = page.locator(".js-plotly-plot")
        for i in range(plots.count()):
            plots.nth(i).scroll_into_view_if_needed()
            plots.nth(i).hover()  # the toolbar shows on hover
            page.wait_for_timeout(100)
            assert page.evaluate(TOOLBAR_CLEAR_JS) == [], path
        assert page.evaluate(FITS_JS) == [], path

    # Runs with a range filter: the table's own toolbar (on hover) stays off the range slider above it. A range
    # needs two values: one more (stopped, empty) run in the store.
    from multilabel import TrainConfig

    store = RunStore(server.home)
    store.finish(store.create_run(TrainConfig().to_dict(), {"source": "synthetic", "rows": 100}), "stopped")
    page.reload()
    expect(page.locator("[data-testid='stDataFrame']").first).to_be_visible(timeout=LOAD_MS)
    page.locator(".st-key-range_on input").click()
    page.get_by_role("option", name="hidden").click()
    slider = page.locator("[data-testid='stSlider']").first
    expect(slider).to_be_visible(timeout=LOAD_MS)
    page.wait_for_timeout(500)
    page.locator("[data-testid='stDataFrame']").first.hover()
    toolbar = page.locator("[data-testid='stDataFrame'] >> xpath=.. >> [data-testid='stElementToolbar']").first
    expect(toolbar).to_be_visible()
    bar, track = toolbar.bounding_box(), slider.bounding_box()
    screenshot("runs-range")
    # a visible gap: touching the slider's box, the toolbar sat right under its thumb and read as part of it
    assert bar["y"] >= track["y"] + track["height"] + 8, (bar, track)


def test_at_1400x900_start_is_on_screen_without_scrolling(page: Page, server, screenshot):
    page.set_viewport_size(WINDOW)
    page.goto(f"{server.url}/Train")
    expect(button(page, "start")).to_be_visible(timeout=LOAD_MS)
    # Start came before plotly and the code highlighter were asked for (sent with them, the browser drew nothing of
    # the form until their scripts, 6 MB, had loaded); the empty chart frames and the command follow on their own.
    assert page.locator("[data-testid='stPlotlyChart'], [data-testid='stCode']").count() == 0
    expect(page.locator("[data-testid='stPlotlyChart']")).to_have_count(2, timeout=LOAD_MS)
    expect(page.locator("[data-testid='stCode']")).to_have_count(1)
    page.wait_for_timeout(500)
    box = button(page, "start").bounding_box()
    screenshot("train-fold")
    assert box["y"] + box["height"] <= WINDOW["height"], box
