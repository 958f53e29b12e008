"""CLI of the TF-class-from-motif task: ``tfscope family build|train|predict|evaluate``."""

from __future__ import annotations

from ..cli_common import add_device_arg, add_json_arg, plural, write_json
from ..errors import InputError


def cmd_family_build(args) -> int:
    from .data import build_dataset
    from ..io.motifs import write_jaspar
    from ..io import atomic_write

    ds = build_dataset(args.release, check=args.release == "JASPAR2024")
    write_jaspar(args.out, [(f"{i} {n}", p) for i, n, p in zip(ds.ids, ds.names, ds.pfms)])
    if args.labels:
        with atomic_write(args.labels) as fh:
            fh.write("matrix_id\tname\ttf_class\n")
            for i, n, c in zip(ds.ids, ds.names, ds.labels):
                fh.write(f"{i}\t{n}\t{ds.classes[c]}\n")
    print(f"wrote {plural(len(ds), 'motif')} in {plural(len(ds.classes), 'TF class', 'TF classes')} to {args.out}")
    for c, n in ds.counts().items():
        print(f"  {n:4d}  {c}")
    if args.json:
        write_json(args.json, {"release": ds.release, "motifs": len(ds), "classes": ds.counts(), "out": str(args.out),
                               "labels": args.labels})
    return 0


def cmd_family_train(args) -> int:
    from .data import build_dataset

    ds = build_dataset()
    if args.model != "cnn":
        from .reference import fit_reference_model

        fit_reference_model(ds, args.out, variant=args.model, seed=args.seed,
                            progress=(lambda m: None) if args.quiet else print)
        print(f"saved {args.model} fitted on {plural(len(ds), 'motif')} to {args.out}")
        if args.json:
            from ..checkpoint import read_config

            write_json(args.json, {"model": args.model, "motifs": len(ds), "classes": ds.classes,
                                   "checkpoint": str(args.out), "meta": read_config(args.out).get("meta", {})})
        return 0
    import torch

    from ..checkpoint import save_checkpoint
    from .train import train_cnn

    torch.set_num_threads(args.threads)
    net, res = train_cnn(ds.pfms, ds.labels, len(ds.classes), augment=args.augment, epochs=args.epochs,
                         seed=args.seed, verbose=not args.quiet, device=args.device)
    save_checkpoint(args.out, net, model_name="family_cnn", task="family", hparams=net.hparams,
                    meta={"classes": ds.classes, "release": ds.release, "augment": args.augment,
                          "epochs_run": len(res.train_loss), "best_epoch": res.best_epoch})
    print(f"trained family_cnn for {plural(len(res.train_loss), 'epoch')} (best {res.best_epoch + 1}); "
          f"saved to {args.out}")
    if args.json:
        write_json(args.json, {"model": "cnn", "motifs": len(ds), "classes": ds.classes, "checkpoint": str(args.out),
                               "epochs_run": len(res.train_loss), "best_epoch": res.best_epoch + 1})
    return 0


