"""Training and prediction of the family CNNs through :func:`tfscope.train.fit`, plus the KNN+CNN ensemble.

Thesis setting: Adam, lr 1e-3, weight decay 1e-3, softmax cross-entropy, early stopping with patience 7 on a
validation split (here a stratified 10% of the training fold). ``tfscope.train.fit`` uses AdamW (decoupled weight
decay), the one optimiser of the package.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoint import save_checkpoint
from ..train import fit, predict
from .data import pad_batch
from .model import FamilyCNN

PAD_LENGTH = 40  # >= longest JASPAR 2024 motif (33) plus room for shifts


def ce_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy of logits ``(N, C)`` and integer labels ``(N,)``."""
    return F.cross_entropy(logits, y.long())


def make_crop_augment(*, min_fraction: float = 0.6, min_width: int = 5, p_crop: float = 0.5, seed: int = 0):
    """Augmentation for zero-padded ``(N, 4, L)`` batches: with probability ``p_crop`` keep a random contiguous
    sub-motif (at least ``min_fraction`` of the columns and ``min_width`` columns), then place the (cropped) motif at a
    random offset in the window (random padding). Motif columns are found as columns with a non-zero sum."""
    g = torch.Generator().manual_seed(seed)

    def augment(x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x)
        L = x.shape[-1]
        present = x.sum(1) > 0  # (N, L)
        for i in range(x.shape[0]):
            cols = torch.nonzero(present[i]).flatten()
            if len(cols) == 0:
                continue
            a, b = int(cols[0]), int(cols[-1]) + 1
            w = b - a
            if w > min_width and torch.rand(1, generator=g).item() < p_crop:
                lo = max(min_width, int(np.ceil(min_fraction * w)))
                nw = int(torch.randint(lo, w + 1, (1,), generator=g))
                a = a + int(torch.randint(0, w - nw + 1, (1,), generator=g))
                w = nw
            off = int(torch.randint(0, L - w + 1, (1,), generator=g))
            out[i, :, off:off + w] = x[i, :, a:a + w]
        return out

    return augment


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, valid) with ``fraction`` of each class (at least one) in valid."""
    rng = np.random.default_rng(seed)
    tr, va = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = max(1, int(round(fraction * len(idx))))
        va += list(idx[:k])
        tr += list(idx[k:])
    return np.array(sorted(tr)), np.array(sorted(va))


def train_cnn(pfms: list[np.ndarray], labels: np.ndarray, n_classes: int, *, hparams: dict | None = None,
              augment: bool = False, epochs: int = 200, patience: int = 7, lr: float = 1e-3,
              weight_decay: float = 1e-3, batch_size: int = 32, valid_fraction: float = 0.1, seed: int = 0,
              verbose: bool = False, max_seconds: float | None = None, device: str = "auto"):
    """Train a :class:`FamilyCNN` on probability matrices (on ``device``: ``auto`` = CUDA when available; the
    returned model is on CPU).

    Parameters
    ----------
    pfms : list of ndarray (4, L_i)
    labels : ndarray (N,) of int in ``[0, n_classes)``
    hparams : dict, optional
        FamilyCNN keyword arguments (default: the thesis architecture).
    augment : bool
        Sub-motif crop + random padding augmentation (:func:`make_crop_augment`); the thesis uses none.

    Returns
    -------
    (model, TrainResult)
    """
    hp = {"n_classes": n_classes, **(hparams or {})}
    torch.manual_seed(seed)
    model = FamilyCNN(**hp)
    x = pad_batch(pfms, PAD_LENGTH)
    y = np.asarray(labels, dtype=np.int64)
    tr, va = stratified_split(y, valid_fraction, seed)
    res = fit(model, (x[tr], y[tr]), (x[va], y[va]), loss_fn=ce_loss, epochs=epochs, batch_size=batch_size, lr=lr,
              weight_decay=weight_decay, patience=patience, seed=seed, verbose=verbose, desc="family-cnn",
              max_seconds=max_seconds, augment=make_crop_augment(seed=seed) if augment else None, device=device)
    model.cpu()
    model.hparams = hp
    return model, res


def predict_cnn(model, pfms: list[np.ndarray]) -> np.ndarray:
    """Class probabilities ``(N, n_classes)`` (softmax) for probability matrices ``(4, L_i)``."""
    return predict(model, pad_batch(pfms, PAD_LENGTH), batch_size=1024, activation="softmax")


def ensemble_proba(probas: list[np.ndarray], weights=None) -> np.ndarray:
    """Weighted mean of class-probability matrices ``(N, C)`` (soft voting)."""
    w = np.ones(len(probas)) if weights is None else np.asarray(weights, dtype=float)
    out = sum(wi * p for wi, p in zip(w, probas)) / w.sum()
    return out


def train_cnn_checkpoint(ds, out, *, augment: bool = False, epochs: int = 200, seed: int = 0, threads: int = 1,
                         verbose: bool = True, device: str = "auto") -> dict:
    """Train the thesis CNN on all motifs of ``ds`` (a :class:`~tfscope.tfclass.data.FamilyDataset`) and save it as
    a ``family_cnn`` checkpoint in the directory ``out`` (``tfscope tfclass train --model cnn``; ``threads``: torch
    intra-op threads). Returns a summary: ``model``, ``motifs``, ``classes``, ``checkpoint``, ``epochs_run``,
    ``best_epoch`` (1-based)."""
    torch.set_num_threads(threads)
    net, res = train_cnn(ds.pfms, ds.labels, len(ds.classes), augment=augment, epochs=epochs, seed=seed,
                         verbose=verbose, device=device)
    save_checkpoint(out, net, model_name="family_cnn", task="family", hparams=net.hparams,
                    meta={"classes": ds.classes, "release": ds.release, "augment": augment,
                          "epochs_run": len(res.train_loss), "best_epoch": res.best_epoch})
    return {"model": "cnn", "motifs": len(ds), "classes": ds.classes, "checkpoint": str(out),
            "epochs_run": len(res.train_loss), "best_epoch": res.best_epoch + 1}
