"""Open-set rule of ``tfscope tfclass predict``: answer with a class only when the answer is calibrated to be right
*counting motifs of classes the model does not know*; otherwise ``unknown``.

The class model's probability (:mod:`tfscope.tfclass.knn_kmer`) is calibrated on motifs of known classes, and the
known-class detector (:mod:`tfscope.tfclass.novelty`) alone is conservative, so a motif of an unknown class can get
a known class with high probability (JASPAR RUNX1 MA0002.3 -> C2H2 zinc finger, 0.955). This rule is fitted on a
simulation in which whole classes are unknown:

* **simulation** (:func:`simulate_open_set`): the reference classes are split into ``rounds`` class folds and the
  paralog groups (:func:`tfscope.tfclass.splits.paralog_group`) into ``rounds`` group folds
  (:func:`tfscope.tfclass.splits.grouped_folds`). In round r the model (recipe, detector and all) is refitted on
  the motifs of the other class folds and other group folds; it then scores the motifs of class fold r (classes
  it has never seen: always wrong) and the motifs of its known classes in group fold r (TFs and paralogs it has
  never seen: right or wrong). Relatives stay on one side: no paralog group and no class is on both.
* **score** (:func:`right_probability`): a logistic regression of "the answer is right" on :data:`FEATURES` of each
  simulated answer, with known-class and unknown-class motifs weighted ``1 - unknown_share`` and ``unknown_share``
  in total (default 50/50: nothing says how often a user brings a motif of an unknown class).
* **threshold per predicted class** (:func:`fit_open_set_rule`): for each class c the smallest score such that at
  least ``precision`` (default 0.8) of the weighted simulated answers "c" at or above it are right. Classes that
  collect motifs of unknown classes (C2H2 zinc fingers above all: long, varied motifs with a partial match for
  almost anything) get high thresholds, classes that do not get low ones.

A motif is answered when it is informative, the detector calls it known, and its score reaches its class's
threshold (:func:`accept`). The rule is a handful of numbers (JSON-safe dict); a checkpoint
carries its own in ``meta["open_set"]`` (the shipped model's was fitted on all 2,112 JASPAR 2024 motifs by
``benchmarks/family_open_set.py``).
"""

from __future__ import annotations

import numpy as np

from .knn import METRICS
from .knn_kmer import make_model
from .kmer_profile import kmer_similarity
from .novelty import fit_novelty, known_probability, novelty_features
from .splits import grouped_folds, paralog_group
from .stack import normalise_similarity

#: names of :func:`open_set_features`' columns: logit of the class probability, logit of the detector's known_prob,
#: log10 of the best Tomtom p-value to any reference motif, share of the 5 nearest reference motifs (by Tomtom p)
#: in the predicted class, logit of the margin between the two best class probabilities
FEATURES = ("logit_class_prob", "logit_known_prob", "log10_nearest_p", "nearest5_agree", "logit_margin")

#: nearest reference motifs (by Tomtom p) whose class agreement is a feature
N_AGREE = 5


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def open_set_features(proba: np.ndarray, known_prob: np.ndarray, tomtom_p: np.ndarray, reference_labels
                      ) -> np.ndarray:
    """Features ``(n, 5)`` (:data:`FEATURES`) of the answers of a class model.

    Parameters
    ----------
    proba : ``(n, n_classes)`` class probabilities (the answer is the argmax).
    known_prob : ``(n,)`` the known-class detector's probability (:func:`tfscope.tfclass.novelty.known_probability`).
    tomtom_p : ``(n, n_reference)`` Tomtom p-values of the queries against the reference motifs (excluded pairs 1).
    reference_labels : ``(n_reference,)`` class index of each reference motif.

    Raises ValueError for inconsistent shapes.
    """
    proba, P = np.asarray(proba, dtype=np.float64), np.asarray(tomtom_p, dtype=np.float64)
    y = np.asarray(reference_labels)
    if not (len(proba) == len(P) == len(known_prob)) or P.shape[1] != len(y):
        raise ValueError(f"shapes disagree: proba {proba.shape}, known_prob {np.shape(known_prob)}, tomtom_p "
                         f"{P.shape}, reference labels {y.shape}")
    best = proba.argmax(1)
    ps = np.sort(proba, 1)
    nn = np.argsort(P, axis=1, kind="stable")[:, :N_AGREE]
    return np.column_stack([_logit(ps[:, -1]), _logit(known_prob), np.log10(np.clip(P.min(1), 1e-300, 1.0)),
                            (y[nn] == best[:, None]).mean(1), _logit(np.maximum(ps[:, -1] - ps[:, -2], 1e-6))])


