"""train_all.py end to end, shrunk to a few batches on CPU: checkpoints, export, TensorBoard, resume, DDP,
distortion only on training batches, folder normalization, what the report claims."""
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image, ImageDraw, ImageFont
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train_all
from ensemble import module as module_mod
from ensemble.data import load_dataset
from ensemble.export import load_member, read_metadata
from ensemble.normalize import load_and_normalize

ROOT = Path(__file__).resolve().parent.parent
PER_CLASS = 24


def _write_folder(root, seed, draw):
    """PER_CLASS images of each class 0-9 as root/<class>/<i>.png (ImageFolder layout); draw(c, rng) -> image."""
    rng = np.random.default_rng(seed)
    for c in range(10):
        (root / str(c)).mkdir()
        for i in range(PER_CLASS):
            draw(c, rng).save(root / str(c) / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
    """A labelled folder (ImageFolder layout) of rendered digits 0-9, light on dark, 28x28."""
    font = ImageFont.load_default(size=20)

    def draw(c, rng):
        img = Image.new("L", (28, 28), 0)
        ImageDraw.Draw(img).text((7 + rng.integers(-2, 3), 2 + rng.integers(-2, 3)), str(c), fill=255, font=font)
        return img
    return _write_folder(tmp_path_factory.mktemp("digits"), 0, draw)


@pytest.fixture(scope="module")
def dark_folder(tmp_path_factory):
    """Dark digits on light paper, 40x52, rotated and placed off-centre: what a scanner gives."""
    font = ImageFont.load_default(size=30)

    def draw(c, rng):
        img = Image.new("L", (64, 64), 235)
        ImageDraw.Draw(img).text((14 + rng.integers(-6, 7), 8 + rng.integers(-6, 7)), str(c), fill=20, font=font)
        img = img.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BILINEAR, fillcolor=235)
        return img.resize((40, 52), Image.Resampling.LANCZOS)
    return _write_folder(tmp_path_factory.mktemp("scans"), 1, draw)


def train(tmp, folder, *extra):
    args = ["--data", str(folder), "--members", "c5_pool", "--checkpoints", str(tmp / "ck"),
            "--logdir", str(tmp / "runs"), "--batch-size", "16", "--val-size", "48", "--epochs", "1",
            "--no-progress", "--accelerator", "cpu", "--devices", "1", *extra]
    train_all.main(args)


