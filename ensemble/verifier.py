"""The one-digit verifier: is a candidate 28x28 one whole digit, or not (two digits run together,
a piece of one)?

    python train_verifier.py                    # -> checkpoints/verifier/one_digit.safetensors + report
    from ensemble.verifier import Verifier
    logit = Verifier.load()(images)             # uint8 (K, 28, 28) -> (K,) log p(one digit) / p(not)

Why: the members were trained on whole MNIST digits only, so they read a 1 run into its 9, or
half of a broken 0, as a digit, often surely. When a number is read (ensemble/numbers.py) each
candidate's verifier logit is one more feature of its score (`Scoring`, "verify").

Its data (`candidate_crops`): numbers rendered by generators.numbers.render_number from MNIST
training digits 0-54,999 (validation: 55,000-59,999), pictured as photos (JPEG) or scans and read
by NumberMode.prepare exactly as `vote.py --number` reads them. Each candidate is labelled by its
box: IoU >= 0.75 with a drawn digit's box -> 1 (one digit), IoU < 0.5 with every one -> 0, in
between left out (a digit with a sliver of its neighbour is neither).
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

META_KEY = "digit_ensemble_verifier"
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "checkpoints" / "verifier" / "one_digit.safetensors"
IOU_DIGIT, IOU_OTHER = 0.75, 0.5        # a candidate's label: its box against the drawn digits'
CLIP = 8.0                              # logits beyond +-8 say nothing more (p > 0.9997)
BATCH = 256                             # candidates per forward pass: one thread took ~0.105 ms per
                                        # candidate given 2,280 at once, ~0.08 in batches of 256


class OneDigitNet(nn.Module):
    """Two conv + pool stages and a small head: (B, 1, 28, 28) -> (B, 2) logits [not, one digit].
    About 1 M multiply-adds per image (a member takes 11-19 M)."""

    num_classes = 2

    def __init__(self, width: int = 16, hidden: int = 64, dropout: float = 0.3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 5), nn.ReLU(), nn.MaxPool2d(2),              # (B, w, 12, 12)
            nn.Conv2d(width, 2 * width, 5), nn.ReLU(), nn.MaxPool2d(2))      # (B, 2w, 4, 4)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * width, hidden), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(hidden, 2))

    def forward(self, x, return_aux: bool = False):
        logits = self.head(self.features(x))                                 # (B, 2)
        return (logits, []) if return_aux else logits


# ---- data: the candidates of rendered numbers, labelled by their boxes ----------------------
def box_iou(a, b) -> np.ndarray:
    """IoU of every box in a (K, 4) with every box in b (N, 4), x0 y0 x1 y1 -> (K, N)."""
    from .segment import box_area, box_overlap
    inter = box_overlap(a, b)
    union = box_area(np.reshape(a, (-1, 4)))[:, None] + box_area(np.reshape(b, (-1, 4)))[None] - inter
    return inter / np.maximum(union, 1)


def label_candidates(boxes, truth) -> np.ndarray:
    """int (K,): 1 one digit (IoU >= 0.75 with a true box), 0 not (< 0.5 with all), -1 left out.

    A known flaw: where a slanted 1's box lies mostly inside its 9's, the box around both has IoU
    >= 0.75 with the 9's and is labelled one digit. Boxes cannot tell it from the 9 cut free of the
    1 (the 9's own box then holds most of the 1's box too); only the digits' ink could."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    best = box_iou(boxes, truth).max(1) if len(truth) else np.zeros(len(boxes))
    return np.where(best >= IOU_DIGIT, 1, np.where(best < IOU_OTHER, 0, -1)).astype(np.int64)


def read_render(digits, seed: int, style: dict, quality: int | None):
    """Render a number (generators.numbers) as a JPEG photo (quality) or a PNG scan (None) and read it
    as `vote.py --number` does: (Prepared with the candidates, or None if unreadable; the true boxes)."""
    from PIL import Image

    from generators.numbers import NumberStyle, render_number

    from .numbers import NumberMode
    from .reading import Item
    img, truth = render_number(digits, seed=seed, style=NumberStyle(**style))
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG" if quality else "PNG", **({"quality": quality} if quality else {}))
    p = NumberMode().prepare(Item("number.jpg" if quality else "number.png", data=buf.getvalue()))
    return (p if p.status == "ok" else None), truth


