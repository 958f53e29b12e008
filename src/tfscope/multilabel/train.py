"""Training and evaluation of multi-label TF-binding models (arXiv 2603.12073 protocol on tfbs-multilabel).

One sigmoid output per TF, binary cross-entropy with per-TF positive weights against class imbalance, trained in
the one loop :func:`tfscope.train.fit` (early stopping on the chr7 validation loss, a wall-time budget), per-TF
decision thresholds maximising F1 on the validation split, metrics from :func:`tfscope.metrics.multilabel_metrics`,
weights in the one checkpoint format (:mod:`tfscope.checkpoint`, task ``"multilabel"``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoint import load_checkpoint, save_checkpoint
from ..errors import InputError
from ..metrics import best_f1_threshold, multilabel_metrics
from ..models import MODELS, build_model
from ..train import fit, predict
from .data import MultiLabelData

TASK = "multilabel"
MULTILABEL_MODELS = ("tcn", "bilstm", "danq", "cnn")
# default widths: sized so that each model does useful work in a few CPU minutes (see benchmarks/multilabel.py)
DEFAULT_HPARAMS = {"tcn": {"channels": 48, "n_blocks": 5, "kernel": 3, "dropout": 0.1},
                   "bilstm": {"hidden": 64}, "danq": {"filters": 128, "width": 19, "pool": 4, "hidden": 64},
                   "cnn": {"channels": 128, "width": 11}}


def positive_weights(y: np.ndarray, *, power: float = 0.5, max_weight: float = 50.0) -> np.ndarray:
    """Per-label BCE positive weights ``clip((n_neg / n_pos) ** power, 1, max_weight)``, shape ``(T,)``.

    ``power = 1`` is full re-balancing (expected positive and negative loss mass equal); the default square root
    re-balances half-way on the log scale, which keeps probabilities closer to calibrated (thresholds are tuned
    on validation anyway).
    """
    pos = np.asarray(y).sum(0).astype(np.float64)
    neg = len(y) - pos
    return np.clip((neg / np.maximum(pos, 1.0)) ** power, 1.0, max_weight).astype(np.float32)


def tune_thresholds(y_valid: np.ndarray, p_valid: np.ndarray) -> np.ndarray:
    """Per-label F1-maximising thresholds on validation data ``(N, T)`` -> ``(T,)`` (0.5 where no positives)."""
    return np.array([best_f1_threshold(y_valid[:, t], p_valid[:, t]) for t in range(y_valid.shape[1])],
                    dtype=np.float64)


def train_multilabel(data: MultiLabelData, *, model: str = "tcn", hparams: dict | None = None, epochs: int = 20,
                     batch_size: int = 128, lr: float = 1e-3, weight_decay: float = 1e-4, patience: int = 3,
                     max_seconds: float | None = None, pos_weight_power: float = 0.5, seed: int = 0,
                     out=None, verbose: bool = True, max_train: int | None = None, device: str = "auto",
                     amp: str | None = None) -> dict:
    """Train one model on the ``train`` rows of ``data``, tune thresholds on ``valid``, evaluate on ``test``.

    Parameters
    ----------
    data : MultiLabelData with train/valid(/test) rows
    model : registry name, one of :data:`MULTILABEL_MODELS` (or any model returning ``(N, T)`` logits)
    hparams : model hyper-parameters (default :data:`DEFAULT_HPARAMS`; ``n_labels`` is set from ``data``)
    max_seconds : wall-time budget of :func:`tfscope.train.fit` (checked after every batch)
    pos_weight_power : see :func:`positive_weights`
    out : checkpoint directory (optional)
    max_train : use only the first ``max_train`` training windows (after a seeded shuffle)
    device, amp : where to train and predict (``auto``: CUDA when available) and CUDA autocast, as in
        :func:`tfscope.train.fit`; the checkpoint and the returned model are on CPU

    Returns
    -------
    dict: ``net``, ``thresholds`` (T,), ``train`` (TrainResult dict), ``train_seconds``, ``windows_seen``,
    ``hparams``, ``valid`` and ``test``
    metric dicts (None when the split is empty), ``test_probs`` (N_test, T) and ``checkpoint`` (path or None).

    Raises
    ------
    InputError
        Unknown model name or no training/validation windows.
    """
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}; multi-label models: {', '.join(MULTILABEL_MODELS)}")
    tr, va, te = data.part("train"), data.part("valid"), data.part("test")
    if not len(tr) or not len(va):
        raise InputError(f"need train and valid windows, got {len(tr)} and {len(va)}")
    if max_train is not None and len(tr) > max_train:
        tr = tr.subset(np.sort(np.random.default_rng(seed).permutation(len(tr))[:max_train]))
    hp = {**DEFAULT_HPARAMS.get(model, {}), **(hparams or {}), "n_labels": len(data.labels)}
    torch.manual_seed(seed)
    net = build_model(model, **hp)
    pw = torch.as_tensor(positive_weights(tr.y, power=pos_weight_power))

    seen = [0]

    def loss_fn(logits, y):
        if net.training:  # count training windows (validation passes run in eval mode)
            seen[0] += len(y)
        return F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw.to(logits.device))

    t0 = time.time()
    res = fit(net, (tr.x, tr.y), (va.x, va.y), loss_fn=loss_fn, epochs=epochs, batch_size=batch_size, lr=lr,
              weight_decay=weight_decay, patience=patience, seed=seed, verbose=verbose, desc=model,
              max_seconds=max_seconds, device=device, amp=amp)
    train_seconds = time.time() - t0
    p_valid = predict(net, va.x, batch_size=1024)
    thr = tune_thresholds(va.y, p_valid)
    valid_m = multilabel_metrics(va.y, p_valid, thresholds=thr, labels=data.labels)
    test_m, p_test = None, None
    if len(te):
        t1 = time.time()
        p_test = predict(net, te.x, batch_size=1024)
        predict_seconds = time.time() - t1
        test_m = multilabel_metrics(te.y, p_test, thresholds=thr, labels=data.labels)
        test_m["predict_windows_per_second"] = len(te) / max(predict_seconds, 1e-9)
    ckpt = None
    net.to("cpu")
    if out is not None:
        ckpt = save_checkpoint(out, net, model_name=model, task=TASK, hparams=hp, meta={
            "labels": data.labels, "thresholds": thr.tolist(), "window": int(data.x.shape[-1]),
            "train_rows": len(tr), "valid_rows": len(va), "test_rows": len(te), "seed": seed,
            "train": res.as_dict(), "train_seconds": round(train_seconds, 2), "windows_seen": seen[0],
            "max_seconds": max_seconds,
            "pos_weight_power": pos_weight_power,
            "valid_macro": valid_m["macro"], "test_macro": test_m["macro"] if test_m else None,
            "test_micro": test_m["micro"] if test_m else None})
    return {"net": net, "thresholds": thr, "train": res.as_dict(), "train_seconds": train_seconds,
            "windows_seen": seen[0],
            "valid": valid_m, "test": test_m, "test_probs": p_test, "checkpoint": ckpt, "hparams": hp}


def load_multilabel(path):
    """Load a multi-label checkpoint -> ``(model, labels, thresholds (T,))``.

    Raises
    ------
    CheckpointError
        Not a ``multilabel`` checkpoint, unknown model or mismatched weights.
    """
    net, cfg = load_checkpoint(path, task=TASK)
    meta = cfg.get("meta", {})
    labels = list(meta.get("labels", []))
    thr = np.asarray(meta.get("thresholds", [0.5] * len(labels)), dtype=np.float64)
    return net, labels, thr


def evaluate_multilabel(net, data: MultiLabelData, thresholds, *, split: str = "test",
                        device: str = "auto") -> tuple[dict, np.ndarray]:
    """Metrics of a trained model on one split -> ``(multilabel_metrics dict, probabilities (N, T))``, predicted
    on ``device`` (``auto``: CUDA when available).

    Raises
    ------
    InputError
        Empty split, or label set of ``data`` differs in size from the model output.
    """
    part = data.part(split)
    if not len(part):
        raise InputError(f"no {split!r} windows to evaluate")
    p = predict(net, part.x, batch_size=1024, device=device)
    if p.shape[1] != len(data.labels):
        raise InputError(f"model has {p.shape[1]} outputs but the data has {len(data.labels)} labels")
    return multilabel_metrics(part.y, p, thresholds=thresholds, labels=data.labels), p


def checkpoint_dir(root, model: str) -> Path:
    """``<root>/<model>``: where the benchmark keeps each model's checkpoint."""
    return Path(root) / model
