"""Two-stage mixture-of-experts training and MC-dropout evaluation (arXiv 2507.09754).

Stage 1: one :class:`~tfscope.moe.models.DeepBindExpert` per TF on its positives vs dinucleotide shuffles.
Stage 2: the experts are frozen; gate + head of :class:`~tfscope.moe.models.MixtureOfExperts` are trained on the
pooled training data of all expert TFs (on cached expert embeddings, which is exact because frozen experts run in
eval mode). Optional stage 3 (not in the paper): unfreeze and fine-tune everything at a low learning rate.
All training goes through :func:`tfscope.train.fit`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..sequence import one_hot
from ..train import fit, seed_everything
from .models import DeepBindExpert, EmbeddingMoE, MixtureOfExperts


def bce_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on logits ``(N,)`` vs 0/1 labels ``(N,)``."""
    return nn.functional.binary_cross_entropy_with_logits(out, y.float())


def rc_augment(seed: int = 0):
    """Batch augmentation: reverse-complement a random half of the one-hot sequences ``(B, 4, L)``."""
    g = torch.Generator().manual_seed(seed)

    def aug(xb: torch.Tensor) -> torch.Tensor:
        m = torch.rand(len(xb), generator=g) < 0.5
        xb = xb.clone()
        xb[m] = torch.flip(xb[m], dims=(1, 2))
        return xb

    return aug


def _split(n: int, valid_fraction: float, seed: int):
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    nv = int(round(n * valid_fraction))
    return order[nv:], order[:nv]


def train_expert(seqs, y, *, hparams: dict | None = None, epochs: int = 8, batch_size: int = 128, lr: float = 1e-3,
                 weight_decay: float = 1e-4, valid_fraction: float = 0.1, patience: int = 2, seed: int = 0,
                 augment_rc: bool = False, max_seconds: float | None = None, verbose: bool = False,
                 desc: str = "expert", length: int = 101, device: str = "auto") -> tuple[DeepBindExpert, dict]:
    """Stage 1: train one DeepBind-style expert on sequences ``seqs`` (list of str) and labels ``y`` (0/1, ``(N,)``).

    A seeded ``valid_fraction`` is held out for early stopping; ``device`` as in :func:`tfscope.train.fit`.
    Returns ``(model in eval mode on CPU, fit history)``.
    """
    seed_everything(seed)
    model = DeepBindExpert(**(hparams or {}))
    x = one_hot(list(seqs), length=length)
    y = np.asarray(y, dtype=np.float32)
    tr, va = _split(len(x), valid_fraction, seed)
    res = fit(model, (x[tr], y[tr]), (x[va], y[va]) if len(va) else None, loss_fn=bce_loss, epochs=epochs,
              batch_size=batch_size, lr=lr, weight_decay=weight_decay, patience=patience, seed=seed, verbose=verbose,
              desc=desc, max_seconds=max_seconds, augment=rc_augment(seed) if augment_rc else None, device=device)
    return model.cpu(), res.as_dict()


