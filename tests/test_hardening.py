"""vote.py against hostile paths, outputs, options and signals (each once a real defect).

Device nodes, FIFOs and symlinks are made here, in temporary folders; no test touches a
system file.
"""
import json
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

import vote as vote_cli
from standins import save_oracles
from test_vote_cli import csv_rows, digit, no_traceback, vote

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_oracles(tmp_path_factory.mktemp("weights"))


@pytest.fixture()
def scans(tmp_path):
    d = tmp_path / "scans"
    (d / "7").mkdir(parents=True)
    digit().save(d / "7" / "a.png")
    digit(60).save(d / "7" / "b.png")
    return d


def _read_fifo(path, sink):
    with open(path, "rb") as f:
        sink.append(f.read())


# ---- 1. --output onto devices, FIFOs, symlinks ------------------------------------------------
def test_output_into_fifo_writes_through_and_keeps_it(weights, scans, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    t = threading.Thread(target=_read_fifo, args=(fifo, got), daemon=True)
    t.start()
    r = vote(scans, "--checkpoints", weights, "--format", "csv", "--output", fifo)
    t.join(30)
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert len(csv_rows(got[0].decode())) == 2


def test_output_onto_a_device_node_and_links_to_it(weights, scans, tmp_path):
    null = tmp_path / "null"                                   # our own null device, in tmp
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    link = tmp_path / "to_null"
    link.symlink_to(null)
    for target in (null, link):
        r = vote(scans, "--checkpoints", weights, "--output", target)
        no_traceback(r)
        assert r.returncode == 0, r.stderr
    assert stat.S_ISCHR(os.lstat(null).st_mode) and os.lstat(null).st_rdev == os.makedev(1, 3)
    assert os.path.islink(link) and os.readlink(link) == str(null)


def test_output_through_a_symlink_replaces_the_target_not_the_link(weights, scans, tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    r = vote(scans, "--checkpoints", weights, "--output", link)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert len(csv_rows(real.read_text())) == 2


# ---- 2. --output must not overwrite an input ---------------------------------------------------
def test_output_refuses_to_overwrite_inputs_or_land_in_other_outputs(weights, scans, tmp_path):
    before = (scans / "7" / "a.png").read_bytes()
    cases = [(["--output", scans / "7" / "a.png"], "input"),
             (["--output", tmp_path / "seen" / "x.csv", "--save-preprocessed", tmp_path / "seen"], "--save-preprocessed"),
             (["--output", tmp_path / "rep" / "x.csv", "--report", tmp_path / "rep"], "--report"),
             (["--save-preprocessed", tmp_path], "overwrite the input")]
    (tmp_path / "seen").mkdir()
    (tmp_path / "rep").mkdir()
    for opts, message in cases:
        r = vote(scans, "--checkpoints", weights, *opts)
        no_traceback(r)
        assert r.returncode == 1 and message in r.stderr, (opts, r.stderr)
    assert (scans / "7" / "a.png").read_bytes() == before


# ---- 3. non-UTF-8 file names -------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "table", "json"])
def test_non_utf8_names_are_written_not_a_traceback(weights, tmp_path, fmt):
    d = tmp_path / "d"
    d.mkdir()
    name = os.fsencode(d) + b"/caf\xe9.png"
    digit().save(tmp_path / "tmp.png")
    os.rename(tmp_path / "tmp.png", name)
    out = tmp_path / f"out.{fmt}"
    r = vote(d, "--checkpoints", weights, "--format", fmt, "--output", out)
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    raw = out.read_bytes()
    if fmt == "json":                                   # JSON stays valid UTF-8: \\udce9 escape
        assert json.loads(raw)["images"][0]["path"].endswith("caf\udce9.png")
    else:                                               # the name's own bytes, as on the terminal
        assert b"caf\xe9.png" in raw


# ---- 4. --workers is capped ----------------------------------------------------------------------
def test_workers_are_capped_by_cpus_and_images(weights, tmp_path):
    from ensemble import Ensemble
    from ensemble.reading import Reader
    reader = Reader(Ensemble(weights, device="cpu"), workers=1000)
    assert reader.effective_workers(1) == 1
    assert reader.effective_workers(10 ** 6) == os.cpu_count()
    assert Reader(reader.ensemble).effective_workers(5) == 0          # auto: no process for a few images
    digit().save(tmp_path / "one.png")
    r = vote(tmp_path / "one.png", "--checkpoints", weights, "--workers", 1000, "--format", "csv")
    assert r.returncode == 0 and csv_rows(r.stdout)[0]["prediction"] == "3", r.stderr


# ---- 6. signals during the final write ------------------------------------------------------------
@pytest.mark.parametrize("sig,code,word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_signal_during_output_write_cleans_up(weights, scans, tmp_path, monkeypatch, capsys, sig, code, word):
    import ensemble.atomic as atomic
    real_replace = os.replace

    def replace_then_signal(src, dst):
        os.kill(os.getpid(), sig)                         # arrives while the temp file exists
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace_then_signal)
    old = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    # A shell starts a background job (`pytest ... &`) with SIGINT ignored, and Python then keeps
    # it ignored, as vote.py should; this test wants Ctrl-C's behaviour, so it asks for it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        rc = vote_cli.main([str(scans), "--checkpoints", str(weights), "--output", str(tmp_path / "out.csv"),
                            "--workers", "0"])
    finally:
        signal.signal(signal.SIGTERM, old[0])
        signal.signal(signal.SIGINT, old[1])
    err = capsys.readouterr().err
    assert rc == code and word in err and "Traceback" not in err
    assert not (tmp_path / "out.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_interrupt_while_saving_preprocessed_is_one_line(weights, scans, tmp_path, monkeypatch, capsys):
    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupt)
    rc = vote_cli.main([str(scans), "--checkpoints", str(weights), "--save-preprocessed", str(tmp_path / "seen"),
                        "--workers", "0", "--format", "csv"])
    err = capsys.readouterr().err
    assert rc == 130 and err.strip().splitlines()[-1] == "vote.py: interrupted" and "Traceback" not in err


