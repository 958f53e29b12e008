"""Open-set TF-class prediction: is a motif's class among the classes the model knows at all?

The class model (:mod:`tfscope.tfclass.knn_kmer`) always answers with one of its 20 classes, and its probability is
relative to the query's best match, so a motif of a class the model never saw (RUNX, STAT, SMAD, p53, ...) can get
a confident class. This module scores how far a motif lies from *every* reference motif, an out-of-distribution
score chosen on held-out classes:

* **features** (:func:`novelty_features`): the query's best similarity to any reference motif under each of the
  model's five metrics (Pearson, Tomtom ``-log10 p`` clipped at 30, Sandelin-Wasserman, gapped and ungapped k-mer
  profile correlation; per-column scale, :func:`tfscope.tfclass.stack.normalise_similarity`) and the log motif
  length (a long motif scores higher sums of column agreement by chance).
* **detector** (:func:`fit_novelty`): a logistic regression that tells reference motifs seen with only themselves
  left out (leave-one-out: their class, TF and paralogs stay in the reference, as for a new motif of a known class)
  from the same motifs seen with their *whole class* left out (leave-class-out: a simulated motif of an unknown
  class), both sides equally weighted. Its probability ``known_prob`` is the chance that the motif's class is one
  the reference holds, under a 50/50 prior.
* **threshold** ``min_known``: chosen on held-out classes only. The detector is refitted once per class with that
  class's rows removed, and scores that class's leave-one-out rows; ``min_known`` is the ``flag_rate`` quantile of
  these held-out scores (default 2%: at most 2% of motifs of known classes are called ``unknown`` in this
  simulation). The same class-wise held-out scores of the leave-class-out rows give the share of simulated
  unknown-class motifs caught (``held_out_class_caught``).

Measured on motifs never used in any choice (docs/family.md, *Motifs of classes the model does not know*): the
score separates known from unknown classes (AUROC about 0.85) but not at the tail where a default must operate, so
the shipped threshold is conservative and most out-of-class motifs still get a class; ``--min-known`` moves the
operating point.

Plain numpy and sklearn; the fitted detector is a handful of numbers stored in the checkpoint's ``config.json``.
"""

from __future__ import annotations

import numpy as np

#: the flag rates whose thresholds :func:`fit_novelty` also reports (``operating_points``; ``--min-known``)
OPERATING_POINTS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3)

#: names of :func:`novelty_features`' columns
FEATURES = ("pearson", "tomtom", "sandelin", "gapped", "kmer", "log_length")


def novelty_features(sims: list[np.ndarray], lengths) -> np.ndarray:
    """Features ``(n, 6)`` of queries: the best normalised similarity to any reference motif under each of the five
    metrics, in :data:`FEATURES` order, and the natural log of the query length (columns).

    Parameters
    ----------
    sims : list of 5 arrays ``(n, n_reference)``
        Normalised similarities (:func:`tfscope.tfclass.stack.normalise_similarity` for the three column metrics;
        correlations for the two k-mer profiles), in the order Pearson, Tomtom, Sandelin-Wasserman, gapped-profile
        and k-mer-profile correlation (:meth:`tfscope.tfclass.knn_kmer.KnnKmer.stack_sims` of the shipped model).
        Excluded pairs are ``-inf``.
    lengths : ``(n,)`` query lengths.

    Raises ValueError for a wrong number of matrices or a row with no finite similarity.
    """
    if len(sims) != len(FEATURES) - 1:
        raise ValueError(f"expected {len(FEATURES) - 1} similarity matrices, got {len(sims)}")
    best = np.column_stack([np.asarray(s, dtype=np.float64).max(1) for s in sims])
    if not np.isfinite(best).all():
        raise ValueError("a query has no finite similarity to any reference motif")
    return np.column_stack([best, np.log(np.asarray(lengths, dtype=np.float64))])


def _fit_lr(X: np.ndarray, t: np.ndarray) -> dict:
    from sklearn.linear_model import LogisticRegression

    mean, scale = X.mean(0), X.std(0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    lr = LogisticRegression(C=1.0, max_iter=5000).fit((X - mean) / scale, t)
    return {"mean": mean.tolist(), "scale": scale.tolist(), "coef": lr.coef_[0].tolist(),
            "intercept": float(lr.intercept_[0])}


def known_probability(features: np.ndarray, detector: dict) -> np.ndarray:
    """``known_prob`` ``(n,)``: the detector's probability that each query's class is among the reference classes
    (``features`` from :func:`novelty_features`, ``detector`` from :func:`fit_novelty`)."""
    X = (np.asarray(features, dtype=np.float64) - np.asarray(detector["mean"])) / np.asarray(detector["scale"])
    z = X @ np.asarray(detector["coef"]) + detector["intercept"]
    return 1.0 / (1.0 + np.exp(-z))


def fit_novelty(sims: list[np.ndarray], labels, lengths, *, flag_rate: float = 0.02) -> dict:
    """Fit the known-class detector and its threshold on the reference motifs (see the module docstring).

    Parameters
    ----------
    sims : list of 5 arrays ``(n, n)``
        Reference-vs-reference normalised similarities with the self-pairs ``-inf`` (as for
        :func:`novelty_features`).
    labels : ``(n,)`` class of each reference motif (at least 2 classes).
    lengths : ``(n,)`` motif lengths.
    flag_rate : share of known-class motifs the threshold may call unknown in the class-wise held-out simulation.

    Returns
    -------
    dict
        ``mean``, ``scale``, ``coef``, ``intercept`` (the detector, over :data:`FEATURES`), ``features``,
        ``min_known`` (threshold on ``known_prob``), ``flag_rate``, ``held_out_class_caught`` (share of
        leave-class-out rows below ``min_known`` when their class was held out of the detector) and
        ``held_out_auroc`` (AUROC of the held-out scores, leave-one-out vs leave-class-out rows) and
        ``operating_points``: the threshold and the share caught for each flag rate of :data:`OPERATING_POINTS`.

    Raises
    ------
    ValueError
        Fewer than 2 classes, or ``flag_rate`` outside (0, 1).
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError("the known-class detector needs at least 2 classes")
    if not 0 < flag_rate < 1:
        raise ValueError(f"flag_rate must lie in (0, 1), got {flag_rate}")
    same = y[:, None] == y[None, :]
    loo = novelty_features(sims, lengths)
    lco = novelty_features([np.where(same, -np.inf, s) for s in sims], lengths)
    t = np.r_[np.ones(len(y)), np.zeros(len(y))]
    det = _fit_lr(np.r_[loo, lco], t)
    held_known, held_unknown = np.zeros(len(y)), np.zeros(len(y))
    for c in classes:  # each class held out of the detector, then scored
        m = y != c
        d = _fit_lr(np.r_[loo[m], lco[m]], np.r_[np.ones(m.sum()), np.zeros(m.sum())])
        held_known[~m], held_unknown[~m] = known_probability(loo[~m], d), known_probability(lco[~m], d)
    thr = float(np.quantile(held_known, flag_rate))
    det.update({"features": list(FEATURES), "min_known": thr, "flag_rate": float(flag_rate),
                "held_out_class_caught": float((held_unknown < thr).mean()),
                "held_out_auroc": float(roc_auc_score(t, np.r_[held_known, held_unknown])),
                "operating_points": [{"flag_rate": r, "min_known": float(np.quantile(held_known, r)),
                                      "held_out_class_caught": float((held_unknown < np.quantile(held_known, r))
                                                                     .mean())}
                                     for r in OPERATING_POINTS]})
    return det
