"""CLI of the nucleotide-resolution TFBS task and its data builder: ``tfscope snr ...``, ``tfscope data ...``."""

from __future__ import annotations

from pathlib import Path

from ..cli_common import (add_allow_unverified_arg, add_device_arg, add_json_arg, add_max_minutes_arg, emit_json,
                          max_seconds, plural, report_stream, write_json)
from ..errors import InputError
from ..io.tables import write_snr_table
from ..resources import resource
from ..scan.cli import add_scan_args
from ..zoo.genomic import GenomicBackground
from .data import snr_table_path
from .motifs import predicted_site_motif
from .pretrain import pretrain, pretraining_windows
from .train import evaluate_snr, train_snr
from .windows import build_windows


def _table_from_args(args) -> Path:
    if args.table:
        return Path(args.table)
    if args.tf:
        return snr_table_path(args.tf, args.data_dir or resource("snr_tables"))
    raise InputError("give --table PATH or --tf NAME")


def cmd_data_windows(args) -> int:
    import numpy as np

    table = build_windows(args.bed, args.genome, window=args.window, seed=args.seed, name=args.name,
                          test_fraction=args.test_fraction, negatives=args.negatives)
    write_snr_table(args.out, table)
    bound = np.asarray(table["bound"])
    genomic = int(((bound == 0) & (np.asarray(table["window_start"]) >= 0)).sum())
    summary = {"windows": len(bound), "bound": int(bound.sum()), "shuffled": int((bound == 0).sum()) - genomic,
               "genomic": genomic, "out": str(args.out)}
    print(f"wrote {plural(summary['windows'], 'window')} ({summary['bound']} bound, {summary['shuffled']} "
          f"dinucleotide-shuffled, {genomic} GC-matched genomic negatives) to {args.out}", file=report_stream(args))
    if args.json:
        write_json(args.json, summary)
    return 0


def cmd_snr_train(args) -> int:
    table = _table_from_args(args)
    background = None
    if args.windows:

        background = GenomicBackground.load(args.windows)
    res = train_snr(table, model=args.model, out=args.out, tf=args.tf, seed=args.seed, epochs=args.epochs,
                    lr=args.lr, batch_size=args.batch_size, min_samples=args.min_samples, backbone=args.backbone,
                    lam=args.lam, verbose=not args.quiet, background=background, device=args.device, amp=args.amp,
                    matrix=args.matrix)
    res.pop("net")
    res.pop("history")
    emit_json(res, args.json)
    return 0


def cmd_snr_evaluate(args) -> int:
    m = evaluate_snr(args.checkpoint, _table_from_args(args), split=args.split, device=args.device,
                     tf=args.tf)
    emit_json(m, args.json)
    return 0


def cmd_pretrain(args) -> int:
    if args.snr_dir is None and args.windows is None:
        raise InputError("give --snr-dir and/or --windows")
    train, held, summary = pretraining_windows(args.snr_dir, args.windows, max_windows=args.max_windows,
                                               seed=args.seed)
    bert = {"hidden_size": args.hidden, "num_hidden_layers": args.layers, "num_attention_heads": args.heads,
            "intermediate_size": 4 * args.hidden}
    rec = pretrain(train, held, args.out, k=args.k, bert=bert, epochs=args.epochs, batch_size=args.batch_size,
                   lr=args.lr, max_seconds=max_seconds(args), seed=args.seed,
                   data_summary=summary, verbose=not args.quiet, device=args.device, amp=args.amp)
    emit_json({k: v for k, v in rec.items() if k != "train_loss"}, args.json)
    return 0


