"""FASTA reading and writing (DNA or protein), with line-numbered validation errors."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import InputError, TfscopeWarning
from ..sequence import invalid_letter
from .atomic import atomic_write
from .inputs import read_lines

#: longest protein accepted (residues): the longest known protein, titin, has ~35,000
MAX_PROTEIN_LENGTH = 100_000
#: most records in one protein FASTA file (UniProt/Swiss-Prot holds ~570,000 entries)
MAX_PROTEIN_RECORDS = 1_000_000
#: a protein record whose residues are at least this share A, C, G, T, U or N looks like a nucleotide sequence
#: (real proteins: ~25%)
DNA_LIKE_SHARE = 0.9
#: records shorter than this are not judged DNA-like (too few residues to tell)
DNA_LIKE_MIN_LENGTH = 10


def dna_like_share(seq: str) -> float:
    """Share of the letters of ``seq`` that are nucleotide codes (A, C, G, T, U, N; case-insensitive), in [0, 1]."""
    if not seq:
        return 0.0
    s = seq.upper()
    return sum(s.count(c) for c in "ACGTUN") / len(s)


def read_fasta(path, *, alphabet: str = "dna", allow_duplicates: bool = False,
               allow_dna_like: bool = False) -> dict[str, str]:
    """Read a multi-record FASTA file.

    Parameters
    ----------
    path : str or Path
        Plain or ``.gz`` FASTA. Sequence lines may wrap and be lower case; the id is the header up to the first
        whitespace.
    alphabet : {"dna", "protein"}
        ``dna`` accepts IUPAC nucleotide codes (N and ambiguity codes kept; they one-hot to zeros);
        ``protein`` accepts the 20 amino acids plus B, J, O, U, X, Z and a trailing ``*``.
    allow_duplicates : bool
        If False, a repeated id raises.
    allow_dna_like : bool
        ``protein`` only: accept records that look like nucleotides (at least :data:`DNA_LIKE_SHARE` of their
        residues A/C/G/T/U/N, :data:`DNA_LIKE_MIN_LENGTH` residues or more), which are otherwise refused.

    Returns
    -------
    dict
        ``{id: SEQUENCE}`` in file order, sequences upper-cased.

    Raises
    ------
    InputError
        A directory or missing file, empty file, sequence before the first header, empty header/record, invalid
        letter, duplicate id; for ``protein``: a record longer than :data:`MAX_PROTEIN_LENGTH`, more than
        :data:`MAX_PROTEIN_RECORDS` records, or a DNA-looking record ("looks like DNA, not protein"); the message
        names the file and line.
    """
    if alphabet not in ("dna", "protein"):
        raise ValueError(f"alphabet must be 'dna' or 'protein', not {alphabet!r}")
    protein_ok = set("ACDEFGHIKLMNPQRSTVWYBJOUXZ")
    records: dict[str, str] = {}
    name = None
    header_line = 0
    chunks: list[str] = []

    def flush():
        if name is None:
            return
        seq = "".join(chunks)
        if not seq:
            raise InputError(f"record {name!r} has no sequence", str(path), header_line)
        if seq.endswith("*") and alphabet == "protein":
            seq = seq[:-1]
        if alphabet == "protein" and not allow_dna_like and len(seq) >= DNA_LIKE_MIN_LENGTH:
            share = dna_like_share(seq)
            if share >= DNA_LIKE_SHARE:
                raise InputError(f"record {name!r} looks like DNA, not protein ({share:.0%} A/C/G/T/U/N); give "
                                 "protein sequences (or force it: --force-protein)", str(path), header_line)
        records[name] = seq.upper()

    n_records, length = 0, 0

    lines = read_lines(path, max_chars=MAX_PROTEIN_LENGTH + 10_000) if alphabet == "protein" else read_lines(path)
    for lineno, line in lines:
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(">"):
            flush()
            parts = line[1:].split()
            if not parts:
                raise InputError("empty FASTA header", str(path), lineno)
            name = parts[0]
            if name in records and not allow_duplicates:
                raise InputError(f"duplicate sequence id {name!r}", str(path), lineno)
            header_line = lineno
            chunks, length = [], 0
            n_records += 1
            if alphabet == "protein" and n_records > MAX_PROTEIN_RECORDS:
                raise InputError(f"more than {MAX_PROTEIN_RECORDS:,} protein records; split the file", str(path),
                                 lineno)
            continue
        if name is None:
            raise InputError("sequence data before the first '>' header (not FASTA?)", str(path), lineno)
        if alphabet == "dna":
            bad = invalid_letter(line)
            if bad >= 0:
                raise InputError(f"invalid DNA letter {line[bad]!r} in record {name!r}", str(path), lineno)
        else:
            body = line[:-1] if line.endswith("*") else line
            badc = next((c for c in body.upper() if c not in protein_ok), None)
            if badc is not None:
                raise InputError(f"invalid amino-acid letter {badc!r} in record {name!r}", str(path), lineno)
            length += len(body)
            if length > MAX_PROTEIN_LENGTH:
                raise InputError(f"record {name!r} is longer than {MAX_PROTEIN_LENGTH:,} residues (the longest "
                                 "known protein, titin, has ~35,000)", str(path), lineno)
        chunks.append(line)
    flush()
    if not records:
        raise InputError("no FASTA records found (empty file?)", str(path))
    return records


def header_line(path, record_id: str) -> int | None:
    """Return the 1-based line of a record's header in a FASTA file.

    The 1-based line of the header of record ``record_id`` in FASTA ``path`` (for ``FILE:LINE`` in errors found after
    reading), or None when there is none.
    """
    for lineno, line in read_lines(path):
        if line.startswith(">") and line[1:].split()[:1] == [record_id]:
            return lineno
    return None


def write_fasta(path, records: dict[str, str], *, width: int = 80) -> None:
    """Write ``{id: sequence}`` to ``path`` atomically, wrapping lines at ``width``."""
    with atomic_write(path) as fh:
        for name, seq in records.items():
            fh.write(f">{name}\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i:i + width] + "\n")


def iter_fasta(path, *, block: int = 1 << 20):
    """Stream the records of a DNA FASTA file without holding a whole record in memory.

    Parameters
    ----------
    path : str or Path
        Plain, gzip or bgzip FASTA. If a samtools/pyfaidx index ``<path>.fai`` exists (and, for bgzip, its
        ``.gzi``), records are read through :class:`pyfaidx.Fasta` in ``block`` bp slices; otherwise the file is
        read line by line (gzip and bgzip decompress as a stream). An index that cannot describe the file (older
        than the FASTA, or whose lengths and offsets disagree with it: :func:`stale_index`) is not trusted: the
        file is read line by line and a one-line :class:`tfscope.errors.TfscopeWarning` says so.
    block : int
        Upper bound (bp) of the pieces of sequence yielded at a time.

    Yields
    ------
    (id, blocks) : the record id (header up to the first whitespace) and an iterator of upper-case sequence pieces
        of at most ``block`` bp; consume ``blocks`` before advancing to the next record.

    Raises
    ------
    InputError
        As :func:`read_fasta` (``alphabet="dna"``): no records, sequence before the first header, empty header or
        record, invalid letter, duplicate id; the message names the file and line (record and offset when read
        through the index).
    """
    path = Path(path)
    fai = Path(str(path) + ".fai")
    problem = stale_index(path) if fai.exists() else "missing"
    if problem is None:
        yield from _iter_indexed(path, block)
        return
    if problem != "missing":
        warnings.warn(f"{fai}: {problem}; not used (the FASTA is read without it; rebuild it with samtools faidx)",
                      TfscopeWarning, stacklevel=2)
    yield from _iter_lines(path, block)


def stale_index(path) -> str | None:
    """Why the samtools/pyfaidx index ``<path>.fai`` cannot be trusted for FASTA ``path``, or None when it can.

    It is older than the FASTA (htslib warns of the same), or (plain FASTA) a record's lengths and offsets disagree with
    the file: its sequence does not end where the next header (or the file) begins. Reading through such an index would
    silently return other or fewer bases (a FASTA that grew after indexing).
    """
    fai = str(path) + ".fai"
    try:
        if os.stat(fai).st_mtime_ns < os.stat(path).st_mtime_ns:
            return "index older than the FASTA"
        if str(path).endswith((".gz", ".bgz")):
            return None  # offsets are in the decompressed stream: the date is what can be checked cheaply
        with open(fai, encoding="utf-8", errors="replace") as fh:
            rows = [ln.split("\t") for ln in fh.read().splitlines() if ln]
        size = os.stat(path).st_size
        with open(path, "rb") as fh:
            for i, cols in enumerate(rows):
                length, offset, bases, width = (int(c) for c in cols[1:5])
                full, rest = divmod(length, bases) if bases > 0 else (0, length)
                end = offset + full * width + (rest + width - bases if rest else 0)  # past the record's last line
                if end > size:
                    return f"record {cols[0]!r} ends past the end of the FASTA (lengths disagree)"
                fh.seek(end)
                last = i + 1 == len(rows)
                tail = fh.read(1 << 16 if last else 1 << 12)
                after = tail.lstrip(b"\r\n\t ")
                if not last and not after.startswith(b">"):
                    return f"record {cols[0]!r} does not end where the next header begins (lengths disagree)"
                if last and (after or end + len(tail) < size):
                    return "the FASTA holds more than the index describes (lengths disagree)"
    except (OSError, ValueError, IndexError):
        return "unreadable index"
    return None


def _iter_indexed(path, block: int):
    import pyfaidx

    try:
        fa = pyfaidx.Fasta(str(path), sequence_always_upper=True, as_raw=True, build_index=False)
    except Exception as e:  # pyfaidx raises its own error types for bad indexes / compression
        raise InputError(f"cannot read the indexed FASTA ({e.__class__.__name__}: {e})", str(path)) from e
    with fa:
        if not len(fa.keys()):
            raise InputError("no FASTA records found (empty file?)", str(path))
        for name in fa.keys():
            n = len(fa[name])
            if not n:
                raise InputError(f"record {name!r} has no sequence", str(path))

            def blocks(name=name, n=n):
                for s in range(0, n, block):
                    seq = fa[name][s:min(n, s + block)]
                    bad = invalid_letter(seq)
                    if bad >= 0:
                        raise InputError(f"invalid DNA letter {seq[bad]!r} in record {name!r} at position "
                                         f"{s + bad + 1}", str(path))
                    yield seq
            yield name, blocks()


def _iter_lines(path, block: int):
    lines = read_lines(path)
    seen: set[str] = set()
    pending = None  # (lineno, header line) read ahead by the previous record

    def next_line():
        for lineno, line in lines:
            line = line.strip()
            if line and not line.startswith(";"):
                return lineno, line
        return None

    def checked(buf: list[str], numbers: list, name: str) -> str:
        # the lines joined, validated at once (a check per line cost 40% of reading a FASTA); the error names the line
        s = "".join(buf)
        bad = invalid_letter(s)
        if bad >= 0:
            ends = np.cumsum([len(x) for x in buf])
            i = int(np.searchsorted(ends, bad, side="right"))
            raise InputError(f"invalid DNA letter {s[bad]!r} in record {name!r}", str(path), numbers[i])
        return s.upper()

    def blocks(name, header_line):
        nonlocal pending
        buf: list[str] = []
        numbers: list = []  # the line number of each buffered line (None: the checked rest of the last block)
        size = total = 0
        while (nl := next_line()) is not None:
            lineno, line = nl
            if line.startswith(">"):
                pending = nl
                break
            buf.append(line)
            numbers.append(lineno)
            size += len(line)
            if size >= block:  # every full block of the buffer, validated and upper-cased once (linear in a long line)
                s = checked(buf, numbers, name)
                k = 0
                while size - k >= block:
                    yield s[k:k + block]
                    k += block
                buf, numbers, size, total = [s[k:]], [None], size - k, total + k
        else:
            pending = None
        if size:
            yield checked(buf, numbers, name)
        elif not total:
            raise InputError(f"record {name!r} has no sequence", str(path), header_line)

    pending = next_line()
    if pending is None:
        raise InputError("no FASTA records found (empty file?)", str(path))
    while pending is not None:
        lineno, line = pending
        if not line.startswith(">"):
            raise InputError("sequence data before the first '>' header (not FASTA?)", str(path), lineno)
        parts = line[1:].split()
        if not parts:
            raise InputError("empty FASTA header", str(path), lineno)
        name = parts[0]
        if name in seen:
            raise InputError(f"duplicate sequence id {name!r}", str(path), lineno)
        seen.add(name)
        it = blocks(name, lineno)
        yield name, it
        for _ in it:  # the consumer stopped early: skip the rest of the record
            pass


def read_protein_records(path, *, allow_dna_like: bool = False) -> list[tuple[str, str]]:
    """All records of a protein FASTA file as ``[(id, SEQUENCE), ...]`` in file order, duplicate ids kept.

    The file is first validated by :func:`read_fasta` (protein alphabet; empty records and bad
    letters raise with file:line). A second pass keeps repeated ids, which ``read_fasta``'s dict cannot hold
    (the published TF training set repeats 3 ids and the published protocol counts every record).

    Raises
    ------
    InputError
        As :func:`tfscope.io.read_fasta` (``allow_duplicates=True``; ``allow_dna_like`` passed on).
    """
    read_fasta(path, alphabet="protein", allow_duplicates=True, allow_dna_like=allow_dna_like)  # file:line checks
    out: list[tuple[str, str]] = []
    name, chunks = None, []
    for _, line in read_lines(path):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(">"):
            if name is not None:
                out.append((name, "".join(chunks).upper().rstrip("*")))
            name, chunks = line[1:].split()[0], []
        else:
            chunks.append(line)
    if name is not None:
        out.append((name, "".join(chunks).upper().rstrip("*")))
    return out
