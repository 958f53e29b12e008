"""Confidence for TFs no model was trained on: leave-group-out precision maps, p/q-values, the PWM floor.

- **Precision** of a motif-conditioned call: isotonic regression (scikit-learn) of "the call overlaps a true site of
  its TF" on the network's score, fitted on *leave-group-out* calls on chr7 -- each zoo TF scored by the fold model
  that never saw its paralog group -- separately for each information-content bin of the matrix (:data:`IC_EDGES`,
  the terciles of JASPAR 2024 CORE vertebrates). So the map describes how a score behaves for an unseen TF with a
  matrix like this one, which is what every non-zoo matrix is.
- **PWM calls** (evidence ``pwm``) get the same kind of map on -log10 FIMO p.
- **p-value**: FIMO's (the PWM score's exact p-value under a uniform background, one strand); **q-value**:
  Benjamini-Hochberg over every test of the run (positions x strands x matrices), :func:`bh_qvalues_over`.
- **PWM floor**: per IC bin, if leave-group-out motif-conditioned calls do not beat FIMO calls in mean site F1 on
  chr7, the matrices of that bin are called as PWM (:func:`floor_decision`).
"""

from __future__ import annotations

import numpy as np

from ..zoo.sites import isotonic_map
from .data import site_metrics, match_sites
from .candidates import Candidates, local_best

#: information-content bin edges (bits): terciles of the 879 JASPAR 2024 CORE vertebrate matrices
IC_EDGES = (11.26, 13.83)


def ic_bins(ic, edges=IC_EDGES) -> np.ndarray:
    """Bin index (0 .. len(edges)) of each total information content (bits)."""
    return np.searchsorted(np.asarray(edges, float), np.asarray(ic, float), side="right")


def isotonic_knots(x: np.ndarray, y: np.ndarray, *, max_knots: int = 80) -> dict | None:
    """An increasing map ``x -> P(y)`` as knots ``{"x": [...], "y": [...]}`` (linear between, constant beyond);
    None with fewer than 2 distinct ``x``. The zoo's isotonic map (:func:`tfscope.zoo.sites.isotonic_map`), as JSON."""
    knots = isotonic_map(x, y, max_knots=max_knots)
    if knots is None:
        return None
    kx, ky = knots
    return {"x": [round(float(a), 6) for a in kx], "y": [round(float(b), 5) for b in ky]}


def fit_precision_maps(score: np.ndarray, matched: np.ndarray, ic: np.ndarray, edges=IC_EDGES) -> list:
    """One isotonic map per IC bin (pooled over all calls where a bin has fewer than 200 calls).

    Parameters
    ----------
    score : (n,) call scores; matched : (n,) bool; ic : (n,) information content of each call's matrix (bits)

    Returns
    -------
    list (one per bin) of knot dicts (:func:`isotonic_knots`)
    """
    b = ic_bins(ic, edges)
    pooled = isotonic_knots(score, matched)
    return [isotonic_knots(score[b == k], matched[b == k]) if (b == k).sum() >= 200 else pooled
            for k in range(len(edges) + 1)]


def apply_precision(score, ic, maps, edges=IC_EDGES) -> np.ndarray:
    """Estimated precision ``(n,)`` of calls from their score and matrix IC (:func:`fit_precision_maps`)."""
    score = np.asarray(score, float)
    b = ic_bins(np.broadcast_to(ic, score.shape), edges)
    out = np.full(len(score), -1.0)
    for k, m in enumerate(maps):
        sel = b == k
        if m is not None and sel.any():
            out[sel] = np.interp(score[sel], m["x"], m["y"])
    return out