def simulate_open_set(sims: list[np.ndarray], tomtom_p: np.ndarray, kmers: np.ndarray, gapped: np.ndarray, labels,
                      names, lengths, *, variant: str = "knn-kmer-vote", rounds: int = 5, k: int = 6, seed: int = 0,
                      progress=None) -> dict:
    """The held-out-class simulation of the module docstring.

    Parameters
    ----------
    sims : list of 3 arrays ``(n, n)``
        Raw reference-vs-reference similarities in :data:`tfscope.tfclass.knn.METRICS` order, self-pairs ``-inf``.
    tomtom_p : ``(n, n)`` Tomtom p-values of the same pairs (the diagonal is ignored).
    kmers, gapped : ``(n, 4**k)`` ungapped and gapped k-mer profiles (:func:`tfscope.tfclass.kmer_profile.kmer_profile`).
    labels : ``(n,)`` class index; names : ``(n,)`` TF names (paralog groups); lengths : ``(n,)`` motif widths.
    variant : the recipe to refit (it must have the five-metric stack of the known-class detector).
    rounds : class folds = group folds (>= 2, at most the number of classes).
    k : k-mer length of the profiles.
    progress : callable taking a message, or None.

    Returns
    -------
    dict
        ``features`` ``(m, 5)``, ``pred`` ``(m,)`` (predicted class, index into the full class list), ``right``
        ``(m,)`` bool, ``unknown_class`` ``(m,)`` bool (the motif's class was held out), ``round`` ``(m,)``,
        ``index`` ``(m,)`` (reference motif), ``class_prob`` ``(m,)``, ``known_prob`` ``(m,)``.

    Raises
    ------
    ValueError
        ``rounds`` outside [2, number of classes].
    """
    y = np.asarray(labels)
    L = np.asarray(lengths)
    C = int(y.max()) + 1
    if not 2 <= rounds <= C:
        raise ValueError(f"rounds must lie in [2, {C}], got {rounds}")
    groups = np.array([paralog_group(n) for n in names])
    order = np.argsort(-np.bincount(y, minlength=C), kind="stable")
    class_fold = np.empty(C, dtype=int)
    class_fold[order] = np.arange(C) % rounds  # round robin by size: the big classes fall in different folds
    group_fold = np.empty(len(y), dtype=int)
    for i, (_, te) in enumerate(grouped_folds(names, y, rounds, seed=seed)):
        group_fold[te] = i
    out = {k: [] for k in ("features", "pred", "right", "unknown_class", "round", "index", "class_prob",
                           "known_prob")}
    for r in range(rounds):
        known = np.flatnonzero(class_fold != r)
        remap = -np.ones(C, dtype=int)
        remap[known] = np.arange(len(known))
        tr = np.flatnonzero((class_fold[y] != r) & (group_fold != r))
        ytr = remap[y[tr]]
        s_tr = [normalise_similarity(s[np.ix_(tr, tr)], m, L[tr]) for s, m in zip(sims, METRICS)]
        model = make_model(variant, len(known), seed=seed, k=k)
        model.fit(s_tr, kmers[tr], ytr, groups[tr], gapped=gapped[tr])
        det = fit_novelty(s_tr + [kmer_similarity(gapped[tr], gapped[tr], exclude_self=True),
                                  kmer_similarity(kmers[tr], kmers[tr], exclude_self=True)], ytr, L[tr])
        for unknown, te in ((False, np.flatnonzero((class_fold[y] != r) & (group_fold == r))),
                            (True, np.flatnonzero(class_fold[y] == r))):
            sq = [normalise_similarity(s[np.ix_(te, tr)], m, L[te]) for s, m in zip(sims, METRICS)]
            p = model.predict_proba(sq, kmers[te], gapped[te])
            kp = known_probability(novelty_features(model.stack_sims(sq, kmers[te], gapped[te]), L[te]), det)
            best = p.argmax(1)
            out["features"].append(open_set_features(p, kp, tomtom_p[np.ix_(te, tr)], ytr))
            out["pred"].append(known[best])
            out["right"].append(known[best] == y[te])
            out["unknown_class"].append(np.full(len(te), unknown))
            out["round"].append(np.full(len(te), r))
            out["index"].append(te)
            out["class_prob"].append(p.max(1))
            out["known_prob"].append(kp)
        if progress is not None:
            progress(f"open-set simulation round {r + 1}/{rounds}: {len(tr)} training motifs, "
                     f"{len(known)} known classes")
    return {k: np.concatenate(v) for k, v in out.items()}


def _weights(unknown: np.ndarray, unknown_share: float) -> np.ndarray:
    n_u, n_k = unknown.sum(), (~unknown).sum()
    w = np.where(unknown, unknown_share / max(n_u, 1), (1 - unknown_share) / max(n_k, 1))
    return w * len(w) / w.sum()


