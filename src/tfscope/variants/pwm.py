"""The motifbreakR-style PWM baseline: the TF's JASPAR matrix scored on the REF and ALT alleles.

``pwmRef``/``pwmAlt`` are the best log2-odds score (uniform background, pseudocount 0.8, as
:func:`tfscope.io.jaspar.pfm_to_log_odds`) of any matrix-wide window on either strand that overlaps the changed
bases of the allele; ``pwmRefPvalue``/``pwmAltPvalue`` are the exact probabilities that a random uniform sequence
scores at least that much (the score distribution computed by dynamic programming on a 0.01-bit grid, as FIMO and
motifbreakR do); ``pwmAlt - pwmRef`` is motifbreakR's ``alleleDiff``.
"""

from __future__ import annotations

import functools

import numpy as np
from ..errors import InputError
from ..io.jaspar import jaspar_matrix, jaspar_motif, motif_pfm, pfm_to_log_odds

#: score grid (bits) of the exact p-values
PWM_GRID = 0.01


@functools.lru_cache(maxsize=256)
def jaspar_log_odds(tf: str, matrix_id: str | None = None) -> np.ndarray | None:
    """``(4, W)`` log2-odds matrix of ``matrix_id`` (JASPAR, offline through pyjaspar), else the latest JASPAR CORE
    vertebrate matrix named ``tf``; None when there is none.
    """

    try:
        m = jaspar_matrix(matrix_id) if matrix_id else jaspar_motif(tf)
    except InputError:
        return None
    return pfm_to_log_odds(motif_pfm(m))


class PWMBaseline:
    """Scores of one log-odds matrix ``(4, W)`` and their exact p-values (uniform background)."""

    def __init__(self, log_odds: np.ndarray):
        self.lo = np.asarray(log_odds, np.float64)
        self.width = self.lo.shape[1]
        ints = np.round(self.lo / PWM_GRID).astype(np.int64)
        self.min_int = int(ints.min(0).sum())
        pmf = np.ones(1)  # distribution of the integer score minus its minimum, one column at a time
        for col in ints.T:
            lo = col.min()
            new = np.zeros(len(pmf) + int(col.max() - lo))
            for v in col:
                new[v - lo:v - lo + len(pmf)] += pmf * 0.25
            pmf = new
        self.survival = np.cumsum(pmf[::-1])[::-1]  # P(S >= min_int + k)

    def p_value(self, score: np.ndarray) -> np.ndarray:
        """P(a uniform random W-mer scores >= ``score``) on either strand counted once (FIMO convention)."""
        k = np.ceil(np.asarray(score, float) / PWM_GRID - 1e-9).astype(np.int64) - self.min_int
        k = np.clip(k, 0, len(self.survival) - 1)
        return np.where(np.asarray(score) > (self.min_int + len(self.survival) - 1) * PWM_GRID, 0.0,
                        self.survival[k])

    def best(self, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Best score over both strands of windows overlapping ``[lo, hi)`` in one-hot ``x`` ``(N, 4, L)``."""
        from numpy.lib.stride_tricks import sliding_window_view

        W = self.width
        win = sliding_window_view(x, W, axis=2)  # (N, 4, L-W+1, W)
        fwd = np.einsum("nclw,cw->nl", win, self.lo)
        rev = np.einsum("nclw,cw->nl", win, self.lo[::-1, ::-1])
        s = np.maximum(fwd, rev)
        starts = np.arange(s.shape[1])[None, :]
        ok = (starts + W > lo[:, None]) & (starts < hi[:, None])
        return np.where(ok, s, -np.inf).max(1)


def breaking_snv(site: str, log_odds: np.ndarray) -> tuple[int, str, str] | None:
    """The SNV that breaks a site most surely: the matrix's best placement on either strand inside ``site``, its
    most informative position (largest max - min log-odds) and the least preferred base there.

    Returns
    -------
    ``(offset, ref, alt)`` with ``offset`` 0-based in ``site`` (+ strand bases), or None when the site is shorter
    than the matrix or holds N.

    """
    lo = np.asarray(log_odds, float)
    W = lo.shape[1]
    site = site.upper()
    if len(site) < W or set(site) - set("ACGT"):
        return None
    idx = np.array(["ACGT".index(b) for b in site])
    best = (-np.inf, 0, False)
    for strand, m in ((False, lo), (True, lo[::-1, ::-1])):
        for s in range(len(site) - W + 1):
            v = m[idx[s:s + W], np.arange(W)].sum()
            if v > best[0]:
                best = (v, s, strand)
    _, s, rc = best
    m = lo[::-1, ::-1] if rc else lo
    col = int(np.argmax(m.max(0) - m.min(0)))
    alt = "ACGT"[int(np.argmin(m[:, col]))]
    if alt == site[s + col]:
        return None
    return s + col, site[s + col], alt
