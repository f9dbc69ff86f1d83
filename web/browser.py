"""Headless Chromium for the browser tests and the README screenshot (dev only: needs playwright).

Playwright drives Debian's `chromium` package (apt-get install chromium) through
`executable_path`; Playwright's own browser download is never used. The flags keep Chromium
from reaching out to the network (updates, sync, field trials) on machines that have none.

    from web.browser import launch
    with sync_playwright() as p:
        browser = launch(p)                       # /usr/bin/chromium, or $CHROMIUM
"""
from __future__ import annotations

import os
import shutil

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--metrics-recording-only", "--mute-audio"]


def chromium_path() -> str | None:
    """$CHROMIUM, else /usr/bin/chromium, else `chromium` on PATH; None when there is none."""
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def launch(playwright, extra_args=(), **kw):
    path = chromium_path()
    if path is None:
        raise FileNotFoundError("no chromium: apt-get install chromium (or set $CHROMIUM)")
    return playwright.chromium.launch(executable_path=path, args=ARGS + list(extra_args), **kw)
