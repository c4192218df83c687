"""The dashboard in a real browser (Playwright + Debian Chromium) against `streamlit run app.py`.

What AppTest cannot see: the st.fragment poll really firing, the URL carrying the run across a reload, file inputs,
the download itself, and what a person sees (screenshots under artifacts/screenshots/).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pytest

from multilabel.charts import MAX_POINTS
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
EMOTIONS = REPO.parent / "shared" / "data" / "emotions.csv"
EMOTION_LABELS = ["amazed-suprised", "happy-pleased", "relaxing-calm", "quiet-still", "sad-lonely",
                  "angry-aggresive"]
EPOCHS = 2000  # the slider's maximum: far longer than the scenario needs on any machine; the test stops the run
NAV = ["Home", "Train", "Predict", "Runs"]
LOAD_MS = 60_000


# -- helpers -------------------------------------------------------------------------------------------------------

def no_exceptions(page: Page) -> None:
    expect(page.locator("[data-testid='stException']")).to_have_count(0)


def nav_labels(page: Page) -> list[str]:
    links = page.locator("[data-testid='stSidebarNav'] [data-testid='stSidebarNavLink']")
    expect(links.first).to_be_visible(timeout=LOAD_MS)
    return [t.strip().split("\n")[-1].strip() for t in links.all_inner_texts()]


def open_page(page: Page, server: Any, name: str) -> None:
    """Open the app at its root (as a person does), then follow the sidebar link ``name``."""
    page.goto(server.url + "/")
    expect(page.get_by_text("Devices on this machine")).to_be_visible(timeout=LOAD_MS)
    page.locator("[data-testid='stSidebarNav']").get_by_text(name, exact=True).click()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible(timeout=LOAD_MS)


def loss_points(page: Page) -> int:
    """Points on the loss chart's train line (the largest copy: Streamlit keeps a stale one while re-rendering)."""
    return page.evaluate("""() => Math.max(0, ...[...document.querySelectorAll('.st-key-loss_chart .js-plotly-plot')]
                                        .map(el => (el.data && el.data[0] && el.data[0].x) ? el.data[0].x.length : 0))""")


def progress(page: Page) -> tuple[int, int]:
    """(N, M) from the progress text 'epoch N/M', (0, 0) before the first epoch ends."""
    texts = page.locator("[data-testid='stProgress']").all_inner_texts()
    for text in texts:
        match = re.search(r"epoch (\d+)/(\d+)", text)
        if match:
            return int(match[1]), int(match[2])
    return 0, 0