def add_cli(sub) -> None:
    """Register ``data``, ``snr`` and ``demo`` subcommands."""
    d = sub.add_parser("data", help="build datasets").add_subparsers(dest="data_cmd", required=True)
    w = d.add_parser("windows", help="BED of binding sites + genome FASTA -> labelled windows + negatives")
    w.add_argument("--bed", required=True, help="BED of binding sites (a window is centred on each site)")
    w.add_argument("--genome", required=True, help="genome FASTA (indexed with pyfaidx)")
    w.add_argument("--out", "-o", required=True, help="output table (.tsv or .tsv.gz)")
    w.add_argument("--window", type=int, default=100, help="window length (bp)")
    w.add_argument("--seed", type=int, default=0, help="random seed of the shuffles, negatives and split")
    w.add_argument("--name", help="id prefix (default: BED name column)")
    w.add_argument("--test-fraction", type=float, default=0.2, help="share of sites held out as test rows")
    w.add_argument("--negatives", choices=["shuffled", "genomic", "both"], default="shuffled",
                   help="dinucleotide shuffles (BertSNR protocol), GC-matched genome windows without a site "
                        "(for models that scan real DNA), or both")
    add_json_arg(w, "a summary (window counts, output path)")
    w.set_defaults(func=cmd_data_windows)

    s = sub.add_parser("snr", help="nucleotide-resolution TFBS models").add_subparsers(dest="snr_cmd", required=True)

    def table_args(p):
        p.add_argument("--table", help="TFBS window table (.tsv[.gz])")
        p.add_argument("--tf", help="TF name: uses <data-dir>/<TF>.tsv.gz")
        p.add_argument("--data-dir", help="directory of TF tables (default: the bundled examples)")

    t = s.add_parser("train", help="train a model on a TFBS table and report test metrics")
    table_args(t)
    t.add_argument("--model", default="dilated", choices=["dilated", "deepsnr", "daednet", "pwm", "bertsnr",
                                                          "bertsnr-single", "bertsnr-scratch"],
                   help="dilated: tfscope's dilated residual CNN; deepsnr, daednet: published CNNs; pwm: a JASPAR "
                        "matrix scan (see --matrix); bertsnr*: k-mer DNA BERT (needs a backbone)")
    t.add_argument("--matrix", metavar="ID_OR_FILE",
                   help="pwm: a JASPAR matrix ID (MA0524.1) or a motif file (JASPAR, MEME, PFM; with several motifs "
                        "the best-fitting is used) (default: of the TF's JASPAR 2022 CORE matrices, the one whose "
                        "scan fits the training sites best; printed and stored in the checkpoint)")
    t.add_argument("--backbone", help="DNABERT-style pretrained model directory (bertsnr, bertsnr-single)")
    t.add_argument("--lam", type=float,
                   help="BertSNR multi-task weight of the sequence loss (default 0.1, chosen on tfbs-snr validation rows)")
    t.add_argument("--out", "-o", help="checkpoint directory (default: none written, metrics only)")
    t.add_argument("--epochs", type=int, help="training epochs, a floor raised for small tables (default per model)")
    t.add_argument("--lr", type=float, help="learning rate (default per model)")
    t.add_argument("--batch-size", type=int, help="windows per batch (default per model)")
    t.add_argument("--min-samples", type=int, help="train on at least this many windows (more epochs on small "
                   "tables; default per model)")
    t.add_argument("--seed", type=int, default=0, help="random seed (initialisation, validation split, batches)")
    t.add_argument("--windows", metavar="WINDOWS",
                   help="also train against real genome windows (tfbs-multilabel windows.tsv.gz: the TF's sites + "
                        "genomic negatives of the train chromosomes; chr7 validates and calibrates the call "
                        "threshold; chr7/chr8 rows never train); needs genome coordinates in the table")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    add_json_arg(t, "the test metrics and training summary")
    add_device_arg(t, amp=True)
    t.set_defaults(func=cmd_snr_train)

    e = s.add_parser("evaluate", help="metrics of a checkpoint on a TFBS table")
    e.add_argument("--checkpoint", required=True, metavar="DIR", help="snr checkpoint directory")
    table_args(e)
    e.add_argument("--split", default="test", help="test, train or all")
    add_json_arg(e, "the metrics")
    add_device_arg(e)
    add_allow_unverified_arg(e)
    e.set_defaults(func=cmd_snr_evaluate)

    add_scan_args(s.add_parser("predict", help="alias of `tfscope scan` with --checkpoint required: nucleotide-"
                               "resolution TFBS in FASTA sequences of any length"), checkpoint_required=True)
    add_motifs_cli(s)

    pt = sub.add_parser("pretrain", help="MLM-pretrain a k-mer DNA BERT backbone on genomic windows (no test rows)")
    pt.add_argument("--snr-dir", help="directory of tfbs-snr tables (bound train rows are used)")
    pt.add_argument("--windows", help="tfbs-multilabel windows.tsv.gz (train/valid windows are used)")
    pt.add_argument("--out", "-o", required=True, help="backbone directory to write")
    pt.add_argument("--k", type=int, default=3, help="k-mer length of the tokens")
    pt.add_argument("--hidden", type=int, default=64, help="BERT hidden size")
    pt.add_argument("--layers", type=int, default=3, help="BERT layers")
    pt.add_argument("--heads", type=int, default=4, help="attention heads per layer")
    pt.add_argument("--epochs", type=int, default=1, help="passes over the pretraining windows")
    pt.add_argument("--batch-size", type=int, default=128, help="windows per batch")
    pt.add_argument("--lr", type=float, default=5e-4, help="learning rate (AdamW)")
    pt.add_argument("--max-windows", type=int, help="use at most this many windows (default: all)")
    add_max_minutes_arg(pt, "pretraining")
    pt.add_argument("--seed", type=int, default=0, help="random seed (masking, initialisation, window sample)")
    pt.add_argument("--quiet", action="store_true", help="no progress bars")
    add_json_arg(pt, "the pretraining summary")
    add_device_arg(pt, amp=True)
    pt.set_defaults(func=cmd_pretrain)


