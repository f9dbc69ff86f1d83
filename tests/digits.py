"""Synthetic MNIST-like digits for tests (no dataset download): strokes in the central 20x20 box."""
import numpy as np
import torch
from PIL import Image, ImageDraw


def synthetic_digits(n: int = 64, seed: int = 0) -> torch.Tensor:
    """float (n, 1, 28, 28) in [0, 1]: random polylines/ellipses drawn light-on-dark, MNIST-like."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 28, 28), np.float32)
    for i in range(n):
        img = Image.new("L", (112, 112), 0)          # draw 4x larger, downsample with antialiasing
        d = ImageDraw.Draw(img)
        if i % 3 == 0:
            d.ellipse([32, 20, 80, 92], outline=255, width=10)
        else:
            pts = [tuple(rng.uniform(24, 88, 2)) for _ in range(4)]
            d.line(pts, fill=255, width=11, joint="curve")
        out[i] = np.asarray(img.resize((28, 28), Image.BILINEAR), np.float32) / 255
    return torch.from_numpy(out).unsqueeze(1)


def write_clip(path, frames: np.ndarray, codec: str | None = None, rate: int = 10):
    """Encode uint8 (N, H, W) gray frames (lossless where the codec allows); for the video tests."""
    import av
    import os
    ext = os.path.splitext(str(path))[1]
    codec = codec or {".mp4": "libx264", ".webm": "libvpx-vp9", ".mkv": "ffv1", ".avi": "mpeg4",
                      ".mov": "libx264"}[ext]
    opts = {"libx264": {"qp": "0"}, "libvpx-vp9": {"lossless": "1"}}.get(codec, {})
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate, options=opts)
        s.height, s.width = frames.shape[1:]
        s.pix_fmt = "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="gray")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return str(path)
