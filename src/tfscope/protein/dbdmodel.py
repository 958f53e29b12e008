"""Layer 1 with DNA-binding-domain features: the offline stack joined with pyhmmer DBD hits (issue 46).

:func:`fit_dbd_stack` fits the z-score stack (:mod:`tfscope.protein.stack`) and a standardised L2 logistic
regression on ``[logit of the stack's out-of-fold P(TF), DBD features]`` (:func:`tfscope.protein.domains.dbd_features`:
best per-sequence E-value per Pfam family, any DBD, number of DBDs, covered fraction, best DBD score). ``C`` is
chosen by stratified 5-fold CV AUROC on the training proteins; the threshold is the max-MCC point of the combiner's
out-of-fold predictions. ``stack=False`` fits the DBD features alone (``dbd-lr``). :func:`dbd_rule` is the bare rule
"any DBD HMM hits at E <= 1e-4". :class:`DbdTieredModel` (the shipped layer 1, :func:`fit_dbd_tiered`) puts the
rule first and the stack inside each tier, as TF catalogues are built (DBD first, function-only TFs after).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .classic import ArrayModel, member_from_state, member_state
from .domains import DEFAULT_EVALUE, NON_TF_FAMILIES, annotate, any_dbd, dbd_features, families
from .infer import digitize_proteins
from .stack import fit_stack, mcc_threshold, training_set

C_GRID = (0.01, 0.1, 1.0, 10.0)


def _hits(seqs):
    recs = {str(i): s for i, s in enumerate(seqs)}
    h = annotate(recs, align=False)
    return h, list(recs)


def dbd_rule(seqs, evalue: float = DEFAULT_EVALUE) -> np.ndarray:
    """The bare rule: 1.0 if any sequence-specific DBD family hits the protein at per-sequence E <= ``evalue``.

    Returns
    -------
    ndarray, shape (n_proteins,)
        0.0 / 1.0.
    """
    h, ids = _hits(seqs)
    return np.array([float(any_dbd(h[i], evalue)) for i in ids])


def _logit(p):
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass
class DbdStackModel:
    """Standardised logistic regression over ``[stack logit?, DBD features]``.

    Attributes
    ----------
    stack : StackModel or None
        The composition/k-mer stack whose P(TF) enters as a logit (None: DBD features only).
    mean, sd, coef : ndarray, shape (n_features,)
    intercept : float
    threshold : float
        P(TF) cut-off (max MCC on out-of-fold predictions).
    meta : dict
        CV choice and out-of-fold metrics.
    """

    stack: object
    mean: np.ndarray
    sd: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float
    meta: dict = field(default_factory=dict)

    def features(self, seqs, stack_p=None) -> np.ndarray:
        """Feature matrix ``(n_proteins, n_features)`` of ``seqs`` (``stack_p``: precomputed stack P(TF))."""
        h, ids = _hits(seqs)
        x, _ = dbd_features(h, ids, [len(s) for s in seqs])
        if self.stack is not None:
            p = self.stack.predict_proba(seqs) if stack_p is None else stack_p
            x = np.column_stack([_logit(p), x])
        return x

    def predict_proba(self, seqs) -> np.ndarray:
        """P(TF), shape (n_proteins,)."""
        z = (self.features(seqs) - self.mean) / self.sd
        return 1.0 / (1.0 + np.exp(-(z @ self.coef + self.intercept)))


def fit_dbd_stack(seqs, y, *, labels=("TF", "non-TF"), seed: int = 0, stack: bool = True, folds: int = 5,
                  verbose: bool = False) -> DbdStackModel:
    """Fit :class:`DbdStackModel` on training proteins.

    Parameters
    ----------
    seqs : list of str
    y : array-like of int, shape (n_proteins,)
        1 = TF.
    stack : bool
        Join the offline stack (its out-of-fold P(TF) is the training feature, so the combiner never sees
        in-sample stack scores).

    Raises
    ------
    InputError
        Fewer than ``folds`` proteins of a class.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import matthews_corrcoef, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    seqs, y = training_set(seqs, y, folds)
    h, ids = _hits(seqs)
    x, names = dbd_features(h, ids, [len(s) for s in seqs])
    st = None
    if stack:
        st = fit_stack(seqs, y, labels=labels, seed=seed, verbose=verbose)
        x = np.column_stack([_logit(st.oof_proba), x])
        names = ["stack_logit", *names]
    mean = x.mean(0)
    sd = np.where(x.std(0) > 0, x.std(0), 1.0)
    z = (x - mean) / sd
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    best = None
    for c in C_GRID:
        p = cross_val_predict(LogisticRegression(C=c, max_iter=5000), z, y, cv=cv, method="predict_proba")[:, 1]
        auc = roc_auc_score(y, p)
        if best is None or auc > best[1] + 1e-9:
            best = (c, auc, p)
    c, auc, p_oof = best
    thr, mcc = mcc_threshold(y, p_oof)
    lr = LogisticRegression(C=c, max_iter=5000).fit(z, y)
    meta = {"features": names, "C": c, "cv_auroc": float(auc), "cv_mcc_at_threshold": float(mcc),
            "cv_mcc_at_0.5": float(matthews_corrcoef(y, p_oof >= 0.5)), "stack": bool(stack),
            "stack_cv_auroc": None if st is None else st.meta["cv_auroc"]}
    if verbose:
        print(f"  dbd{'-stack' if stack else '-lr'}: C {c}, OOF AUROC {auc:.3f}, OOF MCC {mcc:.3f} at p >= {thr:.3f}",
              flush=True)
    return DbdStackModel(st, mean, sd, lr.coef_[0].copy(), float(lr.intercept_[0]), float(thr), meta)


