"""CLI of the one scanning command.

``tfscope scan`` (``tfscope snr predict`` is its alias with ``--checkpoint`` required), ``tfscope zoo list`` and
``tfscope demo``. Options follow ``docs/cli.md``.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

from ..cli_common import (add_allow_unverified_arg, add_device_arg, add_executor_args, add_json_arg, plural,
                          report_stream, write_json)
from ..errors import InputError, TfscopeWarning
from ..metrics import markdown_table
from ..protein.domains import read_proteins
from ..protein.pwmscan import protein_scan_models
from ..resources import resource
from ..zoo.registry import DEFAULT_ZOO, ZOOS, list_zoo, load_zoo
from .demo import run_demo
from .files import GENOME_CONVENTIONS, TRACK_FORMATS, scan_to_files, silent_models
from .models import load_scan_models
from .motifs import check_motif_options, motif_scan_to_files

ZOO_HELP = ("genomic (default): trained against real genome background, thresholds calibrated on chr7 genome "
            "windows; fast: the genomic zoo distilled (several times cheaper per Mbp, calibrated the same way; "
            "docs/genome_scale.md); both run in int8 on x86-64 CPUs (float32 elsewhere, with a warning); shuffled: "
            "the BertSNR-protocol zoo (shuffled negatives only; over-calls on real DNA)")


def _check_options(args) -> None:
    """Return the scan options' ranges and combinations, before anything is loaded."""
    if args.threshold is not None and not 0 < args.threshold < 1:
        raise InputError(f"--threshold must lie in (0, 1), not {args.threshold}")
    if args.protein and (args.checkpoint or args.tfs):
        raise InputError("--protein scans with the matrices inferred from the protein; give it without "
                         f"{'--checkpoint' if args.checkpoint else '--tfs'}")
    for opt, v in (("--min-precision", args.min_precision), ("--max-q", args.max_q)):
        if v is not None and not 0 <= v <= 1:
            raise InputError(f"{opt} must lie in [0, 1], not {v}")


#: input size (bp) from which a scan with the default zoo, not chosen by ``--zoo``, points to ``--zoo fast``
FAST_HINT_BP = 100_000_000


def fasta_bp_estimate(fasta) -> int | None:
    """Return about how many bases a FASTA holds, without reading it.

    Its ``.fai`` index's lengths when there is one, else its file size (gzip: 3x the compressed size; hg38's FASTA
    compresses about 3.3x); None for a file that cannot be read.
    """
    fasta = Path(fasta)
    try:
        fai = Path(f"{fasta}.fai")
        if fai.exists():
            return sum(int(line.split("\t")[1]) for line in fai.read_text().splitlines() if line.strip())
        return fasta.stat().st_size * (3 if fasta.suffix in (".gz", ".bgz") else 1)
    except (OSError, ValueError, IndexError):
        return None


def _fast_hint(args, fasta) -> None:
    """Point a genome-sized scan with the default zoo (``--zoo`` not given) to ``--zoo fast``, as a warning."""
    if args.zoo is not None or args.checkpoint or args.protein or args.example:
        return
    bp = fasta_bp_estimate(fasta)
    if bp is not None and bp >= FAST_HINT_BP:
        warnings.warn(f"{fasta}: about {bp / 1e6:,.0f} Mbp with the default ({DEFAULT_ZOO}) zoo; --zoo fast scans it "
                      "about 4x faster per Mbp, with fewer of the calls right (chr8 site F1 and speed of both: "
                      "docs/genome_scale.md); give --zoo to choose either and silence this", TfscopeWarning)


def _models(args) -> tuple[list, list | None]:
    """Return the scan models of the options (protein-inferred PWMs, checkpoints or the zoo) and their listing rows."""
    _check_options(args)
    if args.protein:
        models, rows, notes = protein_scan_models(read_proteins(args.protein), max_matrices=args.max_matrices,
                                                  pvalue=args.pwm_pvalue, source=str(args.protein))
        if notes:
            warnings.warn(f"{args.protein}: " + "; ".join(notes), TfscopeWarning)
    elif args.checkpoint:
        models, rows = load_scan_models(args.checkpoint, device=args.device, threshold=args.threshold), None
    else:
        models = load_zoo(args.tfs, kind=args.zoo or DEFAULT_ZOO, device=args.device)
        names = {m.name for m in models}
        rows = [r for r in list_zoo(kind=args.zoo or DEFAULT_ZOO) if r["TF"] in names]
    if args.threshold is not None:
        for m in models:
            m.threshold = args.threshold
    return models, rows


