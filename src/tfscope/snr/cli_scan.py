"""CLI of the one scanning command: ``tfscope scan`` (``tfscope snr predict`` is its alias with ``--checkpoint``
required), and ``tfscope zoo list``. Options follow ``docs/cli.md``."""

from __future__ import annotations

import time
from pathlib import Path

from ..cli_common import add_allow_unverified_arg, add_device_arg, add_json_arg, plural, report_stream, write_json
from ..executor import EXECUTORS, default_workers
from ..errors import InputError
from .zoo import DEFAULT_ZOO, ZOOS

ZOO_HELP = ("genomic (default): trained against real genome background, thresholds calibrated on chr7 genome "
            "windows; shuffled: the BertSNR-protocol zoo (shuffled negatives only; over-calls on real DNA)")


TRACK_FORMATS = ("tsv", "bedgraph", "bigwig")


def track_paths(out, formats) -> dict[str, Path]:
    """Where ``--tracks FORMAT ...`` writes, beside the BED ``out`` (``OUT_STEM`` = ``out`` without ``.bed``):
    ``tsv`` -> ``OUT_STEM.tracks.tsv``, ``bedgraph`` -> ``OUT_STEM.bedgraph/``, ``bigwig`` -> ``OUT_STEM.bigwig/``."""
    stem = str(out)[:-4] if str(out).endswith(".bed") else str(out)
    paths = {"tsv": Path(stem + ".tracks.tsv"), "bedgraph": Path(stem + ".bedgraph"), "bigwig": Path(stem + ".bigwig")}
    return {f: paths[f] for f in dict.fromkeys(formats or ())}


def _models(args):
    from .scan import load_scan_models

    if args.threshold is not None and not 0 < args.threshold < 1:
        raise InputError(f"--threshold must lie in (0, 1), not {args.threshold}")
    protein = getattr(args, "protein", None)
    if protein and (args.checkpoint or args.tfs):
        raise InputError("--protein scans with the matrices inferred from the protein; give it without "
                         f"{'--checkpoint' if args.checkpoint else '--tfs'}")
    if protein:
        from ..protein.domains import read_proteins
        from ..protein.pwmscan import protein_scan_models

        records = read_proteins(protein)
        models, rows, notes = protein_scan_models(records, max_matrices=args.max_matrices, pvalue=args.pwm_pvalue,
                                                  source=str(protein))
        if notes:
            import warnings

            from ..errors import TfscopeWarning

            warnings.warn(f"{protein}: " + "; ".join(notes), TfscopeWarning)
    elif args.checkpoint:
        models, rows = load_scan_models(args.checkpoint, device=args.device, threshold=args.threshold), None
    else:
        from .zoo import list_zoo, load_zoo

        models = load_zoo(args.tfs, kind=args.zoo, device=args.device)
        names = {m.name for m in models}
        rows = [r for r in list_zoo(kind=args.zoo) if r["TF"] in names]
    for opt, v in (("--min-precision", args.min_precision), ("--max-q", args.max_q)):
        if v is not None and not 0 <= v <= 1:
            raise InputError(f"{opt} must lie in [0, 1], not {v}")
    if args.threshold is not None:
        for m in models:
            m.threshold = args.threshold
    return models, rows


def _fasta(args) -> Path:
    from ..resources import resource

    if args.example:
        return resource("example_regions")
    if not args.fasta:
        raise InputError("give a FASTA file or --example")
    return Path(args.fasta)


