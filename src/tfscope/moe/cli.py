"""CLI of the mixture-of-experts task: ``tfscope moe train|evaluate``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..checkpoint import load_checkpoint, save_checkpoint
from ..cli_common import add_allow_unverified_arg, add_device_arg, add_json_arg, emit_json
from ..device import resolve_device
from ..errors import InputError
from ..io.deepbind import read_deepbind
from ..sequence import one_hot
from . import load_training_set, mc_dropout_metrics, tf_name, train_expert, train_moe


def _load(path):
    return load_checkpoint(path)  # the checkpoint names its class; loading imports it


def cmd_moe_train(args) -> int:
    hp = {"filters": args.filters, "width": args.width, "hidden": args.hidden, "dropout": args.dropout}
    experts, names, seqs, ys, report = [], [], [], [], {"experts": {}}
    for path in args.train:
        tf = tf_name(path)
        if tf in names:
            raise InputError(f"two training files for expert {tf!r}", str(path))
        s, y = load_training_set(path, seed=args.seed, max_positives=args.max_positives)
        m, hist = train_expert(s, y, hparams=hp, epochs=args.epochs, lr=args.lr, seed=args.seed,
                               verbose=not args.quiet, desc=f"expert-{tf}", device=args.device)
        save_checkpoint(Path(args.out) / f"expert-{tf}", m, model_name="deepbind", task="moe", hparams=hp,
                        meta={"train_file": str(path), "history": hist})
        experts.append(m)
        names.append(tf)
        seqs += s
        ys.append(y)
        report["experts"][tf] = {"sequences": len(s), "best_epoch": hist["best_epoch"]}
    moe, hist = train_moe(experts, [hp] * len(experts), seqs, np.concatenate(ys), names=names,
                          epochs=args.moe_epochs, seed=args.seed, finetune_epochs=args.finetune_epochs,
                          verbose=not args.quiet, device=args.device)
    save_checkpoint(Path(args.out) / "moe", moe, model_name="moe", task="moe",
                    hparams={"expert_hparams": [hp] * len(experts), "expert_names": names},
                    meta={"train_files": [str(p) for p in args.train], "history": hist})
    report["moe"] = str(Path(args.out) / "moe")
    emit_json(report, args.json)
    return 0


def cmd_moe_evaluate(args) -> int:
    model, cfg = _load(args.checkpoint)
    model.to(resolve_device(args.device))  # MC-dropout passes run where the model is
    res = {}
    for path in args.data:
        t = read_deepbind(path)
        if len(set(t["bound"].tolist())) < 2:
            raise InputError("evaluation needs both Bound=0 and Bound=1 rows", str(path))
        L = max(len(s) for s in t["seq"])
        m = mc_dropout_metrics(model, one_hot(list(t["seq"]), length=L), t["bound"], trials=args.trials,
                               seed=args.seed)
        res[tf_name(path)] = {k: {"mean": float(v.mean()), "std": float(v.std())} for k, v in m.items()}
        res[tf_name(path)]["n"] = len(t["seq"])
    emit_json(res, args.json)
    return 0


def add_cli(sub) -> None:
    """Register ``moe train`` and ``moe evaluate``."""
    p = sub.add_parser("moe", help="mixture of experts for TFBS prediction (arXiv 2507.09754)")
    ms = p.add_subparsers(dest="moe_command", required=True, metavar="SUBCOMMAND")
    t = ms.add_parser("train", help="train one DeepBind expert per DeepBind-format file, then the MoE")
    t.add_argument("--train", nargs="+", required=True, help="DeepBind-format files (one per expert TF)")
    t.add_argument("--out", "-o", required=True, help="output directory (expert-<TF>/ and moe/ checkpoints)")
    t.add_argument("--epochs", type=int, default=4, help="training epochs of each DeepBind expert")
    t.add_argument("--moe-epochs", type=int, default=10, help="training epochs of the gate (experts frozen)")
    t.add_argument("--finetune-epochs", type=int, default=0, help="stage 3: end-to-end fine-tuning epochs")
    t.add_argument("--lr", type=float, default=3e-3, help="learning rate of the experts")
    t.add_argument("--filters", type=int, default=64, help="convolution filters per expert")
    t.add_argument("--width", type=int, default=24, help="convolution filter width (bp)")
    t.add_argument("--hidden", type=int, default=32, help="hidden units of each expert's head")
    t.add_argument("--dropout", type=float, default=0.5, help="dropout rate (also used by MC dropout)")
    t.add_argument("--max-positives", type=int, default=None,
                   help="use at most this many bound rows per file (default: all)")
    t.add_argument("--seed", type=int, default=0, help="random seed (subsampling, initialisation, batches)")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    add_json_arg(t, "the training summary")
    add_device_arg(t)
    t.set_defaults(func=cmd_moe_train)
    e = ms.add_parser("evaluate", help="MC-dropout AUROC/AUPRC of a checkpoint on DeepBind-format files")
    e.add_argument("--checkpoint", required=True, metavar="DIR", help="moe/ or expert-<TF>/ checkpoint directory")
    e.add_argument("--data", nargs="+", required=True, help="DeepBind-format files with Bound 0 and 1 rows")
    e.add_argument("--trials", type=int, default=30, help="MC-dropout passes (metrics: mean and SD over them)")
    e.add_argument("--seed", type=int, default=0, help="random seed of the dropout masks")
    add_json_arg(e, "the metrics")
    add_device_arg(e)
    add_allow_unverified_arg(e)
    e.set_defaults(func=cmd_moe_evaluate)
