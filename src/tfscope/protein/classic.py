"""Offline default classifier: composition features + standardised L2 logistic regression, stored without pickles.

Model choice follows the benchmark protocol: a grid over feature sets and the inverse regularisation ``C`` is
scored by stratified 5-fold cross-validation AUROC on the *training* set only; the best setting is refit on the
whole training set. The independent test set is never used here.

Storage (:func:`save_linear_model` / :func:`load_linear_model`): ``<name>.safetensors`` holds ``mean``, ``scale``
(StandardScaler), ``coef`` and ``intercept`` as float64 tensors; ``<name>.json`` holds the feature spec, labels,
threshold and provenance. Loading evaluates ``sigmoid(((x - mean) / scale) @ coef + intercept)`` in numpy, so no
code is unpickled and sklearn is not needed at prediction time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..checkpoint import read_format_json
from ..errors import CheckpointError
from .features import composition_features, feature_names

FORMAT = "tfscope-protein-linear/1"
FEATURE_SETS = {
    "aac+dpc": {"aac": True, "dpc": True, "gaps": [], "reduced_k": []},
    "aac+dpc+gap123": {"aac": True, "dpc": True, "gaps": [1, 2, 3], "reduced_k": []},
    "aac+dpc+gap123+ct34": {"aac": True, "dpc": True, "gaps": [1, 2, 3], "reduced_k": [3, 4]},
}
C_GRID = (0.003, 0.01, 0.1)


@dataclass
class LinearProteinModel:
    """A fitted standardised logistic regression over composition features (numpy only at prediction)."""

    spec: dict
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    labels: tuple = ("positive", "negative")
    threshold: float = 0.5
    meta: dict = field(default_factory=dict)

    def decision_function(self, seqs) -> np.ndarray:
        """Logits, shape (N,)."""
        x = composition_features(seqs, self.spec).astype(np.float64)
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def predict_proba(self, seqs) -> np.ndarray:
        """P(positive class) per sequence, shape (N,), float64 in [0, 1]."""
        z = self.decision_function(seqs)
        return 1.0 / (1.0 + np.exp(-z))


def fit_linear(seqs, y, *, spec: dict, C: float, labels=("positive", "negative"), seed: int = 0
               ) -> LinearProteinModel:
    """Fit StandardScaler + L2 logistic regression (sklearn, lbfgs) on composition features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = composition_features(seqs, spec).astype(np.float64)
    sc = StandardScaler().fit(x)
    scale = np.where(sc.scale_ > 0, sc.scale_, 1.0)
    lr = LogisticRegression(C=C, max_iter=5000, random_state=seed).fit((x - sc.mean_) / scale, np.asarray(y))
    return LinearProteinModel(spec=dict(spec), mean=sc.mean_.copy(), scale=scale, coef=lr.coef_[0].copy(),
                              intercept=float(lr.intercept_[0]), labels=tuple(labels))


