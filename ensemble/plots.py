"""Pictures people would rather look at than read: confusion matrices (PIL only, no matplotlib)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def confusion_matrix(pred, target, num_classes: int) -> np.ndarray:
    """(C, C) counts, rows = true class, columns = predicted class."""
    pred, target = np.asarray(pred).ravel(), np.asarray(target).ravel()
    return np.bincount(target * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def confusion_matrix_image(cm: np.ndarray, class_names=None, title: str = "") -> Image.Image:
    """Render a confusion matrix: cells shaded by row-normalized count, off-diagonal errors in red."""
    cm = np.asarray(cm)
    C = cm.shape[0]
    names = [str(c) for c in (class_names or range(C))]
    cell = 34 if C <= 20 else max(12, 680 // C)
    left = top = 8 * max(len(n) for n in names[:C]) + 24
    top += 18 if title else 0
    W, H = left + C * cell + 10, top + C * cell + 30
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    if title:
        d.text((10, 4), title, fill="black", font=font)
    rows = cm.sum(1, keepdims=True).clip(min=1)
    frac = cm / rows
    off = cm - np.diag(np.diag(cm))
    worst = max(int(off.max()), 1)
    for i in range(C):
        for j in range(C):
            x0, y0 = left + j * cell, top + i * cell
            f = float(frac[i, j])
            if i == j:   # correct: white -> blue
                color = (int(255 * (1 - f)), int(255 * (1 - 0.6 * f)), 255)
            else:        # errors: pink -> red relative to the worst confusion, so few still stand out
                g = 0.3 + 0.7 * cm[i, j] / worst if cm[i, j] else 0.0
                color = (255, int(255 * (1 - 0.85 * g)), int(255 * (1 - 0.85 * g)))
            d.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=color, outline=(200, 200, 200))
            if cm[i, j] and cell >= 24:
                ink = "white" if sum(color) < 450 else "black"
                d.text((x0 + 3, y0 + cell // 2 - 5), str(int(cm[i, j])), fill=ink, font=font)
    for k, n in enumerate(names[:C]):
        d.text((8, top + k * cell + cell // 2 - 5), n, fill="black", font=font)
        d.text((left + k * cell + 3, top - 14), n, fill="black", font=font)
    d.text((left, top + C * cell + 8), "rows: true class, columns: predicted", fill=(90, 90, 90), font=font)
    return img
