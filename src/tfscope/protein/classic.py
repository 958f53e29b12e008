"""Offline default classifier: composition features + standardised L2 logistic regression, stored without pickles.

Model choice follows the benchmark protocol: a grid over feature sets and the inverse regularisation ``C`` is
scored by stratified 5-fold cross-validation AUROC on the *training* set only; the best setting is refit on the
whole training set. The independent test set is never used here.

Storage: every protein model is a tfscope checkpoint (:func:`tfscope.protein.models.save_protein_model`, through
:func:`tfscope.checkpoint.save_checkpoint`): ``model.safetensors`` holds its arrays (here ``mean``, ``scale`` of the
StandardScaler, ``coef`` and ``intercept``, float64), ``config.json`` names the class and holds the feature spec,
labels, threshold, fit record and provenance. Loading evaluates ``sigmoid(((x - mean) / scale) @ coef + intercept)``
in numpy, so no code is unpickled and sklearn is not needed at prediction time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import CheckpointError
from ..models import class_path, import_class
from .features import composition_features, feature_names

FEATURE_SETS = {
    "aac+dpc": {"aac": True, "dpc": True, "gaps": [], "reduced_k": []},
    "aac+dpc+gap123": {"aac": True, "dpc": True, "gaps": [1, 2, 3], "reduced_k": []},
    "aac+dpc+gap123+ct34": {"aac": True, "dpc": True, "gaps": [1, 2, 3], "reduced_k": [3, 4]},
}
C_GRID = (0.003, 0.01, 0.1)


class ArrayModel:
    """Checkpoint interface of the numpy protein classifiers (see :func:`tfscope.checkpoint.save_checkpoint`):
    :meth:`checkpoint_arrays` (weights), :meth:`checkpoint_hparams` (JSON: what rebuilding needs, with ``labels``
    and ``threshold``) and :meth:`from_checkpoint`; ``meta`` (the fit record) travels as ``config.meta.fit``."""

    MODEL_NAME = ""

    def checkpoint_arrays(self) -> dict:
        raise NotImplementedError

    def checkpoint_hparams(self) -> dict:
        raise NotImplementedError

    def _common(self) -> dict:
        return {"labels": list(self.labels), "threshold": float(self.threshold)}

    @staticmethod
    def _labels(hp: dict) -> dict:
        return {"labels": tuple(hp["labels"]), "threshold": float(hp.get("threshold", 0.5))}


def member_state(model: ArrayModel, prefix: str) -> tuple[dict, dict]:
    """Arrays (keys prefixed ``prefix.``) and JSON description (class, hparams, fit record) of a member model of a
    composite (stack, ensemble), stored inside the composite's checkpoint."""

    arrays = {f"{prefix}.{k}": v for k, v in model.checkpoint_arrays().items()}
    return arrays, {"class": class_path(type(model)), "model": model.MODEL_NAME,
                    "hparams": model.checkpoint_hparams(), "meta": {"fit": model.meta}}


def member_from_state(arrays: dict, spec: dict, prefix: str):
    """Inverse of :func:`member_state` (imports the member class the description names)."""

    cls = import_class(spec["class"])
    own = {k[len(prefix) + 1:]: v for k, v in arrays.items() if k.startswith(prefix + ".")}
    return cls.from_checkpoint(own, spec)


@dataclass
class LinearProteinModel(ArrayModel):
    """A fitted standardised logistic regression over composition features (numpy only at prediction)."""

    MODEL_NAME = "protein-linear"

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

    def checkpoint_arrays(self) -> dict:
        return {"mean": np.asarray(self.mean, np.float64), "scale": np.asarray(self.scale, np.float64),
                "coef": np.asarray(self.coef, np.float64), "intercept": np.array([self.intercept], np.float64)}

    def checkpoint_hparams(self) -> dict:
        return {"spec": self.spec, "n_features": len(feature_names(self.spec)), **self._common()}

    @classmethod
    def from_checkpoint(cls, arrays: dict, cfg: dict) -> "LinearProteinModel":
        """Rebuild from :meth:`checkpoint_arrays` and the config. Raises CheckpointError for weights whose size
        does not match the feature spec."""
        hp = cfg["hparams"]
        n = len(feature_names(hp["spec"]))
        if any(arrays[k].shape != (n,) for k in ("mean", "scale", "coef")):
            raise CheckpointError(f"weights do not match the {n} features of the spec")
        return cls(spec=hp["spec"], mean=arrays["mean"], scale=arrays["scale"], coef=arrays["coef"],
                   intercept=float(arrays["intercept"][0]), meta=cfg.get("meta", {}).get("fit", {}),
                   **cls._labels(hp))


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


# ---------------------------------------------------------------- TF-IDF k-mer logistic regression and ensemble
@dataclass
class KmerTfidfModel(ArrayModel):
    """L2 logistic regression on sublinear TF-IDF of amino-acid n-grams (``sklearn`` ``TfidfVectorizer`` with
    ``analyzer="char"``, ``lowercase=False``, ``sublinear_tf=True``, L2 row norm), evaluated in numpy.

    The transform is re-implemented here (vocabulary + idf from the fitted vectorizer) so that the stored model
    needs no pickle; :func:`fit_kmer_tfidf` checks that it reproduces sklearn's matrix.
    """

    MODEL_NAME = "protein-kmer-tfidf"

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

    def checkpoint_arrays(self) -> dict:
        return {"idf": np.asarray(self.idf, np.float64), "coef": np.asarray(self.coef, np.float64),
                "intercept": np.array([self.intercept], np.float64)}

    def checkpoint_hparams(self) -> dict:
        return {"vocabulary": list(self.vocabulary), "ngram_range": list(self.ngram_range), **self._common()}

    @classmethod
    def from_checkpoint(cls, arrays: dict, cfg: dict) -> "KmerTfidfModel":
        """Rebuild from :meth:`checkpoint_arrays` and the config. Raises CheckpointError on a size mismatch."""
        hp = cfg["hparams"]
        n = len(hp["vocabulary"])
        if arrays["idf"].shape != (n,) or arrays["coef"].shape != (n,):
            raise CheckpointError(f"weights do not match the {n}-entry vocabulary")
        return cls(hp["vocabulary"], arrays["idf"], arrays["coef"], float(arrays["intercept"][0]),
                   tuple(hp["ngram_range"]), meta=cfg.get("meta", {}).get("fit", {}), **cls._labels(hp))


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
class EnsembleModel(ArrayModel):
    """Mean of the members' probabilities."""

    MODEL_NAME = "protein-ensemble"

    members: list
    labels: tuple = ("positive", "negative")
    threshold: float = 0.5
    meta: dict = field(default_factory=dict)

    def predict_proba(self, seqs) -> np.ndarray:
        return np.mean([m.predict_proba(seqs) for m in self.members], axis=0)

    def _states(self):
        return [member_state(m, f"member{i}") for i, m in enumerate(self.members)]

    def checkpoint_arrays(self) -> dict:
        return {k: v for arrays, _ in self._states() for k, v in arrays.items()}

    def checkpoint_hparams(self) -> dict:
        return {"members": [spec for _, spec in self._states()], **self._common()}

    @classmethod
    def from_checkpoint(cls, arrays: dict, cfg: dict) -> "EnsembleModel":
        """Rebuild the members (each named by its class in the config) and the ensemble."""
        hp = cfg["hparams"]
        members = [member_from_state(arrays, spec, f"member{i}") for i, spec in enumerate(hp["members"])]
        return cls(members, meta=cfg.get("meta", {}).get("fit", {}), **cls._labels(hp))
