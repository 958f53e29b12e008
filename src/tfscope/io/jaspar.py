"""Offline JASPAR access through ``pyjaspar`` (ships JASPAR 2014-2026 as SQLite files)."""

from __future__ import annotations

import functools
import re
import warnings

import numpy as np

from ..errors import InputError

DEFAULT_RELEASE = "JASPAR2022"  # the release the tfbs-snr benchmark sites come from


def name_key(name: str) -> str:
    """Return a TF name for matching across sources: upper case, letters and digits only (``Nkx2-5`` -> ``NKX25``)."""
    return re.sub(r"[^A-Z0-9]", "", name.upper())


@functools.lru_cache(maxsize=4)
def core_vertebrate_index(release: str) -> dict[str, object]:
    """JASPAR ``release`` CORE vertebrate matrices (latest versions) keyed by :func:`name_key` of their names."""
    from pyjaspar import jaspardb

    db = jaspardb(release=release)
    motifs = db.fetch_motifs(collection=["CORE"], tax_group=["vertebrates"], all_versions=False)
    index: dict[str, object] = {}
    for m in motifs:
        k = name_key(m.name)
        prev = index.get(k)
        if prev is None or m.matrix_id > prev.matrix_id:
            index[k] = m
    return index


def jaspar_motif(tf: str, *, release: str = DEFAULT_RELEASE):
    """Latest-version JASPAR CORE vertebrate motif for a TF name.

    Names are matched case-insensitively ignoring punctuation, so ``BATFJUN`` finds ``BATF::JUN`` and
    ``STAT1STAT2`` finds ``STAT1::STAT2``.

    Returns
    -------
    Bio.motifs.jaspar.Motif
        With ``.matrix_id``, ``.name``, ``.counts``, ``.tf_class``, ``.tf_family``.

    Raises
    ------
    InputError
        If no motif has that name in the release.
    """
    idx = core_vertebrate_index(release)
    m = idx.get(name_key(tf))
    if m is None:
        raise InputError(f"no JASPAR {release} CORE vertebrate motif named {tf!r}")
    return m


@functools.lru_cache(maxsize=4)
def _core_vertebrate_all_versions(release: str) -> dict[str, list]:
    from pyjaspar import jaspardb

    db = jaspardb(release=release)
    index: dict[str, list] = {}
    for m in db.fetch_motifs(collection=["CORE"], tax_group=["vertebrates"], all_versions=True):
        index.setdefault(name_key(m.name), []).append(m)
    return {k: sorted(v, key=lambda m: m.matrix_id) for k, v in index.items()}


def jaspar_matrices(tf: str, *, release: str = DEFAULT_RELEASE) -> list:
    """Every JASPAR CORE vertebrate matrix of a TF name in ``release``.

    All matrix IDs and all their versions (e.g. TFAP2C in JASPAR 2022: MA0524.1, MA0524.2, MA0814.1, MA0814.2,
    MA0815.1), sorted by matrix ID. Names match as in :func:`jaspar_motif`.

    Returns
    -------
    list of Bio.motifs.jaspar.Motif

    Raises
    ------
    InputError
        If no matrix has that name in the release.
    """
    found = _core_vertebrate_all_versions(release).get(name_key(tf))
    if not found:
        raise InputError(f"no JASPAR {release} CORE vertebrate motif named {tf!r}")
    return list(found)


MATRIX_ID = re.compile(r"^[A-Z]{2}\d{4}\.\d+$")


def jaspar_matrix(matrix_id: str, *, release: str = DEFAULT_RELEASE):
    """Return the JASPAR matrix ``matrix_id``.

    ``matrix_id`` is e.g. ``MA0524.1`` (any collection), read from ``release``, or from the newest release pyjaspar ships when ``release`` lacks it.

    Raises
    ------
    InputError
        A string that is not a versioned matrix ID, or an ID no shipped release holds.
    """
    from pyjaspar import jaspardb

    if not MATRIX_ID.match(matrix_id):
        raise InputError(f"{matrix_id!r} is not a JASPAR matrix ID with version (like MA0524.1) nor a motif file")
    for rel in dict.fromkeys((release, "JASPAR2024")):
        with warnings.catch_warnings():  # pyjaspar warns before returning None for an unknown ID
            warnings.simplefilter("ignore")
            m = jaspardb(release=rel).fetch_motif_by_id(matrix_id)
        if m is not None:
            m.release = rel
            return m
    raise InputError(f"no JASPAR matrix {matrix_id} in {release} or JASPAR2024")


def motif_pfm(motif) -> np.ndarray:
    """Position frequency matrix ``(4, W)`` float64 (counts, A C G T rows) of a Bio.motifs motif."""
    return np.array([motif.counts[b] for b in "ACGT"], dtype=np.float64)


def pfm_to_log_odds(pfm: np.ndarray, *, pseudocount: float = 0.8, background=(0.25, 0.25, 0.25, 0.25)) -> np.ndarray:
    """Log2-odds PWM ``(4, W)`` from counts or probabilities ``(4, W)`` with a total pseudocount spread by background.

    Raises
    ------
    ValueError
        If the matrix is not ``(4, W)`` with non-negative entries.
    """
    pfm = np.asarray(pfm, dtype=np.float64)
    if pfm.ndim != 2 or pfm.shape[0] != 4 or (pfm < 0).any():
        raise ValueError(f"PFM must be (4, W) and non-negative, got shape {pfm.shape}")
    bg = np.asarray(background, dtype=np.float64)[:, None]
    if pfm.sum(0).max() <= 1.0 + 1e-6:  # probabilities: scale to 100 pseudo-sites
        pfm = pfm * 100
    probs = (pfm + pseudocount * bg) / (pfm.sum(0, keepdims=True) + pseudocount)
    return np.log2(probs / bg)