def class_thresholds(score: np.ndarray, pred: np.ndarray, right: np.ndarray, weight: np.ndarray, n_classes: int,
                     precision: float) -> np.ndarray:
    """Per predicted class, the smallest ``score`` such that at least ``precision`` of the (``weight``-weighted)
    answers of that class at or above it are right; ``inf`` for a class where none reaches it, 0 for a class never
    predicted. All arrays ``(m,)``; returns ``(n_classes,)``."""
    t = np.zeros(n_classes)
    for c in range(n_classes):
        m = pred == c
        if not m.any():
            continue
        o = np.argsort(-score[m], kind="stable")
        s, ok, w = score[m][o], right[m][o], weight[m][o]
        prec = np.cumsum(w * ok) / np.cumsum(w)
        good = np.flatnonzero(prec >= precision)
        t[c] = s[good[-1]] if len(good) else np.inf
    return t


def fit_open_set_rule(sim: dict, n_classes: int, *, precision: float = 0.8, unknown_share: float = 0.5,
                      far_quantile: float = 0.95) -> dict:
    """Fit the open-set rule on :func:`simulate_open_set`'s output.

    Parameters
    ----------
    sim : the simulation.
    n_classes : number of reference classes.
    precision : share of right answers each class's threshold must keep (weighted simulation).
    unknown_share : total weight of the unknown-class motifs (the rest: known-class motifs).
    far_quantile : the known-class motifs' nearest Tomtom p-value quantile above which a motif's nearest reference
        motifs count as far (``far_p``, a reason in the output, not a rule of its own).

    Returns
    -------
    dict
        ``features``, ``mean``, ``scale``, ``coef``, ``intercept`` (the score), ``thresholds`` (per class, JSON-safe:
        ``inf`` is stored as 1.0 + 1e-9, never reached), ``precision``, ``unknown_share``, ``far_p``, and the
        simulation's own held-out estimate ``simulated`` (thresholds refitted without each round, applied to it):
        ``known_answered``, ``known_accuracy`` (right answers among all known-class motifs), ``known_accuracy_forced``,
        ``unknown_called_unknown``.

    Raises
    ------
    ValueError
        ``precision`` or ``unknown_share`` outside (0, 1).
    """
    if not (0 < precision < 1 and 0 < unknown_share < 1):
        raise ValueError(f"precision and unknown_share must lie in (0, 1), got {precision}, {unknown_share}")
    X, pred, right = sim["features"], sim["pred"], sim["right"].astype(bool)
    unk, rnd = sim["unknown_class"].astype(bool), sim["round"]
    w = _weights(unk, unknown_share)

    def fit(mask):
        from sklearn.linear_model import LogisticRegression

        mean, scale = X[mask].mean(0), X[mask].std(0)
        scale = np.where(scale > 1e-12, scale, 1.0)
        lr = LogisticRegression(C=1.0, max_iter=5000).fit((X[mask] - mean) / scale, right[mask],
                                                          sample_weight=w[mask])
        rule = {"mean": mean.tolist(), "scale": scale.tolist(), "coef": lr.coef_[0].tolist(),
                "intercept": float(lr.intercept_[0])}
        sc = right_probability(X, rule)
        rule["thresholds"] = class_thresholds(sc[mask], pred[mask], right[mask], w[mask], n_classes, precision)
        return rule, sc

    answered = np.zeros(len(X), dtype=bool)
    for r in np.unique(rnd):  # held-out estimate: score and thresholds fitted without round r
        rule, sc = fit(rnd != r)
        answered[rnd == r] = sc[rnd == r] >= rule["thresholds"][pred[rnd == r]]
    rule, _ = fit(np.ones(len(X), dtype=bool))
    rule["thresholds"] = [float(t) if np.isfinite(t) else 1.0 + 1e-9 for t in rule["thresholds"]]
    k = ~unk
    rule.update({"features": list(FEATURES), "precision": precision, "unknown_share": unknown_share,
                 "far_p": float(10 ** np.quantile(X[k, FEATURES.index("log10_nearest_p")], far_quantile)),
                 "simulated": {"known_motifs": int(k.sum()), "unknown_motifs": int(unk.sum()),
                               "known_answered": float(answered[k].mean()),
                               "known_accuracy": float((answered & right)[k].mean()),
                               "known_accuracy_forced": float(right[k].mean()),
                               "unknown_called_unknown": float((~answered[unk]).mean())}})
    return rule


def right_probability(features: np.ndarray, rule: dict) -> np.ndarray:
    """The rule's score ``(n,)``: the probability that each answer is right, under the rule's share of motifs of
    unknown classes (``features`` from :func:`open_set_features`)."""
    X = (np.asarray(features, dtype=np.float64) - np.asarray(rule["mean"])) / np.asarray(rule["scale"])
    return 1.0 / (1.0 + np.exp(-(X @ np.asarray(rule["coef"]) + rule["intercept"])))


def accept(features: np.ndarray, pred, rule: dict) -> tuple[np.ndarray, np.ndarray]:
    """Which answers the rule gives: ``(right_probability (n,), answered (n,) bool)``, answered when the score
    reaches the threshold of the predicted class ``pred`` ``(n,)``."""
    sc = right_probability(features, rule)
    return sc, sc >= np.asarray(rule["thresholds"])[np.asarray(pred, dtype=int)]
