"""Genome windows, true sites and labelled candidates of the zoo TFs (training, calibration and benchmarks).

Windows are tfbs-multilabel windows (100 bp, hg19, + strand; chr8 = test, chr7 = validation, others = train, chr9
withheld); true sites are the JASPAR 2022 ChIP-seq sites of ``sites.bed.gz``. Each window is scanned as its own
record. A candidate (or call) of a TF *matches* when it overlaps a true site of that TF inside its window; a true
site lying wholly inside a window is *recalled* when a call of its TF overlaps it -- the protocol of
``benchmarks/sites.py``.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

import numpy as np

#: chromosomes never used for training (chr7 tunes, chr8 reports, chr9 is withheld)
HOLDOUT = ("chr7", "chr8", "chr9")


@dataclass
class Windows:
    """Genome windows and the sites overlapping them.

    Attributes
    ----------
    chrom : (W,) str; start : (W,) int64 hg19 starts; seqs : list of W str (all ``length`` bp)
    labels : list of W sets of TF names (tfbs-multilabel ``tfs``)
    sites : dict TF -> (window index, start, end) int64 arrays in window coordinates (may extend past the window)
    """

    chrom: np.ndarray
    start: np.ndarray
    seqs: list
    labels: list
    sites: dict
    length: int = 100

    def __len__(self) -> int:
        return len(self.start)


def load_windows(windows_path, sites_path, *, chroms=None, exclude=(), max_bp: int | None = None,
                 sample: int | None = None, seed: int = 0) -> Windows:
    """Windows of ``chroms`` (or of every chromosome not in ``exclude``), in genomic order, the first ``max_bp`` bp
    of them or a random ``sample`` of them, with their true sites.

    Parameters
    ----------
    windows_path : tfbs-multilabel ``windows.tsv.gz``
    sites_path : tfbs-multilabel ``sites.bed.gz`` (BED6: chrom, start, end, TF, 0, strand)
    chroms, exclude : which chromosomes
    max_bp, sample, seed : the first ``max_bp // 100`` windows, or ``sample`` windows drawn with ``seed``
    """
    rows = []
    with gzip.open(windows_path, "rt") as fh:
        fh.readline()
        for line in fh:
            c = line.rstrip("\n").split("\t")
            if (chroms is not None and c[1] not in chroms) or c[1] in exclude:
                continue
            rows.append((c[1], int(c[2]), c[6], c[5]))
    rows.sort(key=lambda r: (r[0], r[1]))
    if max_bp:
        rows = rows[:max_bp // len(rows[0][2])]
    if sample and sample < len(rows):
        pick = np.sort(np.random.default_rng(seed).choice(len(rows), sample, replace=False))
        rows = [rows[i] for i in pick]
    L = len(rows[0][2])
    chrom = np.array([r[0] for r in rows])
    start = np.array([r[1] for r in rows], np.int64)
    wanted = set(chrom.tolist())
    by: dict[tuple, list] = {}
    with gzip.open(sites_path, "rt") as fh:
        for line in fh:
            c = line.split("\t")
            if c[0] in wanted:
                by.setdefault((c[0], c[3]), []).append((int(c[1]), int(c[2])))
    sites: dict[str, list] = {}
    for ch in wanted:
        sel = np.flatnonzero(chrom == ch)
        st = start[sel]
        for (c0, tf), iv in by.items():
            if c0 != ch:
                continue
            iv = np.array(sorted(iv), np.int64)
            lo = np.searchsorted(st, iv[:, 0] - L, side="right")
            hi = np.searchsorted(st, iv[:, 1], side="left")
            if not (hi > lo).any():
                continue
            w = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)])
            k = np.repeat(np.arange(len(iv)), hi - lo)
            sites.setdefault(tf, []).append((sel[w], iv[k, 0] - start[sel[w]], iv[k, 1] - start[sel[w]]))
    sites = {tf: tuple(np.concatenate(a) for a in zip(*parts)) for tf, parts in sites.items()}
    labels = [set(r[3].split(",")) for r in rows]
    return Windows(chrom, start, [r[2] for r in rows], labels, sites, L)


def match_sites(win: np.ndarray, start: np.ndarray, end: np.ndarray, sites, length: int = 100, score=None):
    """Overlap of one TF's calls with its true sites.

    Parameters
    ----------
    win, start, end : (n,) int arrays of the calls (window index, interval in window coordinates)
    sites : (window index, start, end) arrays of the TF's true sites
    score : (n,) optional call scores (default 1 for every call)

    Returns
    -------
    (matched, site_best) : (n,) bool, whether each call overlaps a true site; (s,) float, for each true site lying
        wholly inside its window the best score of the calls overlapping it (-inf if none)
    """
    sw, ss, se = sites
    inside = (ss >= 0) & (se <= length)
    score = np.ones(len(win)) if score is None else np.asarray(score, float)
    matched = np.zeros(len(win), bool)
    best = np.full(len(sw), -np.inf)
    if len(win) and len(sw):
        order = np.argsort(sw, kind="stable")
        sws = sw[order]
        lo = np.searchsorted(sws, win, side="left")
        hi = np.searchsorted(sws, win, side="right")
        for i in np.flatnonzero(hi > lo):
            j = order[lo[i]:hi[i]]
            hit = j[(ss[j] < end[i]) & (start[i] < se[j])]
            if len(hit):
                matched[i] = True
                best[hit] = np.maximum(best[hit], score[i])
    return matched, best[inside]


def site_f1_curve(score: np.ndarray, matched: np.ndarray, site_best: np.ndarray, n_sites: int):
    """Site precision, recall and F1 of calls kept at every threshold on ``score``.

    Parameters
    ----------
    score : (n,) the calls' scores; matched : (n,) bool
    site_best : (s,) the best score among calls overlapping each true site (-inf if none)
    n_sites : number of true sites (s)

    Returns
    -------
    (thresholds, precision, recall, f1) : arrays over the distinct call scores, descending
    """
    if not len(score) or not n_sites:
        z = np.zeros(0)
        return z, z, z, z
    order = np.argsort(-score, kind="stable")
    s, m = score[order], matched[order]
    thr, first = np.unique(-s, return_index=True)  # distinct scores, descending
    thr = -thr
    last = np.concatenate([first[1:], [len(s)]]) - 1
    tp_calls = np.cumsum(m)[last]
    prec = tp_calls / (last + 1)
    sb = np.sort(site_best)
    rec = (len(sb) - np.searchsorted(sb, thr, side="left")) / n_sites
    f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0.0)
    return thr, prec, rec, f1


def site_metrics(score, matched, site_best, n_sites, threshold: float) -> dict:
    """Site precision, recall, F1 and number of calls at ``threshold`` (calls with ``score >= threshold``)."""
    keep = score >= threshold
    n = int(keep.sum())
    prec = float(matched[keep].mean()) if n else 0.0
    rec = float((site_best >= threshold).sum() / n_sites) if n_sites else float("nan")
    f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
    return {"site_precision": prec, "site_recall": rec, "site_f1": f1, "calls": n}
