"""Every registered architecture and every configured member: shapes, gradients, dropout, cost."""
import pytest
import torch
import torch.nn as nn

from ensemble import create_member, list_members
from ensemble.config import load_configs, load_member_config
from ensemble.flops import count_macs, count_params

CONFIGS = load_configs()
# Budget that keeps vote.py >= 300 images/s on 2 CPU cores (measured: ~40 GMAC/s for these nets).
TOTAL_MACS_BUDGET = 100e6


def test_every_architecture_is_used_by_a_config():
    assert {c["arch"] for c in CONFIGS} == set(list_members())


def test_five_genuinely_different_members():
    assert len(CONFIGS) == 5
    kernels_or_depths = {(c["arch"], c["arch_args"].get("kernel_size", 3)) for c in CONFIGS}
    assert len(kernels_or_depths) >= 3
    assert len({str(c["distortion"]) for c in CONFIGS}) == 5
    assert len({c["seed"] for c in CONFIGS}) == 5


@pytest.mark.parametrize("name", list_members())
def test_architecture_defaults(name):
    net = create_member(name)
    out = net(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, 10)


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c["name"] for c in CONFIGS])
def test_member_forward_backward(cfg):
    net = create_member(cfg["arch"], **cfg["arch_args"])
    net.train()
    x = torch.rand(8, 1, 28, 28)
    logits, aux = net(x, return_aux=True)
    assert logits.shape == (8, 10) and all(a.shape == (8, 10) for a in aux)
    loss = logits.logsumexp(1).mean() + sum(a.logsumexp(1).mean() for a in aux)
    loss.backward()
    assert torch.isfinite(logits).all()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(isinstance(m, nn.Dropout) and m.p > 0 for m in net.modules()), "no dropout"
    net.eval()
    with torch.no_grad():  # eval is deterministic (dropout off) and returns plain logits
        assert torch.equal(net(x), net(x))


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c["name"] for c in CONFIGS])
def test_member_other_input_sizes(cfg):
    """num_classes and input size come from the config (e.g. 47-class EMNIST, 32 px)."""
    net = create_member(cfg["arch"], **{**cfg["arch_args"], "num_classes": 47, "input_size": 32})
    assert net(torch.rand(2, 1, 32, 32)).shape == (2, 47)


def test_inference_cost_budget(capsys):
    total = 0
    for cfg in CONFIGS:
        net = create_member(cfg["arch"], **cfg["arch_args"])
        macs = count_macs(net)
        total += macs
        print(f"{cfg['name']:12s} {count_params(net):9,d} params {macs / 1e6:6.1f} M MACs")
    assert total <= TOTAL_MACS_BUDGET, f"{total / 1e6:.0f} M multiply-adds per image over budget"


def test_count_macs_exact():
    net = create_member("convpool", channels=[4], kernel_size=3, hidden=8, dropout=0.1)
    # conv 28*28*4*9 + fc (4*14*14)*8 + fc 8*10
    assert count_macs(net) == 28 * 28 * 4 * 9 + 4 * 14 * 14 * 8 + 8 * 10


def test_deep_multi_supervised_member():
    cfg = next(c for c in CONFIGS if c["arch"] == "msn")
    net = create_member(cfg["arch"], **cfg["arch_args"])
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d) and not any(
        m is mm for h in net.aux_heads.values() for mm in h.modules())]
    assert len(convs) >= 12
    assert len(net.aux_heads) >= 2 and len(cfg["train"]["aux_weights"]) == len(net.aux_heads)


def test_aux_losses_enter_total_and_get_gradient():
    from ensemble.module import MemberModule
    cfg = next(c for c in CONFIGS if c["arch"] == "msn")
    net = create_member(cfg["arch"], **cfg["arch_args"])
    mod = MemberModule(net, cfg, [str(i) for i in range(10)])
    x, y = torch.rand(6, 1, 28, 28), torch.randint(0, 10, (6,))
    logits, aux = net(x, return_aux=True)
    total, main, aux_losses = mod.compute_loss(logits, aux, y)
    w = cfg["train"]["aux_weights"]
    assert torch.allclose(total, main + sum(wi * a for wi, a in zip(w, aux_losses)))
    total.backward()
    for head in net.aux_heads.values():
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
    # Inference uses the main head only: the aux heads do not change the prediction.
    net.eval()
    before = net(x)
    for p in net.aux_heads.parameters():
        p.data.fill_(7.0)
    assert torch.equal(before, net(x))


def test_aux_weights_decay():
    from ensemble.module import MemberModule
    cfg = next(c for c in CONFIGS if c["arch"] == "msn")
    mod = MemberModule(create_member(cfg["arch"], **cfg["arch_args"]), cfg, list("0123456789"))
    assert mod.aux_weights() == [float(w) for w in cfg["train"]["aux_weights"]]  # epoch 0


def test_unknown_member_lists_known():
    with pytest.raises(KeyError, match="convpool"):
        create_member("resnet9000")
    with pytest.raises(TypeError, match="convpool"):
        create_member("convpool", kernal_size=3)


def test_config_errors(tmp_path):
    (tmp_path / "members").mkdir()
    bad = tmp_path / "members" / "x.yaml"
    bad.write_text("name: x\narch: convpool\narch_arg: {}\n")
    with pytest.raises(ValueError, match="arch_arg"):
        load_member_config(bad)
    with pytest.raises(ValueError, match="unknown member"):
        load_configs(members=["nope"])


def test_quick_config_scales_distortion():
    full = {c["name"]: c for c in CONFIGS}
    for q in load_configs(quick=True):
        f = full[q["name"]]
        assert q["distortion"]["rotation"] == pytest.approx(f["distortion"]["rotation"] * 0.5)
        # a probability is not a magnitude: the quick run halves how far, not how often
        assert q["distortion"].get("lowres_p") == f["distortion"].get("lowres_p")
        assert q["distortion"]["elastic_sigma"] == f["distortion"]["elastic_sigma"]
        assert q["train"]["batch_size"] == 64 and q["data"]["train_subset"] == 12800