def _fasta(args) -> Path:
    """Return the FASTA to scan: the bundled example or the positional argument."""
    if args.example:
        return resource("example_regions")
    if not args.fasta:
        raise InputError("give a FASTA file or --example")
    return Path(args.fasta)


def run_motif_scan(args) -> int:
    """Run ``tfscope scan --motifs``: every matrix of JASPAR or of a motif file (:func:`motif_scan_to_files`)."""
    check_motif_options(tracks=args.tracks, collapse=args.collapse, checkpoint=args.checkpoint,
                        protein=args.protein, mode=args.mode)
    _check_options(args)
    s = motif_scan_to_files(_fasta(args), args.out, args.motifs, tfs=args.tfs, genome=args.parse_genomic_coord,
                            chrom_sizes=args.chrom_sizes, known=args.known, min_precision=args.min_precision,
                            max_q=args.max_q, workers=args.workers, json_path=args.json, example=args.example,
                            zoo=args.zoo or DEFAULT_ZOO, bigbed=args.bigbed, report=args.report)
    ev = ", ".join(f"{n:,} {k}" for k, n in sorted(s["evidence"].items()))
    print(f"scanned {plural(s['sequences'], 'sequence')}, {s['bp']:,} bp, with the matrices of {s['motifs']} in "
          f"{s['seconds']:.1f} s: {plural(s['sites'], 'call')} of {plural(s['tfs_called'], 'TF')} ({ev or 'none'}) "
          f"-> {args.out}" + (f", {args.report}" if args.report else "")
          + ("; genome coordinates" if s["genome_coordinates"] else "")
          + (f"\n{s['known_recall']}" if s["known_recall"] else ""), file=report_stream(args))
    if args.json == "-":
        write_json("-", s)
    return 0


def run_scan(args) -> int:
    """``tfscope scan``.

    The models and the FASTA from the options, then one :func:`tfscope.scan.files.scan_to_files` call; prints the run
    summary (and the recall of ``--known``).
    """
    if args.motifs:
        return run_motif_scan(args)
    models, rows = _models(args)
    _fast_hint(args, _fasta(args))
    protein = args.protein
    protect = [("--protein FASTA", protein)] + [("checkpoint file", f) for c in args.checkpoint or ()
                                                 for f in (sorted(Path(c).iterdir()) if Path(c).is_dir() else ())]
    extra = {"threshold": args.threshold, **({"protein": str(protein), "evidence": {
        r["TF"]: r["evidence_detail"] for r in rows}} if protein else {})}
    s = scan_to_files(models, _fasta(args), args.out, tracks=args.tracks, bigbed=args.bigbed,
                      genome=args.parse_genomic_coord, chrom_sizes=args.chrom_sizes, known=args.known,
                      report=args.report, model_rows=rows, attributions=args.attributions, collapse=args.collapse,
                      min_precision=args.min_precision, max_q=args.max_q, mode=args.mode, stride=args.stride,
                      batch_size=args.batch_size, executor=args.executor, workers=args.workers, json_path=args.json,
                      protect=protect, summary_extra=extra, verbose=not args.quiet, example=args.example)
    lines = [f"PWM models inferred from {protein}: " + "; ".join(r["evidence"] for r in rows)] if protein else []
    print("\n".join(lines + [summary_line(s)] + ([s["known_recall"]] if s["known_recall"] else [])
                    + _silent_lines(s, rows)), file=report_stream(args))
    if args.json == "-":
        write_json("-", s)
    return 0


def _silent_lines(s: dict, rows) -> list[str]:
    """Why scanned TFs got no call: one line each, or one line naming them all in a whole-zoo scan."""
    silent = silent_models(s, rows)
    if len(silent) <= 5:
        return silent
    names = [line.split(":", 1)[0] for line in silent]
    return [f"no call for {plural(len(names), 'TF')} of {len(s['models'])} (none reached its threshold): "
            f"{', '.join(names)}; scan with --tfs to see why for each"]


