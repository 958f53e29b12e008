"""Training the motif-conditioned network on the zoo TFs' labelled candidates, through tfscope's one loop.

Examples are the candidates (:func:`tfscope.anytf.candidates.find_candidates`, p < 1e-3, both strands) of each zoo
TF's JASPAR 2024 matrix on genome windows (:mod:`tfscope.anytf.data`), labelled 1 when they overlap a true site of the
TF. Leave-group-out models drop every TF of the held-out paralog groups (the zoo's ``meta.groups``) from training
*and* from the validation set that picks the epoch, so no choice of theirs saw the held-out TFs. Training runs in
:func:`tfscope.train.fit` and saves with :func:`tfscope.checkpoint.save_checkpoint` (task ``anytf``).
"""

from __future__ import annotations

import numpy as np

from .candidates import (CONTEXT, candidate_features, contexts, find_candidates, score_range)
from .motifs import JASPAR_RELEASE, Motif, jaspar_motifs, motif_features, name_key, padded_matrices
from ..errors import InputError
from ..io.jaspar import jaspar_motif
from ..sequence import one_hot
from .data import match_sites
from ..train import fit, predict
from .model import DEFAULT_HPARAMS, MotifConditionedNet
from ..checkpoint import save_checkpoint

#: registry name and task of the checkpoint
MODEL_NAME, TASK = "motif-conditioned", "anytf"


def zoo_motifs(tfs) -> list[Motif]:
    """The JASPAR 2024 matrix of each zoo TF: the one whose matrix ID has the base of the TF's JASPAR 2022 matrix
    (the sites' source), else the TF's latest 2024 matrix.

    Raises
    ------
    InputError
        A TF with no JASPAR 2024 CORE vertebrate matrix.
    """

    allm = jaspar_motifs(JASPAR_RELEASE)
    out = []
    for tf in tfs:
        cand = [m for m in allm if name_key(m.name) == name_key(tf)]
        if not cand:
            raise InputError(f"no {JASPAR_RELEASE} CORE vertebrate matrix for {tf!r}")
        base = jaspar_motif(tf).matrix_id.split(".")[0]
        same = [m for m in cand if m.matrix_id.split(".")[0] == base]
        m = (same or cand)[-1]
        out.append(Motif(m.matrix_id, tf, m.probs, m.source))
    return out


def labelled_candidates(windows, motifs: list[Motif], *, with_context: bool = True) -> dict:
    """Candidates of ``motifs`` (one per TF, ``Motif.name`` = the TF) on ``windows`` with labels and features.

    Returns
    -------
    dict of arrays (n candidates): ``motif``, ``win``, ``start``, ``end``, ``strand``, ``score``, ``pvalue``,
    ``feats`` (n, N_SCORE_FEATURES), ``label`` (overlaps a true site of the TF), ``ctx`` (n, 4, 101) uint8 (with
    ``with_context``)
    """

    x = one_hot(windows.seqs, length=windows.length)
    probs = [m.probs for m in motifs]
    c = find_candidates(probs, x)
    lo, hi = score_range(probs)
    feats = candidate_features(c, lo, hi)
    label = np.zeros(len(c), bool)
    z = np.zeros(0, np.int64)
    for i, m in enumerate(motifs):
        sel = np.flatnonzero(c.motif == i)
        matched, _ = match_sites(c.seq[sel], c.start[sel], c.end[sel], windows.sites.get(m.name, (z, z, z)),
                                 windows.length)
        label[sel] = matched
    out = {"motif": c.motif, "win": c.seq, "start": c.start, "end": c.end, "strand": c.strand, "score": c.score,
           "pvalue": c.pvalue, "feats": feats, "label": label}
    if with_context:
        out["ctx"] = contexts(x, c, CONTEXT)
    return out


def pack_inputs(ctx: np.ndarray, motif_idx: np.ndarray, motifs: list[Motif], feats: np.ndarray) -> np.ndarray:
    """The network's packed training input ``(n, F)`` float16 (:meth:`MotifConditionedNet.forward`)."""
    mats = padded_matrices(motifs).reshape(len(motifs), -1)
    mf = motif_features(motifs)
    return np.concatenate([ctx.reshape(len(ctx), -1).astype(np.float16), mats[motif_idx].astype(np.float16),
                           mf[motif_idx].astype(np.float16), feats.astype(np.float16)], 1)


def train_motif_model(train: dict, valid: dict, motifs: list[Motif], keep_tfs, *, seed: int = 0, epochs: int = 8,
                      max_seconds: float | None = None, lr: float = 2e-3, batch_size: int = 256,
                      hparams: dict | None = None, verbose: bool = True):
    """Train a :class:`tfscope.anytf.model.MotifConditionedNet` on the candidates of ``keep_tfs`` only.

    Parameters
    ----------
    train, valid : :func:`labelled_candidates` of training windows and of validation windows (chr7)
    motifs : the matrices the candidates index (one per TF)
    keep_tfs : TFs whose candidates train and validate (a leave-group-out model leaves a group out)
    seed, epochs, max_seconds, lr, batch_size : :func:`tfscope.train.fit` settings

    Returns
    -------
    (model, TrainResult)
    """
    import torch

    keep = np.array([m.name in set(keep_tfs) for m in motifs])
    tr, va = keep[train["motif"]], keep[valid["motif"]]
    xt = pack_inputs(train["ctx"][tr], train["motif"][tr], motifs, train["feats"][tr])
    yt = train["label"][tr].astype(np.float32)
    xv = pack_inputs(valid["ctx"][va], valid["motif"][va], motifs, valid["feats"][va])
    yv = valid["label"][va].astype(np.float32)
    model = MotifConditionedNet(**(hparams or DEFAULT_HPARAMS))
    loss = torch.nn.BCEWithLogitsLoss()
    res = fit(model, (xt, yt), (xv, yv), loss_fn=lambda out, y: loss(out, y), epochs=epochs, batch_size=batch_size,
              lr=lr, weight_decay=1e-4, patience=2, seed=seed, device="cpu", verbose=verbose,
              max_seconds=max_seconds, desc="anytf")
    return model, res


def score_candidates(model, ctx: np.ndarray, motif_idx: np.ndarray, motifs: list[Motif], feats: np.ndarray,
                     *, batch_size: int = 4096) -> np.ndarray:
    """Probabilities ``(n,)`` of labelled candidates (packed inputs through :meth:`forward`)."""

    out = np.zeros(len(ctx), np.float32)
    for i in range(0, len(ctx), 50_000):
        x = pack_inputs(ctx[i:i + 50_000], motif_idx[i:i + 50_000], motifs, feats[i:i + 50_000])
        out[i:i + 50_000] = predict(model, x, batch_size=batch_size, device="cpu")
    return out


def save_motif_model(path, model, *, meta: dict, hparams: dict | None = None):
    """Write the network as a tfscope checkpoint (task ``anytf``; ``meta`` holds calibration and provenance)."""

    return save_checkpoint(path, model, model_name=MODEL_NAME, task=TASK, hparams=hparams or dict(DEFAULT_HPARAMS),
                           meta=meta)