def labelled_candidates(p, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The candidates of `p` (None: none) with a label >= 0, and those labels (-1: left out)."""
    if p is None:
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)
    return p.images[y >= 0], y[y >= 0]


def _one_number(task) -> tuple[np.ndarray, np.ndarray]:
    """(digits, seed, style dict, JPEG quality or None) -> the candidates' (crops, labels)."""
    p, truth = read_render(*task)
    return labelled_candidates(p, None if p is None else label_candidates(p.info["boxes"], truth))


def number_tasks(images: np.ndarray, mix: list[dict], n: int, seed: int, labels=None) -> list:
    """n numbers per entry of `mix` ({digits: [lo, hi], look, touch, overlap, broken}), digits drawn
    from `images` (uint8 (N, 28, 28)); each task renders one number: (digits, seed, style, JPEG quality),
    with the digits' labels after the digits when `labels` (N,) is given (the same draws either way)."""
    rng = np.random.default_rng(seed)
    tasks = []
    for m in mix:
        lo, hi = m.get("digits", (4, 4))
        for _ in range(n):
            k = int(rng.integers(lo, hi + 1))
            style = {"look": m.get("look", "photo"), "touch": bool(rng.random() < m.get("touch", 0.0)),
                     "overlap": tuple(m.get("overlap", (-0.5, 0.5))), "broken": float(m.get("broken", 0.0))}
            quality = int(rng.integers(85, 96)) if style["look"] == "photo" else None
            pick = rng.choice(len(images), k, replace=False)
            tasks.append((images[pick], *(() if labels is None else (labels[pick],)), int(rng.integers(2 ** 31)),
                          style, quality))
    return tasks


def map_tasks(fn, tasks: list, workers: int, desc: str, unit: str, chunksize: int = 8) -> list:
    """[fn(t) for t in tasks], in `workers` spawned processes (0: here), with a progress bar."""
    from multiprocessing import get_context

    from tqdm import tqdm
    bar = dict(total=len(tasks), desc=desc, unit=unit, disable=None)
    if workers <= 0:
        return [fn(t) for t in tqdm(tasks, **bar)]
    with get_context("spawn").Pool(workers) as pool:
        return list(tqdm(pool.imap(fn, tasks, chunksize=chunksize), **bar))


def cached_arrays(folder, name: str, sources: list, params, make, what: str) -> tuple[dict, str | None]:
    """The arrays make() returns ({name: ndarray}), kept in folder/{name}-{key}.npz, key: a hash of
    the `sources` files' bytes (the code they depend on) and `params` (JSON). Read from there when
    present (saying so on stderr, as "{what} from FILE"): (arrays, that file), else (arrays, None)."""
    import hashlib
    import sys
    code = b"".join(Path(f).read_bytes() for f in sources)
    key = hashlib.sha256(code + json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    store = Path(folder) / f"{name}-{key}.npz"
    if store.exists():
        print(f"{what} from {store}", file=sys.stderr)
        with np.load(store) as z:
            return {k: z[k] for k in z.files}, str(store)
    arrays = make()
    store.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(store, **arrays)
    return arrays, None


def candidate_crops(images: np.ndarray, mix: list[dict], n: int, seed: int, workers: int = 2,
                    desc: str = "numbers") -> tuple[np.ndarray, np.ndarray]:
    """Render n numbers per `mix` entry from `images`, read them: uint8 (K, 28, 28), int64 (K,)."""
    out = map_tasks(_one_number, number_tasks(images, mix, n, seed), workers, desc, "number")
    return (np.concatenate([c for c, _ in out]) if out else np.zeros((0, 28, 28), np.uint8),
            np.concatenate([y for _, y in out]) if out else np.zeros(0, np.int64))


# ---- the weights file -----------------------------------------------------------------------
def save_net(path, net: nn.Module, meta: dict, key: str = META_KEY) -> Path:
    """Weights + `meta` (arch_args, data, training, errors) under `key` in one .safetensors file, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(tmp), metadata={key: json.dumps(meta, sort_keys=True, default=str)})
    os.replace(tmp, path)
    return path


def load_net(path, key: str, make, what: str, script: str) -> tuple[nn.Module, dict]:
    """(net, meta) from a file `save_net` wrote under `key`; make(**arch_args) builds the net.
    WeightFileError naming the file when it is missing ("python {script} makes them") or not `what`'s."""
    from safetensors import safe_open

    from .export import WeightFileError
    path = Path(path)
    if not path.is_file():
        raise WeightFileError(f"{path}: no {what} weights (python {script} makes them)")
    try:
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {})[key])
        net = make(**meta["arch_args"])
        net.load_state_dict(load_file(str(path)))
    except Exception as e:                           # a broken or foreign file: say which
        raise WeightFileError(f"{path}: not a {what} weights file ({e})") from e
    return net, meta


def save_verifier(path, net: OneDigitNet, meta: dict) -> Path:
    """The verifier's weights + `meta` in one .safetensors file, atomically."""
    return save_net(path, net, meta)


class Verifier:
    """A loaded verifier: __call__(uint8 (K, 28, 28)) -> float64 (K,) logits, clipped to +-CLIP."""

    def __init__(self, net: OneDigitNet, meta: dict | None = None):
        self.net, self.meta = net.eval(), dict(meta or {})

    @classmethod
    def load(cls, path=None) -> "Verifier":
        return cls(*load_net(path or DEFAULT_PATH, META_KEY, OneDigitNet, "verifier", "train_verifier.py"))

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        out = [np.zeros(0)]
        for i in range(0, len(images), BATCH):       # in batches: see BATCH
            x = torch.from_numpy(np.ascontiguousarray(images[i:i + BATCH])).float().div_(255).unsqueeze(1)
            logits = self.net(x)                                                            # (B, 2)
            out.append((logits[:, 1] - logits[:, 0]).double().clamp_(-CLIP, CLIP).numpy())
        return np.concatenate(out)
