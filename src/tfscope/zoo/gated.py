"""Detection x localization.

The genomic zoo's network says *whether* a TF binds near a nucleotide, each TF's nucleotide model says *where*.

Why: the multi-TF genomic network (:mod:`tfscope.zoo.multitask`) ranks real genome windows well (it was trained on
them) but localizes sites poorly inside a bound window; the per-TF models of the shuffled zoo (BertSNR protocol)
localize sites to the nucleotide but over-call genome background. Measured on the tfbs-snr test rows (2026-11-24):
window AUPRC, bound windows against their shuffles, 0.972 (network) vs 0.974 (per-TF models), but nucleotide AUPRC
*inside bound windows* 0.711 vs 0.963. :class:`GatedZoo` multiplies the network's evidence, max-pooled over
``pool`` bp each side, by the per-TF model's shape relative to its own local maximum:

    q(i) = G(i)^a * S(i)^(1 - a) * (s(i) / S(i))^beta,   G = maxpool(g), S = maxpool(s)

with ``g`` the network's and ``s`` the per-TF model's probability at nucleotide ``i`` (one strand; the scanner
combines the two strands of ``q``). ``a = 1`` ranks regions by the network alone; ``beta`` sharpens the shape.
The three numbers are chosen by ``scripts/build_zoo.py --gated`` on tfbs-snr validation rows and chr7 genome windows
(never chr8 or chr9); see ``docs/genomic.md``. This is a two-stage detector/localizer in the spirit of BertSNR's
sequence-level + token-level heads (Luo et al., Bioinformatics 2024), with the two stages trained separately.
"""

from __future__ import annotations

import copy
import warnings
import weakref

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TfscopeWarning
from ..models.dilated import DilatedResNet
from .student import LocalizerStudent, StridedDetector, both_strand_max, localizers_strand_max

#: probabilities are clipped to [EPS, 1 - EPS] before the logit (the scanner applies a sigmoid to model outputs)
EPS = 1e-6


def gate_probabilities(g: torch.Tensor, s: torch.Tensor, *, pool: int, shape_power: float,
                       detector_weight: float) -> torch.Tensor:
    """Gated probability track ``q`` (see the module docstring) from detector and localizer probabilities.

    Parameters
    ----------
    g, s : torch.Tensor, same shape ``(..., L)``
        Detector and localizer probabilities in [0, 1] along the last axis (nucleotides).
    pool : int
        Max-pool half width (bp): each nucleotide sees ``[i - pool, i + pool]``.
    shape_power : float
        ``beta``, the exponent of the localizer's relative shape ``s / maxpool(s)``.
    detector_weight : float
        ``a`` in [0, 1], the detector's share of the region level (geometric weighting).

    Returns
    -------
    torch.Tensor, the shape of ``g``, probabilities in [0, 1].

    Raises
    ------
    ValueError
        If the shapes differ, ``pool < 0`` or ``detector_weight`` is outside [0, 1].
    """
    if g.shape != s.shape:
        raise ValueError(f"detector and localizer shapes differ: {tuple(g.shape)} vs {tuple(s.shape)}")
    _check_gate(pool, detector_weight)
    L = g.shape[-1]
    q = _gate(g.reshape(1, -1, L), s.reshape(1, -1, L), pool, shape_power, detector_weight)
    return q.reshape(g.shape)


def _check_gate(pool: int, detector_weight: float) -> None:
    if pool < 0 or not 0.0 <= detector_weight <= 1.0:
        raise ValueError(f"need pool >= 0 and 0 <= detector_weight <= 1 (got {pool}, {detector_weight})")


def _gate(g: torch.Tensor, s: torch.Tensor, pool: int, shape_power: float, detector_weight: float,
          pooled: bool = False) -> torch.Tensor:
    """:func:`gate_probabilities` on ``(N, C, L)`` tensors without checks (traceable by torch.fx).

    ``pooled``: ``g`` is already ``G`` (a :class:`~tfscope.zoo.student.StridedDetector`'s output).
    """
    big_g = g if pooled else sliding_max(g, pool)
    return _gated(big_g ** detector_weight, s, pool, shape_power, detector_weight)


def _gated(g_power: torch.Tensor, s: torch.Tensor, pool: int, shape_power: float, detector_weight: float
           ) -> torch.Tensor:
    """Return the gate's ``q`` from ``G ** detector_weight`` and ``s``.

    :meth:`GatedZoo.forward` raises a strided detector's bins to the weight before repeating them per nucleotide.
    """
    big_s = sliding_max(s, pool).clamp_min(EPS)
    return g_power * big_s ** (1.0 - detector_weight) * (s / big_s) ** shape_power


