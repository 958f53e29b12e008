"""BED reading and writing (BED3 to BED6; extra columns are kept as strings)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError
from .atomic import atomic_write
from .inputs import read_lines


@dataclass
class BedRecord:
    """One BED interval, 0-based half-open ``[start, end)``."""

    chrom: str
    start: int
    end: int
    name: str = "."
    score: float | str = 0
    strand: str = "."
    extra: list[str] = field(default_factory=list)


def read_bed(path) -> list[BedRecord]:
    """Read a BED file (``track``/``browser``/``#`` lines skipped).

    Raises
    ------
    InputError
        Fewer than 3 columns, non-integer or negative coordinates, ``end <= start``, strand not ``+ - .``,
        or no intervals at all; the message names the file and line.
    """
    out = []
    for lineno, line in read_lines(path):
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        if len(cols) < 3:
            raise InputError(f"BED line has {len(cols)} column(s), need at least 3 (chrom start end)", str(path), lineno)
        try:
            start, end = int(cols[1]), int(cols[2])
        except ValueError:
            raise InputError(f"BED start/end must be integers, got {cols[1]!r} {cols[2]!r}", str(path), lineno) from None
        if start < 0 or end <= start:
            raise InputError(f"BED interval [{start}, {end}) is empty or negative", str(path), lineno)
        strand = cols[5] if len(cols) > 5 else "."
        if strand not in ("+", "-", "."):
            raise InputError(f"BED strand must be '+', '-' or '.', got {strand!r}", str(path), lineno)
        out.append(BedRecord(cols[0], start, end, cols[3] if len(cols) > 3 else ".",
                             cols[4] if len(cols) > 4 else 0, strand, cols[6:]))
    if not out:
        raise InputError("no BED intervals found (empty file?)", str(path))
    return out


def bed_line(r: BedRecord) -> str:
    """One BED line (with newline): float scores with 4 decimals, extra columns appended."""
    score = f"{r.score:.4f}" if isinstance(r.score, float) else str(r.score)
    return "\t".join([r.chrom, str(r.start), str(r.end), r.name, score, r.strand, *map(str, r.extra)]) + "\n"


def write_bed(path, records, *, header: str | None = None, outputs=None) -> None:
    """Write BED6 records (plus extra columns) atomically.

    Write BED6 records (plus extra columns) atomically (with ``outputs``, a :class:`tfscope.io.atomic.Outputs`, renamed
    at its commit). Float scores are written with 4 decimals.
    """
    with atomic_write(path, outputs=outputs) as fh:
        if header:
            fh.write(header.rstrip("\n") + "\n")
        fh.writelines(bed_line(r) for r in records)
