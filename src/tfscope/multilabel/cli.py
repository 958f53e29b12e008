"""CLI of the multi-label TF-binding task: ``tfscope multilabel train | evaluate | explain``.

- ``train``: windows table (``id, chrom, start, end, split, tfs, sequence``) -> checkpoint directory with per-TF
  thresholds tuned on the ``valid`` split; prints macro/micro metrics and whether the phase converged (JSON).
  ``--init DIR`` continues a checkpoint in a new phase (train to convergence in resumable phases).
- ``evaluate``: checkpoint + table -> per-TF and macro/micro AP, AUROC, F1 on one split (JSON, optional file).
- ``explain``: checkpoint + table -> IG per TF head on that TF's positives of a split, TF-MoDISco, Tomtom vs JASPAR
  (JSON rows, optional file).
"""

from __future__ import annotations

from ..cli_common import (add_allow_unverified_arg, add_device_arg, add_json_arg, add_max_minutes_arg, emit_json,
                          max_seconds)
from ..device import resolve_device
from ..errors import InputError
from . import (MULTILABEL_MODELS, evaluate_multilabel, explain_multilabel, load_multilabel, load_windows,
               train_multilabel)
from .train import SCHEDULES


def _data(args, model_labels=None):
    labels = args.labels if args.labels else model_labels
    return load_windows(args.data, labels=labels, max_rows=args.max_rows)


def cmd_train(args) -> int:
    budget = max_seconds(args)
    data = _data(args)
    r = train_multilabel(data, model=args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         patience=args.patience, max_seconds=budget, seed=args.seed, out=args.out,
                         verbose=not args.quiet, device=args.device, amp=args.amp, init=args.init,
                         schedule=args.schedule)
    ph = r["phase"]
    summary = {"checkpoint": str(r["checkpoint"]), "model": r["model"], "train_seconds": round(r["train_seconds"], 1),
               "windows_seen": r["windows_seen"], "phase": ph["phase"], "epochs": ph["epochs"],
               "stop_reason": ph["stop_reason"], "converged": r["converged"],
               "valid_macro_ap_curve": ph["valid_macro_ap"], "best_valid_macro_ap": ph["best_valid_macro_ap"],
               "total": {"phases": len(r["phases"]), "epochs": r["epochs_total"],
                         "windows_seen": r["windows_seen_total"]},
               "valid": {k: r["valid"][k] for k in ("macro", "micro")}}
    if r["test"] is not None:
        summary["test"] = {k: r["test"][k] for k in ("macro", "micro")}
    emit_json(summary, args.json)
    return 0


def cmd_evaluate(args) -> int:
    net, labels, thr = load_multilabel(args.checkpoint)
    data = _data(args, labels)
    if data.labels != labels:
        raise InputError(f"label set of the data ({len(data.labels)} TFs) differs from the model's", args.data)
    m, _ = evaluate_multilabel(net, data, thr, split=args.split, device=args.device)
    out = {"split": args.split, "n": int((data.split == args.split).sum()), **m}
    emit_json(out, args.json, summary={k: out[k] for k in ("split", "n", "macro", "micro")})
    return 0


def cmd_explain(args) -> int:
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

    p = subparsers.add_parser("multilabel", help="multi-label TF binding (TCN and RNN/CNN baselines)",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="multilabel_command", required=True, metavar="ACTION")

    def common(q):
        q.add_argument("--windows", dest="data", required=True, help="windows table (.tsv[.gz]): id chrom start end split tfs sequence")
        q.add_argument("--labels", help="label-set file, one TF per line (default: label_set.txt next to --windows, "
                                        "or the checkpoint's labels)")
        q.add_argument("--max-rows", type=int, default=None, help="read only the first N windows")
        q.add_argument("--quiet", action="store_true", help="no progress bars")

    t = sub.add_parser("train", help="train a model; thresholds tuned on the valid split")
    common(t)
    t.add_argument("--model", choices=MULTILABEL_MODELS, default=None,
                   help="architecture (default: that of --init, else tcn)")
    t.add_argument("--out", "-o", required=True, help="checkpoint directory (may be the --init directory)")
    t.add_argument("--init", metavar="DIR", default=None,
                   help="continue training from this multilabel checkpoint (a new phase, recorded in its "
                        "meta.phases); architecture, hyper-parameters and label set must match")
    t.add_argument("--epochs", type=int, default=20,
                   help="maximum training epochs of this phase (early stopping on the valid macro AP)")
    t.add_argument("--patience", type=int, default=3,
                   help="stop after this many epochs without a better valid macro AP (best weights kept)")
    t.add_argument("--batch-size", type=int, default=128, help="windows per batch")
    t.add_argument("--lr", type=float, default=None,
                   help="learning rate (AdamW) at the start of the phase (default: 0.001, or continuing a plateau "
                        "phase with --schedule plateau, the rate it ended at)")
    t.add_argument("--schedule", choices=SCHEDULES, default="constant",
                   help="learning-rate schedule: constant; cosine (one cycle over --epochs, restarted by each "
                        "phase); plateau (halve the rate when the valid macro AP stops improving)")
    add_max_minutes_arg(t, "this training phase")
    t.add_argument("--seed", type=int, default=0, help="random seed (initialisation, batches)")
    add_json_arg(t, "the training summary (phase, converged, valid macro-AP curve, valid and test macro/micro "
                    "metrics)")
    add_device_arg(t, amp=True)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="per-TF and macro/micro AP, AUROC, F1 of a checkpoint")
    common(e)
    e.add_argument("--checkpoint", required=True, metavar="DIR", help="multilabel checkpoint directory")
    e.add_argument("--split", choices=("train", "valid", "test"), default="test", help="windows to evaluate")
    add_json_arg(e, "the full metrics")
    add_device_arg(e)
    add_allow_unverified_arg(e)
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
    add_allow_unverified_arg(x)
    x.set_defaults(func=cmd_explain)