def cross_validate(seqs, y, *, feature_sets=None, c_grid=C_GRID, folds: int = 5, seed: int = 0,
                   verbose: bool = False) -> list[dict]:
    """Stratified k-fold CV AUROC (and MCC at 0.5) of every (feature set, C) on the training data.

    Returns one dict per setting: ``features``, ``C``, ``cv_auroc`` (mean over folds), ``cv_auroc_sd``, ``cv_mcc``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import matthews_corrcoef, roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(y)
    out = []
    for fname, spec in (feature_sets or FEATURE_SETS).items():
        x = composition_features(seqs, spec).astype(np.float64)
        for C in c_grid:
            aucs, mccs = [], []
            for tr, va in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
                sc = StandardScaler().fit(x[tr])
                scale = np.where(sc.scale_ > 0, sc.scale_, 1.0)
                lr = LogisticRegression(C=C, max_iter=5000, random_state=seed).fit((x[tr] - sc.mean_) / scale, y[tr])
                p = lr.predict_proba((x[va] - sc.mean_) / scale)[:, 1]
                aucs.append(roc_auc_score(y[va], p))
                mccs.append(matthews_corrcoef(y[va], p >= 0.5))
            row = {"features": fname, "C": C, "cv_auroc": float(np.mean(aucs)), "cv_auroc_sd": float(np.std(aucs)),
                   "cv_mcc": float(np.mean(mccs))}
            if verbose:
                print(f"  cv {fname:22s} C={C:<6g} AUROC {row['cv_auroc']:.3f} ± {row['cv_auroc_sd']:.3f} "
                      f"MCC {row['cv_mcc']:.3f}")
            out.append(row)
    return out


def select_and_fit(seqs, y, *, labels=("positive", "negative"), seed: int = 0, verbose: bool = False,
                   feature_sets=None, c_grid=C_GRID) -> LinearProteinModel:
    """Choose (feature set, C) by 5-fold CV AUROC on the training data, then refit on all of it.

    The CV table and the chosen setting are kept in ``model.meta``.
    """
    t0 = time.time()
    fs = feature_sets or FEATURE_SETS
    cv = cross_validate(seqs, y, feature_sets=fs, c_grid=c_grid, seed=seed, verbose=verbose)
    best = max(cv, key=lambda r: r["cv_auroc"])
    model = fit_linear(seqs, y, spec=fs[best["features"]], C=best["C"], labels=labels, seed=seed)
    model.meta = {"selection": "stratified 5-fold CV AUROC on training data", "chosen": best, "cv": cv,
                  "n_train": int(len(y)), "n_train_pos": int(np.sum(y)), "fit_seconds": round(time.time() - t0, 1)}
    return model


def save_linear_model(model: LinearProteinModel, directory, name: str, *, provenance: dict | None = None) -> Path:
    """Write ``<directory>/<name>.safetensors`` + ``<name>.json`` (atomically, no pickle)."""
    from safetensors.numpy import save

    from ..io.atomic import atomic_write

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    blob = save({"mean": np.ascontiguousarray(model.mean, dtype=np.float64),
                 "scale": np.ascontiguousarray(model.scale, dtype=np.float64),
                 "coef": np.ascontiguousarray(model.coef, dtype=np.float64),
                 "intercept": np.array([model.intercept], dtype=np.float64)})
    with atomic_write(d / f"{name}.safetensors", "wb") as fh:
        fh.write(blob)
    cfg = {"format": FORMAT, "model": "standardised L2 logistic regression", "spec": model.spec,
           "n_features": len(feature_names(model.spec)), "labels": list(model.labels), "threshold": model.threshold,
           "meta": model.meta, "provenance": provenance or {}}
    with atomic_write(d / f"{name}.json") as fh:
        json.dump(cfg, fh, indent=1, default=float)
    return d / f"{name}.json"


def load_linear_model(directory, name: str) -> LinearProteinModel:
    """Load a model written by :func:`save_linear_model`.

    Raises
    ------
    CheckpointError
        Missing/invalid files, unknown format, or weights whose size does not match the feature spec.
    """
    from safetensors.numpy import load_file

    d = Path(directory)
    jp, wp = d / f"{name}.json", d / f"{name}.safetensors"
    if not jp.exists() or not wp.exists():
        raise CheckpointError(f"{d}: no protein model {name!r} (needs {name}.json and {name}.safetensors)")
    cfg = read_format_json(jp, FORMAT)
    try:
        w = load_file(str(wp))
    except Exception as e:  # safetensors raises several types on truncation
        raise CheckpointError(f"{wp}: cannot read weights ({e})") from e
    n = len(feature_names(cfg["spec"]))
    if any(w[k].shape != (n,) for k in ("mean", "scale", "coef")):
        raise CheckpointError(f"{wp}: weights do not match the {n} features of the spec in {jp.name}")
    return LinearProteinModel(spec=cfg["spec"], mean=w["mean"], scale=w["scale"], coef=w["coef"],
                              intercept=float(w["intercept"][0]), labels=tuple(cfg["labels"]),
                              threshold=float(cfg.get("threshold", 0.5)), meta=cfg.get("meta", {}))


# ---------------------------------------------------------------- TF-IDF k-mer logistic regression and ensemble
KMER_FORMAT = "tfscope-protein-kmer-tfidf/1"
ENSEMBLE_FORMAT = "tfscope-protein-ensemble/1"


@dataclass
class KmerTfidfModel:
    """L2 logistic regression on sublinear TF-IDF of amino-acid n-grams (``sklearn`` ``TfidfVectorizer`` with
    ``analyzer="char"``, ``lowercase=False``, ``sublinear_tf=True``, L2 row norm), evaluated in numpy.

    The transform is re-implemented here (vocabulary + idf from the fitted vectorizer) so that the stored model
    needs no pickle; :func:`fit_kmer_tfidf` checks that it reproduces sklearn's matrix.
    """

    vocabulary: list
    idf: np.ndarray
    coef: np.ndarray
    intercept: float
    ngram_range: tuple = (1, 3)
    labels: tuple = ("positive", "negative")
    threshold: float = 0.5
    meta: dict = field(default_factory=dict)

    def transform(self, seqs) -> np.ndarray:
        index = {g: i for i, g in enumerate(self.vocabulary)}
        lo, hi = self.ngram_range
        x = np.zeros((len(seqs), len(self.vocabulary)))
        for r, s in enumerate(seqs):
            for n in range(lo, hi + 1):
                for i in range(len(s) - n + 1):
                    j = index.get(s[i:i + n])
                    if j is not None:
                        x[r, j] += 1
        nz = x > 0
        x[nz] = 1.0 + np.log(x[nz])
        x *= self.idf
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(norm > 0, norm, 1.0)

    def predict_proba(self, seqs) -> np.ndarray:
        z = self.transform(seqs) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))


def fit_kmer_tfidf(seqs, y, *, C: float = 10.0, ngram_range=(1, 3), labels=("positive", "negative"), seed: int = 0
                   ) -> KmerTfidfModel:
    """Fit the sklearn TF-IDF + logistic regression and convert it to a :class:`KmerTfidfModel`."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(analyzer="char", ngram_range=tuple(ngram_range), lowercase=False, sublinear_tf=True)
    x = vec.fit_transform(list(seqs))
    lr = LogisticRegression(C=C, max_iter=3000, random_state=seed).fit(x, np.asarray(y))
    vocab = [None] * len(vec.vocabulary_)
    for g, i in vec.vocabulary_.items():
        vocab[i] = g
    m = KmerTfidfModel(vocab, vec.idf_.copy(), lr.coef_[0].copy(), float(lr.intercept_[0]), tuple(ngram_range),
                       tuple(labels))
    probe = list(seqs)[:5]
    assert np.allclose(m.transform(probe), x[:5].toarray(), atol=1e-8), "TF-IDF re-implementation mismatch"
    return m


@dataclass
class EnsembleModel:
    """Mean of the members' probabilities."""

    members: list
    labels: tuple = ("positive", "negative")
    threshold: float = 0.5
    meta: dict = field(default_factory=dict)

    def predict_proba(self, seqs) -> np.ndarray:
        return np.mean([m.predict_proba(seqs) for m in self.members], axis=0)
