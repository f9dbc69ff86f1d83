"""The page in a real browser: Playwright driving Debian's chromium, against the shipped weights.

Draw digits with mouse moves and read the shown prediction; upload files (picker and drag and
drop) and see the rows; feed Chromium's fake camera a y4m video of a digit and take a snapshot,
or a clip of a digit being written and watch live mode settle on it; write a number on the
canvas (and upload one) in number mode and read its text.
Without chromium (or playwright) these tests are skipped, except under CI=true, where a missing
browser is a failure (.ci/run installs chromium with apt-get).
"""
import base64
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "digits"


def _need_browser():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "playwright is not installed (pip install -e '.[dev]')"
    else:
        from web.browser import chromium_path
        if chromium_path() is not None:
            return
        reason = "no chromium (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(reason)


def expect(*a, **k):
    from playwright.sync_api import expect as _expect
    return _expect(*a, **k)


@pytest.fixture(scope="module")
def url():
    _need_browser()
    from ensemble import Ensemble
    from web import create_app
    from web.server import serve_in_thread
    with serve_in_thread(create_app(Ensemble(device="cpu"))) as u:
        yield u


@pytest.fixture(scope="module")
def playwright():
    _need_browser()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    from web.browser import launch
    b = launch(playwright)
    yield b
    b.close()


@pytest.fixture
def page(browser, url):
    """A fresh page that may only talk to our server: any other request fails the test."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    outside, errors = [], []
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url)
               else (outside.append(route.request.url), route.abort()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    yield page
    context.close()
    assert not outside, f"the page reached outside the server: {outside}"
    assert not errors, f"errors in the page: {errors}"


# ---- drawing ----------------------------------------------------------------------------------------
STROKES = {   # each digit as strokes of (x, y) points in pad fractions
    "7": [[(0.28, 0.22), (0.72, 0.22), (0.45, 0.82)]],
    "1": [[(0.52, 0.18), (0.50, 0.84)]],
    "0": [[(0.5 + 0.2 * np.sin(t), 0.5 - 0.3 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 40)]],
    "4": [[(0.60, 0.82), (0.60, 0.18), (0.28, 0.60), (0.76, 0.60)]],
}


def draw(page, strokes):
    box = page.locator("#pad").bounding_box()
    at = lambda p: (box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"])   # noqa: E731
    for stroke in strokes:
        page.mouse.move(*at(stroke[0]))
        page.mouse.down()
        for p in stroke[1:]:
            page.mouse.move(*at(p), steps=8)
        page.mouse.up()


def shown(page) -> str:
    return page.locator("[data-testid=prediction]").inner_text()


def expect_prediction(page, digit: str, timeout: int = 20_000) -> None:
    # (the page's Content-Security-Policy forbids eval, so no wait_for_function: locators poll)
    expect(page.get_by_test_id("prediction")).to_have_text(digit, timeout=timeout)


def poll(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.parametrize("digit", ["7", "1", "0", "4"])
def test_drawn_digit_is_read(page, digit):
    draw(page, STROKES[digit])
    expect_prediction(page, digit, 20_000)
    assert "members vote" in page.locator("[data-testid=agreement]").inner_text()
    assert page.locator(".member").count() == 5
    page.wait_for_selector("[data-testid=feature-layer]", timeout=20_000)   # the inside views follow
    page.wait_for_selector("[data-testid=sample]", timeout=20_000)


def test_the_vote_follows_the_pen_during_a_stroke(page):
    """A long stroke without a pause still gets answers (at most 400 ms apart), not only at its end.
    The page's clock is Playwright's fake one: time moves only by run_for, whatever the load."""
    page.clock.install()
    page.clock.pause_at(int(time.time() * 1000) + 60_000)    # from here on, time moves only by run_for
    box = page.locator("#pad").bounding_box()
    x = box["x"] + 0.5 * box["width"]
    page.mouse.move(x, box["y"] + 0.15 * box["height"])
    page.mouse.down()
    for k in range(12):                                      # 12 moves, 50 ms apart: never 150 ms quiet
        page.mouse.move(x, box["y"] + (0.15 + 0.7 * k / 11) * box["height"])
        page.clock.run_for(50)
    expect(page.get_by_test_id("prediction")).to_be_visible(timeout=10_000)   # answered mid-stroke
    page.mouse.up()
    page.clock.run_for(200)
    expect_prediction(page, "1")


def test_undo_and_clear(page):
    draw(page, STROKES["1"])
    expect_prediction(page, '1', 20_000)
    draw(page, [[(0.2, 0.5), (0.8, 0.5)]])                   # a cross stroke: not a 1 any more
    expect(page.get_by_test_id("prediction")).not_to_have_text("1", timeout=20_000)
    page.click("#undo")
    expect_prediction(page, '1', 20_000)
    page.click("#clear")
    page.wait_for_selector("#result .placeholder", timeout=10_000)
    assert page.locator("#undo").is_disabled() and page.locator("#clear").is_disabled()


# ---- upload ------------------------------------------------------------------------------------------
def test_upload_gives_rows(page, tmp_path):
    junk = tmp_path / "notes.png"
    junk.write_bytes(b"this is not an image")
    seven, three = EXAMPLES / "7" / "font_7.jpg", EXAMPLES / "3" / "mnist_0018.png"
    page.click("#tab-btn-upload")
    page.set_input_files("#file-input", [str(seven), str(three), str(junk)])
    rows = page.locator("[data-testid=upload-row]")
    rows.nth(2).wait_for(timeout=20_000)
    assert rows.count() == 3
    assert [rows.nth(i).locator("td.vote").inner_text() for i in range(3)] == ["7", "3", "–"]
    assert "not an image" in rows.nth(2).inner_text()
    assert shown(page) == "7"                                # the first row is shown in detail
    rows.nth(1).click()
    expect_prediction(page, '3', 10_000)


def test_drag_and_drop(page):
    data = base64.b64encode((EXAMPLES / "3" / "mnist_0018.png").read_bytes()).decode()
    page.click("#tab-btn-upload")
    dt = page.evaluate_handle("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
        return dt; }""", data)
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": dt})
    expect_prediction(page, '3', 20_000)
    assert "dropped.png" in page.locator("#result").inner_text()


