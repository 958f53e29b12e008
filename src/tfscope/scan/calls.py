"""Binding-site calls from nucleotide probability tracks.

One call per binding event, paralog groups, and a per-call confidence whose meaning is stated.

**One call per binding event** (:func:`peak_calls`). The nucleotides whose probability reaches the model's
threshold are reduced by greedy non-maximum suppression: the highest nucleotide becomes a call's *peak* (the centre
of a plateau of equal values), every nucleotide closer than the TF's site width to it is suppressed, and so on down
to the threshold. Each call is the TF's site width (the tfbs-snr site length, i.e. its JASPAR matrix width) centred on
its peak, moved inside the sequence at its ends, so no call is shorter than the site and one plateau gives one call.
This replaces "runs of nucleotides above threshold", which broke one site into 3 bp pieces wherever the track dipped.
Peaks at or above a threshold ``t`` are the same whatever lower threshold the suppression starts from, so calls made
at a low floor and filtered at ``t`` equal calls made at ``t`` (the calibration below relies on it). Suppression only
acts within a site width, so points farther apart than that are called independently: a streamed scan calls each
such cluster as soon as it is complete (:class:`StreamCaller`).

**Paralog groups** (:func:`paralog_groups`): TFs whose JASPAR motifs cannot be told apart share a group (computed at
build time with memelite's Tomtom and the JASPAR TFClass family; stored in the zoo's ``meta.groups``).

**Confidence** (:class:`CallConfidence`, fitted by :func:`fit_confidence` on the chr7 calibration windows):

- ``precision``: isotonic regression (scikit-learn) of "the call overlaps a true site of its TF" on the call's peak
  probability; ``groupPrecision`` the same for "a true site of any TF of its group";
- ``pValue``: the empirical p-value of the peak against background peaks (peaks of the same caller on chr7 windows
  without a site of the TF's group): ``(1 + #background peaks >= peak) / (1 + #background peaks)``;
- ``qValue``: Benjamini-Hochberg over the p-values of all calls of one run (:func:`bh_qvalues`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from ..io.bed import BedRecord
from ..io.tracks import CALL_COLUMNS
from .orient import SiteMatrix

#: site width (bp) of a model that records none (a per-TF checkpoint trained before site widths were stored)
DEFAULT_SITE_WIDTH = 10

#: background peak scores are counted on this grid of probabilities (logit-spaced, 1e-4 .. 1 - 1e-6)
BG_GRID = 1.0 / (1.0 + np.exp(-np.linspace(np.log(1e-4 / (1 - 1e-4)), np.log((1 - 1e-6) / 1e-6), 400)))


@dataclass
class CallConfidence:
    """Per-TF calibration of calls (all optional; ``-1`` in the BED where missing).

    Attributes
    ----------
    precision, group_precision : (x, y) arrays of an isotonic map peak probability -> P(the call overlaps a true
        site of the TF / of its group), linear between the knots, constant beyond them
    background : counts ``(len(BG_GRID),)`` of background peaks with probability >= each grid value, and their total
    """

    precision: tuple | None = None
    group_precision: tuple | None = None
    background: np.ndarray | None = None
    n_background: int = 0

    @classmethod
    def from_meta(cls, rec: dict | None) -> "CallConfidence | None":
        """From a TF's ``meta.per_tf[TF].call_confidence`` record (None when absent)."""
        if not rec:
            return None

        def xy(k):
            v = rec.get(k)
            return (np.asarray(v["x"], float), np.asarray(v["y"], float)) if v else None

        bg = rec.get("background")
        return cls(xy("precision"), xy("group_precision"),
                   None if not bg else np.asarray(bg["count_ge"], float), int(bg["n"]) if bg else 0)

    def to_meta(self) -> dict:
        """Return the checkpoint ``meta`` record of this confidence (the inverse of :meth:`from_meta`)."""
        out = {}
        for k, v in (("precision", self.precision), ("group_precision", self.group_precision)):
            if v is not None:
                out[k] = {"x": [round(float(a), 5) for a in v[0]], "y": [round(float(b), 5) for b in v[1]]}
        if self.background is not None:
            out["background"] = {"n": int(self.n_background), "count_ge": [int(c) for c in self.background]}
        return out

    def score(self, peak_p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(precision, group_precision, p_value)`` arrays for peak probabilities (``-1`` where not calibrated)."""
        peak_p = np.asarray(peak_p, float)
        out = []
        for m in (self.precision, self.group_precision):
            out.append(np.interp(peak_p, *m) if m is not None else np.full(len(peak_p), -1.0))
        if self.background is not None:
            # the grid value just at or below the peak: counts there are >= the true count (conservative)
            i = np.clip(np.searchsorted(BG_GRID, peak_p, side="right") - 1, 0, len(BG_GRID) - 1)
            cnt = np.where(peak_p < BG_GRID[0], self.n_background, self.background[i])
            out.append((1.0 + cnt) / (1.0 + self.n_background))
        else:
            out.append(np.full(len(peak_p), -1.0))
        return out[0], out[1], out[2]


@dataclass
class CallSpec:
    """How one model's track becomes calls: site width (bp), paralog group, confidence and matrix (optional)."""

    site_width: int = DEFAULT_SITE_WIDTH
    group: str = ""
    confidence: CallConfidence | None = None
    #: the TF's matrix, which gives each call its strand and matched site (:mod:`tfscope.scan.orient`)
    matrix: SiteMatrix | None = None


def peak_calls(pos: np.ndarray, p: np.ndarray, width: int, length: int, *,
               suppress: int | None = None) -> list[tuple[int, int, int, int]]:
    """Greedy non-maximum suppression of above-threshold nucleotides (see the module docstring).

    Parameters
    ----------
    pos : (n,) int, sorted positions of the nucleotides at or above the threshold
    p : (n,) float, their probabilities
    width : the TF's site width (bp) >= 1: peaks closer than this suppress each other; each call is this wide
    length : length of the sequence (bp), to keep calls inside it
    suppress : peaks closer than this (bp) suppress each other (default ``width``)

    Returns
    -------
    list of ``(start, end, peak, index)``: call interval ``[start, end)``, peak position and the peak's index in
    ``pos``; sorted by start.
    """
    n = len(pos)
    if n == 0:
        return []
    width = max(1, int(width))
    sup = width if suppress is None else max(1, int(suppress))
    if sup < 2:  # plateaus of consecutive positions may then join points that suppress nothing of each other
        return sorted(_greedy_nms(pos, p, width, length, sup, np.arange(n)))
    # Points farther apart than `sup` never suppress each other, so clusters split at such gaps are independent. A
    # cluster narrower than `sup` gives exactly one call, its first maximum's plateau centre (the whole cluster lies
    # within `sup` of it): computed for all such clusters at once; wider clusters go through the greedy loop.
    first = np.concatenate([[0], np.flatnonzero(np.diff(pos) >= sup) + 1])
    stop = np.append(first[1:], n)
    narrow = pos[stop - 1] - pos[first] < sup
    out = []
    if narrow.any():
        cid = np.repeat(np.arange(len(first)), stop - first)
        top = np.maximum.reduceat(p, first)
        at_max = np.flatnonzero(p == top[cid])
        _, k = np.unique(cid[at_max], return_index=True)
        i = at_max[k][narrow]  # first maximum of each narrow cluster
        # plateau: the run of consecutive positions with the maximum's value that starts at it
        brk = np.ones(n, bool)
        brk[1:] = (np.diff(pos) != 1) | (p[1:] != p[:-1])
        run_end = np.append(np.flatnonzero(brk)[1:], n) - 1
        c = (i + run_end[np.cumsum(brk)[i] - 1]) // 2
        peak = pos[c].astype(np.int64)
        start = np.clip(peak - width // 2, 0, length - width) if length >= width else np.zeros_like(peak)
        out = list(zip(start.tolist(), np.minimum(length, start + width).tolist(), peak.tolist(), c.tolist()))
    if not narrow.all():
        wide = np.concatenate([np.arange(a, b) for a, b in zip(first[~narrow], stop[~narrow])])
        out += _greedy_nms(pos[wide], p[wide], width, length, sup, wide)
    out.sort()
    return out


def _greedy_nms(pos, p, width: int, length: int, sup: int, index: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Run the greedy suppression of :func:`peak_calls` on its points (``index``: their indices in the caller's arrays).

    On Python lists and :mod:`bisect` rather than numpy scalars: most points are visited only to find them suppressed,
    and a numpy scalar read costs several times a list's: 24 -> 12 ms per 960 kbp of the fast zoo's calls (the same
    calls).
    """
    n = len(pos)
    order = np.argsort(-p, kind="stable").tolist()
    pos_l, p_l, index_l = pos.tolist(), p.tolist(), index.tolist()
    alive = [True] * n
    out = []
    for i in order:
        if not alive[i]:
            continue
        v = p_l[i]
        lo = hi = i  # the plateau of equal values around i (consecutive positions)
        while lo > 0 and alive[lo - 1] and pos_l[lo - 1] == pos_l[lo] - 1 and p_l[lo - 1] == v:
            lo -= 1
        while hi < n - 1 and alive[hi + 1] and pos_l[hi + 1] == pos_l[hi] + 1 and p_l[hi + 1] == v:
            hi += 1
        c = (lo + hi) // 2
        peak = pos_l[c]
        a = bisect.bisect_left(pos_l, peak - sup + 1)
        b = bisect.bisect_left(pos_l, peak + sup)
        alive[a:b] = [False] * (b - a)
        start = peak - width // 2
        start = max(0, min(start, length - width)) if length >= width else 0
        out.append((start, min(length, start + width), peak, index_l[c]))
    return out


@dataclass
class CallTable:
    """One model's calls on one sequence as columns (``(n,)`` arrays, sorted by start), before orientation.

    ``start``, ``end``, ``peak`` (int64, record coordinates), ``index`` (int64: the peak's index in the points the
    calls were made from), ``peak_p`` (float64), ``precision``, ``group_precision`` (float64, -1 where not
    calibrated), ``p_text`` (the ``pValue`` column's text, ``%.3g``) and ``score`` (int64, 0-1000: round(1000 x
    precision), or round(1000 x peak P) without calibration).
    """

    start: np.ndarray
    end: np.ndarray
    peak: np.ndarray
    index: np.ndarray
    peak_p: np.ndarray
    precision: np.ndarray
    group_precision: np.ndarray
    p_text: list
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    def p_values(self) -> np.ndarray:
        """Return the p-values as written (the ``pValue`` texts read back; -1 where not calibrated)."""
        return np.array([float(t) for t in self.p_text])


def call_table(pos: np.ndarray, p: np.ndarray, spec: CallSpec, length: int) -> CallTable:
    """Call one model's above-threshold nucleotides ``pos`` (sorted; probabilities ``p``) on ``length`` bp.

    Peaks by :func:`peak_calls`, scored by the TF's :class:`CallConfidence`. All columns at once: the workers of a
    streamed scan make about 30 calls per kbp (a record object per call cost 14 us of each).
    """
    calls = peak_calls(pos, p, spec.site_width, length)
    cols = np.array(calls, dtype=np.int64).reshape(-1, 4).T
    peak_p = np.asarray(p, float)[cols[3]]
    prec, gprec, pval = (spec.confidence or CallConfidence()).score(peak_p)
    # round() of the precision (else the peak P) x 1000: numpy's rint rounds halves to even as Python's round does
    score = np.clip(np.rint(1000 * np.where(prec >= 0, prec, peak_p)), 0, 1000).astype(np.int64)
    return CallTable(cols[0], cols[1], cols[2], cols[3], peak_p, prec, gprec, ["%.3g" % v for v in pval.tolist()],
                     score)


#: a call's BED line (:data:`tfscope.io.tracks.CALL_COLUMNS`, q-value -1) as one %-template (:func:`call_lines`)
_CALL_LINE = "%s\t%d\t%d\t%s\t%d\t%s\t%.4f\t%d\t%.4f\t%.4f\t%s\t-1\t%s\t%s:%.3f"


def call_lines(seq_id: str, name: str, group: str, t: CallTable, strands: list[str], sites: list[str] | None = None,
               *, offset: int = 0) -> list[str]:
    """Return the BED lines (with newline) of calls ``t``: BED6, then :data:`tfscope.io.tracks.CALL_COLUMNS`.

    ``strands``: one of ``+ - .`` per call; ``sites``: the matched site per call (:mod:`tfscope.scan.orient`), or None
    to leave the ``site`` column out (added by :func:`tfscope.scan.orient.orient_calls`); q-values -1 (filled in
    later, :func:`fill_qvalues`); coordinates shifted by ``offset``. The one formatter of call lines: one %-format
    of a repeated template over the interleaved columns (in C).
    """
    n = len(t)
    if not n:
        return []
    group = group or name
    width = 15 if sites is not None else 14
    flat: list = [None] * (width * n)
    flat[0::width], flat[3::width] = [seq_id] * n, [name] * n
    flat[11::width], flat[12::width] = [group] * n, [name] * n
    flat[1::width], flat[2::width] = (t.start + offset).tolist(), (t.end + offset).tolist()
    flat[4::width], flat[5::width], flat[6::width] = t.score.tolist(), strands, t.peak_p.tolist()
    flat[7::width], flat[8::width], flat[9::width] = (t.peak + offset).tolist(), t.precision.tolist(), \
        t.group_precision.tolist()
    flat[10::width], flat[13::width] = t.p_text, (t.score / 1000).tolist()
    template = _CALL_LINE + ("\t%s\n" if sites is not None else "\n")
    if sites is not None:
        flat[14::width] = sites
    return ((template * n) % tuple(flat)).splitlines(keepends=True)


def make_calls(seq_id: str, name: str, spec: CallSpec, pos: np.ndarray, p: np.ndarray, fwd: np.ndarray,
               rev: np.ndarray, length: int, *, offset: int = 0, symmetric: bool = False) -> list[BedRecord]:
    """Make the call records of one model on one sequence.

    BED6+8 records (:data:`tfscope.io.tracks.CALL_COLUMNS` before ``site``) of one model's calls from its
    above-threshold nucleotides ``pos`` (record coordinates, sorted) with combined probability ``p`` and strand values
    ``fwd`` / ``rev`` (the strand with the higher value at the peak, ``.`` when equal or ``symmetric``); ``length`` is
    the record length. q-values are filled in later (:func:`fill_qvalues`), -1 here; the strand and site come from
    the TF's matrix (:func:`tfscope.scan.orient.orient_calls`). (:func:`call_table` and :func:`call_lines`.)
    """
    t = call_table(pos, p, spec, length)
    if symmetric:
        strands = ["."] * len(t)
    else:
        f, r = np.asarray(fwd)[t.index], np.asarray(rev)[t.index]
        strands = np.where(f == r, ".", np.where(f > r, "+", "-")).tolist()
    return [call_record(line) for line in call_lines(seq_id, name, spec.group, t, strands, offset=offset)]


def call_record(line: str) -> BedRecord:
    """Return the record of one call line (:func:`call_lines`, :func:`tfscope.io.bed.bed_line`): int score, text."""
    c = line.rstrip("\n").split("\t")
    return BedRecord(c[0], int(c[1]), int(c[2]), c[3], int(c[4]), c[5], c[6:])


#: index of the ``pValue`` column in a call's ``extra`` (q-values follow it)
P_COLUMN = CALL_COLUMNS.index("pValue")


def call_p_values(records) -> np.ndarray:
    """Return the ``pValue`` column of call records (``-1`` where uncalibrated)."""
    return np.array([float(r.extra[P_COLUMN]) for r in records])


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values (adjusted p-values, monotone, <= 1) of ``p`` (any order)."""
    p = np.asarray(p, float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    q = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(q[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def qvalue_map(p_values: np.ndarray):
    """Return a function p -> BH q-value for p-values drawn from ``p_values`` (the run's calls): ties get one q."""
    p_values = np.asarray(p_values, float)
    p_values = p_values[p_values >= 0]
    if not len(p_values):
        return lambda p: np.full(np.shape(p), -1.0)
    q = bh_qvalues(p_values)
    order = np.argsort(p_values, kind="stable")
    ps, qs = p_values[order], q[order]
    uniq = np.unique(ps)
    qu = np.minimum.reduceat(qs, np.searchsorted(ps, uniq))  # one q per distinct p: the smallest of its ties

    def f(p):
        p = np.asarray(p, float)
        j = np.clip(np.searchsorted(uniq, p), 0, len(uniq) - 1)
        return np.where(p < 0, -1.0, qu[j])

    return f


def qvalue_texts(p_values, qmap) -> list[str]:
    """Return the ``qValue`` texts of calls with ``p_values`` (``qmap``: :func:`qvalue_map`; ``-1`` uncalibrated).

    Each distinct q-value is formatted once (561 distinct among the 32,013 calls of 1 Mbp of chr8: 13 -> 5 ms, a
    serial step after a streamed scan's workers finish).
    """
    uniq, inverse = np.unique(qmap(np.asarray(p_values, float)), return_inverse=True)
    texts = np.array([f"{q:.3g}" if q >= 0 else "-1" for q in uniq.tolist()], dtype=object)
    return texts[inverse.ravel()].tolist()


def fill_qvalues(records: list[BedRecord], qmap) -> None:
    """Write q-values (``qmap`` of :func:`qvalue_map`) into the call records in place."""
    if not records:
        return
    for r, q in zip(records, qvalue_texts(call_p_values(records), qmap)):
        r.extra[P_COLUMN + 1] = q


def collapse_groups(records: list[BedRecord]) -> list[BedRecord]:
    """One call per paralog group and site.

    Overlapping calls of TFs of one group (records sorted by sequence and start) become the call of the best-ranked
    member (by score, i.e. estimated precision, then peak probability), named by the group, scored by its
    ``groupPrecision``, with ``members`` listing the group's TFs called there as ``TF:score/1000``, ranked.
    """
    gi, mi = CALL_COLUMNS.index("group"), CALL_COLUMNS.index("members")
    out, open_ = [], {}  # group -> (end, [records])

    def flush(recs):
        key = lambda r: (r.score, float(r.extra[0]))  # noqa: E731
        ranked = sorted(recs, key=key, reverse=True)
        best = ranked[0]
        seen, members = set(), []
        for r in ranked:
            if r.name not in seen:
                seen.add(r.name)
                members.append(f"{r.name}:{r.score / 1000:.3f}")
        ex = list(best.extra)
        ex[mi] = ",".join(members)
        gp = float(ex[CALL_COLUMNS.index("groupPrecision")])
        score = best.score if gp < 0 else int(round(1000 * gp))
        if len(seen) > 1 or best.extra[gi] != best.name:
            out.append(BedRecord(best.chrom, best.start, best.end, best.extra[gi], score, best.strand, ex))
        else:
            out.append(BedRecord(best.chrom, best.start, best.end, best.name, best.score, best.strand, ex))

    chrom, rank = None, {}
    for r in records:
        rank.setdefault(r.chrom, len(rank))
        if r.chrom != chrom:
            for _, recs in open_.values():
                flush(recs)
            open_, chrom = {}, r.chrom
        for g in [g for g, (end, _) in open_.items() if end <= r.start]:
            flush(open_.pop(g)[1])
        g = r.extra[gi]
        if g in open_:
            end, recs = open_[g]
            open_[g] = (max(end, r.end), recs + [r])
        else:
            open_[g] = (r.end, [r])
    for _, recs in open_.values():
        flush(recs)
    out.sort(key=lambda r: (rank[r.chrom], r.start, r.name))
    return out


def select_calls(records: list[BedRecord], *, min_precision: float | None = None,
                 max_q: float | None = None) -> list[BedRecord]:
    """Select calls by estimated precision and q-value.

    Calls whose precision is at least ``min_precision`` and whose q-value is at most ``max_q`` (calls without that
    calibration, ``-1``, are kept).
    """
    pi, qi = CALL_COLUMNS.index("precision"), CALL_COLUMNS.index("qValue")
    out = []
    for r in records:
        pr, q = float(r.extra[pi]), float(r.extra[qi])
        if min_precision is not None and pr >= 0 and pr < min_precision:
            continue
        if max_q is not None and q >= 0 and q > max_q:
            continue
        out.append(r)
    return out


def finalize_calls(records: list[BedRecord], *, collapse: str | None = None, min_precision: float | None = None,
                   max_q: float | None = None) -> list[BedRecord]:
    """Return selection (:func:`select_calls`) then, with ``collapse="group"``.

    One call per group and site (:func:`collapse_groups`), of call records sorted by sequence and start whose q-values
    are filled in.

    Raises
    ------
    ValueError
        For a ``collapse`` other than None or ``"group"``.
    """
    if collapse not in (None, "group"):
        raise ValueError(f"collapse must be None or 'group', not {collapse!r}")
    records = select_calls(records, min_precision=min_precision, max_q=max_q)
    return collapse_groups(records) if collapse == "group" else records


class StreamCaller:
    """Calls of one model over a record that arrives piece by piece (:func:`tfscope.scan.stream.scan_fasta`).

    :meth:`add` takes each piece's above-threshold nucleotides; :meth:`ready` returns the calls of every cluster of
    points that no later point can reach (the next point lies at least a site width away), and :meth:`finish` the
    rest at the record's end. The calls equal :func:`make_calls` on the whole record.
    """

    def __init__(self, seq_id: str, name: str, spec: CallSpec, symmetric: bool):
        self.seq_id, self.name, self.spec, self.symmetric = seq_id, name, spec, symmetric
        self.parts: list = []

    def add(self, pos, p, f, r) -> None:
        """Add above-threshold nucleotides: positions, combined and per-strand probabilities, all ``(n,)``."""
        if len(pos):
            self.parts.append((pos, p, f, r))

    def _cat(self):
        if not self.parts:
            return None
        if len(self.parts) > 1:
            self.parts = [tuple(np.concatenate(x) for x in zip(*self.parts))]
        return self.parts[0]

    def first_open(self) -> int | None:
        """Position of the first point not yet called (None when none)."""
        return int(self.parts[0][0][0]) if self.parts else None

    def ready(self, done_to: int, length_hint: int) -> list[BedRecord]:
        """Return calls of the clusters complete before ``done_to`` (every later point lies at or beyond it)."""
        cat = self._cat()
        if cat is None:
            return []
        pos = cat[0]
        w = max(1, self.spec.site_width)
        gaps = np.flatnonzero(np.diff(pos) >= w)  # a cluster ends at these indices
        ends = np.concatenate([gaps, [len(pos) - 1]])
        ends = ends[pos[ends] + w <= done_to]
        if not len(ends):
            return []
        k = int(ends[-1]) + 1
        head = tuple(x[:k] for x in cat)
        self.parts = [tuple(x[k:] for x in cat)] if k < len(pos) else []
        return make_calls(self.seq_id, self.name, self.spec, *head, length_hint, symmetric=self.symmetric)

    def finish(self, length: int) -> list[BedRecord]:
        """Call every remaining cluster: the record ended at ``length`` bp."""
        cat = self._cat()
        self.parts = []
        if cat is None:
            return []
        return make_calls(self.seq_id, self.name, self.spec, *cat, length, symmetric=self.symmetric)
