"""DNA sequence contract: one-hot ``(N, 4, L)`` float32, alphabet order A, C, G, T.

This is the single place where DNA letters become tensors. ``N`` and the other IUPAC ambiguity codes
become all-zero columns; any other letter is an error.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

ALPHABET = "ACGT"
IUPAC_DNA = set("ACGTNRYSWKMBDHVU")  # U accepted as T (RNA input)
_LUT = np.full(256, -1, dtype=np.int8)
for _i, _c in enumerate(ALPHABET):
    _LUT[ord(_c)] = _i
    _LUT[ord(_c.lower())] = _i
_LUT[ord("U")] = 3
_LUT[ord("u")] = 3
_VALID = np.zeros(256, dtype=bool)
for _c in IUPAC_DNA:
    _VALID[ord(_c)] = True
    _VALID[ord(_c.lower())] = True
_COMPLEMENT = str.maketrans("ACGTNacgtnRYSWKMBDHVryswkmbdhv", "TGCANtgcanYRSWMKVHDByrswmkvhdb")


def invalid_letter(seq: str) -> int:
    """Return the 0-based index of the first letter that is not an IUPAC DNA code, or -1 if all are valid."""
    b = np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)
    bad = np.flatnonzero(~_VALID[b])
    return int(bad[0]) if bad.size else -1


def validate_dna(seq: str, *, path: str | None = None, line: int | None = None, length: int | None = None) -> str:
    """Check one DNA sequence and return it upper-cased.

    Raises
    ------
    InputError
        If ``seq`` is empty, holds a non-IUPAC letter, or differs from ``length`` (when given).
    """
    if not seq:
        raise InputError("empty sequence", path, line)
    bad = invalid_letter(seq)
    if bad >= 0:
        raise InputError(f"invalid DNA letter {seq[bad]!r} at position {bad + 1} (expected A/C/G/T/N or IUPAC)",
                         path, line)
    if length is not None and len(seq) != length:
        raise InputError(f"sequence has length {len(seq)}, expected {length}", path, line)
    return seq.upper()


def one_hot(seqs, length: int | None = None) -> np.ndarray:
    """One-hot encode DNA sequences.

    Parameters
    ----------
    seqs : str or sequence of str
        Sequences over A/C/G/T (any case); N and IUPAC ambiguity codes become all-zero columns.
    length : int, optional
        Pad (with zero columns, on the right) or require this length. Sequences longer than ``length`` raise.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(N, 4, L)`` in A, C, G, T order.

    Raises
    ------
    InputError
        On letters that are not IUPAC DNA codes or sequences longer than ``length``.
    """
    if isinstance(seqs, str):
        seqs = [seqs]
    seqs = list(seqs)
    L = length if length is not None else (max((len(s) for s in seqs), default=0))
    out = np.zeros((len(seqs), 4, L), dtype=np.float32)
    for i, s in enumerate(seqs):
        if len(s) > L:
            raise InputError(f"sequence {i} has length {len(s)} > {L}")
        b = np.frombuffer(s.encode("ascii", errors="replace"), dtype=np.uint8)
        if not _VALID[b].all():
            bad = int(np.flatnonzero(~_VALID[b])[0])
            raise InputError(f"sequence {i}: invalid DNA letter {s[bad]!r} at position {bad + 1}")
        idx = _LUT[b]
        pos = np.flatnonzero(idx >= 0)
        out[i, idx[pos], pos] = 1.0
    return out


def decode(x: np.ndarray) -> list[str]:
    """Inverse of :func:`one_hot` for ``(N, 4, L)`` arrays; all-zero columns become ``N``."""
    x = np.asarray(x)
    idx = x.argmax(1)
    letters = np.array(list(ALPHABET))[idx]
    letters[x.sum(1) == 0] = "N"
    return ["".join(row) for row in letters]


def reverse_complement(seq: str) -> str:
    """Reverse complement of an IUPAC DNA string (case kept)."""
    return seq.translate(_COMPLEMENT)[::-1]


def reverse_complement_one_hot(x):
    """Reverse complement of one-hot ``(N, 4, L)`` arrays or tensors (A<->T, C<->G, positions reversed)."""
    return x[..., ::-1, ::-1].copy() if isinstance(x, np.ndarray) else x.flip(-1).flip(-2)
