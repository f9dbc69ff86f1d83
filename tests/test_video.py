"""Video inputs (ensemble/video.py through ensemble.reading): tiny clips made here with PyAV.

The clips show the stand-in "ink digits" (tests/standins.py: MNIST-style 28x28 bars whose
width is the class; members a, b read digit k as k, member c as k + 1): a bar being drawn
(growing downwards), then still. A partial bar holds less ink, so it reads as another class:
a clip read at the wrong moment gets the wrong answer.
"""
import json
import os
import struct

import av
import numpy as np
import pytest
from PIL import Image

import vote
from ensemble import Ensemble
from ensemble.reading import DigitMode, Item, Reader, find_inputs
from ensemble.video import SEEK_AFTER, decode_clip, is_video
from digits import write_clip
from standins import CLASSES, ink_digits, save_ink_members

RATE = 10                                   # frames per second of the test clips


@pytest.fixture(scope="module")
def ink(tmp_path_factory):
    folder = save_ink_members(tmp_path_factory.mktemp("ink"))
    return Ensemble(folder, device="cpu"), folder


def drawing(k: int, grow: int = 6, still: int = 8) -> np.ndarray:
    """uint8 (grow + still, 28, 28): digit k appearing row block by row block, then still."""
    d = ink_digits()[k]
    rows = np.nonzero(d.any(1))[0]
    frames = []
    for i in range(1, grow + 1):
        f = np.zeros_like(d)
        cut = rows[0] + round(len(rows) * i / grow)
        f[:cut] = d[:cut]
        frames.append(f)
    return np.stack(frames + [d] * still)


def with_hand(frames: np.ndarray, n: int = 4) -> np.ndarray:
    """Append n frames of a big bright blob (a hand) moving across the finished digit."""
    out = [frames]
    for i in range(n):
        f = frames[-1].copy()
        x = 2 + 6 * i
        f[6:26, x:x + 14] = 200
        out.append(f[None])
    return np.concatenate(out)


def read(ens, paths, **mode):
    return Reader(ens, mode=DigitMode(**mode), workers=0).read(
        find_inputs([str(p) for p in paths], CLASSES).items)


def span(r):
    return r.extra["video"]["start_s"], r.extra["video"]["end_s"]


# ---- reading clips ------------------------------------------------------------------------
@pytest.mark.parametrize("ext", [".mp4", ".webm"])
def test_a_digit_being_drawn_reads_as_the_finished_digit(ink, tmp_path, ext):
    ens, _ = ink
    frames = drawing(6)
    r, = read(ens, [write_clip(tmp_path / f"six{ext}", frames)])
    assert (r.status, r.prediction, r.agreement, r.member_predictions) == ("ok", 6, 2, [6, 6, 7])
    t0, t1 = span(r)
    assert t0 >= 6 / RATE - 1e-6 and t1 == pytest.approx((len(frames) - 1) / RATE, abs=1e-3)
    assert r.extra["columns"]["frames"] == f"frames {t0:.2f}–{t1:.2f} s" and r.extra["video"]["still"]
    # an early frame alone reads otherwise: the span matters
    assert Reader(ens).read_gray(frames[2]).prediction != 6


def test_a_hand_passing_over_at_the_end_does_not_decide(ink, tmp_path):
    ens, _ = ink
    frames = with_hand(drawing(4))
    hand_from = (len(frames) - 4) / RATE
    r, = read(ens, [write_clip(tmp_path / "four.mp4", frames)])
    assert (r.status, r.prediction) == ("ok", 4)
    assert span(r)[1] < hand_from
    # what the hand frames alone say (different answers): the test can fail
    assert any(Reader(ens).read_gray(f).prediction != 4 for f in frames[-4:])


def test_still_clip_and_one_frame_clip(ink, tmp_path):
    ens, _ = ink
    d = ink_digits()
    still, one = read(ens, [write_clip(tmp_path / "still.mkv", np.stack([d[3]] * 12)),
                            write_clip(tmp_path / "one.mkv", d[8][None])])
    assert (still.status, still.prediction) == ("ok", 3) and still.extra["video"]["still"]
    assert span(still)[1] == pytest.approx(1.1, abs=1e-3) and span(still)[1] - span(still)[0] <= 0.5 + 1e-6
    assert (one.status, one.prediction, span(one)) == ("ok", 8, (0.0, 0.0))
    assert one.extra["columns"]["frames"] == "frames 0.00–0.00 s"


def test_frames_are_bounded_sampled_to_the_end_and_long_clips_are_sought(ink, tmp_path):
    ens, _ = ink
    frames = drawing(5, grow=10, still=90)                                  # 100 frames
    path = write_clip(tmp_path / "long.mp4", frames)
    clip = decode_clip(path, max_frames=16)
    assert len(clip.frames) == 16 and clip.decoded == 100
    assert clip.times[-1] == pytest.approx(9.9, abs=1e-3)                    # the last frame is kept
    assert np.all(np.diff(clip.times) > 0)
    # longer than SEEK_AFTER x max_frames: seek to each sample instead of decoding everything
    assert len(frames) > SEEK_AFTER * 4
    sought = decode_clip(path, max_frames=4)
    assert len(sought.frames) == 4 and sought.times[-1] > 9.0
    r, = read(ens, [path], max_frames=4)
    assert (r.status, r.prediction, r.extra["video"]["frames_sampled"]) == ("ok", 5, 4)