def summary_line(s: dict) -> str:
    """Return the one-line run summary of ``tfscope scan`` from :func:`tfscope.scan.files.scan_to_files`'s summary."""
    out, n, bp, dt = s["outputs"], len(s["models"]), s["bp"], s["seconds"]
    return (f"scanned {plural(s['sequences'], 'sequence')}, {bp:,} bp, with {plural(n, 'TF model')} in {dt:.1f} s "
            f"({bp * n / max(dt, 1e-9):,.0f} bp x models / s): {plural(s['sites'], 'call')} -> {out['bed']}"
            + "".join(f"; {k[7:]} tracks {p}" for k, p in out.items() if k.startswith("tracks_"))
            + ((f"; genome coordinates (from the chrom:start-end headers, {s['genome_coordinates']} convention; "
                "--no-parse-genomic-coord keeps record coordinates)" if s.get("genome_coordinates_detected") else
                f"; genome coordinates ({s['genome_coordinates']} headers)") if s["genome_coordinates"] else "")
            + (f"; report {out['report']} in {s['report_seconds']:.1f} s" if "report" in out else ""))


def cmd_demo(args) -> int:
    """``tfscope demo``: the README's main job (:func:`tfscope.scan.demo.run_demo`)."""
    res = run_demo(args.out, tfs=args.tfs, model=args.model, epochs=args.epochs, min_samples=args.min_samples,
                   device=args.device)
    if args.json:
        write_json(args.json, res)
    return 0


def cmd_zoo_list(args) -> int:
    """``tfscope zoo list``: one row per model of a bundled zoo, or per matrix with ``--motifs`` (Markdown or JSON).

    With ``--motifs``, each matrix's evidence (:func:`tfscope.anytf.scan.matrix_evidence`), grouped by evidence.
    """
    if args.motifs:
        from ..anytf.scan import matrix_evidence

        rows = matrix_evidence(args.motifs, tfs=args.tfs)
        if args.json:
            write_json(args.json, rows)
            if args.json == "-":
                return 0
        counts = Counter(r["evidence"] for r in rows)
        print(f"{plural(len(rows), 'matrix', 'matrices')} of {args.motifs}: "
              + ", ".join(f"{counts[e]:,} {e}" for e in ("trained", "motif-conditioned", "pwm") if counts[e]))
        print(markdown_table(rows, ["evidence", "name", "matrixId", "ic", "width"]), end="")
        return 0
    if args.tfs:
        raise InputError("zoo list --tfs goes with --motifs (the zoo's rows are all its TFs)")
    rows = list_zoo(kind=args.zoo)
    if args.json:
        write_json(args.json, rows)
        if args.json == "-":
            return 0
    print(markdown_table(rows, ["TF", "group", "site_width", "jaspar_id", "tf_class", "threshold", "call_precision",
                                "group_precision", "call_recall", "nt_auprc", "seq_auroc"]), end="")
    return 0


