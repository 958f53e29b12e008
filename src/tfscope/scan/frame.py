"""The calls of a scan as a pandas DataFrame (:func:`sites_frame`)."""

from __future__ import annotations

import pandas as pd

from ..io.tracks import CALL_COLUMNS, MOTIF_COLUMNS

#: the call columns a record may carry after BED6, in order: the scanner's, then an any-TF scan's
COLUMNS = CALL_COLUMNS + MOTIF_COLUMNS
#: the text columns among them (the others are numeric)
TEXT_COLUMNS = ("group", "members", "site", *MOTIF_COLUMNS)


def sites_frame(sites):
    """Return scan calls as a pandas DataFrame.

    The calls of :func:`scan` (or :func:`tfscope.io.bed.read_bed` of a ``tfscope scan`` BED) as a pandas DataFrame, one
    row per call.

    Columns: ``chrom`` (sequence id), ``start``, ``end`` (0-based half-open, int64), ``name`` (TF), ``score``
    (BED score), ``strand``, then the call columns :data:`tfscope.io.tracks.CALL_COLUMNS` that the records carry
    in ``extra``, in that order (``peakP`` always; ``peak``, ``precision``, ``groupPrecision``, ``pValue``,
    ``qValue``, ``group``, ``members``, ``site`` where the scan wrote them; a record with fewer values gets NaN / None),
    and for the calls of an any-TF scan (``tfscope scan --motifs``, :func:`tfscope.anytf.scan.scan_motifs`) their
    ``evidence`` and ``matrixId`` (:data:`tfscope.io.tracks.MOTIF_COLUMNS`). Every call column except those of
    :data:`TEXT_COLUMNS` is numeric (float64; ``peak``, a 0-based position, is Int64); ``.``, ``NA`` and empty values
    become NaN.

    Parameters
    ----------
    sites : iterable of tfscope.io.bed.BedRecord

    Returns
    -------
    pandas.DataFrame (empty with these columns when there are no sites)

    Raises
    ------
    ValueError
        A record with more extra values than :data:`COLUMNS` names.
    """
    sites = list(sites)
    width = max((len(r.extra) for r in sites), default=1)
    if width > len(COLUMNS):
        raise ValueError(f"a call has {width} extra columns; tfscope calls have at most {len(COLUMNS)} "
                         f"({', '.join(COLUMNS)})")
    extra = COLUMNS[:max(width, 1)]
    rows = [(r.chrom, r.start, r.end, r.name, r.score, r.strand,
             *(list(r.extra) + [None] * (len(extra) - len(r.extra)))) for r in sites]
    df = pd.DataFrame(rows, columns=["chrom", "start", "end", "name", "score", "strand", *extra])
    df = df.astype({"chrom": str, "start": "int64", "end": "int64", "name": str, "strand": str})
    df["score"] = pd.to_numeric(df["score"], errors="coerce")
    for c in extra:
        if c in TEXT_COLUMNS:
            continue
        df[c] = pd.to_numeric(df[c].replace({".": None, "NA": None, "": None}), errors="coerce")
        if c == "peak":
            df[c] = df[c].astype("Int64")
    return df
