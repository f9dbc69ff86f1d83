"""Screenshots of the page in headless Chromium: the README's pictures and a full-page view.

    python docs/screenshot.py                    # docs/screenshot{,-number,-live}.png + /tmp/page-full.png
    python docs/screenshot.py --digit 4 --full docs/page-full.png --number-out '' --live-out ''

Starts the app on a free loopback port with the shipped weights, draws a digit with mouse moves
(the same strokes as tests/test_browser.py), waits for the vote, the feature maps and the
distortion samples, and saves the pictures; then writes a number in number mode, and plays
Chromium's fake camera a clip of a digit being written in live mode until the vote settles.
Needs playwright and Debian's chromium (dev only).
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
    ap.add_argument("--number-out", default=str(ROOT / "docs" / "screenshot-number.png"),
                    help="number mode: a number written on the canvas ('' to skip)")
    ap.add_argument("--live-out", default=str(ROOT / "docs" / "screenshot-live.png"),
                    help="live camera mode, settled ('' to skip)")
    ap.add_argument("--digit", default="7", choices=["7", "1", "0", "4"])
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=860)
    args = ap.parse_args(argv)

    from PIL import Image
    from playwright.sync_api import expect, sync_playwright

    from ensemble import Ensemble
    import tempfile

    from test_browser import EXAMPLES, NUMBER_STROKES, STROKES, draw, written_clip
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
        written = [args.out]
        if args.number_out:
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(url + "/")
            page.wait_for_selector("body[data-ready=true]")
            page.check("input[name=read-mode][value=number]")
            draw(page, NUMBER_STROKES)
            expect(page.get_by_test_id("number-text")).to_have_text("714", timeout=30_000)
            page.wait_for_selector("[data-testid=feature-layer]", timeout=30_000)
            page.wait_for_timeout(400)
            page.screenshot(path=args.number_out)
            written.append(args.number_out)
        browser.close()
        if args.live_out:
            with tempfile.TemporaryDirectory() as tmp:
                clip = Path(tmp) / "writing.y4m"
                written_clip(clip, EXAMPLES / "3" / "mnist_0018.png")
                browser = launch(p, ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                                     f"--use-file-for-fake-video-capture={clip}"])
                page = browser.new_page(viewport={"width": args.width, "height": args.height})
                page.goto(url + "/")
                page.wait_for_selector("body[data-ready=true]")
                page.click("#tab-btn-camera")
                page.click("#cam-live")
                expect(page.get_by_test_id("live-settled")).to_have_text("3", timeout=30_000)
                page.wait_for_timeout(1500)                  # a few more readings in the strip
                page.screenshot(path=args.live_out)
                page.click("#cam-live")
                browser.close()
            written.append(args.live_out)
    for out in written:
        img = Image.open(out)
        img.convert("P", palette=Image.Palette.ADAPTIVE, colors=128).save(out, optimize=True)   # small files
        print(f"wrote {out} ({Path(out).stat().st_size // 1024} KiB)")
    print(f"and {args.full}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
