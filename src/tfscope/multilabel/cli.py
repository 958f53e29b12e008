"""CLI of the multi-label TF-binding task: ``tfscope multilabel train | evaluate | explain``.

- ``train``: windows table (``id, chrom, start, end, split, tfs, sequence``) -> checkpoint directory with per-TF
  thresholds tuned on the ``valid`` split; prints macro/micro metrics (JSON).
- ``evaluate``: checkpoint + table -> per-TF and macro/micro AP, AUROC, F1 on one split (JSON, optional file).
- ``explain``: checkpoint + table -> IG per TF head on that TF's positives of a split, TF-MoDISco, Tomtom vs JASPAR
  (JSON rows, optional file).
"""

from __future__ import annotations

from ..cli_common import add_device_arg, add_json_arg, add_max_minutes_arg, max_seconds
from ..errors import InputError


def _data(args, model_labels=None):
    from . import load_windows

    labels = args.labels if args.labels else model_labels
    return load_windows(args.data, labels=labels, max_rows=args.max_rows)


def cmd_train(args) -> int:
    from ..cli_common import emit_json
    from . import train_multilabel

    budget = max_seconds(args)
    data = _data(args)
    r = train_multilabel(data, model=args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         max_seconds=budget, seed=args.seed, out=args.out, verbose=not args.quiet,
                         device=args.device, amp=args.amp)
    summary = {"checkpoint": str(r["checkpoint"]), "model": args.model, "train_seconds": round(r["train_seconds"], 1),
               "windows_seen": r["windows_seen"], "valid": {k: r["valid"][k] for k in ("macro", "micro")}}
    if r["test"] is not None:
        summary["test"] = {k: r["test"][k] for k in ("macro", "micro")}
    emit_json(summary, args.json)
    return 0


def cmd_evaluate(args) -> int:
    from ..cli_common import emit_json
    from . import evaluate_multilabel, load_multilabel

    net, labels, thr = load_multilabel(args.checkpoint)
    data = _data(args, labels)
    if data.labels != labels:
        raise InputError(f"label set of the data ({len(data.labels)} TFs) differs from the model's", args.data)
    m, _ = evaluate_multilabel(net, data, thr, split=args.split, device=args.device)
    out = {"split": args.split, "n": int((data.split == args.split).sum()), **m}
    emit_json(out, args.json, summary={k: out[k] for k in ("split", "n", "macro", "micro")})
    return 0


def cmd_explain(args) -> int:
    from ..cli_common import emit_json
    from . import explain_multilabel, load_multilabel

    from ..train import resolve_device

    net, labels, _ = load_multilabel(args.checkpoint)
    net.to(resolve_device(args.device))  # integrated gradients run where the model is
    data = _data(args, labels)
    part = data.part(args.split)
    if not len(part):
        raise InputError(f"no {args.split!r} windows", args.data)
    rows = explain_multilabel(net, part.x, part.y, labels, tfs=args.tfs, max_per_tf=args.max_per_tf,
                              n_steps=args.steps, time_budget=max_seconds(args), verbose=not args.quiet)
    emit_json(rows, args.json)
    return 0


def add_cli(subparsers) -> None:
    """Register ``tfscope multilabel train|evaluate|explain``."""
    from . import MULTILABEL_MODELS

    p = subparsers.add_parser("multilabel", help="multi-label TF binding (TCN and RNN/CNN baselines)",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="multilabel_command", required=True, metavar="ACTION")

    def common(q):
        q.add_argument("--data", required=True, help="windows table (.tsv[.gz]): id chrom start end split tfs sequence")
        q.add_argument("--labels", help="label-set file, one TF per line (default: label_set.txt next to --data, "
                                        "or the checkpoint's labels)")
        q.add_argument("--max-rows", type=int, default=None, help="read only the first N windows")
        q.add_argument("--quiet", action="store_true", help="no progress bars")

    t = sub.add_parser("train", help="train a model; thresholds tuned on the valid split")
    common(t)
    t.add_argument("--model", choices=MULTILABEL_MODELS, default="tcn", help="architecture")
    t.add_argument("--out", required=True, help="checkpoint directory")
    t.add_argument("--epochs", type=int, default=20, help="maximum training epochs (early stopping on valid)")
    t.add_argument("--batch-size", type=int, default=128, help="windows per batch")
    t.add_argument("--lr", type=float, default=1e-3, help="learning rate (AdamW)")
    add_max_minutes_arg(t, "training")
    t.add_argument("--seed", type=int, default=0, help="random seed (initialisation, batches)")
    add_json_arg(t, "the training summary (valid and test macro/micro metrics)")
    add_device_arg(t, amp=True)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="per-TF and macro/micro AP, AUROC, F1 of a checkpoint")
    common(e)
    e.add_argument("--checkpoint", required=True, metavar="DIR", help="multilabel checkpoint directory")
    e.add_argument("--split", choices=("train", "valid", "test"), default="test", help="windows to evaluate")
    add_json_arg(e, "the full metrics")
    add_device_arg(e)
    e.set_defaults(func=cmd_evaluate)

    x = sub.add_parser("explain", help="IG per TF head -> TF-MoDISco -> Tomtom vs JASPAR 2022")
    common(x)
    x.add_argument("--checkpoint", required=True, metavar="DIR", help="multilabel checkpoint directory")
    x.add_argument("--split", choices=("train", "valid", "test"), default="test",
                   help="positives of this split are explained")
    x.add_argument("--tfs", nargs="+", default=None, help="TFs to explain (default all)")
    x.add_argument("--max-per-tf", type=int, default=150, help="explain at most this many positives per TF")
    x.add_argument("--steps", type=int, default=16, help="integrated-gradients steps")
    add_max_minutes_arg(x, "the explanations (later TFs are skipped)")
    add_json_arg(x, "the rows")
    add_device_arg(x)
    x.set_defaults(func=cmd_explain)
