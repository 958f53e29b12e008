"""CLI of ``tfscope variants``: effects of SNVs and indels on TF binding (docs/variants.md)."""

from __future__ import annotations

from ..cli_common import (add_allow_unverified_arg, add_device_arg, add_executor_args, add_json_arg, plural,
                          report_stream, write_json)
from ..errors import InputError
from .run import N_VIEWS, example_note, example_paths, variants_to_files
from .score import BATCH_SIZE


def add_cli(sub) -> None:
    """Add the ``variants`` subcommand."""
    p = sub.add_parser("variants", help="effects of variants (VCF/BCF or TSV) on the binding of every zoo TF")
    p.add_argument("input", nargs="?", help="VCF/BCF (plain or bgzip) or TSV 'chrom pos ref alt [id]' (1-based pos)")
    p.add_argument("--genome", help="genome FASTA (plain or bgzip; .fai built when missing) the REF alleles match")
    p.add_argument("--out", "-o", help="effects TSV (header line; columns in docs/variants.md)")
    p.add_argument("--vcf-out", metavar="PATH", help="also write the input VCF with INFO/TFBS_EFFECT "
                   "(TF|effect|delta|qValue; .vcf, .vcf.gz bgzip or .bcf)")
    p.add_argument("--report", metavar="HTML", help="also write a self-contained HTML page: the strongest effects "
                   "with REF/ALT probability tracks and attribution logos, and a table of the strongest rows")
    p.add_argument("--attributions", type=int, default=N_VIEWS, metavar="N",
                   help=f"variant views (tracks and logos) in the --report (default {N_VIEWS}; 0: none)")
    p.add_argument("--zoo", default="genomic", help="bundled zoo: genomic (default) or shuffled (the "
                   "BertSNR-protocol zoo; it has no variant null, so pValue/qValue are -1)")
    p.add_argument("--checkpoint", nargs="+", metavar="DIR", help="score with these checkpoints instead of the zoo")
    p.add_argument("--tfs", nargs="+", metavar="TF", help="only these TFs (default: all of the zoo)")
    p.add_argument("--ref-mismatch", choices=["error", "skip"], default="error",
                   help="a REF that differs from the genome: stop with exit 2 (error) or skip and count it")
    p.add_argument("--haplotypes", action="store_true", help="also score the phased haplotypes of --sample jointly")
    p.add_argument("--sample", help="VCF sample whose phased genotypes --haplotypes joins")
    p.add_argument("--all", action="store_true", dest="all_rows", help="write every (variant, TF) row")
    p.add_argument("--max-q", type=float, default=0.05, help="rows without a gain/loss are kept when qValue <= this")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                   help=f"alleles per forward pass (default {BATCH_SIZE}: small batches stay in the CPU cache; "
                   "raise it on a GPU)")
    add_executor_args(p, "scoring batches of variants")
    p.add_argument("--example", action="store_true", help="score the bundled tiny example (a VCF on six real "
                   "hg19 regions, one SNV breaking a known FOXK1 site); --out defaults to variants_example.tsv")
    p.add_argument("--quiet", action="store_true", help="no summary line and no progress bar")
    add_device_arg(p)
    add_json_arg(p, "counts by effect, skips by reason and time")
    add_allow_unverified_arg(p)
    p.set_defaults(func=run_variants)


def run_variants(args) -> int:
    """Validate the options and run :func:`tfscope.variants.run.variants_to_files`."""

    if args.example:
        args.input, args.genome = example_paths()
        args.out = args.out or "variants_example.tsv"
    if not args.input or not args.genome or not args.out:
        raise InputError("give INPUT, --genome and --out (or --example)")
    if not 0 <= args.max_q <= 1:
        raise InputError(f"--max-q must lie in [0, 1], not {args.max_q}")
    s = variants_to_files(args.input, args.genome, args.out, vcf_out=args.vcf_out, json_path=args.json,
                          report=args.report, attributions=args.attributions, zoo=args.zoo,
                          checkpoint=args.checkpoint, tfs=args.tfs, device=args.device,
                          ref_mismatch=args.ref_mismatch, sample=args.sample, haplotypes=args.haplotypes,
                          all_rows=args.all_rows, max_q=args.max_q, batch_size=args.batch_size, workers=args.workers,
                          executor=args.executor, verbose=not args.quiet)
    if args.quiet:
        return 0
    skipped = ", ".join(f"{v} {k}" for k, v in s["skipped"].items()) or "none"
    renamed = "".join(f"; note: {a} read as the genome's {b}" for a, b in s["chrom_renamed"].items())
    print(f"scored {plural(s['variants_scored'], 'variant')} x {plural(len(s['tfs']), 'TF')} in {s['seconds']:.1f} s: "
          f"{s['effects']['gain']} gain, {s['effects']['loss']} loss; skipped: {skipped}{renamed} -> {args.out}"
          + (f", {args.vcf_out}" if args.vcf_out else "") + (f", {args.report}" if args.report else ""),
          file=report_stream(args))
    if args.example:
        print(example_note(args.out), file=report_stream(args))
    if args.json == "-":
        write_json("-", s)
    return 0