# ---- 7. --save-preprocessed keeps every image, inside, one suffix --------------------------------
def test_save_preprocessed_keeps_every_image_inside_the_folder(weights, tmp_path):
    for top in ("x", "y"):
        (tmp_path / top / "a").mkdir(parents=True)
        digit().save(tmp_path / top / "a" / "1.png")
    digit().save(tmp_path / "x" / "a" / "1.jpg")
    seen = tmp_path / "work" / "seen"
    seen.mkdir(parents=True)
    cwd = tmp_path / "work" / "deep"
    cwd.mkdir()
    digit().save(tmp_path / "work" / "up.png")
    r = subprocess.run([sys.executable, str(ROOT / "vote.py"), str(tmp_path / "x" / "a"), str(tmp_path / "y" / "a"),
                        str(tmp_path / "x" / "a" / "1.png"), "..", "--checkpoints", str(weights),
                        "--save-preprocessed", str(seen), "--format", "csv"],
                       cwd=cwd, capture_output=True, text=True, timeout=300)
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    saved = sorted(p.relative_to(seen).as_posix() for p in seen.rglob("*") if p.is_file())
    # x/a/1.png, x/a/1.jpg, y/a/1.png, then ".." = work/ (holds up.png and the already-seen files)
    assert len(saved) == len(csv_rows(r.stdout)) and all(s.count(".png") == 1 for s in saved), saved
    assert {"a/1.png", "a/1~2.png", "a/1~3.png", "work/up.png"} <= set(saved), saved
    assert not list((tmp_path / "work").glob("*.png.png")) and not (tmp_path / "a").exists()


