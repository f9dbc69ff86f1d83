"""vote.py end to end (subprocess) with tiny stand-in weight files (tests/standins.py).

Two kinds of stand-ins: 'oracles' that ignore the image (a, b say 3; c says 7: prediction 3,
agreement 2 everywhere) and 'ink members' whose answer depends on the image (the amount of
ink), so a row written to the wrong image is caught.
"""
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from ensemble import create_member
from ensemble.export import WeightFileError, read_metadata, save_member
from ensemble.inference import Ensemble
from standins import CLASSES, INPUT, ORACLES, ink_digits, save_ink_members, save_oracles

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_oracles(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def ink_weights(tmp_path_factory):
    return save_ink_members(tmp_path_factory.mktemp("ink"))


def digit(size=28, ink=255, paper=0):
    img = Image.new("L", (size, size), paper)
    s = size / 28
    ImageDraw.Draw(img).line([(10 * s, 5 * s), (18 * s, 5 * s), (12 * s, 23 * s)], fill=ink, width=max(2, int(3 * s)))
    return img


def vote(*args, env=None):
    # float32 whatever this machine's CPU can do (a test's own --precision, given later, wins)
    return subprocess.run([sys.executable, str(ROOT / "vote.py"), "--precision", "fp32", *map(str, args)],
                          capture_output=True,
                          text=True, cwd=ROOT, timeout=300, env={**os.environ, **(env or {})})


def no_traceback(r):
    assert "Traceback" not in r.stderr, r.stderr


def csv_rows(text):
    return list(csv.DictReader(io.StringIO(text)))


# ---- every row belongs to its image ---------------------------------------------------------
@pytest.fixture(scope="module")
def ink_folder(tmp_path_factory):
    """13 MNIST-style images whose expected class is known: names say the class."""
    root = tmp_path_factory.mktemp("inkimgs")
    digits = ink_digits()
    order = [3, 9, 0, 5, 1, 8, 2, 7, 4, 6, 9, 0, 5]      # not sorted: rows must follow the files
    for i, k in enumerate(order):
        Image.fromarray(digits[k]).save(root / f"img{i:02d}_class{k}.png")
    return root


@pytest.mark.parametrize("opts", [["--workers", 0], ["--workers", 2], ["--workers", 2, "--batch-size", 3],
                                  ["--workers", 0, "--batch-size", 3]], ids=str)
def test_every_row_gets_its_own_images_vote(ink_weights, ink_folder, opts):
    r = vote(ink_folder, "--checkpoints", ink_weights, "--format", "csv", *opts)
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    rows = csv_rows(r.stdout)
    assert len(rows) == 13
    for row in rows:
        k = int(Path(row["path"]).stem.split("class")[1])
        assert (row["prediction"], row["agreement"]) == (str(k), "2"), row
        assert (row["a"], row["b"], row["c"]) == (str(k), str(k), str((k + 1) % 10)), row


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
    rows = {Path(row["path"]).name: row for row in csv_rows(r.stdout)}
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
    from ensemble.reading import Item, prepare
    img, status = prepare(Item(str(tmp_path / "gone.png")))
    assert "not found" in status and img.shape == (28, 28) and not img.any()


def test_missing_path_next_to_good_ones_is_a_row_and_exit_2(weights, tmp_path):
    digit().save(tmp_path / "good.png")
    r = vote(tmp_path / "good.png", tmp_path / "missing.png", "--checkpoints", weights, "--format", "csv")
    no_traceback(r)
    assert r.returncode == 2, r.stderr
    rows = {Path(row["path"]).name: row for row in csv_rows(r.stdout)}
    assert rows["good.png"]["status"] == "ok"
    assert rows["missing.png"]["status"] == "no such file" and rows["missing.png"]["prediction"] == ""
    assert "missing.png: no such file" in r.stderr


# ---- usage errors ---------------------------------------------------------------------------
def test_usage_errors_exit_1_with_one_line(weights, tmp_path):
    (tmp_path / "empty_dir").mkdir()
    digit().save(tmp_path / "d.png")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.safetensors").write_bytes(b"garbage")
    cases = [([tmp_path / "nope.png", "--weights", weights], "no such file"),
             ([tmp_path / "nope.png", tmp_path / "nope2.png", "--weights", weights], "no such file"),
             ([tmp_path / "empty_dir", "--weights", weights], "no images found"),
             ([tmp_path / "d.png", "--weights", tmp_path / "empty_dir"], "no *.safetensors"),
             ([tmp_path / "d.png", "--checkpoints", tmp_path / "broken"], "x.safetensors"),
             ([tmp_path / "d.png", "--checkpoints", weights, "--min-agreement", 4], "more than the 3 members"),
             ([tmp_path / "d.png", "--checkpoints", weights, "--device", "cpu:5"], "--device"),
             ([tmp_path / "d.png", "--checkpoints", weights, "--batch-size", 0], "--batch-size")]
    for args, message in cases:
        r = vote(*args)
        no_traceback(r)
        assert r.returncode == 1 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    assert "safetensors" not in vote(tmp_path / "d.png", "--checkpoints", weights, "--device", "cpu:5").stderr


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
    assert doc["members"] == ["a", "b", "c"]
    assert [row["review"] for row in doc["images"]] == ["yes"] * 5
    assert [row["label"] for row in doc["images"]] == [3, 3, 3, 7, 7]
    assert [row["label_name"] for row in doc["images"]] == ["3", "3", "3", "7", "7"]
    row = doc["images"][0]
    assert (row["prediction"], row["class_name"], row["agreement"], row["members_total"]) == (3, "3", 2, 3)
    assert row["members"] == {"a": 3, "b": 3, "c": 7} and row["tie_break"] is False
    assert doc["labelled"]["confusion"][7][3] == 2 and doc["labelled"]["accuracy"] == pytest.approx(0.6)
    for name in ["confusion.png", "misclassified.png"]:
        with Image.open(report / name) as img:
            img.verify()
            assert img.format == "PNG"
    pre = sorted(p.relative_to(seen).as_posix() for p in seen.rglob("*.png"))
    assert pre == ["digits/3/0.png", "digits/3/1.png", "digits/3/2.png", "digits/7/0.png", "digits/7/1.png"]
    assert Image.open(seen / pre[0]).size == (28, 28)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_table_shows_agreement_out_of_members(weights, labelled):
    r = vote(labelled / "3" / "0.png", "--weights", weights, "--format", "table")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:7] == ["path", "prediction", "agreement", "confidence", "status", "review", "label"]
    assert lines[2].split()[1:3] == ["3", "2/3"]
    assert "accuracy" not in r.stdout


