"""Nucleotide-resolution TFBS dataset (BertSNR task): windows, per-nucleotide labels, splits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.tables import read_snr_table
from ..sequence import one_hot


@dataclass
class SnrData:
    """Arrays of one TF's windows.

    Attributes
    ----------
    x : (N, 4, L) float32 one-hot
    y_nt : (N, L) float32, 1 inside the binding site
    y_seq : (N,) float32, 1 for bound windows
    ids, split : (N,) str
    chrom : (N,) str genome chromosome of each window (``""`` when unknown, e.g. shuffled negatives), or None
    """

    x: np.ndarray
    y_nt: np.ndarray
    y_seq: np.ndarray
    ids: np.ndarray
    split: np.ndarray
    chrom: np.ndarray | None = None

    def subset(self, mask) -> "SnrData":
        """Rows selected by a boolean mask or index array."""
        return SnrData(self.x[mask], self.y_nt[mask], self.y_seq[mask], self.ids[mask], self.split[mask],
                       None if self.chrom is None else self.chrom[mask])

    @staticmethod
    def concat(parts: list["SnrData"]) -> "SnrData":
        """Rows of several data sets of one window length, in order (``chrom`` kept only if all have it)."""
        chrom = None if any(p.chrom is None for p in parts) else np.concatenate([p.chrom for p in parts])
        return SnrData(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("x", "y_nt", "y_seq", "ids",
                                                                                   "split")), chrom)

    def __len__(self) -> int:
        return len(self.ids)


def nucleotide_labels(site_start: np.ndarray, site_end: np.ndarray, length: int) -> np.ndarray:
    """Per-nucleotide labels ``(N, length)`` float32: 1 for ``site_start <= i < site_end``; rows with -1 are all 0."""
    pos = np.arange(length)[None, :]
    return ((pos >= site_start[:, None]) & (pos < site_end[:, None])).astype(np.float32)


def load_snr(path, *, window: int = 100) -> SnrData:
    """Load a TFBS table (see :mod:`tfscope.io.tables`) into one-hot arrays and labels."""
    t = read_snr_table(path, window=window)
    L = len(t["sequence"][0])
    return SnrData(one_hot(t["sequence"], length=L), nucleotide_labels(t["site_start"], t["site_end"], L),
                   t["bound"].astype(np.float32), t["id"], t["split"], t["chrom"])


def pair_groups(bound: np.ndarray) -> np.ndarray:
    """Index of the last bound row at or before each row: a bound window and the shuffled negatives that follow
    it form one group (the tfbs-snr table layout)."""
    return np.maximum.accumulate(np.where(np.asarray(bound) > 0, np.arange(len(bound)), 0))


def train_valid_test(data: SnrData, *, valid_fraction: float = 0.1, seed: int = 0):
    """Split by the ``split`` column (the paper's split) and carve a seeded validation set out of ``train``.

    A bound window and the shuffled negative that follows it are kept together, so no shuffle of a validation
    positive leaks into training.

    Returns
    -------
    (train, valid, test) : SnrData
        ``test`` is empty when the table has no ``test`` rows.
    """
    train_idx = np.flatnonzero(data.split == "train")
    if train_idx.size == 0:
        raise InputError("table has no rows with split == 'train'")
    rng = np.random.default_rng(seed)
    # group = index of the last bound row at or before each row (pairs positive + its shuffle)
    group = pair_groups(data.y_seq[train_idx])
    groups = np.unique(group)
    n_valid = max(1, int(round(valid_fraction * groups.size)))
    valid_groups = rng.choice(groups, size=n_valid, replace=False)
    is_valid = np.isin(group, valid_groups)
    test_mask = data.split == "test"
    return data.subset(train_idx[~is_valid]), data.subset(train_idx[is_valid]), data.subset(test_mask)


def snr_table_path(tf: str, data_dir) -> Path:
    """Path of ``<data_dir>/<TF>.tsv.gz``.

    Raises
    ------
    InputError
        If there is no table for ``tf`` (the message lists the available TFs).
    """
    data_dir = Path(data_dir)
    p = data_dir / f"{tf}.tsv.gz"
    if not p.exists():
        p2 = data_dir / f"{tf}.tsv"
        if p2.exists():
            return p2
        avail = sorted(q.name.split(".")[0] for q in data_dir.glob("*.tsv*"))
        raise InputError(f"unknown TF {tf!r}; available: {', '.join(avail) or '(none)'}", str(data_dir))
    return p
