"""Layer-1 offline default (issue 7): a z-score stack of three alignment-free members with a CV-chosen threshold.

Members (each gives one score per protein; larger = more likely the positive class):

1. ``composition``: the CV-tuned standardised L2 logistic regression on AAC/DPC/g-gap composition
   (:func:`tfscope.protein.classic.select_and_fit`), score = logit.
2. ``kmer_lr``: L2 logistic regression (``C``) on sublinear TF-IDF of amino-acid 2-4-mers, score = logit.
3. ``kmer_knn``: k-nearest-neighbour similarity on sublinear TF-IDF of 3-5-mers (cosine): mean of the ``k``
   largest similarities to positive training proteins minus the same for negatives (an alignment-free
   stand-in for BLAST-style homology transfer).

Each member score is standardised with the mean/sd of its *out-of-fold* scores (stratified 5-fold CV on the
training set), the three z-scores are averaged, and a 1-D logistic regression (Platt scaling) fitted on the
out-of-fold average turns it into P(positive). The decision threshold is the one maximising MCC on those
out-of-fold predictions, so neither the weights nor the threshold see the independent test.

TF-IDF is computed here on integer k-mer codes with numpy/scipy (own code: sklearn's char analyser is pure
Python and ~100x slower; rebuilding the training matrix at load time keeps the stored model pickle-free).
It matches ``TfidfVectorizer(analyzer="char", sublinear_tf=True, smooth_idf=True, norm="l2")`` restricted to
k-mers of the 20 standard amino acids seen in training (windows with other letters are skipped).

Storage: a tfscope checkpoint (:func:`tfscope.protein.models.save_protein_model`): ``model.safetensors`` holds the
``kmer_lr`` coefficients over the full 2-4-mer code space (float32), the training labels and the composition
member's arrays (``composition.*``); ``config.json`` the training sequences, member z-scaling, Platt coefficients,
threshold, the composition member's class and spec, and the CV table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import CheckpointError, InputError
from .classic import ArrayModel, fit_linear, member_from_state, member_state, select_and_fit
from .features import encode

LR_KS = (2, 3, 4)
KNN_KS = (3, 4, 5)


def kmer_counts(seqs, ks) -> "scipy.sparse.csr_matrix":  # noqa: F821
    """Sparse k-mer counts, shape (N, sum(20**k)); column ``offset_k + code`` with code in base 20 (order
    ``ACDEFGHIKLMNPQRSTVWY``); windows containing a non-standard letter are skipped."""
    from scipy import sparse

    offsets = np.cumsum([0] + [20 ** k for k in ks])
    rows, cols, vals = [], [], []
    for r, s in enumerate(seqs):
        c = encode(s)
        for k, off in zip(ks, offsets):
            n = len(c) - k + 1
            if n <= 0:
                continue
            idx = np.zeros(n, dtype=np.int64)
            ok = np.ones(n, dtype=bool)
            for j in range(k):
                cj = c[j:j + n]
                ok &= cj >= 0
                idx = idx * 20 + np.maximum(cj, 0)
            u, cnt = np.unique(idx[ok], return_counts=True)
            rows.append(np.full(len(u), r))
            cols.append(u + off)
            vals.append(cnt)
    cat = (lambda a, t: np.concatenate(a).astype(t) if a else np.zeros(0, t))
    return sparse.csr_matrix((cat(vals, np.float64), (cat(rows, np.int64), cat(cols, np.int64))),
                             shape=(len(seqs), int(offsets[-1])))


def tfidf_idf(counts) -> np.ndarray:
    """Smoothed idf ``ln((1 + n) / (1 + df)) + 1`` (sklearn), 0 for k-mers absent from the fitted set."""
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    return np.where(df > 0, np.log((1 + n) / (1 + df)) + 1.0, 0.0)


def tfidf_transform(counts, idf):
    """Sublinear tf (``1 + ln count``) x idf, rows L2-normalised; sparse (N, F)."""
    from sklearn.preprocessing import normalize

    x = counts.copy()
    x.data = 1.0 + np.log(x.data)
    x = x.multiply(idf[None, :]).tocsr()
    x.eliminate_zeros()
    return normalize(x, norm="l2")


def knn_score(sim: np.ndarray, y_ref: np.ndarray, k: int) -> np.ndarray:
    """Mean of the ``k`` largest similarities to positives minus that to negatives; ``sim`` (N, M)."""
    top = lambda s: np.sort(s, axis=1)[:, -k:].mean(1) if s.shape[1] else np.zeros(len(s))  # noqa: E731
    return top(sim[:, y_ref == 1]) - top(sim[:, y_ref == 0])


def training_set(seqs, y, folds: int) -> tuple[list[str], np.ndarray]:
    """``seqs`` as a list and ``y`` as int labels (1 = positive), for a model fitted with ``folds``-fold CV.

    Raises
    ------
    InputError
        Fewer than ``folds`` proteins of a class.
    """
    seqs, y = list(seqs), np.asarray(y, dtype=int)
    if min(y.sum(), len(y) - y.sum()) < folds:
        raise InputError(f"need at least {folds} proteins of each class")
    return seqs, y


def mcc_threshold(y, score) -> tuple[float, float]:
    """Threshold on ``score`` maximising MCC (predict positive if ``score >= t``) and that MCC."""
    from sklearn.metrics import matthews_corrcoef

    cands = np.unique(score)
    if len(cands) > 400:
        cands = np.quantile(score, np.linspace(0.05, 0.95, 400))
    mccs = [matthews_corrcoef(y, score >= t) for t in cands]
    i = int(np.argmax(mccs))
    return float(cands[i]), float(mccs[i])


@dataclass
class StackModel(ArrayModel):
    """Fitted stack (see module docstring). ``predict_proba(seqs)`` -> P(positive), shape (N,)."""

    MODEL_NAME = "protein-stack"

    composition: object  # LinearProteinModel
    train_seqs: list
    y_train: np.ndarray
    lr_coef: np.ndarray
    lr_intercept: float
    knn_k: int
    z_mean: np.ndarray  # (3,) composition, kmer_lr, kmer_knn
    z_sd: np.ndarray
    platt: tuple  # (a, b): P = sigmoid(a * mean_z + b)
    labels: tuple = ("positive", "negative")
    threshold: float = 0.5
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.y_train = np.asarray(self.y_train)
        self._knn_idf = None

    @property
    def members(self):
        """The composition member first (used by :func:`tfscope.protein.motifs.linear_residue_importance`)."""
        return [self.composition]

    def _knn_ref(self):
        if self._knn_idf is None:
            c = kmer_counts(self.train_seqs, KNN_KS)
            self._knn_idf = tfidf_idf(c)
            self._knn_x = tfidf_transform(c, self._knn_idf)
            self._lr_idf = tfidf_idf(kmer_counts(self.train_seqs, LR_KS))
        return self._knn_x

    def checkpoint_arrays(self) -> dict:
        comp, _ = member_state(self.composition, "composition")
        return {"lr_coef": np.asarray(self.lr_coef, dtype=np.float32),  # float32 on disk, float64 in memory
                "train_labels": np.asarray(self.y_train, dtype=np.int64), **comp}

    def checkpoint_hparams(self) -> dict:
        _, comp = member_state(self.composition, "composition")
        return {"composition": comp, "lr_ks": list(LR_KS), "knn_ks": list(KNN_KS), "lr_intercept": self.lr_intercept,
                "knn_k": self.knn_k, "z_mean": np.asarray(self.z_mean).tolist(), "z_sd": np.asarray(self.z_sd).tolist(),
                "platt": list(self.platt), "train_seqs": list(self.train_seqs), **self._common()}

    @classmethod
    def from_checkpoint(cls, arrays: dict, cfg: dict) -> "StackModel":
        """Rebuild from :meth:`checkpoint_arrays` and the config. Raises CheckpointError on mismatches."""
        hp = cfg["hparams"]
        seqs, y = hp["train_seqs"], arrays["train_labels"]
        if tuple(hp["lr_ks"]) != LR_KS or tuple(hp["knn_ks"]) != KNN_KS:
            raise CheckpointError("unsupported k-mer sizes")
        n = sum(20 ** k for k in LR_KS)
        if arrays["lr_coef"].shape != (n,) or len(seqs) != len(y):
            raise CheckpointError(f"weights or training set of the stack do not match ({n} k-mer columns)")
        comp = member_from_state(arrays, hp["composition"], "composition")
        return cls(comp, seqs, y, arrays["lr_coef"].astype(np.float64), float(hp["lr_intercept"]), int(hp["knn_k"]),
                   np.asarray(hp["z_mean"]), np.asarray(hp["z_sd"]), tuple(hp["platt"]),
                   meta=cfg.get("meta", {}).get("fit", {}), **cls._labels(hp))

    def member_scores(self, seqs) -> np.ndarray:
        """Raw member scores, shape (N, 3): composition logit, k-mer LR logit, kNN similarity difference."""
        seqs = list(seqs)
        ref = self._knn_ref()
        s1 = self.composition.decision_function(seqs)
        s2 = tfidf_transform(kmer_counts(seqs, LR_KS), self._lr_idf) @ self.lr_coef + self.lr_intercept
        sim = (tfidf_transform(kmer_counts(seqs, KNN_KS), self._knn_idf) @ ref.T).toarray()
        s3 = knn_score(sim, self.y_train, self.knn_k)
        return np.column_stack([s1, s2, s3])

    def predict_proba(self, seqs) -> np.ndarray:
        z = ((self.member_scores(seqs) - self.z_mean) / self.z_sd).mean(1)
        return 1.0 / (1.0 + np.exp(-(self.platt[0] * z + self.platt[1])))


def _fit_kmer_lr(x, y, C, seed):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=5000, random_state=seed).fit(x, y)


def fit_stack(seqs, y, *, labels=("positive", "negative"), seed: int = 0, C: float = 100.0, knn_k: int = 3,
              folds: int = 5, verbose: bool = False, composition=None) -> StackModel:
    """Fit the stack on ``seqs``/``y`` (1 = positive) with stratified ``folds``-fold out-of-fold scaling
    (identical sequences grouped into one fold).

    ``composition``: an already CV-tuned :class:`~tfscope.protein.classic.LinearProteinModel` (its feature spec
    and ``C`` are reused inside the folds); default: chosen here by :func:`~tfscope.protein.classic.select_and_fit`.
    ``model.meta`` holds the out-of-fold AUROC of every member and of the stack and the OOF MCC at the threshold.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    t0 = time.time()
    seqs, y = list(seqs), np.asarray(y)
    if composition is None:
        composition = select_and_fit(seqs, y, labels=labels, seed=seed)
    ch = composition.meta["chosen"]
    c_lr, c_knn = kmer_counts(seqs, LR_KS), kmer_counts(seqs, KNN_KS)
    oof = np.zeros((len(y), 3))
    groups = np.unique(seqs, return_inverse=True)[1]  # identical sequences stay in one fold (published sets repeat)
    for tr, va in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, groups):
        m = fit_linear([seqs[i] for i in tr], y[tr], spec=composition.spec, C=ch["C"], seed=seed)
        oof[va, 0] = m.decision_function([seqs[i] for i in va])
        idf = tfidf_idf(c_lr[tr])
        lr = _fit_kmer_lr(tfidf_transform(c_lr[tr], idf), y[tr], C, seed)
        oof[va, 1] = lr.decision_function(tfidf_transform(c_lr[va], idf))
        idf = tfidf_idf(c_knn[tr])
        xt, xv = tfidf_transform(c_knn[tr], idf), tfidf_transform(c_knn[va], idf)
        oof[va, 2] = knn_score((xv @ xt.T).toarray(), y[tr], knn_k)
    z_mean, z_sd = oof.mean(0), np.where(oof.std(0) > 0, oof.std(0), 1.0)
    zbar = ((oof - z_mean) / z_sd).mean(1)
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(zbar[:, None], y)
    a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    p_oof = 1.0 / (1.0 + np.exp(-(a * zbar + b)))
    thr, mcc = mcc_threshold(y, p_oof)
    lr = _fit_kmer_lr(tfidf_transform(c_lr, tfidf_idf(c_lr)), y, C, seed)
    aucs = {n: float(roc_auc_score(y, oof[:, i])) for i, n in enumerate(("composition", "kmer_lr", "kmer_knn"))}
    meta = {"selection": f"stratified {folds}-fold CV grouped by identical sequence, training data only",
            "cv_auroc_members": aucs, "cv_auroc": float(roc_auc_score(y, p_oof)), "cv_mcc_at_threshold": mcc,
            "cv_mcc_at_0.5": mcc_at(y, p_oof, 0.5), "composition": ch, "kmer_lr_C": C, "knn_k": knn_k,
            "n_train": int(len(y)), "fit_seconds": round(time.time() - t0, 1)}
    if verbose:
        print(f"  stack: CV AUROC members {aucs}, stack {meta['cv_auroc']:.3f}; OOF MCC {mcc:.3f} at p >= "
              f"{thr:.3f}", flush=True)
    model = StackModel(composition, seqs, y, lr.coef_[0].copy(), float(lr.intercept_[0]), knn_k, z_mean, z_sd,
                       (a, b), tuple(labels), thr, meta)
    model.oof_proba = p_oof  # out-of-fold P(positive) of the training proteins (not saved; for models stacked on it)
    return model


def mcc_at(y, p, t):
    """MCC of the calls ``p >= t`` against the 0/1 labels ``y``."""
    from sklearn.metrics import matthews_corrcoef

    return float(matthews_corrcoef(y, p >= t))
