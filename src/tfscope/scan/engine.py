"""Scanning sequences of any length with nucleotide-resolution models: both strands, site calls.

Two modes, chosen per model:

- **chunk mode** (fully convolutional models that declare a ``receptive_field``, e.g. the zoo's dilated CNN): the
  sequence is cut into ``chunk`` bp pieces, each with a margin of at least half the receptive field on both sides
  (N-padded at the sequence ends), so every nucleotide is computed once per strand exactly as if the whole
  sequence had gone through the network at once; convolution + batch-norm pairs are fused for inference
  (``torch.fx.experimental.optimization.fuse``).
- **window mode** (any other model, e.g. BertSNR): ``window`` bp windows every ``stride`` bp (the last window is
  aligned to the end; shorter sequences are N-padded), overlapping predictions averaged per strand; windows that
  are mostly N are skipped.

:func:`scan` holds the sequences (and, on request, the tracks) in memory; :func:`scan_fasta` streams a FASTA file of
any size (a genome) through chunk-mode models in bounded pieces, with the same output, onto an executor
(:mod:`tfscope.scan.stream`; :mod:`tfscope.executor`: forked local workers or Ray actors) and writes BED, bedGraph,
bigWig and bigBed. Models are loaded by :mod:`tfscope.scan.models`; the writers live in :mod:`tfscope.io.tracks`.

Both strands are predicted (reverse complements flipped back) and combined per nucleotide by the model's
``strands`` rule (:func:`combine_strands`): the max of the two strands (per-TF zoo checkpoints), or their mean
(reverse-complement averaging as in DeepSEA, Zhou & Troyanskaya 2015; checkpoints with ``meta.strands = "mean"``).
A model with ``strand_symmetric = True`` (the gated genomic zoo, :mod:`tfscope.zoo.gated`) combines the strands
itself and runs once per piece. Positions that are N get probability 0. Calls are binding events
(:mod:`tfscope.scan.calls`): peaks of the track at or above the model's threshold, one per site width, each call the
TF's site width centred on its peak, with its paralog group, estimated precision, p-value and q-value (BED6+9,
:data:`tfscope.io.tracks.CALL_COLUMNS`); its strand is the strand with the higher probability at the peak (``.`` for
a strand-symmetric model).
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ..executor import LocalExecutor, default_workers
from ..io.bed import BedRecord
from ..sequence import one_hot, reverse_complement_one_hot
from .calls import CallSpec, call_p_values, fill_qvalues, make_calls, qvalue_map
from .orient import orient_calls, sequence_fetcher

#: per-nucleotide rules that combine the forward and reverse-complement probability tracks
STRAND_RULES = ("max", "mean")


def combine_strands(fwd: np.ndarray, rev: np.ndarray, how: str = "max") -> np.ndarray:
    """One probability track from the two strands, any equal shapes.

    ``max`` (either strand; the per-TF zoos) or ``mean`` (reverse-complement averaging, as DeepSEA averages forward and
    reverse-complement predictions; chosen for the genomic zoo on chr7: mean window AUPRC 0.540 -> 0.547).

    Raises
    ------
    ValueError
        For a rule other than :data:`STRAND_RULES`.
    """
    if how == "max":
        return np.maximum(fwd, rev)
    if how == "mean":
        return (fwd + rev) / 2
    raise ValueError(f"strands must be one of {', '.join(STRAND_RULES)}, not {how!r}")


@dataclass
class ScanModel:
    """A loaded model ready to scan: label (TF name), nn.Module, probability threshold, window length.

    A model with an integer ``receptive_field`` attribute is scanned in chunk mode through a conv/BN-fused copy
    (:attr:`inference_model`); others in window mode. ``output`` selects one track of a multi-output model
    (``(N, T, L)`` logits, e.g. the multi-TF genomic zoo of :mod:`tfscope.zoo.multitask`): ScanModels that share one
    such ``model`` share its fused copy, and the scan runs it once for all of them.
    """

    name: str
    model: torch.nn.Module
    threshold: float = 0.5
    window: int = 100
    output: int | None = None
    #: how the two strands combine per nucleotide (:func:`combine_strands`): ``max`` or ``mean``
    strands: str = "max"
    #: how the track becomes calls: site width, paralog group, confidence (:class:`tfscope.scan.calls.CallSpec`)
    call: CallSpec = field(default_factory=CallSpec)

    def __post_init__(self):
        if self.strands not in STRAND_RULES:
            raise ValueError(f"strands must be one of {', '.join(STRAND_RULES)}, not {self.strands!r}")
        self.model.eval()
        self.receptive_field = getattr(self.model, "receptive_field", None)

    @property
    def inference_model(self) -> torch.nn.Module:
        """The network the dense path runs.

        For chunk-mode models an inference copy shared by the ScanModels of one network, built on first use (so
        calls-only scans, which run :func:`calls_networks` copies instead, never pay for it): the model's own
        ``inference_copy()`` where it has one (the gated zoo: channels-last networks,
        :meth:`tfscope.zoo.gated.GatedZoo.inference_copy`), else a conv/BN-fused torch.fx copy
        (``torch.fx.experimental.optimization.fuse``).
        """
        if self.receptive_field is None:
            return self.model
        if self.model not in _FUSED:
            if hasattr(self.model, "inference_copy"):  # its own (the gated zoo's runtime)
                _FUSED[self.model] = self.model.inference_copy()
            else:
                from torch.fx.experimental.optimization import fuse

                _FUSED[self.model] = fuse(self.model)
        return _FUSED[self.model]

    @property
    def strand_symmetric(self) -> bool:
        """The network combines the two strands itself (the gated zoo): scans run it on the forward strand only."""
        return bool(getattr(self.model, "strand_symmetric", False))

    def single_output(self) -> torch.nn.Module:
        """Return the model as a function of one TF.

        ``(N, 4, L)`` -> ``(N, L)`` logits (for attributions and the paper protocol); a model with ``one_output(index)``
        (the gated zoo, :meth:`tfscope.zoo.gated.GatedZoo.one_output`) provides its own.
        """
        if self.output is None:
            return self.model
        if hasattr(self.model, "one_output"):
            return self.model.one_output(self.output)
        return SelectOutput(self.model, self.output)

    def __setstate__(self, state):  # (the fused torch.fx copy lives in _FUSED, not here: it does not pickle)
        self.__dict__.update(state)
        self.__post_init__()


class SelectOutput(torch.nn.Module):
    """One output track ``(N, L)`` of a multi-output model ``(N, T, L)``."""

    def __init__(self, model: torch.nn.Module, index: int):
        super().__init__()
        self.model, self.index = model, index
        if getattr(model, "receptive_field", None) is not None:  # fully convolutional like the model
            self.receptive_field = model.receptive_field

    def forward(self, x):
        """Return ``(N, L)`` logits of the selected output for one-hot ``x`` ``(N, 4, L)``."""
        return self.model(x)[:, self.index]


#: fused inference copies per model, so that the ScanModels of one multi-TF model share one copy
_FUSED: "weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module]" = weakref.WeakKeyDictionary()


def _run(m: ScanModel, xt, xr, batch: int, cache: dict | None, key, net=None) -> tuple[np.ndarray, np.ndarray]:
    """Both-strand outputs of ``m`` on inputs ``xt``/``xr`` (:func:`both_strands`).

    Computed once per network and input ``key`` in ``cache`` so that the ScanModels of one multi-output model share one
    pass; ``m.output``'s track is returned. ``net`` replaces ``m.inference_model`` (the calls-only copy of
    :func:`calls_networks`).
    """
    net = m.inference_model if net is None else net
    k = (id(net), key)
    out = cache.get(k) if cache is not None else None
    if out is None:
        out = both_strands(net, xt, None if m.strand_symmetric else xr, batch)
        if cache is not None:
            cache[k] = out
    pf, pr = out
    return (pf, pr) if m.output is None else (pf[:, m.output], pr[:, m.output])


def _windows(x: np.ndarray, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Return starts and ``(nW, 4, window)`` windows of a ``(4, S)`` one-hot (S >= window)."""
    S = x.shape[1]
    starts = list(range(0, S - window + 1, stride))
    if starts[-1] != S - window:
        starts.append(S - window)
    starts = np.asarray(starts)
    view = np.lib.stride_tricks.sliding_window_view(x, window, axis=1)  # (4, S-W+1, W)
    return starts, np.ascontiguousarray(view[:, starts].transpose(1, 0, 2))


