"""The dashboard in a real browser (Playwright + Debian Chromium) against `streamlit run app.py`.

What AppTest cannot see: the st.fragment poll really firing, the URL carrying the run across a reload, file inputs,
the download itself, what the browser fetches, and what a person sees (screenshots under artifacts/screenshots/).
"""

from __future__ import annotations

import re
from typing import Any, Callable
from urllib.parse import urlparse

import pandas as pd
import pytest
from playwright.sync_api import Page, expect

import pagetest

from multilabel import TrainConfig
from multilabel.charts import MAX_POINTS

pytestmark = pytest.mark.browser

EPOCHS = 2000  # the slider's maximum: far longer than the scenario needs on any machine; the test stops the run
NAV = ["Home", "Train", "Search", "Predict", "Runs", "Inspect", "Sigmoid vs softmax"]
LOAD_MS = 60_000


# -- helpers -------------------------------------------------------------------------------------------------------

def no_exceptions(page: Page) -> None:
    expect(page.locator("[data-testid='stException']")).to_have_count(0)


def nav_labels(page: Page) -> list[str]:
    links = page.locator("[data-testid='stSidebar'] [data-testid='stPageLink']")
    expect(links.first).to_be_visible(timeout=LOAD_MS)
    # Streamlit's generated list (which would name the entry script "app") is hidden: one list, the app's names.
    expect(page.locator("[data-testid='stSidebarNavLink']")).to_have_count(0)
    return [t.strip() for t in links.all_inner_texts()]


def go_to(page: Page, name: str) -> None:
    """Follow the sidebar link ``name`` and wait for that page's title."""
    page.locator("[data-testid='stSidebar'] [data-testid='stPageLink']").get_by_text(name, exact=True).click()
    expect(page.get_by_role("heading", name="multilabel" if name == "Home" else name, exact=True)).to_be_visible(
        timeout=LOAD_MS)


def open_page(page: Page, server: Any, name: str) -> None:
    """Open the app at its root (as a person does), then follow the sidebar link ``name``."""
    page.goto(server.url + "/")
    expect(page.get_by_text("Devices on this machine")).to_be_visible(timeout=LOAD_MS)
    go_to(page, name)


def chart_points(page: Page, key: str = "loss_chart", trace: int = 0) -> int:
    """Points on a chart's trace (the largest copy: Streamlit keeps a stale one while re-rendering)."""
    return page.evaluate(f"""() => Math.max(0, ...[...document.querySelectorAll('.st-key-{key} .js-plotly-plot')]
        .map(el => (el.data && el.data[{trace}] && el.data[{trace}].x) ? el.data[{trace}].x.length : 0))""")


def chart_modes(page: Page, key: str) -> list[str]:
    return page.evaluate(f"""() => {{ const el = document.querySelector('.st-key-{key} .js-plotly-plot');
        return el && el.data ? el.data.map(t => t.mode || '') : []; }}""")


def progress(page: Page) -> tuple[int, int]:
    """(N, M) from the progress text 'epoch N/M', (0, 0) before the first epoch ends."""
    for text in page.locator("[data-testid='stProgress']").all_inner_texts():
        match = re.search(r"epoch (\d+)/(\d+)", text)
        if match:
            return int(match[1]), int(match[2])
    return 0, 0


