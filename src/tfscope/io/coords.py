"""Genome coordinates from FASTA headers (``--parse-genomic-coord``, FIMO's name for the same option).

A FASTA cut from a genome names each record after the stretch it holds. Two tools write two conventions:

- ``samtools faidx genome.fa chr1:101-200`` writes ``>chr1:101-200``: **1-based, inclusive** (100 bp starting at
  the genome's 0-based position 100);
- ``bedtools getfasta -bed regions.bed`` writes ``>chr1:100-200``: **0-based, half-open** (the BED interval);
  with ``-name`` it writes ``>NAME::chr1:100-200``, with ``-s`` a strand suffix ``(+)`` / ``(-)``.

:class:`GenomeCoords` maps each record id to ``(chrom, offset)`` once; :meth:`GenomeCoords.locate` is the one
place where a record coordinate becomes a genome coordinate, and the ``relocate_*`` functions apply it to the
scan's BED and TSV outputs and its tracks' runs (all made in record coordinates first). Records whose header holds
no coordinates keep their id as the chromosome and start at 0 (as FIMO does).

The convention ``auto`` (the default of ``tfscope scan --parse-genomic-coord``) takes, for each record, the one
convention that agrees with the record's length (``end - start + 1`` for faidx, ``end - start`` for bedtools; the
two always differ by one base, so the choice is never ambiguous) and raises an error when neither does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .atomic import atomic_write
from .fasta import header_line
from .inputs import read_lines
from .tracks import RUN_DTYPE, TrackRuns

#: conventions of :func:`parse_genomic_coord`: ``auto`` (by record length), ``faidx`` (1-based inclusive, samtools
#: faidx / UCSC position strings), ``bedtools`` (0-based half-open, bedtools getfasta)
CONVENTIONS = ("auto", "faidx", "bedtools")

#: a ``chrom:start-end`` FASTA header (optionally ``name::`` before it and ``(strand)`` after it)
REGION_HEADER = re.compile(r"^(?:(?P<name>.+)::)?(?P<chrom>[^:\s]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)"
                           r"(?:\((?P<strand>[+.-])\))?$")


@dataclass(frozen=True)
class Locus:
    """Where a record lies: ``[offset, offset + length)`` on ``chrom``, 0-based half-open."""

    chrom: str
    offset: int
    length: int


def parse_genomic_coord(record_id: str, length: int, convention: str = "auto") -> Locus:
    """Genome location of a FASTA record from its id (the header up to the first whitespace).

    Parameters
    ----------
    record_id : ``chrom:start-end`` (commas allowed in the numbers), optionally ``NAME::chrom:start-end`` and a
        strand suffix ``(+)``; any other id is a whole sequence of its own (``Locus(record_id, 0, length)``)
    length : the record's length in bp (checked against the header's span)
    convention : ``auto``, ``faidx`` (1-based inclusive) or ``bedtools`` (0-based half-open); see the module text

    Returns
    -------
    :class:`Locus` with a 0-based offset.

    Raises
    ------
    InputError
        Unknown convention; a span that disagrees with the record length under the convention (the message names
        the convention that would fit); a ``(-)`` record (reverse-complemented: its positions run backwards, which
        the outputs cannot express; cut the FASTA without ``-s``).
    """
    if convention not in CONVENTIONS:
        raise InputError(f"--parse-genomic-coord must be one of {', '.join(CONVENTIONS)}, not {convention!r}")
    m = REGION_HEADER.match(record_id)
    if m is None:
        return Locus(record_id, 0, length)
    chrom = m["chrom"]
    start, end = int(m["start"].replace(",", "")), int(m["end"].replace(",", ""))
    if m["strand"] == "-":
        raise InputError(f"record {record_id} is a reverse-complemented (-) stretch; genome coordinates need the "
                         "+ strand sequence (bedtools getfasta without -s)")
    fits = {"faidx": end - start + 1 == length and start >= 1, "bedtools": end - start == length}
    if convention == "auto":
        convention = next((c for c in ("faidx", "bedtools") if fits[c]), None)
        if convention is None:
            raise InputError(f"record {record_id} is {length} bp, but its header spans {end - start + 1} bp "
                             f"(1-based inclusive, samtools faidx) or {end - start} bp (0-based half-open, bedtools "
                             "getfasta); is the header from another FASTA?")
    elif not fits[convention]:
        other = "bedtools" if convention == "faidx" else "faidx"
        hint = f"; it fits --parse-genomic-coord {other}" if fits[other] else ""
        raise InputError(f"record {record_id} is {length} bp, but its header spans "
                         f"{end - start + (convention == 'faidx')} bp under the {convention} convention{hint}")
    return Locus(chrom, start - 1 if convention == "faidx" else start, length)


def read_chrom_sizes(path) -> dict[str, int]:
    """Read chromosome lengths from a ``chrom.sizes`` file or a ``.fai`` index.

    Chromosome lengths from a UCSC ``chrom.sizes`` file or a samtools/pyfaidx ``.fai`` index (first two tab-separated
    columns: name, length in bp), in file order.

    Raises
    ------
    InputError
        A line without a name and a positive integer length, a repeated name, or no lines at all.
    """
    sizes: dict[str, int] = {}
    for lineno, line in read_lines(path):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        try:
            n = int(cols[1])
        except (IndexError, ValueError):
            raise InputError("expected 'name<TAB>length' (chrom.sizes or .fai)", str(path), lineno) from None
        if n <= 0 or cols[0] in sizes:
            raise InputError(f"chromosome {cols[0]!r}: length must be positive and the name unique", str(path), lineno)
        sizes[cols[0]] = n
    if not sizes:
        raise InputError("no chromosome sizes found (empty file?)", str(path))
    return sizes


class GenomeCoords:
    """Record id -> genome :class:`Locus` for the records of one scan, and the genome's chromosome sizes.

    Parameters
    ----------
    record_sizes : ``{record id: length}`` in FASTA order
    convention : see :func:`parse_genomic_coord`
    chrom_sizes : ``{chromosome: length}`` (:func:`read_chrom_sizes`), optional; every located record must then lie
        inside its chromosome. Without it, a chromosome's size is the furthest end of the records on it (enough
        for text outputs and the report; bigWig/bigBed ask for the real sizes)
    chrom_sizes_source : the file ``chrom_sizes`` came from (named in errors)
    fasta : the FASTA the records come from, optional: an error about a record's header then names ``FILE:LINE``

    Raises
    ------
    InputError
        As :func:`parse_genomic_coord`; a record past its chromosome's end or on a chromosome missing from
        ``chrom_sizes`` (wrong genome build?).
    """

    def __init__(self, record_sizes: dict[str, int], convention: str = "auto", chrom_sizes: dict | None = None,
                 chrom_sizes_source: str | None = None, fasta=None):
        self.loci = {}
        for sid, n in record_sizes.items():
            try:
                self.loci[sid] = parse_genomic_coord(sid, n, convention)
            except InputError as e:
                if fasta is None or e.path is not None:
                    raise

                raise InputError(e.message, str(fasta), header_line(fasta, sid)) from None
        self.given_sizes = dict(chrom_sizes) if chrom_sizes else None
        if self.given_sizes is not None:
            for sid, loc in self.loci.items():
                size = self.given_sizes.get(loc.chrom)
                if size is None:
                    raise InputError(f"record {sid}: chromosome {loc.chrom!r} is not in the chromosome sizes "
                                     f"({len(self.given_sizes)} names; another genome build?)", chrom_sizes_source)
                if loc.offset + loc.length > size:
                    raise InputError(f"record {sid} ends at {loc.offset + loc.length}, past the end of {loc.chrom} "
                                     f"({size} bp; another genome build?)", chrom_sizes_source)

    def locate(self, record_id: str) -> tuple[str, int]:
        """``(chrom, offset)`` of a record: genome position = ``offset`` + record position (0-based)."""
        loc = self.loci[record_id]
        return loc.chrom, loc.offset

    def chrom_sizes(self) -> dict[str, int]:
        """Return the lengths of the chromosomes with records.

        ``{chromosome: length}`` of the chromosomes with records, in :meth:`chrom_order` order: the given sizes when there are some,
        else each chromosome's furthest record end.
        """
        out: dict[str, int] = {}
        for loc in self.loci.values():
            out[loc.chrom] = max(out.get(loc.chrom, 0), loc.offset + loc.length)
        if self.given_sizes is not None:
            out = {c: self.given_sizes[c] for c in out}
        return {c: out[c] for c in self.chrom_order()}

    def chrom_order(self) -> list[str]:
        """Chromosomes of the records, in the order of the given sizes (else of first appearance in the FASTA)."""
        seen = list(dict.fromkeys(loc.chrom for loc in self.loci.values()))
        if self.given_sizes is not None:
            rank = {c: i for i, c in enumerate(self.given_sizes)}
            seen.sort(key=rank.__getitem__)
        return seen

    def overlapping(self) -> tuple[str, str] | None:
        """Two record ids whose genome stretches overlap (their tracks would overlap), or None."""
        by_chrom: dict[str, list] = {}
        for sid, loc in self.loci.items():
            by_chrom.setdefault(loc.chrom, []).append((loc.offset, loc.offset + loc.length, sid))
        for spans in by_chrom.values():
            spans.sort()
            for (_, e0, a), (s1, _, b) in zip(spans, spans[1:]):
                if s1 < e0:
                    return a, b
        return None

    def _sort_key(self):
        rank = {c: i for i, c in enumerate(self.chrom_order())}
        return lambda cols: (rank[cols[0]], int(cols[1]), int(cols[2]), cols[3] if len(cols) > 3 else "")


def _data_lines(path):
    """``(header_lines, column lists)`` of a BED-like text file (``track``/``browser``/``#`` lines kept apart)."""
    head, rows = [], []
    for _, line in read_lines(path):
        if not line:
            continue
        (head if line.startswith(("track", "browser", "#")) else rows).append(line)
    return head, [r.split("\t") for r in rows]


def relocate_bed(src, dst, coords: GenomeCoords, *, position_columns=(1, 2), outputs=None) -> Path:
    """Rewrite a BED (or bedGraph) of record coordinates in genome coordinates.

    Sorted by chromosome (:meth:`GenomeCoords.chrom_order`) and start; header lines are kept; written atomically.

    Parameters
    ----------
    src, dst : input and output paths (may be the same)
    coords : the records' :class:`GenomeCoords`
    position_columns : 0-based columns holding positions to shift (start, end, and e.g. a call's ``peak``;
        a column holding ``-1`` (unknown) or missing on a line is left alone)
    outputs : :class:`tfscope.io.atomic.Outputs`, optional: ``dst`` is renamed into place at its commit

    The whole file is held in memory to sort it (region FASTAs give small outputs).
    """
    head, rows = _data_lines(src)
    for cols in rows:
        chrom, off = coords.locate(cols[0])
        cols[0] = chrom
        for c in position_columns:
            if c < len(cols) and cols[c] != "-1":
                cols[c] = str(int(cols[c]) + off)
    rows.sort(key=coords._sort_key())
    with atomic_write(dst, outputs=outputs) as fh:
        fh.writelines(h + "\n" for h in head)
        fh.writelines("\t".join(cols) + "\n" for cols in rows)
    return Path(dst)


#: runs moved at a time by :func:`relocate_runs`
RELOCATE_BLOCK = 1 << 20


def relocate_runs(runs, coords: GenomeCoords, path):
    """Write a track's runs (:class:`tfscope.io.tracks.RunsFile`) in genome coordinates into a new runs file ``path``.

    Records are placed in genome order (:meth:`GenomeCoords.chrom_order`, then offset), each record's runs shifted by
    its offset, a block at a time through a memory map (memory stays bounded by the block). The records must not
    overlap in the genome (:meth:`GenomeCoords.overlapping`), or the runs would leave coordinate order; runs of two
    abutting records that touch with the same value merge into one. Returns the new
    :class:`tfscope.io.tracks.RunsFile`.

    Raises
    ------
    OutputError
        ``path`` cannot be written.
    """
    out = TrackRuns(path)
    try:
        if Path(runs.path).stat().st_size:
            table = np.memmap(runs.path, RUN_DTYPE, mode="r")
            ids = np.asarray(table["chrom"])
            cut = np.flatnonzero(ids[1:] != ids[:-1]) + 1
            rank = {c: i for i, c in enumerate(coords.chrom_order())}
            placed = []
            for lo, hi in zip([0, *cut.tolist()], [*cut.tolist(), len(ids)]):
                chrom, off = coords.locate(runs.chroms[int(ids[lo])])
                placed.append((rank[chrom], off, chrom, lo, hi))
            for _, off, chrom, lo, hi in sorted(placed):
                for i in range(lo, hi, RELOCATE_BLOCK):
                    part = table[i:min(hi, i + RELOCATE_BLOCK)]
                    out.add(chrom, part["start"], part["end"], part["value"], offset=off)
    finally:
        done = out.close()
    return done


def relocate_tracks_tsv(src, dst, coords: GenomeCoords, *, outputs=None) -> Path:
    """Rewrite per-nucleotide TSV tracks in genome coordinates.

    Rewrite the per-nucleotide TSV of ``tfscope scan --tracks tsv`` (``seq_id position ...``) as ``chrom position ...``
    in genome coordinates (record order kept, streamed); written atomically (with ``outputs``, a
    :class:`tfscope.io.atomic.Outputs`, renamed at its commit).
    """
    with atomic_write(dst, outputs=outputs) as fh:
        for lineno, line in read_lines(src):
            cols = line.split("\t", 2)
            if lineno == 1:
                fh.write("\t".join(["chrom", "position", *cols[2:]]) + "\n")
                continue
            chrom, off = coords.locate(cols[0])
            fh.write("\t".join([chrom, str(int(cols[1]) + off), *cols[2:]]) + "\n")
    return Path(dst)
