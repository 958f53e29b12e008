"""Alignment-free k-mer profile of a motif and the k-mer logistic regression of the family task.

A motif's k-mer profile scores every DNA k-mer (``4**k`` of them, lexicographic A < C < G < T order, e.g. k = 2:
AA, AC, ..., TT) by the best natural-log probability the position probability matrix gives it over all placements:
every start offset, overhanging either end by up to ``k - 1`` columns (overhanging positions are scored with a
uniform background column, log 0.25), on both strands. Two motifs of the same TF class share high-scoring k-mers
even where no single ungapped alignment lines them up (e.g. C2H2 zinc-finger motifs that share some fingers), which
is what the nearest-neighbour scores miss. It is the motif analogue of the k-mer spectrum used for sequences
(Leslie et al. 2002, spectrum kernel), with a PWM's k-mer log-odds as in "affinity" k-mer tables.

``KmerLogistic`` is a multinomial logistic regression (sklearn) on the standardised profile. Own code only for the
profile (a data contract of this task; no library computes it); fitting is sklearn's, and the fitted model is held
in a :class:`tfscope.tfclass.model.StandardLinear` so it saves in the one checkpoint format.
"""

from __future__ import annotations

import numpy as np

from .model import StandardLinear

MAX_K = 8  # 4**8 = 65,536 features per motif is the most that is useful here


def kmer_profile(pfms: list[np.ndarray], k: int = 6, *, pseudocount: float = 0.01, gapped: bool = False
                 ) -> np.ndarray:
    """k-mer profile ``(N, 4**k)`` float32 of probability matrices ``(4, L_i)``.

    Entry ``[i, j]`` is ``max`` over placements and both strands of ``sum_t log((P[b_t, pos_t] + pc) / (1 + 4 pc))``
    for k-mer ``j`` (``log 0.25`` for positions outside the motif), ``pc`` = ``pseudocount``. Reverse-complement
    invariant: a motif and its reverse complement have the same profile.

    With ``gapped`` the k bases span ``k + 1`` columns with one unspecified interior column (any base, score 0),
    and the entry is also the best over the ``k - 1`` gap positions: the motif analogue of gapped k-mers
    (Ghandi et al. 2014, gkm-SVM), which match two half-sites at a variable spacer.

    Raises ValueError for ``k`` outside ``1..MAX_K`` (``2..MAX_K`` with ``gapped``), a negative pseudocount, or a
    matrix that is not ``(4, L)`` with ``L >= 1``.
    """
    if not 1 + gapped <= k <= MAX_K:
        raise ValueError(f"k must be in {1 + gapped}..{MAX_K}, got {k}")
    if pseudocount < 0:
        raise ValueError(f"pseudocount must be >= 0, got {pseudocount}")
    # column offsets of the k bases inside the window: contiguous, or one layout per interior gap position
    layouts = ([[*range(g), *range(g + 1, k + 1)] for g in range(1, k)] if gapped else [list(range(k))])
    out = np.empty((len(pfms), 4 ** k), dtype=np.float32)
    bg = np.log(0.25)
    for i, p in enumerate(pfms):
        p = np.asarray(p, dtype=np.float64)
        if p.ndim != 2 or p.shape[0] != 4 or p.shape[1] < 1:
            raise ValueError(f"motif {i}: expected a (4, L) probability matrix, got shape {p.shape}")
        lp = np.log((p + pseudocount) / (1.0 + 4.0 * pseudocount))
        best = None
        for q in (lp, lp[::-1, ::-1]):  # forward, reverse complement
            for offs in layouts:
                w = offs[-1] + 1  # window width
                qp = np.pad(q, ((0, 0), (w - 1, w - 1)), constant_values=bg)
                n = qp.shape[1] - w + 1  # start offsets
                s = qp[:, :n]  # (4, n): scores of the 1-mer prefixes at every start
                for o in offs[1:]:  # extend by one base: (4**t, n) -> (4**(t+1), n), lexicographic order
                    s = (s[:, None, :] + qp[None, :, o:o + n]).reshape(-1, n)
                m = s.max(1)
                best = m if best is None else np.maximum(best, m)
        out[i] = best
    return out