def run_scan(args) -> int:
    """Scan a FASTA: streamed through :func:`tfscope.snr.scan.scan_fasta` (fully convolutional models, no report, no
    TSV tracks), or held in memory (:func:`tfscope.snr.scan.scan`: window-mode models, ``--mode window``, the HTML
    report, TSV tracks). With ``--parse-genomic-coord`` every output is written in record coordinates into a
    staging directory first and then moved to genome coordinates by :func:`publish_genome_outputs`.

    Every output of the run (BED, ``.as``, tracks, bigBed, report, JSON) is staged in one
    :class:`tfscope.io.atomic.Outputs` and renamed into place together after all of them are written, or none is;
    the track folders are the run's own (a rerun with fewer TFs leaves only its tracks). An output that is one of
    the inputs, or another output, is refused before anything is read (:func:`check_paths`)."""
    from ..executor import make_executor
    from ..io.atomic import Outputs

    models, rows = _models(args)
    tracks = track_paths(args.out, args.tracks)
    check_paths(args, models, tracks)
    genome = _genome_options(args, tracks)
    known_path = _known_path(args)
    streaming = not args.report and "tsv" not in tracks and args.mode == "auto" and all(
        m.receptive_field is not None for m in models)
    outputs = Outputs()  # every output of this run: renamed into place together at the end
    for f, suffix in (("bedgraph", ".bedGraph"), ("bigwig", ".bw")):
        if f in tracks:
            outputs.own(tracks[f], (suffix,))
    try:
        # beside the output (same file system) and named after this run, so a later run sweeps it if this one is
        # killed; the scan commits its record-coordinate files there at once (they are private to the run)
        stage = outputs.tempdir(Path(args.out)) if genome else None
        # where the scan writes: the final paths, or record-coordinate files in the staging directory
        out = stage / "calls.bed" if stage else Path(args.out)
        paths = dict(tracks)
        if stage:
            paths = {f: stage / p.name for f, p in tracks.items() if f == "tsv"}
            if "bedgraph" in tracks or "bigwig" in tracks:
                paths["bedgraph"] = stage / "bedgraph"
        scan_outputs = None if stage else outputs
        executor = make_executor(args.executor, args.workers)
        t0 = time.time()
        try:
            if streaming:
                from .scan import scan_fasta

                res = scan_fasta(models, _fasta(args), out, bedgraph=paths.get("bedgraph"),
                                 bigwig=paths.get("bigwig"), bigbed=None if stage else args.bigbed, executor=executor,
                                 collapse=args.collapse, min_precision=args.min_precision, max_q=args.max_q,
                                 verbose=not args.quiet, outputs=scan_outputs)
                sizes, n_sites, seqs, sites, scanned = res["chrom_sizes"], res["sites"], None, None, None
            else:
                seqs, sites, scanned = _scan_in_memory(args, models, executor, out, paths, bigbed=None if stage else
                                                       args.bigbed, outputs=scan_outputs)
                sizes, n_sites = {k: len(v) for k, v in seqs.items()}, len(sites)
            coords = None
            if genome:
                from ..io.coords import GenomeCoords

                convention, chrom_sizes, source = genome
                coords = GenomeCoords(sizes, convention, chrom_sizes, source, fasta=_fasta(args))
                publish_genome_outputs(coords, out, paths, final_bed=args.out, final_tracks=tracks,
                                       bigbed=args.bigbed, names=[m.name for m in models], outputs=outputs)
        finally:
            executor.close()
        dt = time.time() - t0
        bp = sum(sizes.values())
        known = _read_known(known_path, sizes, coords) if known_path else None
        report_note = ""
        if args.report:
            from ..report.html import write_report

            t1 = time.time()
            write_report(args.report, sequences=seqs, sites=sites, tracks=scanned, models=models, model_rows=rows,
                         title=f"tfscope binding map: {Path(_fasta(args)).name}", coords=coords, known=known,
                         n_attributions=args.attributions, verbose=not args.quiet, outputs=outputs)
            report_note = f"; report {args.report} in {time.time() - t1:.1f} s"
        write_autosql(args.out, outputs=outputs)
        recall = _known_summary(args, known, coords, n_sites, models, outputs.staged(args.out)) if known else None
        summary = {
            "sequences": len(sizes), "bp": bp, "models": [m.name for m in models], "sites": n_sites,
            "seconds": round(dt, 3), "threshold": args.threshold, "streamed": streaming,
            "genome_coordinates": genome[0] if genome else None, "known_recall": recall,
            **({"protein": str(args.protein), "evidence": {r["TF"]: r["evidence_detail"] for r in rows}}
               if getattr(args, "protein", None) else {}),
            "outputs": {"bed": str(args.out), "autosql": str(autosql_path(args.out)),
                        **{f"tracks_{f}": str(p) for f, p in tracks.items()},
                        **({"bigbed": str(args.bigbed)} if args.bigbed else {}),
                        **({"report": str(args.report)} if args.report else {})}}
        if args.json and args.json != "-":
            write_json(args.json, summary, outputs=outputs)
        outputs.commit()
    finally:
        outputs.discard()
    if getattr(args, "protein", None):
        print(f"PWM models inferred from {args.protein}: " + "; ".join(r["evidence"] for r in rows),
              file=report_stream(args))
    print(f"scanned {plural(len(sizes), 'sequence')}, {bp:,} bp, with {plural(len(models), 'TF model')} in {dt:.1f} s "
          f"({bp * len(models) / max(dt, 1e-9):,.0f} bp x models / s): {plural(n_sites, 'call')}"
          + f" -> {args.out}" + "".join(f"; {f} tracks {p}" for f, p in tracks.items())
          + (f"; genome coordinates ({genome[0]} headers)" if genome else "") + report_note, file=report_stream(args))
    if recall:
        print(recall, file=report_stream(args))
    if args.json == "-":
        write_json("-", summary)
    return 0


