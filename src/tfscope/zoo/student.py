"""A distilled detector for the gated zoo: the teacher's pooled detector track, predicted at a stride.

The gate (:mod:`tfscope.zoo.gated`) reads the detector only through ``G = maxpool(g)`` over ``2 * pool + 1`` bp
(101 bp in the shipped zoo): region-level evidence, not nucleotide-level. The teacher computes ``g`` at every
nucleotide on both strands (a 64-channel dilated ResNet: 510 GFLOP per Mbp, most of the default zoo's cost) and then
throws that resolution away in the pool. :class:`StridedDetector` predicts ``G`` directly, one value per ``stride``
bp bin (the bin's maximum of ``G``): a full-resolution motif layer, a max-pool to the bin grid, and dilated residual
blocks on the coarse grid, so most of its work runs on ``1 / stride`` of the positions.

It is trained on the teacher's outputs (knowledge distillation, Hinton et al. 2015; DNABERT distilled to 15% of its
parameters: Ji et al., Bioinformatics 2021) over real genome: tfbs-multilabel windows of the training chromosomes
(never chr7, chr8, chr9: :data:`tfscope.zoo.genomic.HOLDOUT_CHROMS`), laid end to end in genomic order as a scan sees
them and as separate records between N spacers as the per-site calibration scans them; early stopping on chr7.

Bins are anchored at the start of the input, so scans must feed inputs whose first column lies on a multiple of
``stride`` in record coordinates (:mod:`tfscope.scan` does: chunk margins and packed records are aligned to
:attr:`StridedDetector.stride` through ``GatedZoo.receptive_field`` and :data:`tfscope.scan.stream.ALIGN`).
"""

from __future__ import annotations

import copy
import gzip
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.dilated import ResBlock
from ..sequence import one_hot, reverse_complement_one_hot
from .genomic import HOLDOUT_CHROMS

#: bin width (bp) of the shipped student
STRIDE = 8


