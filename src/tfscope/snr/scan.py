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
(:mod:`tfscope.executor`: forked local workers or Ray actors) and writes BED, bedGraph, bigWig and bigBed.

Both strands are predicted (reverse complements flipped back) and combined per nucleotide by the model's
``strands`` rule (:func:`combine_strands`): the max of the two strands (per-TF zoo checkpoints), or their mean
(reverse-complement averaging as in DeepSEA, Zhou & Troyanskaya 2015; checkpoints with ``meta.strands = "mean"``).
A model with ``strand_symmetric = True`` (the gated genomic zoo, :mod:`tfscope.snr.gated`) combines the strands
itself and runs once per piece. Positions that are N get probability 0. Calls are binding events
(:mod:`tfscope.snr.calls`): peaks of the track at or above the model's threshold, one per site width, each call the
TF's site width centred on its peak, with its paralog group, estimated precision, p-value and q-value (BED6+8,
:data:`tfscope.io.tracks.CALL_COLUMNS`); its strand is the strand with the higher probability at the peak (``.`` for
a strand-symmetric model).
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field

import numpy as np
import torch

from ..io.bed import BedRecord
from ..sequence import one_hot, reverse_complement_one_hot
from .calls import CallSpec, StreamCaller, call_p_values, fill_qvalues, make_calls, qvalue_map


#: per-nucleotide rules that combine the forward and reverse-complement probability tracks
STRAND_RULES = ("max", "mean")


def combine_strands(fwd: np.ndarray, rev: np.ndarray, how: str = "max") -> np.ndarray:
    """One probability track from the two strands, any equal shapes: ``max`` (either strand; the per-TF zoos) or
    ``mean`` (reverse-complement averaging, as DeepSEA averages forward and reverse-complement predictions; chosen
    for the genomic zoo on chr7: mean window AUPRC 0.540 -> 0.547).

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
    (``(N, T, L)`` logits, e.g. the multi-TF genomic zoo of :mod:`tfscope.snr.multitask`): ScanModels that share one
    such ``model`` share its fused copy, and the scan runs it once for all of them.
    """

    name: str
    model: torch.nn.Module
    threshold: float = 0.5
    window: int = 100
    output: int | None = None
    #: how the two strands combine per nucleotide (:func:`combine_strands`): ``max`` or ``mean``
    strands: str = "max"
    #: how the track becomes calls: site width, paralog group, confidence (:class:`tfscope.snr.calls.CallSpec`)
    call: CallSpec = field(default_factory=CallSpec)

    def __post_init__(self):
        if self.strands not in STRAND_RULES:
            raise ValueError(f"strands must be one of {', '.join(STRAND_RULES)}, not {self.strands!r}")
        self.model.eval()
        self.receptive_field = getattr(self.model, "receptive_field", None)
        self.inference_model = self.model
        if self.receptive_field is not None:
            if self.model not in _FUSED:
                from torch.fx.experimental.optimization import fuse

                _FUSED[self.model] = fuse(self.model)
            self.inference_model = _FUSED[self.model]

    @property
    def strand_symmetric(self) -> bool:
        """The network combines the two strands itself (the gated zoo): scans run it on the forward strand only."""
        return bool(getattr(self.model, "strand_symmetric", False))

    def single_output(self) -> torch.nn.Module:
        """The model as a function of one TF: ``(N, 4, L)`` -> ``(N, L)`` logits (for attributions and the paper
        protocol); a model with ``one_output(index)`` (the gated zoo, :meth:`tfscope.snr.gated.GatedZoo.one_output`)
        provides its own."""
        if self.output is None:
            return self.model
        if hasattr(self.model, "one_output"):
            return self.model.one_output(self.output)
        return SelectOutput(self.model, self.output)

    def __getstate__(self):  # the fused torch.fx copy does not pickle (Ray actors): it is rebuilt on unpickling
        return {k: v for k, v in self.__dict__.items() if k != "inference_model"}

    def __setstate__(self, state):
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
        return self.model(x)[:, self.index]


#: fused inference copies per model, so that the ScanModels of one multi-TF model share one copy
_FUSED: "weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module]" = weakref.WeakKeyDictionary()


def _run(m: ScanModel, xt, xr, batch: int, cache: dict | None, key, net=None) -> tuple[np.ndarray, np.ndarray]:
    """Both-strand outputs of ``m`` on inputs ``xt``/``xr`` (:func:`_both_strands`), computed once per network and
    input ``key`` in ``cache`` so that the ScanModels of one multi-output model share one pass; ``m.output``'s
    track is returned. ``net`` replaces ``m.inference_model`` (the calls-only copy of :func:`_calls_networks`)."""
    net = m.inference_model if net is None else net
    k = (id(net), key)
    out = cache.get(k) if cache is not None else None
    if out is None:
        out = _both_strands(net, xt, None if m.strand_symmetric else xr, batch)
        if cache is not None:
            cache[k] = out
    pf, pr = out
    return (pf, pr) if m.output is None else (pf[:, m.output], pr[:, m.output])