@torch.no_grad()
def expert_embeddings(moe: MixtureOfExperts, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Concatenated frozen-expert embeddings ``(N, D)`` of one-hot ``x`` ``(N, 4, L)`` (experts in eval mode)."""
    moe.experts.eval()
    out = [moe.embed_experts(torch.as_tensor(x[i:i + batch_size])).numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, sum(moe.dims)), np.float32)


def train_moe(experts: list[DeepBindExpert], expert_hparams: list[dict], seqs, y, *, names=None,
              gate_hidden: int = 64, head_hidden: int = 64, dropout: float = 0.3, epochs: int = 10,
              batch_size: int = 256, lr: float = 1e-3, weight_decay: float = 1e-4, valid_fraction: float = 0.1,
              patience: int = 3, seed: int = 0, finetune_epochs: int = 0, finetune_lr: float = 1e-4,
              augment_rc: bool = False, verbose: bool = False, length: int = 101,
              device: str = "auto") -> tuple[MixtureOfExperts, dict]:
    """Stage 2 (and optional stage 3) of MoE training.

    Parameters
    ----------
    experts : list of trained :class:`DeepBindExpert`, with their ``expert_hparams``.
    seqs, y : training sequences (list of str) and 0/1 labels (pooled data of the expert TFs).
    finetune_epochs : int
        Stage 3 (beyond the paper): epochs of end-to-end fine-tuning with unfrozen experts at ``finetune_lr``.
    device : where the gate/head (and stage 3) train, as in :func:`tfscope.train.fit`; the returned model is on CPU.

    Returns
    -------
    (MixtureOfExperts in eval mode, frozen again; dict of fit histories)
    """
    seed_everything(seed)
    moe = MixtureOfExperts(expert_hparams, gate_hidden=gate_hidden, head_hidden=head_hidden, dropout=dropout,
                           expert_names=names)
    moe.load_experts(experts)
    x = one_hot(list(seqs), length=length)
    y = np.asarray(y, dtype=np.float32)
    tr, va = _split(len(x), valid_fraction, seed)
    z = expert_embeddings(moe, x)
    hist = {}
    res = fit(EmbeddingMoE(moe), (z[tr], y[tr]), (z[va], y[va]), loss_fn=bce_loss, epochs=epochs,
              batch_size=batch_size, lr=lr, weight_decay=weight_decay, patience=patience, seed=seed, verbose=verbose,
              desc="moe-stage2", device=device)
    moe.cpu()
    hist["stage2"] = res.as_dict()
    if finetune_epochs:
        moe.set_frozen(False)
        res = fit(moe, (x[tr], y[tr]), (x[va], y[va]), loss_fn=bce_loss, epochs=finetune_epochs,
                  batch_size=batch_size, lr=finetune_lr, weight_decay=weight_decay, patience=patience, seed=seed + 1,
                  verbose=verbose, desc="moe-finetune", augment=rc_augment(seed) if augment_rc else None,
                  device=device)
        moe.cpu()
        hist["stage3"] = res.as_dict()
        moe.set_frozen(True)
    moe.eval()
    return moe, hist


@torch.no_grad()
def mc_dropout_predict(model: nn.Module, x: np.ndarray, *, trials: int = 30, seed: int = 0,
                       batch_size: int = 1024) -> np.ndarray:
    """Monte Carlo dropout (Gal & Ghahramani 2016): ``trials`` stochastic forward passes with dropout active.

    For a :class:`MixtureOfExperts` the frozen experts are deterministic (eval mode, as in training) and dropout is
    sampled in gate and head, so expert embeddings are computed once. For a :class:`DeepBindExpert` dropout sits
    only after pooling, so pooled convolution features are computed once. For any other model every
    ``nn.Dropout`` is active.

    Parameters
    ----------
    model : nn.Module with logits ``(N,)``.
    x : one-hot ``(N, 4, L)``.

    Returns
    -------
    np.ndarray ``(trials, N)`` of binding probabilities.
    """
    torch.manual_seed(seed)
    if isinstance(model, MixtureOfExperts):
        z = torch.as_tensor(expert_embeddings(model, x, batch_size))
        model.train()
        f, data = model.from_embeddings, z
    elif isinstance(model, DeepBindExpert):  # convolutions are deterministic: cache the pooled features
        model.eval()
        with torch.no_grad():
            data = torch.cat([model.pooled(torch.as_tensor(x[i:i + batch_size]))
                              for i in range(0, len(x), batch_size)])
        model.train()
        f = model.from_pooled
    else:
        model.train()
        f, data = model, torch.as_tensor(x)
    out = np.zeros((trials, len(x)), np.float32)
    for t in range(trials):
        for i in range(0, len(x), batch_size):
            out[t, i:i + batch_size] = torch.sigmoid(f(data[i:i + batch_size])).numpy()
    model.eval()
    return out


def mc_dropout_metrics(model: nn.Module, x: np.ndarray, y, *, trials: int = 30, seed: int = 0) -> dict:
    """AUROC and AUPRC of each MC-dropout trial (the paper reports their mean over 30 trials).

    Returns ``{"auroc": (trials,) array, "auprc": (trials,) array}``.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    p = mc_dropout_predict(model, x, trials=trials, seed=seed)
    y = np.asarray(y)
    return {"auroc": np.array([roc_auc_score(y, pt) for pt in p]),
            "auprc": np.array([average_precision_score(y, pt) for pt in p])}
