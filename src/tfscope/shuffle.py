"""Dinucleotide-preserving shuffles (negatives for TFBS tasks), delegated to tangermeme."""

from __future__ import annotations

import numpy as np
import torch

from .sequence import decode, one_hot


def dinucleotide_shuffle(seqs: list[str], *, seed: int = 0) -> list[str]:
    """Return one dinucleotide-shuffled copy of each sequence (tangermeme ``ersatz.dinucleotide_shuffle``).

    Each output keeps the input's dinucleotide counts exactly (Altschul-Erickson Euler-path shuffle).
    Ambiguous letters (N) are not allowed by the shuffle: they are replaced by a seeded random base first.

    Parameters
    ----------
    seqs : list of str
        DNA sequences (any length >= 2).
    seed : int
        Random seed; the same seed gives the same shuffles.

    Returns
    -------
    list of str
        Shuffled sequences, same lengths and order.
    """
    from tangermeme.ersatz import dinucleotide_shuffle as _tm_shuffle

    rng = np.random.default_rng(seed)
    out: list[str | None] = [None] * len(seqs)
    by_len: dict[int, list[int]] = {}
    for i, s in enumerate(seqs):
        by_len.setdefault(len(s), []).append(i)
    for L, idx in by_len.items():
        x = one_hot([seqs[i] for i in idx], length=L)
        empty = x.sum(1) == 0
        if empty.any():  # fill N positions with random bases
            r = rng.integers(0, 4, size=empty.sum())
            n_i, pos = np.nonzero(empty)
            x[n_i, r, pos] = 1.0
        xs = _tm_shuffle(torch.from_numpy(x), n=1, random_state=int(rng.integers(2**31 - 1)))
        xs = xs[:, 0].numpy()
        for j, s in zip(idx, decode(xs)):
            out[j] = s
    return out  # type: ignore[return-value]