def check_paths(args, models, tracks: dict) -> None:
    """Refuse outputs of ``tfscope scan`` that are one of its inputs (``scan x.fa --out x.fa``, a hard link of the
    FASTA, a checkpoint file) or one another (``--json`` equal to ``--out``), before anything is read
    (:func:`tfscope.io.atomic.refuse_clobbering`).

    Raises
    ------
    InputError
        Naming the output and the input it would replace.
    """
    from ..io.atomic import refuse_clobbering

    fasta = None if args.example else args.fasta
    inputs = [("FASTA", fasta), ("FASTA index", fasta and f"{fasta}.fai"),
              ("--known BED", getattr(args, "known", None)), ("--protein FASTA", getattr(args, "protein", None)), ("--chrom-sizes file", getattr(args, "chrom_sizes", None))]
    for c in args.checkpoint or ():
        inputs += [("checkpoint file", f) for f in (sorted(Path(c).iterdir()) if Path(c).is_dir() else ())]
    outputs = [("--out", args.out), ("its autoSql", autosql_path(args.out)), ("--bigbed", args.bigbed),
               ("--report", args.report), ("--json", args.json), ("--tracks tsv", tracks.get("tsv"))]
    for f, suffix in (("bedgraph", ".bedGraph"), ("bigwig", ".bw")):
        outputs += [(f"the {f} track of {m.name}", Path(tracks[f]) / f"{m.name}{suffix}")
                    for m in (models if f in tracks else ())]
    refuse_clobbering(outputs, inputs)


def _known_summary(args, known, coords, n_sites, models, bed) -> str:
    """The recall line of ``--known``, from the written BED ``bed`` (either scan path; staged, not yet renamed into
    place) and the known sites moved to the same coordinates."""
    from ..io.bed import BedRecord, read_bed
    from .known import recall_line

    if coords is not None:
        known = [BedRecord(coords.locate(k.chrom)[0], k.start + coords.locate(k.chrom)[1],
                           k.end + coords.locate(k.chrom)[1], k.name) for k in known]
    return recall_line(known, read_bed(bed) if n_sites else [], tfs=[m.name for m in models])


def _genome_options(args, tracks):
    """``(convention, chrom_sizes or None, sizes file)`` of ``--parse-genomic-coord``, or None; checks the options
    before any scanning."""
    conv = getattr(args, "parse_genomic_coord", None)
    if conv is None:
        if getattr(args, "chrom_sizes", None):
            raise InputError("--chrom-sizes goes with --parse-genomic-coord")
        return None
    sizes = None
    if args.chrom_sizes:
        from ..io.coords import read_chrom_sizes

        sizes = read_chrom_sizes(args.chrom_sizes)
    elif "bigwig" in tracks or args.bigbed:
        raise InputError("--parse-genomic-coord with bigWig/bigBed output needs the genome's chromosome sizes: "
                         "--chrom-sizes FILE (UCSC chrom.sizes, or the genome FASTA's .fai)")
    return conv, sizes, args.chrom_sizes


