"""JASPAR 2024 TF-class dataset of the family-from-motif task (Wilk 2025 thesis, "Machine learning methods to predict
transcription factor family from binding specificity").

Selection (thesis): JASPAR 2024 CORE (all taxonomic groups), latest version of each matrix, no heterodimers (``::`` in
the name), TFClass *class* annotation (called "family" in the thesis) with at least 20 motifs. Motifs without any
TFClass class annotation (22 in JASPAR 2024) are left out; that gives 2,112 motifs in 20 classes.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..motif import counts_to_probs

RELEASE = "JASPAR2024"
MIN_PER_CLASS = 20
EXPECTED = {"JASPAR2024": (2112, 20)}  # (motifs, classes) that the thesis reports


@dataclass
class FamilyDataset:
    """Motifs with TF-class labels.

    Attributes
    ----------
    ids, names : list of str
        JASPAR matrix IDs (``MA0004.1``) and TF names.
    pfms : list of ndarray
        Position probability matrices ``(4, L_i)`` (rows A, C, G, T; columns sum to 1), ``L_i`` varies (4-33 here).
    labels : ndarray of int, shape (N,)
        Index into ``classes``.
    classes : list of str
        TFClass class names, sorted by decreasing count (ties by name).
    """

    ids: list[str]
    names: list[str]
    pfms: list[np.ndarray]
    labels: np.ndarray
    classes: list[str]
    release: str = RELEASE
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def counts(self) -> dict[str, int]:
        """Motifs per class."""
        c = np.bincount(self.labels, minlength=len(self.classes))
        return {k: int(v) for k, v in zip(self.classes, c)}

    def subset(self, idx) -> "FamilyDataset":
        idx = np.asarray(idx)
        return FamilyDataset([self.ids[i] for i in idx], [self.names[i] for i in idx], [self.pfms[i] for i in idx],
                             self.labels[idx], self.classes, self.release, dict(self.meta))


@functools.lru_cache(maxsize=2)
def fetch_release(release: str):
    """The CORE motifs of JASPAR ``release``, latest version of each matrix (pyjaspar, offline; cached)."""
    from pyjaspar import jaspardb

    return jaspardb(release=release).fetch_motifs(collection=["CORE"], all_versions=False)


def build_dataset(release: str = RELEASE, *, min_per_class: int = MIN_PER_CLASS, check: bool = True
                  ) -> FamilyDataset:
    """Build the TF-class dataset from the ``pyjaspar`` SQLite copy of JASPAR (offline).

    Parameters
    ----------
    release : str
        pyjaspar release name, e.g. ``"JASPAR2024"``.
    min_per_class : int
        Keep classes with at least this many motifs.
    check : bool
        Assert the counts the thesis reports (2,112 motifs, 20 classes) for JASPAR 2024.

    Returns
    -------
    FamilyDataset

    Raises
    ------
    AssertionError
        If ``check`` and the counts differ from the expected ones.
    """
    motifs = [m for m in fetch_release(release) if "::" not in m.name]
    n_unannotated = sum(1 for m in motifs if not m.tf_class)
    n_multi = sum(1 for m in motifs if m.tf_class and len(m.tf_class) > 1)
    # motifs with one TFClass class; (multi-class annotations only occur for heterodimers, which are excluded)
    motifs = [m for m in motifs if m.tf_class and len(m.tf_class) == 1]
    cnt = Counter(m.tf_class[0] for m in motifs)
    classes = sorted((c for c, n in cnt.items() if n >= min_per_class), key=lambda c: (-cnt[c], c))
    cidx = {c: i for i, c in enumerate(classes)}
    motifs = sorted((m for m in motifs if m.tf_class[0] in cidx), key=lambda m: m.matrix_id)
    ds = FamilyDataset(
        ids=[m.matrix_id for m in motifs], names=[m.name for m in motifs],
        pfms=[counts_to_probs(np.array([m.counts[b] for b in "ACGT"], dtype=np.float64)) for m in motifs],
        labels=np.array([cidx[m.tf_class[0]] for m in motifs], dtype=np.int64), classes=classes, release=release,
        meta={"n_unannotated_dropped": n_unannotated, "n_multiclass_dropped": n_multi,
              "min_per_class": min_per_class})
    if check and release in EXPECTED and min_per_class == MIN_PER_CLASS:
        exp = EXPECTED[release]
        assert (len(ds), len(classes)) == exp, f"expected {exp} motifs/classes, got {(len(ds), len(classes))}"
    return ds


def pad_batch(pfms: list[np.ndarray], length: int | None = None, *, value: float = 0.0, center: bool = False
              ) -> np.ndarray:
    """Stack variable-length ``(4, L_i)`` matrices into ``(N, 4, length)`` float32, padding on the right (or
    centred) with ``value``; longer motifs are centre-cropped to ``length``."""
    length = length or max(p.shape[1] for p in pfms)
    out = np.full((len(pfms), 4, length), value, dtype=np.float32)
    for i, p in enumerate(pfms):
        L = p.shape[1]
        if L > length:
            s = (L - length) // 2
            out[i] = p[:, s:s + length]
        else:
            o = (length - L) // 2 if center else 0
            out[i, :, o:o + L] = p
    return out
