"""Channels-last inference copies of the scan networks: 1-D convolutions run as 2-D ones in NHWC layout.

oneDNN (through torch) runs a ``Conv1d`` on ``(N, C, L)`` tensors by reordering each layer's input and output to and
from its blocked layout; as a ``Conv2d`` with a ``(1, k)`` kernel on a ``channels_last`` ``(N, C, 1, L)`` tensor it
uses NHWC kernels directly and the activations stay in that layout from layer to layer. Measured on the 2-core
benchmark machine (``benchmarks/throughput.py`` has the rows): 1 Mbp of chr8 calls on 2 workers, back to back, genomic
zoo 10.25 -> 7.75 s, fast zoo 2.6 -> 2.15 s; 100 kbp with tracks 6.4 -> 4.3 s and 1.8 -> 1.4 s. Batch norm is
folded into each convolution as in ``torch.fx.experimental.optimization.fuse``. The outputs equal the model's in eval
mode up to float rounding (about 1e-5 in the logits: the summation order differs), so calls near a threshold can change: the
``changed_call_fraction`` rows of ``benchmarks/results/throughput.json`` count them.

:func:`channels_last_copy` takes a :class:`~tfscope.models.dilated.DilatedResNet`, a
:class:`~tfscope.zoo.student.LocalizerStudent` or a :class:`~tfscope.zoo.student.StridedDetector` and returns a module
with the same input and output shapes (inputs ``(N, 4, L)`` float one-hot, as for the original).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..zoo.student import LocalizerStudent, StemPool, StridedDetector
from .dilated import DilatedResNet

_CL = torch.channels_last


def conv2d_from(conv: nn.Conv1d, bn: nn.BatchNorm1d | None = None) -> nn.Conv2d:
    """A ``Conv2d`` with a ``(1, k)`` kernel equal to ``conv`` (``bn``, in eval mode, folded in), channels-last weights.

    Raises ValueError for a strided or grouped convolution, or a padding that is not a number.
    """
    if conv.stride[0] != 1 or conv.groups != 1 or isinstance(conv.padding, str):
        raise ValueError("channels_last_copy supports unstrided, ungrouped convolutions with numeric padding")
    if bn is not None:
        conv = fuse_conv_bn_eval(conv.eval(), bn.eval())
    w = conv.weight.detach()
    out = nn.Conv2d(conv.in_channels, conv.out_channels, (1, conv.kernel_size[0]), padding=(0, conv.padding[0]),
                    dilation=(1, conv.dilation[0]), bias=True, device=w.device, dtype=w.dtype)  # the model's device
    with torch.no_grad():
        out.weight.copy_(w[:, :, None, :])
        out.bias.copy_(conv.bias.detach() if conv.bias is not None else torch.zeros_like(w[:, 0, 0]))
    return out.to(memory_format=_CL).eval()


class Pointwise2d(nn.Module):
    """A 1x1 convolution on ``(N, C, 1, L)`` channels-last tensors as one matrix product over the channels: torch runs
    1x1 ``Conv2d`` on channels-last input through its slow reference path (0.27 s of the genomic zoo's 11 s per Mbp,
    one thread). Output ``(N, C_out, 1, L)``, channels-last memory."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.weight = nn.Parameter(conv.weight.detach()[:, :, 0, 0].clone(), requires_grad=False)
        self.bias = nn.Parameter(conv.bias.detach().clone(), requires_grad=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Return the 1x1 convolution of ``h``."""
        return self.linear(h.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def linear(self, h: torch.Tensor) -> torch.Tensor:
        """The same on channels-last-ordered ``h`` ``(..., C)`` -> ``(..., C_out)``."""
        return F.linear(h, self.weight, self.bias)


def pointwise_or_conv(conv: nn.Conv1d, bn: nn.BatchNorm1d | None = None) -> nn.Module:
    """:func:`conv2d_from`, as a :class:`Pointwise2d` for a kernel of 1."""
    c = conv2d_from(conv, bn)
    return Pointwise2d(c) if conv.kernel_size[0] == 1 else c


def to_nhwc(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, L)`` -> ``(N, C, 1, L)`` in channels-last memory (one copy)."""
    return x[:, :, None, :].contiguous(memory_format=_CL)


class ResBlocks2d(nn.Module):
    """:class:`~tfscope.models.dilated.ResBlock` s (conv-BN-ReLU, conv-BN, add, ReLU) on ``(N, C, 1, L)`` NHWC."""

    def __init__(self, blocks):
        super().__init__()
        self.convs = nn.ModuleList(nn.ModuleList([conv2d_from(b.conv1, b.bn1), conv2d_from(b.conv2, b.bn2)])
                                   for b in blocks)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Return the blocks' output, the shape and layout of ``h``."""
        for c1, c2 in self.convs:  # in place on the convolutions' fresh outputs: 14% faster, the same values
            h = c2(torch.relu_(c1(h))).add_(h).relu_()
        return h


class DilatedResNet2d(nn.Module):
    """Channels-last copy of a :class:`~tfscope.models.dilated.DilatedResNet`: ``(N, 4, L)`` -> its output shape."""

    def __init__(self, m):
        super().__init__()
        self.stem = conv2d_from(m.stem[0], m.stem[1])
        self.blocks = ResBlocks2d(m.blocks)
        self.head = pointwise_or_conv(m.head)
        self.n_outputs = m.n_outputs
        self.receptive_field = m.receptive_field

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, L)``, or ``(N, T, L)`` for a multi-output network."""
        out = self.head(self.blocks(torch.relu_(self.stem(to_nhwc(x)))))[:, :, 0]
        return out[:, 0] if self.n_outputs is None else out


class LocalizerStudent2d(nn.Module):
    """Channels-last copy of a :class:`~tfscope.zoo.student.LocalizerStudent`: ``(N, 4, L)`` -> ``(N, L)`` logits."""

    def __init__(self, m):
        super().__init__()
        self.net = nn.Sequential(*[pointwise_or_conv(layer) if isinstance(layer, nn.Conv1d) else
                                   nn.ReLU(inplace=True) if isinstance(layer, nn.ReLU) else layer for layer in m.net])
        self.receptive_field = m.receptive_field

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, L)``."""
        return self.net(to_nhwc(x))[:, 0, 0]