def publish_genome_outputs(coords, bed: Path, paths: dict, *, final_bed, final_tracks: dict,
                           bigbed=None, names=(), outputs=None) -> None:
    """Move the staged record-coordinate outputs of a scan into genome coordinates (:mod:`tfscope.io.coords`):
    the BED (start, end and the ``peak`` column shifted, sorted), the bedGraphs, the TSV tracks; then the bigWigs
    and the bigBed from them with the genome's chromosome sizes.

    Parameters
    ----------
    coords : :class:`tfscope.io.coords.GenomeCoords` of the scanned records
    bed : the staged BED of the calls (record coordinates)
    paths : staged track outputs: ``tsv`` (file) and ``bedgraph`` (directory of ``<TF>.bedGraph``), as present
    final_bed, final_tracks : where the user asked for the BED and the tracks (:func:`track_paths`)
    bigbed : bigBed path, optional
    names : the models' TF names (the bedGraph/bigWig file names, each checked to stay in its folder)
    outputs : :class:`tfscope.io.atomic.Outputs`, optional: every file is renamed into place at its commit

    Raises
    ------
    InputError
        Tracks were asked for but two records overlap in the genome (their bedGraph runs would overlap); checked
        before anything is written.
    """
    from ..io.atomic import file_inside
    from ..io.coords import relocate_bed, relocate_tracks_tsv
    from ..io.tracks import CALL_COLUMNS
    from .scan import write_browser_tracks

    staged = outputs.staged if outputs is not None else Path  # where a written file's content is until the commit

    if "bedgraph" in paths:
        pair = coords.overlapping()
        if pair:
            raise InputError(f"records {pair[0]} and {pair[1]} overlap in the genome, so their tracks would "
                             "overlap in one bedGraph/bigWig; merge the regions first (bedtools merge) or drop "
                             "--tracks bedgraph/bigwig")
    relocate_bed(bed, final_bed, coords, position_columns=(1, 2, 6 + CALL_COLUMNS.index("peak")), outputs=outputs)
    if "tsv" in final_tracks:
        relocate_tracks_tsv(paths["tsv"], final_tracks["tsv"], coords, outputs=outputs)
    graphs = []
    if "bedgraph" in paths:
        graph_dir = final_tracks.get("bedgraph") or paths["bedgraph"]
        graphs = [relocate_bed(file_inside(paths["bedgraph"], f"{n}.bedGraph"),
                               file_inside(graph_dir, f"{n}.bedGraph"), coords, outputs=outputs) for n in names]
    write_browser_tracks(coords.chrom_sizes(), bedgraphs=[staged(g) for g in graphs], names=names,
                         bigwig=final_tracks.get("bigwig"), bed=staged(final_bed), bigbed=bigbed, outputs=outputs)


def _known_path(args):
    """``--known`` (checked to exist before the scan)."""
    path = getattr(args, "known", None)
    if path is None:
        return None
    from ..io.bed import read_bed

    read_bed(path)  # a malformed BED stops the scan before it starts
    return path


def _read_known(path, sizes, coords):
    """Known sites in record coordinates; a known-site BED that does not fit the scanned sequences is reported on
    stderr (the scan's outputs stand) and gives none."""
    import sys

    from .known import read_known

    try:
        return read_known(path, sizes, coords)
    except InputError as e:
        print(f"tfscope: warning: --known: {e}", file=sys.stderr)
        return []


def autosql_path(out) -> Path:
    """Where the autoSql declaring the calls BED goes: ``OUT_STEM.as`` beside the BED ``out``."""
    return Path((str(out)[:-4] if str(out).endswith(".bed") else str(out)) + ".as")


def write_autosql(out, *, outputs=None) -> Path:
    """Write the autoSql of the BED6+8 calls (:data:`tfscope.io.tracks.CALLS_AUTOSQL`, the bigBed's) beside ``out``
    (``bedToBigBed -as=OUT_STEM.as -type=bed6+8``; with ``outputs``, renamed at its commit)."""
    from ..io.atomic import atomic_write
    from ..io.tracks import CALLS_AUTOSQL

    path = autosql_path(out)
    with atomic_write(path, outputs=outputs) as fh:
        fh.write(CALLS_AUTOSQL)
    return path


