"""vote.py end to end (subprocess, tiny 'oracle' weight files) and Ensemble loading errors.

The oracle members ignore the image: 'a' and 'b' always say 3, 'c' always says 7, so the
ensemble predicts 3 with agreement 2 everywhere and we know every expected number.
"""
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from ensemble import create_member
from ensemble.export import WeightFileError, read_metadata, save_member
from ensemble.inference import Ensemble

ROOT = Path(__file__).resolve().parent.parent
CLASSES = [str(i) for i in range(10)]
INPUT = {"size": 28, "channels": 1, "range": [0, 1], "polarity": "light-on-dark"}
MEMBERS = {"a": ("convpool", {"channels": [4, 8], "hidden": 16}, 3),
           "b": ("nopool", {"channels": [4, 4, 4]}, 3),
           "c": ("msn", {"channels": [4, 8], "convs_per_stage": 1, "aux_after": [0], "aux_width": 8}, 7)}


def oracle(arch, args, cls):
    """A member whose logits are 10 for `cls`, 0 elsewhere, whatever the input."""
    net = create_member(arch, **args).eval()
    last = net.head[-1]                                   # Linear, or BatchNorm1d for nopool
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        last.bias[cls] = 10.0
    return net


def save_oracles(folder, **override):
    for name, (arch, args, cls) in MEMBERS.items():
        meta = {"member": name, "arch": arch, "arch_args": args, "num_classes": 10,
                "class_names": CLASSES, "input": INPUT}
        save_member(folder / f"{name}.safetensors", oracle(arch, args, cls), {**meta, **override.get(name, {})})
    return folder


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_oracles(tmp_path_factory.mktemp("weights"))


def digit(size=28, ink=255, paper=0):
    img = Image.new("L", (size, size), paper)
    s = size / 28
    ImageDraw.Draw(img).line([(10 * s, 5 * s), (18 * s, 5 * s), (12 * s, 23 * s)], fill=ink, width=max(2, int(3 * s)))
    return img