def predict_motifs(paths, *, checkpoint=None, n_nearest: int = 5, abstain: bool = False) -> list[dict]:
    """Classify the motifs of ``paths`` (JASPAR/MEME/PFM files) against JASPAR 2024.

    Returns one dict per motif: file, motif, tf_class, probability and confidence (the same number: the calibrated
    probability of the best class), min_confidence (the checkpoint's calibrated abstain threshold, None without one),
    information_bits (the motif's total information content) and min_information_bits (that of the least
    informative JASPAR 2024 motif), confident (confidence >= min_confidence and information_bits >=
    min_information_bits: a motif less informative than every reference motif is out of the models' range), the
    class of each model (``models``: the thesis KNN vote, knn-stack, kmer-lr
    and the checkpoint's model), the KNN vote of each column metric, and the nearest JASPAR motifs by Tomtom
    p-value. The class and probability are the shipped default model's, ``knn-kmer-vote``, or those of
    ``checkpoint`` when it is a ``family_knn_kmer`` one (e.g. ``tfscope tfclass train --model knn-kmer-clogit``).
    With ``abstain`` a motif below the threshold gets ``tf_class`` ``"unknown"`` (its best class stays in
    ``best_class``). With a ``family_cnn`` checkpoint
    (``tfscope family train --model cnn``) they are instead the soft vote of the thesis KNN vote shares and the
    CNN softmax (no threshold).

    Raises InputError for unreadable motif files and CheckpointError for a checkpoint of another task or reference.
    """
    import numpy as np

    from ..checkpoint import read_config
    from .data import build_dataset
    from ..io.motifs import read_motifs
    from .knn import METRICS, knn_proba
    from .reference import MODEL_NAME, classify

    queries = [(str(p), name, m) for p in paths for name, m in read_motifs(p)]
    ds = build_dataset()
    C = len(ds.classes)
    Q = [m for _, _, m in queries]
    cnn = checkpoint is not None and read_config(checkpoint).get("model") != MODEL_NAME
    res = classify(Q, ds, model_path=None if cnn else checkpoint)
    proba, thr = res["proba"][res["model"]], res["min_confidence"]
    if cnn:
        from ..checkpoint import load_checkpoint
        from .train import ensemble_proba, predict_cnn

        net, cfg = load_checkpoint(checkpoint, task="family")
        if cfg.get("meta", {}).get("classes") != ds.classes:
            raise InputError("checkpoint classes differ from the JASPAR 2024 dataset's", checkpoint)
        proba, thr = ensemble_proba([res["proba"]["knn-ensemble-k1"], predict_cnn(net, Q)]), None
    pv = res["tomtom_p"]
    out = []
    for i, (path, name, _) in enumerate(queries):
        c = int(proba[i].argmax())
        near = np.argsort(pv[i], kind="stable")[:n_nearest]
        informative = bool(res["informative"][i])
        confident = informative and (thr is None or bool(proba[i, c] >= thr))
        out.append({"file": path, "motif": name,
                    "tf_class": ds.classes[c] if confident or not abstain else "unknown",
                    "best_class": ds.classes[c], "probability": float(proba[i, c]),
                    "confidence": float(proba[i, c]), "min_confidence": thr,
                    "information_bits": float(res["information_bits"][i]),
                    "min_information_bits": res["min_information_bits"], "confident": confident,
                    "model": "knn-cnn" if cnn else res["model"],
                    "models": {m: ds.classes[int(p[i].argmax())] for m, p in res["proba"].items()},
                    "knn_votes": {m: ds.classes[int(knn_proba(s[i:i + 1], ds.labels, C, 1).argmax())]
                                  for m, s in zip(METRICS, res["sims"])},
                    "nearest": [{"matrix_id": ds.ids[j], "name": ds.names[j], "tf_class": ds.classes[ds.labels[j]],
                                 "tomtom_p": float(pv[i, j])} for j in near]})
    return out


def cmd_family_predict(args) -> int:
    res = predict_motifs(args.motif_files, checkpoint=args.checkpoint, n_nearest=args.nearest, abstain=args.abstain)
    if args.json:
        from ..cli_common import write_json

        write_json(args.json, res)
        if args.json == "-":
            return 0
    for r in res:
        low = "" if r["confident"] else (
            f"\tlow confidence (< {r['min_confidence']:.3f})" if r["information_bits"] >= r["min_information_bits"]
            else f"\tlow confidence (uninformative motif: {r['information_bits']:.1f} bits < "
                 f"{r['min_information_bits']:.1f}, the least informative JASPAR 2024 motif)")
        print(f"{r['file']}\t{r['motif']}\t{r['tf_class']}\tp={r['probability']:.3f}{low}")
        for n in r["nearest"]:
            print(f"    {n['matrix_id']}\t{n['name']}\t{n['tf_class']}\tTomtom p={n['tomtom_p']:.2e}")
    return 0


def cmd_family_evaluate(args) -> int:
    import numpy as np

    from .evaluate import EVAL_MODELS, cross_validate, evaluate_reference, labelled_motifs

    models = EVAL_MODELS if args.model == "all" else (args.model,)
    if (args.motif_file is None) != (args.labels is None):
        raise InputError("give a motif file together with --labels (or neither, for the JASPAR 2024 dataset)")
    if args.motif_file is None:
        if args.mode == "reference":
            raise InputError("--mode reference needs a motif file and --labels")
        from .data import build_dataset

        ds = build_dataset()
        from .splits import paralog_group

        pfms, y, classes, source = ds.pfms, ds.labels, ds.classes, "JASPAR 2024 (2,112 motifs, 20 classes)"
        groups = [paralog_group(n) for n in ds.names]
    else:
        keys, pfms, names = labelled_motifs(args.motif_file, args.labels)
        groups = None  # no TF names: each motif is its own group
        classes = sorted(set(names))
        y = np.array([classes.index(c) for c in names])
        source = f"{args.motif_file} ({len(pfms)} motifs, {len(classes)} classes)"
    if args.mode == "cv":
        res = cross_validate(pfms, y, len(classes), folds=args.folds, seed=args.seed, models=models, groups=groups)
        summary = {m: {k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)), "folds": v}
                       for k, v in r.items()} for m, r in res.items()}
        doc = {"source": source, "mode": "cv", "folds": args.folds, "seed": args.seed, "models": summary}
    else:
        res = evaluate_reference(pfms, names, models=None if args.model == "all" else models)
        doc = {"source": source, "mode": "reference", "models": {
            m: {**r, "predictions": dict(zip(keys, r["predictions"]))} for m, r in res.items()}}
    if args.json:
        from ..cli_common import write_json

        write_json(args.json, doc)
        if args.json == "-":
            return 0
    print(f"{source}; " + (f"stratified {args.folds}-fold CV (seed {args.seed})" if args.mode == "cv"
                           else "classified against JASPAR 2024"))
    for m, r in doc["models"].items():
        if args.mode == "cv":
            print(f"  {m}\taccuracy {r['accuracy']['mean']:.3f} ± {r['accuracy']['sd']:.3f}"
                  f"\tmacro-F1 {r['macro_f1']['mean']:.3f} ± {r['macro_f1']['sd']:.3f}")
        else:
            print(f"  {m}\taccuracy {r['accuracy']:.3f}\tmacro-F1 {r['macro_f1']:.3f}")
    return 0