# --- graded DBD scores + stack + homology to the training proteins (issue 46, layer-1 target) -----------------

#: per-sequence E-value down to which hits enter the graded features (weak hits grade towards 0)
GRADED_EVALUE = 10.0


def _grade(e: float) -> float:
    return min(max(-np.log10(max(e, 1e-300)), 0.0), 50.0) / 10


def graded_features(seqs) -> tuple[np.ndarray, list[str]]:
    """Graded DBD scores of proteins (no hit/no-hit cut): pyhmmer over the 88 DBD HMMs down to E = 10.

    Returns
    -------
    x : ndarray, shape (n_proteins, 88 + 7)
        Per family ``clip(-log10 best per-sequence E-value, 0, 50) / 10``; then over sequence-specific families
        (not :data:`tfscope.protein.domains.NON_TF_FAMILIES`): the best and the summed family scores,
        ``log1p`` of the number of strong domains (sequence E <= 1e-4, independent E <= 0.01), the fraction of
        residues they cover, the bare rule (0/1), the best domain bit score / 100; and the best score of the
        non-TF families (RRM, sigma-70).
    names : list of str
    """

    fams = families()
    col = {f: i for i, f in enumerate(fams)}
    recs = {str(i): s for i, s in enumerate(seqs)}
    hits = annotate(recs, evalue=GRADED_EVALUE, domain_evalue=1000.0, align=False, non_overlapping=False)
    x = np.zeros((len(recs), len(fams) + 7))
    for r, s in enumerate(seqs):
        hs = hits[str(r)]
        for h in hs:
            x[r, col[h.family]] = max(x[r, col[h.family]], _grade(h.seq_evalue))
        th = [h for h in hs if h.family not in NON_TF_FAMILIES]
        per = {}
        for h in th:
            per[h.family] = max(per.get(h.family, 0.0), _grade(h.seq_evalue))
        strong = [h for h in th if h.seq_evalue <= DEFAULT_EVALUE and h.evalue <= 0.01]
        cov = set()
        for h in strong:
            cov.update(range(h.start, h.end + 1))
        x[r, len(fams):] = [max(per.values(), default=0.0), sum(per.values()), np.log1p(len(strong)),
                            len(cov) / max(len(s), 1), float(any(h.seq_evalue <= DEFAULT_EVALUE for h in th)),
                            max((h.score for h in th), default=0.0) / 100,
                            max((_grade(h.seq_evalue) for h in hs if h.family in NON_TF_FAMILIES), default=0.0)]
    return x, [f"graded:{f}" for f in fams] + ["best_tf_family", "sum_tf_families", "log1p_n_strong",
                                               "strong_covered_fraction", "any_dbd", "best_domain_bits_100",
                                               "best_non_tf_family"]


