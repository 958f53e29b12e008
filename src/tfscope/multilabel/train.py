"""Training and evaluation of multi-label TF-binding models (arXiv 2603.12073 protocol on tfbs-multilabel).

One sigmoid output per TF, binary cross-entropy with per-TF positive weights against class imbalance, trained in
the one loop :func:`tfscope.train.fit` (early stopping on the chr7 validation macro AP, a wall-time budget, an
optional learning-rate schedule, resumable phases that continue a checkpoint, recorded in ``meta.phases``), per-TF
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
from ..device import resolve_device
from ..errors import CheckpointError, InputError
from ..io.windows import MultiLabelData
from ..metrics import best_f1_threshold, multilabel_metrics
from ..models import MODELS, build_model
from ..train import fit, predict

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


SCHEDULES = ("constant", "cosine", "plateau")
#: a phase has converged when its last full epoch raised the best chr7 macro AP by less than this
CONVERGED_DELTA = 0.005
DEFAULT_LR = 1e-3


def valid_macro_ap(net, part: MultiLabelData, *, batch_size: int = 1024) -> float:
    """Macro average precision (mean over TFs with both classes present, :func:`tfscope.metrics.multilabel_metrics`)
    of ``net`` on the windows of ``part`` (``x (N, 4, L)``, ``y (N, T)``), predicted where the model is."""
    return float(multilabel_metrics(part.y, predict(net, part.x, batch_size=batch_size))["macro"]["ap"])


def phase_converged(curve, stop_reason: str, *, partial_epoch: bool = False, prior_best: float | None = None,
                    delta: float = CONVERGED_DELTA) -> bool:
    """Whether a training phase converged.

    Parameters
    ----------
    curve : the phase's validation macro AP after each epoch (the last one possibly partial)
    stop_reason : ``"patience"`` (early stopping), ``"time"`` (wall-time budget) or ``"epochs"`` (epoch limit), as
        :attr:`tfscope.train.TrainResult.stop_reason`
    partial_epoch : the last entry of ``curve`` follows an epoch cut short by the time budget (it is ignored)
    prior_best : best validation macro AP before this phase (of the weights it continued from), if any
    delta : improvement below which the curve counts as flat (:data:`CONVERGED_DELTA`)

    Returns
    -------
    bool
        True when patience ran out, or the last full epoch raised the best AP so far (of this phase and
        ``prior_best``) by less than ``delta``; False otherwise (still improving when the time or epoch limit
        ended the phase, or too few full epochs to tell).
    """
    if stop_reason == "patience":
        return True
    full = [float(v) for v in (list(curve)[:-1] if partial_epoch else curve)]
    if not full:
        return False
    before = full[:-1] + ([float(prior_best)] if prior_best is not None else [])
    if not before:
        return False
    return full[-1] - max(before) < delta


def _round(v, nd: int = 5):
    return None if v is None else round(float(v), nd)


def _scheduler(schedule: str, *, epochs: int, patience: int, lr: float):
    """Factory for :func:`tfscope.train.fit` (None for ``constant``)."""
    if schedule == "constant":
        return None
    if schedule == "cosine":  # one cosine cycle over the phase's epochs, down to lr / 100
        return lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1), eta_min=lr / 100)
    if schedule == "plateau":  # halve the rate after an epoch without a better macro AP (before patience runs out)
        return lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="max", factor=0.5, patience=max(0, patience // 2 - 1), threshold=1e-3, threshold_mode="abs")
    raise InputError(f"unknown schedule {schedule!r}; use one of {', '.join(SCHEDULES)}")


def _previous_phases(meta: dict) -> list[dict]:
    """``meta.phases`` of a checkpoint; a checkpoint written before phases were recorded counts as one phase."""
    if meta.get("phases"):
        return list(meta["phases"])
    tr = meta.get("train", {})
    return [{"phase": 1, "seed": meta.get("seed"), "lr": None, "schedule": "constant",
             "epochs": len(tr.get("train_loss", [])), "windows_seen": meta.get("windows_seen"),
             "seconds": meta.get("train_seconds"), "seconds_per_epoch": None, "valid_macro_ap": [],
             "best_epoch": tr.get("best_epoch"), "stop_reason": tr.get("stop_reason"), "converged": None,
             "note": "trained before phases were recorded (early stopping on the validation loss)"}]


def _check_init(init, cfg: dict, *, model: str, hp: dict, labels: list[str], window: int,
                pos_weight_power: float) -> None:
    """Raise CheckpointError when the checkpoint ``init`` cannot be continued by this run."""

    meta = cfg.get("meta", {})
    diffs = []
    if cfg.get("model") != model:
        diffs.append(f"architecture {cfg.get('model')!r} vs {model!r}")
    if cfg.get("hparams") != hp:
        keys = sorted(k for k in set(cfg.get("hparams", {})) | set(hp) if cfg.get("hparams", {}).get(k) != hp.get(k))
        diffs.append("hyper-parameters " + ", ".join(f"{k}={cfg.get('hparams', {}).get(k)!r} vs {hp.get(k)!r}"
                                                     for k in keys))
    if list(meta.get("labels", [])) != list(labels):
        diffs.append(f"label set ({len(meta.get('labels', []))} TFs vs {len(labels)}, or another order)")
    if meta.get("window") is not None and int(meta["window"]) != int(window):
        diffs.append(f"window {meta['window']} vs {window} bp")
    if meta.get("pos_weight_power") is not None and float(meta["pos_weight_power"]) != float(pos_weight_power):
        diffs.append(f"pos_weight_power {meta['pos_weight_power']} vs {pos_weight_power}")
    if diffs:
        raise CheckpointError(f"{init}: cannot continue training from this checkpoint, it differs from this run in "
                              + "; ".join(diffs))


def train_multilabel(data: MultiLabelData, *, model: str | None = None, hparams: dict | None = None,
                     epochs: int = 20, batch_size: int = 128, lr: float | None = None, weight_decay: float = 1e-4,
                     patience: int = 3, max_seconds: float | None = None, pos_weight_power: float = 0.5,
                     seed: int = 0, out=None, verbose: bool = True, max_train: int | None = None,
                     device: str = "auto", amp: str | None = None, init=None, schedule: str = "constant") -> dict:
    """Train one model (one phase) on the ``train`` rows of ``data``, tune thresholds on ``valid``, evaluate on
    ``test``.

    Early stopping (``patience`` epochs) and the kept weights follow the validation (chr7) macro average precision
    (:func:`valid_macro_ap`, from :func:`tfscope.metrics.multilabel_metrics`), not the validation loss. With
    ``init`` the phase continues a checkpoint of an earlier phase: its weights are the starting point, and they are
    kept unless an epoch of this phase beats their validation macro AP.

    Parameters
    ----------
    data : MultiLabelData with train/valid(/test) rows
    model : registry name, one of :data:`MULTILABEL_MODELS` (or any model returning ``(N, T)`` logits); default
        the architecture of ``init``, else ``"tcn"``
    hparams : model hyper-parameters (default :data:`DEFAULT_HPARAMS`, or those of ``init``; ``n_labels`` is set
        from ``data``)
    lr : AdamW learning rate at the start of the phase; default :data:`DEFAULT_LR`, or, continuing a ``plateau``
        phase with ``schedule="plateau"``, the rate that phase ended at
    max_seconds : wall-time budget of this phase in :func:`tfscope.train.fit` (checked after every batch)
    pos_weight_power : see :func:`positive_weights`
    seed : seeds initialisation and the ``max_train`` subset; the batch order of phase k (1-based) is seeded with
        ``seed + k - 1`` so that phases do not repeat each other's batches
    out : checkpoint directory (optional; may equal ``init``, it is replaced atomically)
    max_train : use only the first ``max_train`` training windows (after a seeded shuffle)
    device, amp : where to train and predict (``auto``: CUDA when available) and CUDA autocast, as in
        :func:`tfscope.train.fit`; the checkpoint and the returned model are on CPU
    init : multilabel checkpoint directory to continue training from (same architecture, hyper-parameters, label
        set, window length and ``pos_weight_power``)
    schedule : learning-rate schedule of the phase: ``constant``, ``cosine`` (one cosine cycle over ``epochs``
        down to lr/100; a continued phase restarts the cycle, as SGDR warm restarts) or ``plateau`` (halve the
        rate when the validation macro AP stops improving). The AdamW moments are not stored in checkpoints and
        restart with each phase.

    Returns
    -------
    dict: ``net``, ``thresholds`` (T,), ``train`` (TrainResult dict), ``train_seconds``, ``windows_seen`` (this
    phase), ``hparams``, ``valid`` and ``test`` metric dicts (None when the split is empty), ``test_probs``
    (N_test, T), ``checkpoint`` (path or None), ``phase`` (this phase's record, as appended to ``meta.phases``),
    ``phases`` (all records), ``epochs_total`` and ``windows_seen_total`` (over all phases), ``converged``
    (:func:`phase_converged` of this phase).

    Raises
    ------
    InputError
        Unknown model name or schedule, or no training/validation windows.
    CheckpointError
        ``init`` is not a readable multilabel checkpoint, or differs from this run in architecture,
        hyper-parameters, label set, window length or ``pos_weight_power``.
    """

    prev_cfg, prev_net = None, None
    if init is not None:
        prev_net, prev_cfg = load_checkpoint(init, task=TASK)
        model = model or prev_cfg.get("model")
    model = model or "tcn"
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}; multi-label models: {', '.join(MULTILABEL_MODELS)}")
    if schedule not in SCHEDULES:
        raise InputError(f"unknown schedule {schedule!r}; use one of {', '.join(SCHEDULES)}")
    tr, va, te = data.part("train"), data.part("valid"), data.part("test")
    if not len(tr) or not len(va):
        raise InputError(f"need train and valid windows, got {len(tr)} and {len(va)}")
    if max_train is not None and len(tr) > max_train:
        tr = tr.subset(np.sort(np.random.default_rng(seed).permutation(len(tr))[:max_train]))
    if hparams is None and prev_cfg is not None and prev_cfg.get("model") == model:
        hp = dict(prev_cfg.get("hparams", {}))
    else:
        hp = {**DEFAULT_HPARAMS.get(model, {}), **(hparams or {})}
    hp["n_labels"] = len(data.labels)
    prev_phases: list[dict] = []
    prev_meta: dict = {}
    if prev_cfg is not None:
        _check_init(init, prev_cfg, model=model, hp=hp, labels=data.labels, window=int(data.x.shape[-1]),
                    pos_weight_power=pos_weight_power)
        prev_meta = prev_cfg.get("meta", {})
        prev_phases = _previous_phases(prev_meta)
    if lr is None:
        last = prev_phases[-1] if prev_phases else {}
        lr = float(last["lr_end"]) if (schedule == "plateau" and last.get("schedule") == "plateau"
                                       and last.get("lr_end")) else DEFAULT_LR
    torch.manual_seed(seed)
    net = build_model(model, **hp)
    baseline = None
    if prev_net is not None:
        net.load_state_dict(prev_net.state_dict())
        net.to(resolve_device(device))
        baseline = valid_macro_ap(net, va)  # what this phase must beat to replace the weights
    pw = torch.as_tensor(positive_weights(tr.y, power=pos_weight_power))

    def loss_fn(logits, y):
        return F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw.to(logits.device))

    phase_no = len(prev_phases) + 1
    fit_seed = seed + phase_no - 1
    t0 = time.time()
    res = fit(net, (tr.x, tr.y), (va.x, va.y), loss_fn=loss_fn, epochs=epochs, batch_size=batch_size, lr=lr,
              weight_decay=weight_decay, patience=patience, seed=fit_seed, verbose=verbose, desc=model,
              max_seconds=max_seconds, device=device, amp=amp, score_fn=lambda m: valid_macro_ap(m, va),
              score_baseline=baseline, scheduler=_scheduler(schedule, epochs=epochs, patience=patience, lr=lr))
    train_seconds = time.time() - t0
    curve = [round(v, 5) for v in res.valid_score]
    converged = phase_converged(res.valid_score, res.stop_reason, partial_epoch=res.partial_epoch,
                                prior_best=baseline)
    passes = res.samples_seen / max(len(tr), 1)
    phase = {"phase": phase_no, "seed": fit_seed, "lr": lr, "lr_end": res.final_lr, "schedule": schedule,
             "batch_size": batch_size, "max_seconds": max_seconds, "max_epochs": epochs, "patience": patience,
             "epochs": len(res.train_loss), "partial_epoch": res.partial_epoch, "windows_seen": res.samples_seen,
             "seconds": round(train_seconds, 2),
             "seconds_per_epoch": round(train_seconds / passes, 2) if passes else None,
             "valid_macro_ap": curve, "start_valid_macro_ap": _round(baseline),
             "best_epoch": res.best_epoch,
             "best_valid_macro_ap": _round(max([*res.valid_score, *([baseline] if baseline is not None else [])],
                                               default=None)),
             "stop_reason": res.stop_reason, "converged": converged}
    phases = [*prev_phases, phase]
    epochs_total = sum(int(p.get("epochs") or 0) for p in phases)
    seen_total = sum(int(p.get("windows_seen") or 0) for p in phases)
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
        meta = {"labels": data.labels, "thresholds": thr.tolist(), "window": int(data.x.shape[-1]),
                "train_rows": len(tr), "valid_rows": len(va), "test_rows": len(te), "seed": seed,
                "train": res.as_dict(), "train_seconds": round(train_seconds, 2), "windows_seen": seen_total,
                "epochs": epochs_total, "phases": phases, "converged": converged,
                "early_stopping": "valid macro AP", "max_seconds": max_seconds,
                "pos_weight_power": pos_weight_power,
                "valid_macro": valid_m["macro"], "test_macro": test_m["macro"] if test_m else None,
                "test_micro": test_m["micro"] if test_m else None}
        if init is not None:
            meta["continued_from"] = {"checkpoint": str(init), "phases": len(prev_phases)}
        ckpt = save_checkpoint(out, net, model_name=model, task=TASK, hparams=hp, meta=meta)
    return {"net": net, "thresholds": thr, "train": res.as_dict(), "train_seconds": train_seconds,
            "windows_seen": res.samples_seen, "valid": valid_m, "test": test_m, "test_probs": p_test,
            "checkpoint": ckpt, "hparams": hp, "model": model, "phase": phase, "phases": phases,
            "epochs_total": epochs_total, "windows_seen_total": seen_total, "converged": converged}


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
