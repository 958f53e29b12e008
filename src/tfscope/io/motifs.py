"""Readers of user motif files -> position probability matrices ``(4, L)`` (rows A, C, G, T).

Formats (auto-detected by content):

* **JASPAR** (``.jaspar``): ``>ID NAME`` header, then four rows ``A [ 1 2 3 ]`` (brackets and base letters optional);
  several motifs per file allowed.
* **MEME** minimal motif format: ``MOTIF ID [NAME]`` then ``letter-probability matrix: ... w= W`` and ``W`` rows of
  four probabilities (A C G T).
* **plain PFM** (``.pfm`` as distributed by JASPAR): an optional ``>`` header and four whitespace-separated rows of
  counts or probabilities (A, C, G, T).

Limits (far beyond real motifs: JASPAR 2024 CORE's 2,346 matrices are 4-33 columns wide): a motif may be at most
:data:`MAX_MOTIF_WIDTH` columns wide, a file may hold at most :data:`MAX_MOTIFS` motifs and
:data:`MAX_MOTIF_FILE_BYTES` bytes; beyond them the reader stops with a clear error instead of allocating what
downstream models would need for such a matrix.

Own parser rather than ``Bio.motifs``/``memelite.io.read_meme`` because every error must name the file and line
(:class:`tfscope.errors.InputError`), and those readers fail with bare exceptions or silently truncate.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..motif import counts_to_probs
from . import atomic_write
from .inputs import check_input_file

#: widest motif accepted (columns)
MAX_MOTIF_WIDTH = 1000
#: most motifs in one file
MAX_MOTIFS = 100_000
#: largest motif file (bytes)
MAX_MOTIF_FILE_BYTES = 256 << 20

_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _numbers(text: str, path, lineno) -> list[float]:
    body = re.sub(r"^\s*[ACGTacgt]\s*(?=[\[\s\d.])", "", text).replace("[", " ").replace("]", " ")
    toks = body.split()
    out = []
    for t in toks:
        if not _NUM.fullmatch(t):
            raise InputError(f"not a number: {t!r}", path, lineno)
        out.append(float(t))
    return out


def _check_width(width: int, name, path, lineno) -> None:
    if width > MAX_MOTIF_WIDTH:
        raise InputError(f"motif {name!r} is {width:,} columns wide; tfscope reads motifs up to {MAX_MOTIF_WIDTH:,} "
                         f"columns (real motifs are 5-40)", path, lineno)


def _finish(rows, path, lineno, name) -> np.ndarray:
    m = np.array(rows, dtype=np.float64)
    _check_width(m.shape[1], name, path, lineno)
    try:
        return counts_to_probs(m)
    except ValueError as e:
        raise InputError(f"motif {name!r}: {e}", path, lineno) from None


def _read_rows_format(lines, path) -> list[tuple[str, np.ndarray]]:
    """JASPAR / plain PFM: optional '>' header then 4 rows."""
    motifs, name, rows, start = [], None, [], None
    for lineno, raw in lines:
        s = raw.strip()
        if s.startswith(">"):
            if rows:
                raise InputError(f"motif {name!r} has {len(rows)} rows, expected 4 (A, C, G, T)", path, lineno)
            name, start = s[1:].strip() or f"motif{len(motifs) + 1}", lineno
            continue
        if name is None:
            name, start = Path(path).stem if len(motifs) == 0 else f"motif{len(motifs) + 1}", lineno
        letter = s[0].upper() if s[0].isalpha() else None
        label = s.split()[0].split("[")[0].rstrip(":|")
        if not motifs and not rows and letter is not None and (letter not in "ACGT" or len(label) > 1):
            raise InputError("not a motif file: expected a MEME, JASPAR, PFM or TRANSFAC matrix (rows A, C, G, T of "
                             f"counts or probabilities), found a line starting {s.split()[0][:20]!r}", path, lineno)
        if letter is not None and letter != "ACGT"[len(rows)]:
            raise InputError(f"row {len(rows) + 1} of motif {name!r} is labelled {letter!r}, expected "
                             f"{'ACGT'[len(rows)]!r}", path, lineno)
        vals = _numbers(s, path, lineno)
        if not vals:
            raise InputError("empty matrix row", path, lineno)
        _check_width(len(vals), name, path, lineno)
        if rows and len(vals) != len(rows[0]):
            raise InputError(f"row has {len(vals)} columns, previous rows have {len(rows[0])}", path, lineno)
        rows.append(vals)
        if len(rows) == 4:
            motifs.append((name, _finish(rows, path, start, name)))
            name, rows = None, []
    if rows:
        raise InputError(f"motif {name!r} is truncated: {len(rows)} of 4 rows", path, lines[-1][0])
    return motifs


def _read_meme(lines, path) -> list[tuple[str, np.ndarray]]:
    motifs, name, width, rows, start = [], None, None, [], None
    for lineno, raw in lines:
        s = raw.strip()
        if s.startswith("MOTIF"):
            if name is not None and width is None:
                raise InputError(f"motif {name!r} has no 'letter-probability matrix' line", path, lineno)
            if width is not None and len(rows) < width:
                raise InputError(f"motif {name!r} is truncated: {len(rows)} of w={width} rows", path, lineno)
            parts = s.split()
            name, width, rows, start = " ".join(parts[1:]) or f"motif{len(motifs) + 1}", None, [], lineno
        elif s.startswith("letter-probability"):
            if name is None:
                raise InputError("'letter-probability matrix' before any MOTIF line", path, lineno)
            mw = re.search(r"\bw=\s*(\d+)", s)
            if not mw or int(mw.group(1)) < 1:
                raise InputError("'letter-probability matrix' line without a valid w=", path, lineno)
            width = int(mw.group(1))
            _check_width(width, name, path, lineno)
        elif width is not None and len(rows) < width and (s[:1].isdigit() or s[:1] in ".-+"):
            vals = _numbers(s, path, lineno)
            if len(vals) != 4:
                raise InputError(f"matrix row has {len(vals)} values, expected 4 (A C G T)", path, lineno)
            rows.append(vals)
            if len(rows) == width:
                motifs.append((name, _finish(np.array(rows).T, path, start, name)))
    if name is not None and (width is None or len(rows) < width):
        raise InputError(f"motif {name!r} is truncated or has no matrix", path, lines[-1][0])
    return motifs


def read_motifs(path) -> list[tuple[str, np.ndarray]]:
    """Read all motifs of a JASPAR, MEME or plain PFM file.

    Returns
    -------
    list of (name, ndarray (4, L) float64)
        Probability matrices (columns sum to 1; counts are normalised).

    Raises
    ------
    InputError
        Missing/empty file, a directory, non-numeric values, ragged or truncated matrices, zero columns, a motif
        wider than :data:`MAX_MOTIF_WIDTH`, more than :data:`MAX_MOTIFS` motifs, a file larger than
        :data:`MAX_MOTIF_FILE_BYTES`; the message names the file and the 1-based line.
    """
    p = check_input_file(path)
    if p.is_file() and p.stat().st_size > MAX_MOTIF_FILE_BYTES:
        raise InputError(f"{p.stat().st_size:,} bytes; tfscope reads motif files up to {MAX_MOTIF_FILE_BYTES:,} "
                         "bytes", path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read motif file ({e.__class__.__name__})", path) from None
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InputError("empty motif file", path)
    if any(ln.startswith("MOTIF") or ln.startswith("MEME version") for _, ln in lines):
        motifs = _read_meme(lines, path)
    else:
        motifs = _read_rows_format(lines, path)
    if not motifs:
        raise InputError("no motif found", path)
    if len(motifs) > MAX_MOTIFS:
        raise InputError(f"{len(motifs):,} motifs; tfscope reads up to {MAX_MOTIFS:,} per file", path)
    return motifs


def write_jaspar(path, motifs: list[tuple[str, np.ndarray]]) -> None:
    """Write ``(name, (4, L))`` matrices in JASPAR format (atomically)."""
    with atomic_write(path) as fh:
        for name, m in motifs:
            fh.write(f">{name}\n")
            for b, row in zip("ACGT", np.asarray(m)):
                fh.write(f"{b} [ " + " ".join(f"{v:.6g}" for v in row) + " ]\n")
