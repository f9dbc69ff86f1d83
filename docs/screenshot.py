"""Screenshots of the page in headless Chromium: the README's picture and a full-page view.

    python docs/screenshot.py                    # docs/screenshot.png (README) + /tmp/page-full.png
    python docs/screenshot.py --digit 4 --full docs/page-full.png

Starts the app on a free loopback port with the shipped weights, draws a digit with mouse moves
(the same strokes as tests/test_browser.py), waits for the vote, the feature maps and the
distortion samples, and saves the pictures. Needs playwright and Debian's chromium (dev only).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshot.png"), help="the README picture")
    ap.add_argument("--full", default="/tmp/page-full.png", help="the whole page, for looking at")
    ap.add_argument("--digit", default="7", choices=["7", "1", "0", "4"])
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=860)
    args = ap.parse_args(argv)

    from PIL import Image
    from playwright.sync_api import expect, sync_playwright

    from ensemble import Ensemble
    from test_browser import STROKES, draw
    from web import create_app
    from web.browser import launch
    from web.server import serve_in_thread

    with serve_in_thread(create_app(Ensemble(device="cpu"))) as url, sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready=true]")
        draw(page, STROKES[args.digit])
        expect(page.get_by_test_id("prediction")).to_have_text(args.digit, timeout=30_000)
        page.wait_for_selector("[data-testid=feature-layer]", timeout=30_000)
        page.wait_for_selector("[data-testid=sample]", timeout=30_000)
        page.wait_for_timeout(400)
        page.screenshot(path=args.full, full_page=True)
        page.screenshot(path=args.out)
        browser.close()
    img = Image.open(args.out)
    img.convert("P", palette=Image.Palette.ADAPTIVE, colors=128).save(args.out, optimize=True)   # small file
    print(f"wrote {args.out} ({Path(args.out).stat().st_size // 1024} KiB) and {args.full}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
