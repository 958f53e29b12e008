"""The calls of a scan as a pandas DataFrame (:func:`sites_frame`)."""

from __future__ import annotations

import pandas as pd

from ..io.tracks import CALL_COLUMNS


def sites_frame(sites):
    """Return scan calls as a pandas DataFrame.

    The calls of :func:`scan` (or :func:`tfscope.io.bed.read_bed` of a ``tfscope scan`` BED) as a pandas DataFrame, one
    row per call.

    Columns: ``chrom`` (sequence id), ``start``, ``end`` (0-based half-open, int64), ``name`` (TF), ``score``
    (BED score), ``strand``, then the call columns :data:`tfscope.io.tracks.CALL_COLUMNS` that the records carry
    in ``extra``, in that order (``peakP`` always; ``peak``, ``precision``, ``groupPrecision``, ``pValue``,
    ``qValue``, ``group``, ``members``, ``site`` where the scan wrote them; a record with fewer values gets NaN / None).
    Every call column except ``group``, ``members`` and ``site`` is numeric (float64; ``peak``, a 0-based position, is
    Int64); ``.``, ``NA`` and empty values become NaN.

    Parameters
    ----------
    sites : iterable of tfscope.io.bed.BedRecord

    Returns
    -------
    pandas.DataFrame (empty with these columns when there are no sites)

    Raises
    ------
    ValueError
        A record with more extra values than :data:`~tfscope.io.tracks.CALL_COLUMNS` names.
    """
    sites = list(sites)
    width = max((len(r.extra) for r in sites), default=1)
    if width > len(CALL_COLUMNS):
        raise ValueError(f"a call has {width} extra columns; tfscope calls have at most {len(CALL_COLUMNS)} "
                         f"({', '.join(CALL_COLUMNS)})")
    extra = CALL_COLUMNS[:max(width, 1)]
    rows = [(r.chrom, r.start, r.end, r.name, r.score, r.strand,
             *(list(r.extra) + [None] * (len(extra) - len(r.extra)))) for r in sites]
    df = pd.DataFrame(rows, columns=["chrom", "start", "end", "name", "score", "strand", *extra])
    df = df.astype({"chrom": str, "start": "int64", "end": "int64", "name": str, "strand": str})
    df["score"] = pd.to_numeric(df["score"], errors="coerce")
    for c in extra:
        if c in ("group", "members", "site"):
            continue
        df[c] = pd.to_numeric(df[c].replace({".": None, "NA": None, "": None}), errors="coerce")
        if c == "peak":
            df[c] = df[c].astype("Int64")
    return df
