"""Layer 1 with DNA-binding-domain features: the offline stack joined with pyhmmer DBD hits (issue 46).

:func:`fit_dbd_stack` fits the z-score stack (:mod:`tfscope.protein.stack`) and a standardised L2 logistic
regression on ``[logit of the stack's out-of-fold P(TF), DBD features]`` (:func:`tfscope.protein.domains.dbd_features`:
best per-sequence E-value per Pfam family, any DBD, number of DBDs, covered fraction, best DBD score). ``C`` is
chosen by stratified 5-fold CV AUROC on the training proteins; the threshold is the max-MCC point of the combiner's
out-of-fold predictions. ``stack=False`` fits the DBD features alone (``dbd-lr``). :func:`dbd_rule` is the bare rule
"any DBD HMM hits at E <= 1e-4".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .domains import DEFAULT_EVALUE, annotate, any_dbd, dbd_features

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

    from .stack import _mcc_threshold, fit_stack

    seqs, y = list(seqs), np.asarray(y, dtype=int)
    if min(y.sum(), len(y) - y.sum()) < folds:
        raise InputError(f"need at least {folds} proteins of each class")
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
    thr, mcc = _mcc_threshold(y, p_oof)
    lr = LogisticRegression(C=c, max_iter=5000).fit(z, y)
    meta = {"features": names, "C": c, "cv_auroc": float(auc), "cv_mcc_at_threshold": float(mcc),
            "cv_mcc_at_0.5": float(matthews_corrcoef(y, p_oof >= 0.5)), "stack": bool(stack),
            "stack_cv_auroc": None if st is None else st.meta["cv_auroc"]}
    if verbose:
        print(f"  dbd{'-stack' if stack else '-lr'}: C {c}, OOF AUROC {auc:.3f}, OOF MCC {mcc:.3f} at p >= {thr:.3f}",
              flush=True)
    return DbdStackModel(st, mean, sd, lr.coef_[0].copy(), float(lr.intercept_[0]), float(thr), meta)