class StemPool(nn.Module):
    """Inference form of a one-hot motif layer (convolution, batch norm folded in, ReLU) and the max-pool to bins.

    The convolution runs as one matrix product over the unfolded input (im2col) and is max-pooled before its bias and
    ReLU, which are monotone, so the bins hold the values of conv -> ReLU -> max-pool. Written here because oneDNN's
    direct convolution (through torch) does poorly on 4 input channels: the fast zoo's 9-bp, 64-filter motif layer with
    its ReLU and pool took 5.6 ms per 6.5 kbp of both strands against 1.3 ms this way (one thread, the 2-core benchmark
    machine), with the same values. (The 16-filter localizer layers are faster as oneDNN convolutions.)

    ``(N, C_in, L)`` -> ``(N, C_out, L / stride)``; ``L`` must be a multiple of ``stride``.

    Raises
    ------
    ValueError
        For a convolution that is strided, dilated, grouped or not "same"-padded (odd kernel).
    """

    def __init__(self, conv: nn.Conv1d, stride: int):
        super().__init__()
        k = conv.kernel_size[0]
        if conv.stride[0] != 1 or conv.dilation[0] != 1 or conv.groups != 1 or k % 2 == 0 or conv.padding[0] != k // 2:
            raise ValueError("StemPool needs an unstrided, undilated, ungrouped convolution with 'same' padding")
        self.kernel, self.stride = k, int(stride)
        # (k * C_in, C_out), rows in (tap, channel) order: the order of the unfolded columns below
        self.register_buffer("weight", conv.weight.detach().permute(2, 1, 0).reshape(-1, conv.out_channels).clone())
        self.register_buffer("bias", conv.bias.detach().clone() if conv.bias is not None
                             else torch.zeros_like(conv.weight[:, 0, 0]).detach())

    def forward(self, x: torch.Tensor, nhwc: bool = False) -> torch.Tensor:
        """Return the pooled motif-layer activations ``(N, C_out, L / stride)`` of ``x`` ``(N, C_in, L)``.

        ``nhwc``: as ``(N, C_out, 1, L / stride)`` in channels-last memory instead (the same buffer, no copy), the input
        of :class:`tfscope.models.channels_last.StridedDetector2d`'s blocks.
        """
        n, c, L = x.shape
        cols = F.pad(x, (self.kernel // 2, self.kernel // 2)).unfold(2, self.kernel, 1)  # (N, C_in, L, k)
        y = torch.matmul(cols.permute(0, 2, 3, 1).reshape(n, L, self.kernel * c), self.weight)  # (N, L, C_out)
        y = torch.relu(y.view(n, L // self.stride, self.stride, -1).amax(2) + self.bias)  # (N, bins, C_out)
        return y[:, None].permute(0, 3, 1, 2) if nhwc else y.transpose(1, 2)


class StridedDetector(nn.Module):
    """Multi-TF detector that predicts the pooled track ``G`` at a stride.

    Parameters
    ----------
    n_outputs : int
        TFs (one output track each).
    channels : int
        Width of the motif layer and of the coarse-grid blocks.
    stride : int
        Bin width (bp): one output per ``stride`` bp.
    n_blocks : int
        Residual blocks on the coarse grid (block ``i``: dilation ``2**i`` bins).
    kernel, stem_kernel : int
        Kernel of the coarse-grid convolutions (bins) and of the motif layer (bp).
    dropout : float
        Dropout inside each block (training only).

    Shapes
    ------
    :meth:`forward`: ``(N, 4, L)`` one-hot -> ``(N, n_outputs, ceil(L / stride))`` logits of the bin maxima of ``G``
    (``L`` is padded with N up to a multiple of ``stride``). :meth:`pooled`: ``(N, 4, L)`` -> ``(N, n_outputs, L)``
    probabilities, each bin's value repeated over its nucleotides, the two strands averaged.
    """

    def __init__(self, n_outputs: int, channels: int = 64, stride: int = STRIDE, n_blocks: int = 4, kernel: int = 3,
                 stem_kernel: int = 9, dropout: float = 0.0):
        super().__init__()
        if stride < 1 or n_outputs < 1:
            raise ValueError(f"need stride >= 1 and n_outputs >= 1 (got {stride}, {n_outputs})")
        self.n_outputs, self.stride = int(n_outputs), int(stride)
        self.stem = nn.Sequential(nn.Conv1d(4, channels, stem_kernel, padding=stem_kernel // 2),
                                  nn.BatchNorm1d(channels), nn.ReLU())
        self.blocks = nn.Sequential(*[ResBlock(channels, kernel, 2 ** i, dropout) for i in range(n_blocks)])
        self.head = nn.Conv1d(channels, n_outputs, 1)
        #: bp that influence one output bin (motif layer, the bin, the coarse blocks)
        self.receptive_field = stem_kernel + stride * (1 + sum(2 * (kernel - 1) * 2 ** i for i in range(n_blocks)))

    #: the stem already pools to bins (:class:`StemPool`, in :meth:`fused` copies); a Python flag, so torch.fx traces
    #: either form
    stem_pools = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``(N, T, ceil(L / stride))`` logits for one-hot ``x`` ``(N, 4, L)``."""
        x = F.pad(x, (0, -x.shape[-1] % self.stride))  # no branch on x: torch.fx traces it (ScanModel fuses it)
        h = self.stem(x) if self.stem_pools else F.max_pool1d(self.stem(x), self.stride)
        return self.head(self.blocks(h))

    def fused(self) -> "StridedDetector":
        """Return an inference copy of the model in eval mode.

        Each convolution's batch norm is folded into it (values equal up to float rounding), and the motif layer and
        its max-pool run as one :class:`StemPool` (bit for bit the same as that layer, ReLU and pool: a test).
        """
        from torch.fx.experimental.optimization import fuse

        out = copy.deepcopy(self).eval()
        stem, out.blocks = fuse(out.stem), fuse(out.blocks)
        out.stem, out.stem_pools = StemPool(next(m for m in stem.modules() if isinstance(m, nn.Conv1d)), self.stride), True
        return out

    def binned(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``G`` per bin ``(N, T, L / stride)``: bin probabilities, forward and reverse strand averaged.

        :meth:`pooled` is this repeated over each bin's nucleotides (the same values). Raises ValueError unless ``L`` is
        a multiple of ``stride`` (the two strands share bins only then).
        """
        if x.shape[-1] % self.stride:
            raise ValueError(f"input length {x.shape[-1]} is not a multiple of the stride {self.stride}")
        n = x.shape[0]
        p = torch.sigmoid(self(torch.cat([x, reverse_complement_one_hot(x)])))
        return (p[:n] + p[n:].flip(-1)) / 2

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``G`` ``(N, T, L)``: bin probabilities repeated per nucleotide, forward and reverse strand averaged.

        The reverse strand's bins are the forward bins when ``L`` is a multiple of ``stride`` (scans feed such inputs),
        so the result is then reverse-complement symmetric.
        """
        n, L = x.shape[0], x.shape[-1]
        p = torch.sigmoid(self(torch.cat([x, reverse_complement_one_hot(x)])))
        p = p.repeat_interleave(self.stride, dim=-1)
        return (p[:n, :, :L] + p[n:].flip(-1)[:, :, -L:]) / 2


def widened_stem(state: dict, stem_kernel: int) -> dict:
    """Return a :class:`StridedDetector` state dict with its motif layer widened to ``stem_kernel`` bp.

    Zero taps are added on both sides of each filter, so a detector built with the wider ``stem_kernel`` computes the
    same function from it (a test); training then uses the new taps (the fast zoo's 9-bp motif layer grew to 17 bp
    this way in session 26: ``scripts/distill_zoo.py --init``). Raises ValueError when the layer would shrink or grow
    by an odd number of taps.
    """
    w = state["stem.0.weight"]
    grow = int(stem_kernel) - w.shape[-1]
    if grow < 0 or grow % 2:
        raise ValueError(f"a {w.shape[-1]}-bp motif layer cannot grow to {stem_kernel} bp (an even widening)")
    return {**state, "stem.0.weight": F.pad(w, (grow // 2, grow // 2))}


def teacher_pooled(detector: nn.Module, x: torch.Tensor, pool: int, stride: int) -> torch.Tensor:
    """Return the student's training target: bin maxima ``(N, T, L // stride)`` of the teacher's ``G``.

    ``G = maxpool(g)`` over ``2 * pool + 1`` bp, ``g`` the teacher's sigmoid output averaged over both strands and 0
    where ``x`` has no base (exactly as :class:`tfscope.zoo.gated.GatedZoo` computes it). ``L`` must be a multiple of
    ``stride``.
    """
    if x.shape[-1] % stride:
        raise ValueError(f"input length {x.shape[-1]} is not a multiple of the stride {stride}")
    n = x.shape[0]
    p = torch.sigmoid(detector(torch.cat([x, reverse_complement_one_hot(x)])))
    g = (p[:n] + p[n:].flip(-1)) / 2 * (x.sum(1, keepdim=True) > 0)
    big = F.max_pool1d(g, 2 * pool + 1, stride=1, padding=pool)
    return F.max_pool1d(big, stride)


def distill_segments(windows_path, *, chroms=None, exclude=HOLDOUT_CHROMS, length: int = 2048, spacer: int = 120,
                     max_bp: int | None = None, seed: int = 0) -> np.ndarray:
    """Genome segments for distillation: ``(n, 4, length)`` float32 one-hot, half of each kind.

    From the tfbs-multilabel windows table (columns ``id chrom start end split tfs sequence``) of ``chroms`` (or every
    chromosome but ``exclude``): *concatenated* segments (the windows of a chromosome end to end in genomic order, as
    ``benchmarks/throughput.py`` and a scan of a peak set see them) and *spaced* segments (each window between
    ``spacer`` N, as the per-site calibration scans them, :func:`tfscope.zoo.sites.window_points`). ``max_bp`` caps
    the bases per kind (a seeded sample of segments). Raises ValueError when no window qualifies.
    """
    by_chrom: dict[str, list] = {}
    with gzip.open(windows_path, "rt") as fh:
        fh.readline()
        for line in fh:
            c = line.rstrip("\n").split("\t")
            if (chroms is not None and c[1] not in chroms) or (chroms is None and c[1] in exclude):
                continue
            by_chrom.setdefault(c[1], []).append((int(c[2]), c[6]))
    if not by_chrom:
        raise ValueError(f"no windows of {chroms or 'the training chromosomes'} in {windows_path}")
    cat, spaced = [], []
    for rows in by_chrom.values():
        rows.sort()
        s = "".join(r[1] for r in rows)
        cat += [s[i:i + length] for i in range(0, len(s) - length + 1, length)]
        gap = "N" * spacer
        t = gap + gap.join(r[1] for r in rows) + gap
        spaced += [t[i:i + length] for i in range(0, len(t) - length + 1, length)]
    rng = np.random.default_rng(seed)
    out = []
    for segs in (cat, spaced):
        if max_bp is not None and len(segs) * length > max_bp:
            segs = [segs[i] for i in np.sort(rng.choice(len(segs), max_bp // length, replace=False))]
        out.append(one_hot(segs, length=length))
    return np.concatenate(out).astype(np.float32)


@torch.no_grad()
def teacher_targets(detector: nn.Module, x: np.ndarray, *, pool: int, stride: int, batch: int = 16,
                    verbose: bool = True) -> np.ndarray:
    """:func:`teacher_pooled` over ``x`` ``(n, 4, L)`` in batches -> float16 ``(n, T, L // stride)``."""
    detector.eval()
    out, t0 = [], time.time()
    for i in range(0, len(x), batch):
        out.append(teacher_pooled(detector, torch.from_numpy(x[i:i + batch]), pool, stride).half().numpy())
        if verbose and (i // batch) % 50 == 0:
            print(f"[distill] teacher {i + batch}/{len(x)} segments ({time.time() - t0:.0f}s)", flush=True)
    return np.concatenate(out)


def distill_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the student's bin logits against the teacher's bin probabilities (soft targets)."""
    return F.binary_cross_entropy_with_logits(logits, target.float())


def with_reverse_complements(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training pairs doubled with each segment's reverse complement and its target's bins reversed."""
    xr = x[:, ::-1, ::-1]  # one-hot rows A C G T: reversing the rows complements
    return np.concatenate([x, xr]), np.concatenate([y, y[:, :, ::-1]])


def save_targets(path, x: np.ndarray, y: np.ndarray) -> None:
    """Cache segments (as uint8) and targets in one ``.npz``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x.astype(np.uint8), y=y)


class LocalizerStudent(nn.Module):
    """A small per-TF localizer distilled from a CNN localizer of the genomic zoo (the fast zoo's "where").

    Three convolutions: a motif layer (``kernel`` bp), a dilated layer and a 1x1 head; 29 bp of receptive field by
    default against 131 bp for the 16-channel dilated ResNet it learns from, and about a quarter of its FLOPs, so the
    gated zoo's calls-only pass (:class:`tfscope.zoo.gated.GatedCalls`) runs it on much shorter stretches.

    Shapes: ``(N, 4, L)`` one-hot -> ``(N, L)`` logits.
    """

    def __init__(self, channels: int = 16, hidden: int = 8, kernel: int = 21, kernel2: int = 5, dilation: int = 2):
        super().__init__()
        #: constructor arguments, all of them (what a checkpoint stores, so later default changes cannot alter it)
        self.hparams = {"channels": channels, "hidden": hidden, "kernel": kernel, "kernel2": kernel2,
                        "dilation": dilation}
        self.net = nn.Sequential(nn.Conv1d(4, channels, kernel, padding=kernel // 2), nn.ReLU(),
                                 nn.Conv1d(channels, hidden, kernel2, padding=dilation * (kernel2 // 2),
                                           dilation=dilation), nn.ReLU(),
                                 nn.Conv1d(hidden, 1, 1))
        #: bp that influence one output
        self.receptive_field = kernel + dilation * (kernel2 - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``(N, L)`` for one-hot ``x`` ``(N, 4, L)``."""
        return self.net(x)[:, 0]

    @torch.no_grad()
    def seed_matrix(self, log_odds: np.ndarray, scale: float = 0.25) -> "LocalizerStudent":
        """Start the first two motif filters as the TF's log-odds matrix ``(4, W)`` and its reverse complement.

        Centred in the kernel (cropped to it when wider), times ``scale``; a head start for distillation.
        """
        k = self.net[0].weight.shape[-1]
        lo = np.asarray(log_odds, np.float32)
        if lo.shape[1] > k:
            c = (lo.shape[1] - k) // 2
            lo = lo[:, c:c + k]
        a = (k - lo.shape[1]) // 2
        for f, m in enumerate((lo, lo[::-1, ::-1])):
            self.net[0].weight[f].zero_()
            self.net[0].weight[f, :, a:a + m.shape[1]] = torch.from_numpy(np.ascontiguousarray(m)) * scale
        return self


def both_strand_max(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``max(sigmoid(net(x)), sigmoid(net(rc x)) flipped back)`` ``(N, L)``: the gated zoo's localizer rule.

    A network with a ``strand_max`` method computes it itself (the int8 localizer student folds both strands into
    one pass: :class:`tfscope.models.int8.LocalizerStudentInt8`).
    """
    if hasattr(net, "strand_max"):
        return net.strand_max(x)
    n = x.shape[0]
    p = torch.sigmoid(net(torch.cat([x, reverse_complement_one_hot(x)])))
    return torch.maximum(p[:n], p[n:].flip(-1))


def localizers_strand_max(nets, x: torch.Tensor) -> torch.Tensor:
    """:func:`both_strand_max` of each of ``nets`` (one zoo's localizers) on ``x`` ``(N, 4, L)``: ``(N, len(nets), L)``.

    Localizers with a ``quantize_input`` method (the int8 students) share one quantized copy of ``x``: quantizing it
    for each of 45 localizers took about 6% of a dense scan (the same values).
    """
    quantize = getattr(nets[0], "quantize_input", None)
    xs = quantize(x) if quantize is not None else x
    return torch.stack([both_strand_max(net, xs) for net in nets], dim=1)


def localizer_loss(p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Masked binary cross-entropy of probabilities ``p`` ``(N, L)`` against the teacher's.

    ``target`` is ``(N, 2, L)``: the teacher's both-strand probability and a 0/1 mask of the nucleotides that count
    (those whose localizer output can reach a call: near where the detector lets the gate reach its threshold).
    """
    w = target[:, 1].float()
    bce = F.binary_cross_entropy(p.clamp(1e-6, 1 - 1e-6), target[:, 0].float(), reduction="none")
    return (bce * w).sum() / w.sum().clamp_min(1.0)


class StrandMax(nn.Module):
    """Wrap a localizer so that its output is :func:`both_strand_max` (for training with :func:`tfscope.train.fit`)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return probabilities ``(N, L)``."""
        return both_strand_max(self.net, x)
