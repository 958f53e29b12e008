"""K-nearest-neighbour TF-class prediction on Tomtom-style motif similarities (Wilk 2025 thesis, chapter KNN).

Column metrics of the thesis (Gupta et al. 2007, Tomtom):

* ``"euclidean"``: negative Euclidean distance between columns. This is the column score of ``memelite.tomtom``
  (Schreiber's Tomtom re-implementation), so for this metric the similarity is Tomtom's ``-log10 p`` of the best
  alignment (offsets + reverse complement, complete scoring) computed by memelite.
* ``"pearson"``: Pearson correlation coefficient of the two columns.
* ``"sandelin"``: Sandelin-Wasserman similarity ``2 - sum_b (x_b - y_b)^2`` (Sandelin & Wasserman 2004).

memelite's Tomtom has no Pearson or Sandelin-Wasserman score, so for those two we compute (vectorised numpy) the
best alignment score over all offsets with at least ``min_overlap`` overlapping columns and both target strands,
using Tomtom's *complete* score: every query column is scored, query columns hanging over the target's end are
compared with a uniform background column. All candidate targets of one query are thus scored over the same number
of columns, which makes scores comparable within a query (all that KNN needs).

Similarity matrices are ``(n_queries, n_targets)``, larger = more similar.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

METRICS = ("pearson", "euclidean", "sandelin")


def _rc(m: np.ndarray) -> np.ndarray:
    return m[::-1, ::-1]


def _col_features(cols: np.ndarray, metric: str) -> np.ndarray:
    """Transform columns (K, 4) so that a dot product (plus norms) gives the column similarity."""
    if metric == "pearson":
        c = cols - cols.mean(1, keepdims=True)
        n = np.linalg.norm(c, axis=1, keepdims=True)
        return np.divide(c, n, out=np.zeros_like(c), where=n > 1e-12)  # uniform column -> correlation 0
    return cols


def column_similarity(q: np.ndarray, t: np.ndarray, metric: str) -> np.ndarray:
    """Similarity of every column of ``q`` ``(Lq, 4)`` with every column of ``t`` ``(Lt, 4)`` -> ``(Lq, Lt)``."""
    if metric == "pearson":
        return _col_features(q, metric) @ _col_features(t, metric).T
    d2 = (q * q).sum(1)[:, None] + (t * t).sum(1)[None, :] - 2 * q @ t.T
    d2 = np.maximum(d2, 0.0)
    if metric == "sandelin":
        return 2.0 - d2
    if metric == "euclidean":
        return -np.sqrt(d2)
    raise ValueError(f"unknown column metric {metric!r}; choose from {METRICS}")


def _concat_targets(targets, P):
    """Targets (forward, then reverse complement) as one column array ``(Ntot, 4)``, separated by ``P`` uniform
    background columns; returns it with each segment's start and length."""
    blocks, seg_start, seg_len = [np.full((P, 4), 0.25)], [], []
    pos = P
    for strand in (0, 1):
        for t in targets:
            tt = (t if strand == 0 else _rc(t)).T
            blocks += [tt, np.full((P, 4), 0.25)]
            seg_start.append(pos)
            seg_len.append(tt.shape[0])
            pos += tt.shape[0] + P
    return np.concatenate(blocks).astype(np.float32), np.array(seg_start), np.array(seg_len)


def _best_alignments(Q, T, seg_start, seg_len, metric, min_overlap, n_t):
    Lq = Q.shape[0]
    S = column_similarity(Q.astype(np.float32), T, metric)  # (Lq, Ntot)
    n_start = T.shape[0] - Lq + 1
    D = np.zeros(n_start, dtype=np.float64)
    for i in range(Lq):  # diagonal sums: D[j] = sum_i S[i, j + i] = complete score of the window starting at j
        D += S[i, i:i + n_start]
    m = np.minimum(min_overlap, np.minimum(seg_len, Lq))
    lo = seg_start - Lq + m  # window starts overlapping the segment by >= m columns: [lo, hi]
    hi = seg_start + seg_len - m
    valid = np.zeros(n_start + 1, dtype=np.int64)
    np.add.at(valid, lo, 1)
    np.add.at(valid, hi + 1, -1)
    Dm = np.where(np.cumsum(valid)[:n_start] > 0, D, -np.inf)
    # ranges of consecutive segments are disjoint (padding >= Lq), so reduceat from each lo to the next lo is exact
    best = np.maximum.reduceat(Dm, lo)
    return best.reshape(2, n_t).max(0)


