"""The nucleotide-resolution TFBS table format (``../shared/data/tfbs-snr``), read and written here only.

Columns (tab-separated, header line): ``id split bound site_start site_end chrom window_start strand sequence``.
``site_start``/``site_end`` are 0-based half-open positions of the binding site inside the window (empty when
``bound == 0``); the sequence is on the site's strand.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..sequence import invalid_letter
from .atomic import atomic_write
from .inputs import read_lines

SNR_COLUMNS = ["id", "split", "bound", "site_start", "site_end", "chrom", "window_start", "strand", "sequence"]


def read_snr_table(path, *, window: int | None = 100) -> dict[str, np.ndarray]:
    """Read a TFBS window table.

    Parameters
    ----------
    path : str or Path
        ``.tsv`` or ``.tsv.gz`` with the columns in :data:`SNR_COLUMNS`.
    window : int or None
        Required window length (100 for the BertSNR benchmark); None accepts any constant length.

    Returns
    -------
    dict of numpy arrays, one entry per row
        ``id`` (str), ``split`` (str), ``bound`` (int8), ``site_start``/``site_end`` (int32, -1 when unbound),
        ``chrom``, ``window_start`` (int64, -1 when unknown), ``strand``, ``sequence`` (str, upper case).

    Raises
    ------
    InputError
        Missing/wrong header, wrong column count (truncated line), bad ``bound``, site outside the window,
        wrong alphabet or window length, or an empty table; the message names the file and line.
    """
    rows = {c: [] for c in SNR_COLUMNS}
    length = window
    header_seen = False
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        cols = line.split("\t")
        if not header_seen:
            if cols != SNR_COLUMNS:
                raise InputError(f"header must be {' '.join(SNR_COLUMNS)!r}", str(path), lineno)
            header_seen = True
            continue
        if len(cols) != len(SNR_COLUMNS):
            raise InputError(f"expected {len(SNR_COLUMNS)} tab-separated columns, got {len(cols)} (truncated line?)",
                             str(path), lineno)
        rid, split, bound, s0, s1, chrom, wstart, strand, seq = cols
        if bound not in ("0", "1"):
            raise InputError(f"bound must be 0 or 1, got {bound!r}", str(path), lineno)
        bad = invalid_letter(seq) if seq else 0
        if bad >= 0:
            what = "empty sequence" if not seq else f"invalid DNA letter {seq[bad]!r} at position {bad + 1}"
            raise InputError(what, str(path), lineno)
        if length is None:
            length = len(seq)
        if len(seq) != length:
            raise InputError(f"window has length {len(seq)}, expected {length}", str(path), lineno)
        if bound == "1":
            try:
                a, b = int(s0), int(s1)
            except ValueError:
                raise InputError("bound window needs integer site_start and site_end", str(path), lineno) from None
            if not (0 <= a < b <= length):
                raise InputError(f"site [{a}, {b}) lies outside the {length} bp window", str(path), lineno)
        else:
            a = b = -1
        try:
            ws = int(wstart) if wstart else -1
        except ValueError:
            raise InputError(f"window_start must be an integer, got {wstart!r}", str(path), lineno) from None
        for c, v in zip(SNR_COLUMNS, (rid, split, int(bound), a, b, chrom, ws, strand, seq.upper())):
            rows[c].append(v)
    if not header_seen or not rows["id"]:
        raise InputError("table has no data rows (empty or truncated file?)", str(path))
    out = {c: np.asarray(v) for c, v in rows.items()}
    out["bound"] = out["bound"].astype(np.int8)
    out["site_start"] = out["site_start"].astype(np.int32)
    out["site_end"] = out["site_end"].astype(np.int32)
    out["window_start"] = out["window_start"].astype(np.int64)
    return out


def write_snr_table(path, table: dict) -> None:
    """Write a table with the :data:`SNR_COLUMNS` atomically (``-1`` site/window fields become empty)."""
    n = len(table["id"])
    with atomic_write(path) as fh:
        fh.write("\t".join(SNR_COLUMNS) + "\n")
        for i in range(n):
            vals = []
            for c in SNR_COLUMNS:
                v = table[c][i]
                if c in ("site_start", "site_end", "window_start") and int(v) < 0:
                    v = ""
                vals.append(str(v))
            fh.write("\t".join(vals) + "\n")