def ece(pred: np.ndarray, obs: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: 10 equal-width bins of ``pred``, calls weighted (``benchmarks/sites.py``)."""
    pred, obs = np.asarray(pred, float), np.asarray(obs, float)
    if not len(pred):
        return float("nan")
    idx = np.clip(np.digitize(pred, np.linspace(0, 1, bins + 1)) - 1, 0, bins - 1)
    return float(sum(abs(pred[idx == b].mean() - obs[idx == b].mean()) * (idx == b).sum()
                     for b in range(bins) if (idx == b).any()) / len(pred))


def bh_qvalues_over(p: np.ndarray, n_tests: int) -> np.ndarray:
    """Benjamini-Hochberg q-values of ``p`` (the tests with the smallest p-values) among ``n_tests`` tests in all
    (every untested or unreported test has a larger p-value), monotone, at most 1."""
    p = np.asarray(p, float)
    m = max(int(n_tests), len(p))
    if not len(p):
        return p
    order = np.argsort(p, kind="stable")
    q = p[order] * m / np.arange(1, len(p) + 1)
    q = np.minimum.accumulate(q[::-1])[::-1]
    out = np.empty(len(p))
    out[order] = np.minimum(q, 1.0)
    return out


def best_global_threshold(per_tf: list[tuple], grid: np.ndarray) -> tuple[float, float]:
    """The threshold on a shared score scale that maximises the mean site F1 over TFs.

    Parameters
    ----------
    per_tf : list of ``(score, matched, site_best, n_sites)`` per TF (calls after suppression)
    grid : candidate thresholds

    Returns
    -------
    (threshold, mean F1 there)
    """

    f1 = np.array([np.mean([site_metrics(s, m, b, n, t)["site_f1"] for s, m, b, n in per_tf if n]) for t in grid])
    i = int(np.argmax(f1))
    return float(grid[i]), float(f1[i])


def floor_decision(mc_f1: dict, pwm_f1: dict, ic: dict, edges=IC_EDGES) -> list[str]:
    """Evidence per IC bin: ``motif-conditioned`` where leave-group-out calls beat PWM calls in mean chr7 site F1
    over the zoo TFs of that bin, else ``pwm`` (the floor).

    Parameters
    ----------
    mc_f1, pwm_f1 : TF -> chr7 site F1; ic : TF -> information content of its matrix (bits)
    """
    out = []
    for k in range(len(edges) + 1):
        tfs = [t for t in mc_f1 if ic_bins([ic[t]], edges)[0] == k]
        if not tfs:
            out.append("pwm")
            continue
        out.append("motif-conditioned" if np.mean([mc_f1[t] for t in tfs]) > np.mean([pwm_f1[t] for t in tfs])
                   else "pwm")
    return out


def tf_calls(cands: dict, motif_index: int, score: np.ndarray, sites, length: int = 100):
    """One TF's calls from its scored candidates (one call per binding event: the locally best candidate of the
    matrix, :func:`tfscope.anytf.candidates.local_best`) and their agreement with the TF's true sites.

    Parameters
    ----------
    cands : candidate arrays (:func:`tfscope.anytf.train.labelled_candidates`: ``motif``, ``win``, ``start``,
        ``end``, ``strand``, ``score``, ``pvalue``)
    motif_index : which matrix
    score : (n,) a score per candidate of ``cands`` (higher = more confident)
    sites : the TF's true sites (window index, start, end)

    Returns
    -------
    (index, call_score, matched, site_best, n_sites) : candidate indices of the calls, their scores, whether each
        overlaps a true site, the best call score on each true site inside a window (-inf: none), the site count
    """

    sel = np.flatnonzero(cands["motif"] == motif_index)
    c = Candidates(cands["motif"][sel], cands["win"][sel], cands["start"][sel], cands["end"][sel],
                   cands["strand"][sel], cands["score"][sel], cands["pvalue"][sel])
    s = np.asarray(score, float)[sel]
    keep = local_best(c, s)
    idx, s = sel[keep], s[keep]
    matched, best = match_sites(cands["win"][idx], cands["start"][idx], cands["end"][idx], sites, length, s)
    return idx, s, matched, best, len(best)
