"""Page paths, titles and the sidebar, in one place. Imports only Streamlit, so a page paints before torch loads.

Layout: Streamlit's own folder convention. ``app.py`` is the first page (Home) and ``pages/`` holds the others;
their URLs come from the file names (``/Train``, ``/Predict``, ``/Runs``), so a direct link or a reload on a fresh
server opens the right page. There is no ``st.navigation``: mixing it with a ``pages/`` folder made a fresh server
answer a direct link from the folder's page list instead. ``.streamlit/config.toml`` hides Streamlit's generated
list, which would call the entry script "app"; :func:`page` draws the same links with proper names.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
HOME, TRAIN, PREDICT, RUNS = "app.py", "pages/1_Train.py", "pages/2_Predict.py", "pages/3_Runs.py"
INSPECT, HEADS = "pages/4_Inspect.py", "pages/5_Sigmoid_vs_softmax.py"
SEARCH = "pages/6_Search.py"
PAGES = {"Home": HOME, "Train": TRAIN, "Search": SEARCH, "Predict": PREDICT, "Runs": RUNS, "Inspect": INSPECT,
         "Sigmoid vs softmax": HEADS}
# A local file: a ":material/...:" or emoji page icon makes the browser fetch the tab icon from a CDN.
ICON = str(ROOT / "assets" / "icon.png")


FIRST_PAGE = "nav_first_page"  # the title of the first page a browser session drew
LAST_PAGE = "nav_last_page"  # the title of the page this session drew last
ARRIVED = "nav_arrived"  # whether this run of the page script came to it from elsewhere (see arrived)
# Inspect sends a session's first draw without plotly charts and has the browser ask for them this long after:
# loading plotly in a new tab holds the browser's main thread for seconds, and sent together the charts kept the
# numbers off the screen (benchmarks/README.md, "Inspect's numbers before its charts"). Runs and Search wait for their
# tables to be drawn instead (rerun_when_drawn below): a fixed wait let charts overtake a table loading its script.
CHARTS_AFTER_S = 1.0
DRAWING = "Drawing the charts…"  # where a first draw's charts will come

# The browser tells the server that it has drawn an element: a trigger from a tiny component (no iframe, no markup)
# that waits until the element has a size, then two animation frames (it is on screen), and gives up after
# DRAWN_GIVE_UP_S. Runs and Search ask for their charts on it: after a fixed wait (or with the table), plotly's
# evaluation in a new browser (seconds of the main thread) came before a table that was still loading its script.
DRAWN_GIVE_UP_S = 10.0
_DRAWN_JS = """
export default function ({ data, setTriggerValue }) {
  let stopped = false;
  const until = performance.now() + data.give_up_ms;
  const check = () => {
    if (stopped) return;
    const el = document.querySelector(data.selector);
    if ((el && el.getBoundingClientRect().height > 0) || performance.now() > until) {
      requestAnimationFrame(() => requestAnimationFrame(() => { if (!stopped) setTriggerValue("drawn", true); }));
    } else {
      setTimeout(check, 50);
    }
  };
  check();
  return () => { stopped = true; };
}
"""
_drawn = None

# Whether the browser shows this tab (the Page Visibility API): a tab in the background, a minimized window. A live
# view stops polling while hidden, as dashboards do (Superset, Grafana): a tab left open on a training run otherwise
# keeps the server and its browser redrawing charts nobody sees, on the cores the run and the page in view need. The
# browser says when it changes; the page then runs again, with its polls off or on (and so current at once on return).
HIDDEN = "nav_hidden"
_VISIBILITY_JS = """
export default function ({ data, setStateValue }) {
  let known = !!data.hidden;
  const report = () => {
    const hidden = document.visibilityState === "hidden";
    if (hidden !== known) { known = hidden; setStateValue("hidden", hidden); }
  };
  report();
  document.addEventListener("visibilitychange", report);
  return () => document.removeEventListener("visibilitychange", report);
}
"""
_visibility = None


def page(title: str) -> None:
    """Call first on every page: tab title and local icon, wide layout, the sidebar links."""
    st.set_page_config(page_title=f"{title} · multilabel" if title != "Home" else "multilabel", page_icon=ICON,
                       layout="wide")
    st.session_state.setdefault(FIRST_PAGE, title)
    st.session_state[ARRIVED] = st.session_state.get(LAST_PAGE) != title
    st.session_state[LAST_PAGE] = title
    with st.sidebar:
        for name, path in PAGES.items():
            st.page_link(path, label=name)
        _watch_visibility()


def _watch_visibility() -> None:
    global _visibility
    if _visibility is None:
        _visibility = st.components.v2.component("multilabel_visibility", js=_VISIBILITY_JS)
    result = _visibility(key="nav_visibility", data={"hidden": bool(st.session_state.get(HIDDEN))},
                         default={"hidden": False}, on_hidden_change=lambda: None)
    st.session_state[HIDDEN] = bool(result.hidden)


def while_shown(every_s: float | None) -> float | None:
    """A fragment's ``run_every`` of ``every_s`` while the browser shows the tab, None (no polling) while hidden."""
    return None if st.session_state.get(HIDDEN) else every_s


def arrived() -> bool:
    """Whether this run of the page script brings the page on screen: a new tab, a reload, a link, the sidebar from
    another page. False for the page's own reruns (a widget, a poll's ``st.rerun``). Runs and Search draw their
    tables first on every arrival, not once per session: sent with the table, the charts of a later visit by the
    sidebar (parallel coordinates draw through WebGL) held the table back as long as in a new tab. Call it from the
    page's script: a fragment's own reruns do not pass through :func:`page`."""
    return st.session_state.get(ARRIVED, True)


def charts_due(flag: str) -> bool:
    """Whether a page that draws its table first (charts_after_table) may draw its charts in this run: not on an
    arrival, and not before the page has set ``flag`` (a session-state key) after its table-only draw."""
    if arrived():
        st.session_state.pop(flag, None)
    return bool(st.session_state.get(flag))


def first_page(title: str) -> bool:
    """Whether ``title`` is the first page this browser session drew (a new tab, a link, a reload): the browser has
    not loaded any page's chart code (plotly) yet. Coming from another page by the sidebar, it usually has."""
    return st.session_state.get(FIRST_PAGE) == title


def rerun_when_drawn(selector: str, key: str) -> None:
    """Have the browser rerun the calling fragment (or the page, outside one) once it has drawn the element that the
    CSS ``selector`` finds: a trigger, so it fires once per mount. Runs and Search ask for their charts on it."""
    global _drawn
    if _drawn is None:
        _drawn = st.components.v2.component("multilabel_when_drawn", js=_DRAWN_JS)
    _drawn(key=key, data={"selector": selector, "give_up_ms": DRAWN_GIVE_UP_S * 1000}, on_drawn_change=lambda: None)


def charts_after_table(key: str) -> None:
    """In place of a first draw's charts: say they come, and have the browser rerun the fragment once it has drawn
    the page's data table (the grid's canvas has a size)."""
    st.caption(DRAWING)
    rerun_when_drawn("[data-testid='stDataFrame'] canvas", key=key)
