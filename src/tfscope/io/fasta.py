"""FASTA reading and writing (DNA or protein), with line-numbered validation errors."""

from __future__ import annotations

from ..errors import InputError
from .atomic import atomic_write, read_lines


def read_fasta(path, *, alphabet: str = "dna", allow_duplicates: bool = False) -> dict[str, str]:
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

    Returns
    -------
    dict
        ``{id: SEQUENCE}`` in file order, sequences upper-cased.

    Raises
    ------
    InputError
        Empty file, sequence before the first header, empty header/record, invalid letter, duplicate id;
        the message names the file and line.
    """
    from ..sequence import invalid_letter

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
        records[name] = seq.upper()

    for lineno, line in read_lines(path):
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
            chunks = []
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
        chunks.append(line)
    flush()
    if not records:
        raise InputError("no FASTA records found (empty file?)", str(path))
    return records


def write_fasta(path, records: dict[str, str], *, width: int = 80) -> None:
    """Write ``{id: sequence}`` to ``path`` atomically, wrapping lines at ``width``."""
    with atomic_write(path) as fh:
        for name, seq in records.items():
            fh.write(f">{name}\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i:i + width] + "\n")