def tags(event_dir):
    acc = EventAccumulator(str(event_dir), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def test_train_one_member_exports_checkpoints_and_tensorboard(tmp_path, digit_folder, capsys):
    train(tmp_path, digit_folder, "--no-report")
    # --no-progress: one line per epoch instead of a bar (what --parallel's logs show)
    line = re.search(r"^\[c5_pool\] epoch 1/1: [\d.]+ s, ([\d.]+) steps/s, last train/loss [\d.]+, val/error ([\d.]+) %$",
                     capsys.readouterr().err, re.M)
    assert line and float(line[1]) > 0
    val_error = read_metadata(tmp_path / "ck" / "c5_pool.safetensors")["metrics"]["val_error"]
    assert abs(float(line[2]) - 100 * val_error) < 0.01      # in %, this epoch's (the last, exported)
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


def test_init_from_fine_tunes_the_weights_and_records_where_it_started(tmp_path, digit_folder):
    import hashlib
    import json
    train(tmp_path / "a", digit_folder, "--no-report")
    start = tmp_path / "a" / "ck" / "c5_pool.safetensors"
    before, _ = load_member(start)
    digest = hashlib.sha256(start.read_bytes()).hexdigest()
    # lr 0: the optimizer moves nothing, so the fine-tune's weights are its start's, exactly
    train(tmp_path / "b", digit_folder, "--init-from", str(tmp_path / "a" / "ck"), "--lr", "0")
    after, meta = load_member(tmp_path / "b" / "ck" / "c5_pool.safetensors")
    for k, v in before.state_dict().items():
        if k.endswith(("weight", "bias")):
            assert torch.equal(after.state_dict()[k], v), k
    src = meta["init_from"]
    assert src["file"] == str(start) and src["sha256"] == digest and src["epochs"] == 1 and src["steps"] > 0
    rep = json.loads((tmp_path / "b" / "ck" / "report.json").read_text())
    assert rep["members"]["c5_pool"]["init_from"]["sha256"] == digest
    md = (tmp_path / "b" / "ck" / "report.md").read_text()
    assert "Fine-tuned (--init-from)" in md and "| 1 + 1 |" in md
    # without --init-from the start is random: the same seed gives other weights than the fine-tune's
    train(tmp_path / "c", digit_folder, "--no-report", "--lr", "0")
    fresh, _ = load_member(tmp_path / "c" / "ck" / "c5_pool.safetensors")
    assert not any(torch.equal(fresh.state_dict()[k], v) for k, v in before.state_dict().items() if k.endswith("weight"))
    # a fine-tune of a chain records the chain
    train(tmp_path / "d", digit_folder, "--no-report", "--init-from", str(tmp_path / "b" / "ck"))
    _, meta = load_member(tmp_path / "d" / "ck" / "c5_pool.safetensors")
    assert meta["init_from"]["init_from"]["sha256"] == digest


def test_init_from_refuses_what_does_not_fit(tmp_path, digit_folder):
    with pytest.raises(SystemExit, match="no c5_pool.safetensors"):
        train(tmp_path / "a", digit_folder, "--no-report", "--init-from", str(tmp_path))
    train(tmp_path / "b", digit_folder, "--no-report", "--members", "nopool_k5")
    other = tmp_path / "b" / "ck"
    (other / "nopool_k5.safetensors").rename(other / "c5_pool.safetensors")   # another architecture
    with pytest.raises(SystemExit, match="differs from the config"):
        train(tmp_path / "c", digit_folder, "--no-report", "--init-from", str(other))


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
    assert len(re.findall(r"^\[c5_pool\] epoch 1/\d+:", r.stderr, re.M)) == 1   # rank 0 only


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


# ------------------------------------------------------------------ distortion: training batches only
def _key(images):
    """uint8 bytes of each image, for set membership: images (B, [1,] H, W) uint8 or float in [0, 1]."""
    if images.is_floating_point():
        images = (images * 255).round().to(torch.uint8)
    return [bytes(im.flatten().tolist()) for im in images.cpu()]


@pytest.fixture(scope="module")
def spied_run(tmp_path_factory, dark_folder):
    """One real train_all run on the scanned folder (2 epochs of 12 batches, validation after each)
    with a spy on the module's `distort`, the net's inputs and the batch boundaries recorded, and
    every warning recorded (as on a machine with many cores, where Lightning has more to say)."""
    from pytorch_lightning.trainer.connectors import data_connector

    tmp = tmp_path_factory.mktemp("spied")
    events = []
    real = module_mod.distort

    def spy(x, *args, **kwargs):
        out = real(x, *args, **kwargs)
        events.append(SimpleNamespace(kind="distort", x=x.detach().clone(), out=out.detach().clone()))
        return out

    class Watch(pl.Callback):
        def on_fit_start(self, trainer, pl_module):
            pl_module.net.register_forward_pre_hook(lambda m, args: events.append(
                SimpleNamespace(kind="forward", training=m.training, x=args[0].detach().clone())))

        def on_train_batch_end(self, *args):
            events.append(SimpleNamespace(kind="train_batch"))

        def on_validation_batch_end(self, *args):
            events.append(SimpleNamespace(kind="val_batch"))

        def on_fit_end(self, *args):
            events.append(SimpleNamespace(kind="fit_end"))

    init = pl.Trainer.__init__
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # train_all installs the documented third-party filters over this
        mp.setattr(module_mod, "distort", spy)
        mp.setattr(pl.Trainer, "__init__", lambda self, *a, callbacks=(), **k: init(
            self, *a, callbacks=[*callbacks, Watch()], **k))
        mp.setattr(data_connector, "suggested_max_num_workers", lambda n: 15)  # a 16-core machine
        train(tmp, dark_folder, "--no-report", "--epochs", "2")
    batches, current = [], []
    for e in events:  # group what happened by the batch it belongs to (a batch ends with *_batch)
        if e.kind == "fit_end":
            break
        if e.kind in ("train_batch", "val_batch"):
            batches.append((e.kind, current))
            current = []
        else:
            current.append(e)
    ds = load_dataset(str(dark_folder))
    return SimpleNamespace(tmp=tmp, batches=batches, data=ds, warnings=caught,
                           train_keys=set(_key(ds.train_x[:-48])), val_keys=set(_key(ds.train_x[-48:])))


def test_distort_runs_on_every_training_batch_and_never_on_validation(spied_run):
    kinds = [k for k, _ in spied_run.batches]
    assert kinds.count("train_batch") == 2 * (10 * PER_CLASS - 48) // 16 and kinds.count("val_batch") == 2
    assert len(spied_run.train_keys) + len(spied_run.val_keys) == 10 * PER_CLASS  # all images distinct
    for kind, evs in spied_run.batches:
        distorts = [e for e in evs if e.kind == "distort"]
        forwards = [e for e in evs if e.kind == "forward"]
        assert len(forwards) == 1
        n_distorts, net_input, net_training = len(distorts), forwards[0].x, forwards[0].training
        if kind == "train_batch":
            assert n_distorts == 1, "every training batch is distorted exactly once"
            d = distorts[0]
            assert net_training and torch.equal(net_input, d.out), "the net trains on the distorted batch"
            assert not torch.equal(d.out, d.x)
            foreign = len(set(_key(d.x)) - spied_run.train_keys)
            assert foreign == 0, "training batches hold training images only"
        else:
            assert n_distorts == 0, "a validation batch was distorted"
            assert not net_training
            foreign = len(set(_key(net_input)) - spied_run.val_keys)
            assert foreign == 0, "validation sees its own images, undistorted"
    val_seen = {k for kind, evs in spied_run.batches if kind == "val_batch" for k in _key(evs[-1].x)}
    missed = len(val_seen ^ spied_run.val_keys)
    assert missed == 0, "validation saw every validation image"


def test_a_training_run_raises_no_warnings(spied_run):
    """Nothing from our design warns; third-party notes are filtered in ensemble/third_party.py only."""
    assert [f"{w.category.__name__}: {w.message}" for w in spied_run.warnings] == []


def test_folder_training_is_normalized_like_vote_and_says_so(spied_run, dark_folder):
    """Dark-on-light 40x52 scans: the members train on exactly what vote.py feeds them."""
    files = sorted(dark_folder.rglob("*.png"))
    seen = set(_key(spied_run.data.train_x))
    assert seen == set(_key(torch.from_numpy(np.stack([load_and_normalize(f) for f in files]))))
    meta = read_metadata(spied_run.tmp / "ck" / "c5_pool.safetensors")
    src = meta["data_source"]
    assert src["kind"] == "image folder" and src["polarity"] == "dark-on-light"
    assert src["polarity_counts"] == {"light-on-dark": 0, "dark-on-light": 10 * PER_CLASS}
    assert "normalize" in src["normalized"]
    assert meta["input"]["polarity"] == "light-on-dark"
    assert meta["input"]["polarity_counts"]["dark-on-light"] == 0
    assert meta["metrics"]["val_held_out"] is True


# ------------------------------------------------------------------ what the report claims
def test_report_describes_the_split_from_the_config(tmp_path, digit_folder):
    train(tmp_path, digit_folder, "--max-steps", "2", "--val-size", "40")
    rep = json.loads((tmp_path / "ck" / "report.json").read_text())
    v = rep["validation"]
    assert v["held_out"] is True and v["n"] == 40 and v["split"] == "val"
    assert "last 40 images" in v["description"] and "held out" in v["description"]
    assert "5,000" not in json.dumps(rep) and rep["test_set"]["evaluated"] is False
    assert not [k for k in rep["ensemble"] if k.startswith("test")]
    md = (tmp_path / "ck" / "report.md").read_text()
    assert "last 40 images" in md and "test error" not in md and "not evaluated" in md


def test_full_train_report_labels_validation_trained_on(tmp_path, digit_folder):
    train(tmp_path, digit_folder, "--max-steps", "2", "--full-train")
    rep = json.loads((tmp_path / "ck" / "report.json").read_text())
    assert rep["validation"]["held_out"] is False and rep["validation"]["split"] == "val_trained_on"
    assert "TRAINED ON" in rep["validation"]["description"]
    for row in [rep["ensemble"], *rep["members"].values()]:
        assert "val_error" not in row and "val_errors" not in row and "val_trained_on_errors" in row
    md = (tmp_path / "ck" / "report.md").read_text()
    assert "| val error (trained-on) |" in md and "| val error |" not in md
    meta = read_metadata(tmp_path / "ck" / "c5_pool.safetensors")
    assert meta["metrics"]["val_held_out"] is False
    assert "val_error" not in meta["metrics"] and meta["metrics"]["val_trained_on_n"] == 48


@pytest.fixture
def fake_mnist(monkeypatch, digit_folder):
    """MNIST replaced by the rendered digits (train: 200 images, test: 40); records each split read."""
    from generators import load_image_folder
    x, y, _ = load_image_folder(digit_folder)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    reads = []

    def load(split, root=None, **kw):
        reads.append(split)
        return (x[:200], y[:200]) if split == "train" else (x[200:], y[200:])

    monkeypatch.setattr("ensemble.data.load_mnist", load)
    return reads


def test_test_set_evaluated_only_when_asked_once_after_training(tmp_path, fake_mnist, monkeypatch):
    reads_when_fit_ended = []
    fit = pl.Trainer.fit

    def recording_fit(self, *args, **kwargs):
        fit(self, *args, **kwargs)
        reads_when_fit_ended.append(list(fake_mnist))

    monkeypatch.setattr(pl.Trainer, "fit", recording_fit)
    args = ["--data", "mnist", "--members", "c5_pool,nopool_k5", "--val-size", "40", "--batch-size", "32",
            "--max-steps", "2", "--no-progress", "--accelerator", "cpu", "--devices", "1", "--logdir", str(tmp_path / "runs")]
    train_all.main([*args, "--checkpoints", str(tmp_path / "a")])   # not the shipping recipe: no test
    assert "test" not in fake_mnist
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    assert rep["test_set"]["evaluated"] is False and "test_errors" not in rep["ensemble"]
    assert "indices 160-199" in rep["validation"]["description"]
    fake_mnist.clear()
    reads_when_fit_ended.clear()
    train_all.main([*args, "--checkpoints", str(tmp_path / "b"), "--test"])
    assert fake_mnist.count("test") == 1 and len(reads_when_fit_ended) == 2
    assert all("test" not in reads for reads in reads_when_fit_ended), "the test split was read before training ended"
    rep = json.loads((tmp_path / "b" / "report.json").read_text())
    assert rep["test_set"]["evaluated"] is True and "once, after all training" in rep["test_set"]["note"]
    assert rep["ensemble"]["test_n"] == 40 and "test_errors" in rep["members"]["c5_pool"]
    md = (tmp_path / "b" / "report.md").read_text()
    assert "test error" in md and "once, after all training" in md


def test_test_default_on_only_for_the_shipping_recipe(digit_folder):
    mnist = [{"data": {"dataset": "mnist"}}]
    folder = [{"data": {"dataset": str(digit_folder)}}]
    assert train_all.parse_args([]).checkpoints == ROOT / "checkpoints"
    assert train_all.parse_args(["--quick"]).checkpoints == ROOT / "runs" / "quick" / "checkpoints"
    assert train_all.wants_test(train_all.parse_args([]), mnist) is True           # -> checkpoints/
    assert train_all.wants_test(train_all.parse_args(["--quick"]), mnist) is False
    assert train_all.wants_test(train_all.parse_args(["--checkpoints", "elsewhere"]), mnist) is False
    assert train_all.wants_test(train_all.parse_args(["--no-test"]), mnist) is False
    assert train_all.wants_test(train_all.parse_args(["--no-report"]), mnist) is False
    assert train_all.wants_test(train_all.parse_args(["--quick", "--test"]), mnist) is True
    assert train_all.wants_test(train_all.parse_args([]), folder) is False
    with pytest.raises(SystemExit, match="--test evaluates MNIST"):
        train_all.wants_test(train_all.parse_args(["--test"]), folder)


# ------------------------------------------------------------------ the command line
def test_help_is_complete_and_needs_neither_torch_nor_lightning():
    code = ("import sys, contextlib, io, train_all\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    try: train_all.parse_args(['--help'])\n"
            "    except SystemExit: pass\n"
            "heavy = sorted(m for m in ('torch', 'pytorch_lightning', 'ensemble') if m in sys.modules)\n"
            "print(heavy); print(out.getvalue())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    heavy, text = r.stdout.split("\n", 1)
    assert heavy == "[]", f"--help imported {heavy}"
    assert "examples:" in text and "runs/quick/" in text and "python train_all.py --quick" in text
    parser = train_all.build_parser()
    for action in parser._actions:
        assert action.help, f"{action.option_strings} has no help text"
    opts = {o: a for a in parser._actions for o in a.option_strings}
    assert opts["--checkpoints"].metavar == "DIR"
    for flag in ("--resume", "--overwrite"):
        assert "DIR" in opts[flag].help, flag
    assert "runs/quick/" in opts["--quick"].help


def test_lightning_advert_is_hidden_but_its_info_lines_are_not(caplog):
    from pytorch_lightning.utilities.rank_zero import rank_zero_info

    from ensemble import third_party
    third_party.install()
    third_party.install()                                   # idempotent: one filter, not two
    with caplog.at_level("INFO"):
        rank_zero_info("💡 Tip: For seamless cloud logging, try installing [litlogger](https://x) to enable it")
        rank_zero_info("GPU available: False, used: False")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False"]
