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

Both strands are predicted (reverse complements flipped back) and the per-nucleotide probability is the max of the
two strands. Positions that are N get probability 0. A site is a run of
at least ``min_length`` nucleotides with probability >= the model's threshold; its score is the run's mean
probability and its strand the strand with the higher mean.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import torch

from .io.bed import BedRecord
from .sequence import one_hot, reverse_complement_one_hot


@dataclass
class ScanModel:
    """A loaded model ready to scan: label (TF name), nn.Module, probability threshold, window length.

    A model with an integer ``receptive_field`` attribute is scanned in chunk mode through a conv/BN-fused copy
    (:attr:`inference_model`); others in window mode. ``output`` selects one track of a multi-output model
    (``(N, T, L)`` logits, e.g. the multi-TF genomic zoo of :mod:`tfscope.multitask`): ScanModels that share one
    such ``model`` share its fused copy, and :func:`scan_tracks` runs it once for all of them.
    """

    name: str
    model: torch.nn.Module
    threshold: float = 0.5
    window: int = 100
    output: int | None = None

    def __post_init__(self):
        self.model.eval()
        self.receptive_field = getattr(self.model, "receptive_field", None)
        self.inference_model = self.model
        if self.receptive_field is not None:
            if self.model not in _FUSED:
                from torch.fx.experimental.optimization import fuse

                _FUSED[self.model] = fuse(self.model)
            self.inference_model = _FUSED[self.model]

    def single_output(self) -> torch.nn.Module:
        """The model as a function of one TF: ``(N, 4, L)`` -> ``(N, L)`` logits (for attributions)."""
        return self.model if self.output is None else SelectOutput(self.model, self.output)


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


