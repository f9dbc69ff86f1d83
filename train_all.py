"""Train every ensemble member with PyTorch Lightning, export its weights, evaluate the vote.

    python train_all.py --quick                     # CPU smoke recipe: 5 members, minutes on 2 cores
    python train_all.py                             # the full recipe (meant for a GPU)
    python train_all.py --members c5_pool,msn_deep  # some members only
    python train_all.py --parallel 5                # 5 processes sharing one GPU
    python train_all.py --devices 2 --strategy ddp  # Lightning DDP (also --num-nodes N)
    python train_all.py --resume                    # continue interrupted runs from last.ckpt
    tensorboard --logdir runs                       # watch

Writes DIR/<member>.safetensors (self-describing inference weights), DIR/lightning/<member>/
last.ckpt (resumable training state), DIR/report.json + DIR/report.md, and TensorBoard runs
under --logdir. DIR is --checkpoints (default checkpoints/; runs/quick/checkpoints with --quick).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

# Lightning notes that are expected here: the module (not the DataModule) moves batches to the
# device on purpose, and a deprecation inside Lightning itself.
warnings.filterwarnings("ignore", message=".*overridden `on_after_batch_transfer`.*")
warnings.filterwarnings("ignore", message=".*LeafSpec.*")

ROOT = Path(__file__).resolve().parent


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Train the ensemble members (see module docstring).")
    p.add_argument("--configs", default=str(ROOT / "configs"), help="config folder (defaults.yaml + members/)")
    p.add_argument("--members", help="comma-separated member names (default: all in configs/members)")
    p.add_argument("--quick", action="store_true", help="CPU smoke recipe from defaults.yaml's quick block")
    p.add_argument("--checkpoints", help="output folder for weights and report (default checkpoints/)")
    p.add_argument("--logdir", default=None, help="TensorBoard folder (default runs/)")
    p.add_argument("--resume", action="store_true", help="continue from DIR/lightning/<member>/last.ckpt")
    p.add_argument("--overwrite", action="store_true", help="replace existing weight files in DIR")
    p.add_argument("--parallel", type=int, default=1, metavar="N", help="train members in N processes")
    p.add_argument("--data", help="'mnist' or a labelled image folder (overrides data.dataset)")
    p.add_argument("--epochs", type=int, help="override train.epochs")
    p.add_argument("--max-steps", type=int, help="override train.max_steps")
    p.add_argument("--batch-size", type=int, help="override train.batch_size")
    p.add_argument("--lr", type=float, help="override train.lr")
    p.add_argument("--train-subset", type=int, help="use only the first N training images")
    p.add_argument("--val-subset", type=int, help="use only the first N validation images")
    p.add_argument("--val-size", type=int, help="hold out the last N training images (default 5000)")
    p.add_argument("--full-train", action="store_true", help="also train on the validation split")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (data is in memory)")
    p.add_argument("--no-report", action="store_true", help="skip the ensemble evaluation and report")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    # Lightning Trainer pass-through: multi-GPU / multi-node goes through Lightning's DDP.
    p.add_argument("--accelerator", default="auto")
    p.add_argument("--devices", default="auto")
    p.add_argument("--strategy", default="auto")
    p.add_argument("--num-nodes", type=int, default=1)
    p.add_argument("--precision", default=None, help="default: bf16-mixed on GPU, 32-true on CPU")
    a = p.parse_args(argv)
    if a.parallel < 1:
        p.error("--parallel must be >= 1")
    a.checkpoints = Path(a.checkpoints or (ROOT / "runs" / "quick" / "checkpoints" if a.quick else ROOT / "checkpoints"))
    a.logdir = Path(a.logdir or (ROOT / "runs" / "quick" if a.quick else ROOT / "runs"))
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


def train_member(cfg: dict, a) -> dict | None:
    """Fit one member; on rank 0 export its weight file. Returns its metadata (rank 0) or None."""
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import ModelCheckpoint, TQDMProgressBar
    from pytorch_lightning.loggers import TensorBoardLogger

    from ensemble import create_member
    from ensemble.data import DigitsDataModule
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
    params, macs = count_params(net), count_macs(net, 1, dm.input_size)
    print(f"[{name}] {cfg['arch']} {params:,} params, {macs / 1e6:.1f} M multiply-adds/image; "
          f"{len(dm.train_x):,} train / {len(dm.val_x):,} val images", file=sys.stderr)
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
    meta = {"member": name, "arch": cfg["arch"], "arch_args": arch_args,
            "num_classes": dm.num_classes, "class_names": dm.class_names,
            "input": {"size": dm.input_size, "channels": 1, "range": [0, 1], "polarity": "light-on-dark",
                      "dtype": "float32"},
            "distortion": cfg["distortion"], "train": cfg["train"], "data": cfg["data"], "seed": cfg["seed"],
            "quick": bool(a.quick), "config_file": cfg.get("config_file"),
            "metrics": {"val_errors": val_errors, "val_n": len(dm.val_y), "val_error": val_errors / len(dm.val_y),
                        "epochs": trainer.current_epoch, "steps": trainer.global_step,
                        "wall_time_s": round(wall, 1), "params": params, "macs_per_image": macs,
                        "precision": precision, "hardware": hardware()}}
    save_member(weight_file, net, meta)
    logger.log_hyperparams(module.hparams, {"hp/val_error": meta["metrics"]["val_error"]})
    logger.finalize("success")
    print(f"[{name}] val error {100 * meta['metrics']['val_error']:.2f} % ({val_errors}/{len(dm.val_y)}), "
          f"{wall:.0f} s -> {weight_file}", file=sys.stderr)
    return meta


def _latest_version(folder: Path):
    vs = sorted((int(p.name.split("_")[1]) for p in folder.glob("version_*") if p.name.split("_")[1].isdigit()))
    return vs[-1] if vs else None


def run_parallel(cfgs, a, argv):
    """Split the members over N child processes of this script (they share the GPU)."""
    groups = [cfgs[i::a.parallel] for i in range(a.parallel)]
    base = list(argv if argv is not None else sys.argv[1:])
    base = _drop_flag(_drop_flag(base, "--parallel", True), "--members", True)
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
    """Evaluate all weight files in DIR on CPU and write DIR/report.{json,md} + a TensorBoard run."""
    from ensemble import Ensemble
    from ensemble.data import load_dataset
    from ensemble.evaluate import evaluate
    from ensemble.report import build_report, report_markdown, write_report

    ens = Ensemble(a.checkpoints, device="cpu")  # loaded once, evaluated on both splits
    metas = dict(zip(ens.member_names, ens.metas))
    data = ens.metas[0]["data"]
    x, y, tx, ty, _ = load_dataset(data["dataset"])
    n_val = int(data["val_size"])
    vx, vy = x[-n_val:], y[-n_val:]
    splits = {"val": evaluate(ens, vx, vy),
              "test": evaluate(ens, tx, ty) if tx is not None else None}
    rep = build_report(a.checkpoints, metas, splits, total_wall, argv)
    rep["quick"] = bool(a.quick)
    j, md = write_report(a.checkpoints, rep)
    print(report_markdown(rep))
    print(f"report: {j} and {md}", file=sys.stderr)
    from torch.utils.tensorboard import SummaryWriter
    with SummaryWriter(str(a.logdir / "ensemble")) as w:  # one run comparing members and the vote
        for split, res in splits.items():
            if res is None:
                continue
            for name, r in res["members"].items():
                w.add_scalar(f"{split}_acc/{name}", 1 - r["error"], 0)
            w.add_scalar(f"{split}_acc/vote", 1 - res["ensemble"]["error"], 0)
        w.add_text("report", report_markdown(rep), 0)
    return rep


def main(argv=None):
    a = parse_args(argv)
    try:
        cfgs = member_configs(a)
    except ValueError as e:
        raise SystemExit(f"error: {e}")
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
