"""CLI of the many-TF binding map: ``tfscope zoo list``, ``tfscope scan``, ``tfscope report``."""

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


def _models(args):
    from .scan import load_scan_models

    if args.checkpoint:
        return load_scan_models(args.checkpoint, device=args.device), None
    from .zoo import list_zoo, load_zoo

    models = load_zoo(args.tfs, kind=args.zoo, device=args.device)
    names = {m.name for m in models}
    return models, [r for r in list_zoo(kind=args.zoo) if r["TF"] in names]


def _fasta(args) -> Path:
    from ..resources import resource

    if args.example:
        return resource("example_regions")
    if not args.fasta:
        raise InputError("give a FASTA file or --example")
    return Path(args.fasta)


def run_scan(args, *, write_bed: bool = True) -> int:
    """Scan a FASTA: streamed through :func:`tfscope.snr.scan.scan_fasta` (fully convolutional models, no report), or
    held in memory (:func:`tfscope.snr.scan.scan`: window-mode models, ``--mode window``, the HTML report)."""
    from ..executor import make_executor

    models, rows = _models(args)
    streaming = write_bed and args.out and not args.report and args.mode == "auto" and all(
        m.receptive_field is not None for m in models)
    executor = make_executor(args.executor, args.workers)
    t0 = time.time()
    try:
        if streaming:
            from .scan import scan_fasta

            res = scan_fasta(models, _fasta(args), args.out, bedgraph=args.bedgraph, bigwig=args.bigwig,
                             bigbed=args.bigbed, executor=executor, verbose=not args.quiet)
            n_seqs, bp, n_sites = res["records"], res["bp"], res["sites"]
        else:
            n_seqs, bp, n_sites = _scan_in_memory(args, models, rows, executor, write_bed)
    finally:
        executor.close()
    dt = time.time() - t0
    print(f"scanned {n_seqs} sequence(s), {bp} bp, with {len(models)} TF model(s) in {dt:.1f} s "
          f"({bp * len(models) / max(dt, 1e-9):,.0f} bp x models / s): {n_sites} site(s)"
          + (f" -> {args.out}" if write_bed and args.out else "") + (f"; report {args.report}" if args.report else ""))
    return 0


def _scan_in_memory(args, models, rows, executor, write_bed: bool):
    import shutil
    import tempfile

    from ..io.bed import write_bed as _write_bed
    from ..io.fasta import read_fasta
    from .scan import scan, write_bedgraphs, write_browser_tracks

    seqs = read_fasta(_fasta(args))
    bigwig, bigbed = getattr(args, "bigwig", None), getattr(args, "bigbed", None)
    need_tracks = bool(args.bedgraph or args.report or bigwig)
    sites, tracks = scan(models, seqs, stride=args.stride, keep_tracks=need_tracks, batch_size=args.batch_size,
                         verbose=not args.quiet, mode=args.mode, executor=executor)
    if write_bed and args.out:
        _write_bed(args.out, sites)
    track_dir = args.bedgraph or (tempfile.mkdtemp(prefix="tfscope-scan-") if bigwig else None)
    try:
        graphs = write_bedgraphs(track_dir, tracks, [m.name for m in models]) if track_dir else []
        write_browser_tracks({k: len(v) for k, v in seqs.items()}, bedgraphs=graphs, names=[m.name for m in models],
                             bigwig=bigwig, bed=args.out, bigbed=bigbed if write_bed and args.out else None)
    finally:
        if track_dir and not args.bedgraph:
            shutil.rmtree(track_dir, ignore_errors=True)
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


def add_cli(sub) -> None:
    """Register ``zoo``, ``scan`` and ``report``."""
    z = sub.add_parser("zoo", help="the bundled per-TF model zoo").add_subparsers(dest="zoo_cmd", required=True)
    zl = z.add_parser("list", help="each model's TF, JASPAR id, class/family, call threshold with its chr7 "
                      "precision/recall, and test metrics")
    zl.add_argument("--zoo", choices=ZOOS, default=DEFAULT_ZOO, help=ZOO_HELP)
    zl.set_defaults(func=cmd_zoo_list)

    def common(p):
        p.add_argument("fasta", nargs="?", help="DNA FASTA (any length; N runs skipped)")
        p.add_argument("--example", action="store_true", help="use the bundled real hg19 regions")
        p.add_argument("--tfs", nargs="+", help="zoo TFs to use (default: all)")
        p.add_argument("--zoo", choices=ZOOS, default=DEFAULT_ZOO, help=ZOO_HELP)
        p.add_argument("--checkpoint", nargs="+", help="use these snr checkpoints instead of the zoo")
        p.add_argument("--mode", choices=["auto", "window"], default="auto",
                       help="auto: fully convolutional models (the zoo) scan long chunks, others 100 bp windows; "
                            "window: 100 bp windows for every model")
        p.add_argument("--stride", type=int, default=50, help="window step (bp) in window mode")
        p.add_argument("--batch-size", type=int, default=1024)
        p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="processes (or Ray actors) sharing the work, one thread each (default: CPU cores)")
        p.add_argument("--bedgraph", help="directory for per-TF bedGraph probability tracks")
        p.add_argument("--executor", choices=EXECUTORS, default="local",
                       help="local: forked worker processes; ray: Ray actors (pip install 'tfscope[ray]'; "
                            "embedded on this machine, or the cluster at RAY_ADDRESS)")
        add_device_arg(p)
        p.add_argument("--quiet", action="store_true")

    s = sub.add_parser("scan", help="scan sequences with many TF models -> BED6 (+ peak P), bedGraph, report")
    common(s)
    s.add_argument("--out", default="tfscope-scan.bed", help="BED of called sites")
    s.add_argument("--report", help="also write a self-contained HTML report here (holds the tracks in memory; "
                   "without it, fully convolutional models stream the FASTA in bounded memory)")
    s.add_argument("--bigwig", help="directory for per-TF bigWig probability tracks (<TF>.bw)")
    s.add_argument("--bigbed", help="bigBed file of the called sites (BED6+2: mean and peak P)")
    s.set_defaults(func=run_scan)
    r = sub.add_parser("report", help="scan and write only the self-contained HTML report")
    common(r)
    r.add_argument("--report", "--out", dest="report", default="tfscope-report.html")
    r.set_defaults(func=lambda a: run_scan(a, write_bed=False), out=None, bigwig=None, bigbed=None)