# ---- camera: Chromium's fake capture device plays a y4m of a digit ------------------------------------
def write_y4m(path: Path, gray: np.ndarray, frames: int = 3) -> None:
    """A YUV4MPEG2 file (4:2:0) showing `gray` (H, W), neutral colour."""
    h, w = gray.shape
    chroma = np.full((h // 2) * (w // 2), 128, np.uint8).tobytes()
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + gray.astype(np.uint8).tobytes() + chroma + chroma)


def digit_on_paper(src: Path, size=(640, 480), digit_px=260) -> np.ndarray:
    """An MNIST digit as dark ink on light paper, as a webcam would see a sheet held up to it."""
    ink = Image.open(src).convert("L").resize((digit_px, digit_px), Image.Resampling.BICUBIC)
    paper = Image.new("L", size, 205)
    paper.paste(Image.fromarray((205 - np.asarray(ink, np.float32) * 0.75).astype(np.uint8)),
                ((size[0] - digit_px) // 2, (size[1] - digit_px) // 2))
    return np.asarray(paper)


def test_camera_snapshot_is_read(playwright, url, tmp_path):
    from web.browser import launch
    video = tmp_path / "digit.y4m"
    write_y4m(video, digit_on_paper(EXAMPLES / "3" / "mnist_0018.png"))
    b = launch(playwright, ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={video}",
                            "--use-fake-ui-for-media-stream"])
    try:
        page = b.new_page(viewport={"width": 1200, "height": 900})
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        page.click("#tab-btn-camera")
        page.click("#cam-start")
        poll(lambda: page.evaluate("document.getElementById('video').videoWidth") > 0, 20)
        page.click("#cam-snap")
        expect_prediction(page, '3', 20_000)
        assert "camera snapshot" in page.locator("#result").inner_text()
        page.click("#tab-btn-draw")                              # leaving the tab turns the camera off
        assert page.evaluate("document.getElementById('video').srcObject") is None
    finally:
        b.close()


# ---- the API docs work offline -----------------------------------------------------------------------------
def test_docs_render_without_a_cdn(browser, url):
    page = browser.new_page()
    outside = []
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url)
               else (outside.append(route.request.url), route.abort()))
    page.goto(url + "/docs")
    page.locator(".opblock-summary-path", has_text="/api/vote").first.wait_for(timeout=30_000)
    assert "digit-ensemble" in page.locator(".info").inner_text()
    assert not outside, outside
    page.close()