def _chunks(x: np.ndarray, chunk: int, margin: int) -> np.ndarray:
    """``(nC, 4, chunk + 2 * margin)`` overlapping pieces of a ``(4, S)`` one-hot; piece ``i`` covers
    ``[i * chunk - margin, (i + 1) * chunk + margin)`` (zero = N outside the sequence)."""
    S = x.shape[1]
    n = -(-S // chunk)
    xp = np.zeros((4, n * chunk + 2 * margin), np.float32)
    xp[:, margin:margin + S] = x
    view = np.lib.stride_tricks.sliding_window_view(xp, chunk + 2 * margin, axis=1)[:, ::chunk]
    return np.ascontiguousarray(view.transpose(1, 0, 2))


def _both_strands(net: torch.nn.Module, xt: torch.Tensor, xr: torch.Tensor, batch: int):
    """Sigmoid outputs of forward pieces and of their reverse complements flipped back, each ``(n, L)`` (or
    ``(n, T, L)`` for a multi-output model); runs on the device of ``net``'s parameters."""
    p = next(net.parameters(), None)
    dev = p.device if p is not None else torch.device("cpu")
    pf, pr = [], []
    for i in range(0, len(xt), batch):
        b = min(batch, len(xt) - i)
        out = torch.sigmoid(net(torch.cat([xt[i:i + b], xr[i:i + b]]).to(dev))).float().cpu()
        pf.append(out[:b])
        pr.append(out[b:].flip(-1))
    return torch.cat(pf).numpy(), torch.cat(pr).numpy()


@torch.no_grad()
def scan_tracks(models: list[ScanModel], seq: str, *, stride: int = 50, batch_size: int = 512,
                max_n_fraction: float = 0.5, chunk: int = 6000, mode: str = "auto") -> tuple[np.ndarray, np.ndarray]:
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

    Returns
    -------
    (forward, reverse) : two float32 arrays ``(len(models), S)``; use ``np.maximum`` for the combined track.
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
    outputs = {}  # (model, mode) -> both-strand outputs, shared by the ScanModels of one multi-output model

    def run(m, key, xt, xr, batch):
        k = (id(m.inference_model), key)
        if k not in outputs:
            outputs[k] = _both_strands(m.inference_model, xt, xr, batch)
        pf, pr = outputs[k]
        return (pf, pr) if m.output is None else (pf[:, m.output], pr[:, m.output])

    for m_i, m in enumerate(models):
        if m.receptive_field is not None and mode == "auto":
            margin = m.receptive_field // 2 + 1
            key = ("chunk", margin)
            if key not in pieces:
                c = _chunks(x, chunk, margin)
                keep = np.flatnonzero(c[:, :, margin:margin + chunk].sum((1, 2)) > 0)
                xt = torch.from_numpy(c[keep])
                pieces[key] = (keep, xt, reverse_complement_one_hot(xt), len(c))
            keep, xt, xr, n = pieces[key]
            if not len(keep):
                continue
            pf, pr = run(m, key, xt, xr, max(1, CHUNK_BATCH_POSITIONS // (2 * xt.shape[-1])))
            for track, p in ((fwd, pf), (rev, pr)):
                full = np.zeros((n, chunk), np.float32)
                full[keep] = p[:, margin:margin + chunk]
                track[m_i] = full.ravel()[:Sp]
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
            pf, pr = run(m, key, xt, xr, batch_size)
            fwd[m_i] = np.bincount(idx, weights=pf.ravel(), minlength=Sp) / cover
            rev[m_i] = np.bincount(idx, weights=pr.ravel(), minlength=Sp) / cover
    fwd *= is_base
    rev *= is_base
    return fwd[:, :S].astype(np.float32), rev[:, :S].astype(np.float32)


def call_sites(seq_id: str, name: str, fwd: np.ndarray, rev: np.ndarray, threshold: float, *,
               min_length: int = 3) -> list[BedRecord]:
    """Merge runs of ``max(fwd, rev) >= threshold`` into BED6 records (score = mean probability; extra column =
    peak probability)."""
    p = np.maximum(fwd, rev)
    on = np.concatenate([[False], p >= threshold, [False]])
    edges = np.flatnonzero(on[1:] != on[:-1])
    out = []
    for a, b in zip(edges[::2], edges[1::2]):
        if b - a < min_length:
            continue
        strand = "+" if fwd[a:b].mean() >= rev[a:b].mean() else "-"
        out.append(BedRecord(seq_id, int(a), int(b), name, float(p[a:b].mean()), strand,
                             [f"{float(p[a:b].max()):.4f}"]))
    return out


def scan(models: list[ScanModel], sequences: dict[str, str], *, stride: int = 50, min_length: int = 3,
         batch_size: int = 512, keep_tracks: bool = False, verbose: bool = False, mode: str = "auto",
         chunk: int = 6000, workers: int = 1):
    """Scan every sequence with every model.

    Parameters
    ----------
    models : list of ScanModel
    sequences : dict id -> DNA string (any length; validated upstream by :func:`tfscope.io.read_fasta`)
    stride, batch_size, mode, chunk : see :func:`scan_tracks`
    workers : int
        Processes that share the models (the ScanModels of one multi-output model count as one; CPU models only:
        models on a GPU scan in this process), each running one
        torch thread on its share (the output equals a one-thread serial scan; torch's multi-thread reductions
        differ from it by ~1e-7). On this project's 2-core machines two single-thread workers scan the zoo about
        1.35x faster than one process with two threads (small convolutions parallelise poorly inside one
        process). Needs the ``fork``
        start method (Linux); elsewhere one process is used.

    Returns
    -------
    (sites, tracks) : (list of BedRecord sorted by sequence, start, name; dict id -> (T, S) array or empty)
    """
    import multiprocessing as mp

    units: dict[int, list[int]] = {}  # ScanModels of one multi-output model go to one worker
    for i, m in enumerate(models):
        units.setdefault(id(m.model), []).append(i)
    units = list(units.values())
    workers = max(1, min(workers, len(units)))
    on_gpu = any(p.is_cuda for m in models for p in m.model.parameters())
    if workers > 1 and not on_gpu and "fork" in mp.get_all_start_methods():  # CUDA cannot be forked
        global _FORK_STATE
        _FORK_STATE = (models, sequences)  # inherited by the forked workers, not pickled
        shares = [sum(units[i::workers], []) for i in range(workers)]
        args = dict(stride=stride, min_length=min_length, batch_size=batch_size, keep_tracks=keep_tracks,
                    mode=mode, chunk=chunk)
        try:
            with mp.get_context("fork").Pool(workers) as pool:
                parts = pool.starmap(_scan_share, [(sh, args, verbose and i == 0) for i, sh in enumerate(shares)])
        finally:
            _FORK_STATE = None
        sites = [r for part_sites, _ in parts for r in part_sites]
        tracks = {}
        if keep_tracks:
            for sid in sequences:
                full = np.zeros((len(models), len(sequences[sid])), np.float32)
                for sh, (_, part_tracks) in zip(shares, parts):
                    full[sh] = part_tracks[sid]
                tracks[sid] = full
    else:
        sites, tracks = _scan_serial(models, sequences, stride=stride, min_length=min_length,
                                     batch_size=batch_size, keep_tracks=keep_tracks, verbose=verbose, mode=mode,
                                     chunk=chunk)
    order = {sid: i for i, sid in enumerate(sequences)}
    sites.sort(key=lambda r: (order[r.chrom], r.start, r.name))
    return sites, tracks


_FORK_STATE: tuple | None = None  # (models, sequences) that forked workers inherit (see :func:`scan`)


def _scan_share(share: list[int], args: dict, verbose: bool):
    torch.set_num_threads(1)
    models, sequences = _FORK_STATE
    return _scan_serial([models[i] for i in share], sequences, verbose=verbose, **args)


def _scan_serial(models, sequences, *, stride, min_length, batch_size, keep_tracks, verbose, mode, chunk):
    from tqdm.auto import tqdm

    sites: list[BedRecord] = []
    tracks = {}
    for sid, seq in tqdm(sequences.items(), disable=None if verbose else True, desc="scan", unit="seq"):
        fwd, rev = scan_tracks(models, seq, stride=stride, batch_size=batch_size, mode=mode, chunk=chunk)
        for m_i, m in enumerate(models):
            sites += call_sites(sid, m.name, fwd[m_i], rev[m_i], m.threshold, min_length=min_length)
        if keep_tracks:
            tracks[sid] = np.maximum(fwd, rev)
    return sites, tracks


def write_bedgraphs(directory, tracks: dict, names: list[str], *, digits: int = 3) -> list:
    """Write one bedGraph per model (``<directory>/<name>.bedGraph``): runs of equal rounded probability merged,
    zero runs omitted. Returns the written paths."""
    from pathlib import Path

    from .io.atomic import atomic_write

    paths = []
    for m_i, name in enumerate(names):
        path = Path(directory) / f"{name}.bedGraph"
        with atomic_write(path) as fh:
            fh.write(f'track type=bedGraph name="{name}" description="tfscope P(binding)"\n')
            for sid, t in tracks.items():
                v = np.round(t[m_i], digits)
                edges = np.flatnonzero(np.diff(v)) + 1
                bounds = np.concatenate([[0], edges, [len(v)]])
                for a, b in zip(bounds[:-1], bounds[1:]):
                    if v[a] > 0:
                        fh.write(f"{sid}\t{a}\t{b}\t{v[a]:.{digits}f}\n")
        paths.append(path)
    return paths


def write_tracks_tsv(path, tracks: dict, names: list[str]) -> None:
    """Write per-nucleotide probabilities as TSV: ``seq_id position(0-based) base-called-probabilities...``."""
    from .io.atomic import atomic_write

    with atomic_write(path) as fh:
        fh.write("\t".join(["seq_id", "position", *names]) + "\n")
        for sid, t in tracks.items():
            for i in range(t.shape[1]):
                fh.write(sid + "\t" + str(i) + "\t" + "\t".join(f"{v:.4f}" for v in t[:, i]) + "\n")


def load_scan_models(checkpoints, *, device: str = "cpu", tfs=None) -> list[ScanModel]:
    """Load ``snr`` checkpoints as :class:`ScanModel` on ``device`` (:func:`tfscope.train.resolve_device`:
    ``auto``, ``cpu``, ``cuda``).

    A per-TF checkpoint gives one ScanModel (label = its TF, threshold from validation); a multi-TF checkpoint
    (``meta.tfs``, :mod:`tfscope.multitask`) gives one ScanModel per TF, sharing the network, with each TF's
    calibrated threshold (``meta.per_tf``).

    Parameters
    ----------
    tfs : list of str, optional
        Keep only these TFs of multi-TF checkpoints (case-insensitive; default all).

    Raises
    ------
    InputError
        For a TF in ``tfs`` that a multi-TF checkpoint lacks, and any checkpoint error
        (:func:`tfscope.checkpoint.load_checkpoint`).
    """
    from .checkpoint import load_checkpoint
    from .errors import InputError
    from .train import resolve_device

    device = resolve_device(device)
    out = []
    for c in checkpoints:
        net, cfg = load_checkpoint(c, task="snr")
        net.to(device)
        meta = cfg.get("meta", {})
        window = int(meta.get("window", 100))
        if "tfs" not in meta:
            out.append(ScanModel(meta.get("tf", str(c)), net, float(meta.get("threshold", 0.5)), window))
            continue
        names = list(meta["tfs"])
        lookup = {t.upper(): i for i, t in enumerate(names)}
        want = [t.upper() for t in tfs] if tfs else [t.upper() for t in names]
        for t in want:
            if t not in lookup:
                raise InputError(f"unknown TF {t!r}; the model has: {', '.join(names)}", str(c))
            i = lookup[t]
            thr = float(meta.get("per_tf", {}).get(names[i], {}).get("threshold", 0.5))
            out.append(ScanModel(names[i], net, thr, window, output=i))
    return out


def window_max_scores(models: list[ScanModel], windows: list[str], *, record_bp: int = 100_000,
                      workers: int = 1, mode: str = "auto") -> np.ndarray:
    """Score fixed-length genome windows by scanning them as one long sequence: ``(T, N)`` maximum probability of
    each model inside each window.

    The windows (all of one length, given in genomic order) are concatenated into records of about ``record_bp``
    bp, scanned like any FASTA (both strands; chunk mode for fully convolutional models, so each nucleotide sees
    its neighbours across window junctions), and each window is scored by its highest nucleotide probability.
    The zoo's call thresholds are calibrated this way on chr7 (:func:`tfscope.snr.calibrate_threshold`);
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
