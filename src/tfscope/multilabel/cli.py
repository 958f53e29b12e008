"""CLI of the multi-label TF-binding task: ``tfscope multilabel train | evaluate | explain``.

- ``train``: windows table (``id, chrom, start, end, split, tfs, sequence``) -> checkpoint directory with per-TF
  thresholds tuned on the ``valid`` split; prints macro/micro metrics (JSON).
- ``evaluate``: checkpoint + table -> per-TF and macro/micro AP, AUROC, F1 on one split (JSON, optional file).
- ``explain``: checkpoint + table -> IG per TF head on that TF's positives of a split, TF-MoDISco, Tomtom vs JASPAR
  (JSON rows, optional file).
"""

from __future__ import annotations

import json

from ..cli_common import add_device_arg
from ..errors import InputError


def _data(args, model_labels=None):
    from . import load_windows

    labels = args.labels if args.labels else model_labels
    return load_windows(args.data, labels=labels, max_rows=args.max_rows)


def _write_json(path, obj) -> None:
    from ..io.atomic import atomic_write

    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=2, default=float)


def cmd_train(args) -> int:
    from ..cli_common import print_json
    from . import train_multilabel

    if args.max_seconds is not None and args.max_seconds <= 0:
        raise InputError(f"--max-seconds must be > 0, got {args.max_seconds}")
    data = _data(args)
    r = train_multilabel(data, model=args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         max_seconds=args.max_seconds, seed=args.seed, out=args.out, verbose=not args.quiet,
                         device=args.device, amp=args.amp)
    summary = {"checkpoint": str(r["checkpoint"]), "model": args.model, "train_seconds": round(r["train_seconds"], 1),
               "windows_seen": r["windows_seen"], "valid": {k: r["valid"][k] for k in ("macro", "micro")}}
    if r["test"] is not None:
        summary["test"] = {k: r["test"][k] for k in ("macro", "micro")}
    print_json(summary)
    return 0


def cmd_evaluate(args) -> int:
    from ..cli_common import print_json
    from . import evaluate_multilabel, load_multilabel

    net, labels, thr = load_multilabel(args.checkpoint)
    data = _data(args, labels)
    if data.labels != labels:
        raise InputError(f"label set of the data ({len(data.labels)} TFs) differs from the model's", args.data)
    m, _ = evaluate_multilabel(net, data, thr, split=args.split, device=args.device)
    out = {"split": args.split, "n": int((data.split == args.split).sum()), **m}
    if args.json:
        _write_json(args.json, out)
    print_json({k: out[k] for k in ("split", "n", "macro", "micro")} if args.json else out)
    return 0


def cmd_explain(args) -> int:
    from ..cli_common import print_json
    from . import explain_multilabel, load_multilabel

    net, labels, _ = load_multilabel(args.checkpoint)
    data = _data(args, labels)
    part = data.part(args.split)
    if not len(part):
        raise InputError(f"no {args.split!r} windows", args.data)
    rows = explain_multilabel(net, part.x, part.y, labels, tfs=args.tfs, max_per_tf=args.max_per_tf,
                              n_steps=args.steps, time_budget=args.time_budget, verbose=not args.quiet)
    if args.json:
        _write_json(args.json, rows)
    print_json(rows)
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
        q.add_argument("--quiet", action="store_true")

    t = sub.add_parser("train", help="train a model; thresholds tuned on the valid split")
    common(t)
    t.add_argument("--model", choices=MULTILABEL_MODELS, default="tcn")
    t.add_argument("--out", required=True, help="checkpoint directory")
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--max-seconds", type=float, default=None, help="wall-time budget of training")
    t.add_argument("--seed", type=int, default=0)
    add_device_arg(t, amp=True)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="per-TF and macro/micro AP, AUROC, F1 of a checkpoint")
    common(e)
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--split", choices=("train", "valid", "test"), default="test")
    e.add_argument("--json", help="write the full metrics here")
    add_device_arg(e)
    e.set_defaults(func=cmd_evaluate)

    x = sub.add_parser("explain", help="IG per TF head -> TF-MoDISco -> Tomtom vs JASPAR 2022")
    common(x)
    x.add_argument("--checkpoint", required=True)
    x.add_argument("--split", choices=("train", "valid", "test"), default="test")
    x.add_argument("--tfs", nargs="+", default=None, help="TFs to explain (default all)")
    x.add_argument("--max-per-tf", type=int, default=150)
    x.add_argument("--steps", type=int, default=16, help="integrated-gradients steps")
    x.add_argument("--time-budget", type=float, default=None, help="seconds; later TFs are skipped")
    x.add_argument("--json", help="write the rows here")
    x.set_defaults(func=cmd_explain)
