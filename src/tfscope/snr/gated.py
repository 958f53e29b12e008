"""Detection x localization: the genomic zoo's network says *whether* a TF binds near a nucleotide, each TF's
nucleotide model says *where*.

Why: the multi-TF genomic network (:mod:`tfscope.snr.multitask`) ranks real genome windows well (it was trained on
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

import weakref

import torch
import torch.nn.functional as F
from torch import nn

from ..models.dilated import DilatedResNet

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


def _gate(g: torch.Tensor, s: torch.Tensor, pool: int, shape_power: float, detector_weight: float) -> torch.Tensor:
    """:func:`gate_probabilities` on ``(N, C, L)`` tensors without checks (traceable by torch.fx)."""
    big_g = F.max_pool1d(g, 2 * pool + 1, stride=1, padding=pool)
    big_s = F.max_pool1d(s, 2 * pool + 1, stride=1, padding=pool).clamp_min(EPS)
    return big_g ** detector_weight * big_s ** (1.0 - detector_weight) * (s / big_s) ** shape_power


def _base(x: torch.Tensor) -> torch.Tensor:
    """``(N, 1, L)``: 1 at nucleotides with a base, 0 at N (all-zero one-hot) and padding, which carry no
    evidence."""
    return (x.sum(1, keepdim=True) > 0).to(x.dtype)


def _strand_probabilities(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sigmoid of ``net`` on ``x`` and on its reverse complement (flipped back), in one batch."""
    n = x.shape[0]
    p = torch.sigmoid(net(torch.cat([x, x.flip(-1).flip(-2)])))
    return p[:n], p[n:].flip(-1)