def test_report_on_unlabelled_input_creates_nothing(weights, labelled, tmp_path):
    report = tmp_path / "report"
    r = vote(labelled / "3" / "0.png", "--checkpoints", weights, "--report", report, "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert "nothing to report" in r.stderr and not report.exists()


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
    for name, (arch, args, _) in ORACLES.items():
        net = create_member(arch, **args)
        net.train()(torch.rand(16, 1, 28, 28))                       # non-trivial BN statistics
        save_member(tmp_path / f"{name}.safetensors", net.eval(), {
            "member": name, "arch": arch, "arch_args": args, "num_classes": 10,
            "class_names": CLASSES, "input": INPUT})
    x = torch.rand(8, 1, 28, 28)
    fast = Ensemble(tmp_path, device="cpu").predict_proba(x)
    plain = Ensemble(tmp_path, device="cpu", optimize=False).predict_proba(x)
    assert torch.allclose(fast, plain, atol=1e-5)


def test_bf16_precision_votes_like_fp32_on_the_shipped_weights():
    """bfloat16 members (autocast) really run in bf16 (the probabilities move) and vote as float32 does
    on the bundled MNIST digits."""
    x = torch.from_numpy(np.stack([np.asarray(Image.open(p)) for p in
                                   sorted((ROOT / "examples" / "digits").glob("*/mnist_*.png"))]))   # (N, 28, 28)
    fp32 = Ensemble(ROOT / "checkpoints", device="cpu", precision="fp32")
    bf16 = Ensemble(ROOT / "checkpoints", device="cpu", precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    p32, p16 = fp32.predict_proba(x), bf16.predict_proba(x)
    assert p16.dtype == torch.float32 and p16.shape == p32.shape
    assert 0 < float((p32 - p16).abs().max()) < 0.05
    assert torch.equal(fp32.predict(x).prediction, bf16.predict(x).prediction)


def test_auto_precision_is_bf16_only_where_the_cpu_has_it(tmp_path, monkeypatch):
    import ensemble.inference as inf
    with_bf16, without = tmp_path / "bf16", tmp_path / "plain"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    cpu = torch.device("cpu")
    assert inf.native_bf16(cpu, with_bf16) and not inf.native_bf16(cpu, without)
    assert not inf.native_bf16(cpu, tmp_path / "missing")
    assert not inf.native_bf16(torch.device("cuda"), with_bf16)          # a GPU keeps float32
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert not inf.native_bf16(cpu, with_bf16)                           # oneDNN has no bf16 here
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert not inf.native_bf16(cpu, with_bf16)                           # a torch built without oneDNN
    save_oracles(tmp_path / "w")
    for native, want in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(inf, "native_bf16", lambda device, native=native: native)
        assert Ensemble(tmp_path / "w", device="cpu", precision="auto").precision == want
    assert Ensemble(tmp_path / "w", device="cpu").precision == "fp32"      # the library's default
    with pytest.raises(ValueError, match="precision must be one of"):
        Ensemble(tmp_path / "w", device="cpu", precision="fp16")
    monkeypatch.setattr(inf, "resolve_device", lambda device: torch.device("mps"))
    with pytest.raises(ValueError, match="bf16 runs on a CPU or a CUDA GPU, not on mps"):
        Ensemble(tmp_path / "w", precision="bf16")


def test_vote_and_serve_load_the_precision_asked(weights):
    """vote.py and serve.py (which loads through vote.load_ensemble) build the Ensemble with the
    --precision given; both default to auto."""
    import argparse
    import serve
    import vote as vote_py
    for precision in ("fp32", "bf16"):
        ens = vote_py.load_ensemble(argparse.Namespace(device="cpu", checkpoints=weights, precision=precision,
                                                       min_agreement=None))
        assert ens.precision == precision
    assert vote_py.parse_args(["x.png"]).precision == "auto"
    assert serve.parse_args([]).precision == "auto"
    from ensemble.inference import PRECISIONS
    assert set(vote_py.PRECISIONS) == set(PRECISIONS)


def test_cli_precision_choices(weights, tmp_path):
    img = tmp_path / "d.png"
    digit().save(img)
    r = vote(img, "--weights", weights, "--device", "cpu", "--precision", "fp32")
    assert r.returncode == 0, r.stderr
    r = vote(img, "--weights", weights, "--precision", "half")
    assert r.returncode == 1 and "--precision" in r.stderr and "Traceback" not in r.stderr


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
