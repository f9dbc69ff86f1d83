"""Train every ensemble member with PyTorch Lightning, export its weights, write the report.

    python train_all.py                              # full recipe (GPU) -> checkpoints/, + MNIST test once
    python train_all.py --quick                      # CPU smoke recipe, minutes on 2 cores -> runs/quick/
    python train_all.py --members c5_pool,msn_deep   # some members only
    python train_all.py --parallel 5                 # 5 processes sharing one GPU
    python train_all.py --devices 2 --strategy ddp   # Lightning DDP (also --num-nodes N)
    python train_all.py --resume                     # continue interrupted runs from their last.ckpt
    python train_all.py --data path/to/folder        # a labelled image folder (one subfolder per class)
    python train_all.py --init-from old/ --epochs 2  # fine-tune: start from old/<member>.safetensors
    tensorboard --logdir runs                        # watch

Writes into DIR (--checkpoints; default checkpoints/, runs/quick/checkpoints with --quick):
DIR/<member>.safetensors (self-describing inference weights), DIR/lightning/<member>/last.ckpt
(resumable training state), DIR/report.json + DIR/report.md; TensorBoard runs go to --logdir
(default runs/, runs/quick/ with --quick). Existing weights in DIR are kept unless --resume or
--overwrite.

Validation is the tail of the training set (MNIST: the last 5,000 images), never trained on
unless --full-train (the report then labels it trained-on). The MNIST test set is read only for
the report, once, after all training (--test; on by default only for the shipping recipe: no
--quick, writing into checkpoints/); nothing is chosen with it.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

# torch and Lightning are imported inside the functions that train: `--help` answers at once.
ROOT = Path(__file__).resolve().parent
SHIPPED = ROOT / "checkpoints"


class _Parser(argparse.ArgumentParser):
    def error(self, message):                      # usage errors: one line + where to look
        self.exit(2, f"train_all.py: error: {message} (see train_all.py --help)\n")


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__.splitlines()
    p = _Parser(prog="train_all.py", description=doc[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="examples:\n" + "\n".join(doc[2:]))
    g = p.add_argument_group("what to train")
    g.add_argument("--configs", metavar="DIR", default=str(ROOT / "configs"),
                   help="config folder: defaults.yaml + members/*.yaml (default: configs/)")
    g.add_argument("--members", metavar="NAMES", help="comma-separated member names (default: every file in configs/members/)")
    g.add_argument("--quick", action="store_true",
                   help="CPU smoke recipe (defaults.yaml's quick block); writes to runs/quick/, not checkpoints/")
    g.add_argument("--data", metavar="DATA", help="'mnist' or a labelled image folder, one subfolder per class "
                   "(overrides data.dataset); folder images are normalized like vote.py's input")
    g = p.add_argument_group("where results go")
    g.add_argument("--checkpoints", metavar="DIR",
                   help="folder for weights, resumable state and report (default: checkpoints/; runs/quick/checkpoints with --quick)")
    g.add_argument("--logdir", metavar="DIR", help="TensorBoard folder (default: runs/; runs/quick/ with --quick)")
    g.add_argument("--resume", action="store_true", help="continue each member from DIR/lightning/<member>/last.ckpt")
    g.add_argument("--overwrite", action="store_true", help="start over, replacing existing weights in DIR")
    g.add_argument("--init-from", metavar="DIR",
                   help="fine-tune: start each member from DIR/<member>.safetensors instead of random weights "
                        "(same architecture; the weight file and report record where it started)")
    g = p.add_argument_group("recipe overrides")
    g.add_argument("--epochs", type=int, metavar="N", help="override train.epochs")
    g.add_argument("--max-steps", type=int, metavar="N", help="override train.max_steps (stop after N optimizer steps)")
    g.add_argument("--batch-size", type=int, metavar="N", help="override train.batch_size")
    g.add_argument("--lr", type=float, metavar="LR", help="override train.lr (peak of the one-cycle schedule)")
    g.add_argument("--val-size", type=int, metavar="N", help="hold out the last N training images for validation (default 5000)")
    g.add_argument("--train-subset", type=int, metavar="N", help="train on only the first N training images")
    g.add_argument("--val-subset", type=int, metavar="N", help="validate during training on only the first N validation images")
    g.add_argument("--full-train", action="store_true",
                   help="also train on the validation images (the report labels validation errors trained-on)")
    g = p.add_argument_group("evaluation and output")
    g.add_argument("--test", action=argparse.BooleanOptionalAction, default=None,
                   help="evaluate the MNIST test set once, after all training, for the report "
                        "(default: on for the shipping recipe, i.e. no --quick and DIR = checkpoints/; else off)")
    g.add_argument("--no-report", action="store_true", help="skip the ensemble evaluation and the report")
    g.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    g = p.add_argument_group("hardware (passed to Lightning's Trainer)")
    g.add_argument("--accelerator", metavar="NAME", default="auto",
                   help="auto (GPU if there is one), gpu, cpu, mps, ... (default: auto)")
    g.add_argument("--devices", metavar="N|LIST", default="auto",
                   help="devices per machine: auto, a count (2) or a list (0,1); more than one trains with DDP (default: auto)")
    g.add_argument("--strategy", metavar="NAME", default="auto",
                   help="how devices share the work: auto, ddp, ddp_spawn, ... (default: auto)")
    g.add_argument("--num-nodes", type=int, metavar="N", default=1, help="machines taking part in DDP training (default: 1)")
    g.add_argument("--precision", metavar="PRECISION", default=None,
                   help="Lightning precision, e.g. bf16-mixed, 32-true (default: bf16-mixed on GPU, 32-true on CPU)")
    g.add_argument("--parallel", type=int, default=1, metavar="N", help="train the members in N processes at once (sharing one GPU)")
    g.add_argument("--workers", type=int, default=0, metavar="N", help="DataLoader workers (default 0: the data is in memory)")
    return p


def parse_args(argv=None):
    p = build_parser()
    a = p.parse_args(argv)
    if a.parallel < 1:
        p.error("--parallel must be >= 1")
    if a.test and a.no_report:
        p.error("--test evaluates the test set for the report: it cannot go with --no-report")
    a.checkpoints = Path(a.checkpoints or (ROOT / "runs" / "quick" / "checkpoints" if a.quick else SHIPPED))
    a.logdir = Path(a.logdir or (ROOT / "runs" / "quick" if a.quick else ROOT / "runs"))
    a.shipping = not a.quick and a.checkpoints.resolve() == SHIPPED.resolve()
    return a


def member_configs(a):
    from ensemble.config import load_configs
    cfgs = load_configs(a.configs, a.members.split(",") if a.members else None, quick=a.quick)
    for c in cfgs:
        t, d = c["train"], c["data"]
        for key, val in (("epochs", a.epochs), ("max_steps", a.max_steps), ("batch_size", a.batch_size), ("lr", a.lr)):
            if val is not None:
                t[key] = val
        for key, val in (("dataset", a.data), ("train_subset", a.train_subset), ("val_subset", a.val_subset),
                         ("val_size", a.val_size)):
            if val is not None:
                d[key] = val
        if a.full_train:
            d["full_train"] = True
    return cfgs


def wants_test(a, cfgs) -> bool:
    """Evaluate MNIST's test set for the report? --test / --no-test, else only the shipping recipe."""
    on_mnist = all(c["data"]["dataset"] == "mnist" for c in cfgs)
    if a.test and not on_mnist:
        raise SystemExit("error: --test evaluates MNIST's test set; these members train on an image folder")
    if a.test is None:  # the shipping recipe reports the test error once; other runs never look at it
        return a.shipping and on_mnist and not a.no_report
    return a.test