def vote(*args, env=None):
    return subprocess.run([sys.executable, str(ROOT / "vote.py"), *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120, env={**os.environ, **(env or {})})


def no_traceback(r):
    assert "Traceback" not in r.stderr, r.stderr


# ---- the run goes on past bad files ---------------------------------------------------------
def test_bad_files_get_rows_and_exit_2(weights, tmp_path):
    d = tmp_path / "mixed"
    (d / "sub").mkdir(parents=True)
    digit().save(d / "good.png")
    digit().convert("RGB").save(d / "sub" / "GOOD2.PNG")
    digit(200, ink=20, paper=230).save(d / "photo.JPG", quality=80)
    (d / "empty.png").write_bytes(b"")
    (d / "text.png").write_text("hello, I am not a picture")
    buf = io.BytesIO()
    digit(200).save(buf, "PNG")
    (d / "truncated.png").write_bytes(buf.getvalue()[:300])
    Image.new("L", (1200, 1200)).save(d / "bomb.png")             # 1.44 Mpx > 2x the limit below
    Image.new("L", (800, 800)).save(d / "bomb_warning.png")       # between the limit and twice it
    Image.new("L", (40, 40), 128).save(d / "blank.bmp")
    (d / "notes.txt").write_text("ignored")

    r = vote(d, "--weights", weights, "--format", "csv", "--workers", 2, "--batch-size", 4,
             env={"VOTE_MAX_IMAGE_PIXELS": "500000"})
    no_traceback(r)
    assert r.returncode == 2, r.stderr
    rows = {Path(row["path"]).name: row for row in csv.DictReader(io.StringIO(r.stdout))}
    assert set(rows) == {"good.png", "GOOD2.PNG", "photo.JPG", "empty.png", "text.png", "truncated.png",
                         "bomb.png", "bomb_warning.png", "blank.bmp"}
    for name in ["good.png", "GOOD2.PNG", "photo.JPG"]:
        row = rows[name]
        assert (row["status"], row["prediction"], row["agreement"]) == ("ok", "3", "2")
        assert float(row["confidence"]) == pytest.approx(2 / 3, abs=1e-3)
        assert (row["a"], row["b"], row["c"]) == ("3", "3", "7")
    expected = {"empty.png": "empty file", "text.png": "not an image", "truncated.png": "truncated",
                "bomb.png": "decompression bomb", "bomb_warning.png": "decompression bomb",
                "blank.bmp": "no digit found"}
    for name, reason in expected.items():
        assert reason in rows[name]["status"] and rows[name]["prediction"] == ""
        assert sum(name in line and reason in line for line in r.stderr.splitlines()) == 1, r.stderr


def test_vanished_file_is_a_row_not_a_crash(tmp_path):
    sys.path.insert(0, str(ROOT))
    from vote import ImageChunks
    part = ImageChunks([str(tmp_path / "gone.png")], 1, None)[0]
    assert "not found" in part["status"][0] and part["images"].shape == (1, 28, 28) and part["vote"] is None


# ---- usage errors ---------------------------------------------------------------------------
def test_usage_errors_exit_1_with_one_line(weights, tmp_path):
    (tmp_path / "empty_dir").mkdir()
    digit().save(tmp_path / "d.png")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.safetensors").write_bytes(b"garbage")
    cases = [([tmp_path / "nope.png", "--weights", weights], "no such file"),
             ([tmp_path / "empty_dir", "--weights", weights], "no images found"),
             ([tmp_path / "d.png", "--weights", tmp_path / "empty_dir"], "no *.safetensors"),
             ([tmp_path / "d.png", "--weights", tmp_path / "broken"], "x.safetensors")]
    for args, message in cases:
        r = vote(*args)
        no_traceback(r)
        assert r.returncode == 1 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


# ---- labelled folders, outputs ---------------------------------------------------------------
@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    root = tmp_path_factory.mktemp("labelled") / "digits"
    for cls, n in [("3", 3), ("7", 2)]:
        (root / cls).mkdir(parents=True)
        for k in range(n):
            digit(28 + 10 * k).save(root / cls / f"{k}.png")
    return root


def test_labelled_folder_report_and_outputs(weights, labelled, tmp_path):
    out, report, seen = tmp_path / "votes.json", tmp_path / "report", tmp_path / "seen"
    r = vote(labelled, "--weights", weights, "--output", out, "--report", report,
             "--save-preprocessed", seen, "--min-agreement", 3, "--workers", 0)
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert "ensemble accuracy: 60.00% (3/5)" in r.stdout
    assert "member accuracy:   a 60.00%, b 60.00%, c 40.00%" in r.stdout
    doc = json.loads(out.read_text())
    assert [row["review"] for row in doc["images"]] == ["yes"] * 5
    assert [row["label"] for row in doc["images"]] == ["3", "3", "3", "7", "7"]
    assert doc["labelled"]["confusion"][7][3] == 2 and doc["labelled"]["accuracy"] == pytest.approx(0.6)
    for name in ["confusion.png", "misclassified.png"]:
        with Image.open(report / name) as img:
            img.verify()
            assert img.format == "PNG"
    pre = sorted(seen.rglob("*.png"))
    assert len(pre) == 5 and Image.open(pre[0]).size == (28, 28)
    assert not list(tmp_path.glob("*.tmp"))                       # the atomic write left nothing behind


def test_table_format_and_unlabelled_file(weights, labelled):
    r = vote(labelled / "3" / "0.png", "--weights", weights, "--format", "table")
    assert r.returncode == 0, r.stderr
    header = r.stdout.splitlines()[0].split()
    assert header[:7] == ["path", "prediction", "agreement", "confidence", "status", "review", "label"]
    assert "accuracy" not in r.stdout


# ---- loading the ensemble -------------------------------------------------------------------
def test_ensemble_loads_and_votes(weights):
    ens = Ensemble(weights, device="cpu")
    assert ens.member_names == ["a", "b", "c"] and ens.class_names == CLASSES
    x = torch.rand(4, 1, 28, 28)
    assert ens.predict_proba(x).shape == (3, 4, 10)
    assert ens.predict(x).prediction.tolist() == [3] * 4
    assert ens.predict(torch.zeros(4, 28, 28, dtype=torch.uint8)).agreement.tolist() == [2] * 4
    with pytest.raises(ValueError, match="shape"):
        ens.predict(torch.rand(4, 3, 28, 28))
    with pytest.raises(ValueError, match="divide by 255"):
        ens.predict(torch.rand(4, 28, 28) * 255)


def test_optimized_members_match_plain(tmp_path):
    torch.manual_seed(0)
    for name, (arch, args, _) in MEMBERS.items():
        net = create_member(arch, **args)
        net.train()(torch.rand(16, 1, 28, 28))                       # non-trivial BN statistics
        save_member(tmp_path / f"{name}.safetensors", net.eval(), {
            "member": name, "arch": arch, "arch_args": args, "num_classes": 10,
            "class_names": CLASSES, "input": INPUT})
    x = torch.rand(8, 1, 28, 28)
    fast = Ensemble(tmp_path, device="cpu").predict_proba(x)
    plain = Ensemble(tmp_path, device="cpu", optimize=False).predict_proba(x)
    assert torch.allclose(fast, plain, atol=1e-5)


def test_weight_file_errors_name_the_file(tmp_path):
    with pytest.raises(WeightFileError, match="no such weights folder"):
        Ensemble(tmp_path / "missing")
    with pytest.raises(WeightFileError, match="no \\*.safetensors"):
        Ensemble(tmp_path)
    save_oracles(tmp_path / "ok")
    (tmp_path / "ok" / "zz_corrupt.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(WeightFileError, match="zz_corrupt.safetensors"):
        Ensemble(tmp_path / "ok")
    save_oracles(tmp_path / "classes", c={"class_names": list("abcdefghij")})
    with pytest.raises(WeightFileError, match="c.safetensors.*class_names"):
        Ensemble(tmp_path / "classes")
    save_oracles(tmp_path / "input", b={"input": {**INPUT, "polarity": "dark-on-light"}})
    with pytest.raises(WeightFileError, match="b.safetensors.*input"):
        Ensemble(tmp_path / "input")
    assert read_metadata(tmp_path / "input" / "a.safetensors")["member"] == "a"
    with pytest.raises(ValueError, match="device"):
        Ensemble(tmp_path / "input", device="tpu")


def test_evaluate_counts_member_and_ensemble_errors(weights):
    from ensemble.evaluate import evaluate, format_table
    images = torch.zeros(5, 28, 28, dtype=torch.uint8)
    result = evaluate(weights, images, torch.tensor([3, 3, 7, 7, 1]))
    assert result["n"] == 5
    assert result["members"]["a"] == {"errors": 3, "error": 0.6}
    assert result["members"]["c"] == {"errors": 3, "error": 0.6}
    assert result["ensemble"] == {"errors": 3, "error": 0.6}
    assert "ensemble (vote)" in format_table(result)
    with pytest.raises(ValueError, match="one label per image"):
        evaluate(weights, images, torch.tensor([1, 2]))