def _windows(x: np.ndarray, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ``(nW, 4, window)`` windows of a ``(4, S)`` one-hot (S >= window)."""
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
    """``(nC, 4, chunk + 2 * margin)`` overlapping pieces of a ``(4, left + length + right)`` one-hot that covers
    sequence positions ``[-left, length + right)``; piece ``i`` covers ``[i * chunk - margin, (i + 1) * chunk +
    margin)`` (zero = N outside what ``x`` covers and beyond ``length``)."""
    S = x.shape[1] - left if length is None else length
    n = -(-S // chunk)
    xp = np.zeros((4, n * chunk + 2 * margin), np.float32)
    lo = max(0, left - margin)  # x column of xp column 0 is left - margin
    hi = min(x.shape[1], left + S + margin)
    xp[:, lo - left + margin:hi - left + margin] = x[:, lo:hi]
    view = np.lib.stride_tricks.sliding_window_view(xp, chunk + 2 * margin, axis=1)[:, ::chunk]
    return np.ascontiguousarray(view.transpose(1, 0, 2))


def _chunk_input(x: np.ndarray, chunk: int, margin: int, *, left: int = 0, length: int | None = None):
    """Chunk-mode network input of :func:`_chunks`: ``(keep, forward, reverse complement, n chunks)`` where only
    chunks with a base in their centre are kept."""
    c = _chunks(x, chunk, margin, left=left, length=length)
    keep = np.flatnonzero(c[:, :, margin:margin + chunk].sum((1, 2)) > 0)
    xt = torch.from_numpy(c[keep])
    return keep, xt, reverse_complement_one_hot(xt), len(c)


def _chunk_track(m: ScanModel, inp, chunk: int, margin: int, length: int, cache: dict | None = None, net=None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Forward and reverse ``(length,)`` probability tracks of one chunk-mode model from :func:`_chunk_input`
    (``cache``, ``net``: see :func:`_run`)."""
    keep, xt, xr, n = inp
    out = []
    if not len(keep):
        return np.zeros(length, np.float32), np.zeros(length, np.float32)
    positions = getattr(net, "batch_positions", CHUNK_BATCH_POSITIONS)
    pf, pr = _run(m, xt, xr, max(1, positions // (2 * xt.shape[-1])), cache, ("chunk", margin), net)
    for p in (pf, pr):
        full = np.zeros((n, chunk), np.float32)
        full[keep] = p[:, margin:margin + chunk]
        out.append(full.ravel()[:length])
    return out[0], out[1]


def _both_strands(net: torch.nn.Module, xt: torch.Tensor, xr: torch.Tensor | None, batch: int):
    """Sigmoid outputs of forward pieces and of their reverse complements flipped back, each ``(n, L)`` (or
    ``(n, T, L)`` for a multi-output model); runs on the device of ``net``'s parameters. ``xr`` None: the model
    is strand-symmetric (it combines the strands itself, e.g. :class:`tfscope.snr.gated.GatedZoo`), so the forward
    output is returned for both strands."""
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


def _calls_networks(models: list[ScanModel]) -> dict:
    """Calls-only inference copies (``model.calls_network(floor)``, e.g.
    :meth:`tfscope.snr.gated.GatedZoo.calls_network`) of the chunk-mode multi-output networks that have one, keyed
    by ``id(model)``; each output's floor is the lowest threshold of the ScanModels that read it (``inf`` for
    outputs nobody reads)."""
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
    calls = _calls_networks(models) if calls_only and mode == "auto" else {}
    for m_i, m in enumerate(models):
        if m.receptive_field is not None and mode == "auto":
            margin = m.receptive_field // 2 + 1
            if margin not in pieces:
                pieces[margin] = _chunk_input(x, chunk, margin)
            fwd[m_i], rev[m_i] = _chunk_track(m, pieces[margin], chunk, margin, Sp, cache, calls.get(id(m.model)))
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
    """Calls of model ``m`` on one sequence's forward/reverse tracks ``(S,)`` (:func:`tfscope.snr.calls.make_calls`:
    peaks at or above ``threshold``, default ``m.threshold``; q-values left at -1 until the run is complete);
    ``offset`` is added to the coordinates."""
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
    (sites, tracks) : (list of BedRecord calls (BED6+8, :data:`tfscope.io.tracks.CALL_COLUMNS`, q-values over all
    calls of the run) sorted by sequence, start, name; dict id -> (T, S) array or empty)
    """
    from ..executor import LocalExecutor

    if executor is None:
        from ..executor import default_workers

        executor = LocalExecutor(default_workers() if workers is None else workers)
    shares = _shares(models, executor.workers)
    args = dict(stride=stride, batch_size=batch_size, keep_tracks=keep_tracks,
                mode=mode, chunk=chunk)
    # fewer model shares than workers (e.g. one multi-TF network): the sequences are split between workers too
    ids = list(sequences)
    n_groups = max(1, min(len(ids), executor.workers // len(shares)))
    tasks = [(sh, ids[j::n_groups], args, verbose and i == 0 and j == 0)
             for i, sh in enumerate(shares) for j in range(n_groups)]
    with _one_torch_thread():  # in-process shares compute as the one-thread workers do: same output for any workers
        parts = list(executor.imap(_scan_share, tasks, state=(models, sequences),
                                   in_process=len(tasks) == 1 or _on_gpu(models)))
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


def _shares(models: list[ScanModel], workers: int) -> list[list[int]]:
    """Round-robin shares of model indices, one per worker (at most one per network: the ScanModels of one
    multi-output model stay together, so its shared pass runs once)."""
    units: dict[int, list[int]] = {}
    for i, m in enumerate(models):
        units.setdefault(id(m.model), []).append(i)
    units = list(units.values())
    k = max(1, min(workers, len(units)))
    return [sum(units[i::k], []) for i in range(k)]


def _on_gpu(models) -> bool:
    """Whether any model sits on a CUDA device (CUDA cannot be forked: such scans run in-process). Looks at the
    first parameter of each model only: walking every parameter of the 45-model zoo took 0.5 s per scan."""
    return any(next(m.model.parameters(), torch.empty(0)).is_cuda for m in models)


def _scan_share(state, task):
    models, sequences = state
    share, ids, args, verbose = task
    return _scan_serial([models[i] for i in share], {sid: sequences[sid] for sid in ids}, verbose=verbose, **args)


def _scan_serial(models, sequences, *, stride, batch_size, keep_tracks, verbose, mode, chunk):
    from tqdm.auto import tqdm

    sites: list[BedRecord] = []
    tracks = {}
    for sid, seq in tqdm(sequences.items(), disable=None if verbose else True, desc="scan", unit="seq"):
        fwd, rev = scan_tracks(models, seq, stride=stride, batch_size=batch_size, mode=mode, chunk=chunk,
                               calls_only=not keep_tracks)
        for m_i, m in enumerate(models):
            sites += call_sites(sid, m, fwd[m_i], rev[m_i])
        if keep_tracks:
            tracks[sid] = np.stack([combine_strands(fwd[m_i], rev[m_i], m.strands) for m_i, m in enumerate(models)])
    return sites, tracks


def write_bedgraphs(directory, tracks: dict, names: list[str], *, digits: int = 3, outputs=None) -> list:
    """Write one bedGraph per model (``<directory>/<name>.bedGraph``): runs of equal rounded probability merged,
    zero runs omitted (with ``outputs``, a :class:`tfscope.io.atomic.Outputs`, renamed at its commit). Returns the
    paths."""
    from ..io.atomic import file_inside
    from ..io.tracks import BedGraphWriter, value_runs

    paths = []
    for m_i, name in enumerate(names):
        w = BedGraphWriter(file_inside(directory, f"{name}.bedGraph"), name, digits=digits, outputs=outputs)
        try:
            for sid, t in tracks.items():
                w.add(sid, *value_runs(np.round(t[m_i], digits)))
        except BaseException:
            w.close(False)
            raise
        w.close()
        paths.append(w.path)
    return paths


def write_tracks_tsv(path, tracks: dict, names: list[str], *, outputs=None) -> None:
    """Write per-nucleotide probabilities as TSV: ``seq_id position(0-based) base-called-probabilities...``
    (atomically; with ``outputs``, a :class:`tfscope.io.atomic.Outputs`, renamed at its commit)."""
    from ..io.atomic import atomic_write

    with atomic_write(path, outputs=outputs) as fh:
        fh.write("\t".join(["seq_id", "position", *names]) + "\n")
        for sid, t in tracks.items():
            for i in range(t.shape[1]):
                fh.write(sid + "\t" + str(i) + "\t" + "\t".join(f"{v:.4f}" for v in t[:, i]) + "\n")


def load_scan_models(checkpoints, *, device: str = "auto", tfs=None, threshold: float | None = None
                     ) -> list[ScanModel]:
    """Load ``snr`` checkpoints as :class:`ScanModel` on ``device`` (:func:`tfscope.device.resolve_device`:
    ``auto``, ``cpu``, ``cuda``).

    A per-TF checkpoint gives one ScanModel (label = its TF, else its directory's name; threshold from
    validation); a multi-TF checkpoint (``meta.tfs``, :mod:`tfscope.snr.multitask`) gives one ScanModel per TF,
    sharing the network, with each TF's calibrated threshold (``meta.per_tf``).

    Parameters
    ----------
    tfs : list of str, optional
        Keep only these TFs of multi-TF checkpoints (case-insensitive; default all).
    threshold : float, optional
        One call threshold for every model instead of the checkpoints' own (``meta.threshold`` /
        ``meta.per_tf[TF].threshold``, required otherwise).

    Raises
    ------
    InputError
        For a TF in ``tfs`` that a multi-TF checkpoint lacks, and any checkpoint error
        (:func:`tfscope.checkpoint.load_checkpoint`).
    CheckpointError
        A checkpoint without its call threshold (and no ``threshold``).
    """
    from ..checkpoint import load_checkpoint
    from ..errors import CheckpointError, InputError
    from ..device import resolve_device

    def own(thr, field, c):  # the call threshold: the override, else the checkpoint's own (required)
        if threshold is not None:
            return float(threshold)
        if thr is None:
            raise CheckpointError(f"{c}/config.json: {field}: missing (the validation-tuned call threshold); give "
                                  "--threshold to scan with it anyway")
        return float(thr)

    device = resolve_device(device)
    out = []
    for c in checkpoints:
        net, cfg = load_checkpoint(c, task="snr")
        net.to(device)
        meta = cfg.get("meta", {})
        window = int(meta.get("window", 100))
        strands = meta.get("strands", "max")
        if "tfs" not in meta:
            name = meta.get("tf") or _checkpoint_name(c)
            out.append(ScanModel(name, net, own(meta.get("threshold"), "meta.threshold", c), window,
                                 strands=strands, call=call_spec(meta, meta.get("group") or name)))
            continue
        names = list(meta["tfs"])
        lookup = {t.upper(): i for i, t in enumerate(names)}
        want = [t.upper() for t in tfs] if tfs else [t.upper() for t in names]
        groups = meta.get("groups", {})
        for t in want:
            if t not in lookup:
                raise InputError(f"unknown TF {t!r}; the model has: {', '.join(names)}", str(c))
            i = lookup[t]
            rec = meta.get("per_tf", {}).get(names[i], {})
            thr = own(rec.get("threshold"), f"meta.per_tf.{names[i]}.threshold", c)
            out.append(ScanModel(names[i], net, thr, window, output=i, strands=strands,
                                 call=call_spec(rec, groups.get(names[i], names[i]))))
    return out


def _checkpoint_name(path) -> str:
    """The name of a checkpoint without ``meta.tf``: its directory name, made a valid TF name
    (:data:`tfscope.checkpoint_schema.NAME_PATTERN`: it names track files and report lanes)."""
    import re
    from pathlib import Path

    name = re.sub(r"[^A-Za-z0-9_.:+-]", "_", Path(path).resolve().name)[:64]
    return name if re.match(r"[A-Za-z0-9]", name) else "model"


def call_spec(rec: dict, group: str) -> CallSpec:
    """The :class:`tfscope.snr.calls.CallSpec` of one TF from its checkpoint record (``meta`` of a per-TF checkpoint,
    ``meta.per_tf[TF]`` of a multi-TF one): ``site_width`` (default :data:`tfscope.snr.calls.DEFAULT_SITE_WIDTH`)
    and ``call_confidence`` (:meth:`tfscope.snr.calls.CallConfidence.from_meta`)."""
    from .calls import DEFAULT_SITE_WIDTH, CallConfidence

    return CallSpec(int(rec.get("site_width", DEFAULT_SITE_WIDTH)), group,
                    CallConfidence.from_meta(rec.get("call_confidence")))


def window_max_scores(models: list[ScanModel], windows: list[str], *, record_bp: int = 100_000,
                      workers: int = 1, mode: str = "auto") -> np.ndarray:
    """Score fixed-length genome windows by scanning them as one long sequence: ``(T, N)`` maximum probability of
    each model inside each window.

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


#: chunks per streamed piece (:func:`scan_fasta`): 40 x 6000 bp = 240 kbp, about 0.1 GiB of working memory per
#: worker; pieces are the unit of work (with a share of the TFs) sent to the executor
PIECE_CHUNKS = 40


def _stream_pieces(records, piece: int, margin: int, sizes: dict):
    """Cut streamed records into ``piece`` bp pieces with up to ``margin`` bp of context on both sides: yields
    ``(id, start, context, left, length, last)`` (``context`` = sequence ``[start - left, start + length +
    right)``); fills ``sizes`` with each record's length once it has been read."""
    for sid, blocks in records:
        buf, buf_start, start = "", 0, 0  # buf holds the sequence from buf_start on
        for block in blocks:
            buf += block
            while buf_start + len(buf) >= start + piece + margin + 1:  # one more base: this is not the last piece
                left = min(margin, start)
                yield sid, start, buf[start - left - buf_start:start + piece + margin - buf_start], left, piece, False
                start += piece
                cut = start - margin - buf_start
                if cut > 0:
                    buf, buf_start = buf[cut:], buf_start + cut
        end = buf_start + len(buf)
        sizes[sid] = end
        while start < end:
            length = min(piece, end - start)
            left = min(margin, start)
            yield (sid, start, buf[start - left - buf_start:start + length + margin - buf_start], left, length,
                   start + length >= end)
            start += length


def _packed_tasks(pieces, piece: int, margin: int):
    """Group the pieces of :func:`_stream_pieces` into units of work: a record that fits in one piece is packed with
    the short records that follow it into one sequence, each flanked by ``margin`` N (wider than half the receptive
    field, so every record is computed exactly as on its own: N are all-zero columns, as past a record's end); other
    pieces stay alone. Yields ``(context, left, span, segments)`` with ``segments`` a list of ``(id, start, offset,
    length, last)``: the record positions ``[start, start + length)`` lie at ``[offset, offset + length)`` of the
    ``span`` bp computed after ``left`` bp of context. Scanning 1,000 records of 100 bp then costs about what 100 kbp
    in one record does, instead of one padded chunk per record."""
    pack, total = [], 0

    def flush():
        gap = "N" * margin
        ctx = gap + gap.join(c for _, c, _ in pack) + gap
        segs, off = [], margin
        for sid, c, length in pack:
            segs.append((sid, 0, off, length, True))
            off += length + margin
        return ctx, 0, len(ctx), segs

    for sid, start, ctx, left, length, last in pieces:
        if start == 0 and last:  # a whole record in one piece
            if pack and total + length + margin > piece:
                yield flush()
                pack, total = [], 0
            pack.append((sid, ctx[:length], length))
            total += length + margin
            continue
        if pack:
            yield flush()
            pack, total = [], 0
        yield ctx, left, length, [(sid, start, 0, length, last)]
    if pack:
        yield flush()


@torch.no_grad()
def _scan_piece(models, task):
    """Worker side of :func:`scan_fasta`: one unit of :func:`_packed_tasks` (a piece, or short records packed
    together) scanned by a share of the models. Returns, per model, ``(bounds, pos, p, fwd, rev, runs)``: the
    nucleotides at or above the model's threshold in all segments (record parts) together, ``pos`` in record
    coordinates with combined and per-strand probabilities, segment ``k`` being ``[bounds[k], bounds[k + 1])`` of
    these arrays; ``runs`` is the list of rounded bedGraph runs per segment, or None. (One set of arrays per model
    instead of one per model and segment: pickling 45 x 1,000 small tuples back from the workers made 1,000
    packed 100-bp records scan 1.7x slower than the same bases as one record.)"""
    from ..io.tracks import value_runs

    ctx, left, span, segments, share, chunk, digits = task
    x = one_hot([ctx])[0]
    is_base = x[:, left:left + span].sum(0) > 0
    inputs, out, cache = {}, [], {}
    calls = _calls_networks([models[i] for i in share]) if digits is None else {}  # no tracks written: calls only
    for i in share:
        m = models[i]
        margin = m.receptive_field // 2 + 1
        if margin not in inputs:
            inputs[margin] = _chunk_input(x, chunk, margin, left=left, length=span)
        f, r = _chunk_track(m, inputs[margin], chunk, margin, span, cache, calls.get(id(m.model)))
        f, r = f * is_base, r * is_base
        p = combine_strands(f, r, m.strands)
        hit = p >= m.threshold
        if len(segments) == 1:
            _, start, off, length, _ = segments[0]
            idx = np.flatnonzero(hit[off:off + length]) + off
            pos = idx - off + start
            bounds = np.array([0, len(idx)])
        else:  # packed records: positions in the spacers belong to no segment
            starts = np.array([sg[1] for sg in segments], dtype=np.int64)
            offs = np.array([sg[2] for sg in segments], dtype=np.int64)
            lens = np.array([sg[3] for sg in segments], dtype=np.int64)
            idx = np.flatnonzero(hit)
            k = np.searchsorted(offs, idx, side="right") - 1
            inside = (k >= 0) & (idx < offs[np.maximum(k, 0)] + lens[np.maximum(k, 0)])
            idx, k = idx[inside], k[inside]
            pos = idx - offs[k] + starts[k]
            bounds = np.searchsorted(k, np.arange(len(segments) + 1))
        runs = None
        if digits is not None:
            runs = []
            for _, start, off, length, _ in segments:
                a, b, v = value_runs(np.round(p[off:off + length], digits))
                runs.append((a + start, b + start, v))
        out.append((bounds, pos, p[idx], f[idx], r[idx], runs))
    return out


def scan_fasta(models: list[ScanModel], fasta, bed, *, bedgraph=None, bigwig=None, bigbed=None,
               chunk: int = 6000, piece: int | None = None, executor=None, digits: int = 3,
               collapse: str | None = None, min_precision: float | None = None, max_q: float | None = None,
               verbose: bool = False, outputs=None) -> dict:
    """Stream a FASTA file (any size: a genome) through fully convolutional models and write calls and tracks.

    Records are read lazily (:func:`tfscope.io.fasta.iter_fasta`: plain, gzip, bgzip/faidx) and cut into pieces
    of ``piece`` bp, each with the chunk-mode margins of :func:`scan_tracks` on both sides, so every nucleotide is
    computed exactly as in a whole-record scan, and the calls equal those of :func:`scan` of the same records: each
    cluster of above-threshold nucleotides is called once no later nucleotide can reach it
    (:class:`tfscope.snr.calls.StreamCaller`). Work goes to the executor by (record, piece, TF share); memory is
    bounded by the pieces in flight, not by record length. Calls go to a private temporary file first; q-values
    need every p-value of the run, so a second pass writes the BED (atomically). Without bedGraph/bigWig output,
    networks with a calls-only copy (the gated zoo, :class:`tfscope.snr.gated.GatedCalls`) skip work where no call
    can arise; the calls are the same.

    Parameters
    ----------
    models : list of ScanModel, all with a ``receptive_field`` (chunk mode)
    fasta : path of the DNA FASTA
    bed : output BED6+8 of the calls (:data:`tfscope.io.tracks.CALL_COLUMNS`), sorted by record (file order),
        start, name; written atomically
    bedgraph : directory for one bedGraph per TF (``<TF>.bedGraph``), optional
    bigwig : directory for one bigWig per TF (``<TF>.bw``), optional
    bigbed : path of a bigBed 6+8 of the calls (:data:`tfscope.io.tracks.CALLS_AUTOSQL`), optional
    chunk : chunk length (bp) of chunk mode
    piece : bp per piece (a multiple of ``chunk``; default :data:`PIECE_CHUNKS` chunks)
    executor : :class:`tfscope.executor.LocalExecutor` (default, one process) or ``RayExecutor``
    digits : decimals of the bedGraph/bigWig values
    collapse : ``"group"``: one call per paralog group and site (:func:`tfscope.snr.calls.collapse_groups`)
    min_precision, max_q : keep calls with at least this estimated precision / at most this q-value
        (:func:`tfscope.snr.calls.select_calls`; q-values are computed over all calls first)
    verbose : progress bar (bp)
    outputs : :class:`tfscope.io.atomic.Outputs`, optional: the files are staged in it and renamed into place at
        its commit, by the caller (with the run's other outputs); by default they are renamed together at the end

    Returns
    -------
    dict with ``records``, ``bp``, ``sites``, ``chrom_sizes`` (``{id: length}``) and the written ``paths``.

    Raises
    ------
    ValueError
        If a model has no receptive field (window-mode models scan in memory with :func:`scan`) or ``piece`` is
        not a positive multiple of ``chunk``.
    InputError
        Bad FASTA input (nothing is written then).
    """
    import collections
    from pathlib import Path

    from tqdm.auto import tqdm

    from ..executor import LocalExecutor
    from ..io.atomic import Outputs, file_inside
    from ..io.bed import bed_line
    from ..io.fasta import iter_fasta
    from ..io.tracks import BedGraphWriter

    if any(m.receptive_field is None for m in models):
        raise ValueError("streaming needs fully convolutional models with a receptive_field; scan window-mode "
                         "models in memory with tfscope.snr.scan.scan")
    piece = piece or PIECE_CHUNKS * chunk
    if piece <= 0 or piece % chunk:
        raise ValueError(f"piece ({piece}) must be a positive multiple of chunk ({chunk})")
    executor = executor or LocalExecutor(1)
    margin = max(m.receptive_field // 2 + 1 for m in models)
    max_w = max(m.call.site_width for m in models)
    shares = _shares(models, executor.workers)
    own = outputs is None  # this run's files, renamed into place together at the end (concurrent runs stay apart)
    outputs = Outputs() if own else outputs
    tmp = outputs.tempdir(Path(bigwig)) if bigwig and not bedgraph else None
    track_dir = Path(bedgraph) if bedgraph else tmp
    graphs = []
    try:
        for m in models if track_dir else []:
            graphs.append(BedGraphWriter(file_inside(track_dir, f"{m.name}.bedGraph"), m.name, digits=digits,
                                         outputs=outputs))
    except BaseException:
        for g in graphs:
            g.close(False)
        outputs.discard()
        raise
    sizes: dict[str, int] = {}
    metas = collections.deque()  # (id, start, length, last, share number) of the tasks submitted, in order

    def tasks():
        pieces = _stream_pieces(iter_fasta(fasta, block=piece), piece, margin, sizes)
        for ctx, left, span, segments in _packed_tasks(pieces, piece, margin):
            for j, sh in enumerate(shares):
                metas.append((segments, j))
                yield ctx, left, span, segments, sh, chunk, digits if graphs else None

    bed = Path(bed)
    raw = outputs.tempdir(bed) / "calls.raw"  # first pass (q-values need the whole run), private to this run
    n_sites, ok, p_values = 0, False, []
    try:
        with open(raw, "w") as fh, tqdm(disable=None if verbose else True, desc="scan", unit="bp",
                                        unit_scale=True) as bar:
            callers: dict[int, StreamCaller] = {}  # model index -> caller of this record, from its 1st point
            cur = None
            pending: list[BedRecord] = []  # calls not yet written (a call of a later point may precede them)
            outs = [None] * len(shares)
            for res in executor.imap(_scan_piece, tasks(), state=models, in_process=_on_gpu(models)):
                segments, j = metas.popleft()
                outs[j] = res
                if j < len(shares) - 1:
                    continue
                for k, (sid, start, _, length, last) in enumerate(segments):
                    if sid != cur:
                        callers, cur = {}, sid
                    end = start + length
                    for sh, out in zip(shares, outs):
                        for i, (bounds, pos, p, f, r, runs) in zip(sh, out):
                            a, b = bounds[k], bounds[k + 1]
                            if runs is not None:
                                graphs[i].add(sid, *runs[k])
                            if b > a:
                                if i not in callers:
                                    m = models[i]
                                    callers[i] = StreamCaller(sid, m.name, m.call, m.strand_symmetric)
                                callers[i].add(pos[a:b], p[a:b], f[a:b], r[a:b])
                    for c in callers.values():
                        pending += c.finish(end) if last else c.ready(end, end + max_w)
                    if last:
                        ready, pending = pending, []
                    else:
                        opens = [c.first_open() for c in callers.values()]
                        open_from = min([o - max_w for o in opens if o is not None] + [end - max_w])
                        ready = [r for r in pending if r.start < open_from]
                        pending = [r for r in pending if r.start >= open_from]
                    if ready:
                        ready.sort(key=lambda r: (r.start, r.name))
                        fh.writelines(bed_line(r) for r in ready)
                        p_values.append(call_p_values(ready))
                    bar.update(length)
        n_sites = _finalize_calls(raw, bed, np.concatenate(p_values) if p_values else np.zeros(0),
                                  collapse=collapse, min_precision=min_precision, max_q=max_q, outputs=outputs)
        ok = True
    except OSError as e:  # the first pass's file: one line naming the output, as every other write
        from ..io.atomic import OUTPUT_ERRNOS, output_error

        if e.errno in OUTPUT_ERRNOS:
            raise output_error(bed, e) from None
        raise
    finally:
        failed = None
        for g in graphs:  # every writer closes (a failure discards the rest): no half-closed temporary file
            try:
                g.close(ok and failed is None)
            except BaseException as e:
                failed = failed or e
        if not ok or failed is not None:
            outputs.discard()
        if failed is not None and ok:
            raise failed
    paths = {"bed": Path(bed)}
    if bedgraph:
        paths["bedgraph"] = [g.path for g in graphs]
    try:
        paths.update(write_browser_tracks(sizes, bedgraphs=[outputs.staged(g.path) for g in graphs],
                                          names=[m.name for m in models], bigwig=bigwig, bed=outputs.staged(bed),
                                          bigbed=bigbed, outputs=outputs))
        if own:
            outputs.commit()
    except BaseException:
        outputs.discard()
        raise
    finally:
        if own:
            outputs.discard()
    return {"records": len(sizes), "bp": sum(sizes.values()), "sites": n_sites, "chrom_sizes": sizes,
            "paths": paths}


def _finalize_calls(raw, bed, p_values: np.ndarray, *, collapse=None, min_precision=None, max_q=None,
                    outputs=None) -> int:
    """Second pass of :func:`scan_fasta`: the raw calls (sorted per record) with q-values over the run, collapsed
    and selected per block of overlapping calls, written atomically to ``bed`` (renamed at the commit of
    ``outputs``, a :class:`tfscope.io.atomic.Outputs`, when given). Returns the number written."""
    from ..io.atomic import atomic_write
    from ..io.bed import bed_line
    from .calls import finalize_calls

    qmap = qvalue_map(p_values)
    n = 0
    with atomic_write(bed, outputs=outputs) as out, open(raw) as fh:
        block: list[BedRecord] = []
        block_end, chrom = -1, None

        def flush():
            nonlocal n
            if block:
                fill_qvalues(block, qmap)
                recs = finalize_calls(block, collapse=collapse, min_precision=min_precision, max_q=max_q)
                out.writelines(bed_line(r) for r in recs)
                n += len(recs)
                block.clear()

        for line in fh:
            c = line.rstrip("\n").split("\t")
            r = BedRecord(c[0], int(c[1]), int(c[2]), c[3], int(c[4]), c[5], c[6:])
            if r.chrom != chrom or r.start >= block_end:
                flush()
                chrom, block_end = r.chrom, r.end
            block.append(r)
            block_end = max(block_end, r.end)
        flush()
    return n


def write_browser_tracks(chrom_sizes: dict[str, int], *, bedgraphs=(), names=(), bigwig=None, bed=None,
                         bigbed=None, outputs=None) -> dict:
    """Genome-browser files from scan output: ``<bigwig>/<name>.bw`` from each bedGraph, and a bigBed of the calls
    in ``bed`` (:func:`tfscope.io.tracks.bed_to_bigbed`); either is skipped when its path is None.

    Parameters
    ----------
    chrom_sizes : ``{record id: length}`` in the order of the BED/bedGraph records
    outputs : :class:`tfscope.io.atomic.Outputs`, optional: the files are renamed into place at its commit

    Returns
    -------
    dict with the ``bigwig`` paths (list) and ``bigbed`` path (final paths).
    """
    from ..io.atomic import file_inside
    from ..io.tracks import bed_to_bigbed, bedgraph_to_bigwig

    out = {}
    if bigwig:
        out["bigwig"] = [bedgraph_to_bigwig(g, file_inside(bigwig, f"{n}.bw"), chrom_sizes, outputs=outputs)
                         for g, n in zip(bedgraphs, names)]
    if bigbed:
        out["bigbed"] = bed_to_bigbed(bed, bigbed, chrom_sizes, outputs=outputs)
    return out


@contextlib.contextmanager
def _one_torch_thread():
    """Run the block with one torch intra-op thread (as each forked or Ray worker does), then restore."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)

def sites_frame(sites):
    """The calls of :func:`scan` (or :func:`tfscope.io.bed.read_bed` of a ``tfscope scan`` BED) as a pandas
    DataFrame, one row per call.

    Columns: ``chrom`` (sequence id), ``start``, ``end`` (0-based half-open, int64), ``name`` (TF), ``score``
    (BED score), ``strand``, then the call columns :data:`tfscope.io.tracks.CALL_COLUMNS` that the records carry
    in ``extra``, in that order (``peakP`` always; ``peak``, ``precision``, ``groupPrecision``, ``pValue``,
    ``qValue``, ``group``, ``members`` where the scan wrote them; a record with fewer values gets NaN / None).
    Every call column except ``group`` and ``members`` is numeric (float64; ``peak``, a 0-based position, is
    Int64); ``.``, ``NA`` and empty values become NaN.

    Parameters
    ----------
    sites : iterable of tfscope.io.bed.BedRecord

    Returns
    -------
    pandas.DataFrame (empty with these columns when there are no sites)

    Raises
    ------
    ValueError
        A record with more extra values than :data:`~tfscope.io.tracks.CALL_COLUMNS` names.
    """
    import pandas as pd

    from ..io.tracks import CALL_COLUMNS

    sites = list(sites)
    width = max((len(r.extra) for r in sites), default=1)
    if width > len(CALL_COLUMNS):
        raise ValueError(f"a call has {width} extra columns; tfscope calls have at most {len(CALL_COLUMNS)} "
                         f"({', '.join(CALL_COLUMNS)})")
    extra = CALL_COLUMNS[:max(width, 1)]
    rows = [(r.chrom, r.start, r.end, r.name, r.score, r.strand,
             *(list(r.extra) + [None] * (len(extra) - len(r.extra)))) for r in sites]
    df = pd.DataFrame(rows, columns=["chrom", "start", "end", "name", "score", "strand", *extra])
    df = df.astype({"chrom": str, "start": "int64", "end": "int64", "name": str, "strand": str})
    df["score"] = pd.to_numeric(df["score"], errors="coerce")
    for c in extra:
        if c in ("group", "members"):
            continue
        df[c] = pd.to_numeric(df[c].replace({".": None, "NA": None, "": None}), errors="coerce")
        if c == "peak":
            df[c] = df[c].astype("Int64")
    return df
