"""Scanning sequences of any length with nucleotide-resolution models: sliding windows, both strands, site calls.

Each sequence is cut into ``window`` bp windows every ``stride`` bp (the last window is aligned to the end;
shorter sequences are N-padded). Windows are predicted on the forward strand and as reverse complements (flipped
back), overlapping predictions are averaged per strand, and the per-nucleotide probability is the max of the two
strands. Positions that are N get probability 0, and windows that are mostly N are skipped. A site is a run of
at least ``min_length`` nucleotides with probability >= the model's threshold; its score is the run's mean
probability and its strand the strand with the higher mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .io.bed import BedRecord
from .sequence import one_hot, reverse_complement_one_hot


@dataclass
class ScanModel:
    """A loaded model ready to scan: label (TF name), nn.Module, probability threshold, window length."""

    name: str
    model: torch.nn.Module
    threshold: float = 0.5
    window: int = 100


def _windows(x: np.ndarray, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ``(nW, 4, window)`` windows of a ``(4, S)`` one-hot (S >= window)."""
    S = x.shape[1]
    starts = list(range(0, S - window + 1, stride))
    if starts[-1] != S - window:
        starts.append(S - window)
    starts = np.asarray(starts)
    view = np.lib.stride_tricks.sliding_window_view(x, window, axis=1)  # (4, S-W+1, W)
    return starts, np.ascontiguousarray(view[:, starts].transpose(1, 0, 2))


@torch.no_grad()
def scan_tracks(models: list[ScanModel], seq: str, *, stride: int = 50, batch_size: int = 512,
                max_n_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Per-nucleotide probability tracks of one sequence for every model.

    Forward windows and their reverse complements go through each model in the same batches; overlapping
    window predictions are averaged with ``np.bincount`` (no Python loop over windows).

    Returns
    -------
    (forward, reverse) : two float32 arrays ``(len(models), S)``; use ``np.maximum`` for the combined track.
    """
    S = len(seq)
    window = models[0].window
    x = one_hot([seq], length=max(S, window))[0]
    Sp = x.shape[1]
    starts, win = _windows(x, window, stride)
    keep = win.sum((1, 2)) >= (1 - max_n_fraction) * window
    starts, win = starts[keep], win[keep]
    fwd = np.zeros((len(models), Sp), np.float32)
    rev = np.zeros_like(fwd)
    if len(win):
        idx = (starts[:, None] + np.arange(window)[None, :]).ravel()
        cover = np.bincount(idx, minlength=Sp).astype(np.float32)
        xt = torch.from_numpy(win)
        xr = reverse_complement_one_hot(xt)
        n = len(xt)
        for m_i, m in enumerate(models):
            m.model.eval()
            pf, pr = [], []
            for i in range(0, n, batch_size):
                out = torch.sigmoid(m.model(torch.cat([xt[i:i + batch_size], xr[i:i + batch_size]])))
                b = min(batch_size, n - i)
                pf.append(out[:b])
                pr.append(out[b:].flip(-1))
            pf = torch.cat(pf).numpy().ravel()
            pr = torch.cat(pr).numpy().ravel()
            fwd[m_i] = np.bincount(idx, weights=pf, minlength=Sp)
            rev[m_i] = np.bincount(idx, weights=pr, minlength=Sp)
        cover = np.maximum(cover, 1)
        is_base = x.sum(0) > 0
        fwd = fwd / cover * is_base
        rev = rev / cover * is_base
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
         batch_size: int = 512, keep_tracks: bool = False, verbose: bool = False):
    """Scan every sequence with every model.

    Parameters
    ----------
    models : list of ScanModel
    sequences : dict id -> DNA string (any length; validated upstream by :func:`tfscope.io.read_fasta`)

    Returns
    -------
    (sites, tracks) : (list of BedRecord sorted by sequence, start, name; dict id -> (T, S) array or empty)
    """
    from tqdm.auto import tqdm

    sites: list[BedRecord] = []
    tracks = {}
    for sid, seq in tqdm(sequences.items(), disable=None if verbose else True, desc="scan", unit="seq"):
        fwd, rev = scan_tracks(models, seq, stride=stride, batch_size=batch_size)
        for m_i, m in enumerate(models):
            sites += call_sites(sid, m.name, fwd[m_i], rev[m_i], m.threshold, min_length=min_length)
        if keep_tracks:
            tracks[sid] = np.maximum(fwd, rev)
    order = {sid: i for i, sid in enumerate(sequences)}
    sites.sort(key=lambda r: (order[r.chrom], r.start, r.name))
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


def load_scan_models(checkpoints) -> list[ScanModel]:
    """Load ``snr`` checkpoints as :class:`ScanModel` (label = the checkpoint's TF, threshold from validation)."""
    from .checkpoint import load_checkpoint

    out = []
    for c in checkpoints:
        net, cfg = load_checkpoint(c, task="snr")
        meta = cfg.get("meta", {})
        out.append(ScanModel(meta.get("tf", str(c)), net, float(meta.get("threshold", 0.5)),
                             int(meta.get("window", 100))))
    return out
