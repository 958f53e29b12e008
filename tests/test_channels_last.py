"""Channels-last inference copies of the scan networks (tfscope.models.channels_last; issue 44)."""

import random

import pytest
import torch

from tfscope.models.channels_last import channels_last_copy
from tfscope.sequence import one_hot
from tfscope.zoo.gated import GatedZoo
from tfscope.zoo.student import StridedDetector


def _x(n: int, length: int, seed: int = 0) -> torch.Tensor:
    rng = random.Random(seed)
    seqs = ["".join(rng.choice("ACGT") for _ in range(length)) for _ in range(n)]
    seqs[0] = "N" * 11 + seqs[0][11:]  # N (all-zero columns) included
    return torch.from_numpy(one_hot(seqs))


def _trained_like(m: torch.nn.Module) -> torch.nn.Module:
    """Batch-norm statistics away from the identity, so that folding them is tested."""
    torch.manual_seed(1)
    for b in m.modules():
        if isinstance(b, torch.nn.BatchNorm1d):
            b.running_mean.uniform_(-0.5, 0.5)
            b.running_var.uniform_(0.5, 2.0)
            b.weight.data.uniform_(0.5, 1.5)
            b.bias.data.uniform_(-0.2, 0.2)
    return m.eval()


def test_channels_last_copy_equals_the_network(scan_network):
    torch.manual_seed(0)
    m = _trained_like(scan_network())
    x = _x(2, 160)
    cl = channels_last_copy(m)
    with torch.no_grad():
        want, got = m(x), cl(x)
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        if isinstance(m, StridedDetector):
            torch.testing.assert_close(cl.binned(x), m.binned(x), atol=1e-6, rtol=1e-5)
            torch.testing.assert_close(cl.pooled(x[..., :155]), m.pooled(x[..., :155]), atol=1e-6, rtol=1e-5)
            with pytest.raises(TypeError, match="fused"):
                channels_last_copy(m.fused())
    with pytest.raises(TypeError, match="no channels-last copy"):
        channels_last_copy(torch.nn.Linear(3, 2))


def test_gated_zoo_inference_copy_keeps_the_zoo_and_its_outputs():
    torch.manual_seed(0)
    zoo = GatedZoo({"n_outputs": 2, "channels": 8, "stride": 8, "n_blocks": 2}, {"student": {"channels": 4}},
                   pool=10, detector_weight=0.7)
    zoo = _trained_like(zoo)
    x = _x(2, 256, 3)
    assert zoo.runtime == "channels-last"
    cl = zoo.inference_copy()
    assert cl.detector is not zoo.detector and isinstance(zoo.detector, StridedDetector)
    with torch.no_grad():
        want = zoo(x)
        torch.testing.assert_close(cl(x), want, atol=1e-5, rtol=1e-5)
        zoo.runtime = "fp32"
        try:
            torch.testing.assert_close(zoo.inference_copy()(x), want, atol=1e-5, rtol=1e-5)
            fp32 = torch.sigmoid(zoo.calls_network([0.0, 0.0])(x))
        finally:
            zoo.runtime = "channels-last"
        torch.testing.assert_close(torch.sigmoid(zoo.calls_network([0.0, 0.0])(x)), fp32, atol=1e-6, rtol=1e-5)