def test_bad_clips_get_a_reason_and_the_run_goes_on(ink, tmp_path):
    ens, _ = ink
    good = write_clip(tmp_path / "good.webm", drawing(2))
    # zero frames: a stream, its headers, nothing else
    with av.open(str(tmp_path / "zero.webm"), "w") as c:
        s = c.add_stream("libvpx-vp9", rate=RATE)
        s.width = s.height = 28
        c.start_encoding()
    # audio only
    with av.open(str(tmp_path / "audio.mp4"), "w") as c:
        s = c.add_stream("aac", rate=8000)
        for i in range(3):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts = 8000, i * 1024
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    # truncated: an .mp4 cut short (its index is at the end) and a .webm cut short (it is not)
    mp4 = open(write_clip(tmp_path / "full.mp4", drawing(2, still=30)), "rb").read()
    (tmp_path / "cut.mp4").write_bytes(mp4[:len(mp4) // 2])
    webm = open(write_clip(tmp_path / "full.webm", drawing(2, still=30)), "rb").read()
    (tmp_path / "cut.webm").write_bytes(webm[:len(webm) // 2])
    (tmp_path / "empty.mov").write_bytes(b"")
    (tmp_path / "text.mkv").write_text("not a video at all\n" * 20)
    names = ["zero.webm", "audio.mp4", "cut.mp4", "cut.webm", "empty.mov", "text.mkv"]
    rs = read(ens, [tmp_path / n for n in names] + [good])
    status = {os.path.basename(r.path): r.status for r in rs}
    assert status["zero.webm"].startswith("no frames")
    assert status["audio.mp4"] == "no video stream (audio only)"
    assert "truncated" in status["cut.mp4"] and "truncated video" in status["cut.webm"]
    assert status["empty.mov"] == "empty file"
    assert status["text.mkv"].startswith("not a video")
    assert rs[-1].ok and rs[-1].prediction == 2                              # the run went on


def absurd_avi(path, width: int, height: int) -> str:
    """A rawvideo AVI whose headers declare width x height (its one frame is tiny)."""
    frame = np.zeros((4, 4, 3), np.uint8)
    with av.open(str(path), "w") as c:
        s = c.add_stream("rawvideo", rate=RATE)
        s.width = s.height = 4
        s.pix_fmt = "bgr24"
        for p in s.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
            c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = bytearray(open(path, "rb").read())
    avih, strf = data.find(b"avih"), data.find(b"strf")
    struct.pack_into("<II", data, avih + 8 + 32, width, height)           # MainAVIHeader dwWidth/dwHeight
    struct.pack_into("<ii", data, strf + 8 + 4, width, height)             # BITMAPINFOHEADER biWidth/biHeight
    open(path, "wb").write(data)
    return str(path)


def test_absurd_declared_frame_size_is_refused_before_decoding(ink, tmp_path, monkeypatch):
    ens, _ = ink
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)   # Reader(max_pixels) sets it
    # 20000x12000 (240 M pixels: 720 MB per decoded frame) is over the image path's pixel limit
    # (Pillow's, 89 M) but within FFmpeg's own: we must refuse it ourselves, before decoding
    path = absurd_avi(tmp_path / "bomb.avi", 20000, 12000)
    with av.open(path) as c:                                   # the file really declares it
        cc = c.streams.video[0].codec_context
        assert (cc.width, cc.height) == (20000, 12000)
    # 60000x60000 is past FFmpeg's own limit: it refuses to open the stream
    huge = absurd_avi(tmp_path / "huge.avi", 60000, 60000)
    good = write_clip(tmp_path / "good.mp4", drawing(1))
    r, h, g = read(ens, [path, huge, good])
    assert r.status.startswith("video too large, refused (20000x12000")
    assert not h.ok and h.status.startswith("corrupt")
    assert g.ok and g.prediction == 1
    # the same limit as for images ($VOTE_MAX_IMAGE_PIXELS / Reader(max_pixels=...))
    small = absurd_avi(tmp_path / "ok.avi", 4, 4)
    r, = Reader(ens, max_pixels=10, workers=0).read([Item(small)])
    assert r.status.startswith("video too large, refused (4x4")


# ---- animated images, uploads, folders -------------------------------------------------------
def test_animated_gif_reads_as_a_clip_and_a_one_frame_gif_as_before(ink, tmp_path):
    ens, _ = ink
    frames = drawing(7)
    imgs = [Image.fromarray(f) for f in frames]
    imgs[0].save(tmp_path / "anim.gif", save_all=True, append_images=imgs[1:], duration=100, loop=0)
    imgs[0].save(tmp_path / "anim.webp", save_all=True, append_images=imgs[1:], duration=100, lossless=True)
    Image.fromarray(ink_digits()[7]).save(tmp_path / "still.gif")
    gif, webp, still = read(ens, [tmp_path / "anim.gif", tmp_path / "anim.webp", tmp_path / "still.gif"])
    for r in (gif, webp):
        assert (r.status, r.prediction) == ("ok", 7) and span(r)[0] >= 0.6 - 1e-6
    assert "video" not in still.extra and "frames" not in still.extra.get("columns", {})
    ref = Reader(ens, keep_images=True, keep_probs=True, workers=0)
    again = ref.read([Item(str(tmp_path / "still.gif"))])[0]
    assert np.array_equal(again.image, ink_digits()[7]) and again.probs.shape == (3, 10)


def test_uploaded_clip_bytes_are_recognised(ink, tmp_path):
    ens, _ = ink
    data = open(write_clip(tmp_path / "x.mp4", drawing(9)), "rb").read()
    assert is_video(Item("upload", data=data)) and not is_video(Item("a", data=ink_digits()[1]))
    r = Reader(ens).read_bytes(data, name="upload")
    assert (r.status, r.prediction) == ("ok", 9)


def test_labelled_folder_of_clips_with_timeline_and_report(ink, tmp_path, capsys):
    ens, weights = ink
    lab = tmp_path / "clips"
    for k, ext in ((1, ".mp4"), (3, ".webm"), (6, ".mkv")):
        (lab / str(k)).mkdir(parents=True)
        write_clip(lab / str(k) / f"c{k}{ext}", drawing(k))
    Image.fromarray(ink_digits()[5]).save(lab / "1" / "photo.png")           # an image among them: wrong label
    write_clip(lab / "1" / "wrong.mp4", with_hand(drawing(2)))             # a clip in the wrong folder
    out = tmp_path / "rows.json"
    code = vote.main([str(lab), "--weights", str(weights), "--output", str(out),
                      "--timeline", str(tmp_path / "t.json"), "--report", str(tmp_path / "rep")])
    assert code == 0
    doc = json.loads(out.read_text())
    rows = {os.path.basename(r["path"]): r for r in doc["images"]}
    assert {k: (v["prediction"], v["label"]) for k, v in rows.items()} == {
        "c1.mp4": (1, 1), "c3.webm": (3, 3), "c6.mkv": (6, 6), "photo.png": (5, 1), "wrong.mp4": (2, 1)}
    assert rows["c3.webm"]["frames"].startswith("frames ") and "frames" not in rows["photo.png"]
    assert doc["labelled"]["correct"] == 3 and doc["labelled"]["n"] == 5
    grid = np.asarray(Image.open(tmp_path / "rep" / "misclassified.png").convert("L"))
    tile = grid[4:4 + 84:3, 92:92 + 84:3].astype(int)                      # the clip's tile (2nd), at 28x28
    assert np.abs(tile - ink_digits()[2]).max() <= 3                        # a frame read, not the hand
    tl = json.loads((tmp_path / "t.json").read_text())["frames"]
    mine = [f for f in tl if f["path"].endswith("c3.webm")]
    assert len(mine) == len(drawing(3)) and [f["time_s"] for f in mine] == sorted(f["time_s"] for f in mine)
    assert mine[-1]["prediction"] == "3" and mine[-1]["read"] and not mine[0]["read"]
    assert {"path", "time_s", "prediction", "agreement", "confidence", "status"} <= set(mine[0])
    assert any(f["prediction"] not in (None, "3") for f in mine)             # it settled over time
    assert Image.open(tmp_path / "rep" / "timeline.png").size[0] > 0
    assert (tmp_path / "rep" / "confusion.png").exists()
    # CSV timeline, table rows with the frames column
    capsys.readouterr()
    code = vote.main([str(lab / "3"), "--weights", str(weights), "--format", "csv",
                      "--timeline", str(tmp_path / "t.csv")])
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0].startswith("path,time_s,prediction,agreement,confidence,status")
    assert len(lines) == 1 + len(drawing(3))
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert header[:8] == ["path", "prediction", "agreement", "confidence", "status", "review", "label", "frames"]


def test_images_only_keep_their_columns(ink, tmp_path, capsys):
    ens, weights = ink
    Image.fromarray(ink_digits()[2]).save(tmp_path / "a.png")
    vote.main([str(tmp_path / "a.png"), "--weights", str(weights), "--format", "csv"])
    assert "frames" not in capsys.readouterr().out.splitlines()[0]


def test_cli_flags_are_checked_and_documented(ink, tmp_path, capsys):
    _, weights = ink
    with pytest.raises(SystemExit) as e:
        vote.parse_args([str(tmp_path), "--max-frames", "0"])
    assert e.value.code == 1 and "--max-frames" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        vote.parse_args([str(tmp_path), "--output", str(tmp_path / "x.csv"), "--timeline", str(tmp_path / "x.csv")])
    assert e.value.code == 1
    with pytest.raises(SystemExit):
        vote.parse_args(["--help"])
    text = capsys.readouterr().out
    assert "--max-frames" in text and "default 64" in text and "--timeline" in text
    # a timeline must not overwrite an input
    clip = write_clip(tmp_path / "c.mp4", drawing(2))
    assert vote.main([clip, "--weights", str(weights), "--timeline", clip]) == 1
    assert os.path.getsize(clip) > 0
