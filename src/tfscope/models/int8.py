"""int8 copies of the channels-last scan networks: static quantization on torch's x86 engine (the fast zoo's runtime).

The convolutions after the one-hot input run as ``torch.ao.nn.quantized`` int8 convolutions: weights quantized per
output channel (symmetric, their largest magnitude / 127), activations per tensor with scales taken from the float
network's largest activation on fixed calibration DNA (:func:`calibration_input`: bundled real DNA and seeded
random DNA, both strands), the residual add and its ReLU as one quantized op; the one-hot input is exact in
uint8 and the 1x1 heads stay in float32 (the strided detector's motif layer, a float matrix product until session 22,
runs in int8 too: :class:`StridedDetectorInt8`). :data:`SCHEME` numbers this arithmetic: it is part of the runtime
name that caches and the variant null are keyed by (:func:`tfscope.zoo.gated.effective_runtime`).

Why a zoo calibrated in float32 cannot just switch to it (``benchmarks/throughput.py`` has the rows): on the 2-core
benchmark machine a 64-channel dilated layer of the fast zoo's detector ran in 6.3 ms against 17.4 ms in float32 and the
fast zoo's calls pass 1.4x faster, but about 3.5% of the positions at or above a call threshold change (q moves by up to
about 0.03), far above the 1% of calls a runtime may change (issue 44) for a zoo whose thresholds and precision maps
were calibrated in float32. A zoo calibrated under int8 keeps its calls' quality (both bundled multi-TF zoos, which
declare it: ``GatedZoo(runtime="int8")``; ``docs/genome_scale.md``). torch 2.13 marks its quantized tensors as
deprecated (the successor is torchao's PT2E flow, which lowers through ``torch.compile``).

:func:`int8_copy` takes the channels-last copies of :mod:`tfscope.models.channels_last`
(``DilatedResNet2d``, ``LocalizerStudent2d``, ``StridedDetector2d``) and returns a module with the same input and
output shapes; x86-64 CPUs only (:func:`int8_available`).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .channels_last import DilatedResNet2d, LocalizerStudent2d, ResBlocks2d, StridedDetector2d, to_nhwc

#: version of the int8 arithmetic (2: the strided detector's motif layer in int8, session 22); a change of it changes
#: the outputs of some int8 network, so zoos calibrated under the old one must be recalibrated
SCHEME = 2

# torch 2.13 warns once per call site that quantized tensors are deprecated; the runtime's docs say so instead
warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor", category=UserWarning)


def int8_available() -> bool:
    """Whether this torch has the quantized engine the int8 copies are built for (x86 or fbgemm: x86-64 CPUs)."""
    return bool({"x86", "fbgemm"} & set(torch.backends.quantized.supported_engines))


def calibration_input(length: int = 1024, n_random: int = 8, seed: int = 0) -> torch.Tensor:
    """Fixed calibration DNA ``(M, 4, length)`` float one-hot, both strands.

    The bundled calibration DNA (``int8_calibration.fa``: six real hg19 regions of about 370 bp, a frozen copy of the
    2026-12-05 demo regions) cut or padded with N to ``length``, and ``n_random`` seeded uniform random sequences;
    each with its reverse complement. A zoo calibrated under the int8 runtime (the fast zoo) depends on this input
    through its activation scales: changing it means recalibrating that zoo (``tests/test_int8.py`` pins
    :func:`calibration_fingerprint`). Small, because every scan builds its int8 copies from it (0.15 s for the fast
    zoo).
    """
    from ..io.fasta import read_fasta
    from ..resources import resource
    from ..sequence import one_hot

    seqs = [s[:length] for s in read_fasta(resource("int8_calibration")).values()]
    rng = np.random.default_rng(seed)
    seqs += ["".join(rng.choice(list("ACGT"), length)) for _ in range(n_random)]
    x = torch.from_numpy(one_hot([s.upper() for s in seqs], length=length)).float()
    return torch.cat([x, x.flip(-1).flip(-2)])


def calibration_fingerprint() -> str:
    """The first 12 hex digits of the sha256 of :func:`calibration_input` (what caches of int8 outputs are keyed by)."""
    import hashlib

    return hashlib.sha256(calibration_input().numpy().tobytes()).hexdigest()[:12]


def _qconv(conv: nn.Conv2d, relu: bool, scale: float, zero_point: int) -> nn.Module:
    """An int8 copy of a float ``Conv2d`` (ReLU fused when ``relu``), output quantized with ``scale, zero_point``."""
    import torch.ao.nn.intrinsic.quantized as nniq
    import torch.ao.nn.quantized as nnq

    w = conv.weight.detach().float()
    ws = (w.abs().amax(dim=(1, 2, 3)) / 127).clamp_min(1e-8).double()
    cls = nniq.ConvReLU2d if relu else nnq.Conv2d
    q = cls(conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding, dilation=conv.dilation)
    q.set_weight_bias(torch.quantize_per_channel(w, ws, torch.zeros(len(ws), dtype=torch.long), 0, torch.qint8),
                      conv.bias.detach().float())
    q.scale, q.zero_point = float(scale), int(zero_point)
    return q


def _unsigned(top: float) -> tuple[float, int]:
    """Scale and zero point of a non-negative activation whose largest value is ``top``."""
    return max(top, 1e-6) / 255, 0


def _signed(top: float) -> tuple[float, int]:
    """Scale and zero point of an activation of either sign whose largest magnitude is ``top``."""
    return max(top, 1e-6) / 127, 128


class ResBlocksInt8(nn.Module):
    """int8 :class:`~tfscope.models.channels_last.ResBlocks2d`: ``(N, C, 1, L)`` quint8 -> the same, NHWC."""

    def __init__(self, blocks: ResBlocks2d, h: torch.Tensor):
        super().__init__()
        self.convs, self.out = nn.ModuleList(), []
        with torch.no_grad():
            for c1, c2 in blocks.convs:
                a = torch.relu(c1(h))
                b = c2(a)
                h = torch.relu(b + h)
                self.convs.append(nn.ModuleList([_qconv(c1, True, *_unsigned(float(a.max()))),
                                                 _qconv(c2, False, *_signed(float(b.abs().max())))]))
                self.out.append(_unsigned(float(h.max())))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Return the blocks' output (quint8, NHWC)."""
        for (c1, c2), (scale, zp) in zip(self.convs, self.out):
            h = torch.ops.quantized.add_relu(c2(c1(h)), h, scale, zp)
        return h


