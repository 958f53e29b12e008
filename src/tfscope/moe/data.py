"""DeepBind-format TFBS data (ENCODE ChIP-seq peaks, Alipanahi et al. 2015) for the mixture-of-experts task.

A DeepBind file is a (gzipped) tab-separated table with the header ``FoldID EventID seq Bound``: one 101-nt
sequence per line and a 0/1 binding label. The lab-rasool/TFBS training files (arXiv 2507.09754) hold positives
only; negatives are made by a seeded dinucleotide shuffle of each positive
(:func:`tfscope.shuffle.dinucleotide_shuffle`), as in that paper.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.atomic import read_lines
from ..sequence import invalid_letter

DEEPBIND_COLUMNS = ["FoldID", "EventID", "seq", "Bound"]
SEQ_LEN = 101  # DeepBind ENCODE sequence length


def read_deepbind(path, *, length: int | None = None) -> dict[str, np.ndarray]:
    """Read a DeepBind-format table (``.seq``/``.tsv``, optionally ``.gz``).

    Parameters
    ----------
    path : str or Path
        Tab-separated file whose first non-empty line is the header ``FoldID EventID seq Bound``.
    length : int, optional
        Required sequence length (e.g. 101); None accepts any length >= 1.

    Returns
    -------
    dict
        ``fold`` (str array), ``event`` (str array), ``seq`` (str array, upper case, U -> T),
        ``bound`` (int8 array of 0/1), one entry per data line.

    Raises
    ------
    InputError
        Missing file, wrong header, wrong column count, a letter outside the IUPAC DNA alphabet, a wrong length,
        a ``Bound`` other than 0/1, or no data lines; the message names the file and the 1-based line.
    """
    cols: dict[str, list] = {"fold": [], "event": [], "seq": [], "bound": []}
    header = False
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        parts = line.split("\t")
        if not header:
            if [p.strip() for p in parts] != DEEPBIND_COLUMNS:
                raise InputError(f"header must be {' '.join(DEEPBIND_COLUMNS)!r} (tab-separated), got {line[:60]!r}",
                                 str(path), lineno)
            header = True
            continue
        if len(parts) != 4:
            raise InputError(f"expected 4 tab-separated columns, got {len(parts)}", str(path), lineno)
        fold, event, seq, bound = (p.strip() for p in parts)
        seq = seq.upper().replace("U", "T")
        if not seq:
            raise InputError("empty sequence", str(path), lineno)
        bad = invalid_letter(seq)
        if bad >= 0:
            raise InputError(f"invalid DNA letter {seq[bad]!r} at position {bad + 1}", str(path), lineno)
        if length is not None and len(seq) != length:
            raise InputError(f"sequence length {len(seq)}, expected {length}", str(path), lineno)
        if bound not in ("0", "1"):
            raise InputError(f"Bound must be 0 or 1, got {bound!r}", str(path), lineno)
        cols["fold"].append(fold)
        cols["event"].append(event)
        cols["seq"].append(seq)
        cols["bound"].append(int(bound))
    if not header:
        raise InputError("empty file (no DeepBind header)", str(path))
    if not cols["seq"]:
        raise InputError("no data lines after the header", str(path))
    return {"fold": np.array(cols["fold"]), "event": np.array(cols["event"]), "seq": np.array(cols["seq"]),
            "bound": np.array(cols["bound"], dtype=np.int8)}


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
    from ..shuffle import dinucleotide_shuffle

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