def _scan_in_memory(args, models, executor, out, paths: dict, *, bigbed=None, outputs=None):
    """Scan in memory and write the BED and the asked tracks (staged in ``outputs``, renamed at its commit by the
    caller; by default renamed together here); returns ``(sequences, sites, tracks)``."""
    import contextlib

    from ..io.atomic import Outputs

    from ..io.bed import write_bed as _write_bed
    from ..io.fasta import read_fasta
    from .calls import finalize_calls
    from .scan import scan, write_bedgraphs, write_browser_tracks, write_tracks_tsv

    seqs = read_fasta(_fasta(args))
    names = [m.name for m in models]
    sites, tracks = scan(models, seqs, stride=args.stride, keep_tracks=bool(paths or args.report),
                         batch_size=args.batch_size, verbose=not args.quiet, mode=args.mode, executor=executor)
    sites = finalize_calls(sites, collapse=args.collapse, min_precision=args.min_precision, max_q=args.max_q)
    # this run's files, renamed into place together (concurrent runs stay apart)
    with Outputs() if outputs is None else contextlib.nullcontext(outputs) as outputs:
        _write_bed(out, sites, outputs=outputs)
        if "tsv" in paths:
            write_tracks_tsv(paths["tsv"], tracks, names, outputs=outputs)
        bigwig = paths.get("bigwig")
        track_dir = paths.get("bedgraph") or (outputs.tempdir(Path(bigwig)) if bigwig else None)
        graphs = write_bedgraphs(track_dir, tracks, names, outputs=outputs) if track_dir else []
        write_browser_tracks({k: len(v) for k, v in seqs.items()}, bedgraphs=[outputs.staged(g) for g in graphs],
                             names=names, bigwig=bigwig, bed=outputs.staged(out), bigbed=bigbed, outputs=outputs)
    return seqs, sites, tracks


def cmd_zoo_list(args) -> int:
    from ..metrics import markdown_table
    from .zoo import list_zoo

    rows = list_zoo(kind=args.zoo)
    if args.json:
        write_json(args.json, rows)
        if args.json == "-":
            return 0
    print(markdown_table(rows, ["TF", "group", "site_width", "jaspar_id", "tf_class", "threshold", "call_precision",
                                "group_precision", "call_recall", "nt_auprc", "seq_auroc"]), end="")
    return 0