class StridedDetector2d(nn.Module):
    """Channels-last copy of a :class:`~tfscope.zoo.student.StridedDetector` (its motif layer a
    :class:`~tfscope.zoo.student.StemPool`, whose ``(N, bins, C)`` output already is NHWC).

    ``(N, 4, L)`` -> ``(N, T, ceil(L / stride))`` logits; ``binned`` and ``pooled`` are the original's methods.
    """

    # the original's methods: they call only self(...) and self.stride
    binned = StridedDetector.binned
    pooled = StridedDetector.pooled

    def __init__(self, m):
        super().__init__()
        if m.stem_pools:
            raise TypeError("channels_last_copy takes the StridedDetector itself, not its fused() copy")
        self.stem = StemPool(fuse_conv_bn_eval(m.stem[0].eval(), m.stem[1].eval()), m.stride)
        self.stride, self.n_outputs = m.stride, m.n_outputs
        self.blocks = ResBlocks2d(m.blocks)
        self.head = pointwise_or_conv(m.head)
        self.receptive_field = m.receptive_field

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Bin logits ``(N, T, ceil(L / stride))``."""
        x = F.pad(x, (0, -x.shape[-1] % self.stride))
        h = self.stem(x, nhwc=True)  # (N, C, 1, bins), channels-last memory
        return self.head(self.blocks(h))[:, :, 0]


def channels_last_copy(module: nn.Module) -> nn.Module:
    """Return the channels-last inference copy of a scan network (see the module docstring).

    Raises
    ------
    TypeError
        For a network of another class, or a :meth:`~tfscope.zoo.student.StridedDetector.fused` copy.
    """
    module = module.eval()
    for cls, copy_cls in ((DilatedResNet, DilatedResNet2d), (LocalizerStudent, LocalizerStudent2d),
                          (StridedDetector, StridedDetector2d)):
        if isinstance(module, cls):
            return copy_cls(module).eval()
    raise TypeError(f"no channels-last copy for {type(module).__name__}")
