"""Genomic background for nucleotide-resolution TFBS models: real genome windows with and without a TF's sites.

Models trained only against dinucleotide-shuffled negatives (the BertSNR protocol) over-call on real DNA, whose
repeats, CpG islands and partner-TF motifs shuffles do not contain (Koo & Ploenzke 2020; Ghandi et al. 2014 on
genomic, GC-matched negatives). This module turns the multi-label windows of ``../shared/data/tfbs-multilabel``
(real hg19 windows, chromosome split: chr7 valid, chr8 test) into per-TF nucleotide-resolution training data:

- :func:`site_intervals` reads the genome coordinates of every JASPAR ChIP-seq site of a TF from the bound rows of
  its tfbs-snr table (``window_start`` + ``site_start``/``site_end``, mirrored on ``-`` strand rows);
- :func:`genomic_snr_data` labels a set of genome windows with those sites (1 on every site nucleotide inside the
  window, so a site cut by the window edge is labelled where it lies); a window without a site of the TF is a
  *genomic negative* for it.

The windows are on the ``+`` strand of hg19 (as in the table); labels are strand-free (training augments nothing,
scanning predicts both strands).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..io.tables import read_snr_table
from ..io.windows import load_windows
from ..snr.data import SnrData


@dataclass
class SiteIntervals:
    """Genome intervals of one TF's binding sites.

    Attributes
    ----------
    chrom : (M,) str
    start, end : (M,) int64, 0-based half-open hg19 coordinates
    split : (M,) str, the tfbs-snr split of the row the site comes from (``train``/``test``)
    """

    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray
    split: np.ndarray

    def __len__(self) -> int:
        return len(self.chrom)

    def subset(self, mask) -> "SiteIntervals":
        """Sites selected by a boolean mask or index array (e.g. ``split == "test"``)."""
        return SiteIntervals(self.chrom[mask], self.start[mask], self.end[mask], self.split[mask])


def site_intervals(table, *, window: int = 100) -> SiteIntervals:
    """Genome coordinates of the binding sites of a tfbs-snr table (bound rows with a location).

    A ``-`` strand row holds the reverse complement of ``genome[window_start, window_start + window)``, so its site
    ``[a, b)`` lies at ``[window_start + window - b, window_start + window - a)``.

    Raises
    ------
    InputError
        Bad table (see :func:`tfscope.io.tables.read_snr_table`), or no bound row with a genome location.
    """
    t = read_snr_table(table, window=window)
    keep = (t["bound"] == 1) & (t["window_start"] >= 0) & (t["chrom"] != "")
    if not keep.any():
        raise InputError("no bound rows with chrom/window_start: cannot place sites on the genome", str(table))
    a, b = t["site_start"][keep].astype(np.int64), t["site_end"][keep].astype(np.int64)
    ws = t["window_start"][keep].astype(np.int64)
    minus = t["strand"][keep] == "-"
    start = np.where(minus, ws + window - b, ws + a)
    end = np.where(minus, ws + window - a, ws + b)
    return SiteIntervals(t["chrom"][keep], start, end, t["split"][keep])


def genomic_labels(chrom: np.ndarray, start: np.ndarray, length: int, sites: SiteIntervals) -> np.ndarray:
    """Per-nucleotide labels ``(N, length)`` float32 of genome windows ``[start, start + length)``.

    1 on every nucleotide covered by a site (clipped to the window).
    """
    y = np.zeros((len(chrom), length), np.float32)
    for c in np.unique(chrom):
        rows = np.flatnonzero(chrom == c)
        on = sites.chrom == c
        if not on.any():
            continue
        s0, s1 = sites.start[on], sites.end[on]
        order = np.argsort(s0)
        s0, s1 = s0[order], s1[order]
        max_len = int((s1 - s0).max())
        w0 = start[rows]
        # sites starting in [w0 - max_len, w0 + length) can overlap the window
        lo = np.searchsorted(s0, w0 - max_len, side="left")
        hi = np.searchsorted(s0, w0 + length, side="left")
        for r, w, i, j in zip(rows, w0, lo, hi):
            for k in range(i, j):
                a, b = max(s0[k] - w, 0), min(s1[k] - w, length)
                if a < b:
                    y[r, a:b] = 1.0
    return y


def genomic_snr_data(x: np.ndarray, chrom: np.ndarray, start: np.ndarray, ids: np.ndarray, split: str,
                     sites: SiteIntervals) -> SnrData:
    """Genome windows as :class:`~tfscope.snr.data.SnrData` for one TF.

    Parameters
    ----------
    x : (N, 4, L) one-hot genome windows (``+`` strand); chrom, start, ids : (N,) their locations and ids
    split : value of the returned ``split`` column
    sites : the TF's :class:`SiteIntervals`

    Returns
    -------
    SnrData
        ``y_nt`` from :func:`genomic_labels`, ``y_seq`` = 1 where the window holds a site nucleotide.
    """
    y = genomic_labels(chrom, start, x.shape[-1], sites)
    return SnrData(x, y, (y.max(axis=1) if len(y) else np.zeros(0)).astype(np.float32), np.asarray(ids),
                   np.full(len(ids), split), np.asarray(chrom))


def overlaps_sites(chrom: np.ndarray, start: np.ndarray, length: int, sites: SiteIntervals) -> np.ndarray:
    """Boolean ``(N,)``: which windows ``[start, start + length)`` hold at least one nucleotide of ``sites``."""
    return genomic_labels(chrom, start, length, sites).max(axis=1) > 0 if len(chrom) else np.zeros(0, bool)


#: chromosomes that never train a genome-calibrated model (tfbs-multilabel windows or tfbs-snr rows): chr7 validates
#: (early stopping and the call threshold), chr8 is the test chromosome of every genomic benchmark, chr9 is withheld
#: (tfbs-multilabel has no chr9 windows; tfbs-snr rows on chr9 are dropped since 2026-12-02)
HOLDOUT_CHROMS = ("chr7", "chr8", "chr9")


@dataclass
class GenomicBackground:
    """Real genome windows shared by the per-TF training runs of :func:`tfscope.snr.train_snr`.

    Attributes
    ----------
    windows : :class:`tfscope.io.windows.MultiLabelData` with ``start`` (tfbs-multilabel ``windows.tsv.gz``)
    negatives_per_positive : genomic negatives drawn per genomic positive window of the TF (seeded) ...
    min_negatives, max_negatives : ... but at least / at most this many (defaults: the recipe of the shipped
        genomic zoo, chosen on chr7 over 2 per positive with 20k-40k; see ``docs/genomic.md``)
    valid_split : the windows' split that validates and calibrates (``valid`` = chr7)

    Use :meth:`load` to read the table. The same object serves every TF (windows are one-hot once).
    """

    windows: object
    negatives_per_positive: float = 4.0
    min_negatives: int = 40_000
    max_negatives: int = 80_000
    valid_split: str = "valid"

    @classmethod
    def load(cls, path, **settings) -> "GenomicBackground":
        """Read a tfbs-multilabel windows table (all splits; see :func:`tfscope.io.windows.load_windows`)."""
        return cls(load_windows(path), **settings)

    def train_valid(self, sites: SiteIntervals, *, seed: int = 0) -> tuple[SnrData, SnrData]:
        """Genomic training and validation windows of one TF.

        Training: windows of the ``train`` split (never chr7/chr8) that hold a site of the TF (all of them) plus
        seeded genomic negatives (windows without any of its sites); windows overlapping one of the TF's
        *test-split* tfbs-snr sites are left out, so the paper-protocol test rows do not leak into training.
        Validation: every window of :attr:`valid_split`, in genomic order.
        """
        w = self.windows
        if w.start is None:
            raise InputError("genomic background windows need their genome start (the table's start column)")
        L = w.x.shape[-1]
        tr = np.flatnonzero((w.split == "train") & ~np.isin(w.chrom, HOLDOUT_CHROMS))
        test_sites = sites.subset(sites.split == "test")
        if len(test_sites):
            tr = tr[~overlaps_sites(w.chrom[tr], w.start[tr], L, test_sites)]
        train = genomic_snr_data(w.x[tr], w.chrom[tr], w.start[tr], w.ids[tr], "train", sites)
        pos = np.flatnonzero(train.y_seq > 0)
        neg = np.flatnonzero(train.y_seq == 0)
        n_neg = int(min(len(neg), self.max_negatives,
                        max(self.min_negatives, self.negatives_per_positive * len(pos))))
        rng = np.random.default_rng(seed)
        train = train.subset(np.sort(np.concatenate([pos, rng.choice(neg, n_neg, replace=False)])))
        va = np.flatnonzero(w.split == self.valid_split)
        va = va[np.lexsort((w.start[va], w.chrom[va]))]
        valid = genomic_snr_data(w.x[va], w.chrom[va], w.start[va], w.ids[va], "valid", sites)
        return train, valid