def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch):
    import web.browser
    monkeypatch.setattr(web.browser, "chromium_path", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run under CI"):
        _need_browser()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        _need_browser()


def test_tie_break_is_explained(browser, tmp_path):
    """Two stand-in members that always disagree (3 vs 7): the page says the tie-break decided."""
    from ensemble import Ensemble
    from standins import save_oracles
    from web import create_app
    from web.server import serve_in_thread
    folder = save_oracles(tmp_path)
    (folder / "b.safetensors").unlink()
    with serve_in_thread(create_app(Ensemble(folder, device="cpu"))) as u:
        page = browser.new_page()
        page.goto(u + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        draw(page, STROKES["1"])
        note = page.get_by_test_id("tie")
        expect(note).to_contain_text("split 1–1", timeout=20_000)
        assert "3 and 7" in note.inner_text() and "tie was broken" in note.inner_text()
        assert page.get_by_test_id("agreement").inner_text().startswith("1 of 2")
        page.close()


# ---- live camera: the vote settles while a digit is being written ---------------------------------
def written_clip(path: Path, src: Path, writing: int = 15, still: int = 65) -> None:
    """A y4m clip (10 frames/s, looped by Chromium) of a digit being written top to bottom over
    `writing` frames, then held still for `still` frames."""
    final = digit_on_paper(src)
    ink = final < 200                                       # where the pen has been, at the end
    rows = np.flatnonzero(ink.any(1))
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        chroma = np.full(320 * 240, 128, np.uint8).tobytes()
        for k in range(writing + still):
            frame = final.copy()
            upto = rows[0] + (rows[-1] - rows[0] + 1) * min(1.0, (k + 1) / writing)
            frame[int(upto):][ink[int(upto):]] = 205          # not written yet: paper
            f.write(b"FRAME\n" + frame.astype(np.uint8).tobytes() + chroma + chroma)


def test_live_camera_settles_on_the_written_digit(playwright, url, tmp_path):
    from web.browser import launch
    video = tmp_path / "writing.y4m"
    written_clip(video, EXAMPLES / "3" / "mnist_0018.png")
    b = launch(playwright, ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={video}",
                            "--use-fake-ui-for-media-stream"])
    try:
        page = b.new_page(viewport={"width": 1200, "height": 900})
        flying, most, total = set(), [0], [0]

        def sent(req):
            if "/api/vote" in req.url:
                flying.add(req)
                total[0] += 1
                most[0] = max(most[0], len(flying))
        page.on("request", sent)
        page.on("requestfinished", lambda req: flying.discard(req))
        page.on("requestfailed", lambda req: flying.discard(req))
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        page.click("#tab-btn-camera")
        page.click("#cam-live")                                # starts the camera too
        expect(page.locator("#cam-live")).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_test_id("live-settled")).to_have_text("3", timeout=20_000)
        expect_prediction(page, "3", 5_000)
        assert page.get_by_test_id("live-reading").count() >= 4
        assert most[0] == 1, f"{most[0]} live requests were in flight at once"
        page.wait_for_selector("[data-testid=feature-layer]", timeout=20_000)   # the settled digit, inside

        page.click("#cam-live")                                # off: no more requests
        expect(page.locator("#cam-live")).to_have_attribute("aria-pressed", "false")
        time.sleep(0.1)
        before = total[0]
        time.sleep(1.2)                                        # three live periods
        assert total[0] == before, "live requests went on after live mode was turned off"
        assert page.locator("#live-panel").is_hidden()
        assert page.evaluate("document.getElementById('video').srcObject") is not None   # the camera stays on

        page.click("#cam-live")                                # on again, then the page is hidden
        page.get_by_test_id("live-reading").first.wait_for(timeout=20_000)
        page.evaluate("""() => { Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
                                 document.dispatchEvent(new Event('visibilitychange')); }""")
        expect(page.locator("#cam-live")).to_have_attribute("aria-pressed", "false")
        assert page.evaluate("document.getElementById('video').srcObject") is None
        expect(page.locator("#cam-msg")).to_contain_text("page was hidden")
    finally:
        b.close()


def test_live_without_a_camera_says_why(page):
    """No fake device and no permission: live mode turns itself off with a clear message."""
    page.click("#tab-btn-camera")
    page.click("#cam-live")
    expect(page.locator("#cam-msg")).to_contain_text("amera", timeout=10_000)
    expect(page.locator("#cam-live")).to_have_attribute("aria-pressed", "false")
    assert "error" in page.locator("#cam-msg").get_attribute("class")
    assert page.locator("#live-panel").is_hidden()


def test_live_with_the_permission_denied_says_so(playwright, url):
    """A camera exists (the fake device) but the permission prompt is refused."""
    from web.browser import launch
    b = launch(playwright, ["--use-fake-device-for-media-stream"])      # no fake UI: nobody says yes
    try:
        context = b.new_context()
        context.grant_permissions([], origin=url)                         # and nothing granted
        page = context.new_page()
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        page.click("#tab-btn-camera")
        page.click("#cam-live")
        expect(page.locator("#cam-msg")).to_contain_text("permission was denied", timeout=10_000)
        expect(page.locator("#cam-live")).to_have_attribute("aria-pressed", "false")
        assert page.evaluate("document.getElementById('video').srcObject") is None
    finally:
        b.close()


