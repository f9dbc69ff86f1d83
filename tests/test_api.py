"""The HTTP API (web.create_app) with FastAPI's TestClient, on stand-in members with known answers.

The ink members read ink_digits()[k] as k (members a, b) and k + 1 (member c): a row written
to the wrong image, or a reading that differs from vote.py's, shows up.
"""
import base64
import dataclasses
import io
import json
import tempfile

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from ensemble import Ensemble
from ensemble.outputs import render
from ensemble.reading import Reader, find_inputs
from standins import CLASSES, ink_digits, save_ink_members
from web import create_app
from web.models import VoteResponse


def png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def ink(tmp_path_factory):
    return Ensemble(save_ink_members(tmp_path_factory.mktemp("ink")), device="cpu")


@pytest.fixture(scope="module")
def client(ink):
    with TestClient(create_app(ink, max_file_bytes=64 * 1024, max_files=5)) as c:
        yield c


def files(*named):
    return [("files", (name, data, "application/octet-stream")) for name, data in named]


# ---- one reading path ---------------------------------------------------------------------------
def test_rows_are_vote_py_json_rows(client, ink, tmp_path):
    """The API's rows are exactly `vote.py --format json`'s rows for the same images."""
    d = ink_digits()
    names = ["d4.png", "d7.png", "junk.png", "blank.png"]
    blobs = [png(d[4]), png(d[7]), b"not an image at all", png(np.zeros((30, 30), np.uint8))]
    for n, b in zip(names, blobs):
        (tmp_path / n).write_bytes(b)
    found = find_inputs([str(tmp_path / n) for n in names], CLASSES)
    cli = json.loads(render("json", Reader(ink).read(found.items), ink.class_names, ink.member_names))
    r = client.post("/api/vote", files=files(*zip(names, blobs)))
    assert r.status_code == 200
    doc = r.json()
    VoteResponse.model_validate(doc)
    assert doc["members"] == cli["members"] and doc["class_names"] == cli["class_names"]
    for api_row, cli_row, name in zip(doc["images"], cli["images"], names):
        assert api_row["path"] == name
        assert {**api_row, "path": None} == {**cli_row, "path": None}
    assert [row["prediction"] for row in doc["images"]] == [4, 7, None, None]
    assert doc["images"][0]["members"] == {"a": 4, "b": 4, "c": 5} and doc["images"][0]["agreement"] == 2


def test_raw_body_is_one_image(client):
    r = client.post("/api/vote?name=mine.png&min_agreement=3", content=png(ink_digits()[2]),
                    headers={"Content-Type": "image/png"})
    row = r.json()["images"][0]
    assert r.status_code == 200 and row["path"] == "mine.png" and row["prediction"] == 2
    assert row["review"] == "yes"                      # 2 of 3 agree < 3
    assert set(row) == {"path", "status", "prediction", "class_name", "agreement", "members_total", "confidence",
                        "tie_break", "review", "label", "label_name", "members"}     # extras only when asked


def test_probs_and_image_on_request(client, ink):
    d = ink_digits()
    row = client.post("/api/vote?probs=true&image=true", files=files(("x.png", png(d[6])))).json()["images"][0]
    probs = Reader(ink, keep_probs=True).read_gray(d[6]).probs
    assert set(row["member_probs"]) == {"a", "b", "c"}
    assert np.allclose([row["member_probs"][m] for m in "abc"], probs, atol=1e-5)
    seen = np.asarray(Image.open(io.BytesIO(base64.b64decode(row["image_png"]))))
    assert np.array_equal(seen, d[6])                 # the 28x28 the networks saw


def test_many_files_keep_their_order(client):
    d = ink_digits()
    order = [3, 9, 0, 5, 1]
    rows = client.post("/api/vote", files=files(*[(f"f{i}.png", png(d[k])) for i, k in enumerate(order)])).json()["images"]
    assert [r["path"] for r in rows] == [f"f{i}.png" for i in range(5)]
    assert [r["prediction"] for r in rows] == order


