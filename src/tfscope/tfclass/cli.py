"""CLI of the TF-class-from-motif task: ``tfscope family build|train|predict|evaluate``."""

from __future__ import annotations

import argparse
import sys

from ..checkpoint import read_config
from ..cli_common import add_allow_unverified_arg, add_device_arg, add_json_arg, plural, report_stream, write_json
from ..io.atomic import atomic_write, refuse_clobbering
from ..io.motifs import write_jaspar
from ..protein.domains import read_proteins
from ..resources import resource
from .data import build_dataset
from .evaluate import evaluate_motifs, evaluation_text
from .knn_kmer import DEFAULT_MODEL, RECIPES
from .predict import apply_protein_class, predict_motifs, prediction_text
from .reference import fit_reference_model
from .train import train_cnn_checkpoint


def cmd_family_build(args) -> int:
    ds = build_dataset(args.release, check=args.release == "JASPAR2024")
    write_jaspar(args.out, [(f"{i} {n}", p) for i, n, p in zip(ds.ids, ds.names, ds.pfms)])
    if args.labels:
        with atomic_write(args.labels) as fh:
            fh.write("matrix_id\tname\ttf_class\n")
            for i, n, c in zip(ds.ids, ds.names, ds.labels):
                fh.write(f"{i}\t{n}\t{ds.classes[c]}\n")
    out = report_stream(args)
    print(f"wrote {plural(len(ds), 'motif')} in {plural(len(ds.classes), 'TF class', 'TF classes')} to {args.out}",
          file=out)
    for c, n in ds.counts().items():
        print(f"  {n:4d}  {c}", file=out)
    if args.json:
        write_json(args.json, {"release": ds.release, "motifs": len(ds), "classes": ds.counts(), "out": str(args.out),
                               "labels": args.labels})
    return 0


def cmd_family_train(args) -> int:
    ds = build_dataset()
    out = report_stream(args)
    if args.model == "cnn":
        doc = train_cnn_checkpoint(ds, args.out, augment=args.augment, epochs=args.epochs, seed=args.seed,
                                   threads=args.workers, verbose=not args.quiet, device=args.device)
        print(f"trained family_cnn for {plural(doc['epochs_run'], 'epoch')} (best {doc['best_epoch']}); "
              f"saved to {args.out}", file=out)
    else:
        fit_reference_model(ds, args.out, variant=args.model, seed=args.seed, open_set=args.open_set,
                            progress=(lambda m: None) if args.quiet else (lambda m: print(m, file=out)))
        print(f"saved {args.model} fitted on {plural(len(ds), 'motif')} to {args.out}", file=out)
        doc = {"model": args.model, "motifs": len(ds), "classes": ds.classes, "checkpoint": str(args.out),
               "meta": read_config(args.out).get("meta", {})}
    if args.json:
        write_json(args.json, doc)
    return 0


def cmd_family_predict(args) -> int:
    refuse_clobbering([("--out", args.out), ("--json", args.json)],
                      [("motif file", p) for p in args.motif_files] + [("--protein FASTA", args.protein)])
    if args.protein:  # a DNA or unreadable protein FASTA stops before the motif models run

        read_proteins(args.protein)
    doc = predict_motifs(args.motif_files, checkpoint=args.checkpoint, n_nearest=args.nearest, abstain=args.abstain,
                         min_known=args.min_known, device=args.device, progress=not args.quiet)
    if args.protein:
        apply_protein_class(doc, args.protein)
    if args.json:
        write_json(args.json, doc)
    if args.out == "-":
        if args.json != "-":
            sys.stdout.writelines(prediction_text(doc))
    else:

        with atomic_write(args.out) as fh:
            fh.writelines(prediction_text(doc))
        n_unknown = sum(r["tf_class"] == "unknown" for r in doc["motifs"])
        print(f"{plural(len(doc['motifs']), 'motif')} ({n_unknown} unknown) -> {args.out}", file=report_stream(args))
    return 0


def cmd_family_evaluate(args) -> int:
    doc = evaluate_motifs(args.motif_file, args.labels, mode=args.mode, folds=args.folds, seed=args.seed,
                          model=args.model)
    if args.json:
        write_json(args.json, doc)
        if args.json == "-":
            return 0
    print("".join(evaluation_text(doc)), end="")
    return 0


def _known_classes() -> list[str]:
    """The classes of the shipped model (from its config; no JASPAR access), for --help."""

    try:
        return list(read_config(resource("tfclass_model"))["meta"]["classes"])
    except Exception:  # a broken installation still gets a help text; predict reports the real error
        return []