# ---- a number on the canvas, and uploaded ---------------------------------------------------------
NUMBER_STROKES = [   # "714" in pad fractions of the wide number-mode pad
    [(0.10, 0.25), (0.26, 0.25), (0.16, 0.80)],
    [(0.45, 0.20), (0.44, 0.82)],
    [(0.74, 0.80), (0.74, 0.20), (0.62, 0.60), (0.86, 0.60)],
]


def test_canvas_reads_a_number(page):
    page.check("input[name=read-mode][value=number]")
    box = page.locator("#pad").bounding_box()
    assert box["width"] > 1.8 * box["height"]                  # the pad is wider in number mode
    draw(page, NUMBER_STROKES)
    expect(page.get_by_test_id("number-text")).to_have_text("714", timeout=20_000)
    assert page.get_by_test_id("number-digit").count() == 3
    assert page.locator("[data-testid=number-digit] b").all_inner_texts() == ["7", "1", "4"]
    # the digit boxes are drawn over the pad. New ink clears them until its own answer is in, and
    # the last stroke's answer can come after an earlier one already read "714": wait for them
    page.wait_for_function("""() => { const c = document.getElementById('pad-boxes');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n > 100; }""", timeout=20_000)
    page.click("#tab-btn-camera")                              # the camera reads one digit: no switch there
    assert page.locator(".mode-switch").is_hidden() and "number-mode" not in page.locator("main").get_attribute("class")
    page.click("#tab-btn-draw")
    assert "number-mode" in page.locator("main").get_attribute("class")
    page.check("input[name=read-mode][value=digit]")           # back: one digit, square pad, no boxes
    expect(page.get_by_test_id("prediction")).to_be_visible(timeout=20_000)


def test_upload_reads_a_number(page, tmp_path):
    from test_api_numbers import number_png
    (tmp_path / "meter.png").write_bytes(number_png("2026"))
    page.check("input[name=read-mode][value=number]")
    page.click("#tab-btn-upload")
    page.set_input_files("#file-input", [str(tmp_path / "meter.png")])
    expect(page.get_by_test_id("number-text")).to_have_text("2026", timeout=20_000)
    page.get_by_test_id("number-boxes").wait_for(timeout=10_000)
    page.get_by_test_id("number-digit").nth(2).click()         # the inside views follow the chosen digit
    page.wait_for_selector("[data-testid=feature-layer]", timeout=20_000)


def test_a_number_written_to_the_pads_edges_and_leaving_the_tab(page, tmp_path):
    """Ink that reaches the pad's top and bottom is writing, not a paper edge (a large 714 read
    "7" or nothing). Leaving the tab hides the pad (it shrinks to 1x1): that is no new drawing to
    vote on, so the answer stays (a false "blank image" error once replaced it, even over an upload)."""
    page.check("input[name=read-mode][value=number]")
    tall = [[(x, 0.01 + 0.98 * (y - 0.20) / 0.62) for x, y in s] for s in NUMBER_STROKES]   # rows 0.01-0.99
    draw(page, tall)
    expect(page.get_by_test_id("number-text")).to_have_text("714", timeout=20_000)
    page.click("#tab-btn-upload")
    seen = []                                                   # the panel, 100 ms apart, for 2.5 s
    for _ in range(25):
        seen.append(page.locator("#result").inner_text())
        page.wait_for_timeout(100)
    assert not [t for t in seen if "Could not read" in t], seen
    expect(page.get_by_test_id("number-text")).to_have_text("714")
    from test_api_numbers import number_png
    (tmp_path / "meter.png").write_bytes(number_png("2026"))
    page.set_input_files("#file-input", [str(tmp_path / "meter.png")])
    expect(page.get_by_test_id("number-text")).to_have_text("2026", timeout=20_000)
    page.wait_for_timeout(1500)
    expect(page.get_by_test_id("number-text")).to_have_text("2026")
    assert "Could not read" not in page.locator("#result").inner_text()
    page.check("input[name=read-mode][value=digit]")           # a mode switch while the pad is hidden
    page.wait_for_timeout(1000)                                 # (its debounced vote comes meanwhile)
    page.click("#tab-btn-draw")                                 # ... is voted on when it is back
    expect(page.get_by_test_id("prediction")).to_be_visible(timeout=20_000)
    expect(page.locator("#result")).to_contain_text("your drawing", timeout=20_000)   # the pad's, not the upload's