def wait_for(page: Page, done: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    """Poll visible state until ``done()``, with a deadline (never a fixed sleep as an assertion)."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout_s} s waiting for {what}; progress {progress(page)}, "
                        f"loss chart points {loss_points(page)}")
        page.wait_for_timeout(150)


def set_slider(page: Page, key: str, *keys: str) -> None:
    thumb = page.locator(f".st-key-{key} input[type=range]")
    thumb.focus()
    for k in keys:
        page.keyboard.press(k)


# -- the scenario --------------------------------------------------------------------------------------------------

def test_train_on_a_csv_live_through_a_reload_then_predict_and_download(page: Page, server, screenshot,
                                                                          tmp_path):
    open_page(page, server, "Train")
    assert nav_labels(page) == NAV
    expect(page).to_have_url(re.compile(r"/train$"))

    # Data: the real emotions CSV; the label columns default to its last six (binary) columns.
    page.get_by_text("Upload CSV", exact=True).click()
    page.locator(".st-key-train_csv input[type=file]").set_input_files(EMOTIONS)
    expect(page.get_by_text("emotions.csv: 593 rows × 78 columns")).to_be_visible(timeout=LOAD_MS)
    chosen = page.locator("[class*='st-key-labels_'] button[aria-label^='Remove ']")
    expect(chosen).to_have_count(6)
    assert [a.removeprefix("Remove ") for a in chosen.evaluate_all("els => els.map(e => e.ariaLabel)")] \
        == EMOTION_LABELS
    metrics = page.locator("[data-testid='stMetric']")
    expect(metrics.filter(has_text="Input size")).to_contain_text("72")
    expect(metrics.filter(has_text="Number of outputs")).to_contain_text("6")

    # Knobs by keyboard on the slider thumbs: no early stopping, the most epochs the slider offers.
    set_slider(page, "patience", "Home")
    set_slider(page, "epochs", "End")
    expect(page.locator(".st-key-patience input[type=range]")).to_have_value("0")
    expect(page.locator(".st-key-epochs input[type=range]")).to_have_value(str(EPOCHS))
    no_exceptions(page)

    page.locator(".st-key-start button").click()
    expect(page).to_have_url(re.compile(r"[?&]run=[\w-]+"), timeout=LOAD_MS)
    run_id = re.search(r"run=([\w-]+)", page.url)[1]
    expect(page.get_by_text(run_id)).to_be_visible()

    # The chart gains points at least twice while the run goes on.
    wait_for(page, lambda: loss_points(page) > 0, "the loss chart's first points")
    seen = [loss_points(page)]
    for _ in range(2):
        wait_for(page, lambda: loss_points(page) > seen[-1], f"the loss chart to grow past {seen[-1]} points")
        seen.append(loss_points(page))
    assert seen[-1] < EPOCHS, f"the run ended before it could be watched live ({seen}); raise EPOCHS"
    assert progress(page)[1] == EPOCHS  # the slider's value reached the run's config
    expect(page.get_by_text("status: running")).to_be_visible()
    no_exceptions(page)
    screenshot("1-training-live")

    # Reload: a new browser session; the URL's ?run= re-attaches to the live run.
    before_reload = progress(page)[0]
    page.reload()
    expect(page).to_have_url(re.compile(rf"run={re.escape(run_id)}"))
    wait_for(page, lambda: progress(page)[0] > 0, "the run's progress after the reload")
    after_reload = progress(page)[0]
    assert after_reload >= before_reload
    assert after_reload < EPOCHS, "the run ended during the reload; raise EPOCHS"
    wait_for(page, lambda: progress(page)[0] > after_reload, "the epoch counter to move on after the reload")
    expect(page.get_by_text(run_id)).to_be_visible()
    no_exceptions(page)
    screenshot("2-after-reload")

    # Stop: the run ends after its epoch, keeps its best weights, and the whole page refreshes once: metrics, the
    # Predict button, every epoch on the chart.
    page.locator(".st-key-stop button").click()
    expect(page.get_by_text("status: stopped")).to_be_visible(timeout=90_000)
    expect(page.locator("[data-testid='stMetric']").filter(has_text="Val micro-F1")).to_be_visible()
    ran = progress(page)[0]
    assert after_reload < ran < EPOCHS
    shown = min(ran, MAX_POINTS)  # long histories are thinned for display
    wait_for(page, lambda: loss_points(page) == shown, f"{shown} points on the stopped run's loss chart", 10)
    expect(page.locator(".st-key-start button")).to_be_enabled()
    expect(page.locator(".st-key-stop button")).to_be_disabled()
    no_exceptions(page)
    screenshot("3-finished")

    # Predict with this model on the same CSV without its label columns, and download the result.
    features = tmp_path / "emotions_features.csv"
    pd.read_csv(EMOTIONS).drop(columns=EMOTION_LABELS).to_csv(features, index=False)
    page.locator(".st-key-to_predict button").click()
    expect(page.get_by_role("heading", name="Predict", exact=True)).to_be_visible(timeout=LOAD_MS)
    expect(page.locator(".st-key-predict_run_select input[role=combobox]")).to_have_value(
        re.compile(rf"^{re.escape(run_id)} · stopped"))
    page.locator(".st-key-predict_csv input[type=file]").set_input_files(features)
    expect(page.get_by_text("593 rows scored.")).to_be_visible(timeout=LOAD_MS)
    expect(page.locator(".st-key-freq_chart .js-plotly-plot")).to_be_visible()
    no_exceptions(page)
    screenshot("4-predict-result")

    with page.expect_download(timeout=LOAD_MS) as download_info:
        page.locator(".st-key-download button").click()
    download = download_info.value
    assert download.suggested_filename == "emotions_features_predictions.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    result = pd.read_csv(saved)
    assert len(result) == 593
    for label in EMOTION_LABELS:
        assert result[f"{label}_prob"].between(0, 1).all(), label
        assert set(result[label].unique()) <= {0, 1}, label
    assert list(result.columns[-12:]) == [f"{lab}_prob" for lab in EMOTION_LABELS] + EMOTION_LABELS
    assert len(result.columns) == 12  # feature columns are consumed; only other columns would pass through


def test_stop_is_clickable_while_a_run_started_in_this_tab_is_live(page: Page, server, screenshot):
    """Start a long synthetic run; without a reload, Stop must be enabled (and Start disabled) while it runs."""
    open_page(page, server, "Train")
    set_slider(page, "patience", "Home")
    set_slider(page, "epochs", "End")
    expect(page.locator(".st-key-patience input[type=range]")).to_have_value("0")
    expect(page.locator(".st-key-epochs input[type=range]")).to_have_value(str(EPOCHS))
    page.locator(".st-key-start button").click()
    wait_for(page, lambda: progress(page)[0] >= 1, "the first epoch")
    expect(page.get_by_text("status: running")).to_be_visible()
    try:
        expect(page.locator(".st-key-stop button")).to_be_enabled(timeout=5_000)
        expect(page.locator(".st-key-start button")).to_be_disabled()
    finally:
        screenshot("live-buttons")
    page.locator(".st-key-stop button").click()
    expect(page.get_by_text("status: stopped")).to_be_visible(timeout=30_000)
    assert progress(page)[0] < EPOCHS
    no_exceptions(page)


def test_a_direct_link_to_a_page_on_a_fresh_server_gets_the_app_navigation(page: Page, fresh_server,
                                                                             screenshot):
    """A bookmark to /train (or a reload after a restart) is the first request a server sees: it must still get
    app.py's navigation (Home, Train, Predict, Runs), not a page list built from the pages/ folder."""
    page.goto(fresh_server.url + "/train")
    expect(page.locator(".st-key-start button")).to_be_visible(timeout=LOAD_MS)
    try:
        assert nav_labels(page) == NAV
    finally:
        screenshot("direct-link")
    no_exceptions(page)
