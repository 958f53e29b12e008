"""Position matrix arithmetic shared by every layer: count matrices to probabilities, information content.

Matrices are ``(4, L)`` with rows A, C, G, T (the layout of :mod:`tfscope.io.motifs` and JASPAR).
"""

from __future__ import annotations

import numpy as np


def counts_to_probs(counts: np.ndarray, pseudocount: float = 0.0) -> np.ndarray:
    """Column-normalise a count matrix ``(4, L)`` to probabilities (optional pseudocount per cell).

    Raises ValueError for a wrong shape, negative entries, or an all-zero column.
    """
    m = np.asarray(counts, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != 4 or m.shape[1] == 0:
        raise ValueError(f"matrix must be (4, L) with L >= 1, got {m.shape}")
    if not np.isfinite(m).all() or (m < 0).any():
        raise ValueError("matrix entries must be finite and non-negative")
    m = m + pseudocount
    s = m.sum(0, keepdims=True)
    if (s <= 0).any():
        raise ValueError(f"column {int(np.argmin(s[0])) + 1} sums to zero")
    return m / s


def information_content(pfm: np.ndarray) -> np.ndarray:
    """Information content per column ``(L,)`` in bits, ``2 + sum_b p_b log2 p_b`` (Schneider et al. 1986, no
    small-sample correction), of a probability matrix ``(4, L)``. Raises ValueError for a matrix that is not
    ``(4, L)``."""
    p = np.asarray(pfm, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != 4:
        raise ValueError(f"expected a (4, L) probability matrix, got shape {p.shape}")
    return 2.0 + (p * np.log2(np.where(p > 0, p, 1.0))).sum(0)
