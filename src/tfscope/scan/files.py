"""One scan to files: :func:`scan_to_files` is everything ``tfscope scan`` writes, as one library call.

It chooses the path (streamed through :func:`tfscope.scan.stream.scan_fasta`, or held in memory by
:func:`tfscope.scan.engine.scan` for window-mode models, the HTML report and TSV tracks), writes the BED6+9 calls and
their autoSql, the asked tracks (TSV, bedGraph, bigWig), the bigBed, the report and the JSON summary, and with
``genome`` moves every output to genome coordinates (:mod:`tfscope.io.coords`). Every output of a run is staged in
one :class:`tfscope.io.atomic.Outputs` and renamed into place together after all of them are written, or none is.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

from ..errors import InputError, TfscopeWarning
from ..executor import executor_for
from ..io.atomic import Outputs, atomic_write, refuse_clobbering
from ..io.bed import BedRecord, read_bed, write_bed
from ..io.coords import (REGION_HEADER, GenomeCoords, parse_genomic_coord, read_chrom_sizes, relocate_bed,
                         relocate_runs, relocate_tracks_tsv)
from ..io.fasta import iter_fasta, read_fasta
from ..io.jsonfile import write_json
from ..io.tracks import CALL_COLUMNS, CALLS_AUTOSQL, bed_to_bigbed, track_runs, write_tracks_tsv
from ..report.html import write_report
from .calls import finalize_calls
from .engine import ScanModel, on_gpu, scan
from .known import read_known, recall_line
from .stream import scan_fasta, track_files, write_tracks

#: per-nucleotide track formats of ``--tracks``
TRACK_FORMATS = ("tsv", "bedgraph", "bigwig")

#: the coordinate conventions of chrom:start-end record headers (:mod:`tfscope.io.coords`)
GENOME_CONVENTIONS = ("auto", "faidx", "bedtools")

#: the BED columns (0-based) that hold positions: start, end and the ``peak`` column (all in one coordinate system)
PEAK_COLUMNS = (1, 2, 6 + CALL_COLUMNS.index("peak"))


def detect_genome_headers(fasta) -> bool:
    """Whether the FASTA's first record is named after a genome stretch it holds (``chrom:start-end``).

    The record's header must match :data:`tfscope.io.coords.REGION_HEADER` and its length one of the two conventions
    (:func:`tfscope.io.coords.parse_genomic_coord` with ``auto``). ``tfscope scan`` then writes genome coordinates
    unless told ``--no-parse-genomic-coord``. Only the first record is read.
    """
    with warnings.catch_warnings():  # the scan itself says what there is to say about the FASTA (a stale index)
        warnings.simplefilter("ignore", TfscopeWarning)
        rid, blocks = next(iter_fasta(fasta))
    if not REGION_HEADER.match(rid):
        return False
    length = sum(len(b) for b in blocks)
    try:
        parse_genomic_coord(rid, length, "auto")
    except InputError:
        return False
    return True


def track_paths(out, formats) -> dict[str, Path]:
    """Where the track ``formats`` go beside the BED ``out`` (``OUT_STEM`` = ``out`` without ``.bed``).

    Parameters
    ----------
    out : str | os.PathLike
        The calls BED.
    formats : iterable of str
        Any of :data:`TRACK_FORMATS`.

    Returns
    -------
    dict
        ``tsv`` -> ``OUT_STEM.tracks.tsv``, ``bedgraph`` -> ``OUT_STEM.bedgraph/``, ``bigwig`` -> ``OUT_STEM.bigwig/``,
        for the formats asked, in their order.
    """
    stem = str(out)[:-4] if str(out).endswith(".bed") else str(out)
    paths = {"tsv": Path(stem + ".tracks.tsv"), "bedgraph": Path(stem + ".bedgraph"), "bigwig": Path(stem + ".bigwig")}
    return {f: paths[f] for f in dict.fromkeys(formats or ())}


def autosql_path(out) -> Path:
    """Where the autoSql declaring the calls BED goes: ``OUT_STEM.as`` beside the BED ``out``."""
    return Path((str(out)[:-4] if str(out).endswith(".bed") else str(out)) + ".as")


def write_autosql(out, *, outputs=None) -> Path:
    """Write the autoSql of the BED6+9 calls beside ``out``.

    Write the autoSql of the BED6+9 calls (:data:`tfscope.io.tracks.CALLS_AUTOSQL`, the bigBed's) beside ``out``
    (``bedToBigBed -as=OUT_STEM.as -type=bed6+9``; with ``outputs``, renamed at its commit). Returns its path.
    """
    path = autosql_path(out)
    with atomic_write(path, outputs=outputs) as fh:
        fh.write(CALLS_AUTOSQL)
    return path


def check_genome_options(genome: str | None, chrom_sizes, tracks: dict, bigbed, *, detected: bool = False
                         ) -> dict | None:
    """Return the chromosome sizes of a genome-coordinate run, checked before any scanning.

    Parameters
    ----------
    genome : str, optional
        One of :data:`GENOME_CONVENTIONS`, or None for record coordinates.
    chrom_sizes : str | os.PathLike, optional
        UCSC chrom.sizes or a FASTA ``.fai``.
    tracks, bigbed : the run's outputs (:func:`track_paths`; bigBed path)
    detected : bool
        ``genome`` was switched on by the record headers (the error then names ``--no-parse-genomic-coord``).

    Returns
    -------
    dict or None
        ``{chrom: size}`` read from ``chrom_sizes``, or None (none given, or record coordinates).

    Raises
    ------
    InputError
        ``chrom_sizes`` without ``genome``; bigWig/bigBed output in genome coordinates without ``chrom_sizes``; a
        bad sizes file.
    """
    if genome is None:
        if chrom_sizes:
            raise InputError("--chrom-sizes goes with genome coordinates: chrom:start-end FASTA headers or "
                             "--parse-genomic-coord")
        return None
    if genome not in GENOME_CONVENTIONS:
        raise InputError(f"unknown header convention {genome!r}; choose from {', '.join(GENOME_CONVENTIONS)}")
    if chrom_sizes:
        return read_chrom_sizes(chrom_sizes)
    if "bigwig" in tracks or bigbed:
        why = "the FASTA headers are chrom:start-end, so" if detected else "--parse-genomic-coord:"
        raise InputError(f"{why} bigWig/bigBed output in genome coordinates needs the genome's chromosome sizes: "
                         "--chrom-sizes FILE (UCSC chrom.sizes, or the genome FASTA's .fai)"
                         + (", or --no-parse-genomic-coord for record coordinates" if detected else ""))
    return None


def check_paths(fasta, out, tracks: dict, models: list[ScanModel], *, inputs=(), bigbed=None, report=None,
                json_path=None) -> None:
    """Refuse outputs of a scan that would replace an input or one another.

    Refuse outputs that are one of the inputs (``scan x.fa --out x.fa``, a hard link of the FASTA, a checkpoint file) or
    one another (``--json`` equal to ``--out``), before anything is read (:func:`tfscope.io.atomic.refuse_clobbering`).

    Parameters
    ----------
    fasta : str | os.PathLike, optional
        The scanned FASTA (None for the bundled example).
    inputs : iterable of (what, path)
        Other inputs to protect (known sites, chromosome sizes, checkpoint files, protein FASTA).

    Raises
    ------
    InputError
        Naming the output and the input it would replace.
    """
    ins = [("FASTA", fasta), ("FASTA index", fasta and f"{fasta}.fai"), *inputs]
    outs = [("--out", out), ("its autoSql", autosql_path(out)), ("--bigbed", bigbed), ("--report", report),
            ("--json", json_path), ("--tracks tsv", tracks.get("tsv"))]
    for f, suffix in (("bedgraph", ".bedGraph"), ("bigwig", ".bw")):
        outs += [(f"the {f} track of {m.name}", Path(tracks[f]) / f"{m.name}{suffix}")
                 for m in (models if f in tracks else ())]
    refuse_clobbering(outs, ins)


def publish_genome_outputs(coords, bed: Path, *, final_bed, final_tracks: dict, tsv=None, runs=None, bigbed=None,
                           names=(), workers: int = 1, in_process: bool = False, outputs: Outputs) -> None:
    """Move the staged record-coordinate outputs of a scan into genome coordinates (:mod:`tfscope.io.coords`).

    The BED (start, end and the ``peak`` column shifted, sorted), the TSV tracks and the tracks' runs; then the
    bedGraphs and bigWigs from those runs (:func:`tfscope.scan.stream.write_tracks`) and the bigBed, with the genome's
    chromosome sizes.

    Parameters
    ----------
    coords : :class:`tfscope.io.coords.GenomeCoords` of the scanned records
    bed : the staged BED of the calls (record coordinates)
    final_bed, final_tracks : where the user asked for the BED and the tracks (:func:`track_paths`)
    tsv : the staged TSV tracks (record coordinates), when asked
    runs : one :class:`tfscope.io.tracks.RunsFile` per name (record coordinates), when bedGraph or bigWig is asked
    bigbed : bigBed path, optional
    names : the models' TF names (the bedGraph/bigWig file names, each checked to stay in its folder)
    workers, in_process : how the tracks are written (:func:`tfscope.scan.stream.write_tracks`)
    outputs : :class:`tfscope.io.atomic.Outputs`: every file is renamed into place at its commit

    Raises
    ------
    InputError
        Tracks were asked for but two records overlap in the genome (their runs would overlap); checked before
        anything is written.
    """
    if runs:
        pair = coords.overlapping()
        if pair:
            raise InputError(f"records {pair[0]} and {pair[1]} overlap in the genome, so their tracks would "
                             "overlap in one bedGraph/bigWig; merge the regions first (bedtools merge) or drop "
                             "--tracks bedgraph/bigwig")
    relocate_bed(bed, final_bed, coords, position_columns=PEAK_COLUMNS, outputs=outputs)
    if tsv is not None:
        relocate_tracks_tsv(tsv, final_tracks["tsv"], coords, outputs=outputs)
    sizes = coords.chrom_sizes()
    if runs:
        placed = [relocate_runs(r, coords, r.path.with_suffix(".genome.runs")) for r in runs]
        write_tracks(placed, list(names), sizes, **track_files(final_tracks, names), outputs=outputs,
                     workers=workers, in_process=in_process)
    if bigbed:
        bed_to_bigbed(outputs.staged(final_bed), bigbed, sizes, outputs=outputs)


def scan_in_memory(models: list[ScanModel], fasta, out, paths: dict, *, executor, bigbed=None, outputs=None,
                   keep_tracks: bool = False, runs_dir=None, collapse=None, min_precision=None, max_q=None,
                   mode: str = "auto", stride: int = 50, batch_size: int = 1024, verbose: bool = False):
    """Scan a FASTA held in memory and write the BED and the asked tracks.

    Scan a FASTA held in memory (:func:`tfscope.scan.engine.scan`) and write the BED and the asked tracks (``paths``:
    :func:`track_paths`; staged in ``outputs``, renamed at its commit by the caller; by default renamed together
    here). bedGraph and bigWig tracks are written from their runs, as a streamed scan's
    (:func:`tfscope.io.tracks.track_runs`, :func:`tfscope.scan.stream.write_tracks`); ``runs_dir``: keep the runs
    there and return them instead (for outputs in other coordinates; ``paths`` then name the outputs that errors
    name).

    Returns
    -------
    (sequences, sites, tracks, runs)
        ``{id: DNA}``, the calls kept, ``{id: (T, S) array}`` (empty unless tracks or ``keep_tracks``), and one
        :class:`tfscope.io.tracks.RunsFile` per model with ``runs_dir`` (else None).
    """
    seqs = read_fasta(fasta)
    names = [m.name for m in models]
    files = track_files(paths, names)  # (a TF name that is no file name fails here, before the scan)
    labels = files["bedgraph"] or files["bigwig"]
    sites, tracks = scan(models, seqs, stride=stride, keep_tracks=bool(paths or keep_tracks),
                         batch_size=batch_size, verbose=verbose, mode=mode, executor=executor)
    sites = finalize_calls(sites, collapse=collapse, min_precision=min_precision, max_q=max_q)
    sizes = {k: len(v) for k, v in seqs.items()}
    runs = None
    # this run's files, renamed into place together (concurrent runs stay apart)
    with Outputs() if outputs is None else contextlib.nullcontext(outputs) as outputs:
        write_bed(out, sites, outputs=outputs)
        if "tsv" in paths:
            write_tracks_tsv(paths["tsv"], tracks, names, outputs=outputs)
        if labels:
            where = runs_dir if runs_dir is not None else outputs.tempdir(Path(labels[0]).parent)
            runs = track_runs(where, tracks, names, labels=labels)
            if runs_dir is None:
                write_tracks(runs, names, sizes, **files, outputs=outputs, workers=executor.workers,
                             in_process=on_gpu(models), verbose=verbose)
        if bigbed:
            bed_to_bigbed(outputs.staged(out), bigbed, sizes, outputs=outputs)
    return seqs, sites, tracks, runs if runs_dir is not None else None


def read_known_sites(path, sizes: dict[str, int], coords) -> list[BedRecord]:
    """Known sites in record coordinates (:func:`tfscope.scan.known.read_known`).

    A known-site BED that does not fit the scanned sequences is reported on stderr (the scan's outputs stand) and gives
    none.
    """
    try:
        return read_known(path, sizes, coords)
    except InputError as e:
        print(f"tfscope: warning: --known: {e}", file=sys.stderr)
        return []


def known_summary(known, coords, n_sites: int, tfs: list[str], bed) -> str:
    """Return the recall line of known sites.

    From the written BED ``bed`` (either scan path; staged, not yet renamed into place) and the known sites moved to
    the same coordinates.
    """
    if coords is not None:
        known = [BedRecord(coords.locate(k.chrom)[0], k.start + coords.locate(k.chrom)[1],
                           k.end + coords.locate(k.chrom)[1], k.name) for k in known]
    return recall_line(known, read_bed(bed) if n_sites else [], tfs=tfs)


def silent_models(summary: dict, model_rows: list[dict] | None) -> list[str]:
    """Say why each scanned TF without a call got none.

    Parameters
    ----------
    summary : dict
        :func:`scan_to_files`' summary.
    model_rows : list of dict, optional
        :func:`tfscope.zoo.list_zoo` rows (chr7 call precision and paralog group of each TF).

    Returns
    -------
    list of str
        One sentence per TF without a call (by name; with ``--collapse group`` a TF counts as called when its group
        is), e.g. ``KLF4: no call reached its threshold (chr7 call precision 0.17); its paralog group
        KLF4/KLF5/SP1/SP2 was called as KLF5, SP1``.
    """
    counts = summary.get("calls_per_name", {})
    rows = {r["TF"]: r for r in model_rows or []}
    out = []
    for tf in summary["models"]:
        r = rows.get(tf, {})
        group = r.get("group") or tf
        if counts.get(tf) or counts.get(group):
            continue
        prec = r.get("call_precision")
        said = f"{tf}: no call reached its threshold" + (f" (chr7 call precision {prec:.2f})" if prec == prec and
                                                         prec is not None else "")
        others = [m for m in group.split("/") if m != tf and counts.get(m)]
        if others:
            said += f"; its paralog group {group} was called as {', '.join(others)}"
        out.append(said)
    return out


def check_run(fasta, out, *, tracks: dict, models, genome, chrom_sizes, known, bigbed=None, report=None,
              json_path=None, protect=(), example: bool = False) -> tuple[str | None, dict | None, bool]:
    """Check a scan's inputs and outputs before anything is scanned (every ``tfscope scan`` path).

    Resolves ``genome="detect"`` from the first header (:func:`detect_genome_headers`), refuses outputs that would
    replace an input (:func:`check_paths`), checks the genome options (:func:`check_genome_options`) and reads the
    known-site BED once, so a malformed one stops the scan before it starts.

    Returns
    -------
    (genome, chrom_sizes, detected)
        The header convention or None, the genome's chromosome sizes or None, and whether ``genome`` was detected.

    Raises
    ------
    InputError
        As :func:`check_paths`, :func:`check_genome_options` and :func:`tfscope.io.bed.read_bed`.
    """
    detected = genome == "detect"
    if detected:
        genome = "auto" if detect_genome_headers(fasta) else None
    check_paths(None if example else fasta, out, tracks, models, bigbed=bigbed, report=report, json_path=json_path,
                inputs=[("--known BED", known), ("--chrom-sizes file", chrom_sizes), *protect])
    sizes = check_genome_options(genome, chrom_sizes, tracks, bigbed, detected=detected)
    if known is not None:
        read_bed(known)
    return genome, sizes, detected


def scan_to_files(models: list[ScanModel], fasta: str | os.PathLike, out: str | os.PathLike, *, tracks=(),
                  bigbed=None, genome: str | None = None, chrom_sizes=None, known=None, report=None,
                  report_title: str | None = None, model_rows=None, attributions: int = 4, collapse=None,
                  min_precision=None, max_q=None, mode: str = "auto", stride: int = 50, batch_size: int = 1024,
                  executor="local", workers: int = 1, json_path=None, protect=(), summary_extra=None,
                  verbose: bool = False, example: bool = False) -> dict:
    """Scan a FASTA with ``models`` and write every output of ``tfscope scan``; returns the run summary.

    Parameters
    ----------
    models : list of ScanModel
        From :func:`tfscope.zoo.load_zoo` or :func:`tfscope.scan.load_scan_models`.
    fasta : str | os.PathLike
        DNA FASTA (plain, gzip or bgzip; any length).
    out : str | os.PathLike
        The BED6+9 of the calls (:data:`tfscope.io.tracks.CALL_COLUMNS`); its autoSql goes to ``OUT_STEM.as``.
    tracks : iterable of str
        Track formats (:data:`TRACK_FORMATS`) written beside ``out`` (:func:`track_paths`). Default is none.
    bigbed : str | os.PathLike, optional
        bigBed 6+9 of the calls.
    genome : str, optional
        Read ``chrom:start-end`` record headers in this convention (:data:`GENOME_CONVENTIONS`) and write every
        output in genome coordinates (0-based half-open); ``"detect"``: ``"auto"`` when the first record's header is
        such a stretch (:func:`detect_genome_headers`), else record coordinates. Default is record coordinates.
    chrom_sizes : str | os.PathLike, optional
        The genome's chromosome sizes, needed for bigWig/bigBed output with ``genome``.
    known : str | os.PathLike, optional
        BED of known sites: their recall by TF and paralog group (``summary["known_recall"]``) and the report.
    report : str | os.PathLike, optional
        Self-contained HTML report (the scan then holds its tracks in memory).
    report_title : str, optional
        Default is ``tfscope binding map: <FASTA name>``.
    model_rows : list of dict, optional
        :func:`tfscope.zoo.list_zoo` rows of the models, shown in the report.
    attributions : int
        Attribution logos of the strongest calls in the report. Default is 4.
    collapse, min_precision, max_q
        Call selection (:func:`tfscope.scan.calls.finalize_calls`).
    mode : {"auto", "window"}
        ``auto`` streams fully convolutional models; ``window`` scans 100 bp windows in memory.
    stride, batch_size : int
        Window mode's step (bp) and windows per forward pass.
    executor : {"local", "ray"} or an executor
        Where the work runs (:func:`tfscope.executor.make_executor` with ``workers``; an executor object is used as
        given and not closed).
    json_path : str | os.PathLike, optional
        Where the summary is also written (atomically, with the other outputs); ``-`` is left to the caller.
    protect : iterable of (what, path)
        Further inputs no output may replace (checkpoint files, the protein FASTA).
    summary_extra : dict, optional
        Keys added to the summary.
    verbose : bool
        Progress bars.
    example : bool
        ``fasta`` is the bundled example (not one of the user's inputs to protect).

    Returns
    -------
    dict
        ``sequences``, ``bp``, ``models``, ``sites``, ``calls_per_name``, ``seconds`` (the scan), ``report_seconds``,
        ``streamed``, ``genome_coordinates``, ``known_recall`` and ``outputs`` (paths), as ``--json`` writes it.

    Raises
    ------
    InputError
        Bad input (FASTA, known sites, chromosome sizes, overlapping records with tracks in genome coordinates) or an
        output that would replace an input; nothing is written then.
    """
    tracks = track_paths(out, tracks)
    genome, sizes_of_genome, detected = check_run(fasta, out, tracks=tracks, models=models, genome=genome,
                                                  chrom_sizes=chrom_sizes, known=known, bigbed=bigbed, report=report,
                                                  json_path=json_path, protect=protect, example=example)
    streaming = not report and "tsv" not in tracks and mode == "auto" and all(
        m.receptive_field is not None for m in models)
    outputs = Outputs()  # every output of this run: renamed into place together at the end
    for f, suffix in (("bedgraph", ".bedGraph"), ("bigwig", ".bw")):
        if f in tracks:
            outputs.own(tracks[f], (suffix,))
    try:
        # beside the output (same file system) and named after this run, so a later run sweeps it if this one is
        # killed; the scan commits its record-coordinate files there at once (they are private to the run)
        stage = outputs.tempdir(Path(out)) if genome else None
        # where the scan writes: the final paths, or record-coordinate files in the staging directory
        scan_out = stage / "calls.bed" if stage else Path(out)
        paths, runs_dir = dict(tracks), None
        if stage:  # the TSV in record coordinates; the bedGraph and bigWig tracks kept as runs, written after
            paths = {f: stage / p.name if f == "tsv" else p for f, p in tracks.items()}
            if "bedgraph" in tracks or "bigwig" in tracks:
                runs_dir = stage
        scan_outputs = None if stage else outputs
        with executor_for(executor, workers) as ex:
            t0 = time.time()
            if streaming:
                res = scan_fasta(models, fasta, scan_out, bedgraph=paths.get("bedgraph"), bigwig=paths.get("bigwig"),
                                 bigbed=None if stage else bigbed, runs_dir=runs_dir, executor=ex, collapse=collapse,
                                 min_precision=min_precision, max_q=max_q, verbose=verbose, outputs=scan_outputs)
                sizes, n_sites, seqs, sites, scanned = res["chrom_sizes"], res["sites"], None, None, None
                per_name, runs = res["calls_per_name"], res.get("runs")
            else:
                seqs, sites, scanned, runs = scan_in_memory(
                    models, fasta, scan_out, paths, executor=ex, bigbed=None if stage else bigbed,
                    outputs=scan_outputs, keep_tracks=bool(report), runs_dir=runs_dir, collapse=collapse,
                    min_precision=min_precision, max_q=max_q, mode=mode, stride=stride, batch_size=batch_size,
                    verbose=verbose)
                sizes, n_sites = {k: len(v) for k, v in seqs.items()}, len(sites)
                per_name = dict(Counter(r.name for r in sites))
            coords = None
            if genome:
                coords = GenomeCoords(sizes, genome, sizes_of_genome, chrom_sizes, fasta=fasta)
                publish_genome_outputs(coords, scan_out, final_bed=out, final_tracks=tracks, tsv=paths.get("tsv"),
                                       runs=runs, bigbed=bigbed, names=[m.name for m in models],
                                       workers=ex.workers, in_process=on_gpu(models), outputs=outputs)
        dt = time.time() - t0
        known_sites = read_known_sites(known, sizes, coords) if known is not None else None
        report_dt = None
        if report:
            t1 = time.time()
            write_report(report, sequences=seqs, sites=sites, tracks=scanned, models=models, model_rows=model_rows,
                         title=report_title or f"tfscope binding map: {Path(fasta).name}", coords=coords,
                         known=known_sites, n_attributions=attributions, verbose=verbose, outputs=outputs)
            report_dt = round(time.time() - t1, 3)
        write_autosql(out, outputs=outputs)
        recall = (known_summary(known_sites, coords, n_sites, [m.name for m in models], outputs.staged(out))
                  if known_sites else None)
        summary = {
            "sequences": len(sizes), "bp": sum(sizes.values()), "models": [m.name for m in models], "sites": n_sites,
            "calls_per_name": per_name,
            "seconds": round(dt, 3), **({"report_seconds": report_dt} if report else {}), "streamed": streaming,
            "genome_coordinates": genome, "genome_coordinates_detected": bool(detected and genome),
            "known_recall": recall, **(summary_extra or {}),
            "outputs": {"bed": str(out), "autosql": str(autosql_path(out)),
                        **{f"tracks_{f}": str(p) for f, p in tracks.items()},
                        **({"bigbed": str(bigbed)} if bigbed else {}),
                        **({"report": str(report)} if report else {})}}
        if json_path and str(json_path) != "-":
            write_json(json_path, summary, outputs=outputs)
        outputs.commit()
    finally:
        outputs.discard()
    return summary
