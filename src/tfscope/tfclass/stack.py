"""Stacked KNN: a multinomial logistic regression on per-class nearest-neighbour similarities (:class:`StackedKNN`),
its features (:func:`class_neighbour_features`) and the inner-CV helpers shared with the knn-kmer models.

The combiners of the knn-kmer models (log-linear pool, soft vote, temperature, abstain threshold, conditional
logit) are in :mod:`tfscope.tfclass.combine`; the models themselves (:class:`~tfscope.tfclass.knn_kmer.KnnKmer`,
the recipes and the shipped default) in :mod:`tfscope.tfclass.knn_kmer`.

For each query and each column metric (Pearson, Euclidean = Tomtom ``-log10 p``, Sandelin-Wasserman) the features
are the similarities of the ``top`` most similar training motifs *of each class*, minus the query's best similarity
over all classes (so 0 = "as close as the nearest neighbour"; negative = farther). With 3 metrics, 20 classes and
``top = 2`` that is 120 features. Pearson and Sandelin-Wasserman alignment scores are sums over the query's columns,
so they are divided by the query length first; Tomtom ``-log10 p`` is clipped at 30.

Training features come from the training motifs themselves with the self-similarity excluded (leave-one-out), so no
test label is used and no inner CV is needed for the features. The regularisation strength ``C`` is chosen by an inner
stratified CV on the training motifs only (sklearn ``LogisticRegressionCV``). The idea is the classic stacking of
nearest-neighbour scores (Wolpert 1992); the KNN majority vote of Wilk (2025) is the special case of counting the
zero entries.

Own code rather than a library only for the feature construction (a data contract of this task); the classifier is
sklearn's.
"""

from __future__ import annotations

import numpy as np

from .knn import METRICS
from .model import StandardLinear

EUCLIDEAN_CLIP = 30.0  # -log10 p above this carries no extra information (and memelite saturates near 1e-300)


def normalise_similarity(sim: np.ndarray, metric: str, query_lengths) -> np.ndarray:
    """Put a similarity matrix ``(n_queries, n_targets)`` on a per-column scale: Pearson and Sandelin-Wasserman
    alignment sums divided by the query length (columns), Tomtom ``-log10 p`` clipped at :data:`EUCLIDEAN_CLIP`.
    ``-inf`` entries (excluded self-pairs) stay ``-inf``."""
    s = np.asarray(sim, dtype=np.float64)
    if metric == "euclidean":
        return np.minimum(s, EUCLIDEAN_CLIP)
    if metric in ("pearson", "sandelin"):
        return s / np.asarray(query_lengths, dtype=np.float64)[:, None]
    raise ValueError(f"unknown column metric {metric!r}; choose from {METRICS}")


def _top_distinct_groups(sc: np.ndarray, groups: np.ndarray, top: int, depth: int = 12) -> np.ndarray:
    """Per row of ``sc`` ``(n, m)``: the ``top`` largest entries that come from distinct ``groups`` ``(m,)`` (one
    neighbour per paralog group), searched among the row's ``depth`` largest; ``-inf`` where there are fewer."""
    d = min(depth, sc.shape[1])
    idx = np.argsort(-sc, axis=1, kind="stable")[:, :d]
    out = np.full((len(sc), top), -np.inf)
    for i in range(len(sc)):
        seen, r = set(), 0
        for j in idx[i]:
            if r == top or not np.isfinite(sc[i, j]):
                break
            if groups[j] not in seen:
                seen.add(groups[j])
                out[i, r] = sc[i, j]
                r += 1
    return out


def class_neighbour_features(sims: list[np.ndarray], train_labels: np.ndarray, n_classes: int, *, top: int = 2,
                             train_groups=None) -> np.ndarray:
    """Features ``(n_queries, len(sims) * n_classes * top)`` from normalised similarity matrices (one per metric,
    each ``(n_queries, n_train)``; ``-inf`` = excluded).

    For metric m, class c and rank r < ``top``: the r-th largest similarity of the query to training motifs of class
    c, minus the query's largest similarity under metric m. Missing neighbours (a class with fewer than ``top``
    training motifs, or all excluded) get the query's smallest finite similarity minus its best. With
    ``train_groups`` (one paralog group per training motif, :func:`tfscope.tfclass.splits.paralog_group`) the ranks
    count one neighbour per group: the second neighbour of a class is the best motif of *another* TF group, so
    that near-copies of one TF (versions, orthologs) do not fill every rank.

    Raises ValueError if a matrix's column count differs from ``len(train_labels)``.
    """
    y = np.asarray(train_labels)
    g = None if train_groups is None else np.asarray(train_groups)
    out = []
    for s in sims:
        s = np.asarray(s, dtype=np.float64)
        if s.shape[1] != len(y):
            raise ValueError(f"similarity matrix has {s.shape[1]} targets, labels have {len(y)}")
        finite = np.isfinite(s)
        lo = np.where(finite, s, np.inf).min(1)
        lo = np.where(np.isfinite(lo), lo, 0.0)
        f = np.repeat(lo[:, None, None], n_classes * top, axis=1).reshape(len(s), n_classes, top)
        for c in range(n_classes):
            sc = s[:, y == c]
            if sc.shape[1] == 0:
                continue
            k = min(top, sc.shape[1])
            part = (-np.sort(-sc, axis=1)[:, :k] if g is None else
                    _top_distinct_groups(sc, g[y == c], top)[:, :k])
            part = np.where(np.isfinite(part), part, lo[:, None])
            f[:, c, :k] = part
        best = f[:, :, 0].max(1)
        out.append((f - best[:, None, None]).reshape(len(s), -1))
    return np.hstack(out)


