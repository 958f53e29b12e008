"""Stacked KNN (a multinomial logistic regression on per-class nearest-neighbour similarities) and our best model,
``knn-kmer`` (:class:`KnnKmer`: its log-linear pool with the k-mer logistic regression).

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


def class_neighbour_features(sims: list[np.ndarray], train_labels: np.ndarray, n_classes: int, *, top: int = 2
                             ) -> np.ndarray:
    """Features ``(n_queries, len(sims) * n_classes * top)`` from normalised similarity matrices (one per metric,
    each ``(n_queries, n_train)``; ``-inf`` = excluded).

    For metric m, class c and rank r < ``top``: the r-th largest similarity of the query to training motifs of class
    c, minus the query's largest similarity under metric m. Missing neighbours (a class with fewer than ``top``
    training motifs, or all excluded) get the query's smallest finite similarity minus its best.

    Raises ValueError if a matrix's column count differs from ``len(train_labels)``.
    """
    y = np.asarray(train_labels)
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
            part = -np.sort(-sc, axis=1)[:, :k]
            part = np.where(np.isfinite(part), part, lo[:, None])
            f[:, c, :k] = part
        best = f[:, :, 0].max(1)
        out.append((f - best[:, None, None]).reshape(len(s), -1))
    return np.hstack(out)


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
    (:class:`~tfscope.family.model.StandardLinear`) with the chosen ``C_``.
    """

    def __init__(self, n_classes: int, *, top: int = 2, Cs=(0.1, 0.3, 1.0), inner_folds: int = 3, seed: int = 0):
        self.n_classes, self.top, self.Cs, self.inner_folds, self.seed = n_classes, top, tuple(Cs), inner_folds, seed

    def fit(self, sims_train: list[np.ndarray], y_train: np.ndarray) -> "StackedKNN":
        from sklearn.model_selection import StratifiedKFold

        from .model import StandardLinear

        y = np.asarray(y_train)
        self.train_labels = y
        X = class_neighbour_features(sims_train, y, self.n_classes, top=self.top)
        n_min = np.bincount(y, minlength=self.n_classes)
        n_min = n_min[n_min > 0].min()
        Cs = self.Cs if n_min >= 2 else self.Cs[:1]
        cv = StratifiedKFold(min(self.inner_folds, int(n_min)), shuffle=True, random_state=self.seed) \
            if len(Cs) > 1 else None
        self.head = StandardLinear.fit_logistic_cv(X, y, self.n_classes, Cs=Cs, cv=cv)
        self.C_ = self.head.C
        return self

    def features(self, sims_query: list[np.ndarray]) -> np.ndarray:
        """:func:`class_neighbour_features` of queries against the training motifs."""
        return class_neighbour_features(sims_query, self.train_labels, self.n_classes, top=self.top)

    def predict_proba(self, sims_query: list[np.ndarray]) -> np.ndarray:
        return self.head.predict_proba(self.features(sims_query))


POOL_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def pool_log_proba(log_p_stack: np.ndarray, log_p_kmer: np.ndarray, weight: float) -> np.ndarray:
    """Log-linear opinion pool of two models' log probabilities ``(N, C)``: ``log_softmax((1 - w) a + w b)``."""
    z = (1.0 - weight) * log_p_stack + weight * log_p_kmer
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