# ---- bad input ----------------------------------------------------------------------------------
def test_broken_images_give_rows_with_reasons(client):
    good = png(ink_digits()[3])
    rows = client.post("/api/vote", files=files(("empty.png", b""), ("text.png", b"hello"), ("cut.png", good[:60]),
                                                ("ünïcödé 数字 ✓.png", good))).json()["images"]
    assert [r["status"] for r in rows[:3]] == ["empty file", "not an image (unrecognised format)",
                                               rows[2]["status"]]
    assert "truncated" in rows[2]["status"]
    assert rows[3]["path"] == "ünïcödé 数字 ✓.png" and rows[3]["prediction"] == 3
    assert all(r["prediction"] is None and r["members"] is None for r in rows[:3])


def test_decompression_bomb_is_refused_as_in_vote_py(ink):
    with TestClient(create_app(ink, max_pixels=200_000)) as c:
        bomb = png(np.zeros((1000, 1000), np.uint8))                    # 1 Mpx > 2 x the limit
        row = c.post("/api/vote", files=files(("bomb.png", bomb))).json()["images"][0]
        assert "decompression bomb" in row["status"]
        assert c.get("/api/health").status_code == 200


def test_client_paths_are_never_opened(client, tmp_path):
    """A file name is a label: a name that is a real image's path still reads the uploaded bytes."""
    real = tmp_path / "real.png"
    real.write_bytes(png(ink_digits()[8]))
    row = client.post("/api/vote", files=files((str(real), b"junk bytes"))).json()["images"][0]
    assert row["path"] == str(real) and row["status"] == "not an image (unrecognised format)"
    row = client.post(f"/api/vote?name={real}", content=b"junk").json()["images"][0]
    assert row["status"] == "not an image (unrecognised format)"


def test_uploads_never_touch_the_disk(ink, monkeypatch):
    """No temporary files, however large the upload (Starlette's form parser would spool to disk)."""
    def refuse(*a, **k):
        raise AssertionError("an upload was written to a temporary file")
    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    noise = np.random.default_rng(0).integers(0, 255, (1500, 1500), np.uint8)   # ~2 MiB PNG
    big = png(noise)
    assert len(big) > 2**20
    with TestClient(create_app(ink)) as c:
        r = c.post("/api/vote", files=files(("big.png", big), ("d.png", png(ink_digits()[1]))))
        assert r.status_code == 200 and r.json()["images"][1]["prediction"] == 1


# ---- limits: 413 with a JSON error --------------------------------------------------------------
def test_oversize_file_is_413(client):
    r = client.post("/api/vote", files=files(("big.png", b"\0" * (64 * 1024 + 1))))
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    r = client.post("/api/vote", content=b"\0" * (64 * 1024 + 1), headers={"Content-Type": "image/png"})
    assert r.status_code == 413 and "limit" in r.json()["detail"]


def test_too_many_files_is_413(client):
    r = client.post("/api/vote", files=files(*[(f"{i}.png", b"x") for i in range(6)]))
    assert r.status_code == 413 and "more than 5 files" in r.json()["detail"]


