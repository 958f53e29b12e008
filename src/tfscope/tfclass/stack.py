"""Stacked KNN (a multinomial logistic regression on per-class nearest-neighbour similarities) and the knn-kmer
models (:class:`KnnKmer`: its log-linear pool with the k-mer logistic regression, or, in ``knn-kmer-clogit``, a
class-shared conditional logit over both, :func:`fit_conditional_logit`; the shipped default ``knn-kmer-vote`` is
the equal-weight soft vote of that conditional logit and the same fit's calibrated pool, :func:`soft_vote_log_proba`).

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

from .kmer_profile import kmer_similarity
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
        from .model import StandardLinear

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


POOL_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
POOL_WEIGHTS_FULL = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def pool_log_proba(log_p_stack: np.ndarray, log_p_kmer: np.ndarray, weight: float, temperature: float = 1.0
                   ) -> np.ndarray:
    """Log-linear opinion pool of two models' log probabilities ``(N, C)``: ``log_softmax(((1 - w) a + w b) / T)``
    (``T`` = ``temperature``, 1 = no calibration)."""
    z = ((1.0 - weight) * log_p_stack + weight * log_p_kmer) / temperature
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def soft_vote_log_proba(log_p_a: np.ndarray, log_p_b: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """Soft vote (linear opinion pool) of two models' log probabilities ``(N, C)``: ``log((1 - w) p_a + w p_b)``
    (``w`` = ``weight`` in [0, 1]; 0.5 = the mean of the two probability matrices). Unlike
    :func:`pool_log_proba` no model can veto a class: a class keeps at least ``(1 - w) p_a`` (resp. ``w p_b``).
    Rows of probabilities that sum to 1 give rows that sum to 1. Raises ValueError for a weight outside [0, 1]."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"soft-vote weight must be in [0, 1], got {weight}")
    with np.errstate(divide="ignore"):  # w = 0 or 1: log 0 = -inf drops that model
        return np.logaddexp(np.log1p(-weight) + np.asarray(log_p_a), np.log(weight) + np.asarray(log_p_b))