def cmd_snr_motifs(args) -> int:
    """``tfscope snr motifs``: motif from predicted sites, Tomtom vs JASPAR, logo (:func:`predicted_site_motif`)."""
    res = predicted_site_motif(args.checkpoint, _table_from_args(args), args.out, split=args.split, tf=args.tf,
                               width=args.width, device=args.device)
    best = res["matches"][0]
    own = (f"own JASPAR {res['own_id']} rank {res['own_rank']} (p={res['own_p']:.2e}, q={res['own_q']:.2e})"
           if "own_id" in res else "no own JASPAR motif")
    if args.json:
        write_json(args.json, res)
    print(f"{res['tf']}: motif from {plural(res['sites'], 'predicted site')}; best Tomtom match {best['matrix_id']} "
          f"{best['name']} (p={best['p']:.2e}, E={best['E']:.2e}, q={best['q']:.2e}); {own} -> {args.out}",
          file=report_stream(args))
    return 0


def add_motifs_cli(s) -> None:
    """``tfscope snr motifs``."""
    mo = s.add_parser("motifs", help="motif from predicted sites + Tomtom against JASPAR + logo")
    mo.add_argument("--checkpoint", required=True, metavar="DIR", help="snr checkpoint directory")
    mo.add_argument("--table", help="TFBS window table (.tsv[.gz])")
    mo.add_argument("--tf", help="TF name: uses <data-dir>/<TF>.tsv.gz (default: the checkpoint's TF for Tomtom)")
    mo.add_argument("--data-dir", help="directory of TF tables (default: the bundled examples)")
    mo.add_argument("--split", default="test", help="bound windows of this split give the sites (test or train)")
    mo.add_argument("--width", type=int, help="motif width (default: the TF's JASPAR matrix width)")
    mo.add_argument("--out", "-o", required=True, help="output directory (motif.json, logo.png)")
    add_json_arg(mo, "the motif and its Tomtom matches (as motif.json)")
    add_device_arg(mo)
    add_allow_unverified_arg(mo)
    mo.set_defaults(func=cmd_snr_motifs)