def homology_scores(queries, targets) -> np.ndarray:
    """Best phmmer bit score of each query against each target protein (pyhmmer, E <= 1; 0 without a hit).

    Returns
    -------
    ndarray, shape (n_queries, n_targets), float32
    """
    import pyhmmer

    tgt = digitize_proteins({str(i): s for i, s in enumerate(targets)})
    out = np.zeros((len(queries), len(targets)), dtype=np.float32)
    for qi, top in enumerate(pyhmmer.hmmer.phmmer(digitize_proteins({str(i): s for i, s in enumerate(queries)}), tgt,
                                                 cpus=0, E=1.0)):
        for hit in top:
            j = int(hit.name.decode() if isinstance(hit.name, bytes) else hit.name)
            out[qi, j] = max(out[qi, j], hit.score)
    return out


def homology_features(scores: np.ndarray, y_ref: np.ndarray) -> np.ndarray:
    """``[log1p best bits to a reference TF, to a reference non-TF, their difference]`` per query (homology
    transfer from labelled proteins, as BLAST-based TF predictors do)."""
    y_ref = np.asarray(y_ref, dtype=int)
    a = np.log1p(scores[:, y_ref == 1].max(1)) if (y_ref == 1).any() else np.zeros(len(scores))
    b = np.log1p(scores[:, y_ref == 0].max(1)) if (y_ref == 0).any() else np.zeros(len(scores))
    return np.column_stack([a, b, a - b])


@dataclass
class DbdGradedModel(ArrayModel):
    """Standardised logistic regression over ``[stack logit, graded DBD scores, homology to training TFs/non-TFs]``
    (:func:`fit_dbd_graded`). ``train_seqs``/``y_train``: the labelled proteins homology is measured against."""

    MODEL_NAME = "protein-dbd-graded"

    stack: object
    train_seqs: list
    y_train: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float
    labels: tuple = ("TF", "non-TF")
    meta: dict = field(default_factory=dict)

    @property
    def members(self):
        """The stack's members (composition first; :func:`tfscope.protein.motifs.linear_residue_importance`)."""
        return self.stack.members

    def features(self, seqs) -> np.ndarray:
        """Feature matrix ``(n_proteins, 1 + 95 + 3)`` of ``seqs``."""
        seqs = list(seqs)
        g, _ = graded_features(seqs)
        h = homology_features(homology_scores(seqs, self.train_seqs), self.y_train)
        return np.column_stack([_logit(self.stack.predict_proba(seqs)), g, h])

    def predict_proba(self, seqs) -> np.ndarray:
        """P(TF), shape (n_proteins,)."""
        z = (self.features(seqs) - self.mean) / self.sd
        return 1.0 / (1.0 + np.exp(-(z @ self.coef + self.intercept)))

    def checkpoint_arrays(self) -> dict:
        return {**member_state(self.stack, "stack")[0], "mean": np.asarray(self.mean, dtype=np.float64),
                "sd": np.asarray(self.sd, dtype=np.float64), "coef": np.asarray(self.coef, dtype=np.float64),
                "train_labels": np.asarray(self.y_train, dtype=np.int64)}

    def checkpoint_hparams(self) -> dict:
        return {"stack": member_state(self.stack, "stack")[1], "train_seqs": list(self.train_seqs),
                "intercept": float(self.intercept), "n_features": int(len(self.coef)), **self._common()}

    @classmethod
    def from_checkpoint(cls, arrays: dict, cfg: dict) -> "DbdGradedModel":
        """Rebuild from :meth:`checkpoint_arrays` and the config. Raises CheckpointError on mismatches."""
        from ..errors import CheckpointError

        hp = cfg["hparams"]
        n = int(hp["n_features"])
        if any(arrays[k].shape != (n,) for k in ("mean", "sd", "coef")) or \
                len(hp["train_seqs"]) != len(arrays["train_labels"]):
            raise CheckpointError(f"weights or training set of the graded DBD model do not match ({n} features)")
        return cls(member_from_state(arrays, hp["stack"], "stack"), list(hp["train_seqs"]), arrays["train_labels"],
                   arrays["mean"], arrays["sd"], arrays["coef"], float(hp["intercept"]),
                   meta=cfg.get("meta", {}).get("fit", {}), **cls._labels(hp))