class KnnKmer:
    """Our best TF-class model, ``knn-kmer``: log-linear pool of :class:`StackedKNN` (nearest-neighbour scores under
    three column metrics) and :class:`~tfscope.family.kmer_profile.KmerLogistic` (alignment-free k-mer profile).

    ``p(class) ∝ p_stack^(1-w) · p_kmer^w``. The pooling weight ``w`` is chosen from :data:`POOL_WEIGHTS` by the
    smallest negative log-likelihood in an inner stratified ``inner_folds``-fold CV on the training motifs only
    (the stack's ``C`` is first chosen on all training motifs, then held fixed in the inner folds); then both models
    are refitted on all training motifs. Pooling log probabilities rather than averaging probabilities lets a
    confident model overrule an uncertain one (Genest & Zidek 1986, log-linear pooling).

    Use: ``fit(sims_train_train, kmer_train, y_train)`` (normalised similarities with ``-inf`` self-pairs, k-mer
    profiles ``(N, 4**k)``), then ``predict_proba(sims_query_train, kmer_query)``. :meth:`to_module` /
    :meth:`from_module` convert to and from :class:`~tfscope.family.model.KnnKmerHeads` for checkpoints.
    """

    def __init__(self, n_classes: int, *, top: int = 2, Cs=(0.1, 0.3, 1.0), k: int = 6, kmer_C: float = 0.1,
                 weights=POOL_WEIGHTS, inner_folds: int = 3, seed: int = 0):
        self.n_classes, self.top, self.Cs, self.k, self.kmer_C = n_classes, top, tuple(Cs), k, kmer_C
        self.weights, self.inner_folds, self.seed = tuple(weights), inner_folds, seed

    def fit(self, sims_train: list[np.ndarray], kmer_train: np.ndarray, y_train: np.ndarray) -> "KnnKmer":
        from sklearn.model_selection import StratifiedKFold

        from .kmer_profile import KmerLogistic

        y = np.asarray(y_train)
        kmer_train = np.asarray(kmer_train)
        if kmer_train.shape != (len(y), 4 ** self.k):
            raise ValueError(f"k-mer profile has shape {kmer_train.shape}, expected ({len(y)}, {4 ** self.k})")
        self.stack = StackedKNN(self.n_classes, top=self.top, Cs=self.Cs, inner_folds=self.inner_folds,
                                seed=self.seed).fit(sims_train, y)
        self.kmer = KmerLogistic(self.n_classes, k=self.k, C=self.kmer_C).fit_profile(kmer_train, y)
        n_min = np.bincount(y)[np.unique(y)].min()
        self.inner_nll = {}
        if len(self.weights) > 1 and n_min >= 2:
            lps, lpk = np.zeros((len(y), self.n_classes)), np.zeros((len(y), self.n_classes))
            cv = StratifiedKFold(min(self.inner_folds, int(n_min)), shuffle=True, random_state=self.seed)
            for itr, iva in cv.split(np.zeros(len(y)), y):
                st = StackedKNN(self.n_classes, top=self.top, Cs=(self.stack.C_,)).fit(
                    [s[np.ix_(itr, itr)] for s in sims_train], y[itr])
                lps[iva] = st.head.log_proba(st.features([s[np.ix_(iva, itr)] for s in sims_train]))
                km = KmerLogistic(self.n_classes, k=self.k, C=self.kmer_C).fit_profile(kmer_train[itr], y[itr])
                lpk[iva] = km.head.log_proba(kmer_train[iva])
            for w in self.weights:
                self.inner_nll[w] = float(-pool_log_proba(lps, lpk, w)[np.arange(len(y)), y].mean())
            self.weight_ = min(self.weights, key=lambda w: self.inner_nll[w])
        else:
            self.weight_ = self.weights[0] if len(self.weights) == 1 else 0.0
        return self

    def predict_log_proba(self, sims_query: list[np.ndarray], kmer_query: np.ndarray) -> np.ndarray:
        """Pooled log probabilities ``(n_queries, n_classes)``."""
        return pool_log_proba(self.stack.head.log_proba(self.stack.features(sims_query)),
                              self.kmer.head.log_proba(kmer_query), self.weight_)

    def predict_proba(self, sims_query: list[np.ndarray], kmer_query: np.ndarray) -> np.ndarray:
        return np.exp(self.predict_log_proba(sims_query, kmer_query))

    def to_module(self):
        """The fitted heads as a :class:`~tfscope.family.model.KnnKmerHeads` (for ``save_checkpoint``)."""
        from .model import KnnKmerHeads

        m = KnnKmerHeads(self.n_classes, self.stack.head.linear.in_features, self.k)
        m.stack.load_state_dict(self.stack.head.state_dict())
        m.kmer.load_state_dict(self.kmer.head.state_dict())
        m.weight.fill_(float(self.weight_))
        m.hparams = {"n_classes": self.n_classes, "n_stack_features": self.stack.head.linear.in_features, "k": self.k}
        return m

    @classmethod
    def from_module(cls, module, train_labels: np.ndarray, *, top: int = 2) -> "KnnKmer":
        """Rebuild a fitted model from :class:`~tfscope.family.model.KnnKmerHeads` and the labels of the reference
        motifs it was fitted on (the stack's features need them). Raises ValueError if the stack head's feature
        count does not match ``3 * n_classes * top``."""
        from .kmer_profile import KmerLogistic

        C = module.n_classes
        if module.stack.linear.in_features != len(METRICS) * C * top:
            raise ValueError(f"stack head has {module.stack.linear.in_features} features, expected "
                             f"{len(METRICS) * C * top} (3 metrics x {C} classes x top {top})")
        self = cls(C, top=top, k=module.k, weights=(float(module.weight),))
        self.stack = StackedKNN(C, top=top)
        self.stack.train_labels, self.stack.head = np.asarray(train_labels), module.stack
        self.kmer = KmerLogistic(C, k=module.k)
        self.kmer.head = module.kmer
        self.weight_ = float(module.weight)
        return self