def standardise_rows(X: np.ndarray) -> np.ndarray:
    """Each motif's profile ``(N, 4**k)`` z-scored over its own k-mers (mean 0, SD 1 per row; float64): what is
    left is *which* k-mers a motif prefers, not how long or informative it is overall (a long, sharp motif scores
    every k-mer higher than a short, soft one). A row with no spread stays all zero."""
    X = np.asarray(X, dtype=np.float64)
    sd = X.std(1, keepdims=True)
    return (X - X.mean(1, keepdims=True)) / np.where(sd > 1e-12, sd, 1.0)


def kmer_similarity(Xq: np.ndarray, Xt: np.ndarray, *, exclude_self: bool = False) -> np.ndarray:
    """Pearson correlation ``(n_queries, n_targets)`` of k-mer profiles ``(n_queries, 4**k)`` and
    ``(n_targets, 4**k)``: an alignment-free motif similarity (the correlation of the two motifs' k-mer
    spectra), usable as a fourth nearest-neighbour metric. With ``exclude_self`` (queries = targets) the
    diagonal is ``-inf``. Raises ValueError for profiles of different widths."""
    Xq, Xt = np.asarray(Xq), np.asarray(Xt)
    if Xq.shape[1] != Xt.shape[1]:
        raise ValueError(f"k-mer profiles of different widths: {Xq.shape[1]} and {Xt.shape[1]}")
    s = standardise_rows(Xq) @ standardise_rows(Xt).T / Xq.shape[1]
    if exclude_self:
        if s.shape[0] != s.shape[1]:
            raise ValueError("exclude_self needs queries = targets")
        np.fill_diagonal(s, -np.inf)
    return s


class KmerLogistic:
    """Multinomial logistic regression on the standardised :func:`kmer_profile` of motifs.

    Parameters
    ----------
    n_classes : int
    k : int
        k-mer length (default 6: 4,096 features).
    C : float
        Inverse L2 regularisation strength (sklearn ``LogisticRegression``).
    pseudocount : float
    row_standardise : bool
        Z-score each motif's profile over its k-mers first (:func:`standardise_rows`), then standardise each
        k-mer over the training motifs as always.

    ``fit(pfms, labels)`` then ``predict_proba(pfms)`` -> ``(N, n_classes)``; ``head`` is the fitted
    :class:`~tfscope.tfclass.model.StandardLinear`. Use ``fit_profile``/``predict_proba_profile`` with a precomputed
    profile (cross-validation computes it once).
    """

    def __init__(self, n_classes: int, *, k: int = 6, C: float = 0.1, pseudocount: float = 0.01,
                 row_standardise: bool = False):
        self.n_classes, self.k, self.C, self.pseudocount = n_classes, k, C, pseudocount
        self.row_standardise = row_standardise

    def _x(self, X: np.ndarray) -> np.ndarray:
        return standardise_rows(X) if self.row_standardise else X

    def profile(self, pfms) -> np.ndarray:
        return kmer_profile(pfms, self.k, pseudocount=self.pseudocount)

    def fit(self, pfms, labels) -> "KmerLogistic":
        return self.fit_profile(self.profile(pfms), labels)

    def fit_profile(self, X: np.ndarray, labels, sample_weight=None) -> "KmerLogistic":
        self.head = StandardLinear.fit_logistic(self._x(X), np.asarray(labels), self.n_classes, C=self.C,
                                                sample_weight=sample_weight)
        return self

    def predict_proba(self, pfms) -> np.ndarray:
        return self.predict_proba_profile(self.profile(pfms))

    def predict_proba_profile(self, X: np.ndarray) -> np.ndarray:
        return self.head.predict_proba(self._x(X))

    def log_proba_profile(self, X: np.ndarray) -> np.ndarray:
        """Log class probabilities ``(N, n_classes)`` of precomputed profiles ``(N, 4**k)``."""
        return self.head.log_proba(self._x(X))
