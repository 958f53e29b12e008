"""Homology transfer by Smith-Waterman alignment: k-nearest-neighbour classifier of proteins (layer-2 default).

Similarity of two proteins = best local alignment score (Biopython ``PairwiseAligner``, BLOSUM62, gap open -11,
extend -1: the BLAST defaults) normalised by the geometric mean of the two self-alignment scores, so 1 means
identical and unrelated proteins score near 0. The kNN score of a query is the mean similarity of its ``k`` most
similar positive training proteins minus that of its ``k`` most similar negatives
(:func:`tfscope.protein.stack.knn_score`); Platt scaling fitted on out-of-fold scores turns it into P(positive)
and the threshold maximises MCC on those out-of-fold predictions (as in :mod:`tfscope.protein.stack`).

Alignment picks up the DNA-binding domain (60-100 residues) that whole-protein k-mer profiles dilute, so
neighbours are mostly same-family proteins (leave-one-out nearest neighbour of the same Lambert family for 90 %
of the 137 methyl-SELEX proteins; 69 % for
TF-IDF 3-5-mer cosine). Cost: about 2 ms per pair of 500-residue proteins; scores are memoised per sequence pair.

Storage: a tfscope checkpoint (:func:`tfscope.protein.models.save_protein_model`): ``model.safetensors`` holds the
training labels and self scores, ``config.json`` the training sequences, ``k``, Platt coefficients, threshold and
CV table.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import CheckpointError
from .classic import ArrayModel
from .stack import knn_score, mcc_at, mcc_threshold

GAP_OPEN, GAP_EXTEND = -11, -1


@functools.lru_cache(maxsize=1)
def protein_aligner():
    """A Biopython local (Smith-Waterman) ``PairwiseAligner`` with BLOSUM62 and the gap costs of this module."""
    from Bio import Align
    from Bio.Align import substitution_matrices

    m = substitution_matrices.load("BLOSUM62")
    return Align.PairwiseAligner(mode="local", substitution_matrix=m, open_gap_score=GAP_OPEN,
                                 extend_gap_score=GAP_EXTEND), set(m.alphabet)


def clean_protein(seq: str) -> str:
    """Upper case, trailing ``*`` dropped, letters outside BLOSUM62's alphabet (U, O, J) -> X."""
    _, alphabet = protein_aligner()
    s = seq.upper().rstrip("*")
    return "".join(c if c in alphabet and c != "*" else "X" for c in s)


@functools.lru_cache(maxsize=200_000)
def sw_score(a: str, b: str) -> float:
    """Smith-Waterman local alignment score (BLOSUM62, gaps -11/-1) of two cleaned sequences (memoised)."""
    if b < a:
        a, b = b, a
    return float(protein_aligner()[0].score(a, b))


def sw_similarity(queries, refs, ref_self=None) -> np.ndarray:
    """Normalised alignment similarity ``S(q, r) / sqrt(S(q, q) S(r, r))``, shape (len(queries), len(refs)).

    ``ref_self``: the references' self scores when known (stored in a fitted model).
    """
    q = [clean_protein(s) for s in queries]
    r = [clean_protein(s) for s in refs]
    qs = np.array([sw_score(s, s) for s in q])
    rs = np.asarray(ref_self, dtype=np.float64) if ref_self is not None else np.array([sw_score(s, s) for s in r])
    raw = np.array([[sw_score(a, b) for b in r] for a in q], dtype=np.float64).reshape(len(q), len(r))
    return raw / np.sqrt(np.outer(np.maximum(qs, 1.0), np.maximum(rs, 1.0)))