def inner_splits(y: np.ndarray, groups=None, folds: int = 3, seed: int = 0):
    """Inner CV splits (list of (train, valid) index arrays) on training motifs: stratified K-fold, or with
    ``groups`` stratified *group* K-fold (``sklearn.model_selection.StratifiedGroupKFold``: a paralog group never
    on both sides). ``None`` when the smallest class has fewer than 2 motifs (no inner CV possible)."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    y = np.asarray(y)
    n = np.bincount(y)
    n_min = int(n[n > 0].min())
    if n_min < 2:
        return None
    if groups is None:
        cv = StratifiedKFold(min(folds, n_min), shuffle=True, random_state=seed)
        return list(cv.split(np.zeros(len(y)), y))
    groups = np.asarray(groups)
    k = min(folds, len(set(groups.tolist())))
    if k < 2:
        return None
    return list(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, groups))


def group_weights(groups) -> np.ndarray:
    """Sample weights ``(N,)`` that give every group the same total weight (``1 / group size``, scaled to mean 1):
    one vote per TF group when fitting, so that a TF with many motifs (versions, species, studies) does not
    outweigh a TF with one."""
    _, inv, cnt = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    w = 1.0 / cnt[inv]
    return w * len(w) / w.sum()


def exclude_groups(sims: list[np.ndarray], groups) -> list[np.ndarray]:
    """Training-vs-training similarity matrices with every same-group pair (self included) set to ``-inf``:
    leave-group-out neighbour features, so that a training motif sees its class only through *other* TF groups,
    as a motif of a TF new to the reference set does."""
    g = np.asarray(groups)
    same = g[:, None] == g[None, :]
    return [np.where(same, -np.inf, s) for s in sims]


class StackedKNN:
    """Logistic regression on :func:`class_neighbour_features` (standardised), ``C`` by inner CV.

    Parameters
    ----------
    n_classes : int
    top : int
        Neighbours per class and metric.
    Cs : sequence of float
        Candidate inverse regularisation strengths for the inner CV (one value: no inner CV).
    inner_folds : int
        Stratified inner folds (on the training motifs only).
    seed : int

    Use: ``fit(sims_train_train, y_train)`` with each metric's training-vs-training similarity (self excluded, i.e.
    ``-inf`` on the diagonal), then ``predict_proba(sims_query_train)`` -> ``(n_queries, n_classes)``. Similarities
    must already be normalised (:func:`normalise_similarity`). The fitted model is ``head``
    (:class:`~tfscope.tfclass.model.StandardLinear`) with the chosen ``C_``.
    """

    def __init__(self, n_classes: int, *, top: int = 2, Cs=(0.1, 0.3, 1.0), inner_folds: int = 3, seed: int = 0,
                 dedup: bool = False, class_weight=None):
        self.n_classes, self.top, self.Cs, self.inner_folds, self.seed = n_classes, top, tuple(Cs), inner_folds, seed
        self.dedup, self.class_weight = dedup, class_weight

    def fit(self, sims_train: list[np.ndarray], y_train: np.ndarray, groups=None, sample_weight=None
            ) -> "StackedKNN":
        """Fit on training-vs-training similarities. With ``groups`` (paralog group per training motif) the inner
        CV that picks ``C`` is grouped (:func:`inner_splits`), and with ``dedup`` the features count one neighbour
        per group."""

        y = np.asarray(y_train)
        self.train_labels = y
        self.train_groups = None if groups is None else np.asarray(groups)
        X = self.features(sims_train)
        Cs = self.Cs
        cv = inner_splits(y, self.train_groups, self.inner_folds, self.seed) if len(Cs) > 1 else None
        if cv is None:
            Cs = Cs[:1]
        self.head = StandardLinear.fit_logistic_cv(X, y, self.n_classes, Cs=Cs, cv=cv, class_weight=self.class_weight,
                                                   sample_weight=sample_weight)
        self.C_ = self.head.C
        return self

    def features(self, sims_query: list[np.ndarray]) -> np.ndarray:
        """:func:`class_neighbour_features` of queries against the training motifs."""
        return class_neighbour_features(sims_query, self.train_labels, self.n_classes, top=self.top,
                                        train_groups=self.train_groups if self.dedup else None)

    def predict_proba(self, sims_query: list[np.ndarray]) -> np.ndarray:
        return self.head.predict_proba(self.features(sims_query))
