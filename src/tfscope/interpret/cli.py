"""CLI of the attribution layer: ``tfscope explain`` (per-nucleotide attributions of any one-hot tfscope model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..checkpoint import load_checkpoint
from ..cli_common import add_allow_unverified_arg, add_device_arg, add_json_arg, plural, report_stream, write_json
from ..device import resolve_device
from ..errors import InputError
from ..io import read_fasta
from ..io.atomic import refuse_clobbering
from ..io.attributions import write_attributions
from ..io.deepbind import read_deepbind
from ..scan.engine import SelectOutput
from ..sequence import one_hot
from ..zoo.registry import DEFAULT_ZOO, ZOOS, zoo_dir, zoo_tfs
from . import attribute


def _checkpoint_dir(args) -> Path:
    """Return the checkpoint ``explain`` reads.

    ``--checkpoint DIR``, else the bundled zoo of ``--zoo`` (default: the default zoo; in a per-TF zoo the directory of
    ``--tf``).
    """
    if args.checkpoint and args.zoo:
        raise InputError("give --checkpoint DIR or --zoo, not both")
    if args.checkpoint:
        return Path(args.checkpoint)
    d = zoo_dir(None, args.zoo or DEFAULT_ZOO)
    if (d / "config.json").exists():  # one multi-TF checkpoint (the genomic zoo)
        return d
    if not args.tf:
        raise InputError(f"the {args.zoo} zoo holds one model per TF: choose one with --tf TF")
    lookup = {t.upper(): t for t in zoo_tfs(d)}
    if args.tf.upper() not in lookup:
        raise InputError(f"unknown TF {args.tf!r}; the {args.zoo} zoo has: {', '.join(sorted(lookup.values()))}")
    return d / lookup[args.tf.upper()]


def _shown(checkpoint) -> str:
    """How errors name a checkpoint: ``the bundled <kind> zoo`` for the package's own, else its path."""
    path = Path(checkpoint).resolve()
    for kind in ZOOS:
        if path == zoo_dir(None, kind).resolve():
            return f"the bundled {kind} zoo"
    return str(checkpoint)


def explain_model(checkpoint, tf: str | None = None):
    """Return the model ``explain`` attributes.

    A checkpoint's network, or for a multi-TF checkpoint (the genomic zoo's :class:`tfscope.zoo.gated.GatedZoo`, a
    multi-task snr model with ``meta.tfs``, a multi-label model with ``meta.labels``) the one output of TF ``tf`` (``(N,
    L)`` or ``(N,)``; ``one_output`` where the model has it, else :class:`tfscope.scan.engine.SelectOutput`).

    Returns
    -------
    ``(model, name)``: the torch module and the TF it explains (None when the checkpoint names none).

    Raises
    ------
    InputError
        A multi-TF checkpoint without ``tf`` or with a TF it lacks (the message lists them); a single-TF checkpoint
        of another TF than ``tf``; checkpoint errors (:func:`tfscope.checkpoint.load_checkpoint`).
    """
    model, cfg = load_checkpoint(checkpoint)  # any task: the checkpoint names its class
    where = _shown(checkpoint)
    meta = cfg.get("meta", {})
    names = list(meta.get("tfs") or meta.get("labels") or [])
    if not names:
        own = meta.get("tf")
        if tf and own and tf.upper() != str(own).upper():
            raise InputError(f"this checkpoint is a model of {own}, not {tf}", where)
        return model, own
    lookup = {t.upper(): i for i, t in enumerate(names)}
    if not tf:
        raise InputError(f"this checkpoint predicts {len(names)} TFs; choose one with --tf TF "
                         f"({', '.join(names[:8])}{', ...' if len(names) > 8 else ''})", where)
    if tf.upper() not in lookup:
        raise InputError(f"unknown TF {tf!r}; the model has: {', '.join(names)}", where)
    i = lookup[tf.upper()]
    if hasattr(model, "one_output"):
        return model.one_output(i), names[i]

    return SelectOutput(model, i), names[i]


def _explain_inputs(args) -> tuple[list[str], list[str]]:
    """Record ids and DNA of ``explain``'s input: the FASTA or the DeepBind file (exactly one)."""
    if args.fasta and args.deepbind:
        raise InputError("give a FASTA file or --deepbind FILE, not both")
    if args.fasta:
        recs = read_fasta(args.fasta)
        return list(recs), list(recs.values())
    if args.deepbind:
        t = read_deepbind(args.deepbind)
        return list(t["event"]), list(t["seq"])
    raise InputError("give a FASTA file or --deepbind FILE")


def cmd_explain(args) -> int:
    """``tfscope explain``: attributions of one model's output for every input sequence (:func:`attribute`)."""
    refuse_clobbering([("--out", args.out), ("--json", args.json)],
                      [("FASTA", args.fasta), ("--deepbind file", args.deepbind)])
    model, tf = explain_model(_checkpoint_dir(args), args.tf)
    model.eval().to(resolve_device(args.device))  # attributions run where the model is
    ids, seqs = _explain_inputs(args)
    x = one_hot(seqs, length=max(len(s) for s in seqs))
    a = attribute(model, x, method=args.method, shift=args.shift, target=args.target, batch_size=args.batch_size)
    out = write_attributions(args.out, ids, seqs, a, x)
    print(f"wrote {args.method} attributions{f' of {tf}' if tf else ''} for {plural(len(ids), 'sequence')} to {out}",
          file=report_stream(args))
    if args.json:
        score = a.sum(1)
        write_json(args.json, {"checkpoint": str(args.checkpoint), "method": args.method, "sequences": len(ids),
                               "bp": int(sum(map(len, seqs))), "out": str(out),
                               "max_abs_attribution": float(np.abs(score).max()) if score.size else 0.0})
    return 0


def add_cli(sub) -> None:
    """Register ``explain``."""
    x = sub.add_parser("explain", help="per-nucleotide attributions (gradient, integrated gradients, ShiftSmooth)")
    x.add_argument("--checkpoint", help="any tfscope checkpoint with one-hot input")
    x.add_argument("--zoo", nargs="?", const="genomic", choices=ZOOS,
                   help="explain a model of the bundled zoo (the default without --checkpoint; bare --zoo: "
                        "genomic, the default zoo)")
    x.add_argument("--tf", help="the TF to explain in a multi-TF checkpoint (the genomic zoo, multi-task and "
                   "multi-label models) or a per-TF zoo")
    x.add_argument("fasta", nargs="?", metavar="FASTA", help="DNA FASTA to explain")
    x.add_argument("--deepbind", metavar="FILE", help="a DeepBind-format table instead of a FASTA")
    x.add_argument("--method", default="shiftsmooth", choices=["gradient", "integrated_gradients", "shiftsmooth"],
                   help="vanilla gradient x input, integrated gradients (captum), or ShiftSmooth (gradients "
                        "averaged over shifted copies)")
    x.add_argument("--shift", type=int, default=3, help="ShiftSmooth: largest shift (bp) each way")
    x.add_argument("--target", type=int, default=None,
                   help="0-based output position for (N, L) models (default: sum over positions)")
    x.add_argument("--batch-size", type=int, default=128, help="sequences per forward/backward pass")
    x.add_argument("--out", "-o", required=True, help=".tsv (per-position sums, 0-based positions) or .npz (full "
                   "(N, 4, L) arrays)")
    add_json_arg(x, "a summary (method, sequences, output path)")
    add_device_arg(x)
    add_allow_unverified_arg(x)
    x.set_defaults(func=cmd_explain)