def fit_temperature(log_p: np.ndarray, y: np.ndarray) -> float:
    """Temperature ``T`` in [0.05, 20] minimising the negative log-likelihood of ``log_softmax(log_p / T)`` for
    labels ``y`` (temperature scaling, Guo et al. 2017), by ``scipy.optimize.minimize_scalar`` on ``log T``."""
    from scipy.optimize import minimize_scalar

    y = np.asarray(y)

    def nll(lt):
        z = log_p / np.exp(lt)
        z = z - z.max(1, keepdims=True)
        return float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1))).mean())

    return float(np.exp(minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded").x))


def confidence_threshold(confidence: np.ndarray, correct: np.ndarray, precision: float = 0.9) -> float:
    """Smallest confidence ``t`` (one of the observed values) such that the predictions with confidence >= ``t``
    are correct in at least ``precision`` of cases (1.0 if no threshold reaches it). From out-of-fold predictions:
    ``confidence`` ``(N,)`` the top class probability, ``correct`` ``(N,)`` bool."""
    order = np.argsort(-np.asarray(confidence), kind="stable")
    c = np.asarray(confidence)[order]
    ok = np.cumsum(np.asarray(correct)[order]) / np.arange(1, len(c) + 1)
    good = np.flatnonzero(ok >= precision)
    return float(c[good[-1]]) if len(good) else 1.0


def adapt_priors(proba: np.ndarray, train_prior: np.ndarray, *, max_iter: int = 100, tol: float = 1e-6
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Adjust posteriors ``(N, C)`` to the class mix of a batch of queries by EM (Saerens, Latinne & Decaestecker
    2002, *Neural Computation* 14:21-41): re-estimate the test priors as the mean posterior and re-weight each
    posterior by new / training prior until the priors settle. Returns (adjusted posteriors, estimated priors)."""
    p0 = np.clip(np.asarray(train_prior, dtype=np.float64), 1e-12, None)
    pr = p0.copy()
    post = np.asarray(proba, dtype=np.float64)
    for _ in range(max_iter):
        w = post * (pr / p0)[None, :]
        w /= w.sum(1, keepdims=True)
        new = w.mean(0)
        done = np.abs(new - pr).max() < tol
        pr = new
        if done:
            break
    w = post * (pr / p0)[None, :]
    return w / w.sum(1, keepdims=True), pr


def clogit_objective(theta: np.ndarray, F: np.ndarray, E: np.ndarray, y: np.ndarray, lam: float
                     ) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood + ``lam * |theta|^2`` of :func:`fit_conditional_logit`'s model and its
    gradient; ``theta`` = (beta ``(M * top)``, gamma ``(n_experts)``, alpha ``(C)``) concatenated."""
    n, M, C, T = F.shape
    nb, ne = M * T, len(E)
    rows = np.arange(n)
    b, g, a = theta[:nb].reshape(M, T), theta[nb:nb + ne], theta[nb + ne:]
    U = np.einsum("nmct,mt->nc", F, b) + np.einsum("e,enc->nc", g, E) + a
    U = U - U.max(1, keepdims=True)
    Z = np.exp(U).sum(1)
    R = np.exp(U) / Z[:, None]
    R[rows, y] -= 1.0
    R /= n  # d(mean NLL) / dU
    grad = np.concatenate([np.einsum("nc,nmct->mt", R, F).ravel(), np.einsum("nc,enc->e", R, E), R.sum(0)])
    return float(-(U[rows, y] - np.log(Z)).mean() + lam * theta @ theta), grad + 2.0 * lam * theta


def fit_conditional_logit(F: np.ndarray, experts: np.ndarray, y: np.ndarray, *, lam: float = 0.01
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Conditional logit (McFadden 1974) over classes with *class-shared* coefficients.

    Utility of class c for motif n: ``U[n, c] = sum_{m,r} beta[m, r] F[n, m, c, r] + sum_e gamma[e] E[e, n, c]
    + alpha[c]``, ``p = softmax_c(U)``. ``F`` ``(N, M, C, top)`` are per-class nearest-neighbour features
    (:func:`class_neighbour_features` reshaped: metric, class, rank), ``experts`` ``(n_experts, N, C)`` other
    models' log probabilities (clipped at :data:`tfscope.tfclass.model.EXPERT_LOG_FLOOR`), ``y`` ``(N,)`` labels. Unlike a multinomial
    logistic regression on the same features (one coefficient per feature *and class*), the similarity of class c
    only speaks for class c, with one weight per metric and rank for all classes: 8 + n_experts + C parameters
    instead of thousands, which is what carries over to TFs and classes mixes not seen in training. Fitted by
    L-BFGS (scipy) on the mean negative log-likelihood plus ``lam`` times the squared L2 norm of all parameters.
    Own code: scikit-learn and statsmodels have no multinomial conditional logit with alternative-specific
    features. Returns (beta ``(M, top)``, gamma ``(n_experts,)``, alpha ``(C,)``). Raises ValueError for
    inconsistent shapes.
    """
    from scipy.optimize import minimize

    from .model import EXPERT_LOG_FLOOR

    F = np.asarray(F, dtype=np.float64)
    E = np.maximum(np.asarray(experts, dtype=np.float64), EXPERT_LOG_FLOOR)
    y = np.asarray(y)
    n, M, C, T = F.shape
    if E.ndim != 3 or E.shape[1:] != (n, C) or len(y) != n:
        raise ValueError(f"features {F.shape}, experts {E.shape} and labels {y.shape} do not match")
    nb, ne = M * T, len(E)
    theta = minimize(clogit_objective, np.zeros(nb + ne + C), args=(F, E, y, lam), jac=True, method="L-BFGS-B").x
    return theta[:nb].reshape(M, T), theta[nb:nb + ne], theta[nb + ne:]


def conditional_logit_log_proba(F: np.ndarray, experts: np.ndarray, beta: np.ndarray, gamma: np.ndarray,
                                alpha: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Log class probabilities ``(N, C)`` of :func:`fit_conditional_logit`'s model, ``log_softmax(U / T)``."""
    from .model import EXPERT_LOG_FLOOR

    E = np.maximum(np.asarray(experts, dtype=np.float64), EXPERT_LOG_FLOOR)
    U = (np.einsum("nmct,mt->nc", np.asarray(F, dtype=np.float64), beta) + np.einsum("e,enc->nc", gamma, E)
         + alpha) / temperature
    U = U - U.max(1, keepdims=True)
    return U - np.log(np.exp(U).sum(1, keepdims=True))


class KnnKmer:
    """Log-linear pool (or conditional logit) of :class:`StackedKNN` (nearest-neighbour scores under three column
    metrics) and :class:`~tfscope.tfclass.kmer_profile.KmerLogistic` (alignment-free k-mer profile): the recipes of
    :data:`RECIPES` (``knn-kmer``, ``knn-kmer-dedup``, ``knn-kmer-clogit`` and the shipped default
    ``knn-kmer-vote``).

    ``p(class) ∝ (p_stack^(1-w) · p_kmer^w)^(1/T)``. The pooling weight ``w`` is chosen from ``weights`` by the
    smallest negative log-likelihood in an inner ``inner_folds``-fold CV on the training motifs only (the stack's
    ``C`` is first chosen on all training motifs, then held fixed in the inner folds); then both models are refitted
    on all training motifs. Pooling log probabilities rather than averaging probabilities lets a confident model
    overrule an uncertain one (Genest & Zidek 1986, log-linear pooling).

    ``knn-kmer`` (no groups): stratified inner CV, leave-one-out stack features, ``T`` = 1.

    With paralog groups (``fit(..., groups=...)``): ``dedup`` counts one neighbour per group, the inner CVs (stack
    ``C``, ``w``) are grouped (:func:`inner_splits`), ``leave_group_out`` makes the stack's training features
    leave-group-out (:func:`exclude_groups`), and with ``calibrate`` the temperature ``T`` (:func:`fit_temperature`)
    and the abstain threshold ``min_confidence_`` (:func:`confidence_threshold`: ``abstain_precision`` of the
    grouped out-of-fold predictions above it are right) are fitted on the grouped inner out-of-fold predictions.

    ``row_standardise`` z-scores each motif's k-mer profile over its k-mers before the k-mer regression
    (:func:`~tfscope.tfclass.kmer_profile.standardise_rows`); ``kmer_metric`` adds the k-mer profile correlation
    (:func:`~tfscope.tfclass.kmer_profile.kmer_similarity`) as a fourth nearest-neighbour metric of the stack.
    ``combiner="clogit"`` (``knn-kmer-clogit``) replaces the pool by a class-shared conditional logit
    (:func:`fit_conditional_logit`) on the stack's leave-one-out per-class features and the two parts' grouped
    inner out-of-fold log probabilities (``clogit_`` = beta, gamma, alpha; L2 strength ``clogit_lam``); its ``T``
    and threshold come from the same model applied to grouped out-of-fold stack features, i.e. as for TFs new to
    the reference set.

    ``gapped_metric`` adds the Pearson correlation of the motifs' *gapped* k-mer profiles
    (:func:`~tfscope.tfclass.kmer_profile.kmer_profile` with ``gapped=True``, correlated by
    :func:`~tfscope.tfclass.kmer_profile.kmer_similarity`) as one more stack metric (the metrics are then the
    column metrics, the gapped-profile correlation, the k-mer profile correlation); ``fit`` and the prediction
    methods then need the gapped profiles (``gapped=``). ``vote`` (``knn-kmer-vote``, with ``combiner="clogit"``)
    predicts the equal-weight soft vote (:func:`soft_vote_log_proba`: the mean of the two probability matrices) of
    the temperature-scaled conditional logit and the same fit's log-linear pool of its two parts (weight ``w``
    chosen by the grouped inner CV as above) with its own temperature ``pool_temperature_`` (fitted on the grouped
    inner out-of-fold pool). The two combiners win on different motif sets (docs/family.md, *Fourth round*), and
    the vote keeps what both agree on. Its abstain threshold comes from :func:`confidence_threshold` applied to the
    vote of the two combiners' grouped inner out-of-fold predictions (the conditional logit's as above, the pool's
    from the two parts' out-of-fold log probabilities), i.e. the vote's own out-of-fold confidence; the vote gets no
    further temperature (the mean of two calibrated probabilities).

    Use: ``fit(sims_train_train, kmer_train, y_train[, groups][, gapped=...])`` (normalised similarities with
    ``-inf`` self-pairs, k-mer profiles ``(N, 4**k)``), then ``predict_proba(sims_query_train, kmer_query[,
    gapped=...])``. :meth:`to_module` / :meth:`from_module` convert to and from
    :class:`~tfscope.tfclass.model.KnnKmerHeads` for checkpoints. Raises ValueError for an unknown ``combiner`` or
    ``vote`` without the conditional logit.
    """

    def __init__(self, n_classes: int, *, top: int = 2, Cs=(0.1, 0.3, 1.0), k: int = 6, kmer_C: float = 0.1,
                 weights=POOL_WEIGHTS, inner_folds: int = 3, seed: int = 0, leave_group_out: bool = False,
                 dedup: bool = False, calibrate: bool = False, abstain_precision: float = 0.9,
                 group_weight: bool = False, class_weight=None, row_standardise: bool = False,
                 kmer_metric: bool = False, combiner: str = "pool", clogit_lam: float = 0.01,
                 gapped_metric: bool = False, vote: bool = False):
        if combiner not in ("pool", "clogit"):
            raise ValueError(f"combiner must be 'pool' or 'clogit', got {combiner!r}")
        if vote and combiner != "clogit":
            raise ValueError("vote is the soft vote of the conditional logit and the pool: needs combiner='clogit'")
        self.combiner, self.clogit_lam, self.clogit_ = combiner, clogit_lam, None
        self.gapped_metric, self.vote, self.pool_temperature_ = gapped_metric, vote, 1.0
        self.n_classes, self.top, self.Cs, self.k, self.kmer_C = n_classes, top, tuple(Cs), k, kmer_C
        self.row_standardise, self.kmer_metric = row_standardise, kmer_metric
        self.weights, self.inner_folds, self.seed = tuple(weights), inner_folds, seed
        self.leave_group_out, self.dedup, self.calibrate = leave_group_out, dedup, calibrate
        self.abstain_precision, self.group_weight, self.class_weight = abstain_precision, group_weight, class_weight
        self.temperature_, self.min_confidence_ = 1.0, None

    def fit(self, sims_train: list[np.ndarray], kmer_train: np.ndarray, y_train: np.ndarray, groups=None, *,
            gapped=None) -> "KnnKmer":
        """Fit both parts and the pool. ``groups`` ``(N,)``: paralog group per training motif (grouped inner CV;
        needed for ``leave_group_out`` and ``dedup``); ``gapped`` ``(N, 4**k)``: the training motifs' gapped k-mer
        profiles (needed with ``gapped_metric``). Raises ValueError for a k-mer profile of the wrong shape or
        ``leave_group_out``/``dedup`` without ``groups``."""
        from .kmer_profile import KmerLogistic

        y = np.asarray(y_train)
        kmer_train = np.asarray(kmer_train)
        if kmer_train.shape != (len(y), 4 ** self.k):
            raise ValueError(f"k-mer profile has shape {kmer_train.shape}, expected ({len(y)}, {4 ** self.k})")
        if (self.leave_group_out or self.dedup) and groups is None:
            raise ValueError("leave_group_out and dedup need the training motifs' groups")
        g = None if groups is None else np.asarray(groups)
        self.kmer_reference_ = self.gapped_reference_ = None
        if self.gapped_metric:  # the gapped-profile correlation as one more nearest-neighbour metric
            self.gapped_reference_ = self._gapped(gapped, len(y))
            sims_train = list(sims_train) + [kmer_similarity(self.gapped_reference_, self.gapped_reference_,
                                                             exclude_self=True)]
        if self.kmer_metric:  # the k-mer profile correlation as a fourth nearest-neighbour metric of the stack
            self.kmer_reference_ = kmer_train
            sims_train = list(sims_train) + [kmer_similarity(kmer_train, kmer_train, exclude_self=True)]
        fit_sims = exclude_groups(sims_train, g) if self.leave_group_out else sims_train
        sw = group_weights(g) if self.group_weight else None
        self.stack = StackedKNN(self.n_classes, top=self.top, Cs=self.Cs, inner_folds=self.inner_folds,
                                seed=self.seed, dedup=self.dedup, class_weight=self.class_weight
                                ).fit(fit_sims, y, g, sw)
        self.kmer = KmerLogistic(self.n_classes, k=self.k, C=self.kmer_C, row_standardise=self.row_standardise
                                 ).fit_profile(kmer_train, y, sw)
        self.inner_nll = {}
        splits = inner_splits(y, g, self.inner_folds, self.seed) if (len(self.weights) > 1 or self.calibrate
                                                                     or self.combiner == "clogit") else None
        if splits is None:
            self.weight_ = self.weights[0] if len(self.weights) == 1 else 0.0
            return self
        lps, lpk = np.zeros((len(y), self.n_classes)), np.zeros((len(y), self.n_classes))
        f_oof = np.zeros((len(y), self.stack.head.linear.in_features))  # stack features as for unseen TF groups
        for itr, iva in splits:
            gi = None if g is None else g[itr]
            swi = None if sw is None else group_weights(gi)
            st = StackedKNN(self.n_classes, top=self.top, Cs=(self.stack.C_,), dedup=self.dedup,
                            class_weight=self.class_weight).fit([s[np.ix_(itr, itr)] for s in fit_sims], y[itr], gi,
                                                                swi)
            f_oof[iva] = st.features([s[np.ix_(iva, itr)] for s in sims_train])
            lps[iva] = st.head.log_proba(f_oof[iva])
            km = KmerLogistic(self.n_classes, k=self.k, C=self.kmer_C, row_standardise=self.row_standardise
                              ).fit_profile(kmer_train[itr], y[itr], swi)
            lpk[iva] = km.log_proba_profile(kmer_train[iva])
        # grouped inner out-of-fold log probabilities of both parts and the stack features (for combiners fitted on
        # top of this model, e.g. soft votes weighted by inner CV)
        self.inner_oof_ = {"stack": lps, "kmer": lpk, "stack_features": f_oof}
        for w in self.weights:
            self.inner_nll[w] = float(-pool_log_proba(lps, lpk, w)[np.arange(len(y)), y].mean())
        self.weight_ = min(self.weights, key=lambda w: self.inner_nll[w])
        if self.combiner == "clogit":  # class-shared conditional logit on the stack features + both parts
            shape = (len(y), len(sims_train), self.n_classes, self.top)
            self.clogit_ = fit_conditional_logit(self.stack.features(fit_sims).reshape(shape), np.stack([lpk, lps]),
                                                 y, lam=self.clogit_lam)
            if self.calibrate or self.vote:  # temperature and threshold on the grouped out-of-fold predictions
                z = conditional_logit_log_proba(f_oof.reshape(shape), np.stack([lpk, lps]), *self.clogit_)
                self.temperature_ = fit_temperature(z, y)
                p = np.exp(z / self.temperature_)
                p /= p.sum(1, keepdims=True)
                if self.vote:  # the pool's own temperature; the threshold is the vote's
                    self.pool_temperature_ = fit_temperature(pool_log_proba(lps, lpk, self.weight_), y)
                    p = np.exp(soft_vote_log_proba(np.log(p), pool_log_proba(lps, lpk, self.weight_,
                                                                             self.pool_temperature_)))
                if self.calibrate:
                    self.min_confidence_ = confidence_threshold(p.max(1), p.argmax(1) == y, self.abstain_precision)
            return self
        if self.calibrate:
            pooled = pool_log_proba(lps, lpk, self.weight_)
            self.temperature_ = fit_temperature(pooled, y)
            p = np.exp(pool_log_proba(lps, lpk, self.weight_, self.temperature_))
            self.min_confidence_ = confidence_threshold(p.max(1), p.argmax(1) == y, self.abstain_precision)
        return self

    def _gapped(self, gapped, n: int) -> np.ndarray:
        """Check the gapped k-mer profiles ``(n, 4**k)`` a ``gapped_metric`` model needs."""
        if gapped is None:
            raise ValueError("a gapped_metric model needs the motifs' gapped k-mer profiles (gapped=...)")
        gapped = np.asarray(gapped)
        if gapped.shape != (n, 4 ** self.k):
            raise ValueError(f"gapped k-mer profile has shape {gapped.shape}, expected ({n}, {4 ** self.k})")
        return gapped

    def stack_sims(self, sims_query: list[np.ndarray], kmer_query: np.ndarray, gapped=None) -> list[np.ndarray]:
        """The stack's similarity matrices of queries to the training motifs: the given (normalised) column
        metrics, plus with ``gapped_metric`` the gapped-profile correlation (``gapped`` = the queries' gapped
        k-mer profiles) and with ``kmer_metric`` the k-mer profile correlation (:func:`kmer_similarity`)."""
        out = list(sims_query)
        if self.gapped_metric:
            out.append(kmer_similarity(self._gapped(gapped, len(kmer_query)), self.gapped_reference_))
        if self.kmer_metric:
            out.append(kmer_similarity(kmer_query, self.kmer_reference_))
        return out

    def part_log_proba(self, sims_query: list[np.ndarray], kmer_query: np.ndarray, gapped=None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Log probabilities ``(n_queries, n_classes)`` of the two parts: (knn-stack, kmer-lr)."""
        return (self.stack.head.log_proba(self.stack.features(self.stack_sims(sims_query, kmer_query, gapped))),
                self.kmer.log_proba_profile(kmer_query))

    def combiner_log_proba(self, sims_query: list[np.ndarray], kmer_query: np.ndarray, gapped=None
                           ) -> dict[str, np.ndarray]:
        """Temperature-scaled log probabilities ``(n_queries, n_classes)`` of the combiners: ``{"pool": ...}``,
        or for the conditional logit ``{"clogit": ...}`` and, with ``vote``, also the pool (with
        ``pool_temperature_``) and their soft vote ``"vote"``."""
        f = self.stack.features(self.stack_sims(sims_query, kmer_query, gapped))
        lps, lpk = self.stack.head.log_proba(f), self.kmer.log_proba_profile(kmer_query)
        if self.combiner != "clogit":
            return {"pool": pool_log_proba(lps, lpk, self.weight_, self.temperature_)}
        F = f.reshape(len(f), -1, self.n_classes, self.top)
        out = {"clogit": conditional_logit_log_proba(F, np.stack([lpk, lps]), *self.clogit_, self.temperature_)}
        if self.vote:
            out["pool"] = pool_log_proba(lps, lpk, self.weight_, self.pool_temperature_)
            out["vote"] = soft_vote_log_proba(out["clogit"], out["pool"])
        return out

    def predict_log_proba(self, sims_query: list[np.ndarray], kmer_query: np.ndarray, gapped=None) -> np.ndarray:
        """Pooled, conditional-logit or soft-vote (temperature-scaled) log probabilities ``(n_queries,
        n_classes)``."""
        lp = self.combiner_log_proba(sims_query, kmer_query, gapped)
        return lp["vote" if self.vote else self.combiner]

    def predict_proba(self, sims_query: list[np.ndarray], kmer_query: np.ndarray, gapped=None) -> np.ndarray:
        return np.exp(self.predict_log_proba(sims_query, kmer_query, gapped))

    def to_module(self):
        """The fitted heads as a :class:`~tfscope.tfclass.model.KnnKmerHeads` (for ``save_checkpoint``); the
        temperature, abstain threshold and ``dedup`` flag go into the checkpoint's meta (:meth:`meta`)."""
        from .model import KnnKmerHeads

        import torch

        top = self.top if self.clogit_ is not None else 0
        m = KnnKmerHeads(self.n_classes, self.stack.head.linear.in_features, self.k, clogit_top=top)
        m.stack.load_state_dict(self.stack.head.state_dict())
        m.kmer.load_state_dict(self.kmer.head.state_dict())
        m.weight.fill_(float(self.weight_))
        m.hparams = {"n_classes": self.n_classes, "n_stack_features": self.stack.head.linear.in_features, "k": self.k}
        if top:
            for name, v in zip(("cl_beta", "cl_gamma", "cl_alpha"), self.clogit_):
                getattr(m, name).copy_(torch.from_numpy(np.asarray(v, dtype=np.float64)))
            m.hparams["clogit_top"] = top
        return m

    def meta(self) -> dict:
        """What a checkpoint needs besides the heads to rebuild the model (:meth:`from_module` keywords)."""
        return {"top": self.top, "dedup": self.dedup, "temperature": self.temperature_,
                "min_confidence": self.min_confidence_, "leave_group_out": self.leave_group_out,
                "row_standardise": self.row_standardise, "kmer_metric": self.kmer_metric,
                "gapped_metric": self.gapped_metric, "vote": self.vote, "pool_temperature": self.pool_temperature_}

    @classmethod
    def from_module(cls, module, train_labels: np.ndarray, *, top: int = 2, train_groups=None, dedup: bool = False,
                    temperature: float = 1.0, min_confidence=None, leave_group_out: bool = False,
                    row_standardise: bool = False, kmer_metric: bool = False, kmer_reference=None,
                    gapped_metric: bool = False, gapped_reference=None, vote: bool = False,
                    pool_temperature: float = 1.0) -> "KnnKmer":
        """Rebuild a fitted model from :class:`~tfscope.tfclass.model.KnnKmerHeads` and the labels (and, with
        ``dedup``, the paralog groups) of the reference motifs it was fitted on (the stack's features need them;
        with ``kmer_metric`` also their k-mer profiles ``kmer_reference`` ``(n_reference, 4**k)``, with
        ``gapped_metric`` their gapped k-mer profiles ``gapped_reference``). Raises ValueError if the stack head's
        feature count does not match ``n_metrics * n_classes * top`` (3 column metrics, one more for each of
        ``kmer_metric`` and ``gapped_metric``), or ``dedup`` without ``train_groups``, or ``kmer_metric`` /
        ``gapped_metric`` without their reference profiles, or ``vote`` without a conditional logit."""
        from .kmer_profile import KmerLogistic

        C = module.n_classes
        nm = len(METRICS) + bool(kmer_metric) + bool(gapped_metric)
        if module.stack.linear.in_features != nm * C * top:
            raise ValueError(f"stack head has {module.stack.linear.in_features} features, expected "
                             f"{nm * C * top} ({nm} metrics x {C} classes x top {top})")
        if dedup and train_groups is None:
            raise ValueError("a dedup model needs the reference motifs' groups")
        if kmer_metric and kmer_reference is None:
            raise ValueError("a kmer_metric model needs the reference motifs' k-mer profiles")
        if gapped_metric and gapped_reference is None:
            raise ValueError("a gapped_metric model needs the reference motifs' gapped k-mer profiles")
        if vote and not getattr(module, "clogit_top", 0):
            raise ValueError("a vote model needs the conditional logit's weights")
        self = cls(C, top=top, k=module.k, weights=(float(module.weight),), dedup=dedup,
                   leave_group_out=leave_group_out, row_standardise=row_standardise, kmer_metric=kmer_metric,
                   gapped_metric=gapped_metric)
        self.kmer_reference_ = None if kmer_reference is None else np.asarray(kmer_reference)
        self.gapped_reference_ = None if gapped_reference is None else np.asarray(gapped_reference)
        self.stack = StackedKNN(C, top=top, dedup=dedup)
        self.stack.train_labels, self.stack.head = np.asarray(train_labels), module.stack
        self.stack.train_groups = None if train_groups is None else np.asarray(train_groups)
        self.kmer = KmerLogistic(C, k=module.k, row_standardise=row_standardise)
        self.kmer.head = module.kmer
        if getattr(module, "clogit_top", 0):
            self.combiner = "clogit"
            self.clogit_ = tuple(getattr(module, n).numpy().copy() for n in ("cl_beta", "cl_gamma", "cl_alpha"))
        self.weight_ = float(module.weight)
        self.temperature_, self.min_confidence_ = float(temperature), min_confidence
        self.vote, self.pool_temperature_ = bool(vote), float(pool_temperature)
        return self


# the family models built on KnnKmer: name -> constructor keywords. "knn-kmer" is the K-fold-tuned model of an
# earlier release; "knn-kmer-dedup" (one neighbour per paralog group, grouped inner CV, calibrated confidence) and
# "knn-kmer-clogit" (class-shared conditional logit) earlier defaults; "knn-kmer-vote" (knn-kmer-clogit with the
# gapped-profile correlation as a fifth stack metric, soft-voted with its own calibrated pool), chosen on the temporal
# (JASPAR 2020 -> 2022 / 2024) and grouped-CV protocols (docs/family.md), is the shipped default of
# `tfscope tfclass predict`.
RECIPES = {
    "knn-kmer": {},
    "knn-kmer-dedup": {"dedup": True, "weights": POOL_WEIGHTS_FULL, "calibrate": True},
    "knn-kmer-clogit": {"dedup": True, "weights": POOL_WEIGHTS_FULL, "calibrate": True, "row_standardise": True,
                        "kmer_metric": True, "combiner": "clogit"},
}
RECIPES["knn-kmer-vote"] = {**RECIPES["knn-kmer-clogit"], "gapped_metric": True, "vote": True}
DEFAULT_MODEL = "knn-kmer-vote"


def make_model(name: str, n_classes: int, *, seed: int = 0, k: int = 6) -> KnnKmer:
    """An unfitted :class:`KnnKmer` of recipe ``name`` (:data:`RECIPES`). Models with ``dedup`` or
    ``leave_group_out`` need ``groups`` in ``fit`` (:func:`tfscope.tfclass.splits.paralog_group` of the training
    motifs' TF names). Raises ValueError for an unknown name."""
    if name not in RECIPES:
        raise ValueError(f"unknown family model {name!r}; choose from {list(RECIPES)}")
    return KnnKmer(n_classes, k=k, seed=seed, **RECIPES[name])


def uses_groups(name: str) -> bool:
    """Whether recipe ``name`` is fitted with paralog groups (grouped inner CV, dedup)."""
    return bool(RECIPES[name])


def uses_gapped(name: str) -> bool:
    """Whether recipe ``name`` needs the motifs' gapped k-mer profiles (``gapped=`` in fit and predict)."""
    return bool(RECIPES[name].get("gapped_metric"))