def fit_dbd_graded(seqs, y, *, labels=("TF", "non-TF"), seed: int = 0, folds: int = 5, stack=None,
                   verbose: bool = False) -> DbdGradedModel:
    """Fit :class:`DbdGradedModel` on training proteins only.

    Features: the offline stack's out-of-fold logit (:func:`tfscope.protein.stack.fit_stack`), the graded DBD
    scores (:func:`graded_features`) and homology to the labelled training proteins (:func:`homology_features` of
    phmmer bit scores; for a training protein, against the proteins of the *other* CV folds only, so no protein is
    its own neighbour). ``C`` of the L2 logistic regression (standardised inside each fold) is chosen by grouped
    stratified ``folds``-fold CV AUROC (identical sequences in one fold); the threshold is the max-MCC point of the
    chosen model's out-of-fold predictions. This feature set was chosen among graded / compact DBD scores, with and
    without the stack and homology, and gradient boosting, by the same training CV (docs/protein.md).

    Raises
    ------
    InputError
        Fewer than ``folds`` proteins of a class.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    seqs, y = training_set(seqs, y, folds)
    st = stack if stack is not None else fit_stack(seqs, y, labels=labels, seed=seed, verbose=verbose)
    if getattr(st, "oof_proba", None) is None or len(st.oof_proba) != len(y):
        raise InputError("the graded model needs the stack's out-of-fold P(TF) of the same training proteins")
    g, gnames = graded_features(seqs)
    s = homology_scores(seqs, seqs)
    groups = np.unique(seqs, return_inverse=True)[1]
    cv = list(StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, groups))
    h = np.zeros((len(y), 3))
    for tr, va in cv:
        h[va] = homology_features(s[np.ix_(va, tr)], y[tr])
    x = np.column_stack([_logit(st.oof_proba), g, h])
    names = ["stack_logit", *gnames, "hom_best_tf", "hom_best_non_tf", "hom_difference"]

    def fit(xa, ya, c):
        m = xa.mean(0)
        sd = np.where(xa.std(0) > 0, xa.std(0), 1.0)
        return m, sd, LogisticRegression(C=c, max_iter=5000).fit((xa - m) / sd, ya)

    best = None
    for c in C_GRID:
        p = np.zeros(len(y))
        for tr, va in cv:
            m, sd, lr = fit(x[tr], y[tr], c)
            p[va] = lr.predict_proba((x[va] - m) / sd)[:, 1]
        auc = roc_auc_score(y, p)
        if best is None or auc > best[1] + 1e-9:
            best = (c, auc, p)
    c, auc, p_oof = best
    thr, mcc = mcc_threshold(y, p_oof)
    m, sd, lr = fit(x, y, c)
    meta = {"features": names, "C": c, "cv_auroc": float(auc), "cv_mcc_at_threshold": float(mcc),
            "stack_cv_auroc": st.meta["cv_auroc"]}
    if verbose:
        print(f"  dbd-graded: C {c}, OOF AUROC {auc:.3f}, OOF MCC {mcc:.3f} at p >= {thr:.3f}", flush=True)
    model = DbdGradedModel(st, seqs, y, m, sd, lr.coef_[0].copy(), float(lr.intercept_[0]), float(thr),
                           tuple(labels), meta)
    model.oof_proba = p_oof  # out-of-fold P(TF) of the training proteins (not saved; for the tiered model)
    return model


# --- two tiers: the DBD rule first, the stack inside each tier (issue 46, the shipped layer 1) ----------------------


def tiered_scores(rule, p) -> np.ndarray:
    """``(rule + p) / 2``: every protein the DBD rule calls (``rule`` = 1) ranks above every protein it does not,
    and ``p`` (a P(TF) in [0, 1]) orders the proteins inside each tier. Shape of ``p``."""
    return 0.5 * np.asarray(rule, dtype=float) + 0.5 * np.asarray(p, dtype=float)


@dataclass
class DbdTieredModel(ArrayModel):
    """Layer 1 (TF vs non-TF) in two tiers: a protein with a sequence-specific DBD (the rule of :func:`dbd_rule`)
    ranks above every protein without one; an inner model's P(TF) orders proteins inside each tier (the shipped
    default: :class:`DbdGradedModel`; or the offline :class:`tfscope.protein.stack.StackModel`; or an ESM-2
    classifier, :func:`tfscope.protein.esm.fit_esm_oof`, where pretrained weights are at hand).

    ``predict_proba`` returns the tier score ``(rule + P_inner) / 2`` (:func:`tiered_scores`): 0.5 or more exactly
    when a DBD hits. It ranks (AUROC) but is not a calibrated probability. With ``threshold`` t <= 0.5 (max MCC of
    the training proteins' out-of-fold scores, :func:`fit_dbd_tiered`), ``score >= t`` reads: *a DBD hits, or the
    inner P(TF) >= 2t* (``meta["no_dbd_inner_threshold"]``); with t > 0.5, *a DBD hits and P(TF) >= 2t - 1*.

    Follows the DBD-first construction of TF catalogues (AnimalTFDB 4; Lambert et al. 2018, Cell 172:650), with
    the inner model for TFs known by function only (co-factors, methyl-readers).
    """

    MODEL_NAME = "protein-dbd-tiered"

    inner: object
    evalue: float = DEFAULT_EVALUE
    labels: tuple = ("TF", "non-TF")
    threshold: float = 0.5
    meta: dict = field(default_factory=dict)

    @property
    def members(self):
        """The inner model's members (composition first; :func:`tfscope.protein.motifs.linear_residue_importance`)."""
        return self.inner.members

    def predict_proba(self, seqs) -> np.ndarray:
        """Tier scores, shape (n_proteins,), in [0, 1] (see the class docstring)."""
        seqs = list(seqs)
        return tiered_scores(dbd_rule(seqs, self.evalue), self.inner.predict_proba(seqs))

    def checkpoint_arrays(self) -> dict:
        return member_state(self.inner, "inner")[0]

    def checkpoint_hparams(self) -> dict:
        return {"inner": member_state(self.inner, "inner")[1], "evalue": self.evalue, **self._common()}

    @classmethod
    def from_checkpoint(cls, arrays: dict, cfg: dict) -> "DbdTieredModel":
        """Rebuild from :meth:`checkpoint_arrays` and the config (the inner model through its own loader)."""
        hp = cfg["hparams"]
        return cls(member_from_state(arrays, hp["inner"], "inner"), float(hp["evalue"]),
                   meta=cfg.get("meta", {}).get("fit", {}), **cls._labels(hp))


def fit_dbd_tiered(seqs, y, *, inner=None, labels=("TF", "non-TF"), seed: int = 0, folds: int = 5,
                   verbose: bool = False) -> DbdTieredModel:
    """Fit :class:`DbdTieredModel` on training proteins: the inner model (``inner``: an already fitted
    :class:`DbdGradedModel`, :class:`~tfscope.protein.stack.StackModel` or
    :class:`~tfscope.protein.esm.EsmProteinModel` (:func:`tfscope.protein.esm.fit_esm_oof`) of the same proteins,
    with its ``oof_proba``; default: :func:`fit_dbd_graded`) and the threshold, the max-MCC point of the tier scores of
    the training proteins' out-of-fold P(TF) (the rule needs no fitting).

    Raises
    ------
    InputError
        Fewer than ``folds`` proteins of a class, or an ``inner`` model without out-of-fold predictions.
    """
    from sklearn.metrics import roc_auc_score

    seqs, y = training_set(seqs, y, folds)
    st = inner if inner is not None else fit_dbd_graded(seqs, y, labels=labels, seed=seed, folds=folds,
                                                         verbose=verbose)
    oof = getattr(st, "oof_proba", None)
    if oof is None or len(oof) != len(y):
        raise InputError("the tiered model needs the inner model's out-of-fold P(TF) of the same training proteins")
    rule = dbd_rule(seqs)
    score = tiered_scores(rule, oof)
    thr, mcc = mcc_threshold(y, score)
    meta = {"cv_auroc": float(roc_auc_score(y, score)), "cv_mcc_at_threshold": float(mcc),
            "rule_train_mcc": float(np.corrcoef(rule, y)[0, 1]) if rule.std() > 0 else 0.0,
            # the threshold read per tier: the inner P(TF) a protein with (without) a DBD needs to be called
            "dbd_inner_threshold": float(max(0.0, 2 * thr - 1)), "no_dbd_inner_threshold": float(min(1.0, 2 * thr)),
            "inner": st.MODEL_NAME, "inner_cv_auroc": st.meta.get("cv_auroc")}
    if verbose:
        print(f"  dbd-tiered ({st.MODEL_NAME} inside): OOF AUROC {meta['cv_auroc']:.3f}, OOF MCC {mcc:.3f} at score >= "
              f"{thr:.3f} (with a DBD: P(TF) >= {meta['dbd_inner_threshold']:.3f}; without: >= "
              f"{meta['no_dbd_inner_threshold']:.3f})", flush=True)
    return DbdTieredModel(st, DEFAULT_EVALUE, tuple(labels), float(thr), meta)
