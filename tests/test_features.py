"""ensemble.features: the first conv layers' feature maps, from the loaded ensemble's own nets."""
import numpy as np
import pytest
import torch

from ensemble import Ensemble
from ensemble.features import colorize, conv_feature_maps, feature_grid
from standins import ink_digits, save_oracles


@pytest.fixture(scope="module")
def ens(tmp_path_factory):
    return Ensemble(save_oracles(tmp_path_factory.mktemp("oracles")), device="cpu")    # BN folded, channels-last


def test_maps_are_relu_of_the_first_convs_in_call_order(ens):
    img = ink_digits()[7]
    maps = conv_feature_maps(ens, "a", img, layers=2)                 # a: convpool, channels [4, 8], 5x5
    assert [m.name for m in maps] == ["conv1", "conv2"]
    assert [m.maps.shape for m in maps] == [(4, 28, 28), (8, 14, 14)]
    assert maps[0].kernel == (5, 5) and maps[0].module == "features.0.0"
    net = ens.nets[0]
    x = torch.from_numpy(img).float().div(255)[None, None]
    with torch.no_grad():
        h = net.features[0](net.standardize(x))                       # conv (BN folded) + ReLU
        want2 = net.features[1:3](h)                                  # pool, conv block 2
    assert np.allclose(maps[0].maps, h[0].numpy(), atol=1e-5)
    assert np.allclose(maps[1].maps, want2[0].numpy(), atol=1e-5)
    assert all((m.maps >= 0).all() for m in maps)


def test_every_architecture_and_no_hook_left_behind(ens):
    for name in ens.member_names:
        maps = conv_feature_maps(ens, name, ink_digits()[3], layers=1)
        assert len(maps) == 1 and maps[0].maps.ndim == 3
    for net in ens.nets:
        assert all(not m._forward_hooks for m in net.modules())
    assert len(conv_feature_maps(ens, 2, ink_digits()[3], layers=4)) == 2       # msn stand-in: 2 convs run
    with pytest.raises(KeyError, match="unknown member"):
        conv_feature_maps(ens, "nobody", ink_digits()[3])


def test_feature_grid_is_one_tile_per_channel():
    maps = np.zeros((8, 14, 14), np.float32)
    maps[3] = 1.0
    img = feature_grid(maps, scale=2, columns=4)
    assert img.mode == "RGB" and img.size == (4 * 28 + 5 * 2, 2 * 28 + 3 * 2)
    a = np.asarray(img)
    assert (a[2 + 14, 2 + 3 * 30 + 14] == colorize(np.float32(1.0))).all()   # the strong channel: yellow
    assert (a[2 + 14, 2 + 14] == colorize(np.float32(0.0))).all()            # the others: dark