#: nucleotides (both strands) per forward pass in chunk mode: activations of a 16-channel zoo model then stay in
#: CPU cache; measured on the 2-core benchmark machine (45 TFs x 1 Mbp): 54 s at ~24k vs 92 s at ~200k
CHUNK_BATCH_POSITIONS = 24_000


def _chunks(x: np.ndarray, chunk: int, margin: int, *, left: int = 0, length: int | None = None) -> np.ndarray:
    """Cut a one-hot sequence into overlapping chunks with margins.

    ``(nC, 4, chunk + 2 * margin)`` overlapping pieces of a ``(4, left + length + right)`` one-hot that covers sequence
    positions ``[-left, length + right)``; piece ``i`` covers ``[i * chunk - margin, (i + 1) * chunk + margin)`` (zero =
    N outside what ``x`` covers and beyond ``length``).
    """
    S = x.shape[1] - left if length is None else length
    n = -(-S // chunk)
    xp = np.zeros((4, n * chunk + 2 * margin), np.float32)
    lo = max(0, left - margin)  # x column of xp column 0 is left - margin
    hi = min(x.shape[1], left + S + margin)
    xp[:, lo - left + margin:hi - left + margin] = x[:, lo:hi]
    view = np.lib.stride_tricks.sliding_window_view(xp, chunk + 2 * margin, axis=1)[:, ::chunk]
    return np.ascontiguousarray(view.transpose(1, 0, 2))


def chunk_input(x: np.ndarray, chunk: int, margin: int, *, left: int = 0, length: int | None = None):
    """Chunk-mode network input of :func:`_chunks`.

    ``(keep, forward, reverse complement, n chunks)`` where only chunks with a base in their centre are kept.
    """
    c = _chunks(x, chunk, margin, left=left, length=length)
    keep = np.flatnonzero(c[:, :, margin:margin + chunk].sum((1, 2)) > 0)
    xt = torch.from_numpy(c[keep])
    return keep, xt, reverse_complement_one_hot(xt), len(c)


def chunk_track(m: ScanModel, inp, chunk: int, margin: int, length: int, cache: dict | None = None, net=None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Return the forward and reverse tracks of one chunk-mode model.

    Forward and reverse ``(length,)`` probability tracks of one chunk-mode model from :func:`chunk_input` (``cache``,
    ``net``: see :func:`_run`).
    """
    keep, xt, xr, n = inp
    out = []
    if not len(keep):
        return np.zeros(length, np.float32), np.zeros(length, np.float32)
    net = m.inference_model if net is None else net
    positions = getattr(net, "batch_positions", CHUNK_BATCH_POSITIONS)
    pf, pr = _run(m, xt, xr, max(1, positions // (2 * xt.shape[-1])), cache, ("chunk", margin), net)
    for p in (pf, pr):
        full = np.zeros((n, chunk), np.float32)
        full[keep] = p[:, margin:margin + chunk]
        out.append(full.ravel()[:length])
    return out[0], out[1]


def chunk_hits(net: torch.nn.Module, inp, chunk: int, margin: int, length: int) -> tuple[np.ndarray, ...]:
    """Sparse calls-only output of a multi-output network with a ``hits`` method (:meth:`tfscope.zoo.gated.GatedCalls.hits`).

    ``(outputs, positions, probabilities)`` of the nucleotides (sequence coordinates ``[0, length)``) where each output
    reaches its floor, on the chunks of :func:`chunk_input`, ordered by output and position: the values
    :func:`chunk_track` would give there, without the dense ``(T, length)`` tracks.
    """
    keep, xt, _, _ = inp
    rows = max(1, net.batch_positions // (2 * xt.shape[-1]))
    parts = []
    for i in range(0, len(xt), rows):
        r, t, p, q = net.hits(xt[i:i + rows])
        pos = keep[r + i] * chunk + p - margin  # chunk c's centre [margin, margin + chunk) is [c * chunk, ...)
        inside = (p >= margin) & (p < margin + chunk) & (pos < length)
        parts.append((t[inside], pos[inside], q[inside]))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    t, pos, q = (np.concatenate(v) for v in zip(*parts))
    order = np.lexsort((pos, t))
    return t[order], pos[order], q[order]


def both_strands(net: torch.nn.Module, xt: torch.Tensor, xr: torch.Tensor | None, batch: int):
    """Sigmoid outputs of forward pieces and of their reverse complements flipped back.

    Each ``(n, L)`` (or ``(n, T, L)`` for a multi-output model); runs on the device of ``net``'s parameters. ``xr``
    None: the model is strand-symmetric (it combines the strands itself, e.g. :class:`tfscope.zoo.gated.GatedZoo`), so
    the forward output is returned for both strands.
    """
    p = next(net.parameters(), None)
    dev = p.device if p is not None else torch.device("cpu")
    pf, pr = [], []
    for i in range(0, len(xt), batch):
        b = min(batch, len(xt) - i)
        inp = xt[i:i + b] if xr is None else torch.cat([xt[i:i + b], xr[i:i + b]])
        out = torch.sigmoid(net(inp.to(dev))).float().cpu()
        pf.append(out[:b])
        if xr is not None:
            pr.append(out[b:].flip(-1))
    pf = torch.cat(pf).numpy()
    return pf, (pf if xr is None else torch.cat(pr).numpy())


def calls_networks(models: list[ScanModel]) -> dict:
    """Return calls-only inference copies of multi-output networks.

    Calls-only inference copies (``model.calls_network(floor)``, e.g. :meth:`tfscope.zoo.gated.GatedZoo.calls_network`)
    of the chunk-mode multi-output networks that have one, keyed by ``id(model)``; each output's floor is the lowest
    threshold of the ScanModels that read it (``inf`` for outputs nobody reads).
    """
    floors = {}
    for m in models:
        if m.output is not None and m.receptive_field is not None and hasattr(m.model, "calls_network"):
            f = floors.setdefault(id(m.model), (m.model, np.full(m.model.n_outputs, np.inf)))[1]
            f[m.output] = min(f[m.output], m.threshold)
    return {k: net.calls_network(f) for k, (net, f) in floors.items()}


@torch.no_grad()
def scan_tracks(models: list[ScanModel], seq: str, *, stride: int = 50, batch_size: int = 512,
                max_n_fraction: float = 0.5, chunk: int = 6000, mode: str = "auto",
                calls_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per-nucleotide probability tracks of one sequence for every model.

    Parameters
    ----------
    stride : int
        Window step (bp) of window-mode models.
    batch_size : int
        Windows per batch in window mode (chunk mode batches :data:`CHUNK_BATCH_POSITIONS` nucleotides).
    max_n_fraction : float
        Window mode: windows with more N than this are skipped. Chunk mode skips pieces that are all N.
    chunk : int
        Chunk length (bp) of chunk-mode models.
    mode : {"auto", "window"}
        ``auto``: chunk mode for models with a receptive field, window mode for the others; ``window``: window mode
        for every model (the way the models were trained; slower).
    calls_only : bool
        The tracks only feed calls (:func:`call_sites` at each model's threshold): networks with a calls-only copy
        (the gated zoo) skip work where no call can arise, so their tracks equal the full ones only where they
        reach the threshold (below it elsewhere).

    Returns
    -------
    (forward, reverse) : two float32 arrays ``(len(models), S)``; :func:`combine_strands` gives the combined track.
    """
    if mode not in ("auto", "window"):
        raise ValueError(f"mode must be 'auto' or 'window', not {mode!r}")
    S = len(seq)
    x = one_hot([seq], length=max(S, max(m.window for m in models)))[0]
    Sp = x.shape[1]
    is_base = x.sum(0) > 0
    fwd = np.zeros((len(models), Sp), np.float32)
    rev = np.zeros_like(fwd)
    pieces = {}  # shared inputs per (mode, size)
    cache = {}  # network outputs shared by the ScanModels of one multi-output model
    calls = calls_networks(models) if calls_only and mode == "auto" else {}
    for m_i, m in enumerate(models):
        if m.receptive_field is not None and mode == "auto":
            margin = m.receptive_field // 2 + 1
            if margin not in pieces:
                pieces[margin] = chunk_input(x, chunk, margin)
            fwd[m_i], rev[m_i] = chunk_track(m, pieces[margin], chunk, margin, Sp, cache, calls.get(id(m.model)))
        else:
            key = ("window", m.window)
            if key not in pieces:
                starts, win = _windows(x, m.window, stride)
                keep = win.sum((1, 2)) >= (1 - max_n_fraction) * m.window
                starts, win = starts[keep], win[keep]
                idx = (starts[:, None] + np.arange(m.window)[None, :]).ravel()
                cover = np.maximum(np.bincount(idx, minlength=Sp).astype(np.float32), 1)
                xt = torch.from_numpy(win)
                pieces[key] = (idx, cover, xt, reverse_complement_one_hot(xt))
            idx, cover, xt, xr = pieces[key]
            if not len(xt):
                continue
            pf, pr = _run(m, xt, xr, batch_size, cache, key)
            fwd[m_i] = np.bincount(idx, weights=pf.ravel(), minlength=Sp) / cover
            rev[m_i] = np.bincount(idx, weights=pr.ravel(), minlength=Sp) / cover
    fwd *= is_base
    rev *= is_base
    return fwd[:, :S].astype(np.float32), rev[:, :S].astype(np.float32)


def call_sites(seq_id: str, m: ScanModel, fwd: np.ndarray, rev: np.ndarray, *, offset: int = 0,
               threshold: float | None = None) -> list[BedRecord]:
    """Return the calls of model ``m`` on one sequence's tracks.

    Calls of model ``m`` on one sequence's forward/reverse tracks ``(S,)`` (:func:`tfscope.scan.calls.make_calls`: peaks
    at or above ``threshold``, default ``m.threshold``; q-values left at -1 until the run is complete); ``offset`` is
    added to the coordinates.
    """
    p = combine_strands(fwd, rev, m.strands)
    pos = np.flatnonzero(p >= (m.threshold if threshold is None else threshold))
    return make_calls(seq_id, m.name, m.call, pos, p[pos], fwd[pos], rev[pos], len(p), offset=offset,
                      symmetric=m.strand_symmetric)


def scan(models: list[ScanModel], sequences: dict[str, str], *, stride: int = 50,
         batch_size: int = 512, keep_tracks: bool = False, verbose: bool = False, mode: str = "auto",
         chunk: int = 6000, workers: int | None = None, executor=None):
    """Scan every sequence (held in memory) with every model; :func:`scan_fasta` streams a FASTA file instead.

    Parameters
    ----------
    models : list of ScanModel
    sequences : dict id -> DNA string (any length; validated upstream by :func:`tfscope.io.read_fasta`)
    stride, batch_size, mode, chunk : see :func:`scan_tracks`
    workers : int, optional
        Processes that share the work (default: :func:`tfscope.executor.default_workers`, the available cores, at
        most 4; CPU models only: models on a GPU scan in this process): the models are
        split between them (the ScanModels of one multi-output model count as one), and when there are fewer
        model shares than workers the sequences are split too. Each runs one torch thread (the output equals a
        one-thread serial scan; torch's multi-thread reductions differ from it by ~1e-7). On this project's 2-core machines two single-thread workers scan the zoo about
        1.35x faster than one process with two threads (small convolutions parallelise poorly inside one
        process). Needs the ``fork`` start method (Linux); elsewhere one process is used.
    executor : tfscope.executor.LocalExecutor or RayExecutor, optional
        Where the model shares run (default: ``LocalExecutor(workers)``, the forked processes above).

    Without ``keep_tracks`` the scan only needs calls (``scan_tracks(calls_only=True)``: the gated zoo then skips
    work where no call can arise; the sites are the same).

    Returns
    -------
    (sites, tracks) : (list of BedRecord calls (BED6+9, :data:`tfscope.io.tracks.CALL_COLUMNS`, q-values over all
    calls of the run) sorted by sequence, start, name; dict id -> (T, S) array or empty)
    """
    if executor is None:
        executor = LocalExecutor(default_workers() if workers is None else workers)
    shares = model_shares(models, executor.workers)
    args = dict(stride=stride, batch_size=batch_size, keep_tracks=keep_tracks,
                mode=mode, chunk=chunk)
    # fewer model shares than workers (e.g. one multi-TF network): the sequences are split between workers too
    ids = list(sequences)
    n_groups = max(1, min(len(ids), executor.workers // len(shares)))
    tasks = [(sh, ids[j::n_groups], args, verbose and i == 0 and j == 0)
             for i, sh in enumerate(shares) for j in range(n_groups)]
    with one_torch_thread():  # in-process shares compute as the one-thread workers do: same output for any workers
        parts = list(executor.imap(_scan_share, tasks, state=(models, sequences),
                                   in_process=len(tasks) == 1 or on_gpu(models)))
    sites = [r for part_sites, _ in parts for r in part_sites]
    tracks = {}
    if keep_tracks:
        tracks = {sid: np.zeros((len(models), len(sequences[sid])), np.float32) for sid in ids}
        for (sh, group, _, _), (_, part_tracks) in zip(tasks, parts):
            for sid in group:
                tracks[sid][sh] = part_tracks[sid]
    order = {sid: i for i, sid in enumerate(sequences)}
    sites.sort(key=lambda r: (order[r.chrom], r.start, r.name))
    fill_qvalues(sites, qvalue_map(call_p_values(sites)))
    return sites, tracks


def model_shares(models: list[ScanModel], workers: int) -> list[list[int]]:
    """Return round-robin shares of model indices, one per worker.

    At most one share per network: the ScanModels of one multi-output model stay together, so its shared pass runs
    once.
    """
    units: dict[int, list[int]] = {}
    for i, m in enumerate(models):
        units.setdefault(id(m.model), []).append(i)
    units = list(units.values())
    k = max(1, min(workers, len(units)))
    return [sum(units[i::k], []) for i in range(k)]


def on_gpu(models) -> bool:
    """Whether any model sits on a CUDA device (CUDA cannot be forked: such scans run in-process).

    Looks at the first parameter of each model only: walking every parameter of the 45-model zoo took 0.5 s per scan.
    """
    return any(next(m.model.parameters(), torch.empty(0)).is_cuda for m in models)


def _scan_share(state, task):
    models, sequences = state
    share, ids, args, verbose = task
    return _scan_serial([models[i] for i in share], {sid: sequences[sid] for sid in ids}, verbose=verbose, **args)


def _scan_serial(models, sequences, *, stride, batch_size, keep_tracks, verbose, mode, chunk):
    sites: list[BedRecord] = []
    tracks = {}
    for sid, seq in tqdm(sequences.items(), disable=None if verbose else True, desc="scan", unit="seq"):
        fwd, rev = scan_tracks(models, seq, stride=stride, batch_size=batch_size, mode=mode, chunk=chunk,
                               calls_only=not keep_tracks)
        fetch = sequence_fetcher({sid: seq})
        for m_i, m in enumerate(models):
            sites += orient_calls(call_sites(sid, m, fwd[m_i], rev[m_i]), fetch, {m.name: m.call.matrix})
        if keep_tracks:
            tracks[sid] = np.stack([combine_strands(fwd[m_i], rev[m_i], m.strands) for m_i, m in enumerate(models)])
    return sites, tracks


def window_max_scores(models: list[ScanModel], windows: list[str], *, record_bp: int = 100_000,
                      workers: int = 1, mode: str = "auto") -> np.ndarray:
    """Score fixed-length genome windows by scanning them as one long sequence.

    ``(T, N)`` maximum probability of each model inside each window.

    The windows (all of one length, given in genomic order) are concatenated into records of about ``record_bp``
    bp, scanned like any FASTA (both strands; chunk mode for fully convolutional models, so each nucleotide sees
    its neighbours across window junctions), and each window is scored by its highest nucleotide probability.
    The zoo's call thresholds are calibrated this way on chr7 (:func:`tfscope.snr.train.calibrate_threshold`);
    ``benchmarks/genomic.py`` scores chr8 the same way (its own :func:`scan` call, since it also counts the calls).

    Raises
    ------
    ValueError
        If the windows differ in length or there are none.
    """
    if not windows:
        raise ValueError("no windows to score")
    L = len(windows[0])
    if any(len(w) != L for w in windows):
        raise ValueError("windows must all have the same length")
    per = max(1, record_bp // L)
    records = {f"w{i}": "".join(windows[i:i + per]) for i in range(0, len(windows), per)}
    _, tracks = scan(models, records, keep_tracks=True, workers=workers, mode=mode)
    return np.concatenate([tracks[r].reshape(len(models), -1, L).max(-1) for r in records], axis=1)


@contextlib.contextmanager
def one_torch_thread():
    """Run the block with one torch intra-op thread (as each forked or Ray worker does), then restore."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
