"""YAML configs: configs/defaults.yaml deep-merged under each configs/members/<name>.yaml."""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
MEMBER_KEYS = {"name", "arch", "arch_args", "seed", "distortion", "train", "data"}


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _read_yaml(path: Path) -> dict:
    try:
        d = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: cannot read config ({e})") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path}: a config must be a mapping, got {type(d).__name__}")
    return d


def load_member_config(path: str | Path, defaults: str | Path | None = None, quick: bool = False) -> dict:
    """One member's full config: defaults, then the member file, then (quick) the quick block."""
    path = Path(path)
    defaults = Path(defaults) if defaults else path.resolve().parent.parent / "defaults.yaml"
    base = _read_yaml(defaults) if defaults.is_file() else {}
    quick_block = base.pop("quick", {})
    member = _read_yaml(path)
    unknown = set(member) - MEMBER_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: {sorted(MEMBER_KEYS)}")
    for k in ("name", "arch"):
        if k not in member:
            raise ValueError(f"{path}: missing required key {k!r}")
    cfg = deep_merge(base, member)
    cfg.setdefault("arch_args", {})
    cfg.setdefault("distortion", {})
    cfg.setdefault("seed", 0)
    if quick:
        s = quick_block.get("distortion_scale", 1.0)
        cfg = deep_merge(cfg, {k: v for k, v in quick_block.items() if k != "distortion_scale"})
        cfg["distortion"] = {k: (v if k in ("elastic_sigma", "lowres_p") else v * s) for k, v in cfg["distortion"].items()}
    cfg["config_file"] = str(path)
    return cfg


def load_configs(config_dir: str | Path = CONFIG_DIR, members: list[str] | None = None,
                 quick: bool = False) -> list[dict]:
    """All member configs in `config_dir/members/` (sorted), or just the named ones."""
    config_dir = Path(config_dir)
    files = sorted((config_dir / "members").glob("*.yaml"))
    if not files:
        raise ValueError(f"no member configs found in {config_dir / 'members'}")
    cfgs = [load_member_config(f, config_dir / "defaults.yaml", quick) for f in files]
    if members:
        known = [c["name"] for c in cfgs]
        unknown = [m for m in members if m not in known]
        if unknown:
            raise ValueError(f"unknown member(s) {unknown}; configs define: {', '.join(known)}")
        cfgs = [c for c in cfgs if c["name"] in members]
    return cfgs
