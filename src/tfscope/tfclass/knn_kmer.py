"""The knn-kmer family models: :class:`KnnKmer` (the knn-stack of :mod:`tfscope.tfclass.stack` and the k-mer logistic
regression of :mod:`tfscope.tfclass.kmer_profile`, combined by the pool, conditional logit or soft vote of
:mod:`tfscope.tfclass.combine`), the named recipes (:data:`RECIPES`) and the shipped default (:data:`DEFAULT_MODEL`,
``knn-kmer-vote``).
"""

from __future__ import annotations

import numpy as np

from .combine import (POOL_WEIGHTS, POOL_WEIGHTS_FULL, conditional_logit_log_proba, confidence_threshold,
                      fit_conditional_logit, fit_temperature, pool_log_proba, soft_vote_log_proba)
from .kmer_profile import KmerLogistic, kmer_similarity
from .knn import METRICS
from .model import KnnKmerHeads
from .stack import StackedKNN, exclude_groups, group_weights, inner_splits


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
