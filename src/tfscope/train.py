"""The one training loop of tfscope (every model of every task trains here).

Seeded, mini-batch Adam(W), early stopping on validation loss (or on a validation score, ``score_fn``) with the best
weights restored, an optional per-epoch learning-rate schedule, a tqdm progress bar, an optional wall-time budget and
an optional per-epoch checkpoint callback.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .device import autocast, resolve_device  # noqa: F401  (re-exported: one release, for callers of train)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch RNGs."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    """What :func:`fit` did.

    Per-epoch losses (and scores, with ``score_fn``), the learning rate of each epoch, the best epoch (-1: no epoch beat
    ``score_baseline``, the initial weights were kept), wall time in seconds, training samples seen, why training
    stopped (``stop_reason``: ``"patience"``, ``"time"`` or ``"epochs"``) and whether the last epoch was cut short by
    the time budget (``partial_epoch``).
    """

    train_loss: list[float] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    stopped_early: bool = False
    samples_seen: int = 0
    valid_score: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    stop_reason: str = "epochs"
    partial_epoch: bool = False
    final_lr: float = float("nan")

    def as_dict(self) -> dict:
        """Return the history as a JSON-ready dict (what checkpoints' ``meta.history`` store)."""
        d = {"train_loss": self.train_loss, "valid_loss": self.valid_loss, "best_epoch": self.best_epoch,
             "seconds": round(self.seconds, 2), "stopped_early": self.stopped_early,
             "samples_seen": self.samples_seen, "stop_reason": self.stop_reason, "partial_epoch": self.partial_epoch,
             "lr": self.lr, "final_lr": self.final_lr}
        if self.valid_score:
            d["valid_score"] = self.valid_score
        return d


def _batches(n: int, batch_size: int, rng: np.random.Generator | None):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


def _to_tensor(a, device):
    return a.to(device) if isinstance(a, torch.Tensor) else torch.as_tensor(a).to(device)


def fit(model: nn.Module, train: Sequence, valid: Sequence | None, *,
        loss_fn: Callable[..., torch.Tensor], epochs: int = 10, batch_size: int = 128, lr: float = 1e-3,
        weight_decay: float = 0.0, patience: int = 3, seed: int = 0, device: str = "auto",
        verbose: bool = True, desc: str = "train", max_seconds: float | None = None,
        on_epoch_end: Callable[[int, nn.Module, TrainResult], None] | None = None,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        parameters=None, amp: str | None = None, score_fn: Callable[[nn.Module], float] | None = None,
        score_baseline: float | None = None, min_delta: float = 0.0,
        scheduler: Callable[[torch.optim.Optimizer], object] | None = None) -> TrainResult:
    """Train ``model`` in place.

    Parameters
    ----------
    model : nn.Module
        Any tfscope model.
    train, valid : tuple of arrays
        ``(x, target1, ...)`` with equal first dimension; numpy arrays or tensors. ``valid`` may be None
        (no early stopping then).
    loss_fn : callable
        ``loss_fn(model_output, *targets) -> scalar tensor``.
    epochs, batch_size, lr, weight_decay : training settings (AdamW).
    patience : int
        Stop after this many epochs without a better validation loss (or score, with ``score_fn``); the best
        weights are restored.
    seed : int
        Seeds initialisation-independent randomness (batch order, dropout).
    max_seconds : float, optional
        Wall-time budget; training stops at the first batch that crosses it (the partial epoch is still
        validated, and the best weights are restored as usual).
    on_epoch_end : callable, optional
        Called as ``on_epoch_end(epoch, model, result)`` (e.g. to write a resumable checkpoint).
    augment : callable, optional
        Applied to each training input batch.
    parameters : iterable, optional
        Parameters to optimise (default: all of ``model``'s that require grad).
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (:func:`resolve_device`); batches are moved there, the model
        stays there after training.
    amp : {None, "bf16", "fp16"}
        Mixed-precision autocast on CUDA (ignored on CPU). fp16 uses a gradient scaler.
    score_fn : callable, optional
        ``score_fn(model) -> float``, higher is better (e.g. a validation macro AP), called after every epoch with
        the model in eval mode; when given, it replaces the validation loss for early stopping and for choosing the
        best weights (the validation loss is still recorded when ``valid`` is given). Scores go to
        ``result.valid_score``.
    score_baseline : float, optional
        The score of the initial weights (e.g. of a checkpoint being continued): an epoch must beat it to count as
        an improvement, and when none does the initial weights are restored (``best_epoch = -1``).
    min_delta : float
        An improvement must exceed this (score or loss) to reset the patience counter.
    scheduler : callable, optional
        ``scheduler(optimizer) -> torch.optim.lr_scheduler`` object, stepped once after every epoch;
        ``ReduceLROnPlateau`` is stepped with the monitored value (the score with ``score_fn``, else the validation
        loss), so build it with ``mode="max"`` for a score. The learning rate of each epoch goes to ``result.lr``, the
        one after the last step to ``result.final_lr``.

    Returns
    -------
    TrainResult
    """
    from tqdm.auto import tqdm

    seed_everything(seed)
    rng = np.random.default_rng(seed)
    device = resolve_device(device)
    model.to(device)
    scaler = torch.amp.GradScaler("cuda") if amp == "fp16" and device.startswith("cuda") else None
    params = [p for p in (parameters if parameters is not None else model.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = scheduler(opt) if scheduler is not None else None
    plateau = isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)
    n = len(train[0])
    result = TrainResult()
    # the monitored value, always minimised: the validation loss, or minus the score
    best_loss, best_state, bad = math.inf, None, 0
    if score_fn is not None and score_baseline is not None:
        best_loss = -float(score_baseline)
        best_state = copy.deepcopy(model.state_dict())  # kept unless an epoch beats the baseline
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        result.lr.append(float(opt.param_groups[0]["lr"]))
        total, seen = 0.0, 0
        bar = tqdm(total=n, desc=f"{desc} epoch {epoch + 1}/{epochs}", unit="seq", disable=None if verbose else True,
                   leave=False, mininterval=1.0)
        for idx in _batches(n, batch_size, rng):
            xb = _to_tensor(train[0][idx], device)
            if augment is not None:
                xb = augment(xb)
            targets = [_to_tensor(t[idx], device) for t in train[1:]]
            with autocast(device, amp):
                loss = loss_fn(model(xb), *targets)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            total += loss.item() * len(idx)
            seen += len(idx)
            bar.update(len(idx))
            bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
            if max_seconds is not None and time.time() - t0 > max_seconds:
                result.partial_epoch = seen < n
                break  # budget spent mid-epoch: validate what we have, then stop below
        bar.close()
        result.samples_seen += seen
        result.train_loss.append(total / max(seen, 1))
        monitored = None
        if valid is not None and len(valid[0]):
            vloss = evaluate_loss(model, valid, loss_fn=loss_fn, batch_size=batch_size * 4, device=device)
            result.valid_loss.append(vloss)
            monitored = vloss
        if score_fn is not None:
            model.eval()
            score = float(score_fn(model))
            result.valid_score.append(score)
            monitored = -score
        if monitored is not None:
            if monitored < best_loss - max(min_delta, 1e-6):
                best_loss, bad, result.best_epoch = monitored, 0, epoch
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
        else:
            result.best_epoch = epoch
        if sched is not None:
            if plateau:
                if monitored is not None:
                    sched.step(-monitored if score_fn is not None else monitored)
            else:
                sched.step()
        if verbose:
            v = f" valid {result.valid_loss[-1]:.4f}" if result.valid_loss else ""
            v += f" score {result.valid_score[-1]:.4f}" if result.valid_score else ""
            print(f"[{desc}] epoch {epoch + 1}: train {result.train_loss[-1]:.4f}{v} ({time.time() - t0:.0f}s)",
                  flush=True)
        if on_epoch_end is not None:
            on_epoch_end(epoch, model, result)
        if monitored is not None and bad >= patience:
            result.stopped_early, result.stop_reason = True, "patience"
            break
        if max_seconds is not None and time.time() - t0 > max_seconds:
            result.stopped_early, result.stop_reason = True, "time"
            break
    result.final_lr = float(opt.param_groups[0]["lr"])  # after the last scheduler step (where a next phase starts)
    if best_state is not None:
        model.load_state_dict(best_state)
    result.seconds = time.time() - t0
    model.eval()
    return result


@torch.no_grad()
def evaluate_loss(model: nn.Module, data: Sequence, *, loss_fn, batch_size: int = 512, device: str = "auto") -> float:
    """Return the mean loss of ``model`` over ``data = (x, *targets)``.

    The model is put in eval mode and moved to ``device`` (:func:`tfscope.device.resolve_device`).
    """
    device = resolve_device(device)
    model.eval().to(device)
    total, n = 0.0, len(data[0])
    for idx in _batches(n, batch_size, None):
        out = model(_to_tensor(data[0][idx], device))
        total += float(loss_fn(out, *[_to_tensor(t[idx], device) for t in data[1:]])) * len(idx)
    return total / max(n, 1)


@torch.no_grad()
def predict(model: nn.Module, x, *, batch_size: int = 512, device: str | None = None,
            activation: str | None = "sigmoid", verbose: bool = False, amp: str | None = None) -> np.ndarray:
    """Run ``model`` in eval mode over ``x`` (array ``(N, ...)``) in batches.

    ``activation``: ``"sigmoid"``, ``"softmax"`` (last dim) or None (raw outputs). ``device``: where to run
    (:func:`resolve_device`; default: where the model's parameters already are). ``amp``: autocast on CUDA (see
    :func:`fit`). Returns a float32 numpy array.
    """
    from tqdm.auto import tqdm

    if device is None:
        p = next(model.parameters(), None)
        device = str(p.device) if p is not None else "cpu"
    device = resolve_device(device)
    model.eval().to(device)
    outs = []
    for i in tqdm(range(0, len(x), batch_size), disable=None if verbose else True, desc="predict", leave=False):
        with autocast(device, amp):
            o = model(_to_tensor(x[i:i + batch_size], device))
        if activation == "sigmoid":
            o = torch.sigmoid(o)
        elif activation == "softmax":
            o = torch.softmax(o, dim=-1)
        outs.append(o.float().cpu().numpy())
    return np.concatenate(outs) if outs else np.zeros((0,), dtype=np.float32)
