"""train_all.py end to end, shrunk to a few batches on CPU: checkpoints, export, TensorBoard, resume, DDP."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train_all
from ensemble.export import load_member, read_metadata

ROOT = Path(__file__).resolve().parent.parent
PER_CLASS = 24


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
    """A labelled folder (ImageFolder layout) of rendered digits 0-9, light on dark, 28x28."""
    root = tmp_path_factory.mktemp("digits")
    rng = np.random.default_rng(0)
    font = ImageFont.load_default(size=20)
    for c in range(10):
        (root / str(c)).mkdir()
        for i in range(PER_CLASS):
            img = Image.new("L", (28, 28), 0)
            ImageDraw.Draw(img).text((7 + rng.integers(-2, 3), 2 + rng.integers(-2, 3)), str(c), fill=255, font=font)
            img.save(root / str(c) / f"{i}.png")
    return root


def train(tmp, folder, *extra):
    args = ["--data", str(folder), "--members", "c5_pool", "--checkpoints", str(tmp / "ck"),
            "--logdir", str(tmp / "runs"), "--batch-size", "16", "--val-size", "48", "--epochs", "1",
            "--no-progress", "--accelerator", "cpu", "--devices", "1", *extra]
    train_all.main(args)


def tags(event_dir):
    acc = EventAccumulator(str(event_dir), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def test_train_one_member_exports_checkpoints_and_tensorboard(tmp_path, digit_folder):
    train(tmp_path, digit_folder, "--no-report")
    ck = tmp_path / "ck"
    assert (ck / "lightning" / "c5_pool" / "last.ckpt").is_file()
    net, meta = load_member(ck / "c5_pool.safetensors")
    assert meta["member"] == "c5_pool" and meta["arch"] == "convpool"
    assert meta["class_names"] == [str(i) for i in range(10)] and meta["num_classes"] == 10
    assert meta["distortion"]["elastic_alpha"] > 0 and meta["train"]["batch_size"] == 16
    assert meta["metrics"]["steps"] == (10 * PER_CLASS - 48) // 16
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    versions = list((tmp_path / "runs" / "c5_pool").glob("version_*"))
    assert len(versions) == 1
    acc = tags(versions[0])
    scalars, images = set(acc.Tags()["scalars"]), set(acc.Tags()["images"])
    for t in ["train/loss", "train/acc", "train/lr", "val/loss", "val/acc", "val/error"]:
        assert t in scalars, (t, scalars)
    assert {"images/distorted", "images/val_confusion"} <= images
    # Existing weights are never silently overwritten.
    with pytest.raises(SystemExit, match="already exists"):
        train(tmp_path, digit_folder, "--no-report")


def test_aux_losses_are_logged(tmp_path, digit_folder):
    train_all.main(["--data", str(digit_folder), "--members", "msn_deep", "--checkpoints", str(tmp_path / "ck"),
                    "--logdir", str(tmp_path / "runs"), "--batch-size", "32", "--val-size", "48",
                    "--max-steps", "3", "--no-progress", "--accelerator", "cpu", "--devices", "1", "--no-report"])
    acc = tags(next((tmp_path / "runs" / "msn_deep").glob("version_*")))
    aux = [t for t in acc.Tags()["scalars"] if "aux" in t]
    assert {"train/aux0_loss", "train/aux1_loss"} <= set(aux)
    # The exported file is inference-only: no auxiliary heads inside.
    from safetensors import safe_open
    with safe_open(str(tmp_path / "ck" / "msn_deep.safetensors"), "pt") as f:
        assert not [k for k in f.keys() if "aux" in k]


def test_resume_continues_from_last_step(tmp_path, digit_folder, monkeypatch):
    import pytorch_lightning as pl

    class Crash(pl.Callback):  # an interruption in epoch 2, after the step-12 checkpoint
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 18:
                raise RuntimeError("simulated crash")

    init = pl.Trainer.__init__
    monkeypatch.setattr(pl.Trainer, "__init__", lambda self, *a, callbacks=(), **k: init(
        self, *a, callbacks=[*callbacks, Crash()], **k))
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(tmp_path, digit_folder, "--no-report", "--epochs", "2")
    monkeypatch.undo()
    before = set((tmp_path / "runs").rglob("events.out.tfevents.*"))
    assert torch.load(tmp_path / "ck" / "lightning" / "c5_pool" / "last.ckpt", weights_only=False)["global_step"] == 12
    train(tmp_path, digit_folder, "--no-report", "--resume", "--epochs", "2")
    meta = read_metadata(tmp_path / "ck" / "c5_pool.safetensors")
    assert meta["metrics"]["steps"] == 24 and meta["metrics"]["epochs"] == 2
    # The resumed run logged into the same TensorBoard run, starting after the saved step.
    versions = list((tmp_path / "runs" / "c5_pool").glob("version_*"))
    assert len(versions) == 1
    steps = []
    for ev in set(versions[0].glob("events.out.tfevents.*")) - before:
        acc = EventAccumulator(str(ev))
        acc.Reload()
        if "train/loss" in acc.Tags()["scalars"]:
            steps += [e.step for e in acc.Scalars("train/loss")]
    assert steps and min(steps) >= 12 and max(steps) >= 20


def test_report_written(tmp_path, digit_folder):
    train(tmp_path, digit_folder)
    import json
    rep = json.loads((tmp_path / "ck" / "report.json").read_text())
    assert set(rep["members"]) == {"c5_pool"}
    assert rep["ensemble"]["val_n"] == 48 and 0 <= rep["ensemble"]["val_errors"] <= 48
    assert rep["interim"] is True and "command" in rep and rep["hardware"]["cpu_count"] >= 1
    md = (tmp_path / "ck" / "report.md").read_text()
    assert "majority vote" in md and "c5_pool" in md
    acc = tags(tmp_path / "runs" / "ensemble")
    assert {"val_acc/c5_pool", "val_acc/vote"} <= set(acc.Tags()["scalars"])


def test_ddp_two_processes_on_cpu(tmp_path, digit_folder):
    """Lightning's own DDP launcher (gloo on CPU), two processes, a few steps."""
    cmd = [sys.executable, str(ROOT / "train_all.py"), "--data", str(digit_folder), "--members", "c5_pool",
           "--checkpoints", str(tmp_path / "ck"), "--logdir", str(tmp_path / "runs"), "--batch-size", "16",
           "--val-size", "48", "--max-steps", "3", "--no-progress", "--accelerator", "cpu",
           "--devices", "2", "--strategy", "ddp"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert "distributed_backend=gloo" in r.stderr or "gloo" in r.stdout + r.stderr
    meta = read_metadata(tmp_path / "ck" / "c5_pool.safetensors")
    assert meta["metrics"]["steps"] == 3
    assert (tmp_path / "ck" / "report.json").is_file()


def test_parallel_processes_then_one_report(tmp_path, digit_folder):
    """--parallel N: members split over N child processes, then one ensemble report."""
    train_all.main(["--data", str(digit_folder), "--members", "c5_pool,nopool_k5", "--parallel", "2",
                    "--checkpoints", str(tmp_path / "ck"), "--logdir", str(tmp_path / "runs"),
                    "--batch-size", "32", "--val-size", "48", "--max-steps", "2", "--accelerator", "cpu"])
    import json
    rep = json.loads((tmp_path / "ck" / "report.json").read_text())
    assert set(rep["members"]) == {"c5_pool", "nopool_k5"}
    logs = sorted(p.name for p in (tmp_path / "runs").glob("train-*.log"))
    assert logs == ["train-c5_pool.log", "train-nopool_k5.log"]
