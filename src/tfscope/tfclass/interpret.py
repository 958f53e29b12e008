"""Interpretation of the family models and the performance ceiling set by motif similarity between classes.

* Integrated gradients (Sundararajan et al. 2017, via captum) per motif position, summed over A/C/G/T and normalised
  to max |importance| = 1 (thesis figure for bHLH CANNTG and homeodomain TAAT motifs).
* Class-overlap matrix: share of motif pairs of classes (A, B) whose Tomtom q-value is below 0.05 (all-vs-all
  memelite Tomtom p-values, Benjamini-Hochberg per query), and an OLS regression (statsmodels) of per-class accuracy on
  overlap statistics (thesis R^2: 0.61 CNN, 0.45 KNN).
"""

from __future__ import annotations

import numpy as np
import torch

from .data import pad_batch
from .train import PAD_LENGTH


def integrated_gradients(model, pfm: np.ndarray, target: int, *, n_steps: int = 64, pad_length: int | None = None
                         ) -> np.ndarray:
    """Position importance ``(L,)`` of one motif ``(4, L)`` for class ``target``.

    Integrated gradients from a uniform-background baseline (0.25 in each motif column) to the motif, summed over
    the four bases and divided by the maximum absolute value (so values lie in [-1, 1]).
    """
    from captum.attr import IntegratedGradients

    L = pfm.shape[1]
    x = torch.from_numpy(pad_batch([pfm], pad_length or PAD_LENGTH))
    base = torch.zeros_like(x)
    base[:, :, :L] = 0.25
    model.eval()
    attr = IntegratedGradients(model).attribute(x, baselines=base, target=int(target), n_steps=n_steps)
    imp = attr[0, :, :L].sum(0).detach().numpy()
    m = np.abs(imp).max()
    return imp / m if m > 0 else imp


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of each row of a p-value matrix (scipy ``false_discovery_control``); NaN entries
    (e.g. the excluded self-comparisons) are ignored."""
    from scipy.stats import false_discovery_control

    q = np.full_like(p, np.nan, dtype=np.float64)
    for i, row in enumerate(p):
        ok = np.isfinite(row)
        q[i, ok] = false_discovery_control(row[ok])
    return q


def class_overlap(q: np.ndarray, labels: np.ndarray, n_classes: int, *, threshold: float = 0.05) -> np.ndarray:
    """``(n_classes, n_classes)`` share of motif pairs (query in row class, target in column class, self-pairs
    excluded) with q-value below ``threshold``."""
    sim = (q < threshold).astype(np.float64)
    valid = np.isfinite(q).astype(np.float64)
    onehot = np.eye(n_classes)[labels]
    num = onehot.T @ sim @ onehot
    den = onehot.T @ valid @ onehot
    return num / np.maximum(den, 1)


def overlap_features(overlap: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class statistics of an overlap matrix: ``within`` (diagonal), ``between_max`` (largest off-diagonal
    share of the row) and ``between_sum`` (sum of the row's off-diagonal shares)."""
    off = overlap.copy()
    np.fill_diagonal(off, 0.0)
    return {"within": np.diag(overlap).copy(), "between_max": off.max(1), "between_sum": off.sum(1)}


def overlap_regression(per_class_accuracy, overlap: np.ndarray, features=("within", "between_sum")) -> dict:
    """OLS of per-class accuracy on overlap features (with intercept). Returns R^2, adjusted R^2, coefficients
    and p-values (statsmodels)."""
    import statsmodels.api as sm

    f = overlap_features(overlap)
    X = sm.add_constant(np.column_stack([f[k] for k in features]))
    res = sm.OLS(np.asarray(per_class_accuracy, dtype=float), X).fit()
    names = ["const", *features]
    return {"r2": float(res.rsquared), "r2_adj": float(res.rsquared_adj),
            "coef": dict(zip(names, map(float, res.params))), "pvalues": dict(zip(names, map(float, res.pvalues)))}
