"""CLI of the attribution layer: ``tfscope explain`` (per-nucleotide attributions of any one-hot tfscope model)."""

from __future__ import annotations

from pathlib import Path

from ..cli_common import add_device_arg, add_json_arg, plural, report_stream, write_json
from ..errors import InputError


def cmd_explain(args) -> int:
    import numpy as np

    from ..checkpoint import load_checkpoint
    from ..io import read_fasta
    from ..io.atomic import atomic_write
    from ..io.deepbind import read_deepbind
    from ..sequence import one_hot
    from ..train import resolve_device
    from . import attribute

    model, cfg = load_checkpoint(args.checkpoint)  # any task: the checkpoint names its class
    model.to(resolve_device(args.device))  # attributions run where the model is
    if args.fasta and args.deepbind:
        raise InputError("give a FASTA file or --deepbind FILE, not both")
    if args.fasta:
        recs = read_fasta(args.fasta)
        ids, seqs = list(recs), list(recs.values())
    elif args.deepbind:
        t = read_deepbind(args.deepbind)
        ids, seqs = list(t["event"]), list(t["seq"])
    else:
        raise InputError("give a FASTA file or --deepbind FILE")
    L = max(len(s) for s in seqs)
    x = one_hot(seqs, length=L)
    a = attribute(model, x, method=args.method, shift=args.shift, target=args.target, batch_size=args.batch_size)
    score = a.sum(1)  # (N, L) per-position attribution
    out = Path(args.out)
    if out.suffix == ".npz":
        with atomic_write(out, "wb") as fh:
            np.savez_compressed(fh, ids=np.array(ids), attributions=a, onehot=x)
    else:
        with atomic_write(out) as fh:
            fh.write("id\tposition\tbase\tattribution\n")
            for i, (rid, s) in enumerate(zip(ids, seqs)):
                for j in range(len(s)):
                    fh.write(f"{rid}\t{j}\t{s[j]}\t{score[i, j]:.6g}\n")  # 0-based, as BED
    print(f"wrote {args.method} attributions of {plural(len(ids), 'sequence')} to {out}", file=report_stream(args))
    if args.json:
        write_json(args.json, {"checkpoint": str(args.checkpoint), "method": args.method, "sequences": len(ids),
                               "bp": int(sum(map(len, seqs))), "out": str(out),
                               "max_abs_attribution": float(np.abs(score).max()) if score.size else 0.0})
    return 0


def add_cli(sub) -> None:
    """Register ``explain``."""
    x = sub.add_parser("explain", help="per-nucleotide attributions (gradient, integrated gradients, ShiftSmooth)")
    x.add_argument("--checkpoint", required=True, help="any tfscope checkpoint with one-hot input")
    x.add_argument("fasta", nargs="?", metavar="FASTA", help="DNA FASTA to explain")
    x.add_argument("--deepbind", metavar="FILE", help="a DeepBind-format table instead of a FASTA")
    x.add_argument("--method", default="shiftsmooth", choices=["gradient", "integrated_gradients", "shiftsmooth"],
                   help="vanilla gradient x input, integrated gradients (captum), or ShiftSmooth (gradients "
                        "averaged over shifted copies)")
    x.add_argument("--shift", type=int, default=3, help="ShiftSmooth: largest shift (bp) each way")
    x.add_argument("--target", type=int, default=None,
                   help="0-based output position for (N, L) models (default: sum over positions)")
    x.add_argument("--batch-size", type=int, default=128, help="sequences per forward/backward pass")
    x.add_argument("--out", required=True, help=".tsv (per-position sums, 0-based positions) or .npz (full "
                   "(N, 4, L) arrays)")
    add_json_arg(x, "a summary (method, sequences, output path)")
    add_device_arg(x)
    x.set_defaults(func=cmd_explain)