def add_scan_args(p, *, checkpoint_required: bool = False) -> None:
    """The options of ``tfscope scan`` (also those of its alias ``tfscope snr predict``)."""
    p.add_argument("fasta", nargs="?", metavar="FASTA", help="DNA FASTA (plain, gzip or bgzip; any length; N runs "
                   "skipped)")
    p.add_argument("--example", action="store_true", help="use the bundled real hg19 regions")
    p.add_argument("--checkpoint", nargs="+", required=checkpoint_required, metavar="DIR",
                   help="snr checkpoints to scan with" + ("" if checkpoint_required else " instead of the zoo"))
    if not checkpoint_required:
        p.add_argument("--tfs", nargs="+", help="zoo TFs to use (default: all)")
        p.add_argument("--zoo", choices=ZOOS, default=DEFAULT_ZOO, help=ZOO_HELP)
        p.add_argument("--protein", metavar="FASTA", help="scan with the JASPAR matrices inferred from this protein's "
                       "DNA-binding domains (pyhmmer DBDs, DBD identity to the 752 bundled JASPAR-linked TFs) as PWM "
                       "calls, instead of the zoo; exit 2 when no matrix can be inferred")
        p.add_argument("--max-matrices", type=int, default=5, metavar="N",
                       help="with --protein: inferred matrices scanned per protein, best homologue first")
        p.add_argument("--pwm-pvalue", type=float, default=1e-4, metavar="P",
                       help="with --protein: per-position p-value of a PWM window at the call threshold (FIMO's "
                            "default)")
    p.add_argument("--out", default="tfscope-scan.bed",
                   help="BED6+8 of the calls (score = round(1000 x estimated precision); columns 7-14: peak P, peak "
                        "position, precision, group precision, p-value, q-value, paralog group, members), with its "
                        "autoSql OUT_STEM.as beside it; relative paths are in the current directory")
    p.add_argument("--collapse", choices=["group"],
                   help="group: one call per paralog group and site, named by the group, members ranked")
    p.add_argument("--min-precision", type=float, metavar="P",
                   help="keep calls whose estimated precision (chr7-calibrated) is at least P (default: all calls "
                        "at the model thresholds)")
    p.add_argument("--max-q", type=float, metavar="Q",
                   help="keep calls whose q-value (Benjamini-Hochberg over the run) is at most Q (default: all)")
    p.add_argument("--tracks", nargs="+", choices=TRACK_FORMATS, metavar="FORMAT",
                   help="per-nucleotide probability tracks beside --out: tsv (OUT_STEM.tracks.tsv), bedgraph "
                        "(OUT_STEM.bedgraph/<TF>.bedGraph), bigwig (OUT_STEM.bigwig/<TF>.bw)")
    p.add_argument("--bigbed", help="bigBed file of the calls (bigBed 6+8, the BED's columns)")
    p.add_argument("--report", help="also write a self-contained HTML report here (holds the tracks in memory; "
                   "without it, fully convolutional models stream the FASTA in bounded memory)")
    p.add_argument("--parse-genomic-coord", nargs="?", const="auto", choices=("auto", "faidx", "bedtools"),
                   metavar="{auto,faidx,bedtools}",
                   help="read chrom:start-end FASTA headers and write every output in genome coordinates: faidx = "
                        "1-based inclusive (samtools faidx), bedtools = 0-based half-open (bedtools getfasta, also "
                        "NAME::chrom:start-end); auto (the default when the option is given bare) picks, per record, "
                        "the convention its length agrees with. Other headers keep their id, offset 0 (as FIMO)")
    p.add_argument("--chrom-sizes", metavar="FILE", help="the genome's chromosome sizes (UCSC chrom.sizes or the "
                   "genome FASTA's .fai) for bigWig/bigBed with --parse-genomic-coord")
    p.add_argument("--known", metavar="BED", help="known sites (BED: chrom start end TF; in record or, with "
                   "--parse-genomic-coord, genome coordinates): their recall by TF (and paralog group) in the summary, "
                   "and a track and found/missed table in the --report")
    p.add_argument("--attributions", type=int, default=4, metavar="N",
                   help="attribution logos for the N strongest calls in the --report (default 4; 0: none)")
    p.add_argument("--threshold", type=float, help="one probability cut for every model (default: each model's "
                   "own threshold: for the genomic zoo calibrated on chr7 genome windows, best per-site F1; "
                   "for other checkpoints tuned on their validation rows)")
    p.add_argument("--mode", choices=["auto", "window"], default="auto",
                   help="auto: fully convolutional models (the zoo) scan long chunks, others 100 bp windows; "
                        "window: 100 bp windows for every model")
    p.add_argument("--stride", type=int, default=50, help="window step (bp) in window mode")
    p.add_argument("--batch-size", type=int, default=1024, help="windows per forward pass in window mode")
    p.add_argument("--workers", type=int, default=default_workers(),
                   help="processes (or Ray actors) sharing the work, one thread each (default: the available CPU "
                        "cores, at most 4)")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local: forked worker processes; ray: Ray actors (pip install 'tfscope[ray]'; "
                        "embedded on this machine, or the cluster at RAY_ADDRESS)")
    add_device_arg(p)
    add_allow_unverified_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_json_arg(p, "a run summary (sequences, bp, models, sites, seconds, output paths)")
    p.set_defaults(func=run_scan, tfs=None, zoo=DEFAULT_ZOO, protein=None, max_matrices=5, pwm_pvalue=1e-4)


def add_cli(sub) -> None:
    """Register ``zoo`` and ``scan``."""
    z = sub.add_parser("zoo", help="the bundled model zoos (45 TFs)").add_subparsers(dest="zoo_cmd", required=True)
    zl = z.add_parser("list", help="each model's TF, JASPAR id, class/family, call threshold with its chr7 "
                      "precision/recall, and test metrics")
    zl.add_argument("--zoo", choices=ZOOS, default=DEFAULT_ZOO, help=ZOO_HELP)
    add_json_arg(zl, "the rows")
    zl.set_defaults(func=cmd_zoo_list)
    add_scan_args(sub.add_parser("scan", help="scan sequences with TF models (zoo or checkpoints) -> BED6+8 calls "
                                 "(one per site, with paralog group and confidence), tracks, HTML report"))