# ---- 8. special files named on the command line ---------------------------------------------------
def test_special_files_named_directly_get_rows(weights, tmp_path):
    digit().save(tmp_path / "good.png")
    os.mkfifo(tmp_path / "fifo.png")
    (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    os.mknod(tmp_path / "zero.png", stat.S_IFCHR | 0o666, os.makedev(1, 5))    # our own /dev/zero twin
    names = ["good.png", "fifo.png", "dangling.png", "loop.png", "zero.png"]
    r = vote(*[tmp_path / n for n in names], "--checkpoints", weights, "--format", "csv")
    no_traceback(r)
    assert r.returncode == 2, r.stderr
    rows = {Path(row["path"]).name: row["status"] for row in csv_rows(r.stdout)}
    assert rows == {"good.png": "ok", "fifo.png": "not a regular file (FIFO)", "dangling.png": "dangling symlink",
                    "loop.png": "symlink loop", "zero.png": "not a regular file (device)"}


def test_special_files_inside_folders_get_rows_without_blocking(weights, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    digit().save(d / "good.png")
    os.mkfifo(d / "fifo.png")
    r = vote(d, "--checkpoints", weights, "--format", "csv")
    assert r.returncode == 2, r.stderr
    assert {Path(row["path"]).name: row["status"] for row in csv_rows(r.stdout)} == {
        "fifo.png": "not a regular file (FIFO)", "good.png": "ok"}


# ---- 9. an unreadable sub-folder ------------------------------------------------------------------
def test_unreadable_subfolder_is_reported_and_exit_2(weights, scans, monkeypatch, capsys):
    # We are root, so permissions cannot hide a folder: make listing it fail instead.
    (scans / "secret").mkdir()
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("secret"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    rc = vote_cli.main([str(scans), "--checkpoints", str(weights), "--format", "csv", "--workers", "0"])
    out = capsys.readouterr()
    assert rc == 2 and "could not list folder" in out.err and "secret" in out.err
    assert len(csv_rows(out.out)) == 2


# ---- 10. --output permissions -------------------------------------------------------------------
def test_output_mode_follows_umask_and_keeps_existing(weights, scans, tmp_path):
    old = os.umask(0o022)
    try:
        new = tmp_path / "new.csv"
        assert vote(scans, "--checkpoints", weights, "--output", new).returncode == 0
        assert stat.S_IMODE(new.stat().st_mode) == 0o644
        kept = tmp_path / "kept.csv"
        kept.write_text("x")
        kept.chmod(0o664)
        assert vote(scans, "--checkpoints", weights, "--output", kept).returncode == 0
        assert stat.S_IMODE(kept.stat().st_mode) == 0o664 and "path" in kept.read_text()
    finally:
        os.umask(old)


# ---- 11, 12. CSV formula injection, table layout --------------------------------------------------
def test_csv_cells_cannot_start_a_formula(weights, tmp_path):
    names = ["=HYPERLINK(1).png", "+1.png", "-1.png", "@x.png", "plain.png"]
    for name in names:
        digit().save(tmp_path / name, format="PNG")

    def run(fmt):
        return subprocess.run([sys.executable, str(ROOT / "vote.py"), "--checkpoints", str(weights),
                               "--format", fmt, "--", *names], cwd=tmp_path, capture_output=True, text=True)

    r = run("csv")
    assert r.returncode == 0, r.stderr
    assert [row["path"] for row in csv_rows(r.stdout)] == ["'=HYPERLINK(1).png", "'+1.png", "'-1.png", "'@x.png",
                                                           "plain.png"]
    assert [row["path"] for row in json.loads(run("json").stdout)["images"]] == names    # JSON untouched


def test_table_keeps_one_line_per_row_with_control_characters(weights, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    digit().save(d / "new\nline.png")
    digit().save(d / "tab\there.png")
    r = vote(d, "--checkpoints", weights, "--format", "table")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 4 and "new\\nline.png" in r.stdout and "tab\\there.png" in r.stdout


# ---- the reading API is the one path ------------------------------------------------------------
def test_evaluate_accepts_checkpoints_and_format(weights):
    from ensemble.evaluate import parse_args
    a = parse_args(["--checkpoints", str(weights), "--format", "json"])
    b = parse_args(["--weights", str(weights), "--json"])
    assert (a.checkpoints, a.format) == (b.checkpoints, b.format) == (str(weights), "json")
    assert a.device == "auto"