@dataclass
class AlignmentKnnModel(ArrayModel):
    """Fitted alignment kNN (module docstring). ``predict_proba(seqs)`` -> P(positive), shape (N,)."""

    MODEL_NAME = "protein-align-knn"

    train_seqs: list
    y_train: np.ndarray
    self_scores: np.ndarray
    k: int
    platt: tuple  # (a, b): P = sigmoid(a * knn_score + b)
    labels: tuple = ("positive", "negative")
    threshold: float = 0.5
    meta: dict = field(default_factory=dict)

    def decision_function(self, seqs) -> np.ndarray:
        """kNN similarity difference (positives minus negatives), shape (N,)."""

        sim = sw_similarity(list(seqs), self.train_seqs, self.self_scores)
        return knn_score(sim, np.asarray(self.y_train), self.k)

    def predict_proba(self, seqs) -> np.ndarray:
        z = self.decision_function(seqs)
        return 1.0 / (1.0 + np.exp(-(self.platt[0] * z + self.platt[1])))

    def checkpoint_arrays(self) -> dict:
        return {"train_labels": np.asarray(self.y_train, dtype=np.int64),
                "self_scores": np.asarray(self.self_scores, dtype=np.float64)}

    def checkpoint_hparams(self) -> dict:
        return {"k": int(self.k), "platt": list(self.platt), "train_seqs": list(self.train_seqs), **self._common()}

    @classmethod
    def from_checkpoint(cls, arrays: dict, cfg: dict) -> "AlignmentKnnModel":
        """Rebuild from :meth:`checkpoint_arrays` and the config.

        Raises
        ------
        CheckpointError
            Training sequences, labels and self scores of different lengths, or ``k < 1``.
        """
        hp = cfg["hparams"]
        seqs, y, ss = hp["train_seqs"], arrays["train_labels"], arrays["self_scores"]
        if not (len(seqs) == len(y) == len(ss)) or int(hp["k"]) < 1:
            raise CheckpointError("training sequences, labels and self scores differ in length")
        return cls(list(seqs), y, ss, int(hp["k"]), tuple(hp["platt"]), meta=cfg.get("meta", {}).get("fit", {}),
                   **cls._labels(hp))


def fit_alignment_knn(seqs, y, *, k: int = 3, labels=("positive", "negative"), groups=None, folds: int = 5,
                      seed: int = 0, verbose: bool = False) -> AlignmentKnnModel:
    """Fit the alignment kNN: out-of-fold kNN scores (stratified ``folds``-fold CV, grouped by ``groups`` when
    given, else by identical sequence) -> Platt scaling and max-MCC threshold. ``meta["cv_auroc"]`` is the
    pooled out-of-fold AUROC.

    Raises
    ------
    ImportError
        Without Biopython (a dependency of ``pyjaspar``, so normally present).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    t0 = time.time()
    seqs, y = list(seqs), np.asarray(y)
    g = np.asarray(groups) if groups is not None else np.unique(seqs, return_inverse=True)[1]
    sim = sw_similarity(seqs, seqs)
    oof = np.zeros(len(y))
    for tr, va in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, g):
        oof[va] = knn_score(sim[np.ix_(va, tr)], y[tr], k)
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(oof[:, None], y)
    a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    p_oof = 1.0 / (1.0 + np.exp(-(a * oof + b)))
    thr, mcc = mcc_threshold(y, p_oof)
    meta = {"selection": f"stratified {folds}-fold CV grouped by {'cluster' if groups is not None else 'identical sequence'}"
                         ", training data only", "cv_auroc": float(roc_auc_score(y, oof)), "cv_mcc_at_threshold": mcc,
            "cv_mcc_at_0.5": mcc_at(y, p_oof, 0.5), "k": k, "platt_slope": a, "n_train": int(len(y)),
            "fit_seconds": round(time.time() - t0, 1)}
    if verbose:
        print(f"  alignment kNN (k={k}): CV AUROC {meta['cv_auroc']:.3f}; OOF MCC {mcc:.3f} at p >= {thr:.3f}",
              flush=True)
    self_scores = np.array([sw_score(c, c) for c in map(clean_protein, seqs)])
    return AlignmentKnnModel(seqs, y, self_scores, k, (a, b), tuple(labels), thr, meta)
