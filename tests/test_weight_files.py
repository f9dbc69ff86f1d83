"""Hostile weight files: the metadata is checked, and the shapes it implies compared with the
tensors in the file, before anything is allocated. vote.py and ensemble.evaluate answer each
with one line and exit 1, never a traceback or a 100 GB allocation."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ensemble.export import META_KEY, WeightFileError, load_member, read_metadata
from standins import CLASSES, INPUT, ORACLES, oracle, save_oracles

ROOT = Path(__file__).resolve().parent.parent
ARCH, ARGS, CLS = ORACLES["a"]                  # convpool {"channels": [4, 8], "hidden": 16}


def good_meta(**over):
    return {"format_version": 1, "member": "a", "arch": ARCH, "arch_args": ARGS, "num_classes": 10,
            "class_names": CLASSES, "input": INPUT, **over}


def write(path, meta_json: str, tensors=None):
    if tensors is None:
        tensors = {k: v.contiguous() for k, v in oracle(ARCH, ARGS, CLS).state_dict().items()}
    save_file(tensors, str(path), metadata={META_KEY: meta_json})
    return path


def deep(n):
    return "[" * n + "]" * n


HOSTILE = {
    "huge_channels": (json.dumps(good_meta(arch_args={**ARGS, "channels": [10 ** 9, 64]})), "out of range"),
    "huge_hidden": (json.dumps(good_meta(arch_args={**ARGS, "hidden": 10 ** 12})), "out of range"),
    "negative_channels": (json.dumps(good_meta(arch_args={**ARGS, "channels": [-4, 8]})), "out of range"),
    "wide_but_small_file": (json.dumps(good_meta(arch_args={**ARGS, "channels": [32, 400000]})), "do not fit"),
    "deeply_nested": (json.dumps(good_meta(notes=json.loads(deep(50)))), "nested deeper"),
    "nested_past_recursion": ('{"a": ' + deep(100000) + "}", "corrupt metadata"),
    "json_string": (json.dumps("hello"), "expected a JSON object"),
    "format_version_text": (json.dumps(good_meta(format_version="1")), "format_version"),
    "class_names_numbers": (json.dumps(good_meta(class_names=list(range(10)))), "class_names"),
    "class_names_duplicate": (json.dumps(good_meta(class_names=["0"] * 10)), "duplicate class_names"),
    "input_string": (json.dumps(good_meta(input="28x28")), "input must be an object"),
    "unknown_arch": (json.dumps(good_meta(arch="transformer")), "unknown architecture"),
    "member_path": (json.dumps(good_meta(member="../../etc")), "member must be"),
    "list_of_lists": (json.dumps(good_meta(arch_args={**ARGS, "channels": [[4], [8]]})), "list of numbers"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_metadata_is_refused_by_name(tmp_path, case):
    meta_json, message = HOSTILE[case]
    path = write(tmp_path / "x.safetensors", meta_json)
    with pytest.raises(WeightFileError, match=message) as e:
        load_member(path)
    assert "x.safetensors" in str(e.value)


def test_wrong_tensor_shapes_are_found_before_building(tmp_path):
    tensors = {k: v.contiguous() for k, v in oracle(ARCH, ARGS, CLS).state_dict().items()}
    tensors["features.0.0.weight"] = torch.zeros(5, 1, 5, 5)
    with pytest.raises(WeightFileError, match="wrong shapes.*features.0.0.weight"):
        load_member(write(tmp_path / "x.safetensors", json.dumps(good_meta()), tensors))
    del tensors["features.0.0.weight"]
    with pytest.raises(WeightFileError, match="missing.*features.0.0.weight"):
        load_member(write(tmp_path / "y.safetensors", json.dumps(good_meta()), tensors))


def test_good_file_still_loads(tmp_path):
    net, meta = load_member(write(tmp_path / "x.safetensors", json.dumps(good_meta())))
    assert meta["member"] == "a" and net(torch.rand(1, 1, 28, 28)).argmax().item() == CLS
    assert read_metadata(tmp_path / "x.safetensors")["class_names"] == CLASSES


def _max_rss_kb(cmd):
    """Run cmd in a fresh child of a small wrapper; return (completed process, the child's peak RSS in KB)."""
    wrapper = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "sys.stdout.write(r.stdout); sys.stderr.write(r.stderr); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)")
    r = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, timeout=300, cwd=ROOT)
    *lines, rss = r.stderr.strip().splitlines()
    return r, "\n".join(lines), int(rss)


@pytest.mark.parametrize("case", ["huge_channels", "wide_but_small_file", "json_string", "class_names_duplicate"])
def test_cli_answers_hostile_weights_with_one_line(tmp_path, case):
    folder = save_oracles(tmp_path / "w")
    write(folder / "zz.safetensors", HOSTILE[case][0])
    from PIL import Image
    Image.new("L", (28, 28)).save(tmp_path / "d.png")
    for cmd in ([sys.executable, "vote.py", str(tmp_path / "d.png"), "--checkpoints", str(folder)],
                [sys.executable, "-m", "ensemble.evaluate", "--checkpoints", str(folder), "--device", "cpu"]):
        r, err, rss = _max_rss_kb(cmd)
        assert r.returncode == 1 and "Traceback" not in err and len(err.splitlines()) == 1, err
        assert "zz.safetensors" in err and HOSTILE[case][1] in err
        assert rss < 1_500_000, f"{rss / 1e6:.1f} GB peak memory for a refused file"
