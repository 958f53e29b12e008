"""Attribution entry point: gradient, integrated gradients (captum), ShiftSmooth."""

import numpy as np
import pytest
import torch
from torch import nn

from tfscope.errors import InputError
from tfscope.interpret import METHODS, attribute, shiftsmooth_gradients
from tfscope.sequence import one_hot


class Linear(nn.Module):
    """Sequence logit = sum of position-independent base weights (gradient = weights everywhere)."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.tensor(w, dtype=torch.float32)

    def forward(self, x):
        return (x * self.w[None, :, None]).sum((1, 2))


class PerPosition(nn.Module):
    """(N, L) output: logit at position j = weight . x[:, :, j]."""

    def __init__(self):
        super().__init__()
        self.w = torch.tensor([1.0, 2.0, 3.0, 4.0])

    def forward(self, x):
        return (x * self.w[None, :, None]).sum(1)


class MotifDetector(nn.Module):
    """Max over positions of a convolution with a planted-motif filter (a one-hot PWM)."""

    def __init__(self, motif="GATA"):
        super().__init__()
        self.conv = nn.Conv1d(4, 1, len(motif), bias=False)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0] = torch.tensor(one_hot([motif])[0])

    def forward(self, x):
        return torch.relu(self.conv(x) - 3.0).amax(-1)[:, 0]


def test_gradient_linear_model_exact():
    x = one_hot(["ACGTTA", "GGCCAA"])
    w = [0.5, -1.0, 2.0, 3.0]
    a = attribute(Linear(w), x, method="gradient", multiply_by_inputs=False)
    np.testing.assert_allclose(a, np.broadcast_to(np.array(w)[None, :, None], a.shape))
    gi = attribute(Linear(w), x, method="gradient")
    np.testing.assert_allclose(gi.sum((1, 2)), Linear(w)(torch.tensor(x)).numpy(), rtol=1e-6)


def test_integrated_gradients_completeness():
    """IG from an all-zero baseline sums to f(x) - f(0) (captum, Sundararajan et al. 2017)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(4, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 8, 1), nn.Flatten(0))
    x = one_hot(["ACGTTAGCGA", "GGCCAATTAC"])
    a = attribute(model, x, method="integrated_gradients", n_steps=200)
    with torch.no_grad():
        diff = model(torch.tensor(x)) - model(torch.zeros_like(torch.tensor(x)))
    np.testing.assert_allclose(a.sum((1, 2)), diff.numpy(), atol=2e-3)


def test_shiftsmooth_shift0_is_gradient_and_shifts_back():
    model = MotifDetector()
    x = one_hot(["CCCCCGATACCCCCCC", "TTGATATTTTTTTTTT"])
    g = attribute(model, x, method="gradient")
    np.testing.assert_allclose(attribute(model, x, method="shiftsmooth", shift=0), g)
    for mode in ("circular", "zero"):
        s = attribute(model, x, method="shiftsmooth", shift=2, shift_mode=mode)
        # the motif-detector gradient is equivariant to shifts, so shifting back keeps it on the motif
        np.testing.assert_allclose(s, g, atol=1e-6)
        pos = np.abs(s).sum(1)
        assert pos[0, 5:9].sum() == pytest.approx(pos[0].sum())


def test_shiftsmooth_averages_over_shifts():
    """With a position-dependent model the ShiftSmooth gradient is the mean of the rolled-back gradients."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4 * 12, 1), nn.Flatten(0))
    x = torch.tensor(one_hot(["ACGTACGTACGT"]))
    w = model[1].weight.detach().reshape(4, 12)
    expect = torch.stack([torch.roll(w, -k, dims=-1) for k in range(-2, 3)]).mean(0)
    got = shiftsmooth_gradients(model, x, shift=2, mode="circular")[0]
    torch.testing.assert_close(got, expect)


def test_nucleotide_resolution_output_sum_and_target():
    x = one_hot(["ACGT", "TTTT"])
    m = PerPosition()
    a_sum = attribute(m, x, method="gradient")
    np.testing.assert_allclose(a_sum.sum(1), [[1, 2, 3, 4], [4, 4, 4, 4]])
    a_t = attribute(m, x, method="gradient", target=2)
    np.testing.assert_allclose(a_t.sum(1), [[0, 0, 3, 0], [0, 0, 4, 0]])


def test_batches_match_single_pass():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(4, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(40, 1), nn.Flatten(0))
    x = one_hot(["".join(np.random.default_rng(i).choice(list("ACGT"), 20)) for i in range(7)])
    for m in METHODS:
        np.testing.assert_allclose(attribute(model, x, method=m, batch_size=3),
                                   attribute(model, x, method=m, batch_size=100), atol=1e-6)


def test_bad_input():
    x = one_hot(["ACGT"])
    with pytest.raises(InputError, match="unknown attribution method"):
        attribute(PerPosition(), x, method="saliency-map")
    with pytest.raises(InputError, match=r"\(N, 4, L\)"):
        attribute(PerPosition(), np.zeros((2, 5, 4)), method="gradient")
    with pytest.raises(InputError, match="shift_mode"):
        attribute(PerPosition(), x, method="shiftsmooth", shift_mode="reflect")
