"""CLI of the one scanning command: ``tfscope scan`` (``tfscope snr predict`` is its alias with ``--checkpoint``
required), and ``tfscope zoo list``. Options follow ``docs/cli.md``."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..cli_common import add_device_arg
from ..executor import EXECUTORS
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
    if args.checkpoint:
        models, rows = load_scan_models(args.checkpoint, device=args.device, threshold=args.threshold), None
    else:
        from .zoo import list_zoo, load_zoo

        models = load_zoo(args.tfs, kind=args.zoo, device=args.device)
        names = {m.name for m in models}
        rows = [r for r in list_zoo(kind=args.zoo) if r["TF"] in names]
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
    report, TSV tracks)."""
    from ..executor import make_executor

    models, rows = _models(args)
    tracks = track_paths(args.out, args.tracks)
    streaming = not args.report and "tsv" not in tracks and args.mode == "auto" and all(
        m.receptive_field is not None for m in models)
    executor = make_executor(args.executor, args.workers)
    t0 = time.time()
    try:
        if streaming:
            from .scan import scan_fasta

            res = scan_fasta(models, _fasta(args), args.out, bedgraph=tracks.get("bedgraph"),
                             bigwig=tracks.get("bigwig"), bigbed=args.bigbed, executor=executor,
                             verbose=not args.quiet)
            n_seqs, bp, n_sites = res["records"], res["bp"], res["sites"]
        else:
            n_seqs, bp, n_sites = _scan_in_memory(args, models, rows, executor, tracks)
    finally:
        executor.close()
    dt = time.time() - t0
    print(f"scanned {n_seqs} sequence(s), {bp} bp, with {len(models)} TF model(s) in {dt:.1f} s "
          f"({bp * len(models) / max(dt, 1e-9):,.0f} bp x models / s): {n_sites} site(s)"
          + f" -> {args.out}" + "".join(f"; {f} tracks {p}" for f, p in tracks.items())
          + (f"; report {args.report}" if args.report else ""))
    return 0


def _scan_in_memory(args, models, rows, executor, paths: dict):
    from ..io.atomic import Outputs
    from ..io.bed import write_bed as _write_bed
    from ..io.fasta import read_fasta
    from .scan import scan, write_bedgraphs, write_browser_tracks, write_tracks_tsv

    seqs = read_fasta(_fasta(args))
    names = [m.name for m in models]
    sites, tracks = scan(models, seqs, stride=args.stride, keep_tracks=bool(paths or args.report),
                         batch_size=args.batch_size, verbose=not args.quiet, mode=args.mode, executor=executor)
    with Outputs() as outputs:  # this run's files, renamed into place together (concurrent runs stay apart)
        _write_bed(args.out, sites, outputs=outputs)
        if "tsv" in paths:
            write_tracks_tsv(paths["tsv"], tracks, names, outputs=outputs)
        bigwig = paths.get("bigwig")
        track_dir = paths.get("bedgraph") or (outputs.tempdir(Path(bigwig)) if bigwig else None)
        graphs = write_bedgraphs(track_dir, tracks, names, outputs=outputs) if track_dir else []
        write_browser_tracks({k: len(v) for k, v in seqs.items()}, bedgraphs=[outputs.staged(g) for g in graphs],
                             names=names, bigwig=bigwig, bed=outputs.staged(args.out), bigbed=args.bigbed,
                             outputs=outputs)
    if args.report:
        from ..report.html import write_report

        write_report(args.report, sequences=seqs, sites=sites, tracks=tracks, models=models, model_rows=rows,
                     title=f"tfscope binding map: {Path(_fasta(args)).name}")
    return len(seqs), sum(map(len, seqs.values())), len(sites)


def cmd_zoo_list(args) -> int:
    from ..metrics import markdown_table
    from .zoo import list_zoo

    rows = list_zoo(kind=args.zoo)
    print(markdown_table(rows, ["TF", "model", "jaspar_id", "tf_class", "tf_family", "threshold", "call_precision",
                                "call_recall", "nt_auprc", "nt_auroc", "seq_auroc"]), end="")
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
    p.add_argument("--out", default="tfscope-scan.bed", help="BED6 of called sites (+ column 7: peak probability)")
    p.add_argument("--tracks", nargs="+", choices=TRACK_FORMATS, metavar="FORMAT",
                   help="per-nucleotide probability tracks beside --out: tsv (OUT_STEM.tracks.tsv), bedgraph "
                        "(OUT_STEM.bedgraph/<TF>.bedGraph), bigwig (OUT_STEM.bigwig/<TF>.bw)")
    p.add_argument("--bigbed", help="bigBed file of the called sites (BED6+2: mean and peak P)")
    p.add_argument("--report", help="also write a self-contained HTML report here (holds the tracks in memory; "
                   "without it, fully convolutional models stream the FASTA in bounded memory)")
    p.add_argument("--threshold", type=float, help="one probability cut for every model (default: each model's "
                   "validation-tuned threshold)")
    p.add_argument("--mode", choices=["auto", "window"], default="auto",
                   help="auto: fully convolutional models (the zoo) scan long chunks, others 100 bp windows; "
                        "window: 100 bp windows for every model")
    p.add_argument("--stride", type=int, default=50, help="window step (bp) in window mode")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes (or Ray actors) sharing the work, one thread each (default: CPU cores)")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local: forked worker processes; ray: Ray actors (pip install 'tfscope[ray]'; "
                        "embedded on this machine, or the cluster at RAY_ADDRESS)")
    add_device_arg(p)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run_scan, tfs=None, zoo=DEFAULT_ZOO)


def add_cli(sub) -> None:
    """Register ``zoo`` and ``scan``."""
    z = sub.add_parser("zoo", help="the bundled per-TF model zoo").add_subparsers(dest="zoo_cmd", required=True)
    zl = z.add_parser("list", help="each model's TF, JASPAR id, class/family, call threshold with its chr7 "
                      "precision/recall, and test metrics")
    zl.add_argument("--zoo", choices=ZOOS, default=DEFAULT_ZOO, help=ZOO_HELP)
    zl.set_defaults(func=cmd_zoo_list)
    add_scan_args(sub.add_parser("scan", help="scan sequences with TF models (zoo or checkpoints) -> BED6 (+ peak P), "
                                 "tracks, HTML report"))
