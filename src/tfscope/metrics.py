"""The one metrics module: binary and multi-label classification metrics over numpy arrays -> plain dicts.

Definitions follow scikit-learn: AUROC = ``roc_auc_score``, AUPRC = ``average_precision_score`` (step-wise
average precision), MCC = ``matthews_corrcoef``. Metrics undefined for one-class inputs are NaN.
"""

from __future__ import annotations

import math

import numpy as np


def binary_metrics(y_true, y_score, *, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, precision, recall (sensitivity), specificity, F1, MCC at ``threshold``, plus AUROC and AUPRC.

    Parameters
    ----------
    y_true : array of {0, 1}, any shape (flattened)
    y_score : array of float, same shape; probabilities or scores (``>= threshold`` is a positive call)

    Returns
    -------
    dict with keys accuracy, precision, recall, specificity, f1, mcc, auroc, auprc, n, n_pos
    """
    from sklearn.metrics import average_precision_score, matthews_corrcoef, roc_auc_score

    y = np.asarray(y_true).ravel().astype(np.int8)
    s = np.asarray(y_score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but y_score has {s.size}")
    pred = s >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))
    n = y.size

    def div(a, b):
        return a / b if b else float("nan")

    prec, rec = div(tp, tp + fp), div(tp, tp + fn)
    both = len(np.unique(y)) == 2
    out = {
        "accuracy": div(tp + tn, n),
        "precision": prec,
        "recall": rec,
        "specificity": div(tn, tn + fp),
        "f1": div(2 * tp, 2 * tp + fp + fn),
        "mcc": float(matthews_corrcoef(y, pred)) if both else float("nan"),
        "auroc": float(roc_auc_score(y, s)) if both else float("nan"),
        "auprc": float(average_precision_score(y, s)) if both else float("nan"),
        "n": int(n),
        "n_pos": int(y.sum()),
    }
    return out


def snr_metrics(y_nt, p_nt, y_seq, p_seq, *, threshold: float = 0.5) -> dict[str, float]:
    """Nucleotide-level (``nt_*``) and sequence-level (``seq_*``) metrics of the BertSNR benchmark.

    ``y_nt``/``p_nt``: ``(N, L)`` labels and probabilities; ``y_seq``/``p_seq``: ``(N,)``.
    Keys: ``nt_`` and ``seq_`` + accuracy, precision, recall, f1, auroc, auprc, mcc.
    """
    keep = ("accuracy", "precision", "recall", "f1", "auroc", "auprc", "mcc")
    nt = binary_metrics(y_nt, p_nt, threshold=threshold)
    sq = binary_metrics(y_seq, p_seq, threshold=threshold)
    return {**{f"nt_{k}": nt[k] for k in keep}, **{f"seq_{k}": sq[k] for k in keep}}


def best_f1_threshold(y_true, y_score) -> float:
    """Threshold maximising F1 on (validation) data; 0.5 when there are no positives."""
    from sklearn.metrics import precision_recall_curve

    y = np.asarray(y_true).ravel()
    if y.sum() == 0 or y.sum() == y.size:
        return 0.5
    p, r, t = precision_recall_curve(y, np.asarray(y_score).ravel())
    f1 = 2 * p * r / np.maximum(p + r, 1e-12)
    i = int(np.nanargmax(f1[:-1])) if len(t) else 0
    return float(t[i]) if len(t) else 0.5


def markdown_table(rows: list[dict], columns: list[str], *, floatfmt: str = ".3f") -> str:
    """Render a list of dicts as a GitHub Markdown table (NaN shown as ``-``)."""
    def fmt(v):
        if isinstance(v, float):
            return "-" if math.isnan(v) else format(v, floatfmt)
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def multiclass_metrics(y_true, y_pred, n_classes: int, *, present_only: bool = False) -> dict:
    """Accuracy, macro-F1 (sklearn ``f1_score(average="macro")`` over the ``n_classes`` labels, or with
    ``present_only`` over the labels present in ``y_true``, zero_division=0), per-class accuracy (= recall) as a list
    (NaN for a class absent from ``y_true``) and the confusion matrix ``(n_classes, n_classes)`` (rows true, columns
    predicted) as nested lists."""
    from sklearn.metrics import confusion_matrix, f1_score

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(range(n_classes))
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    support = cm.sum(1)
    per_class = [float(cm[i, i] / support[i]) if support[i] else math.nan for i in labels]
    f1_labels = sorted(set(y_true.tolist())) if present_only else labels
    return {"accuracy": float((y_true == y_pred).mean()) if len(y_true) else math.nan,
            "macro_f1": float(f1_score(y_true, y_pred, labels=f1_labels, average="macro", zero_division=0)),
            "per_class_accuracy": per_class, "confusion": cm.tolist()}


def multilabel_metrics(y_true, y_score, *, thresholds=0.5, labels=None) -> dict:
    """Per-label and macro/micro AP, AUROC and F1 of a multi-label classifier (scikit-learn definitions).

    Parameters
    ----------
    y_true : (N, T) array of {0, 1}
    y_score : (N, T) probabilities
    thresholds : float or (T,) array; ``score >= threshold[t]`` is a positive call for label ``t``
    labels : T names (default ``"0"``, ``"1"``, ...)

    Returns
    -------
    dict with ``per_label`` (list of dicts: label, ap, auroc, f1, precision, recall, threshold, n_pos),
    ``macro`` (unweighted mean of ap, auroc, f1 over labels with both classes present) and ``micro``
    (``average_precision_score`` / ``roc_auc_score`` with ``average="micro"``, i.e. all (window, label) pairs pooled;
    F1 from the pooled TP/FP/FN at each label's threshold).

    Raises
    ------
    ValueError
        If the shapes differ or are not 2-D.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(y_true).astype(np.int8)
    s = np.asarray(y_score, dtype=np.float64)
    if y.ndim != 2 or y.shape != s.shape:
        raise ValueError(f"y_true {y.shape} and y_score {s.shape} must be equal (N, T) arrays")
    t_count = y.shape[1]
    thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (t_count,))
    labels = list(labels) if labels is not None else [str(i) for i in range(t_count)]
    pred = s >= thr[None, :]
    tp = (pred & (y == 1)).sum(0)
    fp = (pred & (y == 0)).sum(0)
    fn = (~pred & (y == 1)).sum(0)
    per = []
    for t in range(t_count):
        both = 0 < y[:, t].sum() < len(y)
        per.append({
            "label": labels[t],
            "ap": float(average_precision_score(y[:, t], s[:, t])) if both else math.nan,
            "auroc": float(roc_auc_score(y[:, t], s[:, t])) if both else math.nan,
            "f1": float(2 * tp[t] / (2 * tp[t] + fp[t] + fn[t])) if (2 * tp[t] + fp[t] + fn[t]) else math.nan,
            "precision": float(tp[t] / (tp[t] + fp[t])) if tp[t] + fp[t] else math.nan,
            "recall": float(tp[t] / (tp[t] + fn[t])) if tp[t] + fn[t] else math.nan,
            "threshold": float(thr[t]),
            "n_pos": int(y[:, t].sum()),
        })
    macro = {k: float(np.nanmean([r[k] for r in per])) for k in ("ap", "auroc", "f1")}
    T, F, N = int(tp.sum()), int(fp.sum()), int(fn.sum())
    micro = {"ap": float(average_precision_score(y, s, average="micro")),
             "auroc": float(roc_auc_score(y, s, average="micro")),
             "f1": float(2 * T / (2 * T + F + N)) if (2 * T + F + N) else math.nan}
    return {"per_label": per, "macro": macro, "micro": micro}


def sign_test(a, b) -> dict:
    """Two-sided sign test of paired scores ``a`` vs ``b`` (e.g. per-TF AUPRC of two models), ties dropped.

    Parameters
    ----------
    a, b : (n,) paired scores; pairs with a NaN are dropped

    Returns
    -------
    dict with ``n`` (pairs compared), ``wins`` (a > b), ``losses`` (a < b), ``median_difference`` (median of
    ``a - b``) and ``p_value`` (exact binomial test at 0.5, :func:`scipy.stats.binomtest`; NaN with no untied pair).
    This is the test BertSNR (Luo et al. 2024) reports over its 45 TFs.
    """
    from scipy.stats import binomtest

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired scores must have the same shape, got {a.shape} and {b.shape}")
    d = (a - b)[~(np.isnan(a) | np.isnan(b))]
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    return {"n": int(len(d)), "wins": wins, "losses": losses,
            "median_difference": float(np.median(d)) if len(d) else math.nan,
            "p_value": float(binomtest(wins, wins + losses).pvalue) if wins + losses else math.nan}
