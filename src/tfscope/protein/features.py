"""Alignment-free composition features of protein sequences (numpy, vectorised).

* AAC: amino-acid composition, 20 frequencies.
* DPC: dipeptide composition, 400 frequencies (Bhasin & Raghava 2004).
* g-gap dipeptide composition: frequencies of residue pairs ``(a_i, a_{i+g+1})``, 400 per gap (Lin et al. 2014).
* Reduced-alphabet k-mers: conjoint-triad 7-letter alphabet {AGV}{ILFP}{YMTS}{HNQW}{RK}{DE}{C}
  (Shen et al., PNAS 2007); ``7**k`` frequencies (RAAC k-mers as in Li et al. 2024 use such reduced alphabets).

Each block is normalised to frequencies (sums to 1 per sequence; all-zero for sequences shorter than the
window). Non-standard letters (B, J, O, U, X, Z) are skipped: windows containing them are not counted.
"""

from __future__ import annotations

import itertools

import numpy as np

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
CONJOINT_TRIAD_GROUPS = ("AGV", "ILFP", "YMTS", "HNQW", "RK", "DE", "C")
#: byte -> column of AMINO_ACIDS (-1 for any other byte)
AA_INDEX = np.full(256, -1, dtype=np.int64)
for _i, _a in enumerate(AMINO_ACIDS):
    AA_INDEX[ord(_a)] = _i
_RED_INDEX = np.full(256, -1, dtype=np.int64)
for _i, _g in enumerate(CONJOINT_TRIAD_GROUPS):
    for _a in _g:
        _RED_INDEX[ord(_a)] = _i

DEFAULT_SPEC = {"aac": True, "dpc": True, "gaps": [1, 2, 3], "reduced_k": [3, 4]}


def encode(seq: str, reduced: bool = False) -> np.ndarray:
    """Integer codes of a sequence: 0..19 (or 0..6 for the reduced alphabet), -1 for other letters."""
    b = np.frombuffer(seq.upper().encode("ascii", "replace"), dtype=np.uint8)
    return (_RED_INDEX if reduced else AA_INDEX)[b]


def kmer_index(codes: np.ndarray, k: int, size: int, gap: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Index of the (gapped) k-mer starting at each position of integer ``codes`` (alphabet of ``size``; -1 =
    other letter).

    A gapped k-mer takes ``k`` residues ``gap + 1`` apart. Returns ``(idx, ok)``, both of length
    ``len(codes) - (k - 1) * (gap + 1)`` (empty if the sequence is shorter): ``idx`` in ``[0, size ** k)`` and
    ``ok`` False where the window holds a -1 code (its ``idx`` is then meaningless).
    """
    n = max(0, len(codes) - (k - 1) * (gap + 1))
    idx = np.zeros(n, dtype=np.int64)
    ok = np.ones(n, dtype=bool)
    for j in range(k):
        c = codes[j * (gap + 1): j * (gap + 1) + n]
        ok &= c >= 0
        idx = idx * size + np.where(c >= 0, c, 0)
    return idx, ok


def _kmer_freq(codes: np.ndarray, k: int, size: int, gap: int = 0) -> np.ndarray:
    """Frequencies of (gapped) k-mers over an alphabet of ``size``; windows with a -1 code are skipped."""
    out = np.zeros(size ** k, dtype=np.float64)
    idx, ok = kmer_index(codes, k, size, gap)
    if ok.any():
        out += np.bincount(idx[ok], minlength=size ** k)
        out /= ok.sum()
    return out


def aac(seq: str) -> np.ndarray:
    """Amino-acid composition, shape (20,), order :data:`AMINO_ACIDS`."""
    return _kmer_freq(encode(seq), 1, 20)


def dpc(seq: str, gap: int = 0) -> np.ndarray:
    """(g-gap) dipeptide composition, shape (400,); ``gap=0`` is the ordinary DPC."""
    return _kmer_freq(encode(seq), 2, 20, gap)


def reduced_kmers(seq: str, k: int = 3) -> np.ndarray:
    """Conjoint-triad reduced-alphabet k-mer composition, shape (7**k,)."""
    return _kmer_freq(encode(seq, reduced=True), k, 7)


def feature_names(spec: dict | None = None) -> list[str]:
    """Column names of :func:`composition_features` for ``spec`` (same order)."""
    spec = {**DEFAULT_SPEC, **(spec or {})}
    names = []
    if spec["aac"]:
        names += [f"aac_{a}" for a in AMINO_ACIDS]
    pairs = [a + b for a in AMINO_ACIDS for b in AMINO_ACIDS]
    if spec["dpc"]:
        names += [f"dpc_{p}" for p in pairs]
    for g in spec["gaps"]:
        names += [f"gap{g}_{p}" for p in pairs]
    for k in spec["reduced_k"]:

        names += ["red{}_{}".format(k, "".join(str(i) for i in t)) for t in itertools.product(range(7), repeat=k)]
    return names


def composition_features(seqs, spec: dict | None = None) -> np.ndarray:
    """Concatenated composition features.

    Parameters
    ----------
    seqs : sequence of str (protein, upper or lower case)
    spec : dict, optional
        ``aac`` (bool), ``dpc`` (bool), ``gaps`` (list of g >= 1 for g-gap DPC), ``reduced_k`` (list of k for the
        7-letter conjoint-triad alphabet). Default :data:`DEFAULT_SPEC`.

    Returns
    -------
    np.ndarray, shape (N, F) float32, columns named by :func:`feature_names`.
    """
    spec = {**DEFAULT_SPEC, **(spec or {})}
    rows = []
    for s in seqs:
        codes = encode(s)
        red = encode(s, reduced=True)
        blocks = []
        if spec["aac"]:
            blocks.append(_kmer_freq(codes, 1, 20))
        if spec["dpc"]:
            blocks.append(_kmer_freq(codes, 2, 20))
        for g in spec["gaps"]:
            blocks.append(_kmer_freq(codes, 2, 20, g))
        for k in spec["reduced_k"]:
            blocks.append(_kmer_freq(red, k, 7))
        rows.append(np.concatenate(blocks) if blocks else np.zeros(0))
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
