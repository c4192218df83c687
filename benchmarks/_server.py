"""What the browser benchmarks share: Debian's Chromium, and a `streamlit run app.py` server on a free port.

(The browser tests have their own fixture in tests/browser/conftest.py, which reports failures through pytest.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, Optional

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
START_S = 60


def niced_chromium(folder: Path, niceness: int = 19) -> str:
    """A launcher for Debian's Chromium at low CPU priority, to pass to Playwright as ``executable_path``: the
    browsers stand in for viewers on other machines and must not take the server's CPU.

    Without CAP_SYS_NICE, as a desktop user runs it: Chromium run as root renices its own processes (foreground
    renderers back to 0, the browser process to -8), which undid a plain ``nice -n 19``. The niceness holds inside
    the browser's own session only: Playwright starts it in a session of its own, which Linux's autogroup
    scheduling weighs as one unit against the server's session, as a desktop browser's session is."""
    path = folder / f"chromium-nice{niceness}"
    keep = "setpriv --bounding-set=-sys_nice " if shutil.which("setpriv") else ""
    path.write_text(f'#!/bin/sh\nexec {keep}nice -n {niceness} {CHROMIUM} "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def health_ms(url: str, timeout_s: float = 30) -> Optional[float]:
    """Milliseconds for /_stcore/health to answer 'ok', or None where it does not."""
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout_s) as resp:
            if resp.read().strip() != b"ok":
                return None
    except OSError:
        return None
    return (time.perf_counter() - t0) * 1000


@contextlib.contextmanager
def streamlit_server(home: Path, root: Path = REPO, env: Optional[dict[str, str]] = None,
                     on_start: Optional[Callable[[subprocess.Popen], None]] = None) -> Iterator[str]:
    """``streamlit run app.py`` in ``root`` with MULTILABEL_HOME=home; yields its URL once healthy, stops it after.

    The server's output goes to ``home/server.log``; ``on_start(process)`` gets the server's process.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MULTILABEL_HOME": str(home), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **(env or {})}
    log_path = home / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                 "--server.address", "127.0.0.1", "--server.port", str(port)],
                                cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if on_start is not None:
        on_start(proc)
    try:
        deadline = time.monotonic() + START_S
        while health_ms(url, timeout_s=2) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit in {root} did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
