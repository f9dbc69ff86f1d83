"""POST /api/vote?mode=number: whole numbers through the API, on the reading path of
`vote.py --number` (ensemble.numbers.NumberMode in ensemble.reading.Reader), with the shipped weights.

Numbers are rendered by generators.numbers from the bundled MNIST digits (examples/digits).
"""
import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from ensemble import Ensemble
from ensemble.numbers import NumberMode
from ensemble.outputs import render
from ensemble.reading import Item, Reader
from generators.numbers import NumberStyle, render_number
from web import create_app
from web.models import NumberRow, VoteResponse

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ens():
    return Ensemble(ROOT / "checkpoints", device="cpu")


@pytest.fixture(scope="module")
def client(ens):
    with TestClient(create_app(ens)) as c:
        yield c


def number_png(text: str, seed: int = 5) -> bytes:
    """A scan-like picture of `text` written with bundled MNIST digits, as PNG bytes."""
    digits = np.stack([np.asarray(Image.open(sorted((ROOT / "examples" / "digits" / c).glob("mnist_*.png"))[i % 4]))
                       for i, c in enumerate(text)])
    img, _ = render_number(digits, seed=seed, style=NumberStyle(look="scan"))
    buf = io.BytesIO()
    Image.fromarray(img).convert("L").save(buf, "PNG")
    return buf.getvalue()


def test_number_mode_reads_the_number_like_vote_py(client, ens):
    blobs = {"n.png": number_png("2026"), "m.png": number_png("381"), "junk.png": b"not an image"}
    r = client.post("/api/vote?mode=number", files=[("files", (n, b, "image/png")) for n, b in blobs.items()])
    assert r.status_code == 200, r.text
    doc = r.json()
    VoteResponse.model_validate(doc)
    assert doc["mode"] == "number"
    rows = doc["images"]
    assert [row["text"] for row in rows] == ["2026", "381", None]
    assert rows[2]["status"].startswith("not an image")
    for row in rows[:2]:
        NumberRow.model_validate(row)
        assert row["agreement"] == min(d["agreement"] for d in row["digits"])
        x0s = [d["box"][0] for d in row["digits"]]
        assert x0s == sorted(x0s)                                    # boxes left to right
        assert all(d["box"][2] > d["box"][0] and d["box"][3] > d["box"][1] for d in row["digits"])
    # exactly the rows of `vote.py --number --format json` (the same Reader and NumberMode)
    reader = Reader(ens, mode=NumberMode(class_names=ens.class_names))
    cli = json.loads(render("json", reader.read([Item(n, data=b) for n, b in blobs.items()]),
                            ens.class_names, ens.member_names, numbers=True))
    assert rows == cli["images"]


def test_number_mode_adds_each_digits_image_and_probs_on_request(client, ens):
    r = client.post("/api/vote?mode=number&image=true&probs=true", content=number_png("47"),
                    headers={"Content-Type": "image/png"})
    row = r.json()["images"][0]
    assert r.status_code == 200 and row["text"] == "47"
    for d in row["digits"]:
        img = np.asarray(Image.open(io.BytesIO(base64.b64decode(d["image_png"]))))
        assert img.shape == (28, 28) and img.max() > 128
        assert set(d["member_probs"]) == set(ens.member_names)
        means = np.mean([p for p in d["member_probs"].values()], axis=0)
        assert int(np.argmax(means)) == d["prediction"]


def test_a_single_digit_in_number_mode_is_a_one_digit_number(client):
    r = client.post("/api/vote?mode=number&image=true", content=number_png("7"), headers={"Content-Type": "image/png"})
    row = r.json()["images"][0]
    assert row["text"] == "7" and len(row["digits"]) == 1 and row["digits"][0]["image_png"]


def test_bad_mode_is_a_clear_422(client):
    r = client.post("/api/vote?mode=numbers", content=number_png("12"), headers={"Content-Type": "image/png"})
    assert r.status_code == 422
    assert "mode" in r.json()["detail"] and "'digit' or 'number'" in r.json()["detail"]


def test_digit_mode_is_the_default_and_unchanged(client):
    r = client.post("/api/vote", content=number_png("7"), headers={"Content-Type": "image/png"})
    doc = r.json()
    assert doc["mode"] == "digit" and doc["images"][0]["class_name"] == "7" and "text" not in doc["images"][0]


def test_docs_document_the_mode(client):
    spec = client.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/api/vote"]["post"]["parameters"]}
    schema = json.dumps(params["mode"]["schema"]) + json.dumps(spec["components"]["schemas"].get("ReadMode", {}))
    assert "number" in schema and "digit" in schema
    assert "NumberRow" in spec["components"]["schemas"] and "NumberDigit" in spec["components"]["schemas"]


def test_a_pair_read_by_the_pair_reader_keeps_each_digits_image_and_probs(client, ens):
    """Two overlapping digits that the pair reader reads together: the API says which digits came from the
    pair and gives every digit its image and probabilities (the pair's two digits share the pair's crop).
    A pair once kept one image for its two digits, and this request then failed with HTTP 500."""
    from generators import load_mnist
    x, _ = load_mnist("train", verbose=False)
    digits = x[-5000:].numpy()[[3184, 2555, 4251]]              # validation digits 4, 7, 6
    img, _ = render_number(digits, seed=0, style=NumberStyle(look="scan", touch=True, overlap=(0.5, 1.5)))
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    r = client.post("/api/vote?mode=number&image=true&probs=true", content=buf.getvalue(),
                    headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    row = r.json()["images"][0]
    NumberRow.model_validate(row)
    assert row["text"] == "476" and [d["pair"] for d in row["digits"]] == [False, True, True]
    pngs = [d["image_png"] for d in row["digits"]]
    assert all(pngs) and pngs[1] == pngs[2] != pngs[0]
    assert all(set(d["member_probs"]) == set(ens.member_names) for d in row["digits"])
    assert row["digits"][1]["box"][2] == row["digits"][2]["box"][0]          # the pair's box, split in two
