"""DeepBind-format tables (``FoldID EventID seq Bound``, tab-separated, optionally gzip).

The ENCODE ChIP-seq sets of Alipanahi et al. 2015 used by the mixture-of-experts task (:mod:`tfscope.moe`).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..sequence import invalid_letter
from .inputs import read_lines

DEEPBIND_COLUMNS = ["FoldID", "EventID", "seq", "Bound"]


def read_deepbind(path, *, length: int | None = None) -> dict[str, np.ndarray]:
    """Read a DeepBind-format table (``.seq``/``.tsv``, optionally ``.gz``).

    Parameters
    ----------
    path : str or Path
        Tab-separated file whose first non-empty line is the header ``FoldID EventID seq Bound``.
    length : int, optional
        Required sequence length (e.g. 101); None accepts any length >= 1.

    Returns
    -------
    dict
        ``fold`` (str array), ``event`` (str array), ``seq`` (str array, upper case, U -> T),
        ``bound`` (int8 array of 0/1), one entry per data line.

    Raises
    ------
    InputError
        Missing file, wrong header, wrong column count, a letter outside the IUPAC DNA alphabet, a wrong length,
        a ``Bound`` other than 0/1, or no data lines; the message names the file and the 1-based line.
    """
    cols: dict[str, list] = {"fold": [], "event": [], "seq": [], "bound": []}
    header = False
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        parts = line.split("\t")
        if not header:
            if [p.strip() for p in parts] != DEEPBIND_COLUMNS:
                raise InputError(f"header must be {' '.join(DEEPBIND_COLUMNS)!r} (tab-separated), got {line[:60]!r}",
                                 str(path), lineno)
            header = True
            continue
        if len(parts) != 4:
            raise InputError(f"expected 4 tab-separated columns, got {len(parts)}", str(path), lineno)
        fold, event, seq, bound = (p.strip() for p in parts)
        seq = seq.upper().replace("U", "T")
        if not seq:
            raise InputError("empty sequence", str(path), lineno)
        bad = invalid_letter(seq)
        if bad >= 0:
            raise InputError(f"invalid DNA letter {seq[bad]!r} at position {bad + 1}", str(path), lineno)
        if length is not None and len(seq) != length:
            raise InputError(f"sequence length {len(seq)}, expected {length}", str(path), lineno)
        if bound not in ("0", "1"):
            raise InputError(f"Bound must be 0 or 1, got {bound!r}", str(path), lineno)
        cols["fold"].append(fold)
        cols["event"].append(event)
        cols["seq"].append(seq)
        cols["bound"].append(int(bound))
    if not header:
        raise InputError("empty file (no DeepBind header)", str(path))
    if not cols["seq"]:
        raise InputError("no data lines after the header", str(path))
    return {"fold": np.array(cols["fold"]), "event": np.array(cols["event"]), "seq": np.array(cols["seq"]),
            "bound": np.array(cols["bound"], dtype=np.int8)}
