"""Stacked KNN: a multinomial logistic regression on per-class nearest-neighbour similarities (our "best" model).

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

import warnings

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
        Candidate inverse regularisation strengths for the inner CV.
    inner_folds : int
        Stratified inner folds (on the training motifs only).
    seed : int

    Use: ``fit(sims_train_train, y_train)`` with each metric's training-vs-training similarity (self excluded, i.e.
    ``-inf`` on the diagonal), then ``predict_proba(sims_query_train)`` -> ``(n_queries, n_classes)``. Similarities
    must already be normalised (:func:`normalise_similarity`).
    """

    def __init__(self, n_classes: int, *, top: int = 2, Cs=(0.1, 0.3, 1.0), inner_folds: int = 3, seed: int = 0):
        self.n_classes, self.top, self.Cs, self.inner_folds, self.seed = n_classes, top, tuple(Cs), inner_folds, seed

    def fit(self, sims_train: list[np.ndarray], y_train: np.ndarray) -> "StackedKNN":
        from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
        from sklearn.model_selection import StratifiedKFold
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        y = np.asarray(y_train)
        self.train_labels = y
        X = class_neighbour_features(sims_train, y, self.n_classes, top=self.top)
        n_min = np.bincount(y, minlength=self.n_classes)
        n_min = n_min[n_min > 0].min()
        if len(self.Cs) > 1 and n_min >= 2:
            cv = StratifiedKFold(min(self.inner_folds, int(n_min)), shuffle=True, random_state=self.seed)
            clf = LogisticRegressionCV(Cs=list(self.Cs), cv=cv, max_iter=2000)
        else:
            clf = LogisticRegression(C=self.Cs[0], max_iter=2000)
        with warnings.catch_warnings():  # sklearn 1.8 FutureWarnings about future defaults; behaviour unchanged
            warnings.simplefilter("ignore", FutureWarning)
            self.model = make_pipeline(StandardScaler(), clf).fit(X, y)
        est = self.model[-1]
        self.C_ = float(np.ravel(est.C_)[0]) if hasattr(est, "C_") else float(est.C)
        return self

    def predict_proba(self, sims_query: list[np.ndarray]) -> np.ndarray:
        X = class_neighbour_features(sims_query, self.train_labels, self.n_classes, top=self.top)
        p = self.model.predict_proba(X)
        out = np.zeros((len(X), self.n_classes))
        out[:, self.model[-1].classes_] = p
        return out