def add_scan_args(p, *, checkpoint_required: bool = False) -> None:
    """Return the options of ``tfscope scan`` (also those of its alias ``tfscope snr predict``)."""
    p.add_argument("fasta", nargs="?", metavar="FASTA", help="DNA FASTA (plain, gzip or bgzip; any length; N runs "
                   "skipped)")
    p.add_argument("--example", action="store_true", help="use the bundled real hg19 regions")
    p.add_argument("--checkpoint", nargs="+", required=checkpoint_required, metavar="DIR",
                   help="snr checkpoints to scan with" + ("" if checkpoint_required else " instead of the zoo"))
    if not checkpoint_required:
        p.add_argument("--tfs", nargs="+", help="zoo TFs to use (default: all); with --motifs any JASPAR TF name or "
                       "matrix ID")
        p.add_argument("--motifs", metavar="jaspar|FILE",
                       help="scan with every matrix of JASPAR 2024 CORE vertebrates (jaspar, 879) or of a motif file "
                            "(MEME, JASPAR, PFM, TRANSFAC): zoo TFs keep their trained models, every other matrix is "
                            "called through the PWM floor (FIMO hits with chr7-calibrated precision, p- and q-values); "
                            "the BED gains evidence and matrixId columns (docs/any_tf.md)")
        p.add_argument("--zoo", choices=ZOOS, help=ZOO_HELP)
        p.add_argument("--protein", metavar="FASTA", help="scan with the JASPAR matrices inferred from this protein's "
                       "DNA-binding domains (pyhmmer DBDs, DBD identity to the 752 bundled JASPAR-linked TFs) as PWM "
                       "calls, instead of the zoo; exit 2 when no matrix can be inferred")
        p.add_argument("--max-matrices", type=int, default=5, metavar="N",
                       help="with --protein: inferred matrices scanned per protein, best homologue first")
        p.add_argument("--pwm-pvalue", type=float, default=1e-4, metavar="P",
                       help="with --protein: per-position p-value of a PWM window at the call threshold (FIMO's "
                            "default)")
    p.add_argument("--out", "-o", default="tfscope-scan.bed",
                   help="BED6+9 of the calls (score = round(1000 x estimated precision); strand and column 15 from "
                        "the TF's JASPAR matrix aligned in the call: FIMO's strand and matched site; columns 7-14: peak "
                        "P, peak position, precision, group precision, p-value, q-value, paralog group, members), with its "
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
    p.add_argument("--bigbed", help="bigBed file of the calls (bigBed 6+9, the BED's columns)")
    p.add_argument("--report", help="also write a self-contained HTML report here (holds the tracks in memory; "
                   "without it, fully convolutional models stream the FASTA in bounded memory)")
    coords = p.add_mutually_exclusive_group()
    coords.add_argument("--parse-genomic-coord", nargs="?", const="auto", default="detect", choices=GENOME_CONVENTIONS,
                        metavar="{auto,faidx,bedtools}",
                        help="read chrom:start-end FASTA headers and write every output in genome coordinates: faidx "
                             "= 1-based inclusive (samtools faidx), bedtools = 0-based half-open (bedtools getfasta, "
                             "also NAME::chrom:start-end); auto (when the option is given bare) picks, per record, the "
                             "convention its length agrees with. Other headers keep their id, offset 0 (as FIMO). "
                             "Default: auto when the first record's header is such a stretch, else record coordinates")
    coords.add_argument("--no-parse-genomic-coord", dest="parse_genomic_coord", action="store_const", const=None,
                        help="write record coordinates even when the FASTA headers are chrom:start-end")
    p.add_argument("--chrom-sizes", metavar="FILE", help="the genome's chromosome sizes (UCSC chrom.sizes or the "
                   "genome FASTA's .fai) for bigWig/bigBed in genome coordinates")
    p.add_argument("--known", metavar="BED", help="known sites (BED: chrom start end TF; in the coordinates of the "
                   "outputs: genome coordinates for chrom:start-end headers, else record coordinates): their recall by TF (and paralog group) in the summary, "
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
    add_executor_args(p)
    add_device_arg(p)
    add_allow_unverified_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_json_arg(p, "a run summary (sequences, bp, models, sites, seconds, output paths)")
    p.set_defaults(func=run_scan, tfs=None, zoo=None, protein=None, max_matrices=5, pwm_pvalue=1e-4,
                   motifs=None)


def add_cli(sub) -> None:
    """Register ``zoo``, ``scan`` and ``demo``."""
    z = sub.add_parser("zoo", help="the bundled model zoos (45 TFs)").add_subparsers(dest="zoo_cmd", required=True)
    zl = z.add_parser("list", help="each model's TF, JASPAR id, class/family, call threshold with its chr7 "
                      "precision/recall, and test metrics")
    zl.add_argument("--zoo", choices=ZOOS, default=DEFAULT_ZOO, help=ZOO_HELP)
    zl.add_argument("--motifs", metavar="jaspar|FILE",
                    help="instead: every matrix of JASPAR 2024 CORE vertebrates (jaspar) or of a motif file with the "
                         "evidence that scan --motifs calls it with (trained, motif-conditioned, pwm), grouped by "
                         "evidence")
    zl.add_argument("--tfs", nargs="+", help="with --motifs: TF names or matrix IDs to keep")
    add_json_arg(zl, "the rows")
    zl.set_defaults(func=cmd_zoo_list)
    add_scan_args(sub.add_parser("scan", help="scan sequences with TF models (zoo or checkpoints) -> BED6+9 calls "
                                 "(one per site, with paralog group and confidence), tracks, HTML report"))
    m = sub.add_parser("demo", help="main job on bundled real data: train, metrics table, predict sites (BED)")
    m.add_argument("--out", "-o", default="tfscope-demo", help="output directory (checkpoints, BEDs, report.html)")
    m.add_argument("--tfs", nargs="+", default=None, help="bundled TFs to use (default: all bundled)")
    m.add_argument("--model", default="dilated", choices=["dilated", "deepsnr", "daednet"],
                   help="architecture trained per TF")
    m.add_argument("--epochs", type=int, default=4, help="training epochs per TF, a floor: small bundled tables train "
                   "until --min-samples windows are seen (11-14 epochs for the dilated CNN), with early stopping")
    m.add_argument("--min-samples", type=int, help="train on at least this many windows (default per model: 30,000 "
                   "for dilated and daednet, 300,000 for deepsnr)")
    add_json_arg(m, "the metrics rows and scan summary")
    add_device_arg(m)
    m.set_defaults(func=cmd_demo)
