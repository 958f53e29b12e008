"""``tfscope scan --motifs``: every JASPAR matrix (or a user's motif file) over a FASTA, to files.

TFs of the bundled zoo keep their trained models (evidence ``trained``); every other matrix is called by
:func:`tfscope.anytf.scan.scan_motifs` (evidence ``pwm`` through the PWM floor, or ``motif-conditioned``). The BED is
BED6+11 (:data:`tfscope.anytf.scan.COLUMNS`: the scan's call columns, then ``evidence`` and ``matrixId``), declared
by :data:`tfscope.anytf.scan.MOTIF_CALLS_AUTOSQL` beside it, in genome coordinates for ``chrom:start-end`` headers as
every scan output.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

from ..anytf.motifs import load_motifs
from ..anytf.scan import COLUMNS, MOTIF_CALLS_AUTOSQL, scan_motifs
from ..errors import InputError
from ..io.atomic import Outputs, atomic_write
from ..io.bed import write_bed
from ..io.coords import GenomeCoords, relocate_bed
from ..io.fasta import read_fasta
from ..io.jsonfile import write_json
from ..io.tracks import bed_to_bigbed
from .calls import finalize_calls
from .files import PEAK_COLUMNS, autosql_path, check_run, known_summary, read_known_sites


def motif_scan_to_files(fasta: str | os.PathLike, out: str | os.PathLike, motifs: str = "jaspar", *, tfs=None,
                        genome: str | None = None, chrom_sizes=None, known=None, min_precision=None, max_q=None,
                        workers: int | None = None, json_path=None, protect=(), summary_extra=None,
                        example: bool = False, zoo: str = "genomic", bigbed=None, report=None) -> dict:
    """Scan a FASTA (held in memory) with every matrix of ``motifs`` and write the calls; returns the run summary.

    Parameters
    ----------
    fasta, out : str | os.PathLike
        The DNA FASTA and the BED6+11 of the calls (its autoSql goes to ``OUT_STEM.as``).
    motifs : str
        ``"jaspar"`` (JASPAR 2024 CORE vertebrates, 879 matrices) or a motif file (MEME, JASPAR, PFM, TRANSFAC).
    tfs : list of str, optional
        TF names or matrix IDs to keep (any JASPAR name, not only the zoo's). Default is every matrix.
    genome, chrom_sizes, known, json_path, protect, summary_extra, example
        As :func:`tfscope.scan.files.scan_to_files` (``genome="detect"`` for the default of ``tfscope scan``).
    min_precision, max_q : float, optional
        Keep calls whose estimated precision reaches ``min_precision`` / whose q-value is at most ``max_q``.
    workers : int, optional
        Processes of the zoo's scan.
    zoo : str
        The zoo that calls the matrices of its TFs (``genomic``, ``fast`` or ``shuffled``; evidence ``trained``).
    bigbed : str | os.PathLike, optional
        Also a bigBed 6+11 of the calls (same columns, :data:`tfscope.anytf.scan.MOTIF_CALLS_AUTOSQL`); in genome
        coordinates it needs ``chrom_sizes``.
    report : str | os.PathLike, optional
        Also an HTML report grouped by evidence (:func:`tfscope.report.html.write_motif_report`).

    Returns
    -------
    dict
        ``sequences``, ``bp``, ``sites``, ``evidence`` (calls per evidence level), ``tfs_called``, ``calls_per_name``,
        ``seconds``, ``genome_coordinates``, ``known_recall``, ``outputs``.

    Raises
    ------
    InputError
        Bad FASTA, motif file, unknown TF or matrix ID, bad known sites or chromosome sizes, an output that would
        replace an input; nothing is written then.
    """
    genome, sizes_of_genome, detected = check_run(
        fasta, out, tracks={}, models=[], genome=genome, chrom_sizes=chrom_sizes, known=known, json_path=json_path,
        bigbed=bigbed, report=report,
        protect=[("--motifs file", None if motifs == "jaspar" else motifs), *protect], example=example)
    seqs = read_fasta(fasta)
    t0 = time.time()
    matrices = load_motifs(motifs)  # read once: the scan and the report's logos
    sites = scan_motifs(seqs, matrices, tfs=tfs, min_precision=min_precision, workers=workers, zoo=zoo)
    sites = finalize_calls(sites, max_q=max_q)
    dt = time.time() - t0
    sizes = {k: len(v) for k, v in seqs.items()}
    with Outputs() as outputs:
        coords = GenomeCoords(sizes, genome, sizes_of_genome, chrom_sizes, fasta=fasta) if genome else None
        if coords is None:
            write_bed(out, sites, outputs=outputs)
        else:
            stage = outputs.tempdir(Path(out)) / "calls.bed"
            write_bed(stage, sites)
            relocate_bed(stage, out, coords, position_columns=PEAK_COLUMNS, outputs=outputs)
        with atomic_write(autosql_path(out), outputs=outputs) as fh:
            fh.write(MOTIF_CALLS_AUTOSQL)
        if bigbed:
            bed_to_bigbed(outputs.staged(out), bigbed, coords.chrom_sizes() if coords else sizes, outputs=outputs,
                          autosql=MOTIF_CALLS_AUTOSQL, columns=COLUMNS)
        known_sites = read_known_sites(known, sizes, coords) if known is not None else None
        if report:
            from ..report.html import write_motif_report

            called = {r.extra[COLUMNS.index("matrixId")] for r in sites}
            probs = {m.matrix_id: m.probs for m in matrices if m.matrix_id in called}
            write_motif_report(report, sequences=seqs, sites=sites, motifs=probs, source=str(motifs), coords=coords,
                               known=known_sites, outputs=outputs)
        names = sorted({r.name for r in sites})
        recall = (known_summary(known_sites, coords, len(sites), names, outputs.staged(out))
                  if known_sites else None)
        evidence = COLUMNS.index("evidence")
        summary = {"sequences": len(sizes), "bp": sum(sizes.values()), "motifs": str(motifs), "sites": len(sites),
                   "evidence": dict(Counter(r.extra[evidence] for r in sites)), "tfs_called": len(names),
                   "calls_per_name": dict(Counter(r.name for r in sites)), "seconds": round(dt, 3), "zoo": zoo,
                   "genome_coordinates": genome, "genome_coordinates_detected": bool(detected and genome),
                   "known_recall": recall, **(summary_extra or {}),
                   "outputs": {"bed": str(out), "autosql": str(autosql_path(out)),
                               **({"bigbed": str(bigbed)} if bigbed else {}),
                               **({"report": str(report)} if report else {})}}
        if json_path and str(json_path) != "-":
            write_json(json_path, summary, outputs=outputs)
    return summary


def check_motif_options(*, tracks=(), collapse=None, checkpoint=None, protein=None, mode: str = "auto") -> None:
    """Refuse what ``--motifs`` does not combine with, before anything is read.

    Raises
    ------
    InputError
        Naming the option.
    """
    for opt, given in (("--tracks", tracks), ("--collapse", collapse), ("--checkpoint", checkpoint),
                       ("--protein", protein), ("--mode window", mode == "window")):
        if given:
            raise InputError(f"--motifs calls sites of every matrix (BED, bigBed, HTML report and JSON); it does not "
                             f"take {opt}")
