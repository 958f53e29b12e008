"""Known binding sites beside the calls (``tfscope scan --known BED``).

Reading them in the scan's record coordinates, and the recall of known sites by TF and by paralog group.

A known site counts as **found** when a call of the same TF overlaps it by at least one base; **found by its group**
when a call of any TF of the same paralog group does (the group of a TF is read from the calls' ``group`` column,
:data:`tfscope.io.tracks.CALL_COLUMNS`; a TF never called is its own group).
"""

from __future__ import annotations

from collections import defaultdict

from ..errors import InputError
from ..io.bed import BedRecord, read_bed
from ..io.tracks import CALL_COLUMNS


def read_known(path, record_sizes: dict[str, int], coords=None) -> list[BedRecord]:
    """Known sites of a BED (``chrom start end TF``), in record coordinates of the scanned sequences.

    A site whose chromosome is a record id is taken in record coordinates (as ``resources/example_sites.bed``);
    with ``coords`` (:class:`tfscope.io.coords.GenomeCoords`) a site on a genome chromosome is moved into the
    record that holds it whole. Sites outside every scanned record are dropped (a genome-wide BED is fine).

    Raises
    ------
    InputError
        Bad BED (:func:`tfscope.io.bed.read_bed`); a site past its record's end; no site inside the scanned
        sequences (the message shows the BED's and the FASTA's first names, to spot a naming mismatch).
    """
    out = []
    spans: dict[str, list] = defaultdict(list)
    if coords is not None:
        for sid, loc in coords.loci.items():
            spans[loc.chrom].append((loc.offset, loc.offset + loc.length, sid))
    records = read_bed(path)
    for r in records:
        if r.chrom in record_sizes:
            if r.end > record_sizes[r.chrom]:
                raise InputError(f"known site {r.chrom}:{r.start}-{r.end} ends past its sequence "
                                 f"({record_sizes[r.chrom]} bp)", str(path))
            out.append(BedRecord(r.chrom, r.start, r.end, r.name, 0, r.strand))
            continue
        for a, b, sid in spans.get(r.chrom, ()):
            if a <= r.start and r.end <= b:
                out.append(BedRecord(sid, r.start - a, r.end - a, r.name, 0, r.strand))
                break
    if not out:
        raise InputError(f"none of the {len(records)} known sites lies in the scanned sequences (BED names "
                         f"{', '.join(list(dict.fromkeys(r.chrom for r in records))[:3])}; FASTA ids "
                         f"{', '.join(list(record_sizes)[:3])})", str(path))
    return out


def call_group(call: BedRecord) -> str:
    """Return the paralog group of a call (its ``group`` column), or its TF when the calls carry no group."""
    cols = dict(zip(CALL_COLUMNS, call.extra))
    g = cols.get("group")
    return call.name if g in (None, "", "-1", ".") else g


def known_recall(known: list[BedRecord], calls: list[BedRecord], tfs=None) -> dict:
    """Return the recall of known sites by TF and by paralog group.

    Only the known sites of the TFs in ``tfs`` count when it is given (case-insensitive; the TFs that were scanned
    for: the others cannot be found and are left out; ``per_site`` holds None for them).

    Returns
    -------
    dict with ``per_site`` (one ``(found_by_tf, found_by_group, overlapping call names)`` per known site, in order),
    ``by_tf`` rows (``TF, known, found, recall``), ``by_group`` rows (``group, known, found, recall``; None when
    the calls carry no ``group`` column), and ``found``/``found_group``/``known`` totals.
    """
    has_group = any(len(c.extra) > CALL_COLUMNS.index("group") for c in calls)
    tf_group = {c.name: call_group(c) for c in calls}
    by_seq: dict[str, list] = defaultdict(list)
    for c in calls:
        by_seq[c.chrom].append(c)
    per_site = []
    want = None if tfs is None else {t.upper() for t in tfs}
    for k in known:
        if want is not None and k.name.upper() not in want:
            per_site.append(None)
            continue
        over = [c for c in by_seq.get(k.chrom, ()) if c.start < k.end and k.start < c.end]
        group = tf_group.get(k.name, k.name)
        per_site.append((any(c.name == k.name for c in over), any(call_group(c) == group for c in over),
                         sorted({c.name for c in over})))

    def rows(key, label):
        agg: dict[str, list] = defaultdict(lambda: [0, 0])
        for k, site in zip(known, per_site):
            if site is None:
                continue
            f_tf, f_gr, _ = site
            a = agg[key(k)]
            a[0] += 1
            a[1] += f_gr if label == "group" else f_tf
        return [{label: n, "known": a[0], "found": a[1], "recall": a[1] / a[0]} for n, a in sorted(agg.items())]

    return {"per_site": per_site, "by_tf": rows(lambda k: k.name, "TF"),
            "by_group": rows(lambda k: tf_group.get(k.name, k.name), "group") if has_group else None,
            "known": sum(p is not None for p in per_site), "found": sum(p[0] for p in per_site if p),
            "found_group": sum(p[1] for p in per_site if p)}


def recall_line(known: list[BedRecord], calls: list[BedRecord], tfs=None) -> str:
    """One summary line.

    Known sites (of the TFs in ``tfs``, when given) found by a call of their TF (and of their paralog group), per TF.
    """
    r = known_recall(known, calls, tfs)
    per_tf = ", ".join(f"{x['TF']} {x['found']}/{x['known']}" for x in r["by_tf"])
    line = f"known sites found: {r['found']}/{r['known']} by a call of their TF ({per_tf})"
    if r["known"] < len(known):
        line += f"; {len(known) - r['known']} site(s) of TFs not scanned left out"
    if r["by_group"] is not None:
        per_gr = ", ".join(f"{x['group']} {x['found']}/{x['known']}" for x in r["by_group"])
        line += f"; {r['found_group']}/{r['known']} by a call of their paralog group ({per_gr})"
    return line