def train_member(cfg: dict, a) -> dict | None:
    """Fit one member; on rank 0 export its weight file. Returns its metadata (rank 0) or None."""
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import ModelCheckpoint, TQDMProgressBar
    from pytorch_lightning.loggers import TensorBoardLogger

    from ensemble import create_member
    from ensemble.data import DigitsDataModule, polarity_counts, polarity_label
    from ensemble.export import save_member
    from ensemble.flops import count_macs, count_params
    from ensemble.module import MemberModule
    from ensemble.predict import predict_logits
    from ensemble.report import hardware

    name = cfg["name"]
    weight_file = a.checkpoints / f"{name}.safetensors"
    ckpt_dir = a.checkpoints / "lightning" / name
    last = ckpt_dir / "last.ckpt"
    if not a.resume and not a.overwrite and (weight_file.exists() or last.exists()):
        raise SystemExit(f"error: {weight_file if weight_file.exists() else last} already exists; "
                         "pass --resume to continue, --overwrite to start over, or another --checkpoints")

    pl.seed_everything(int(cfg["seed"]), workers=True, verbose=False)
    dm = DigitsDataModule(cfg["data"], int(cfg["train"]["batch_size"]), a.workers)
    dm.setup()  # loads the data once; Lightning's own prepare_data/setup calls then find it in memory
    arch_args = {**cfg["arch_args"], "num_classes": dm.num_classes, "input_size": dm.input_size}
    net = create_member(cfg["arch"], **arch_args)
    init = init_weights(net, cfg, arch_args, Path(a.init_from)) if a.init_from else None
    params, macs = count_params(net), count_macs(net, 1, dm.input_size)
    held_out = not cfg["data"].get("full_train")
    src = dm.source
    print(f"[{name}] {cfg['arch']} {params:,} params, {macs / 1e6:.1f} M multiply-adds/image; "
          f"{len(dm.train_x):,} train / {len(dm.val_x):,} val images"
          f"{'' if held_out else ' (--full-train: val images are trained on too)'}; "
          f"{src['kind']} images measured {src['polarity']}"
          f"{', normalized like vote.py input' if src['kind'] == 'image folder' else ''}", file=sys.stderr)
    module = MemberModule(net, cfg, dm.class_names)

    cuda = torch.cuda.is_available() and a.accelerator in ("auto", "gpu", "cuda")
    precision = a.precision or ("bf16-mixed" if cuda else "32-true")
    # Same TensorBoard folder on --resume so the curves continue; a fresh run gets a new version.
    version = _latest_version(a.logdir / name) if (a.resume and last.exists()) else None
    logger = TensorBoardLogger(str(a.logdir), name=name, version=version, default_hp_metric=False)
    t = cfg["train"]
    steps_per_epoch = max(1, len(dm.train_x) // int(t["batch_size"]))
    max_steps = int(t.get("max_steps", -1))
    short = min(steps_per_epoch, max_steps) if max_steps > 0 else steps_per_epoch  # steps in the shortest epoch
    callbacks = [ModelCheckpoint(dirpath=str(ckpt_dir), save_last=True, save_top_k=0,
                                 every_n_train_steps=min(200, steps_per_epoch))]
    if not a.no_progress:
        callbacks.append(TQDMProgressBar(refresh_rate=20))
    else:   # logs (and --parallel's children): one line per epoch instead of a bar
        callbacks.append(EpochLine(name))
    trainer = pl.Trainer(max_epochs=int(t["epochs"]), max_steps=max_steps,
                         accelerator=a.accelerator, devices=a.devices, strategy=a.strategy,
                         num_nodes=a.num_nodes, precision=precision, logger=logger, callbacks=callbacks,
                         log_every_n_steps=max(1, min(20, short)), num_sanity_val_steps=0, enable_model_summary=False,
                         enable_progress_bar=not a.no_progress, benchmark=cuda)
    t0 = time.perf_counter()
    trainer.fit(module, datamodule=dm, ckpt_path=str(last) if (a.resume and last.exists()) else None)
    wall = time.perf_counter() - t0
    if trainer.global_rank != 0:
        return None

    # Exact validation error of the final (last-epoch) weights, fp32, on the whole val split.
    net.eval()
    dev = module.device
    val_pred = predict_logits(net, dm.val_x, dev).argmax(1)
    val_errors = int((val_pred != dm.val_y).sum())
    val_error = val_errors / len(dm.val_y)
    val_key = "val" if held_out else "val_trained_on"
    input_counts = polarity_counts(dm.train_x)
    meta = {"member": name, "arch": cfg["arch"], "arch_args": arch_args,
            "num_classes": dm.num_classes, "class_names": dm.class_names,
            # Measured on the images the net trained on (vote.py refuses anything but light-on-dark):
            # MNIST is, and folder images went through vote.py's normalization, which makes it so.
            "input": {"size": dm.input_size, "channels": 1, "range": [0, 1],
                      "polarity": polarity_label(input_counts), "polarity_counts": input_counts, "dtype": "float32"},
            "data_source": src,   # the source images: kind, measured polarity, normalization applied
            "distortion": cfg["distortion"], "train": cfg["train"], "data": cfg["data"], "seed": cfg["seed"],
            "quick": bool(a.quick), "config_file": cfg.get("config_file"),
            **({"init_from": init} if init else {}),
            # --full-train: the validation images were trained on; the keys say so (val_trained_on_*).
            "metrics": {f"{val_key}_errors": val_errors, f"{val_key}_error": val_error, f"{val_key}_n": len(dm.val_y),
                        "val_held_out": held_out,
                        "epochs": trainer.current_epoch, "steps": trainer.global_step,
                        "wall_time_s": round(wall, 1), "params": params, "macs_per_image": macs,
                        "precision": precision, "hardware": hardware()}}
    save_member(weight_file, net, meta)
    logger.log_hyperparams(module.hparams, {f"hp/{val_key}_error": val_error})
    logger.finalize("success")
    print(f"[{name}] val error{'' if held_out else ' (trained-on)'} {100 * val_error:.2f} % "
          f"({val_errors}/{len(dm.val_y)}), "
          f"{wall:.0f} s -> {weight_file}", file=sys.stderr)
    return meta


def EpochLine(name: str):
    """A Lightning callback printing one line per finished epoch to stderr (rank 0):
    `[c5_pool] epoch 3/30: 14.2 s, 30.3 steps/s, last train/loss 0.512, val/error 0.62 %`."""
    import pytorch_lightning as pl

    class _EpochLine(pl.Callback):
        def on_train_epoch_start(self, trainer, module):
            self.t0, self.step0 = time.perf_counter(), trainer.global_step

        on_train_start = on_train_epoch_start    # a run resumed mid-epoch starts no epoch first

        def on_validation_epoch_end(self, trainer, module):
            if not trainer.sanity_checking:
                self.val_epoch = trainer.current_epoch

        def on_train_epoch_end(self, trainer, module):   # after the epoch's validation, if it ran
            if trainer.global_rank != 0:
                return
            dt = time.perf_counter() - self.t0
            m = trainer.callback_metrics
            parts = [f"{dt:.1f} s", f"{(trainer.global_step - self.step0) / max(dt, 1e-9):.1f} steps/s"]
            if "train/loss" in m:
                parts.append(f"last train/loss {float(m['train/loss']):.3f}")
            if "val/error" in m and getattr(self, "val_epoch", None) == trainer.current_epoch:
                parts.append(f"val/error {100 * float(m['val/error']):.2f} %")   # not an older epoch's
            print(f"[{name}] epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: " + ", ".join(parts),
                  file=sys.stderr, flush=True)

    return _EpochLine()


def init_weights(net, cfg: dict, arch_args: dict, folder: Path) -> dict:
    """Load folder/<member>.safetensors into `net` (a fine-tune's start). Returns what the weight
    file and the report record of it: the file, its SHA-256, and how those weights were trained
    (their own `init_from` too, so a chain of fine-tunes stays traceable)."""
    import hashlib

    from ensemble.export import TRAINING_ONLY_PREFIXES, WeightFileError, load_member
    path = folder / f"{cfg['name']}.safetensors"
    if not path.is_file():
        raise SystemExit(f"error: --init-from {folder}: no {path.name} to start {cfg['name']} from")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()     # before a run in the same folder replaces it
    try:
        src, meta = load_member(path)
    except WeightFileError as e:
        raise SystemExit(f"error: --init-from: {e}")
    if meta["arch"] != cfg["arch"] or meta["arch_args"] != arch_args:
        raise SystemExit(f"error: --init-from {path}: architecture {meta['arch']} {meta['arch_args']} "
                         f"differs from the config's {cfg['arch']} {arch_args}")
    # the file holds the inference weights: training-only parts (msn_deep's auxiliary heads) start fresh
    missing, unexpected = net.load_state_dict(src.state_dict(), strict=False)
    if unexpected or any(not k.startswith(TRAINING_ONLY_PREFIXES) for k in missing):
        raise SystemExit(f"error: --init-from {path}: weights do not fit ({missing[:3]}, {unexpected[:3]})")
    met = meta.get("metrics", {})
    return {"file": str(path), "sha256": digest, "distortion": meta.get("distortion"), "train": meta.get("train"),
            "epochs": met.get("epochs"), "steps": met.get("steps"), "wall_time_s": met.get("wall_time_s"),
            "trained_on": met.get("hardware"), **({"init_from": meta["init_from"]} if meta.get("init_from") else {})}


def _latest_version(folder: Path):
    vs = sorted((int(p.name.split("_")[1]) for p in folder.glob("version_*") if p.name.split("_")[1].isdigit()))
    return vs[-1] if vs else None


def run_parallel(cfgs, a, argv):
    """Split the members over N child processes of this script (they share the GPU)."""
    groups = [cfgs[i::a.parallel] for i in range(a.parallel)]
    base = list(argv if argv is not None else sys.argv[1:])
    base = _drop_flag(_drop_flag(base, "--parallel", True), "--members", True)
    base = _drop_flag(_drop_flag(base, "--test", False), "--no-test", False)   # the parent reports
    procs = []
    a.logdir.mkdir(parents=True, exist_ok=True)
    for g in (g for g in groups if g):
        names = ",".join(c["name"] for c in g)
        log = open(a.logdir / f"train-{names.replace(',', '+')}.log", "w")
        cmd = [sys.executable, str(ROOT / "train_all.py"), *base, "--members", names, "--no-report", "--no-progress"]
        print(f"started: {names} (log: {log.name})", file=sys.stderr)
        procs.append((names, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log))
    failed = []
    for names, p, log in procs:
        rc = p.wait()
        log.close()
        print(f"finished: {names} (exit {rc})", file=sys.stderr)
        if rc:
            failed.append(f"{names} (exit {rc}, see {log.name})")
    if failed:
        raise SystemExit("error: training failed for " + "; ".join(failed))


def _drop_flag(args, flag, has_value):
    out, skip = [], False
    for x in args:
        if skip:
            skip = False
            continue
        if x == flag:
            skip = has_value
            continue
        if x.startswith(flag + "="):
            continue
        out.append(x)
    return out


def report(a, argv, total_wall):
    """Evaluate all weight files in DIR on CPU and write DIR/report.{json,md} + a TensorBoard run.

    Validation: the whole held-out tail named by the members' data config. Test: MNIST's test
    split, only with --test, read here for the first time in the run (after all training).
    """
    from ensemble import Ensemble
    from ensemble.data import load_dataset, split_indices, validation_description
    from ensemble.evaluate import evaluate
    from ensemble.report import build_report, report_markdown, write_report

    ens = Ensemble(a.checkpoints, device="cpu")  # loaded once, evaluated on both splits
    metas = dict(zip(ens.member_names, ens.metas))
    data = _common_split(metas)
    if a.test and data["dataset"] != "mnist":
        raise SystemExit(f"error: --test evaluates MNIST's test set; the weights in {a.checkpoints} "
                         f"were trained on {data['dataset']}")
    ds = load_dataset(data["dataset"], with_test=a.test)
    _, val_idx = split_indices(len(ds.train_x), {"val_size": data["val_size"]})  # the whole tail
    held_out = not data["full_train"]
    val_key = "val" if held_out else "val_trained_on"
    splits = {val_key: evaluate(ens, ds.train_x[val_idx], ds.train_y[val_idx])}
    if a.test:
        splits["test"] = evaluate(ens, ds.test_x, ds.test_y)
    validation = {"split": val_key, "n": len(val_idx), "held_out": held_out,
                  "description": validation_description(data, len(ds.train_x))}
    test = {"evaluated": bool(a.test),
            "note": "MNIST test set evaluated once, after all training finished (train_all.py --test); "
                    "nothing was chosen with it" if a.test else
                    "MNIST test set not evaluated (train_all.py --test evaluates it once, after training)"}
    rep = build_report(a.checkpoints, metas, splits, total_wall, argv, validation=validation, test=test)
    rep["quick"] = bool(a.quick)
    j, md = write_report(a.checkpoints, rep)
    print(report_markdown(rep))
    print(f"report: {j} and {md}", file=sys.stderr)
    from torch.utils.tensorboard import SummaryWriter
    with SummaryWriter(str(a.logdir / "ensemble")) as w:  # one run comparing members and the vote
        for split, res in splits.items():
            for name, r in res["members"].items():
                w.add_scalar(f"{split}_acc/{name}", 1 - r["error"], 0)
            w.add_scalar(f"{split}_acc/vote", 1 - res["ensemble"]["error"], 0)
        w.add_text("report", report_markdown(rep), 0)
    return rep


def _common_split(metas: dict) -> dict:
    """The dataset and validation split every member in DIR was trained with (they must agree)."""
    seen = {}
    for name, m in metas.items():
        d = m.get("data") or {}
        key = (d.get("dataset"), int(d.get("val_size") or 0), bool(d.get("full_train")))
        seen.setdefault(key, []).append(name)
    if len(seen) > 1:
        parts = "; ".join(f"{', '.join(v)}: dataset {k[0]}, val_size {k[1]}, full_train {k[2]}" for k, v in seen.items())
        raise SystemExit(f"error: the weight files disagree on the data split, no common validation set ({parts})")
    dataset, val_size, full_train = next(iter(seen))
    return {"dataset": dataset, "val_size": val_size, "full_train": full_train}


def main(argv=None):
    a = parse_args(argv)
    from ensemble.third_party import install
    install()   # the few third-party warnings we hide, listed in one place
    try:
        cfgs = member_configs(a)
    except ValueError as e:
        raise SystemExit(f"error: {e}")
    a.test = wants_test(a, cfgs)
    a.checkpoints.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rank0 = True
    if a.parallel > 1 and len(cfgs) > 1:
        run_parallel(cfgs, a, argv)
    else:
        for cfg in cfgs:
            rank0 = train_member(cfg, a) is not None
    if rank0 and not a.no_report and os.environ.get("LOCAL_RANK", "0") == "0":
        report(a, argv, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