def _quantize_one_hot(x: torch.Tensor) -> torch.Tensor:
    """``(N, 4, L)`` one-hot -> ``(N, 4, 1, L)`` quint8 NHWC (0 and 1 exactly)."""
    return torch.quantize_per_tensor(to_nhwc(x), 1.0, 0, torch.quint8)


class DilatedResNetInt8(nn.Module):
    """int8 copy of a ``DilatedResNet2d``: ``(N, 4, L)`` -> its output shape (stem and blocks int8, head float)."""

    def __init__(self, m: DilatedResNet2d, calib: torch.Tensor):
        super().__init__()
        with torch.no_grad():
            h = torch.relu(m.stem(to_nhwc(calib)))
        self.stem = _qconv(m.stem, True, *_unsigned(float(h.max())))
        self.blocks = ResBlocksInt8(m.blocks, h)
        self.head, self.n_outputs, self.receptive_field = m.head, m.n_outputs, m.receptive_field

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, L)``, or ``(N, T, L)`` for a multi-output network."""
        out = self.head(self.blocks(self.stem(_quantize_one_hot(x))).dequantize())[:, :, 0]
        return out[:, 0] if self.n_outputs is None else out


def _strand_folded(q: nn.Module, complement: bool, groups: int) -> nn.Module:
    """The int8 convolution ``q`` (ReLU fused, "same" padding) with its reverse-strand twin as a second group.

    The twin's filters are ``q``'s reversed along the sequence (and, with ``complement``, over the one-hot channels:
    A<->T, C<->G), the same int8 values and per-channel scales, bias and output scale. On the forward input it gives
    at position ``i`` what ``q`` gives on the reverse-complement input at the mirrored position, in the same integers
    (int8 products summed in int32, requantized per channel alike). ``groups``: 1 for a layer on the one-hot input,
    2 after a folded layer (each strand's channels to its own half).
    """
    import torch.ao.nn.intrinsic.quantized as nniq

    w = q.weight()  # quantized per output channel
    iw = w.int_repr()
    twin = iw.flip(-1).flip(1) if complement else iw.flip(-1)
    scales, zps = w.q_per_channel_scales(), w.q_per_channel_zero_points()
    c_in = w.shape[1] * groups
    out = nniq.ConvReLU2d(c_in, 2 * w.shape[0], q.kernel_size, padding=q.padding, dilation=q.dilation, groups=groups)
    out.set_weight_bias(torch._make_per_channel_quantized_tensor(torch.cat([iw, twin]), torch.cat([scales, scales]),
                                                                 torch.cat([zps, zps]), 0), torch.cat([q.bias()] * 2))
    out.scale, out.zero_point = q.scale, q.zero_point
    return out


class LocalizerStudentInt8(nn.Module):
    """int8 copy of a ``LocalizerStudent2d``: ``(N, 4, L)`` -> ``(N, L)`` logits (two convolutions int8, head float).

    :meth:`strand_max` gives the gated zoo's both-strand localizer probability in one pass over the forward strand.
    """

    def __init__(self, m: LocalizerStudent2d, calib: torch.Tensor):
        super().__init__()
        c1, c2, head = (layer for layer in m.net if not isinstance(layer, nn.ReLU))
        with torch.no_grad():
            a = torch.relu(c1(to_nhwc(calib)))
            b = torch.relu(c2(a))
        self.c1, self.c2 = _qconv(c1, True, *_unsigned(float(a.max()))), _qconv(c2, True, *_unsigned(float(b.max())))
        self.head, self.receptive_field = head, m.receptive_field
        # both strands in one pass (strand_max): 16 + 16 motif filters, then each strand's half of the dilated layer
        self.folded = nn.Sequential(_strand_folded(self.c1, True, 1), _strand_folded(self.c2, False, 2))
        self.hidden = b.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, L)``."""
        return self.head(self.c2(self.c1(_quantize_one_hot(x))).dequantize())[:, 0, 0]

    @staticmethod
    def quantize_input(x: torch.Tensor) -> torch.Tensor:
        """``(N, 4, L)`` one-hot -> the quantized input :meth:`strand_max` takes (one copy for many localizers)."""
        return _quantize_one_hot(x)

    def strand_max(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 4, L)`` -> ``(N, L)``: the larger of the two strands' probabilities, the reverse strand's flipped back.

        ``x`` a float one-hot, or its :meth:`quantize_input` copy.

        The same logits as :meth:`forward` on ``x`` and on its reverse complement (flipped back), bit for bit (a test),
        computed on the forward strand only (:func:`_strand_folded`), and the sigmoid, monotone, once on the larger
        logit (equal to the larger probability up to one float32 step: torch's sigmoid rounds a value differently in
        its vectorized and scalar paths, so where a value falls in a tensor matters; the fast zoo's BED of 1 Mbp of
        chr8 and its bigWigs came out byte-identical). One thread, 16 kbp: 0.83 ms against 1.03-1.26 ms through the
        reverse-complement batch (the input's flip and copy, two strands' dequantization and heads, two sigmoids).
        """
        h = self.folded(x if x.is_quantized else _quantize_one_hot(x))
        h = h.dequantize().permute(0, 2, 3, 1)  # (N, 1, L, 2 * hidden)
        k = self.hidden
        logit = torch.maximum(self.head.linear(h[..., :k]), self.head.linear(h[..., k:]))
        return torch.sigmoid(logit)[:, 0, :, 0]


def _stem_conv(stem) -> nn.Conv2d:
    """The float ``Conv2d`` (``(1, k)`` kernel, "same" padding, bias) of a :class:`~tfscope.zoo.student.StemPool`."""
    w = stem.weight.detach().T.reshape(-1, stem.kernel, stem.weight.shape[0] // stem.kernel)  # (C_out, k, C_in)
    conv = nn.Conv2d(w.shape[2], w.shape[0], (1, stem.kernel), padding=(0, stem.kernel // 2))
    with torch.no_grad():
        conv.weight.copy_(w.permute(0, 2, 1)[:, :, None, :])
        conv.bias.copy_(stem.bias.detach())
    return conv


class StridedDetectorInt8(nn.Module):
    """int8 copy of a ``StridedDetector2d``: the motif layer (with its ReLU) an int8 convolution on the exact uint8
    one-hot, the max-pool to bins on its int8 output, int8 blocks and a float head. ``(N, 4, L)`` -> ``(N, T,
    ceil(L / stride))`` logits.

    The float form of the motif layer (:class:`~tfscope.zoo.student.StemPool`, an im2col matrix product) took 6.6 ms
    per 6 x 8.2 kbp on one thread, more than the int8 blocks after it (3.9 ms); as fbgemm's int8 convolution with
    its pool, 1.0 ms (the input quantization included). Since session 22; the fast zoo was recalibrated under it.
    """

    binned = StridedDetector2d.binned
    pooled = StridedDetector2d.pooled

    def __init__(self, m: StridedDetector2d, calib: torch.Tensor):
        super().__init__()
        self.stride, self.n_outputs = m.stride, m.n_outputs
        calib = F.pad(calib, (0, -calib.shape[-1] % self.stride))
        with torch.no_grad():
            h = m.stem(calib, nhwc=True).contiguous(memory_format=torch.channels_last)
        # the pooled maximum is the layer's maximum: the same activation scale before and after the pool
        self.stem = _qconv(_stem_conv(m.stem), True, *_unsigned(float(h.max())))
        self.blocks = ResBlocksInt8(m.blocks, h)
        self.head, self.receptive_field = m.head, m.receptive_field

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Bin logits ``(N, T, ceil(L / stride))``."""
        x = F.pad(x, (0, -x.shape[-1] % self.stride))
        h = F.max_pool2d(self.stem(_quantize_one_hot(x)), (1, self.stride))
        return self.head(self.blocks(h).dequantize())[:, :, 0]


def int8_copy(module: nn.Module, calib: torch.Tensor | None = None) -> nn.Module:
    """Return the int8 copy of a channels-last scan network (see the module docstring).

    ``calib``: ``(M, 4, L)`` one-hot calibration input (default :func:`calibration_input`).

    Raises
    ------
    TypeError
        For a network that is not a channels-last copy of a scan network.
    RuntimeError
        Where torch has no x86/fbgemm quantized engine.
    """
    if not int8_available():
        raise RuntimeError("the int8 runtime needs torch's x86 or fbgemm quantized engine")
    calib = calibration_input() if calib is None else calib
    for cls, copy_cls in ((DilatedResNet2d, DilatedResNetInt8), (LocalizerStudent2d, LocalizerStudentInt8),
                          (StridedDetector2d, StridedDetectorInt8)):
        if isinstance(module, cls):
            return copy_cls(module, calib).eval()
    raise TypeError(f"no int8 copy for {type(module).__name__}")
