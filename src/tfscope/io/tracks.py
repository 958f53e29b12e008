"""Genome-browser track files: bedGraph, bigWig and bigBed (pybigtools).

bigWig/bigBed are the indexed binary formats of Kent et al. 2010 (BigWig and BigBed: enabling browsing of large
distributed datasets, Bioinformatics 26:2204); they are written with ``pybigtools`` (the Rust ``bigtools``
library) from a scan's binary runs (:class:`TrackRuns`, one way for every scan path) or a BED file, read in blocks,
so memory does not grow with the genome.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import itertools
from pathlib import Path

import numpy as np

from ..errors import InputError
from .atomic import atomic_write, output_error
from .inputs import read_lines


def value_runs(v: np.ndarray):
    """Return runs of equal value of a 1-D track: ``(starts, ends, values)`` of the non-zero runs (0-based, half-open)."""
    edges = np.flatnonzero(np.diff(v)) + 1
    bounds = np.concatenate([[0], edges, [len(v)]])
    a, b = bounds[:-1], bounds[1:]
    keep = v[a] > 0
    return a[keep], b[keep], v[a[keep]]


@functools.lru_cache(maxsize=4)
def _value_strings(digits: int) -> list[str]:
    """``f"{v:.{digits}f}"`` of every value ``i / 10**digits`` in [0, 1]."""
    return [f"{i / 10 ** digits:.{digits}f}" for i in range(10 ** digits + 1)]


#: one run of a track in a :class:`TrackRuns` file: record (chromosome) index, start, end (0-based, half-open; the
#: bigWig format's 32-bit coordinates) and value
RUN_DTYPE = np.dtype([("chrom", "<u4"), ("start", "<u4"), ("end", "<u4"), ("value", "<f4")])


@dataclasses.dataclass(frozen=True)
class RunsFile:
    """A finished :class:`TrackRuns` file.

    Its ``path`` and the names of its records (``chroms``, indexed by the runs' chrom field); picklable, so another
    process can write it as bedGraph or bigWig.
    """

    path: Path
    chroms: tuple[str, ...]

    def blocks(self, size: int = 1 << 20):
        """Yield ``(chrom, starts, ends, values)`` of up to ``size`` runs at a time, one record per block.

        Read through a memory map: memory stays bounded by the block.
        """
        if self.path.stat().st_size == 0:
            return
        runs = np.memmap(self.path, RUN_DTYPE, mode="r")
        for i in range(0, len(runs), size):
            block = runs[i:i + size]
            ids = block["chrom"]
            cut = np.flatnonzero(ids[1:] != ids[:-1]) + 1
            for lo, hi in zip(np.concatenate([[0], cut]).tolist(), np.concatenate([cut, [len(block)]]).tolist()):
                part = block[lo:hi]
                yield self.chroms[int(ids[lo])], part["start"], part["end"], part["value"]


class TrackRuns:
    """The runs of one track, streamed to a binary file (:data:`RUN_DTYPE`), then written as bedGraph or bigWig.

    Runs are appended in coordinate order (records in file order); a run that continues the previous one with the same
    value is merged into it, zero runs are omitted. The file is private to the run (a streamed scan's temporary
    directory, :func:`tfscope.scan.stream.scan_fasta`), 16 bytes a run; :meth:`close` gives the :class:`RunsFile`
    that :func:`write_bedgraph` and :func:`runs_to_bigwig` read, in whichever process writes them. (A scan's 45 tracks
    of 1 Mbp are ~5.6 million runs: formatted as bedGraph lines, then parsed back for pybigtools, they took 2.1 s of
    one thread besides the bigWig writer's own 2.6 s.)

    Parameters
    ----------
    path : the binary file (created, truncated)
    label : the output that errors name (the file these runs become), default ``path``

    Raises
    ------
    OutputError
        The file cannot be written (a full disk).
    ValueError
        (from :meth:`add`) a coordinate beyond 2**32 - 1, which no bigWig holds.
    """

    def __init__(self, path, *, label=None):
        self.path = Path(path)
        self.label = label or self.path
        self._chroms: list[str] = []  # record names, indexed by the runs' chrom field
        try:
            self._fh = open(self.path, "wb")
        except OSError as e:
            raise output_error(self.label, e) from None
        self._last = None  # (chrom, start, end, value) not yet written

    def add(self, chrom: str, starts, ends, values, *, offset: int = 0) -> None:
        """Append runs ``[offset + start, offset + end)`` with their values (coordinate order, after earlier runs)."""
        a = np.asarray(starts, np.int64) + offset
        b = np.asarray(ends, np.int64) + offset
        v = np.asarray(values, np.float32)
        if not len(a):
            return
        if b[-1] >= 1 << 32:
            raise ValueError(f"{chrom}: position {int(b[-1])} is beyond the 32-bit coordinates of a bigWig")
        # runs that continue the previous one (same chromosome, touching, same value) merge into it: vectorized, as
        # 45 tracks of 1 Mbp give ~6 million runs (a Python loop per run made the tracks scan 2x slower)
        new = np.ones(len(a), bool)
        new[1:] = (a[1:] != b[:-1]) | (v[1:] != v[:-1])
        last = self._last
        if last is not None and last[0] == chrom and last[2] == a[0] and last[3] == v[0]:
            a[0], new[0] = last[1], True
            last = None
        idx = np.flatnonzero(new)
        a, b, v = a[idx], b[np.append(idx[1:] - 1, len(new) - 1)], v[idx]
        if last is not None:
            self._write_last()
        self._write(chrom, a[:-1], b[:-1], v[:-1])
        self._last = (chrom, int(a[-1]), int(b[-1]), v[-1])

    def _write_last(self) -> None:
        last, self._last = self._last, None
        self._write(last[0], [last[1]], [last[2]], [last[3]])

    def _write(self, chrom: str, a, b, v) -> None:
        if not self._chroms or self._chroms[-1] != chrom:
            self._chroms.append(chrom)
        rec = np.empty(len(a), RUN_DTYPE)
        rec["chrom"], rec["start"], rec["end"], rec["value"] = len(self._chroms) - 1, a, b, v
        try:
            self._fh.write(rec.data)  # (ndarray.tofile reports a full disk without its errno)
        except OSError as e:
            raise output_error(self.label, e) from None

    def close(self) -> RunsFile:
        """Write the last run, close the file and return it as a :class:`RunsFile`."""
        if not self._fh.closed:
            try:
                if self._last is not None:
                    self._write_last()
            finally:
                try:
                    self._fh.close()
                except OSError as e:
                    raise output_error(self.label, e) from None
        return RunsFile(self.path, tuple(self._chroms))


def bedgraph_text(chrom: str, a: np.ndarray, b: np.ndarray, v: np.ndarray, digits: int) -> str:
    """Return the bedGraph lines of runs ``[a, b)`` with values ``v`` printed with ``digits`` decimals.

    Values in [0, 1] on the ``digits`` grid (to 1e-6: float32 probabilities rounded to it) take their strings from a
    table (:func:`_value_strings`), the strings that formatting each value gives.
    """
    scale = 10 ** digits
    v = np.asarray(v, np.float64)
    k = np.rint(v * scale)
    if digits <= 4 and len(v) and k.min() >= 0 and k.max() <= scale and np.abs(k / scale - v).max() < 1e-6:
        table = _value_strings(digits)
        vals = [table[i] for i in k.astype(np.int64).tolist()]
    else:
        vals = [f"{x:.{digits}f}" for x in v.tolist()]
    # one %-format of a repeated template over the interleaved columns (in C): 1.6x faster than an f-string per
    # line, which took 1.8 s of the 45 tracks of 1 Mbp (5.6 million runs); ``%`` in a record id is escaped
    flat: list = [None] * (3 * len(vals))
    flat[0::3], flat[1::3], flat[2::3] = np.asarray(a).tolist(), np.asarray(b).tolist(), vals
    return ((chrom.replace("%", "%%") + "\t%d\t%d\t%s\n") * len(vals)) % tuple(flat)


def write_bedgraph(path, name: str, blocks, *, digits: int = 3, outputs=None, in_place: bool = False) -> Path:
    """Write a bedGraph of runs, atomically.

    ``blocks``: ``(chrom, starts, ends, values)`` in coordinate order (:meth:`RunsFile.blocks`, or one per record
    from :func:`value_runs`), values printed with ``digits`` decimals; with ``outputs``
    (:class:`tfscope.io.atomic.Outputs`) renamed at its commit; ``in_place``: into ``path`` itself, a temporary name
    that the caller staged (and removes on failure). Returns ``path``.

    Raises
    ------
    OutputError
        ``path`` cannot be written (a full disk: the message names it; nothing is left there).
    """
    path = Path(path)
    with _output(path, outputs=outputs, in_place=in_place) as fh:
        fh.write(f'track type=bedGraph name="{name}" description="tfscope P(binding)"\n')
        try:
            for chrom, a, b, v in blocks:
                fh.write(bedgraph_text(chrom, a, b, v, digits))
        except OSError as e:
            raise output_error(path, e) from None
    return path


def runs_to_bigwig(runs: RunsFile, bigwig, chrom_sizes: dict[str, int], *, outputs=None,
                   in_place: bool = False) -> Path:
    """Write the runs of a :class:`RunsFile` as a bigWig (atomic; ``outputs``, ``in_place``: :func:`write_bedgraph`).

    The runs go to pybigtools as tuples straight from the binary file (no bedGraph text in between), a block at a
    time (a generator per run cost 1.5 s of the 45 tracks of 1 Mbp). ``chrom_sizes``: ``{record: length}`` in the
    order of the runs' records. Returns the bigWig's path.
    """
    def blocks():
        for chrom, a, b, v in runs.blocks():
            yield zip(itertools.repeat(chrom, len(a)), a.tolist(), b.tolist(), v.tolist())

    return _write_bigwig(bigwig, chrom_sizes, lambda failed: _caught(blocks(), failed), outputs=outputs,
                         in_place=in_place)


def _parsed(path, parse, what: str):
    """``parse(columns)`` of each data line of a BED-like file (track/browser/comment lines skipped)."""
    for lineno, line in read_lines(path):
        if not line or line.startswith(("track", "browser", "#")):
            continue
        try:
            yield parse(line.split("\t"))
        except (IndexError, ValueError):
            raise InputError(f"expected {what}", str(path), lineno) from None


def _write_bigwig(bigwig, chrom_sizes: dict[str, int], blocks, *, outputs=None, in_place: bool = False) -> Path:
    """Write a bigWig of ``blocks(failed)``, an iterator of blocks of ``(chrom, start, end, value)`` tuples.

    The blocks reach pybigtools through :func:`itertools.chain.from_iterable` (no Python frame per run). A track
    without a run (no base scored above 0: an all-N record) gets one run of 0 on the first base, as pybigtools
    writes no readable bigWig of no values.
    """
    def with_a_value(failed):
        empty = True
        for block in blocks(failed):
            empty = False
            yield block
        first = next((c for c, n in chrom_sizes.items() if n > 0), None)
        if empty and first is not None and not failed:
            yield iter([(first, 0, 1, 0.0)])

    return _write_bbi(bigwig, ".bw", lambda w, failed: w.write(
        dict(chrom_sizes), itertools.chain.from_iterable(with_a_value(failed))), outputs=outputs, in_place=in_place)


#: the extra columns of a call (BED6+9, in this order after the strand): peak probability, peak position (0-based,
#: same coordinates as the call), estimated precision of the call for its TF and for its paralog group (-1: the model
#: has no call calibration), empirical p-value of the peak against genome background and its Benjamini-Hochberg
#: q-value over the run (-1: no background), the paralog group, and the group's TFs called there ranked by score
#: (``TF:score/1000,...``, i.e. their estimated precision; the call's own TF alone unless ``--collapse group``),
#: and the matched site sequence on the call's strand (:mod:`tfscope.scan.orient`)
CALL_COLUMNS = ("peakP", "peak", "precision", "groupPrecision", "pValue", "qValue", "group", "members", "site")

#: the columns an any-TF scan (``tfscope scan --motifs``, :mod:`tfscope.anytf.scan`) adds after
#: :data:`CALL_COLUMNS`: who called the site (``trained``, ``motif-conditioned``, ``pwm``) and the matrix's ID
MOTIF_COLUMNS = ("evidence", "matrixId")

#: autoSql declaring the BED6+9 calls of ``tfscope scan`` (the BED beside it and the bigBed share it): score =
#: round(1000 x precision) when the model is calibrated, else round(1000 x peak P)
CALLS_AUTOSQL = """table tfscopeCalls
"tfscope TFBS calls: one call per binding event"
(
    string chrom;          "Reference sequence"
    uint   chromStart;     "Start (0-based)"
    uint   chromEnd;       "End (exclusive)"
    string name;           "TF (or paralog group with --collapse group)"
    uint   score;          "round(1000 x estimated precision), or round(1000 x peak P) without calibration"
    char[1] strand;        "Strand of the best JASPAR-matrix window in the call (. for palindromic matrices)"
    float  peakP;          "Peak P(binding) of the track in the call"
    uint   peak;           "Peak position (0-based)"
    float  precision;      "Estimated P(call overlaps a true site of its TF), chr7-calibrated; -1 if unknown"
    float  groupPrecision; "Estimated P(call overlaps a true site of its paralog group); -1 if unknown"
    float  pValue;         "Empirical p-value of the peak against genome background; -1 if unknown"
    float  qValue;         "Benjamini-Hochberg q-value over the run; -1 if unknown"
    string group;          "Paralog group (TFs with similar JASPAR motifs)"
    string members;        "Group TFs called here, ranked: TF:score/1000,..."
    string site;           "Matched site sequence on the call's strand (best JASPAR-matrix window)"
)
"""


def _bed_call(c: list[str], n_extra: int = len(CALL_COLUMNS)):
    if len(c) != 6 + n_extra or not 0 <= int(c[4]) <= 1000:
        raise ValueError
    return c[0], int(c[1]), int(c[2]), "\t".join(c[3:]).rstrip("\n")


def _bed_calls(path, columns=CALL_COLUMNS):
    return _parsed(path, functools.partial(_bed_call, n_extra=len(columns)),
                   f"a tfscope scan BED6+{len(columns)} line (score 0-1000, {', '.join(columns)})")


def bed_to_bigbed(bed, bigbed, chrom_sizes: dict[str, int], *, outputs=None, autosql: str = CALLS_AUTOSQL,
                  columns=CALL_COLUMNS) -> Path:
    """Convert a calls BED6+9 into a bigBed 6+9.

    Convert the BED6+9 of ``tfscope scan`` calls (sorted by chromosome in ``chrom_sizes`` order, then start) into a
    bigBed 6+9 with the same columns (:data:`CALLS_AUTOSQL`); with ``outputs`` (:class:`tfscope.io.atomic.Outputs`)
    renamed at its commit. ``autosql`` and ``columns`` (the names after BED6) declare another call layout: the BED6+11
    of ``tfscope scan --motifs`` (:data:`tfscope.anytf.scan.MOTIF_CALLS_AUTOSQL`, ``CALL_COLUMNS + MOTIF_COLUMNS``).

    Raises
    ------
    InputError
        A line that is not a call line of that layout.
    """
    return _write_bbi(bigbed, ".bb", lambda w, failed: w.write(dict(chrom_sizes), _caught(_bed_calls(bed, columns),
                                                                                           failed), autosql=autosql),
                      outputs=outputs)


def _caught(records, failed: list):
    """Yield ``records``; an exception raised by them ends the iteration and is put in ``failed``.

    pybigtools 0.3 prints an exception raised while it iterates the records and returns normally, leaving a truncated
    file; :func:`_write_bbi` raises what ``failed`` holds once the writer has returned.
    """
    try:
        yield from records
    except Exception as e:
        failed.append(e)


@contextlib.contextmanager
def _output(path: Path, mode: str = "w", *, suffix: str = ".tmp", outputs=None, in_place: bool = False):
    """Open an output: :func:`tfscope.io.atomic.atomic_write`, or with ``in_place`` the file ``path`` itself.

    In place: a temporary name that the caller staged and removes on failure (a process killed while writing it
    leaves nothing of its own).
    """
    if not in_place:
        with atomic_write(path, mode, suffix=suffix, outputs=outputs) as fh:
            yield fh
        return
    try:
        fh = open(path, mode, encoding=None if "b" in mode else "utf-8")
    except OSError as e:
        raise output_error(path, e) from None
    with fh:
        yield fh


def _write_bbi(path, kind: str, write, *, outputs=None, in_place: bool = False) -> Path:
    import pybigtools

    path = Path(path)
    failed = []  # what the record iterators raised (pybigtools only prints it): raised once the writer returns
    # pybigtools writes the temporary file by name (its extension tells the format); renamed on success
    with _output(path, "wb", suffix=".tmp" + kind, outputs=outputs, in_place=in_place) as fh:
        try:
            write(pybigtools.open(fh.name, "w"), failed)
            if failed:
                raise failed[0]
        except (InputError, OSError):
            raise
        except Exception as e:  # pybigtools reports write failures (a full disk) as its own exception types
            raise OSError(errno.EIO, f"{type(e).__name__}: {e}") from e
    return path


def track_runs(directory, tracks: dict, names: list[str], *, digits: int = 3, labels=None) -> list[RunsFile]:
    """Each model's track of in-memory scan output as a :class:`RunsFile` (``<directory>/<i>.runs``).

    ``tracks``: ``{record id: (n_models, length) array}`` (:func:`tfscope.scan.engine.scan`), ``names`` the models';
    values rounded to ``digits`` decimals, runs of equal value merged, zero runs omitted (as a streamed scan's
    workers give them), for :func:`tfscope.scan.stream.write_tracks`. ``labels``: the output each track becomes, which
    errors name (default: its runs file).

    Raises
    ------
    OutputError
        ``directory`` cannot be written.
    """
    out = []
    for i, name in enumerate(names):
        runs = TrackRuns(Path(directory) / f"{i}.runs", label=labels[i] if labels else None)
        try:
            for sid, t in tracks.items():
                runs.add(sid, *value_runs(np.round(t[i], digits)))
        finally:
            out.append(runs.close())
    return out


def write_tracks_tsv(path, tracks: dict, names: list[str], *, outputs=None) -> None:
    """Write per-nucleotide probabilities as TSV.

    ``seq_id position(0-based) base-called-probabilities...`` (atomically; with ``outputs``, a
    :class:`tfscope.io.atomic.Outputs`, renamed at its commit).
    """
    with atomic_write(path, outputs=outputs) as fh:
        fh.write("\t".join(["seq_id", "position", *names]) + "\n")
        for sid, t in tracks.items():
            for i in range(t.shape[1]):
                fh.write(sid + "\t" + str(i) + "\t" + "\t".join(f"{v:.4f}" for v in t[:, i]) + "\n")
