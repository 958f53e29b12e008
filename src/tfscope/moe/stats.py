"""Significance tests across models (arXiv 2507.09754): one-way ANOVA and Tukey HSD on per-trial AUROCs."""

from __future__ import annotations

import numpy as np


def anova_tukey(samples: dict[str, np.ndarray], *, alpha: float = 0.05) -> dict:
    """One-way ANOVA (scipy ``f_oneway``) across models and Tukey HSD pairwise comparisons (statsmodels
    ``pairwise_tukeyhsd``).

    Parameters
    ----------
    samples : dict model name -> 1-D array of scores (e.g. the 30 MC-dropout AUROCs of one test set).
    alpha : family-wise error rate of the Tukey HSD test.

    Returns
    -------
    dict with ``F``, ``p`` (ANOVA) and ``tukey``: list of ``{"a", "b", "meandiff", "p_adj", "reject"}``
    (``meandiff`` = mean(b) - mean(a)).
    """
    from scipy.stats import f_oneway
    from statsmodels.stats.multicomp import pairwise_tukeyhsd

    names = list(samples)
    arrays = [np.asarray(samples[n], dtype=float) for n in names]
    F, p = f_oneway(*arrays)
    vals = np.concatenate(arrays)
    groups = np.concatenate([[n] * len(a) for n, a in zip(names, arrays)])
    res = pairwise_tukeyhsd(vals, groups, alpha=alpha)
    tk = []
    for row in res.summary().data[1:]:
        a, b, md, padj, lo, hi, rej = row
        tk.append({"a": str(a), "b": str(b), "meandiff": float(md), "p_adj": float(padj), "reject": bool(rej)})
    return {"F": float(F), "p": float(p), "tukey": tk}