def _detector_probabilities(detector: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The detector's probabilities ``(N, T, L)``, strands averaged (the genomic zoo's rule)."""
    fwd, rev = _strand_probabilities(detector, x)
    return (fwd + rev) / 2


class GatedZoo(nn.Module):
    """A multi-TF detector (one dilated CNN with ``n_outputs`` tracks) gated with one localizer per TF.

    Parameters
    ----------
    detector : dict
        :class:`tfscope.models.dilated.DilatedResNet` hyper-parameters of the detector (``n_outputs`` = TFs).
    localizer : dict
        DilatedResNet hyper-parameters shared by the per-TF localizers (single output each).
    pool, shape_power, detector_weight :
        See :func:`gate_probabilities`.

    Input ``(N, 4, L)`` one-hot; output ``(N, n_outputs, L)`` logits of ``q`` (clipped to [EPS, 1 - EPS]). Both
    networks see both strands, combined per nucleotide before the gate (:meth:`parts`), so the output is
    reverse-complement symmetric (``strand_symmetric``: :mod:`tfscope.snr.scan` runs it once per piece, and its calls
    carry no strand). Positions without a base (N, padding) give both networks probability 0 before pooling, so a
    scan near N runs and sequence ends pools real nucleotides only. Fully
    convolutional: ``receptive_field`` covers both networks and the pooling, so :mod:`tfscope.snr.scan` runs it in
    chunk mode like any zoo network.
    """

    #: the output is the same on both strands (strands are combined inside), so scans run one strand only
    strand_symmetric = True

    def __init__(self, detector: dict, localizer: dict, *, pool: int = 25, shape_power: float = 2.0,
                 detector_weight: float = 1.0):
        super().__init__()
        n = detector.get("n_outputs")
        if not n:
            raise ValueError("the detector needs n_outputs (one track per TF)")
        self.detector = DilatedResNet(**detector)
        self.localizers = nn.ModuleList(DilatedResNet(**{**localizer, "n_outputs": None}) for _ in range(n))
        self.detector_hparams, self.localizer_hparams = dict(detector), dict(localizer)
        self.n_outputs = n
        self.set_gate(pool=pool, shape_power=shape_power, detector_weight=detector_weight)

    def set_gate(self, *, pool: int, shape_power: float, detector_weight: float) -> "GatedZoo":
        """Change the gate (no weights involved); raises ValueError as :func:`gate_probabilities`."""
        _check_gate(pool, detector_weight)
        self.pool, self.shape_power, self.detector_weight = int(pool), float(shape_power), float(detector_weight)
        self.receptive_field = max(self.detector.receptive_field, self.localizers[0].receptive_field) + 2 * self.pool
        return self

    def one_output(self, index: int) -> "GatedOne":
        """TF ``index`` alone, forward strand (:class:`GatedOne`: paper protocol and attributions)."""
        return GatedOne(self, index)

    def hparams(self) -> dict:
        """Constructor arguments (what the checkpoint's ``config.json`` stores)."""
        return {"detector": self.detector_hparams, "localizer": self.localizer_hparams, "pool": self.pool,
                "shape_power": self.shape_power, "detector_weight": self.detector_weight}

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Detector and localizer probabilities ``(N, T, L)`` of ``x``, each with its two strands combined by its
        own zoo's rule (detector: mean, the genomic zoo's; localizers: max, the shuffled zoo's) and 0 where there
        is no base."""
        base = _base(x)
        s = torch.stack([torch.maximum(*_strand_probabilities(m, x)) for m in self.localizers], dim=1)
        return _detector_probabilities(self.detector, x) * base, s * base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, s = self.parts(x)
        q = _gate(g, s, self.pool, self.shape_power, self.detector_weight)
        return torch.logit(q.clamp(EPS, 1 - EPS))

    def calls_network(self, floor) -> "GatedCalls":
        """An inference copy for calls only (:class:`GatedCalls`): exact where ``q >= floor`` (per TF), below
        ``floor`` elsewhere, running each TF's localizer only where the detector lets ``q`` reach its floor."""
        return GatedCalls(self, floor)


#: nucleotides (both strands) per detector pass of :class:`GatedCalls`: 1.18 s per 100 kb at 24k against 1.42 s at
#: 72k (one thread, 2-core benchmark machine)
DETECTOR_BATCH_POSITIONS = 24_000

#: conv/BN-fused inference copies of a GatedZoo's detector and localizers (not submodules: the checkpoint's
#: state_dict stays the model's own)
_FUSED_PARTS: "weakref.WeakKeyDictionary[GatedZoo, tuple]" = weakref.WeakKeyDictionary()


class GatedCalls(nn.Module):
    """:class:`GatedZoo` for calls only: the same track wherever it can reach the call threshold, and no localizer
    work elsewhere.

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

    #: nucleotides per forward pass in chunk mode (:func:`tfscope.snr.scan._chunk_track`): many chunks per pass, so
    #: each localizer runs once on the stretches of all of them
    batch_positions = 72_000

    def __init__(self, zoo: GatedZoo, floor):
        super().__init__()
        floor = torch.as_tensor(floor, dtype=torch.float32).flatten()
        if len(floor) != zoo.n_outputs:
            raise ValueError(f"need one floor per TF ({zoo.n_outputs}), got {len(floor)}")
        if zoo not in _FUSED_PARTS:
            from torch.fx.experimental.optimization import fuse

            _FUSED_PARTS[zoo] = (fuse(zoo.detector.eval()), [fuse(m.eval()) for m in zoo.localizers])
        self.detector, localizers = _FUSED_PARTS[zoo]
        self.localizers = nn.ModuleList(localizers)
        self.floor = floor
        self.pool, self.shape_power, self.detector_weight = zoo.pool, zoo.shape_power, zoo.detector_weight
        self.n_outputs = zoo.n_outputs
        #: bp each side of a needed position whose localizer output feeds its q (pool + localizer context)
        self.reach = zoo.pool + zoo.localizers[0].receptive_field // 2 + 1

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        L = x.shape[-1]
        rows = max(1, DETECTOR_BATCH_POSITIONS // (2 * L))  # the detector in cache-sized passes
        g = torch.cat([_detector_probabilities(self.detector, x[i:i + rows]) for i in range(0, len(x), rows)])
        g = g * _base(x)
        lift = F.max_pool1d(g, 2 * self.pool + 1, stride=1, padding=self.pool) ** self.detector_weight  # q <= G^a
        need = lift >= self.floor.to(x.device)[None, :, None]
        q = torch.zeros_like(g)
        reach = self.reach
        for t in torch.nonzero(need.any(-1).any(0)).flatten().tolist():
            spans = []  # (row, first, end) of stretches of needed positions, close ones merged
            for i in torch.nonzero(need[:, t].any(-1)).flatten().tolist():
                pos = torch.nonzero(need[i, t]).flatten()
                cut = torch.nonzero(pos[1:] - pos[:-1] > 2 * reach).flatten().tolist()
                starts = [int(pos[0])] + [int(pos[c + 1]) for c in cut]
                ends = [int(pos[c]) + 1 for c in cut] + [int(pos[-1]) + 1]
                spans += [(i, a, b) for a, b in zip(starts, ends)]
            # the stretches' inputs and detector values (with their context) laid end to end, `reach` N between
            # them, gated in one pass: every position of a stretch pools and convolves only its own context
            crops, at = [], 0
            for i, a, b in spans:
                c0, c1 = max(0, a - reach), min(L, b + reach)
                crops.append((i, a, b, c0, c1, at))
                at += c1 - c0 + reach
            width = -(-at // 1024) * 1024  # few distinct lengths: convolution plans are reused
            xc, gc = x.new_zeros(1, 4, width), g.new_zeros(1, 1, width)
            for i, _, _, c0, c1, o in crops:
                xc[0, :, o:o + c1 - c0] = x[i, :, c0:c1]
                gc[0, 0, o:o + c1 - c0] = g[i, t, c0:c1]
            sc = torch.maximum(*_strand_probabilities(self.localizers[t], xc))[:, None] * _base(xc)
            qc = _gate(gc, sc, self.pool, self.shape_power, self.detector_weight)[0, 0]
            for i, a, b, c0, _, o in crops:
                q[i, t, a:b] = qc[o + a - c0:o + b - c0]
        return torch.logit(q.clamp(EPS, 1 - EPS))


#: the gate settings tried by :func:`build_gated_zoo` (fixed before any run; see docs/genomic.md)
GRID = {"pool": (10, 25, 50), "shape_power": (1.0, 2.0, 4.0), "detector_weight": (1.0, 0.9, 0.8, 0.7)}
#: the selection rule's tolerance: chr7 mean window AUPRC may fall at most this much below the detector's alone
MAX_WINDOW_DROP = 0.003


def assemble(detector, localizers, **gate) -> tuple[GatedZoo, dict]:
    """A :class:`GatedZoo` from a multi-TF detector checkpoint and a folder of per-TF localizer checkpoints
    (``localizers/<TF>``, e.g. the bundled shuffled zoo), weights copied.

    Returns
    -------
    (model, detector config)

    Raises
    ------
    CheckpointError
        If a checkpoint is missing or mismatched (:func:`tfscope.checkpoint.load_checkpoint`), the detector is not
        multi-TF, or the localizers differ in architecture.
    """
    from pathlib import Path

    from ..checkpoint import load_checkpoint
    from ..errors import CheckpointError

    det, cfg = load_checkpoint(detector, task="snr")
    names = list(cfg.get("meta", {}).get("tfs", []))
    if not names:
        raise CheckpointError(f"{detector}: the detector must be a multi-TF checkpoint (meta.tfs)")
    locs, hp = [], None
    for tf in names:
        net, lcfg = load_checkpoint(Path(localizers) / tf, task="snr")
        if hp is not None and lcfg["hparams"] != hp:
            raise CheckpointError(f"{Path(localizers) / tf}: localizers must share one architecture")
        hp = lcfg["hparams"]
        locs.append(net)
    model = GatedZoo(cfg["hparams"], hp, **gate)
    model.detector.load_state_dict(det.state_dict())
    for m, net in zip(model.localizers, locs):
        m.load_state_dict(net.state_dict())
    return model.eval(), cfg


@torch.no_grad()
def _part_tracks(model: GatedZoo, windows: list[str], record_bp: int = 100_000) -> list:
    """Per record of about ``record_bp`` (genome windows concatenated in genomic order, scanned like any sequence
    by :func:`tfscope.snr.scan.scan_tracks`): detector and localizer probability tracks ``(2T, S)``
    (:meth:`GatedZoo.parts`, strands combined)."""
    from .scan import ScanModel, scan_tracks

    parts = _Parts(model).eval()
    ms = [ScanModel(str(i), parts, output=i) for i in range(2 * model.n_outputs)]
    per = max(1, record_bp // len(windows[0]))
    return [scan_tracks(ms, "".join(windows[i:i + per]))[0] for i in range(0, len(windows), per)]


class _Parts(nn.Module):
    """:meth:`GatedZoo.parts` side by side as logits ``(N, 2T, L)`` (fully convolutional, strand-symmetric)."""

    strand_symmetric = True

    def __init__(self, model: GatedZoo):
        super().__init__()
        self.model = model
        self.receptive_field = model.receptive_field

    def forward(self, x):
        return torch.logit(torch.cat(self.model.parts(x), 1).clamp(EPS, 1 - EPS))


def _window_scores(tracks: list, pool: int, shape_power: float, detector_weight: float, window: int = 100):
    """``(T, N)`` window maxima of the gated track from :func:`_part_tracks` output (records pooled separately, as
    a scan of each record would)."""
    import numpy as np

    out = []
    for rec in tracks:
        T = rec.shape[0] // 2
        q = gate_probabilities(torch.from_numpy(rec[:T]), torch.from_numpy(rec[T:]), pool=pool,
                               shape_power=shape_power, detector_weight=detector_weight)
        out.append(q.reshape(T, -1, window).amax(-1).numpy())
    return np.concatenate(out, axis=1)


def _snr_rows(model: GatedZoo, tfs: list[str], snr_dir, split: str, seed: int = 0) -> dict:
    """TF -> (detector probs, localizer probs, nucleotide labels, window labels) on a tfbs-snr split (``valid``:
    the seeded validation rows of :func:`tfscope.snr.data.train_valid_test`, as the localizers were trained;
    ``test``: the paper's test rows). Forward strand only, as the paper protocol of every zoo (:class:`GatedOne`)."""
    from ..train import predict
    from .data import load_snr, snr_table_path, train_valid_test

    out = {}
    for t, tf in enumerate(tfs):
        d = load_snr(snr_table_path(tf, snr_dir))
        rows = train_valid_test(d, seed=seed)[1] if split == "valid" else d.subset(d.split == "test")
        if not len(rows):
            continue
        one = GatedOne(model, t, parts=True).eval()
        p = predict(one, rows.x, activation=None)
        out[tf] = (p[:, 0], p[:, 1], rows.y_nt, rows.y_seq)
    return out


class GatedOne(nn.Module):
    """One TF of a :class:`GatedZoo` on the forward strand only: ``(N, 4, L)`` -> ``(N, L)`` logits of the gate
    (or, with ``parts=True``, ``(N, 2, L)`` detector and localizer probabilities).

    This is what the paper protocol scores (each tfbs-snr window as given, on its forward strand, as for every zoo:
    BertSNR; :func:`tfscope.snr.train.evaluate_snr`), and what attributions explain
    (:meth:`tfscope.snr.scan.ScanModel.single_output`); scans combine the strands before the gate
    (:meth:`GatedZoo.parts`). It runs the detector and one localizer.
    """

    def __init__(self, model: GatedZoo, index: int, *, parts: bool = False):
        super().__init__()
        self.model, self.index, self.parts = model, index, parts
        self.receptive_field = model.receptive_field

    def forward(self, x):
        m = self.model
        base = (x.sum(1) > 0).to(x.dtype)
        g = torch.sigmoid(m.detector(x)[:, self.index]) * base
        s = torch.sigmoid(m.localizers[self.index](x)) * base
        if self.parts:
            return torch.stack([g, s], 1)
        q = _gate(g[:, None], s[:, None], m.pool, m.shape_power, m.detector_weight)[:, 0]
        return torch.logit(q.clamp(EPS, 1 - EPS))


def localizer_record(localizers, metas) -> dict:
    """``meta.localizers`` of a gated zoo: where its per-TF localizers came from and which chromosomes' tfbs-snr rows
    they never saw (the union of their checkpoints' ``meta.excluded_chroms``)."""
    excluded = sorted({c for m in metas for c in m.get("excluded_chroms", [])})
    return {"source": str(localizers), "excluded_chroms": excluded,
            "note": "per-TF localizers trained on the tfbs-snr paper split without the rows on "
                    + (", ".join(excluded) or "no chromosome")}


def _nt_auprc(rows: dict, **gate) -> dict:
    """TF -> paper-protocol metrics (:func:`tfscope.metrics.snr_metrics`) of the gated track on :func:`_snr_rows`."""
    from ..metrics import snr_metrics

    out = {}
    for tf, (g, s, y, ys) in rows.items():
        q = gate_probabilities(torch.from_numpy(g), torch.from_numpy(s), **gate).numpy() if gate else g
        out[tf] = snr_metrics(y, q, ys, q.max(axis=1))
    return out


def build_gated_zoo(detector, localizers, windows_path, snr_dir, *, out, grid: dict | None = None,
                    max_window_drop: float = MAX_WINDOW_DROP, verbose: bool = True) -> dict:
    """Choose the gate, calibrate the calls on chr7 and save a :class:`GatedZoo` checkpoint.

    Selection rule (fixed before the first run): among the settings of ``grid`` (default :data:`GRID`) whose chr7
    mean window AUPRC is at most ``max_window_drop`` below the detector's own, take the one with the highest mean
    nucleotide AUPRC on the tfbs-snr *validation* rows; chr8, chr9 and the tfbs-snr test rows are not looked at.
    Then each TF's call threshold is the best window-level F1 on chr7 (:func:`tfscope.snr.multitask.window_calibration`)
    and its paper-protocol test metrics are measured on the tfbs-snr test rows (forward strand, :class:`GatedOne`).
    The model combines the two strands itself (:meth:`GatedZoo.parts`; ``meta.strands`` is kept as ``mean``, which
    leaves its identical strand tracks unchanged).

    Parameters
    ----------
    detector : path of a multi-TF genomic checkpoint (:mod:`tfscope.snr.multitask`)
    localizers : folder of per-TF checkpoints (``<TF>/``), e.g. the shuffled zoo
    windows_path, snr_dir : the tfbs-multilabel windows table and the tfbs-snr tables
    out : checkpoint directory written (atomically)

    Returns
    -------
    dict: ``gate`` (the chosen setting), ``grid`` (every setting's chr7 window AUPRC and validation nt AUPRC),
    ``detector`` (the detector's own two numbers), ``per_tf``.
    """
    import itertools
    import json
    import time
    from pathlib import Path

    from ..checkpoint import save_checkpoint
    from ..sequence import decode
    from .multitask import load_training_windows, genome_window_data, window_calibration

    t0 = time.time()
    grid = grid or GRID
    model, cfg = assemble(detector, localizers)
    tfs = list(cfg["meta"]["tfs"])
    w, _, va, sites, _ = load_training_windows(windows_path, snr_dir, tfs)
    valid = genome_window_data(w, va, sites, tfs, mask_test_sites=False)
    tracks = _part_tracks(model, decode(w.x[va]))
    if verbose:
        print(f"[gated] chr7 tracks of {len(tfs)} TFs ({time.time() - t0:.0f}s)", flush=True)
    rows = _snr_rows(model, tfs, snr_dir, "valid")
    det_score = _window_scores(tracks, pool=0, shape_power=0.0, detector_weight=1.0)  # the detector alone
    base = {"chr7_window_auprc": _mean(window_calibration(det_score, tfs, valid), "window_auprc"),
            "valid_nt_auprc": _mean(_nt_auprc(rows), "nt_auprc")}
    results, cals = [], []
    for pool, beta, a in itertools.product(grid["pool"], grid["shape_power"], grid["detector_weight"]):
        gate = {"pool": int(pool), "shape_power": float(beta), "detector_weight": float(a)}
        cals.append(window_calibration(_window_scores(tracks, **gate), tfs, valid))
        results.append({**gate, "chr7_window_auprc": _mean(cals[-1], "window_auprc"),
                        "valid_nt_auprc": _mean(_nt_auprc(rows, **gate), "nt_auprc")})
        if verbose:
            print(f"[gated] {gate}: chr7 window AUPRC {results[-1]['chr7_window_auprc']:.4f}, tfbs-snr valid nt "
                  f"AUPRC {results[-1]['valid_nt_auprc']:.4f}", flush=True)
    ok = [r for r in results if r["chr7_window_auprc"] >= base["chr7_window_auprc"] - max_window_drop]
    # none within the tolerance: the setting that ranks chr7 windows best
    best = max(ok, key=lambda r: r["valid_nt_auprc"]) if ok else max(results, key=lambda r: r["chr7_window_auprc"])
    gate = {k: best[k] for k in ("pool", "shape_power", "detector_weight")}
    model.set_gate(**gate)
    cal = cals[results.index(best)]
    test = _nt_auprc(_snr_rows(model, tfs, snr_dir, "test"), **gate)
    meta = dict(cfg["meta"])
    meta.pop("history", None)
    per_tf = meta.get("per_tf", {})
    for tf in tfs:
        per_tf[tf] = {**per_tf.get(tf, {}), "threshold": cal[tf]["threshold"], "calibration": cal[tf],
                      "test_metrics": test.get(tf, {})}
    meta["localizers"] = localizer_record(localizers, [json.loads((Path(localizers) / tf / "config.json").read_text())
                                                       .get("meta", {}) for tf in tfs])
    selection = {"rule": f"highest tfbs-snr validation nt AUPRC among settings within {max_window_drop} of the "
                         "detector's chr7 window AUPRC", "detector": base, "grid": results, "chosen": gate,
                 "localizers": str(localizers), "seconds": round(time.time() - t0, 1)}
    meta.update({"strands": "mean", "per_tf": per_tf, "gate": selection,
                 "recipe": f"{meta.get('recipe', 'multi-TF detector')}; gated by the per-TF localizers of "
                           f"{Path(localizers).name} (tfscope.snr.gated)"})
    save_checkpoint(out, model, model_name="gated", task="snr", hparams=model.hparams(), meta=meta)
    return {"gate": gate, "grid": results, "detector": base, "per_tf": per_tf}


def _mean(records: dict, key: str) -> float:
    return float(sum(r[key] for r in records.values()) / len(records))


def swap_localizers(zoo, localizers, snr_dir, *, out, verbose: bool = True) -> dict:
    """A copy of the gated zoo checkpoint ``zoo`` with other per-TF localizers (``localizers/<TF>``: e.g. retrained
    without the tfbs-snr rows of chr7, chr8 and chr9), the detector and gate kept, each TF's tfbs-snr test metrics
    re-measured (forward strand, :class:`GatedOne`), saved to ``out``. Call thresholds and confidence are then
    re-fitted by :func:`tfscope.snr.sites.calibrate_calls` (``scripts/build_zoo.py --calibrate-calls``).

    Returns
    -------
    dict TF -> test metrics.

    Raises
    ------
    CheckpointError
        A missing or mismatched checkpoint, or localizers of another architecture than the zoo's.
    """
    import json
    from pathlib import Path

    from ..checkpoint import load_checkpoint, save_checkpoint
    from ..errors import CheckpointError

    model, cfg = load_checkpoint(zoo, task="snr")
    meta = dict(cfg["meta"])
    tfs = list(meta["tfs"])
    loc_meta = {}
    for i, tf in enumerate(tfs):
        net, lcfg = load_checkpoint(Path(localizers) / tf, task="snr")
        if lcfg["hparams"] != cfg["hparams"]["localizer"]:
            raise CheckpointError(f"{Path(localizers) / tf}: localizer architecture {lcfg['hparams']} differs from "
                                  f"the zoo's {cfg['hparams']['localizer']}")
        model.localizers[i].load_state_dict(net.state_dict())
        loc_meta[tf] = lcfg["meta"]
    gate = {k: cfg["hparams"][k] for k in ("pool", "shape_power", "detector_weight")}
    test = _nt_auprc(_snr_rows(model, tfs, snr_dir, "test"), **gate)
    for tf in tfs:
        rec = meta["per_tf"].setdefault(tf, {})
        rec["test_metrics"] = test.get(tf, {})
        rec["site_width"] = int(loc_meta[tf].get("site_width", rec.get("site_width", 10)))
        if verbose:
            print(f"[gated] {tf}: tfbs-snr test nt AUPRC {test.get(tf, {}).get('nt_auprc', float('nan')):.4f}",
                  flush=True)
    meta["localizers"] = localizer_record(localizers, loc_meta.values())
    meta["gate"] = {**meta.get("gate", {}), "localizers_swapped": json.dumps(meta["localizers"])}
    save_checkpoint(out, model, model_name="gated", task="snr", hparams=model.hparams(), meta=meta)
    return test


def unpack(zoo, out) -> dict:
    """Write the parts of a gated zoo checkpoint as the checkpoints it was built from: ``out/multitask`` (the
    multi-TF detector, e.g. to continue its training with :func:`tfscope.snr.multitask.train_multitask`'s ``init``)
    and ``out/dilated/<TF>`` (one localizer per TF, e.g. for :func:`build_gated_zoo`). Weights are copied bit for bit;
    the detector keeps the zoo's ``meta`` minus the gate's fields, each localizer records the zoo's
    ``meta.localizers.excluded_chroms`` (so a rebuilt zoo still says which tfbs-snr rows its localizers never saw).

    Parameters
    ----------
    zoo : str | os.PathLike
        A :class:`GatedZoo` checkpoint directory (e.g. ``tfscope.resources.resource("zoo", "genomic")``).
    out : str | os.PathLike
        Folder to write (created; existing checkpoints in it are replaced atomically).

    Returns
    -------
    dict: ``detector`` (path), ``localizers`` (folder path), ``tfs``.

    Raises
    ------
    CheckpointError
        If ``zoo`` is not a valid gated zoo checkpoint (:func:`tfscope.checkpoint.load_checkpoint`).
    """
    from pathlib import Path

    from ..checkpoint import load_checkpoint, save_checkpoint
    from ..errors import CheckpointError
    from .train import TASK

    model, cfg = load_checkpoint(zoo, task=TASK)
    if not isinstance(model, GatedZoo):
        raise CheckpointError(f"{zoo}: not a gated zoo checkpoint (model {cfg.get('model')!r})")
    meta = {k: v for k, v in cfg["meta"].items() if k not in ("gate", "localizers", "groups", "group_rule")}
    tfs = list(meta["tfs"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / "multitask", model.detector, model_name="dilated", task=TASK,
                    hparams=dict(model.detector_hparams), meta={**meta, "unpacked_from": str(zoo)})
    excluded = list(cfg["meta"].get("localizers", {}).get("excluded_chroms", []))
    for tf, net in zip(tfs, model.localizers):
        site_width = cfg["meta"].get("per_tf", {}).get(tf, {}).get("site_width")
        lmeta = {"tf": tf, "labels": [tf], "excluded_chroms": excluded, "unpacked_from": str(zoo)}
        if site_width is not None:
            lmeta["site_width"] = int(site_width)
        save_checkpoint(out / "dilated" / tf, net, model_name="dilated", task=TASK,
                        hparams=dict(model.localizer_hparams), meta=lmeta)
    return {"detector": str(out / "multitask"), "localizers": str(out / "dilated"), "tfs": tfs}