def add_cli(sub) -> None:
    """Register ``tfscope tfclass ...`` (alias ``tfscope family``)."""
    from .stack import DEFAULT_MODEL, RECIPES

    p = sub.add_parser("tfclass", aliases=["family"],
                       help="TFClass class (family) of a TF from its motif: JASPAR 2024 dataset, KNN and CNN")
    fs = p.add_subparsers(dest="family_command", required=True, metavar="SUBCOMMAND")

    b = fs.add_parser("build", help="write the JASPAR 2024 TF-class dataset (2,112 motifs, 20 classes)")
    b.add_argument("--out", required=True, help="JASPAR-format motif file to write")
    b.add_argument("--labels", help="TSV of matrix_id, name, tf_class to write")
    b.add_argument("--release", default="JASPAR2024", help="pyjaspar release (offline; the 2,112-motif check "
                   "applies to JASPAR2024 only)")
    add_json_arg(b, "a summary (motifs per class, output paths)")
    b.set_defaults(func=cmd_family_build)

    t = fs.add_parser("train", help=f"fit {DEFAULT_MODEL} (default), another knn-kmer recipe or the thesis CNN on all "
                      "2,112 motifs; save a checkpoint")
    t.add_argument("--out", required=True, help="checkpoint directory")
    t.add_argument("--model", choices=(*RECIPES, "cnn"), default=DEFAULT_MODEL,
                   help=f"{DEFAULT_MODEL}: the shipped default of predict; knn-kmer, knn-kmer-dedup, "
                        "knn-kmer-clogit: earlier defaults (predict them with --checkpoint); cnn: the thesis CNN")
    t.add_argument("--epochs", type=int, default=200, help="CNN only (as --augment and --threads)")
    t.add_argument("--augment", action="store_true", help="sub-motif crop + random padding augmentation")
    t.add_argument("--seed", type=int, default=0, help="random seed (inner CV folds; CNN initialisation)")
    t.add_argument("--threads", type=int, default=1, help="CNN only: torch intra-op threads")
    t.add_argument("--quiet", action="store_true", help="no progress output")
    add_json_arg(t, "a summary (model, classes, fitted choices)")
    add_device_arg(t)
    t.set_defaults(func=cmd_family_train)

    pr = fs.add_parser("predict", help="TF class, probability and nearest JASPAR motifs of motif files")
    pr.add_argument("motif_files", nargs="+", metavar="MOTIF_FILE", help="JASPAR, MEME or plain PFM file")
    pr.add_argument("--checkpoint", help=f"family checkpoint: a knn-kmer one from 'tfscope tfclass train' (default: "
                    f"the shipped {DEFAULT_MODEL}; e.g. --model knn-kmer-clogit, the previous default) or a thesis "
                    "CNN (then the class is the KNN vote + CNN soft vote)")
    pr.add_argument("--nearest", type=int, default=5, help="nearest JASPAR motifs to list")
    pr.add_argument("--abstain", action="store_true",
                    help="call a motif 'unknown' when its confidence is below the model's calibrated threshold")
    add_json_arg(pr, "the predictions")
    pr.set_defaults(func=cmd_family_predict)

    ev = fs.add_parser("evaluate", help="cross-validate the family models on JASPAR 2024 or on a labelled motif file")
    ev.add_argument("motif_file", nargs="?", metavar="MOTIF_FILE",
                    help="JASPAR/MEME/PFM file (default: the JASPAR 2024 dataset)")
    ev.add_argument("--labels", help="TSV: motif key (first word of the motif name) and class (column tf_class, "
                                     "else column 2); e.g. from 'tfscope family build --labels'")
    ev.add_argument("--mode", choices=("cv", "reference"), default="cv",
                    help="cv: K-fold CV within the motifs (default); reference: classify them against JASPAR 2024")
    ev.add_argument("--folds", type=int, default=10, help="--mode cv: number of stratified folds")
    ev.add_argument("--model", choices=("all", "knn-ensemble-k1", "knn-stack", "kmer-lr", *RECIPES), default="all",
                    help="model to evaluate")
    ev.add_argument("--seed", type=int, default=0, help="random seed of the CV folds")
    add_json_arg(ev, "the results")
    ev.set_defaults(func=cmd_family_evaluate)