def sliding_max(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Maximum of ``x`` ``(..., L)`` within ``radius`` positions each side, the window cut at the ends.

    Equal to ``max_pool1d(x, 2 * radius + 1, stride=1, padding=radius)`` for ``x >= 0`` (probabilities: the zero
    padding here never exceeds the window's own centre), computed by doubling (as a sparse table): windows of
    1, 2, 4, ... positions, each the maximum of two of the previous, then two overlapping ones cover the width. About
    ``log2(width) + 1`` elementwise maxima against the pool's ``width`` comparisons per output: 2.8 against 11.1 ms for
    4 x 45 x 6.5 kbp at radius 50 (one thread). Same shape as ``x``.
    """
    width = 2 * radius + 1
    length = x.shape[-1]
    m = F.pad(x, (radius, radius))
    span = 1
    while 2 * span <= width:  # m[i] = max of the span positions from i on
        m = torch.maximum(m[..., :-span], m[..., span:])
        span *= 2
    return torch.maximum(m[..., :length], m[..., width - span:width - span + length])


def base_mask(x: torch.Tensor) -> torch.Tensor:
    """``(N, 1, L)``: 1 at nucleotides with a base, 0 at N (all-zero one-hot) and padding, which carry no evidence."""
    return (x.sum(1, keepdim=True) > 0).to(x.dtype)


def strand_probabilities(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sigmoid of ``net`` on ``x`` and on its reverse complement (flipped back), in one batch."""
    n = x.shape[0]
    p = torch.sigmoid(net(torch.cat([x, x.flip(-1).flip(-2)])))
    return p[:n], p[n:].flip(-1)


def detector_probabilities(detector: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Return the detector's probabilities ``(N, T, L)``, strands averaged (the genomic zoo's rule)."""
    fwd, rev = strand_probabilities(detector, x)
    return (fwd + rev) / 2


class GatedZoo(nn.Module):
    """A multi-TF detector (one dilated CNN with ``n_outputs`` tracks) gated with one localizer per TF.

    Parameters
    ----------
    detector : dict
        :class:`tfscope.models.dilated.DilatedResNet` hyper-parameters of the detector (``n_outputs`` = TFs), or,
        with a ``stride`` key, :class:`tfscope.zoo.student.StridedDetector` ones: a distilled detector that predicts
        the pooled track ``G`` itself (the fast zoo, ``--zoo fast``).
    localizer : dict
        DilatedResNet hyper-parameters shared by the per-TF localizers (single output each), or ``{"student":
        {...}}``: :class:`tfscope.zoo.student.LocalizerStudent` hyper-parameters (distilled localizers; the fast zoo).
    pool, shape_power, detector_weight :
        See :func:`gate_probabilities`.
    runtime : str, optional
        The runtime the zoo was calibrated under (one of :data:`RUNTIMES`; stored in its checkpoint): the fast zoo
        declares ``int8``. Without it the zoo runs under the class default, ``channels-last``.

    Input ``(N, 4, L)`` one-hot; output ``(N, n_outputs, L)`` logits of ``q`` (clipped to [EPS, 1 - EPS]). Both
    networks see both strands, combined per nucleotide before the gate (:meth:`parts`), so the output is
    reverse-complement symmetric (``strand_symmetric``: :mod:`tfscope.scan` runs it once per piece, and its calls
    carry no strand). Positions without a base (N, padding) give both networks probability 0 before pooling, so a
    scan near N runs and sequence ends pools real nucleotides only. Fully
    convolutional: ``receptive_field`` covers both networks and the pooling, so :mod:`tfscope.scan` runs it in
    chunk mode like any zoo network.
    """

    #: the output is the same on both strands (strands are combined inside), so scans run one strand only
    strand_symmetric = True
    #: how :class:`GatedCalls` and the dense path run the networks (one of :data:`RUNTIMES`): the class default; a zoo
    #: built with ``runtime`` (stored in its checkpoint) runs under that one, and scripts may set it per zoo
    runtime = "channels-last"

    def __init__(self, detector: dict, localizer: dict, *, pool: int = 25, shape_power: float = 2.0,
                 detector_weight: float = 1.0, runtime: str | None = None):
        super().__init__()
        if runtime is not None:
            self.runtime = _checked_runtime(runtime)
        #: the runtime this zoo's checkpoint declares (None: the class default)
        self.declared_runtime = runtime
        n = detector.get("n_outputs")
        if not n:
            raise ValueError("the detector needs n_outputs (one track per TF)")
        #: True when the detector is a :class:`~tfscope.zoo.student.StridedDetector` (its output is ``G``)
        self.pooled = "stride" in detector
        self.detector = StridedDetector(**detector) if self.pooled else DilatedResNet(**detector)
        if "student" in localizer:
            self.localizers = nn.ModuleList(LocalizerStudent(**localizer["student"]) for _ in range(n))
        else:
            self.localizers = nn.ModuleList(DilatedResNet(**{**localizer, "n_outputs": None}) for _ in range(n))
        #: bp that influence one localizer output (the widest localizer)
        self.localizer_field = max(m.receptive_field for m in self.localizers)
        self.detector_hparams, self.localizer_hparams = dict(detector), dict(localizer)
        self.n_outputs = n
        self.set_gate(pool=pool, shape_power=shape_power, detector_weight=detector_weight)

    def set_gate(self, *, pool: int, shape_power: float, detector_weight: float) -> "GatedZoo":
        """Change the gate (no weights involved); raises ValueError as :func:`gate_probabilities`."""
        _check_gate(pool, detector_weight)
        self.pool, self.shape_power, self.detector_weight = int(pool), float(shape_power), float(detector_weight)
        if self.pooled:  # the student's field already covers the pool; chunk margins (rf // 2 + 1) on its bin grid
            rf = max(self.detector.receptive_field, self.localizer_field + 2 * self.pool)
            stride = self.detector.stride
            self.receptive_field = 2 * (-(-(rf // 2 + 1) // stride) * stride - 1)
        else:
            self.receptive_field = max(self.detector.receptive_field, self.localizer_field) + 2 * self.pool
        return self

    def one_output(self, index: int) -> "GatedOne":
        """TF ``index`` alone, forward strand (:class:`GatedOne`: paper protocol and attributions)."""
        return GatedOne(self, index)

    def hparams(self) -> dict:
        """Return constructor arguments (what the checkpoint's ``config.json`` stores)."""
        hp = {"detector": self.detector_hparams, "localizer": self.localizer_hparams, "pool": self.pool,
              "shape_power": self.shape_power, "detector_weight": self.detector_weight}
        if self.declared_runtime is not None:
            hp["runtime"] = self.declared_runtime
        return hp

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Detector and localizer probabilities ``(N, T, L)`` of ``x``.

        Each with its two strands combined by its own zoo's rule (detector: mean, the genomic zoo's; localizers: max,
        the shuffled zoo's) and 0 where there is no base. A strided detector (:attr:`pooled`) gives its ``G``.
        """
        base = base_mask(x)
        s = localizers_strand_max(self.localizers, x)
        g = self.detector.pooled(x) if self.pooled else detector_probabilities(self.detector, x) * base
        return g, s * base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return gated logits ``(N, T, L)`` for one-hot ``x`` ``(N, 4, L)`` (strands combined before the gate)."""
        if self.bin_power and x.shape[-1] % self.detector.stride == 0:
            s = localizers_strand_max(self.localizers, x) * base_mask(x)
            g_power = (self.detector.binned(x) ** self.detector_weight).repeat_interleave(self.detector.stride, -1)
            q = _gated(g_power, s, self.pool, self.shape_power, self.detector_weight)
        else:
            g, s = self.parts(x)
            q = _gate(g, s, self.pool, self.shape_power, self.detector_weight, self.pooled)
        return torch.logit(q.clamp(EPS, 1 - EPS))

    #: ``G ** detector_weight`` computed on a strided detector's bins, then repeated per nucleotide (the same values,
    #: an eighth of the pow): set on the dense inference copies (:meth:`inference_copy`), not on the torch.fx-traced
    #: ones (whose trace cannot branch on the input's length)
    bin_power = False

    def inference_copy(self) -> nn.Module:
        """Return the copy the dense path runs under :attr:`runtime`.

        The dense path is :attr:`tfscope.scan.engine.ScanModel.inference_model` (tracks, variant scores). With
        ``channels-last`` it is this zoo with its detector and localizers replaced by their channels-last copies
        (:mod:`tfscope.models.channels_last`; the gate's settings are shared), else the torch.fx conv/BN-fused copy.
        The same outputs up to float rounding.
        """
        layout = _layout(self)
        if layout == "ncl":
            from torch.fx.experimental.optimization import fuse

            return fuse(self.eval())
        out = copy.copy(self)  # shallow: a new module dict below, so this zoo keeps its own networks
        out._modules = dict(self._modules)
        out.detector, localizers = _inference_parts(self, layout)  # the copies GatedCalls runs, made once
        out.localizers = nn.ModuleList(localizers)
        if layout == "int8":
            out.batch_positions = DENSE_INT8_BATCH_POSITIONS
        out.bin_power = self.pooled
        return out.eval()

    def calls_network(self, floor) -> "GatedCalls":
        """Return an inference copy for calls only (:class:`GatedCalls`).

        Exact where ``q >= floor`` (per TF), below ``floor`` elsewhere, running each TF's localizer only where the
        detector lets ``q`` reach its floor.
        """
        return GatedCalls(self, floor)


#: inference runtimes of :class:`GatedCalls` (``GatedZoo.runtime``): ``channels-last`` (the default of a zoo that
#: declares none; both bundled multi-TF zoos declare ``int8``, their calls calibrated under it), the detector and
#: localizers as 2-D convolutions on channels-last tensors, batch norm folded (:mod:`tfscope.models.channels_last`);
#: ``fp32``, the torch.fx conv/BN-fused 1-D networks (oneDNN reorders every layer's activations); ``bf16``, fp32's
#: detector under bfloat16 autocast (oneDNN's AVX-512 BF16 kernels where the CPU has them); ``compile``,
#: ``torch.compile`` of fp32's detector (inductor C++ kernels); ``int8``, channels-last's networks with their
#: convolutions in int8 (:mod:`tfscope.models.int8`: static quantization, CPU only; the dense path too). Measured in
#: ``benchmarks/throughput.py`` (seconds and
#: the fraction of calls that change against fp32): channels-last was 17-24% faster on 1 Mbp of chr8 with 0.1-0.2% of
#: the BED lines changed (float rounding near thresholds). bf16 and compile leave the localizers in float32: under
#: bf16 autocast 43% of the genomic zoo's calls on 100 kbp of chr8 moved (the peak sets the call's position)
RUNTIMES = ("fp32", "channels-last", "bf16", "compile", "int8")

#: the inference copies (:func:`_inference_parts`) each runtime runs; the others run ``ncl``
_LAYOUTS = {"channels-last": "nhwc", "int8": "int8"}


def _checked_runtime(runtime: str) -> str:
    """Return ``runtime``; raises ValueError unless it is one of :data:`RUNTIMES`."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
    return runtime


def _layout(zoo: "GatedZoo") -> str:
    """Return the inference copies (a layout of :func:`_inference_parts`) ``zoo`` runs under its runtime.

    int8 runs on x86-64 CPUs only (torch's x86/fbgemm quantized engine), so on another device or CPU the zoo runs its
    channels-last float32 networks instead (with a warning: calls near a threshold may differ). Raises ValueError for
    an unknown runtime.
    """
    layout = _LAYOUTS.get(_checked_runtime(zoo.runtime), "ncl")
    if layout == "int8" and (where := _int8_unavailable(zoo)):
        warnings.warn(f"the zoo was calibrated under the int8 runtime, which runs on x86-64 CPUs only: {where} it "
                      "runs in float32 (calls near a threshold may differ)", TfscopeWarning, stacklevel=3)
        layout = "nhwc"
    return layout


def _int8_unavailable(zoo: "GatedZoo") -> str | None:
    """Return why ``zoo``'s int8 networks cannot run here (its device, or no x86 quantized engine), or None."""
    from ..models.int8 import int8_available

    device = next(zoo.parameters()).device
    return (f"on {device}" if device.type != "cpu" else
            None if int8_available() else "without torch's x86 quantized engine (not an x86-64 CPU)")


def effective_runtime(zoo: nn.Module) -> str | None:
    """Return the runtime ``zoo`` runs under here (its :attr:`GatedZoo.runtime`, or the int8 fallback).

    That is ``channels-last`` for an int8 zoo whose int8 networks cannot run here (:func:`_layout` falls back the
    same way, with a warning). For an int8 zoo the name carries the version of the int8 arithmetic and the fingerprint
    of the calibration DNA its activation scales come from: ``int8-v<SCHEME>:<fingerprint>``
    (:data:`tfscope.models.int8.SCHEME`, :func:`tfscope.models.int8.calibration_fingerprint`). Another network: its
    own ``runtime`` attribute, or None. What caches of scan outputs and the variant null are keyed by.
    """
    if not isinstance(zoo, GatedZoo):
        return getattr(zoo, "runtime", None)
    runtime = _checked_runtime(zoo.runtime)
    if runtime != "int8":
        return runtime
    if _int8_unavailable(zoo):
        return "channels-last"
    from ..models.int8 import SCHEME, calibration_fingerprint

    return f"int8-v{SCHEME}:{calibration_fingerprint()}"


#: nucleotides (both strands) per detector pass of :class:`GatedCalls`: 1.18 s per 100 kb at 24k against 1.42 s at
#: 72k (one thread, 2-core benchmark machine; the genomic zoo, session 19); a strided detector: below
DETECTOR_BATCH_POSITIONS = 24_000

#: the same for a strided int8 detector (the fast zoo's): 8 chunks of 6.5 kbp per pass. One thread, 40 chunks of chr8
#: (five runs each): 84 ms at one chunk per pass, 76 ms at 4, 73 ms at 8 and 16, 121 ms at all 40
STRIDED_DETECTOR_BATCH_POSITIONS = 110_000

#: nucleotides (both strands) per pass of the int8 dense copy (:meth:`GatedZoo.inference_copy`; chunk mode,
#: :func:`tfscope.scan.engine.chunk_track`): 4 chunks of 6 kbp with their margins. One thread, 240 kbp of chr8: the
#: fast zoo's localizers 0.69 -> 0.49 s against one chunk per pass (the default of float networks), the genomic zoo's
#: whole network 4.9-5.5 -> 4.2-4.6 s; 8 and 16 chunks no faster
DENSE_INT8_BATCH_POSITIONS = 56_000

#: inference copies of a GatedZoo's detector and localizers per layout (not submodules: the checkpoint's state_dict
#: stays the model's own): ``{"nhwc" | "ncl": (detector, [localizers]), "compiled": fn}`` (:func:`_inference_parts`)
_FUSED_PARTS: "weakref.WeakKeyDictionary[GatedZoo, dict]" = weakref.WeakKeyDictionary()


def _inference_parts(zoo: GatedZoo, layout: str) -> tuple:
    """Return ``(detector, [localizers])`` inference copies of ``zoo``, made once per zoo and layout.

    ``nhwc``: the channels-last copies (:func:`tfscope.models.channels_last.channels_last_copy`); ``int8``: their
    int8 copies (:func:`tfscope.models.int8.int8_copy`); ``ncl``: the conv/BN-fused 1-D ones (a strided detector's
    :meth:`~tfscope.zoo.student.StridedDetector.fused` copy).
    """
    parts = _FUSED_PARTS.setdefault(zoo, {})
    if layout not in parts:
        if layout == "int8":
            from ..models.int8 import calibration_input, int8_copy

            det, locs = _inference_parts(zoo, "nhwc")
            calib = calibration_input()
            parts[layout] = (int8_copy(det, calib), [int8_copy(m, calib) for m in locs])
        elif layout == "nhwc":
            from ..models.channels_last import channels_last_copy

            parts[layout] = (channels_last_copy(zoo.detector), [channels_last_copy(m) for m in zoo.localizers])
        else:
            from torch.fx.experimental.optimization import fuse

            det = zoo.detector.eval().fused() if zoo.pooled else fuse(zoo.detector.eval())
            parts[layout] = (det, [fuse(m.eval()) for m in zoo.localizers])
    return parts[layout]


def needed_spans(need: np.ndarray, gap: int) -> tuple[np.ndarray, ...]:
    """Stretches of needed positions along the last axis of ``need`` (bool, ``(..., L)``).

    Runs of ``True``, runs whose positions lie at most ``gap`` apart merged, in the order of :func:`numpy.nonzero`.
    Returns int64 arrays: the index of each stretch along every leading axis (as :func:`numpy.nonzero` gives them),
    then its first position and its end: ``(row, first, end)`` for an ``(N, L)`` array, ``(track, row, first, end)``
    for ``(T, N, L)``.
    """
    padded = np.zeros(need.shape[:-1] + (need.shape[-1] + 2,), np.int8)
    padded[..., 1:-1] = need
    d = np.diff(padded, axis=-1)
    *lead, s0 = np.nonzero(d == 1)
    e0 = np.nonzero(d == -1)[-1]
    if not len(s0):
        return tuple(np.zeros(0, np.int64) for _ in range(need.ndim + 1))
    new = np.ones(len(s0), bool)
    new[1:] = s0[1:] - (e0[:-1] - 1) > gap
    for k in lead:
        new[1:] |= k[1:] != k[:-1]
    first = np.flatnonzero(new)
    last = np.concatenate([first[1:], [len(s0)]]) - 1
    return (*(k[first].astype(np.int64) for k in lead), s0[first].astype(np.int64), e0[last].astype(np.int64))


def window_any(hit: torch.Tensor, radius: int) -> torch.Tensor:
    """Return whether any of ``hit`` (bool, ``(..., L)``) is True within ``radius`` positions each side.

    The window is cut at the ends: ``max_pool1d(hit, 2 * radius + 1, stride=1, padding=radius)``, computed from a
    cumulative count in time independent of the radius (the pool compares every window element: it took 0.5 s of the
    genomic zoo's 11 s per Mbp). Same shape as ``hit``.
    """
    c = hit.to(torch.int32).cumsum(-1)
    c = torch.cat([c.new_zeros(c.shape[:-1] + (radius + 1,)), c, c[..., -1:].expand(c.shape[:-1] + (radius,))], -1)
    return c[..., 2 * radius + 1:] > c[..., :-2 * radius - 1]


def _ranges(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(segment, offset)`` of every position of consecutive ranges of ``lengths``: the gather index of crops."""
    seg = np.repeat(np.arange(len(lengths)), lengths)
    start = np.cumsum(lengths) - lengths
    return seg, np.arange(int(lengths.sum())) - np.repeat(start, lengths)


class GatedCalls(nn.Module):
    """:class:`GatedZoo` for calls only.

    The same track wherever it can reach the call threshold, and no localizer work elsewhere.

    Because ``S <= 1`` and ``s <= S``, the gate is bounded by the detector alone: ``q(i) <= G(i)^a``. Each TF's
    localizer therefore runs only on the stretches where ``G^a >= floor`` (plus the localizer's receptive field and
    the pool on each side, so ``q`` there is computed from the same inputs as in :meth:`GatedZoo.forward`); other
    positions get ``q = 0`` (logit of :data:`EPS`), which is below any floor. Calls (runs of ``q >= threshold``
    for a threshold ``>= floor``, their mean and peak) are those of the full model; the track itself is not, so
    scans that keep or write tracks use the full model. A TF with floor ``inf`` (not scanned) never runs its
    localizer. On 100 kb of chr8 windows it skips 89% of the localizer positions; streamed 45-TF scans run 2.6-3.5x
    faster (``docs/genomic.md``).

    Parameters
    ----------
    zoo : GatedZoo
    floor : sequence of T probabilities (``inf``: no calls wanted for that TF)

    Raises
    ------
    ValueError
        If ``floor`` does not have one value per TF.
    """

    #: nucleotides per forward pass in chunk mode (:func:`tfscope.scan.engine.chunk_hits`): many chunks per pass, so
    #: each localizer runs once on the stretches of all of them. Measured on 1 Mbp of chr8: the fast zoo (strided
    #: detector), one thread, 2.8 s at 400k against 3.4 s at 72k and 1.2M; the genomic zoo, whose full-resolution
    #: ``(N, 45, L)`` detector output then leaves the cache, 2 workers, 10.9 s at 72k against 12.1-13.9 s at 400k
    batch_positions = 72_000
    pooled_batch_positions = 400_000

    def __init__(self, zoo: GatedZoo, floor):
        super().__init__()
        floor = torch.as_tensor(floor, dtype=torch.float32).flatten()
        if len(floor) != zoo.n_outputs:
            raise ValueError(f"need one floor per TF ({zoo.n_outputs}), got {len(floor)}")
        self.detector, localizers = _inference_parts(zoo, _layout(zoo))
        self.localizers = nn.ModuleList(localizers)
        self.runtime = zoo.runtime
        if zoo.runtime == "compile":
            parts = _FUSED_PARTS[zoo]
            if "compiled" not in parts:
                parts["compiled"] = torch.compile(self._detector_pass, dynamic=False)
            self._pass = parts["compiled"]
        else:
            self._pass = self._detector_pass
        self.floor = floor
        self.pool, self.shape_power, self.detector_weight = zoo.pool, zoo.shape_power, zoo.detector_weight
        self.n_outputs, self.pooled = zoo.n_outputs, zoo.pooled
        if zoo.pooled:
            self.batch_positions = self.pooled_batch_positions
        #: bp each side of a needed position whose localizer output feeds its q (pool + localizer context)
        self.reach = zoo.pool + zoo.localizer_field // 2 + 1

    def _detector_pass(self, x: torch.Tensor) -> torch.Tensor:
        """Return the detector's output on one batch.

        ``G`` per bin ``(N, T, L / stride)`` for a strided detector, else the strand-averaged ``g`` ``(N, T, L)``.
        """
        return self.detector.binned(x) if self.pooled else detector_probabilities(self.detector, x)

    def needed(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return ``(tfs, rows, positions, q)`` where ``q`` can reach its TF's floor, for all TFs at once.

        ``q`` on every position of the stretches where it can reach the floor (``(K,)`` float32, clipped to [EPS,
        1 - EPS]; TFs, rows and positions int64 tensors, ordered by TF, row and position). Every other position of
        ``x`` ``(N, 4, L)`` has ``q`` below the floor. (A strided detector needs ``L`` a multiple of its stride;
        chunk-mode scans feed such inputs.)
        """
        found = self._stretches(x)
        if found is None:
            return (torch.zeros(0, dtype=torch.int64),) * 3 + (torch.zeros(0),)
        tf, row, a, b, at, qc, _ = found
        seg, within = _ranges(b - a)
        return (torch.from_numpy(tf[seg]), torch.from_numpy(row[seg]), torch.from_numpy(a[seg] + within),
                qc[torch.from_numpy(at[seg] + within)].clamp(EPS, 1 - EPS))

    def _stretches(self, x: torch.Tensor) -> tuple | None:
        """Return the stretches where ``q`` can reach its TF's floor and ``q`` on a buffer that holds them, or None.

        ``(tf, row, a, b, at, qc, parts)``: per stretch (numpy int64, ordered by TF, row and position) its TF, row and
        positions ``[a, b)`` in ``x``, and where its first position lies in ``qc``, the gated ``q`` (unclipped) of
        the buffer of all stretches with their context (see the comments below); ``parts``: ``(tfs, bounds)``, the
        TFs with stretches and where each one's part of the buffer starts (and the last ends).
        """
        L = x.shape[-1]
        positions = STRIDED_DETECTOR_BATCH_POSITIONS if self.pooled else DETECTOR_BATCH_POSITIONS
        rows = max(1, positions // (2 * L))  # the detector in cache-sized passes
        if self.runtime == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                g = torch.cat([self._pass(x[i:i + rows]).float() for i in range(0, len(x), rows)])
        else:
            g = torch.cat([self._pass(x[i:i + rows]) for i in range(0, len(x), rows)])
        # q <= G^a, so only where G^a >= floor can q reach it; compared as G >= floor^(1/a), lowered by a relative
        # 1e-5 so that rounding can only add positions (computed exactly), never drop one (no pow over every value)
        w = self.detector_weight
        lo = (self.floor.double() ** (1 / w) * (1 - 1e-5)).float() if w > 0 else torch.zeros_like(self.floor)
        lo = lo.to(x.device)[None, :, None]
        if self.pooled:  # a strided detector gives G itself, one value per bin: stretches are found on the bins
            need, step = (g >= lo).cpu().numpy(), self.detector.stride
        else:  # G = maxpool(g) >= lo exactly where some g >= lo lies within the pool
            g = g * base_mask(x)
            need, step = window_any(g >= lo, self.pool).cpu().numpy(), 1
        reach = self.reach
        # all TFs in one pass; on bins, stretches closer than 2 * reach bp merge as on nucleotides
        tf, row, a, b = needed_spans(need.transpose(1, 0, 2), -(-2 * reach // step))
        if not len(tf):
            return None
        a, b = a * step, np.minimum(b * step, L)
        # Every stretch's input and detector values, with their context (`reach` bp each side), laid end to end in
        # one buffer: each TF's stretches together (its localizer runs once on them), each TF's part a multiple of
        # 1024 bp (few distinct lengths: convolution plans are reused), gathered and gated in one pass for all TFs.
        # The q of a stretch position pools s over `pool` bp each side, and that s reads the input within the
        # localizer's half field beyond: all inside the stretch's own context, so stretches need no spacer between
        # them (the outputs near a junction mix two contexts and are never read), except where the context is cut by
        # the input's ends: there `reach` N stand for the padding beyond them.
        c0, c1 = np.maximum(0, a - reach), np.minimum(L, b + reach)
        pad_l = c0 - (a - reach)
        size = (b + reach) - (a - reach)  # context with its N padding
        ends = np.cumsum(size)
        cut = np.searchsorted(tf, np.arange(self.n_outputs + 1))
        tfs = np.flatnonzero(cut[1:] > cut[:-1])
        tf_end = ends[cut[tfs + 1] - 1]
        tf_width = -(-(tf_end - np.concatenate([[0], tf_end[:-1]])) // 1024) * 1024
        tf_base = np.concatenate([[0], np.cumsum(tf_width)])  # where each TF's part starts in the buffer
        shift = np.zeros(self.n_outputs, np.int64)
        shift[tfs] = tf_base[:-1] - np.concatenate([[0], tf_end[:-1]])
        start = ends - size + shift[tf] + pad_l  # where each stretch's context c0 lies in the buffer
        # Each buffer position's source, read with one row gather of a position-major copy of the input and one flat
        # gather of the detector values, instead of indexing two and three axes into a zeroed buffer (this method on
        # 240 kbp of chr8, fast zoo, one thread: 0.29-0.31 s against 0.31-0.32 s); where no stretch's context lies (the
        # N of cut contexts, the rounding of each TF's part) the input reads an appended zero row and G is set to 0.
        width = int(tf_base[-1])
        n_ctx = c1 - c0
        dst = np.repeat(start - np.cumsum(n_ctx) + n_ctx, n_ctx) + np.arange(int(n_ctx.sum()))
        col = dst + np.repeat(c0 - start, n_ctx)  # the input column of each stretch position
        n, nl = len(x), len(x) * L
        src, gsrc = np.full(width, nl, np.int64), np.zeros(width, np.int64)  # (src: nl is an all-zero row)
        src[dst] = col + np.repeat(row * L, n_ctx)  # row * L + column
        # (row, TF, bin) of G, flat; bins by a shift where the stride is a power of two (columns are >= 0)
        bins = col >> (step.bit_length() - 1) if step & (step - 1) == 0 else col // step
        gsrc[dst] = bins + np.repeat((row * g.shape[1] + tf) * g.shape[2], n_ctx)
        empty = np.ones(width, bool)
        empty[dst] = False
        xt = x.new_empty(nl + 1, 4)  # the input position-major, with a zero row
        xt[:nl].view(n, L, 4).copy_(x.transpose(1, 2))
        xt[nl] = 0
        xw = xt.index_select(0, torch.from_numpy(src))  # (width, 4)
        xc = xw.T  # (4, width), a view: the localizers' inputs below are copies (a transposed copy cost 2x the gather)
        gc = torch.take(g, torch.from_numpy(gsrc)).masked_fill_(torch.from_numpy(empty), 0).view(1, 1, width)
        sc = g.new_empty(1, 1, width)
        for t, o0, o1 in zip(tfs.tolist(), tf_base[:-1].tolist(), tf_base[1:].tolist()):
            sc[0, :, o0:o1] = both_strand_max(self.localizers[t], xc[None, :, o0:o1])
        sc *= (xw @ xw.new_ones(4) > 0).to(sc.dtype)  # base_mask(xc[None]) (a product: 2.5x faster than sum(1))
        qc = _gate(gc, sc, self.pool, self.shape_power, self.detector_weight, self.pooled)[0, 0]
        return tf, row, a, b, start + (a - c0), qc, (tfs, tf_base)

    @torch.no_grad()
    def hits(self, x: torch.Tensor) -> tuple[np.ndarray, ...]:
        """Return the positions of ``x`` ``(N, 4, L)`` where ``q`` reaches its TF's floor, sparse.

        ``(rows, tfs, positions, q)``: int64, int64, int64 and float32 arrays of equal length, ordered by TF, row and
        position; ``q`` the sigmoid of :meth:`forward`'s logits there. What a calls-only scan needs without the dense
        ``(N, T, L)`` track (:func:`tfscope.scan.engine.chunk_hits`).
        """
        found = self._stretches(x)
        if found is None:
            return (np.zeros(0, np.int64),) * 3 + (np.zeros(0, np.float32),)
        tf, row, a, b, at, qc, (tfs, tf_base) = found
        # Candidates on the buffer itself, against each TF's floor over its part, lowered by a relative 1e-5 (the
        # logit round trip below moves q by float rounding only): a comparison per buffer position instead of
        # expanding every stretch position's TF, row and position (the same hits). A floor at or below EPS takes every
        # position (the clipping below lifts any q to EPS). (The bound was min(floor, EPS) until session 25, which
        # made nearly every buffer position a candidate: 952k instead of 43k in a batch of the fast zoo on chr8, and
        # the calls-only pass 13% slower.)
        lo = self.floor[torch.from_numpy(tfs)] * (1 - 1e-5)
        lo = torch.where(lo > EPS, lo, torch.zeros_like(lo))
        cand = (qc >= lo.repeat_interleave(torch.from_numpy(np.diff(tf_base)), output_size=len(qc))).nonzero()[:, 0]
        c = cand.numpy()
        k = np.searchsorted(at, c, side="right") - 1  # the stretch each candidate's position follows (-1: none)
        off = c - at[np.maximum(k, 0)]
        inside = (k >= 0) & (off < (b - a)[np.maximum(k, 0)])  # in the stretch itself, not in its context
        k, off = k[inside], off[inside]
        # the probability a scan takes from forward()'s logits, value for value
        q = torch.sigmoid(torch.logit(qc[cand[torch.from_numpy(inside)]].clamp(EPS, 1 - EPS)))
        t = tf[k]
        on = (q >= self.floor[torch.from_numpy(t)]).numpy()
        return row[k][on], t[on], (a[k] + off)[on], q.numpy()[on]

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return gated logits ``(N, T, L)``, exact where they reach the floor (lower elsewhere)."""
        q = x.new_full((x.shape[0], self.n_outputs, x.shape[-1]), EPS)
        t, rows, pos, qt = self.needed(x)
        q[rows, t, pos] = qt
        return torch.logit(q)


class GatedOne(nn.Module):
    """One TF of a :class:`GatedZoo` on the forward strand only.

    ``(N, 4, L)`` -> ``(N, L)`` logits of the gate (or, with ``parts=True``, ``(N, 2, L)`` detector and localizer
    probabilities).

    This is what the paper protocol scores (each tfbs-snr window as given, on its forward strand, as for every zoo:
    BertSNR; :func:`tfscope.snr.train.evaluate_snr`), and what attributions explain
    (:meth:`tfscope.scan.engine.ScanModel.single_output`); scans combine the strands before the gate
    (:meth:`GatedZoo.parts`). It runs the detector and one localizer.
    """

    def __init__(self, model: GatedZoo, index: int, *, parts: bool = False):
        super().__init__()
        self.model, self.index, self.parts = model, index, parts
        self.receptive_field = model.receptive_field

    def forward(self, x):
        """Return ``(N, L)`` logits of the gate (``(N, 2, L)`` probabilities with ``parts``) for ``x`` ``(N, 4, L)``."""
        m = self.model
        base = (x.sum(1) > 0).to(x.dtype)
        g = m.detector.pooled(x)[:, self.index] if m.pooled else torch.sigmoid(m.detector(x)[:, self.index]) * base
        s = torch.sigmoid(m.localizers[self.index](x)) * base
        if self.parts:
            return torch.stack([g, s], 1)
        q = _gate(g[:, None], s[:, None], m.pool, m.shape_power, m.detector_weight, m.pooled)[:, 0]
        return torch.logit(q.clamp(EPS, 1 - EPS))
