"""DeepBind-format TFBS data (ENCODE ChIP-seq peaks, Alipanahi et al. 2015) for the mixture-of-experts task.

A DeepBind file is a (gzipped) tab-separated table with the header ``FoldID EventID seq Bound``: one 101-nt
sequence per line and a 0/1 binding label (parsed by :func:`tfscope.io.deepbind.read_deepbind`). The lab-rasool/TFBS training files (arXiv 2507.09754) hold positives
only; negatives are made by a seeded dinucleotide shuffle of each positive
(:func:`tfscope.shuffle.dinucleotide_shuffle`), as in that paper.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.deepbind import read_deepbind
from ..shuffle import dinucleotide_shuffle

SEQ_LEN = 101  # DeepBind ENCODE sequence length


def fit_length(seqs, length: int = SEQ_LEN) -> list[str]:
    """Centre-crop or symmetrically N-pad each sequence to ``length`` (extra letter on the right).

    Used to put 100-nt tfbs-snr windows and 101-nt DeepBind sequences on one length; N pads become zero columns
    in :func:`tfscope.sequence.one_hot`.
    """
    out = []
    for s in seqs:
        d = length - len(s)
        if d > 0:
            s = "N" * (d // 2) + s + "N" * (d - d // 2)
        elif d < 0:
            a = (-d) // 2
            s = s[a:a + length]
        out.append(s)
    return out


def with_shuffled_negatives(seqs, *, seed: int = 0, ratio: int = 1) -> tuple[list[str], np.ndarray]:
    """Positives plus ``ratio`` seeded dinucleotide-shuffled negatives per positive (the paper's training negatives).

    Returns
    -------
    (seqs, labels) : (list of str of length N*(1+ratio), int8 array, 1 for the given sequences, 0 for shuffles)
    """
    seqs = list(seqs)

    neg: list[str] = []
    for r in range(ratio):
        neg += dinucleotide_shuffle(seqs, seed=seed + 1000003 * r)
    y = np.concatenate([np.ones(len(seqs), np.int8), np.zeros(len(neg), np.int8)])
    return seqs + neg, y


def load_training_set(paths, *, seed: int = 0, length: int = SEQ_LEN, max_positives: int | None = None,
                      ) -> tuple[list[str], np.ndarray]:
    """Training sequences of one or more DeepBind files: their ``Bound == 1`` rows plus seeded dinucleotide
    shuffles as negatives (rows with ``Bound == 0`` in the file are kept as extra negatives).

    ``max_positives`` subsamples positives (seeded) per file. Returns ``(seqs, labels)``.
    """
    rng = np.random.default_rng(seed)
    seqs: list[str] = []
    ys: list[np.ndarray] = []
    for i, p in enumerate([paths] if isinstance(paths, (str, Path)) else paths):
        t = read_deepbind(p)
        pos = t["seq"][t["bound"] == 1]
        if max_positives is not None and len(pos) > max_positives:
            pos = pos[np.sort(rng.choice(len(pos), max_positives, replace=False))]
        s, y = with_shuffled_negatives(fit_length(pos, length), seed=seed + 7919 * i)
        extra = fit_length(t["seq"][t["bound"] == 0], length)
        seqs += s + extra
        ys += [y, np.zeros(len(extra), np.int8)]
    return seqs, np.concatenate(ys)


def tf_name(path) -> str:
    """TF name of a DeepBind ENCODE file name (``ARID3A_HepG2_..._AC.seq.gz`` -> ``ARID3A``)."""
    return Path(path).name.split("_")[0].split(".")[0]