def wait_for(page: Page, done: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    """Poll visible state until ``done()``, with a deadline (never a fixed sleep as an assertion)."""
    pagetest.wait_for(done, what, timeout_s, poll_s=0.15,
                      detail=lambda: f"progress {progress(page)}, loss chart points {chart_points(page)}")


def slider(page: Page, key: str):
    return page.locator(f".st-key-{key} input[type=range]")


def press(page: Page, key: str, *keys: str) -> None:
    """Move a slider by keyboard on its thumb (Home/End/arrows), as a person can."""
    thumb = slider(page, key)
    thumb.focus()
    for k in keys:
        page.keyboard.press(k)


def slider_value(page: Page, key: str) -> str:
    return slider(page, key).input_value()


def expect_slider(page: Page, key: str, value: str) -> None:
    expect(slider(page, key)).to_have_value(value, timeout=10_000)


def external_requests(page: Page) -> list[str]:
    """Every request this page makes to a host other than the test server (filled as the test goes)."""
    seen: list[str] = []
    page.on("request", lambda req: seen.append(req.url)
            if urlparse(req.url).hostname not in ("127.0.0.1", "localhost", None) and
            not req.url.startswith(("data:", "blob:", "about:")) else None)
    return seen


# -- the scenarios -------------------------------------------------------------------------------------------------

def test_train_on_a_csv_live_through_a_reload_then_predict_and_download(page: Page, server, screenshot, tmp_path,
                                                                          emotions_csv, emotion_labels):
    outside = external_requests(page)
    open_page(page, server, "Train")
    assert nav_labels(page) == NAV
    expect(page).to_have_url(re.compile(r"/Train$"))
    icon = page.locator("link[rel*=icon]").first.get_attribute("href")
    assert icon and not icon.startswith("http") or urlparse(icon).hostname == "127.0.0.1", icon

    # Data: the real emotions CSV; the label columns default to its last six (binary) columns, all in view.
    page.get_by_text("Upload CSV", exact=True).click()
    # First a file with no 0/1 column: nothing to guess, no label chosen. The next file's guess must show in the
    # picker (the browser kept the first file's empty choice while the counts below said 6).
    unguessable = tmp_path / "counts.csv"
    unguessable.write_text("f1,f2,a\n1,2,3\n4,5,6\n")
    page.locator(".st-key-train_csv input[type=file]").set_input_files(unguessable)
    expect(page.get_by_text("counts.csv: 2 rows × 3 columns")).to_be_visible(timeout=LOAD_MS)
    expect(page.locator(".st-key-labels button[aria-label^='Remove ']")).to_have_count(0)
    page.locator(".st-key-train_csv input[type=file]").set_input_files(emotions_csv)
    expect(page.get_by_text("emotions.csv: 593 rows × 78 columns")).to_be_visible(timeout=LOAD_MS)
    chosen = page.locator(".st-key-labels button[aria-label^='Remove ']")
    expect(chosen).to_have_count(6)
    assert [a.removeprefix("Remove ") for a in chosen.evaluate_all("els => els.map(e => e.ariaLabel)")] \
        == emotion_labels
    for chip in chosen.all():
        expect(chip).to_be_visible()  # no "+3": the picker is wide enough for every chosen label
    assert page.locator(".st-key-labels").get_by_text(re.compile(r"^\+\d+$")).count() == 0
    metrics = page.locator("[data-testid='stMetric']")
    expect(metrics.filter(has_text="Input size")).to_contain_text("72")
    expect(metrics.filter(has_text="Number of outputs")).to_contain_text("6")
    screenshot("0-labels")

    # Knobs by keyboard on the slider thumbs: no early stopping, the most epochs the slider offers.
    press(page, "patience", "Home")
    expect_slider(page, "patience", "0")
    press(page, "epochs", "End")
    expect_slider(page, "epochs", str(EPOCHS))
    no_exceptions(page)

    page.locator(".st-key-start button").click()
    expect(page).to_have_url(re.compile(r"[?&]run=[\w-]+"), timeout=LOAD_MS)
    run_id = re.search(r"run=([\w-]+)", page.url)[1]
    expect(page.get_by_text(run_id)).to_be_visible()
    expect(page.get_by_text("started by this browser session")).to_be_visible()

    # The chart gains points at least twice while the run goes on.
    wait_for(page, lambda: chart_points(page) > 0, "the loss chart's first points")
    seen = [chart_points(page)]
    for _ in range(2):
        wait_for(page, lambda: chart_points(page) > seen[-1], f"the loss chart to grow past {seen[-1]} points")
        seen.append(chart_points(page))
    assert seen[-1] < EPOCHS, f"the run ended before it could be watched live ({seen}); raise EPOCHS"
    assert progress(page)[1] == EPOCHS  # the slider's value reached the run's config
    expect(page.get_by_text("status: running")).to_be_visible()
    expect(page.locator(".st-key-per_label_chart .gtitle").first).to_contain_text(re.compile(r"\(epoch \d+\)"))
    no_exceptions(page)
    screenshot("1-training-live")

    # Reload: a new browser session; the URL's ?run= re-attaches to the live run, the form shows its settings.
    before_reload = progress(page)[0]
    page.reload()
    expect(page).to_have_url(re.compile(rf"run={re.escape(run_id)}"))
    wait_for(page, lambda: progress(page)[0] > 0, "the run's progress after the reload")
    after_reload = progress(page)[0]
    assert after_reload >= before_reload
    assert after_reload < EPOCHS, "the run ended during the reload; raise EPOCHS"
    wait_for(page, lambda: progress(page)[0] > after_reload, "the epoch counter to move on after the reload")
    expect_slider(page, "epochs", str(EPOCHS))
    expect_slider(page, "patience", "0")
    # A reload is the same browser (its cookie): the run is still its own, and Stop needs no question and leaves
    # no note (another browser's confirmation is covered in tests/test_control.py).
    expect(page.get_by_text("started by this browser session")).to_be_visible()
    no_exceptions(page)
    screenshot("2-after-reload")

    page.locator(".st-key-stop button").click()
    expect(page.get_by_text("status: stopped", exact=False)).to_be_visible(timeout=90_000)
    expect(page.get_by_text("anyway?")).to_have_count(0)
    expect(page.get_by_text(re.compile(r"Note \(\d\d:\d\d\): stopped by browser session"))).to_have_count(0)
    expect(page.locator("[data-testid='stMetric']").filter(has_text="Val micro-F1")).to_be_visible()
    ran = progress(page)[0]
    assert after_reload < ran < EPOCHS
    shown = min(ran, MAX_POINTS)  # long histories are thinned for display, the last epoch kept
    wait_for(page, lambda: chart_points(page) == shown, f"{shown} points on the stopped run's loss chart", 10)
    expect(page.locator(".st-key-start button")).to_be_enabled()
    expect(page.locator(".st-key-stop button")).to_be_disabled()
    no_exceptions(page)
    screenshot("4-finished")

    # Predict with this model on the same CSV without its label columns; move a threshold, download at once.
    features = tmp_path / "emotions_features.csv"
    pd.read_csv(emotions_csv).drop(columns=emotion_labels).to_csv(features, index=False)
    page.locator(".st-key-to_predict button").click()
    expect(page.get_by_role("heading", name="Predict", exact=True)).to_be_visible(timeout=LOAD_MS)
    expect(page.locator(".st-key-predict_run_select input[role=combobox]")).to_have_value(
        re.compile(rf"^{re.escape(run_id)} · emotions\.csv · stopped"))
    page.locator(".st-key-predict_csv input[type=file]").set_input_files(features)
    expect(page.get_by_text("593 rows scored.")).to_be_visible(timeout=LOAD_MS)
    expect(page.locator(".st-key-freq_chart .js-plotly-plot")).to_be_visible()
    no_exceptions(page)
    screenshot("5-predict-result")

    page.get_by_text("Per-label thresholds").click()
    first = page.locator(f".st-key-thr_{run_id}_0 input[type=range]")
    # The slider's accessible name is the label as typed (it read "amazed\\-suprised": Markdown escapes)
    names = page.locator(f".st-key-thr_{run_id}_0 [aria-label]").evaluate_all(
        "els => els.map(e => e.getAttribute('aria-label'))")
    assert emotion_labels[0] in names and not any("\\" in n for n in names), names
    first.focus()
    page.keyboard.press("Home")  # threshold 0: every row gets label 1 for the first label
    with page.expect_download(timeout=LOAD_MS) as download_info:
        page.locator(".st-key-download button").click()  # right after the move, while the page reruns
    download = download_info.value
    assert download.failure() is None, download.failure()
    assert download.suggested_filename == "emotions_features_predictions.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    result = pd.read_csv(saved)
    assert len(result) == 593
    for label in emotion_labels:
        assert result[f"{label}_prob"].between(0, 1).all(), label
        assert set(result[label].unique()) <= {0, 1}, label
    assert list(result.columns[-12:]) == [f"{lab}_prob" for lab in emotion_labels] + emotion_labels
    assert len(result.columns) == 12  # feature columns are consumed; only other columns would pass through
    assert outside == [], f"the page fetched from the internet: {outside}"


def test_the_form_keeps_its_values_through_a_source_switch_a_page_change_and_a_reload(page: Page, server,
                                                                                      screenshot):
    open_page(page, server, "Train")
    press(page, "input_size", "ArrowRight", "ArrowRight", "ArrowRight")  # 10 -> 13
    press(page, "num_outputs", "ArrowLeft", "ArrowLeft")  # 5 -> 3
    press(page, "hidden_size", "ArrowRight")  # the default + 1
    press(page, "learning_rate", "ArrowRight")
    press(page, "batch_size", "ArrowLeft")
    hidden = TrainConfig().hidden_size + 1
    wanted = {"input_size": "13", "num_outputs": "3", "hidden_size": str(hidden)}
    for key, value in wanted.items():
        expect_slider(page, key, value)
    lr, batch = slider_value(page, "learning_rate"), slider_value(page, "batch_size")

    for _ in range(2):  # the tester's sequence, twice: Upload CSV then Synthetic
        page.get_by_text("Upload CSV", exact=True).click()
        expect(page.locator(".st-key-train_csv")).to_be_visible(timeout=LOAD_MS)
        page.get_by_text("Synthetic", exact=True).click()
        expect(slider(page, "input_size")).to_be_visible(timeout=LOAD_MS)
        for key, value in wanted.items():
            expect_slider(page, key, value)
    go_to(page, "Runs")
    table = page.locator("[data-testid='stDataFrame']").first
    if table.count():  # runs of this module's server: the table fits the page, no sideways scrolling
        box, main = table.bounding_box(), page.locator("[data-testid='stMainBlockContainer']").bounding_box()
        assert box["x"] + box["width"] <= main["x"] + main["width"] + 1, (box, main)
        widths = table.evaluate("""el => { const s = el.querySelector('.dvn-scroller');
            return s ? [s.scrollWidth, s.clientWidth] : null; }""")
        assert widths is None or widths[0] <= widths[1] + 1, f"the runs table scrolls sideways: {widths}"
        screenshot("runs")
    go_to(page, "Train")
    for key, value in wanted.items():
        expect_slider(page, key, value)
    assert (slider_value(page, "learning_rate"), slider_value(page, "batch_size")) == (lr, batch)
    screenshot("form-after-switches")
    page.reload()  # a new session: the URL carries the form
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=LOAD_MS)
    expect(slider(page, "input_size")).to_be_visible(timeout=LOAD_MS)
    for key, value in wanted.items():
        expect_slider(page, key, value)
    assert (slider_value(page, "learning_rate"), slider_value(page, "batch_size")) == (lr, batch)

    # What trains is what the page shows: a 1-epoch run of this net (and it is visible: points, not a bare line).
    press(page, "epochs", "Home")
    expect_slider(page, "epochs", "1")
    page.locator(".st-key-start button").click()
    expect(page.get_by_text(re.compile(r"status: (completed|stopped early)"))).to_be_visible(timeout=90_000)
    expect(page.get_by_text(re.compile(rf"· 13 → {hidden} → 3 ·"))).to_be_visible()
    wait_for(page, lambda: chart_points(page) == 1, "the single epoch on the loss chart", 20)
    assert all("markers" in m for m in chart_modes(page, "loss_chart"))
    assert all("markers" in m for m in chart_modes(page, "metrics_chart"))
    no_exceptions(page)
    screenshot("one-epoch-run")


def test_a_direct_link_to_a_page_on_a_fresh_server_gets_the_app_navigation(page: Page, fresh_server,
                                                                             screenshot):
    """A bookmark to /Train (or a reload after a restart) is the first request a server sees: it must get the
    Train page with the app's navigation (Home, Train, Predict, Runs); ?run= of an unknown run starts fresh."""
    page.goto(fresh_server.url + "/Train?run=no-such-run")
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=LOAD_MS)
    expect(page.locator(".st-key-start button")).to_be_visible(timeout=LOAD_MS)
    try:
        assert nav_labels(page) == NAV
    finally:
        screenshot("direct-link")
    expect(page).to_have_url(re.compile(r"/Train$"))
    no_exceptions(page)
    page.goto(fresh_server.url + "/Runs")
    expect(page.get_by_text("No runs yet")).to_be_visible(timeout=LOAD_MS)
    go_to(page, "Home")
    expect(page.get_by_text("Devices on this machine")).to_be_visible(timeout=LOAD_MS)
