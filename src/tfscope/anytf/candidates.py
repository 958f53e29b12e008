"""Candidate sites: loose PWM hits of every matrix on both strands (memelite FIMO), and what the network sees of them.

Every matrix is scanned with memelite's FIMO (log2-odds against a uniform background, exact p-values of the score
distribution; Grant et al. 2011) at a loose threshold (:data:`CANDIDATE_P`, both strands). Each hit is a candidate;
the network (:mod:`tfscope.anytf.model`) rescores it from

- its **score features** (:func:`candidate_features`): relative log-odds score, -log10 p, and the matrix's log-odds
  track around it summarised as the other hits of the same matrix within :data:`CONTEXT` bp (how many, the best of
  them, whether this hit is the local best, whether the opposite strand hits the same place);
- the **sequence context**: :data:`CONTEXT` bp either side of the hit centre, read on the hit's strand;
- the **matrix** itself (probabilities and :func:`tfscope.anytf.motifs.motif_features`).

Arrays are flat, one entry per candidate (``n``): records are indexed, positions are 0-based in the record.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import warnings

#: p-value threshold of candidates (FIMO, per strand)
CANDIDATE_P = 1e-3
#: bp of context either side of a candidate's centre (the network's receptive field is 2 * CONTEXT + 1)
CONTEXT = 50
#: number of per-candidate score features (:func:`candidate_features`)
N_SCORE_FEATURES = 6
#: FIMO's pseudocount before the log (memelite's default)
EPS = 1e-4


@dataclass
class Candidates:
    """Loose PWM hits.

    Attributes
    ----------
    motif, seq : (n,) int64 -- index of the matrix and of the record (row of the scanned array)
    start, end : (n,) int64 -- hit interval ``[start, end)`` in the record (0-based)
    strand : (n,) int8 -- +1 or -1
    score : (n,) float32 -- FIMO log2-odds score
    pvalue : (n,) float64 -- FIMO p-value of the score (one strand)
    """

    motif: np.ndarray
    seq: np.ndarray
    start: np.ndarray
    end: np.ndarray
    strand: np.ndarray
    score: np.ndarray
    pvalue: np.ndarray

    def __len__(self) -> int:
        return len(self.motif)

    def subset(self, mask) -> "Candidates":
        return Candidates(*(a[mask] for a in (self.motif, self.seq, self.start, self.end, self.strand, self.score,
                                              self.pvalue)))

    @property
    def center(self) -> np.ndarray:
        """(n,) int64 -- the hit centre on the forward strand (``start + W // 2``, mirrored for ``-`` hits)."""
        w = self.end - self.start
        return np.where(self.strand > 0, self.start + w // 2, self.end - 1 - w // 2)

    @staticmethod
    def concat(parts: list["Candidates"]) -> "Candidates":
        if not parts:
            z = np.zeros(0, np.int64)
            return Candidates(z, z, z, z, z.astype(np.int8), z.astype(np.float32), z.astype(float))
        return Candidates(*(np.concatenate(a) for a in zip(*((p.motif, p.seq, p.start, p.end, p.strand, p.score,
                                                              p.pvalue) for p in parts))))


def find_candidates(probs: list[np.ndarray], x: np.ndarray, *, threshold: float = CANDIDATE_P) -> Candidates:
    """FIMO hits of every matrix on both strands of one-hot sequences.

    Parameters
    ----------
    probs : list of M (4, W) probability matrices
    x : (N, 4, L) float32 one-hot (A, C, G, T; all-zero columns for N)
    threshold : p-value threshold (per strand)

    Returns
    -------
    :class:`Candidates`, sorted by matrix, record and start; hits touching an all-zero (N) column are dropped.
    """

    from memelite import fimo

    if not len(probs) or not len(x):
        return Candidates.concat([])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hits = fimo({str(i): np.asarray(p, np.float64) for i, p in enumerate(probs)}, np.ascontiguousarray(x, np.float32),
                    threshold=threshold, eps=EPS)
    parts = []
    for i, h in enumerate(hits):
        if not len(h):
            continue
        n = len(h)
        parts.append(Candidates(np.full(n, i, np.int64), h["sequence_name"].to_numpy().astype(np.int64),
                                h["start"].to_numpy().astype(np.int64), h["end"].to_numpy().astype(np.int64),
                                np.where(h["strand"].to_numpy() == "+", 1, -1).astype(np.int8),
                                h["score"].to_numpy().astype(np.float32), h["p-value"].to_numpy().astype(float)))
    c = Candidates.concat(parts)
    if len(c):
        known = x.sum(1) > 0  # (N, L): a real base
        cum = np.concatenate([np.zeros((len(x), 1), np.int64), np.cumsum(~known, 1)], 1)
        ok = (cum[c.seq, c.end] - cum[c.seq, c.start]) == 0
        c = c.subset(ok)
        order = np.lexsort((c.start, c.seq, c.motif))
        c = c.subset(order)
    return c


def score_range(probs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(min, max)`` FIMO log2-odds score of each matrix, ``(M,)`` each."""
    lo, hi = np.zeros(len(probs)), np.zeros(len(probs))
    for i, p in enumerate(probs):
        lod = np.log2(np.asarray(p) + EPS) - np.log2(0.25)
        lo[i], hi[i] = lod.min(0).sum(), lod.max(0).sum()
    return lo, hi


def _neighbours(c: Candidates, radius: int, k: int = 24):
    """For each candidate: number of other hits of its matrix in its record whose centre lies within ``radius`` bp,
    the best -log10 p among them (0 if none), and whether a hit on the opposite strand lies within 2 bp."""
    n = len(c)
    ctr = c.center
    key = c.motif * (int(c.seq.max()) + 1 if n else 1) + c.seq
    order = np.lexsort((ctr, key))
    kk, cc, nl, st = key[order], ctr[order], -np.log10(np.maximum(c.pvalue[order], 1e-300)), c.strand[order]
    count = np.zeros(n, np.int64)
    best = np.zeros(n)
    pal = np.zeros(n, bool)
    for d in range(1, k + 1):
        if d >= n:
            break
        same = (kk[d:] == kk[:-d]) & (np.abs(cc[d:] - cc[:-d]) <= radius)
        # pairs (i, i + d): each is the other's neighbour
        count[:-d] += same
        count[d:] += same
        best[:-d] = np.where(same, np.maximum(best[:-d], nl[d:]), best[:-d])
        best[d:] = np.where(same, np.maximum(best[d:], nl[:-d]), best[d:])
        opp = same & (st[d:] != st[:-d]) & (np.abs(cc[d:] - cc[:-d]) <= 2)
        pal[:-d] |= opp
        pal[d:] |= opp
    out_c, out_b, out_p = np.empty(n, np.int64), np.empty(n), np.empty(n, bool)
    out_c[order], out_b[order], out_p[order] = count, best, pal
    return out_c, out_b, out_p


def candidate_features(c: Candidates, score_lo: np.ndarray, score_hi: np.ndarray) -> np.ndarray:
    """Score features of each candidate, ``(n, N_SCORE_FEATURES)`` float32: relative score ``(s - min) / (max -
    min)``, -log10 p / 10, other hits of the matrix within :data:`CONTEXT` bp / 5 (clipped at 2), their best -log10 p
    / 10, whether this hit is the local best (1/0), whether the opposite strand hits within 2 bp (1/0)."""
    n = len(c)
    if not n:
        return np.zeros((0, N_SCORE_FEATURES), np.float32)
    lo, hi = score_lo[c.motif], score_hi[c.motif]
    rel = (c.score - lo) / np.maximum(hi - lo, 1e-6)
    nlp = -np.log10(np.maximum(c.pvalue, 1e-300))
    cnt, best, pal = _neighbours(c, CONTEXT)
    return np.stack([rel, nlp / 10, np.minimum(cnt / 5, 2.0), best / 10, (nlp >= best).astype(float),
                     pal.astype(float)], 1).astype(np.float32)


def contexts(x: np.ndarray, c: Candidates, radius: int = CONTEXT) -> np.ndarray:
    """One-hot context of each candidate read on its strand: ``(n, 4, 2 * radius + 1)`` uint8, zero beyond the
    record's ends (the reverse complement, centred on the hit centre, for ``-`` hits)."""
    L = x.shape[-1]
    pad = np.zeros((x.shape[0], 4, L + 2 * radius), np.uint8)
    pad[:, :, radius:radius + L] = x.astype(np.uint8)
    ctr = c.center
    idx = ctr[:, None] + np.arange(2 * radius + 1)[None, :]  # padded coordinates: centre - radius .. + radius
    out = pad[c.seq[:, None], :, idx]  # (n, 2r+1, 4)
    out = np.transpose(out, (0, 2, 1))
    rev = c.strand < 0
    out[rev] = out[rev][:, ::-1, ::-1]  # reverse complement: A<->T, C<->G is the reversed base axis
    return np.ascontiguousarray(out)


def local_best(c: Candidates, value: np.ndarray, k: int = 24) -> np.ndarray:
    """(n,) bool: candidates whose ``value`` is the highest among the candidates of the same matrix and record whose
    centres are closer than the matrix width (ties: the first in position order wins). One call per binding event,
    the non-maximum suppression of the scanner's calls, made vectorised."""
    n = len(c)
    if not n:
        return np.zeros(0, bool)
    ctr, w = c.center, (c.end - c.start)
    key = c.motif * (int(c.seq.max()) + 1) + c.seq
    order = np.lexsort((ctr, key))
    kk, cc, vv, ww = key[order], ctr[order], np.asarray(value, float)[order], w[order]
    keep = np.ones(n, bool)
    for d in range(1, k + 1):
        if d >= n:
            break
        near = (kk[d:] == kk[:-d]) & (np.abs(cc[d:] - cc[:-d]) < ww[d:])
        # the left one loses to a strictly higher right one; the right one loses to a higher-or-equal left one
        keep[:-d] &= ~(near & (vv[d:] > vv[:-d]))
        keep[d:] &= ~(near & (vv[:-d] >= vv[d:]))
    out = np.empty(n, bool)
    out[order] = keep
    return out
