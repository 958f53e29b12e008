"""Streaming a FASTA file of any size (a genome) through fully convolutional scan models in bounded memory.

:func:`scan_fasta` cuts records into pieces with exact context, sends (piece, TF share) units to an executor
(:mod:`tfscope.executor`), calls sites as they become final (:class:`tfscope.scan.calls.StreamCaller`) and writes BED,
bedGraph, bigWig and bigBed. The calls equal those of :func:`tfscope.scan.engine.scan` on the same records.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import gc
import itertools
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import InputError, TfscopeWarning
from ..executor import LocalExecutor
from ..io.atomic import OUTPUT_ERRNOS, Outputs, atomic_write, file_inside, output_error
from ..io.bed import BedRecord, bed_line
from ..io.fasta import iter_fasta
from ..io.tracks import CALL_COLUMNS, TrackRuns, bed_to_bigbed, runs_to_bigwig, value_runs, write_bedgraph
from ..sequence import one_hot
from .calls import (P_COLUMN, StreamCaller, call_lines, call_record, call_table, fill_qvalues, finalize_calls,
                    make_calls, qvalue_map, qvalue_texts)
from .orient import StreamedSequences, orient_calls, oriented_sites, site_window
from .engine import (ScanModel, calls_networks, chunk_hits, chunk_input, chunk_track, combine_strands, model_shares,
                     on_gpu)

#: chunks per streamed piece (:func:`scan_fasta`): 40 x 6000 bp = 240 kbp, about 0.1 GiB of working memory per
#: worker; pieces are the unit of work (with a share of the TFs) sent to the executor
PIECE_CHUNKS = 40


def stream_pieces(records, piece: int, margin: int, sizes: dict):
    """Cut streamed records into ``piece`` bp pieces with up to ``margin`` bp of context on both sides.

    Yields ``(id, start, context, left, length, last)`` (``context`` = sequence ``[start - left, start + length +
    right)``); fills ``sizes`` with each record's length once it has been read.
    """
    for sid, blocks in records:
        buf, buf_start, start = "", 0, 0  # buf holds the sequence from buf_start on
        for block in blocks:
            buf += block
            while buf_start + len(buf) >= start + piece + margin + 1:  # one more base: this is not the last piece
                left = min(margin, start)
                yield sid, start, buf[start - left - buf_start:start + piece + margin - buf_start], left, piece, False
                start += piece
                cut = start - margin - buf_start
                if cut > 0:
                    buf, buf_start = buf[cut:], buf_start + cut
        end = buf_start + len(buf)
        sizes[sid] = end
        while start < end:
            length = min(piece, end - start)
            left = min(margin, start)
            yield (sid, start, buf[start - left - buf_start:start + length + margin - buf_start], left, length,
                   start + length >= end)
            start += length


#: packed short records start on multiples of this many bp from the unit's first column (as a long record's pieces
#: start on multiples of the chunk), so that strided networks (:class:`tfscope.zoo.student.StridedDetector`, bins of 8 bp)
#: see each record on the same bin grid as when it is scanned alone
ALIGN = 8


def packed_tasks(pieces, piece: int, margin: int):
    """Group the pieces of :func:`stream_pieces` into units of work.

    A record that fits in one piece is packed with the short records that follow it into one sequence, each flanked by
    ``margin`` N (wider than half the receptive field, so every record is computed exactly as on its own: N are all-zero
    columns, as past a record's end); other pieces stay alone. Yields ``(context, left, span, segments)`` with
    ``segments`` a list of ``(id, start, offset, length, last)``: the record positions ``[start, start + length)`` lie
    at ``[offset, offset + length)`` of the ``span`` bp computed after ``left`` bp of context. Scanning 1,000 records of
    100 bp then costs about what 100 kbp in one record does, instead of one padded chunk per record.
    """
    pack, total = [], 0

    def flush():
        first = margin + -margin % ALIGN
        parts, segs, off = ["N" * first], [], first
        for sid, c, length in pack:
            segs.append((sid, 0, off, length, True))
            gap = margin + -(off + length + margin) % ALIGN  # the next record starts on the ALIGN grid
            parts += [c, "N" * gap]
            off += length + gap
        ctx = "".join(parts)
        return ctx, 0, len(ctx), segs

    for sid, start, ctx, left, length, last in pieces:
        if start == 0 and last:  # a whole record in one piece
            if pack and total + length + margin > piece:
                yield flush()
                pack, total = [], 0
            pack.append((sid, ctx[:length], length))
            total += length + margin + ALIGN
            continue
        if pack:
            yield flush()
            pack, total = [], 0
        yield ctx, left, length, [(sid, start, 0, length, last)]
    if pack:
        yield flush()


@torch.no_grad()
def _scan_piece(models, task):
    """Scan one unit of :func:`packed_tasks` with a share of the models (the worker side of :func:`scan_fasta`).

    The unit is a piece, or short records packed together. Returns ``(per_model, calls, cbounds)``:

    - ``calls``: the calls of every cluster of points that no other piece can join (:func:`final_points`), made and
      oriented here (:func:`tfscope.scan.calls.make_calls`, :func:`tfscope.scan.orient.orient_calls`) as ``(start,
      name, BED line, p-value)`` with q-values still -1, segment ``k``'s being ``calls[cbounds[k]:cbounds[k + 1]]``;
    - ``per_model``: per model ``(bounds, pos, p, fwd, rev, runs)``, the other nucleotides at or above the model's
      threshold (clusters at a piece's ends, for the record's :class:`tfscope.scan.calls.StreamCaller`) in all
      segments (record parts) together, ``pos`` in record coordinates with combined and per-strand probabilities,
      segment ``k`` being ``[bounds[k], bounds[k + 1])`` of these arrays; ``runs`` is the list of rounded bedGraph runs
      per segment, or None.

    (Flat arrays and lists instead of one object per model and segment: pickling 45 x 1,000 small tuples back from the
    workers made 1,000 packed 100-bp records scan 1.7x slower than the same bases as one record.) Calls are made here
    rather than in the parent, which alone took half the scan's time once the network ran sparse.
    """
    ctx, left, span, segments, share, chunk, digits = task
    x = one_hot([ctx])[0]
    is_base = x[:, left:left + span].sum(0) > 0
    inputs, out, cache, sparse = {}, [], {}, {}
    calls = calls_networks([models[i] for i in share]) if digits is None else {}  # no tracks written: calls only
    if len(segments) > 1:  # packed records: positions in the spacers belong to no segment
        starts = np.array([sg[1] for sg in segments], dtype=np.int64)
        offs = np.array([sg[2] for sg in segments], dtype=np.int64)
        lens = np.array([sg[3] for sg in segments], dtype=np.int64)
    max_w = max(m.call.site_width for m in models)  # as scan_fasta's calls of the record's open clusters
    seg_calls = [[] for _ in segments]
    fetches = [context_fetcher(ctx, left + off - start, start + length if last else None)
               for _, start, off, length, last in segments]
    ctx_bytes = np.frombuffer(ctx.encode("latin-1"), np.uint8)
    for i in share:
        m = models[i]
        margin = m.receptive_field // 2 + 1
        if margin not in inputs:
            inputs[margin] = chunk_input(x, chunk, margin, left=left, length=span)
        net = calls.get(id(m.model))
        if hasattr(net, "hits") and m.strand_symmetric:
            # the calls-only network's sparse output: no dense (T, span) tracks (both strands are one track)
            if id(net) not in sparse:
                t, pos, q = chunk_hits(net, inputs[margin], chunk, margin, span)
                sparse[id(net)] = (pos, q, np.searchsorted(t, np.arange(net.n_outputs + 1)))
            pos, q, cut = sparse[id(net)]
            idx, v = pos[cut[m.output]:cut[m.output + 1]], q[cut[m.output]:cut[m.output + 1]]
            on = (v >= m.threshold) & is_base[idx]
            idx, p_at = idx[on], v[on]
            f_at = r_at = p_at
        else:
            f, r = chunk_track(m, inputs[margin], chunk, margin, span, cache, net)
            f, r = f * is_base, r * is_base
            p = combine_strands(f, r, m.strands)
            idx = np.flatnonzero(p >= m.threshold)
            p_at, f_at, r_at = p[idx], f[idx], r[idx]
        if len(segments) == 1:
            _, start, off, length, _ = segments[0]
            sel = (idx >= off) & (idx < off + length)
            pos = idx[sel] - off + start
            bounds = np.array([0, len(pos)])
        else:
            k = np.searchsorted(offs, idx, side="right") - 1
            sel = (k >= 0) & (idx < offs[np.maximum(k, 0)] + lens[np.maximum(k, 0)])
            k = k[sel]
            pos = idx[sel] - offs[k] + starts[k]
            bounds = np.searchsorted(k, np.arange(len(segments) + 1))
        runs = None
        if digits is not None:
            runs = []
            for _, start, off, length, _ in segments:
                a, b, v = value_runs(np.round(p[off:off + length], digits))
                runs.append((a + start, b + start, v))
        pts = (pos, p_at[sel], f_at[sel], r_at[sel])
        final = np.zeros(len(pos), bool)
        for k, (sid, start, off, length, last) in enumerate(segments):
            a, b = bounds[k], bounds[k + 1]
            final[a:b] = final_points(pos[a:b], m.call.site_width, start, start + length, last)
            if final[a:b].any():
                seg_calls[k] += _final_calls(sid, m, [v[a:b][final[a:b]] for v in pts],
                                             start + length if last else start + length + max_w, ctx_bytes,
                                             fetches[k])
        keep = ~final
        out.append((np.searchsorted(np.flatnonzero(keep), bounds), *(v[keep] for v in pts), runs))
    calls, cbounds = [], [0]
    for entries in seg_calls:
        calls += entries
        cbounds.append(len(calls))
    return out, calls, cbounds


def _entries(recs) -> list[tuple]:
    """Return calls as the first pass of :func:`scan_fasta` holds them until written: ``(start, name, line, p)``."""
    return [(r.start, r.name, bed_line(r), float(r.extra[P_COLUMN])) for r in recs]


def _final_calls(sid: str, m: ScanModel, pts: list, length: int, ctx_bytes: np.ndarray, fetch) -> list[tuple]:
    """Return the calls of one model's final points in a worker (:func:`_scan_piece`), oriented, as :func:`_entries`.

    ``pts``: positions (record coordinates), combined and per-strand probabilities; ``length``: the record length, or a
    bound past the piece; ``fetch``: the unit's :func:`context_fetcher`, whose context ``ctx_bytes`` holds as ASCII
    codes. The same lines as :func:`tfscope.scan.calls.make_calls` then :func:`tfscope.scan.orient.orient_calls`,
    computed as columns (:func:`tfscope.scan.calls.call_table`, :func:`tfscope.scan.orient.oriented_sites`,
    :func:`tfscope.scan.calls.call_lines`): a record per call took 14 us of each of the ~30 calls per kbp.
    """
    matrix = m.call.matrix
    if matrix is None:  # a model without a JASPAR matrix: its track's strand and the call's own sequence
        recs = make_calls(sid, m.name, m.call, *pts, length, symmetric=m.strand_symmetric)
        return _entries(orient_calls(recs, fetch, {m.name: None}))
    t = call_table(pts[0], pts[1], m.call, length)
    lo, hi = site_window(t.start, t.end, matrix.width)  # each call's searched stretch
    n = hi - lo
    at = lo[:, None] + np.arange(int(n.max()))
    # what fetch gives there: the context's letters, N before the record, past its end (when known) or the context
    first, stop = fetch.bounds
    inside = (at >= first) & (at < stop) & (at < lo[:, None] + n[:, None])
    letters = np.where(inside, ctx_bytes[np.clip(at + fetch.base, 0, len(ctx_bytes) - 1)], ord("N")).astype(np.uint8)
    strands, sites = oriented_sites(letters, n, matrix)
    lines = call_lines(sid, m.name, m.call.group, t, strands, sites)
    return list(zip(t.start.tolist(), [m.name] * len(t), lines, t.p_values().tolist()))


def final_points(pos: np.ndarray, width: int, start: int, end: int, last: bool) -> np.ndarray:
    """Which above-threshold points of one piece ``[start, end)`` of a record can be called inside the piece.

    Points ``pos`` (sorted) form clusters separated by gaps of at least the site ``width``: suppression and calls
    never cross such a gap (:func:`tfscope.scan.calls.peak_calls`). A cluster is final when no point of another piece
    can join it: it begins at least ``width`` after ``start`` (or the piece starts the record) and ends at least
    ``width`` before ``end`` (or the piece ends the record). Returns a bool mask over ``pos``; the other points go to the
    record's :class:`tfscope.scan.calls.StreamCaller`.
    """
    if not len(pos):
        return np.zeros(0, bool)
    w = max(1, int(width))
    first = np.concatenate([[0], np.flatnonzero(np.diff(pos) >= w) + 1])
    stop = np.concatenate([first[1:], [len(pos)]])
    ok = ((pos[first] >= start + w) | (start == 0)) & ((pos[stop - 1] + w <= end) | last)
    return np.repeat(ok, stop - first)


def context_fetcher(ctx: str, base: int, end: int | None):
    """``fetch(chrom, start, end)`` of record positions from a unit's context string (:func:`orient_calls`).

    Record position ``P`` is ``ctx[base + P]``; positions before 0, at or past the record's ``end`` (when known) or
    outside ``ctx`` are ``N``.
    """
    first, stop = max(0, -base), len(ctx) - base if end is None else min(len(ctx) - base, end)

    def fetch(_chrom: str, a: int, b: int) -> str:
        lo, hi = max(a, first), min(b, stop)
        if hi <= lo:
            return "N" * (b - a)
        return "N" * (lo - a) + ctx[base + lo:base + hi] + "N" * (b - hi)

    fetch.base, fetch.bounds = base, (first, stop)  # record positions [first, stop) read ctx[base + P]
    return fetch


def _orient_known(recs: list[BedRecord], known, matrices: dict) -> list[BedRecord]:
    """Orient the calls of ``recs`` whose searched stretch lies in one of the ``known`` contexts (in place).

    ``known``: ``(fetch, last)`` of :func:`context_fetcher` s of the pieces this process still holds (``last``: the
    record's end is known there). A stretch counts as inside when every position of it reads the context, or N before
    the record's start or past its known end, so the calls get what the second pass's FASTA read gives them. Those
    outside stay unoriented for the second pass (:func:`_finalize_calls`), which then reads the FASTA only as far as
    they lie (a whole genome read again for a few calls at its end, before). Returns ``recs``.
    """
    def reads(fetch, last, rec):
        matrix = matrices[rec.name]
        a, b = site_window(rec.start, rec.end, matrix.width) if matrix is not None else (rec.start, rec.end)
        first, stop = fetch.bounds
        return (a >= first or first == 0) and (b <= stop or last)

    todo, fetches = [], []
    for rec in recs:
        fetch = next((f for f, last in known if reads(f, last, rec)), None)
        if fetch is not None:
            todo.append(rec)
            fetches.append(fetch)
    if todo:
        order = iter(fetches)  # orient_calls fetches once per call, in order
        orient_calls(todo, lambda chrom, a, b: next(order)(chrom, a, b), matrices)
    return recs


def frozen_heap(fn):
    """Run ``fn`` with the objects that exist when it starts kept out of the garbage collector's passes.

    ``gc.freeze()`` moves them (the models, imported modules: millions of objects) to the permanent generation until
    ``fn`` returns (``gc.unfreeze()``), so the full collections that a scan's many small records trigger scan only
    new objects. Measured on 100 kbp of chr8 windows: the collections cost 0.3 s of the second pass (3,574 calls),
    as much as orienting and writing them.
    """
    @functools.wraps(fn)
    def run(*args, **kwargs):
        gc.freeze()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.unfreeze()
    return run


def build_inference_copies(models: list[ScanModel], *, dense: bool) -> None:
    """Build the inference copies a scan of ``models`` runs, cached per process.

    The dense networks (``dense``: tracks are written) or the calls-only ones
    (:func:`tfscope.scan.engine.calls_networks`): about 0.4 s for the gated zoo's dense copy and 0.15 s for the fast
    zoo's int8 calls-only copy. :func:`scan_fasta` builds them before its workers fork, so that they inherit them.
    """
    if dense:
        for m in models:
            m.inference_model  # noqa: B018 (built on first use)
    else:
        calls_networks(models)


def track_files(tracks: dict, names) -> dict:
    """Return each TF's ``bedgraph`` and ``bigwig`` file in the track folders (:func:`tfscope.scan.files.track_paths`).

    ``<dir>/<TF>.bedGraph`` and ``<dir>/<TF>.bw`` (None where that format is not asked), for
    :func:`tfscope.scan.stream.write_tracks`. Raises :class:`~tfscope.errors.OutputError` for a TF name that would
    leave its folder (:func:`tfscope.io.atomic.file_inside`).
    """
    return {f: [file_inside(tracks[f], f"{n}{suffix}") for n in names] if f in tracks else None
            for f, suffix in (("bedgraph", ".bedGraph"), ("bigwig", ".bw"))}


@frozen_heap
def scan_fasta(models: list[ScanModel], fasta, bed, *, bedgraph=None, bigwig=None, bigbed=None, runs_dir=None,
               chunk: int = 6000, piece: int | None = None, executor=None, digits: int = 3,
               collapse: str | None = None, min_precision: float | None = None, max_q: float | None = None,
               verbose: bool = False, outputs=None) -> dict:
    """Stream a FASTA file (any size: a genome) through fully convolutional models and write calls and tracks.

    Records are read lazily (:func:`tfscope.io.fasta.iter_fasta`: plain, gzip, bgzip/faidx) and cut into pieces
    of ``piece`` bp, each with the chunk-mode margins of :func:`scan_tracks` on both sides, so every nucleotide is
    computed exactly as in a whole-record scan, and the calls equal those of :func:`scan` of the same records: each
    cluster of above-threshold nucleotides is called once no later nucleotide can reach it
    (:class:`tfscope.scan.calls.StreamCaller`; the workers call and orient the clusters inside their piece, this
    process the few that cross pieces). Work goes to the executor by (record, piece, TF share); memory is bounded by
    the pieces in flight, not by record length. Calls go to a private temporary file first; q-values
    need every p-value of the run, so a second pass writes the BED (atomically). Without bedGraph/bigWig output,
    networks with a calls-only copy (the gated zoo, :class:`tfscope.zoo.gated.GatedCalls`) skip work where no call
    can arise; the calls are the same.

    Parameters
    ----------
    models : list of ScanModel, all with a ``receptive_field`` (chunk mode)
    fasta : path of the DNA FASTA
    bed : output BED6+9 of the calls (:data:`tfscope.io.tracks.CALL_COLUMNS`), sorted by record (file order),
        start, name; written atomically
    bedgraph : directory for one bedGraph per TF (``<TF>.bedGraph``), optional
    bigwig : directory for one bigWig per TF (``<TF>.bw``), optional
    bigbed : path of a bigBed 6+9 of the calls (:data:`tfscope.io.tracks.CALLS_AUTOSQL`), optional
    runs_dir : directory (private to the caller's run) that keeps each TF's track as runs (``<i>.runs``), returned
        as ``runs``; the bedGraphs and bigWigs are then not written (``bedgraph`` and ``bigwig`` name the outputs
        that errors name): for outputs in other coordinates (:func:`tfscope.io.coords.relocate_runs`, then
        :func:`write_tracks`); optional
    chunk : chunk length (bp) of chunk mode
    piece : bp per piece (a multiple of ``chunk``; default :data:`PIECE_CHUNKS` chunks)
    executor : :class:`tfscope.executor.LocalExecutor` (default, one process) or ``RayExecutor``
    digits : decimals of the bedGraph/bigWig values
    collapse : ``"group"``: one call per paralog group and site (:func:`tfscope.scan.calls.collapse_groups`)
    min_precision, max_q : keep calls with at least this estimated precision / at most this q-value
        (:func:`tfscope.scan.calls.select_calls`; q-values are computed over all calls first)
    verbose : progress bar (bp)
    outputs : :class:`tfscope.io.atomic.Outputs`, optional: the files are staged in it and renamed into place at
        its commit, by the caller (with the run's other outputs); by default they are renamed together at the end

    Returns
    -------
    dict with ``records``, ``bp``, ``sites``, ``calls_per_name`` (calls written per TF or group), ``chrom_sizes``
    (``{id: length}``), the written ``paths`` and, with ``runs_dir``, the ``runs`` (one
    :class:`tfscope.io.tracks.RunsFile` per model).

    Raises
    ------
    ValueError
        If a model has no receptive field (window-mode models scan in memory with :func:`scan`) or ``piece`` is
        not a positive multiple of ``chunk``.
    InputError
        Bad FASTA input (nothing is written then).
    """
    if any(m.receptive_field is None for m in models):
        raise ValueError("streaming needs fully convolutional models with a receptive_field; scan window-mode "
                         "models in memory with tfscope.scan.engine.scan")
    piece = piece or PIECE_CHUNKS * chunk
    if piece <= 0 or piece % chunk:
        raise ValueError(f"piece ({piece}) must be a positive multiple of chunk ({chunk})")
    executor = executor or LocalExecutor(1)
    margin = max(m.receptive_field // 2 + 1 for m in models)
    max_w = max(m.call.site_width for m in models)
    shares = model_shares(models, executor.workers)
    own = outputs is None  # this run's files, renamed into place together at the end (concurrent runs stay apart)
    outputs = Outputs() if own else outputs
    # the final paths (a TF name that is no file name fails here, before the scan), and each track's runs streamed
    # to a private binary file until they are written as bedGraph and bigWig (write_tracks)
    named = track_files({f: d for f, d in (("bedgraph", bedgraph), ("bigwig", bigwig)) if d}, [m.name for m in models])
    graph_paths, wig_paths = named["bedgraph"], named["bigwig"]
    graphs, keep_runs = [], runs_dir is not None
    if bedgraph or bigwig or keep_runs:
        try:
            runs_dir = Path(runs_dir) if keep_runs else outputs.tempdir(Path(bigwig or bedgraph))
            for i, label in enumerate(graph_paths or wig_paths or [None] * len(models)):
                graphs.append(TrackRuns(runs_dir / f"{i}.runs", label=label))
        except BaseException:
            for g in graphs:
                g.close()
            outputs.discard()
            raise
    sizes: dict[str, int] = {}
    metas = collections.deque()  # (segments, share number, context, left) of the tasks submitted, in order
    matrices = {m.name: m.call.matrix for m in models}

    def tasks():
        pieces = stream_pieces(iter_fasta(fasta, block=piece), piece, margin, sizes)
        for ctx, left, span, segments in packed_tasks(pieces, piece, margin):
            for j, sh in enumerate(shares):
                metas.append((segments, j, ctx, left))
                yield ctx, left, span, segments, sh, chunk, digits if graphs else None

    if isinstance(executor, LocalExecutor):  # built here, so that forked workers inherit them
        build_inference_copies(models, dense=bool(graphs))
    bed = Path(bed)
    raw = outputs.tempdir(bed) / "calls.raw"  # first pass (q-values need the whole run), private to this run
    counts, ok, p_values, names = collections.Counter(), False, [], collections.Counter()
    try:
        with open(raw, "w") as fh, tqdm(disable=None if verbose else True, desc="scan", unit="bp",
                                        unit_scale=True) as bar:
            callers: dict[int, StreamCaller] = {}  # model index -> caller of this record, from its 1st point
            cur = None
            # calls not yet written, as (start, name, BED line, p-value): a call of a later point may precede them
            pending: list[tuple] = []
            outs = [None] * len(shares)
            # the contexts of this record's last two pieces: the calls of clusters across pieces are oriented from
            # them here when their searched stretch lies inside (the second pass reads the FASTA again for the others)
            known: collections.deque = collections.deque(maxlen=2)
            for res in executor.imap(_scan_piece, tasks(), state=models, in_process=on_gpu(models)):
                segments, j, ctx, left = metas.popleft()
                outs[j] = res
                if j < len(shares) - 1:
                    continue
                for k, (sid, start, off, length, last) in enumerate(segments):
                    if sid != cur:
                        callers, cur = {}, sid
                        known.clear()
                    end = start + length
                    if len(segments) == 1:  # a piece of a record (packed records are called whole in the workers)
                        known.append((context_fetcher(ctx, left + off - start, end if last else None), last))
                    for sh, (out, calls, cbounds) in zip(shares, outs):
                        pending += calls[cbounds[k]:cbounds[k + 1]]  # called (and oriented) by the worker
                        for i, (bounds, pos, p, f, r, runs) in zip(sh, out):
                            a, b = bounds[k], bounds[k + 1]
                            if runs is not None:
                                graphs[i].add(sid, *runs[k])
                            if b > a:
                                if i not in callers:
                                    m = models[i]
                                    callers[i] = StreamCaller(sid, m.name, m.call, m.strand_symmetric)
                                callers[i].add(pos[a:b], p[a:b], f[a:b], r[a:b])
                    for c in callers.values():
                        pending += _entries(_orient_known(c.finish(end) if last else c.ready(end, end + max_w),
                                                          known, matrices))
                    if last:
                        ready, pending = pending, []
                    else:
                        opens = [c.first_open() for c in callers.values()]
                        open_from = min([o - max_w for o in opens if o is not None] + [end - max_w])
                        ready = [c for c in pending if c[0] < open_from]
                        pending = [c for c in pending if c[0] >= open_from]
                    if ready:
                        ready.sort(key=lambda c: (c[0], c[1]))
                        fh.writelines(c[2] for c in ready)
                        p_values.append(np.array([c[3] for c in ready]))
                        names.update(c[1] for c in ready)
                    bar.update(length)
        with warnings.catch_warnings():  # the first pass has said what there is to say about the FASTA
            warnings.simplefilter("ignore", TfscopeWarning)
            fetch = StreamedSequences(iter_fasta(fasta, block=piece), keep=2 * max_w + piece)
            counts = _finalize_calls(raw, bed, np.concatenate(p_values) if p_values else np.zeros(0), names,
                                      fetch=fetch, matrices=matrices,
                                      collapse=collapse, min_precision=min_precision, max_q=max_q, outputs=outputs)
        ok = True
    except OSError as e:  # the first pass's file: one line naming the output, as every other write
        if e.errno in OUTPUT_ERRNOS:
            raise output_error(bed, e) from None
        raise
    finally:
        failed, files = None, []
        for g in graphs:  # every run file closes (a failure discards them all): no half-closed temporary file
            try:
                files.append(g.close())
            except BaseException as e:
                failed = failed or e
        if not ok or failed is not None:
            outputs.discard()
        if failed is not None and ok:
            raise failed
    paths = {"bed": Path(bed)}
    try:
        if (graph_paths or wig_paths) and not keep_runs:
            write_tracks(files, [m.name for m in models], sizes, bedgraph=graph_paths, bigwig=wig_paths,
                         digits=digits, outputs=outputs, workers=executor.workers, in_process=on_gpu(models),
                         verbose=verbose)
        if bedgraph and not keep_runs:
            paths["bedgraph"] = graph_paths
        if bigwig and not keep_runs:
            paths["bigwig"] = wig_paths
        if bigbed:
            paths["bigbed"] = bed_to_bigbed(outputs.staged(bed), bigbed, sizes, outputs=outputs)
        if own:
            outputs.commit()
    except BaseException:
        outputs.discard()
        raise
    finally:
        if own:
            outputs.discard()
    return {"records": len(sizes), "bp": sum(sizes.values()), "sites": sum(counts.values()),
            "calls_per_name": dict(counts), "chrom_sizes": sizes,
            "paths": paths, **({"runs": files} if keep_runs else {})}


#: tracks written at a time by :func:`write_tracks` (each holds its files' temporary names open until it is written)
TRACK_BATCH = 64


def write_tracks(files: list, names: list[str], sizes: dict[str, int], *, bedgraph: list | None = None,
                 bigwig: list | None = None, digits: int = 3, outputs: Outputs, workers: int = 1,
                 in_process: bool = False, verbose: bool = False) -> None:
    """Write a streamed scan's tracks as bedGraph and bigWig files, one track per task on local worker processes.

    Parameters
    ----------
    files : one :class:`tfscope.io.tracks.RunsFile` per track (:class:`tfscope.io.tracks.TrackRuns`)
    names : the tracks' names (bedGraph ``track`` lines)
    sizes : ``{record: length}`` in the order of the runs' records
    bedgraph, bigwig : the final paths of each track's bedGraph / bigWig (None: not written)
    outputs : the scan's :class:`tfscope.io.atomic.Outputs`: each file is written by a worker into a temporary name
        staged here (removed here if anything fails, also after a worker was stopped) and renamed at its commit
    workers : processes (a :class:`tfscope.executor.LocalExecutor`: these files are written on this machine, also when
        the scan ran on Ray); ``in_process``: in this process (CUDA models, which a fork would copy)

    The tracks are independent, so the writing (pybigtools' encoder took 2.6 s of CPU for the fast zoo's 45 tracks of
    1 Mbp) runs on all the scan's cores instead of after it on one.

    Raises
    ------
    OutputError, InputError
        As :func:`tfscope.io.tracks.write_bedgraph` and :func:`tfscope.io.tracks.runs_to_bigwig`; nothing is kept.
    """
    executor = LocalExecutor(min(workers, os.cpu_count() or 1))
    with tqdm(total=len(files), disable=None if verbose else True, desc="tracks", unit="track") as bar:
        for lo in range(0, len(files), TRACK_BATCH):
            with contextlib.ExitStack() as stack:
                tasks = []
                for i in range(lo, min(lo + TRACK_BATCH, len(files))):
                    graph = wig = None
                    if bedgraph:
                        graph = stack.enter_context(outputs.open(bedgraph[i])).name
                    if bigwig:
                        wig = stack.enter_context(outputs.open(bigwig[i], "wb", suffix=".tmp.bw")).name
                    tasks.append((files[i], names[i], digits, graph, wig))
                done = 0
                try:
                    # the record sizes as the workers' state (inherited by the fork, not pickled once per track)
                    for _ in executor.imap(_write_track, tasks, state=sizes, in_process=in_process):
                        done += 1
                        bar.update(1)
                except (InputError, OSError) as e:  # (in order: the first unfinished task failed) named by its output
                    i, graph = lo + done, tasks[done][3]
                    path = bedgraph[i] if bedgraph and (not bigwig or getattr(e, "path", None) == graph) else bigwig[i]
                    if isinstance(e, InputError):
                        raise type(e)(e.message, str(path), e.line) from None
                    raise output_error(path, e) from None


def _write_track(sizes: dict[str, int], task) -> None:
    """Write one track's bedGraph and bigWig onto their staged temporary names (:func:`write_tracks`' task)."""
    runs, name, digits, graph, wig = task
    if graph:
        write_bedgraph(graph, name, runs.blocks(), digits=digits, in_place=True)
    if wig:
        runs_to_bigwig(runs, wig, sizes, in_place=True)


#: raw calls oriented together in the second pass (:func:`tfscope.scan.orient.orient_calls`)
ORIENT_BATCH = 4096


def _finalize_calls(raw, bed, p_values: np.ndarray, names: collections.Counter, *, fetch, matrices: dict,
                    collapse=None, min_precision=None, max_q=None, outputs=None) -> collections.Counter:
    """Second pass of :func:`scan_fasta`.

    The raw calls (sorted per record; those the workers did not orient, the clusters across pieces, are oriented here
    by their TF's matrix: ``matrices``: name -> SiteMatrix or None, the sequence from ``fetch``,
    :mod:`tfscope.scan.orient`), with q-values over the run, collapsed and selected per block of overlapping calls,
    written atomically to ``bed`` (renamed at the commit of ``outputs``, a :class:`tfscope.io.atomic.Outputs`, when
    given). ``p_values`` and ``names``: the raw calls' p-values in file order and their count per name. Returns the
    number of calls written per name.
    """
    qmap = qvalue_map(p_values)
    counts: collections.Counter = collections.Counter()
    with atomic_write(bed, outputs=outputs) as out, open(raw) as fh:
        block: list[BedRecord] = []
        block_end, chrom = -1, None

        def flush():
            if block:
                recs = finalize_calls(block, collapse=collapse, min_precision=min_precision, max_q=max_q)
                out.writelines(bed_line(r) for r in recs)
                counts.update(r.name for r in recs)
                block.clear()

        if collapse is None and min_precision is None and max_q is None:
            # nothing to select or collapse: the lines as written, their q-values filled in (those of the run's
            # p-values, which are in the file's order), and the calls the workers could not orient oriented here
            q_texts = qvalue_texts(p_values, qmap)
            tail = len(CALL_COLUMNS) - P_COLUMN - 2  # columns after the q-value's
            for k in itertools.count(0, ORIENT_BATCH):
                lines = list(itertools.islice(fh, ORIENT_BATCH))
                if not lines:
                    break
                short = [i for i, c in enumerate(lines) if c.count("\t") < 5 + len(CALL_COLUMNS)]  # main's calls
                recs = [call_record(lines[i]) for i in short]
                for i, r in zip(short, orient_calls(recs, fetch, matrices)):
                    lines[i] = bed_line(r)
                for i, q in enumerate(q_texts[k:k + len(lines)]):
                    c = lines[i].rsplit("\t", tail + 1)
                    c[1] = q
                    lines[i] = "\t".join(c)
                out.writelines(lines)
            return collections.Counter(names)
        while True:
            lines = list(itertools.islice(fh, ORIENT_BATCH))
            if not lines:
                break
            recs = [call_record(c) for c in lines]
            fill_qvalues(recs, qmap)  # per call: one vectorized pass per batch, not per block
            orient_calls([r for r in recs if len(r.extra) < len(CALL_COLUMNS)], fetch, matrices)  # main's calls
            if collapse is None:  # selection is call by call: the whole batch at once
                block[:] = recs
                flush()
                continue
            for r in recs:
                if r.chrom != chrom or r.start >= block_end:
                    flush()
                    chrom, block_end = r.chrom, r.end
                block.append(r)
                block_end = max(block_end, r.end)
        flush()
    return counts