def add_cli(sub) -> None:
    """Register ``tfscope tfclass ...`` (alias ``tfscope family``)."""

    p = sub.add_parser("tfclass", aliases=["family"],
                       help="TFClass class (family) of a TF from its motif: JASPAR 2024 dataset, KNN and CNN")
    fs = p.add_subparsers(dest="family_command", required=True, metavar="SUBCOMMAND")

    b = fs.add_parser("build", help="write the JASPAR 2024 TF-class dataset (2,112 motifs, 20 classes)")
    b.add_argument("--out", "-o", required=True, help="JASPAR-format motif file to write")
    b.add_argument("--labels", help="TSV of matrix_id, name, tf_class to write")
    b.add_argument("--release", default="JASPAR2024", help="pyjaspar release (offline; the 2,112-motif check "
                   "applies to JASPAR2024 only)")
    add_json_arg(b, "a summary (motifs per class, output paths)")
    b.set_defaults(func=cmd_family_build)

    t = fs.add_parser("train", help=f"fit {DEFAULT_MODEL} (default), another knn-kmer recipe or the thesis CNN on all "
                      "2,112 motifs; save a checkpoint")
    t.add_argument("--out", "-o", required=True, help="checkpoint directory")
    t.add_argument("--model", choices=(*RECIPES, "cnn"), default=DEFAULT_MODEL,
                   help=f"{DEFAULT_MODEL}: the shipped default of predict; knn-kmer, knn-kmer-dedup, "
                        "knn-kmer-clogit: earlier defaults (predict them with --checkpoint); cnn: the thesis CNN")
    t.add_argument("--epochs", type=int, default=200, help="CNN only (as --augment and --workers)")
    t.add_argument("--open-set", action="store_true",
                   help=f"{DEFAULT_MODEL} only: also fit the open-set rule of predict's default (a held-out-class "
                        "simulation: 5 more fits on parts of the motifs, about 5 minutes)")
    t.add_argument("--augment", action="store_true", help="sub-motif crop + random padding augmentation")
    t.add_argument("--seed", type=int, default=0, help="random seed (inner CV folds; CNN initialisation)")
    t.add_argument("--workers", type=int, default=1, help="CNN only: CPU cores (torch intra-op threads)")
    t.add_argument("--quiet", action="store_true", help="no progress output")
    add_json_arg(t, "a summary (model, classes, fitted choices)")
    add_device_arg(t)
    t.set_defaults(func=cmd_family_train)

    known = _known_classes()
    pr = fs.add_parser("predict", help="TF class (or unknown), probability and nearest JASPAR motifs of motif files",
                       description="Classify motifs into the TFClass classes of JASPAR 2024 that the model knows, "
                       f"or 'unknown'. Known classes ({len(known)}): {'; '.join(known)}. A motif of another class "
                       "(e.g. Runt, STAT, SMAD, p53) is called unknown when its answer is not calibrated to be right; "
                       "see docs/family.md.")
    pr.add_argument("motif_files", nargs="+", metavar="MOTIF_FILE", help="JASPAR, MEME or plain PFM file")
    pr.add_argument("--checkpoint", help=f"family checkpoint: a knn-kmer one from 'tfscope tfclass train' (default: "
                    f"the shipped {DEFAULT_MODEL}; e.g. --model knn-kmer-clogit, the previous default) or a thesis "
                    "CNN (then the class is the KNN vote + CNN soft vote)")
    pr.add_argument("--nearest", type=int, default=5, help="nearest JASPAR motifs to list")

    pr.add_argument("--abstain", action=argparse.BooleanOptionalAction, default=True,
                    help="call a motif 'unknown' when it is less informative than every JASPAR 2024 motif, unlike "
                         "every known class (--min-known) or its answer is not calibrated to be right counting "
                         "motifs of classes the model does not know (the open-set rule, fitted on held-out classes; "
                         "default); --no-abstain: the forced answer, every motif gets its best class")
    pr.add_argument("--min-known", type=float, metavar="P",
                    help="call a motif 'unknown' when the known-class detector's probability is below P (default: "
                         "the model's threshold, chosen on held-out classes; 0 turns it off)")
    pr.add_argument("--protein", metavar="FASTA", help="the TF protein(s) of the motifs (one for all, or one per "
                    "motif in order): the class comes from the protein's DNA-binding domains (pyhmmer, class vote "
                    "of the 752 bundled JASPAR-linked TFs), unknown when it has none; the output says which evidence "
                    "decided")
    pr.add_argument("--out", "-o", default="-", help="text output: a header with the known classes, one line per motif, "
                    "its nearest JASPAR motifs ('-' = standard output)")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json_arg(pr, "the predictions, the known classes and thresholds")
    add_device_arg(pr)
    add_allow_unverified_arg(pr)
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