def alignment_similarity(queries: list[np.ndarray], targets: list[np.ndarray], metric: str = "pearson", *,
                         min_overlap: int = 4, exclude_self: bool = False) -> np.ndarray:
    """Best ungapped alignment score of each query against each target (offsets, both target strands).

    Parameters
    ----------
    queries, targets : list of ndarray (4, L)
        Probability matrices.
    metric : {"pearson", "euclidean", "sandelin"}
    min_overlap : int
        Minimum number of overlapping columns (capped by the shorter motif's length).
    exclude_self : bool
        With ``queries is targets``: set the diagonal to ``-inf`` (leave-one-out).

    Returns
    -------
    ndarray (n_queries, n_targets) float64
        Sum over the query's columns of the column similarity (overhanging columns vs. a uniform column).
    """
    if metric not in METRICS:
        raise ValueError(f"unknown column metric {metric!r}; choose from {METRICS}")
    out = np.full((len(queries), len(targets)), -np.inf)
    qlens = np.array([q.shape[1] for q in queries])
    for Lq in np.unique(qlens):  # pad targets by Lq background columns: enough for every overhang of this length
        T, seg_start, seg_len = _concat_targets(targets, int(Lq))
        for qi in np.flatnonzero(qlens == Lq):
            out[qi] = _best_alignments(queries[qi].T, T, seg_start, seg_len, metric, min_overlap, len(targets))
    if exclude_self:
        np.fill_diagonal(out, -np.inf)
    return out


#: widest query motif compared with Tomtom (columns): memelite's workspace grows as ~3.2 kB x width^3 (100 columns
#: -> 3.2 GB, 1000 -> 3 TB), and real motifs are 5-40 columns wide
MAX_TOMTOM_WIDTH = 100


def tomtom_similarity(queries: list[np.ndarray], targets: list[np.ndarray], *, exclude_self: bool = False,
                      n_jobs: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Tomtom (memelite) similarity ``-log10 p`` and the raw p-values, both ``(n_queries, n_targets)``.

    Uses ``memelite.tomtom`` (Euclidean column score, complete scoring, reverse complement on).

    Raises
    ------
    InputError
        A query wider than :data:`MAX_TOMTOM_WIDTH` columns (Tomtom's memory grows with the cube of the width).
    """
    from memelite import tomtom

    widest = max((np.asarray(q).shape[-1] for q in queries), default=0)
    if widest > MAX_TOMTOM_WIDTH:
        raise InputError(f"a motif is {widest:,} columns wide; Tomtom comparison needs about "
                         f"{3.2e3 * widest ** 3 / 1e9:,.0f} GB for that, so tfscope compares motifs up to "
                         f"{MAX_TOMTOM_WIDTH} columns (real motifs are 5-40)")

    p = tomtom([np.asarray(q, dtype=np.float64) for q in queries], [np.asarray(t, dtype=np.float64)
                                                                    for t in targets], n_jobs=n_jobs)[0]
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-300, 1.0)
    sim = -np.log10(p)
    if exclude_self:
        np.fill_diagonal(sim, -np.inf)
    return sim, p


def similarity(queries, targets, metric: str, *, exclude_self: bool = False, n_jobs: int = 1) -> np.ndarray:
    """Similarity matrix for a thesis column metric (``euclidean`` via memelite Tomtom ``-log10 p``)."""
    if metric == "euclidean":
        return tomtom_similarity(queries, targets, exclude_self=exclude_self, n_jobs=n_jobs)[0]
    return alignment_similarity(queries, targets, metric, exclude_self=exclude_self)


def all_similarities(queries, targets, *, exclude_self: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
    """Similarity matrices ``(n_queries, n_targets)`` of every column metric, in :data:`METRICS` order (raw scores:
    Pearson / Sandelin-Wasserman alignment sums, Tomtom ``-log10 p``), and Tomtom's p-values."""
    sim_t, pv = tomtom_similarity(queries, targets, exclude_self=exclude_self)
    sims = {"euclidean": sim_t}
    for met in ("pearson", "sandelin"):
        sims[met] = alignment_similarity(queries, targets, met, exclude_self=exclude_self)
    return [sims[m] for m in METRICS], pv


def knn_proba(sim: np.ndarray, train_labels: np.ndarray, n_classes: int, k: int = 1) -> np.ndarray:
    """Class probabilities ``(n_queries, n_classes)`` = vote shares of the ``k`` most similar targets.

    Vote ties are broken towards the class of the nearer neighbour (a tiny rank-decaying weight).
    """
    k = min(k, sim.shape[1])
    nn = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    lab = np.asarray(train_labels)[nn]
    w = 1.0 + 1e-6 * (k - np.arange(k))[None, :]
    proba = np.zeros((sim.shape[0], n_classes))
    np.add.at(proba, (np.repeat(np.arange(sim.shape[0]), k), lab.ravel()), np.broadcast_to(w, lab.shape).ravel())
    return proba / proba.sum(1, keepdims=True)


def knn_ensemble_proba(sims: list[np.ndarray], train_labels: np.ndarray, n_classes: int, k: int = 1) -> np.ndarray:
    """Majority vote over the per-metric KNN predictions (thesis ensemble). Returns vote shares
    ``(n_queries, n_classes)``; ties go to the first metric's prediction (Pearson when ordered as METRICS)."""
    preds = [knn_proba(s, train_labels, n_classes, k).argmax(1) for s in sims]
    votes = np.zeros((sims[0].shape[0], n_classes))
    for j, p in enumerate(preds):
        votes[np.arange(len(p)), p] += 1.0 + (1e-3 if j == 0 else 0.0)
    return votes / votes.sum(1, keepdims=True)


def nearest(sim_row: np.ndarray, n: int = 5) -> np.ndarray:
    """Indices of the ``n`` most similar targets for one query row."""
    return np.argsort(-sim_row, kind="stable")[:n]
