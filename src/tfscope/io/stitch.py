"""Genome windows placed side by side.

Do overlapping windows agree on their shared bases, and stitching them into contiguous regions.

Windows carry their own sequence and a genome position (``chrom``, 0-based ``start``, forward strand). When two
windows overlap, the bases they share must be the same letters; if they are not, at least one of them sits at the
wrong position (e.g. hg38 coordinates read as hg19, or a coordinate file paired with the windows in a shifted line
order: the faults behind the 2026-12-05 correction of ``../shared/data``). :func:`overlap_agreement` counts such
pairs; :func:`stitch_windows` joins overlapping windows into regions only where every overlap agrees.

Own code rather than pybedtools or pyranges: the task is a sorted sweep over sequences the tables already hold
(bedtools compares intervals, not the letters inside them), about 1 s for the 306,653 windows of tfbs-multilabel.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field

#: the share of disagreeing overlapping pairs above which a window set is taken to be misplaced (the corrected
#: ``../shared/data`` has 26 of 111,672 tfbs-snr pairs, 0.02%; the first build had 5,334 of 90,798, 5.9%)
MAX_DISAGREEMENT = 0.001


@dataclass(frozen=True)
class Window:
    """One genome window.

    ``sequence`` is the forward strand of ``chrom[start, start + len(sequence))`` (0-based, half-open); ``name`` is free
    text carried along (an id, a TF).
    """

    chrom: str
    start: int
    sequence: str
    name: str = ""

    @property
    def end(self) -> int:
        """0-based exclusive end of the window."""
        return self.start + len(self.sequence)


def read_multilabel_windows(path) -> list[Window]:
    """Read the windows of a tfbs-multilabel table as :class:`Window`.

    The windows of a tfbs-multilabel ``windows.tsv.gz`` (header ``id, chrom, start, end, split, tfs, sequence``) as
    :class:`Window` (``name`` = the window id), in file order; only the columns a position check needs are parsed
    (:func:`tfscope.io.windows.load_windows` reads the table for training, one-hot and labels).

    Parameters
    ----------
    path : str | os.PathLike
        The gzipped table.

    Returns
    -------
    list of Window
    """
    out = []
    with gzip.open(path, "rt") as fh:
        fh.readline()
        for line in fh:
            wid, chrom, start, _end, _split, _tfs, seq = line.rstrip("\n").split("\t")
            out.append(Window(chrom, int(start), seq, wid))
    return out


@dataclass
class Agreement:
    """Result of :func:`overlap_agreement`.

    Attributes
    ----------
    pairs : int
        Overlapping window pairs compared (each unordered pair once).
    disagree : int
        Pairs whose shared bases differ in at least one position (``N`` matches any letter).
    examples : list of (Window, Window)
        Up to 10 disagreeing pairs, in genome order.
    """

    pairs: int = 0
    disagree: int = 0
    examples: list = field(default_factory=list)

    @property
    def fraction(self) -> float:
        """Share of disagreeing pairs (0.0 when no pair overlaps)."""
        return self.disagree / self.pairs if self.pairs else 0.0


def shared_bases_agree(a: Window, b: Window) -> bool:
    """Whether two windows of one chromosome agree on the bases they share.

    ``N`` matches anything; windows that do not overlap agree trivially.
    """
    lo, hi = max(a.start, b.start), min(a.end, b.end)
    if lo >= hi:
        return True
    sa = a.sequence[lo - a.start:hi - a.start].upper()
    sb = b.sequence[lo - b.start:hi - b.start].upper()
    return sa == sb or all(x == y or x == "N" or y == "N" for x, y in zip(sa, sb))


def overlap_agreement(windows, *, min_overlap: int = 1) -> Agreement:
    """Compare every pair of overlapping windows on their shared bases.

    Parameters
    ----------
    windows : iterable of :class:`Window`
        Forward-strand windows, any order, any lengths; windows at the very same position with the same sequence
        count as agreeing pairs.
    min_overlap : int
        Pairs sharing fewer bases are not compared. Default is 1.

    Returns
    -------
    Agreement
    """
    by_chrom: dict[str, list[Window]] = {}
    for w in windows:
        by_chrom.setdefault(w.chrom, []).append(w)
    res = Agreement()
    for chrom in sorted(by_chrom):
        ws = sorted(by_chrom[chrom], key=lambda w: (w.start, w.end))
        for i, a in enumerate(ws):
            for b in ws[i + 1:]:
                if b.start >= a.end:
                    break
                if min(a.end, b.end) - b.start < min_overlap:
                    continue
                res.pairs += 1
                if not shared_bases_agree(a, b):
                    res.disagree += 1
                    if len(res.examples) < 10:
                        res.examples.append((a, b))
    return res


@dataclass
class Region:
    """Contiguous sequence stitched from overlapping windows (forward strand, 0-based half-open ``[start, end)``).

    Attributes
    ----------
    chrom, start, end, sequence :
        The region.
    windows : list of Window
        The windows it was stitched from, in genome order.
    agree : bool
        Whether every window equals the region's sequence at its position (so every overlap agreed).
    """

    chrom: str
    start: int
    end: int
    sequence: str
    windows: list

    @property
    def agree(self) -> bool:
        """Whether every window of the region equals the region's sequence and labels there."""
        return all(region_matches(self, w) for w in self.windows)


def region_matches(region: Region, w: Window) -> bool:
    """Whether window ``w`` equals ``region``'s sequence over its span (``N`` matches anything)."""
    if w.chrom != region.chrom or w.start < region.start or w.end > region.end:
        return False
    part = Window(region.chrom, region.start, region.sequence)
    return shared_bases_agree(part, w)


def stitch_windows(windows) -> list[Region]:
    """Join overlapping (or abutting) windows of each chromosome into contiguous regions.

    Each region takes the first window's bases and then each later window's bases past the region's end; whether
    the windows agreed where they overlap is :attr:`Region.agree` (check it before using a region: a window at the
    wrong position makes a chimera).

    Parameters
    ----------
    windows : iterable of :class:`Window`

    Returns
    -------
    list of Region, sorted by chromosome name and start.
    """
    by_chrom: dict[str, list[Window]] = {}
    for w in windows:
        by_chrom.setdefault(w.chrom, []).append(w)
    regions: list[Region] = []
    for chrom in sorted(by_chrom):
        cur = None
        for w in sorted(by_chrom[chrom], key=lambda w: (w.start, w.end)):
            if cur is not None and w.start <= cur.end:
                if w.end > cur.end:
                    cur.sequence += w.sequence[cur.end - w.start:]
                    cur.end = w.end
                cur.windows.append(w)
            else:
                cur = Region(chrom, w.start, w.end, w.sequence, [w])
                regions.append(cur)
    return regions