def test_chunked_body_over_the_limit_is_413(client):
    """(TestClient hands the app the whole body at once; tests/test_serve.py checks on a live
    server that the body is refused while it streams.)"""
    chunks = (b"\0" * 65536 for _ in range(4))
    r = client.post("/api/vote", content=chunks, headers={"Content-Type": "image/png"})
    assert r.status_code == 413
    r = client.post("/api/distort", content=(b"{" * 65536 for _ in range(300)),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413                       # JSON endpoints: 16 MiB


def test_declared_length_over_the_limit_is_refused_first(client):
    r = client.post("/api/distort", content=b"{}", headers={"Content-Type": "application/json",
                                                           "Content-Length": str(2**31)})
    assert r.status_code == 413


# ---- nothing a client sends gives a 500 ---------------------------------------------------------
JUNK_BODIES = [
    (b"", {}),
    (b"", {"Content-Type": "multipart/form-data"}),                               # no boundary
    (b"--x\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\n\r\nabc",
     {"Content-Type": "multipart/form-data; boundary=x"}),                          # no closing boundary
    (b"--x\r\n" + b"X" * 20000 + b"\r\n\r\n", {"Content-Type": "multipart/form-data; boundary=x"}),   # huge header
    (b"--x--\r\n", {"Content-Type": "multipart/form-data; boundary=x"}),          # no files
    (b"--x\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n" + b"y" * 70000 + b"\r\n--x--\r\n",
     {"Content-Type": "multipart/form-data; boundary=x"}),                          # huge field
    (b"--" + b"b" * 300 + b"\r\n", {"Content-Type": "multipart/form-data; boundary=" + "b" * 300}),
    (b"\x89PNG\r\n\x1a\n" + b"\xff" * 100, {"Content-Type": "image/png"}),
    (b"{\"image\": 1}", {"Content-Type": "application/json"}),
    (b"{\"image\": \"" + b"A" * 5000 + b"\", \"member\": \"a\", \"config\": {\"rotation\": 1e309}}",
     {"Content-Type": "application/json"}),
    (b"[]", {"Content-Type": "application/json"}),
    ("ünïcödé ✓".encode(), {"Content-Type": "text/plain; charset=utf-8"}),
    (b"a=1&b=2", {"Content-Type": "application/x-www-form-urlencoded"}),
    (b"\0" * 1000, {"Content-Type": "application/json", "Content-Length": "abc"}),
]
JSON_JUNK = [
    {}, {"image": ""}, {"image": "!!!"}, {"image": "data:"}, {"image": "data:image/png;base64"}, {"image": "aGVsbG8="}, {"image": base64.b64encode(png(ink_digits()[3])).decode()},
    {"image": base64.b64encode(png(ink_digits()[3])).decode(), "member": "nobody"},
    {"image": base64.b64encode(png(ink_digits()[3])).decode(), "member": "a", "layers": 99},
    {"image": base64.b64encode(png(ink_digits()[3])).decode(), "config": {"rotation": -5}},
    {"image": base64.b64encode(png(ink_digits()[3])).decode(), "config": {"nonsense": 1}},
    {"image": base64.b64encode(png(ink_digits()[3])).decode(), "config": {"elastic_sigma": 0}},
    {"image": base64.b64encode(png(np.zeros((9, 9), np.uint8))).decode(), "member": "a"},
    {"image": base64.b64encode(png(ink_digits()[3])).decode(), "seed": -1, "count": 10**6},
]


@pytest.mark.parametrize("path", ["/api/vote", "/api/distort", "/api/features", "/api/vote?min_agreement=99",
                                  "/api/vote?probs=maybe", "/api/vote?name=" + "n" * 300])
def test_junk_never_gives_a_500(client, path):
    for body, headers in JUNK_BODIES:
        r = client.post(path, content=body, headers=headers)
        assert r.status_code < 500, (path, body[:40], r.status_code, r.text[:200])
        assert r.headers["content-type"].startswith("application/json")
    if path in ("/api/distort", "/api/features"):
        for doc in JSON_JUNK:
            r = client.post(path, json=doc)
            assert r.status_code < 500, (path, doc, r.text[:200])
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        assert client.request(method, path).status_code < 500
    assert client.get("/api/health").json()["status"] == "ok"          # still serving


def test_errors_are_json_with_a_detail(client):
    r = client.post("/api/vote", content=b"--x--\r\n", headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code == 400 and "no file" in r.json()["detail"]
    r = client.post("/api/vote", content=b"", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400 and "boundary" in r.json()["detail"]


# ---- the other endpoints --------------------------------------------------------------------------
def test_members_and_health(client):
    doc = client.get("/api/members").json()
    assert [m["name"] for m in doc["members"]] == ["a", "b", "c"]
    assert doc["members"][0]["arch"] == "msn" and doc["members"][0]["parameters"] > 0
    assert doc["class_names"] == CLASSES and doc["input"]["size"] == 28
    h = client.get("/api/health").json()
    assert h["status"] == "ok" and h["members"] == 3 and h["max_files"] == 5 and h["forward_passes"] >= 0
    assert h["precision"] == doc["precision"] == "fp32"                 # the Ensemble's own default


def test_an_app_that_loads_its_weights_uses_the_precision_asked(tmp_path):
    weights = save_ink_members(tmp_path / "w")
    with TestClient(create_app(weights=weights, device="cpu", precision="bf16")) as c:
        assert c.get("/api/health").json()["precision"] == "bf16"
        assert c.get("/api/members").json()["precision"] == "bf16"


def test_docs_are_served_locally(client):
    html = client.get("/docs").text
    assert "swagger-ui-bundle.js" in html and "cdn" not in html.lower() and "://" not in html.replace("http://www.w3.org", "")
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/api/vote"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/octet-stream"} <= set(body)
    row = spec["components"]["schemas"]["Row"]["properties"]
    assert set(row) >= {"path", "status", "prediction", "agreement", "confidence", "tie_break", "members",
                        "member_probs", "image_png"}


def test_page_is_served_with_a_strict_policy(client):
    r = client.get("/")
    assert r.status_code == 200 and "<canvas" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "http" not in r.text.replace("http-equiv", "")            # no external asset at all
    for asset in ("/static/style.css", "/static/js/main.js", "/static/js/canvas.js", "/static/favicon.svg"):
        assert client.get(asset).status_code == 200


def test_distortion_spec_is_built_from_the_generator(client, ink, monkeypatch):
    from generators import DistortionConfig
    spec = client.get("/api/distortion").json()
    names = [f.name for f in dataclasses.fields(DistortionConfig)]
    assert [f["name"] for f in spec["fields"]] == names
    for f in spec["fields"]:
        assert (f["min"], f["max"]) == tuple(map(float, DistortionConfig._BOUNDS[f["name"]][:2]))
        assert f["min"] <= f["default"] <= f["max"] and f["help"]
    assert set(spec["members"]) == {"a", "b", "c"}

    # a field added to the generator appears by itself
    @dataclasses.dataclass(frozen=True)
    class Wider(DistortionConfig):
        """pen_width: stroke width change in pixels."""
        pen_width: float = 0.0
        _BOUNDS = {**DistortionConfig._BOUNDS, "pen_width": (0.0, 3.0)}

    import generators
    monkeypatch.setattr(generators, "DistortionConfig", Wider)
    field = client.get("/api/distortion").json()["fields"][-1]
    assert field["name"] == "pen_width" and field["max"] == 3.0 and "stroke width" in field["help"]


def test_distort_applies_the_generator(client):
    img = base64.b64encode(png(ink_digits()[5])).decode()
    a = client.post("/api/distort", json={"image": img, "seed": 7, "count": 4}).json()
    b = client.post("/api/distort", json={"image": img, "seed": 7, "count": 4}).json()
    c = client.post("/api/distort", json={"image": img, "seed": 8, "count": 4}).json()
    assert a["samples"] == b["samples"] and a["samples"] != c["samples"]       # seeded
    assert len(a["samples"]) == 4 and a["grid_png"]
    zero = {"elastic_alpha": 0, "rotation": 0, "scale": 0, "shear": 0, "translate": 0}
    same = client.post("/api/distort", json={"image": img, "config": zero, "count": 2}).json()
    for s in same["samples"]:                                                   # identity: the input itself
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(base64.b64decode(s["png"])))), ink_digits()[5])
        assert s["prediction"] == 5 and s["agreement"] == 2
    r = client.post("/api/distort", json={"image": img, "config": {"rotation": 500}})
    assert r.status_code == 422 and "rotation" in r.json()["detail"]


def test_features_endpoint(client):
    img = base64.b64encode(png(ink_digits()[9])).decode()
    doc = client.post("/api/features", json={"image": img, "member": "b", "layers": 2}).json()
    assert doc["member"] == "b" and [layer["name"] for layer in doc["layers"]] == ["conv1", "conv2"]
    assert doc["layers"][0]["channels"] == 1 and doc["layers"][0]["size"] == [28, 28]
    assert doc["layers"][1]["size"] == [14, 14]                                 # after the 2x2 pool
    r = client.post("/api/features", json={"image": img, "member": "zz"})
    assert r.status_code == 422 and "unknown" in r.json()["detail"]
    r = client.post("/api/features", json={"image": base64.b64encode(b"junk").decode(), "member": "a"})
    assert r.status_code == 422 and "not an image" in r.json()["detail"]
