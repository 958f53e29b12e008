"""CLI of the TF-class-from-motif task: ``tfscope family build|train|predict|evaluate``."""

from __future__ import annotations

from ..cli_common import add_allow_unverified_arg, add_device_arg, add_json_arg, plural, report_stream, write_json
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
    from .data import build_dataset

    ds = build_dataset()
    if args.model != "cnn":
        from .reference import fit_reference_model

        out = report_stream(args)
        fit_reference_model(ds, args.out, variant=args.model, seed=args.seed,
                            progress=(lambda m: None) if args.quiet else (lambda m: print(m, file=out)))
        print(f"saved {args.model} fitted on {plural(len(ds), 'motif')} to {args.out}", file=out)
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
          f"saved to {args.out}", file=report_stream(args))
    if args.json:
        write_json(args.json, {"model": "cnn", "motifs": len(ds), "classes": ds.classes, "checkpoint": str(args.out),
                               "epochs_run": len(res.train_loss), "best_epoch": res.best_epoch + 1})
    return 0


#: narrowest motif ``tfclass predict`` classifies (columns): the narrowest of JASPAR 2024 CORE's matrices. A 1-column
#: matrix is a base composition, not a motif, and its Tomtom comparison did not finish in 300 s (a numba compilation
#: for the one-column layout) where other widths take 5-25 s
MIN_MOTIF_WIDTH = 4


def _split_name(name: str) -> tuple[str, str | None]:
    """A motif file's motif name -> (id, name): ``"MA0139.2\tCTCF"`` -> ``("MA0139.2", "CTCF")``, ``"hox"`` ->
    ``("hox", None)``."""
    words = name.split()
    return (words[0], " ".join(words[1:]) or None) if words else (name, None)


def predict_motifs(paths, *, checkpoint=None, n_nearest: int = 5, abstain: bool = False, min_known=None,
                   device: str = "auto", progress: bool = False) -> dict:
    """Classify the motifs of ``paths`` (JASPAR/MEME/PFM files) against JASPAR 2024, as an open-set classifier.

    Returns ``{"model", "classes" (the classes the model knows), "min_confidence", "min_known",
    "min_information_bits", "abstain", "motifs": [...]}`` with one dict per motif: ``file``, ``id`` and ``name``
    (the motif name's first word and the rest, None without one), ``tf_class`` (the class, or ``"unknown"``),
    ``best_class`` (the model's best class, always), ``class_prob`` (its calibrated probability; or the KNN+CNN
    soft vote with a CNN checkpoint), ``known_prob`` (the known-class detector's probability that the motif's class
    is one of ``classes``, :mod:`tfscope.tfclass.novelty`; None without a detector), ``known`` (``known_prob >=
    min_known``), ``information_bits`` (total information content), ``confident`` (informative and ``class_prob
    >= min_confidence``), the class of each model (``models``: the thesis KNN vote, knn-stack, kmer-lr and the
    checkpoint's model), the KNN vote of each column metric, and the nearest JASPAR motifs with their Tomtom
    p-value (none for a motif less informative than every reference motif, ``min_information_bits``: Tomtom matches
    such a near-flat matrix to the flat stretches of long motifs with p-values that mean nothing).

    ``tf_class`` is ``"unknown"`` when the motif is unlike every known class (``known_prob < min_known``;
    ``min_known`` default: the checkpoint's threshold, chosen on held-out classes), and with ``abstain`` also when it
    is not ``confident``. The class and probability are the shipped default model's, ``knn-kmer-vote``, or those of
    ``checkpoint`` when it is a ``family_knn_kmer`` one (e.g. ``tfscope tfclass train --model knn-kmer-clogit``). With
    a ``family_cnn`` checkpoint (``tfscope tfclass train --model cnn``, run on ``device``) they are the soft vote of
    the thesis KNN vote shares and the CNN softmax (no confidence threshold).

    Raises InputError for unreadable motif files, a motif narrower than :data:`MIN_MOTIF_WIDTH` or ``min_known``
    outside [0, 1], CheckpointError for a checkpoint of another task or reference.
    """
    import numpy as np

    from ..checkpoint import read_config
    from ..io.motifs import read_motifs
    from .knn import METRICS, knn_proba
    from .reference import MODEL_NAME, classify, reference_dataset

    if min_known is not None and not 0 <= min_known <= 1:
        raise InputError(f"--min-known must lie in [0, 1], not {min_known}")
    queries = [(str(p), name, m) for p in paths for name, m in read_motifs(p)]
    for path, name, m in queries:
        if m.shape[-1] < MIN_MOTIF_WIDTH:
            raise InputError(f"motif {name!r} is {plural(m.shape[-1], 'column')} wide; tfclass predict classifies "
                             f"motifs at least {MIN_MOTIF_WIDTH} columns wide (the narrowest JASPAR 2024 CORE motifs)",
                             path)
    cnn = checkpoint is not None and read_config(checkpoint).get("model") != MODEL_NAME
    ds = reference_dataset(None if cnn else checkpoint)
    C = len(ds.classes)
    Q = [m for _, _, m in queries]
    res = classify(Q, ds, model_path=None if cnn else checkpoint, progress=progress)
    proba, thr = res["proba"][res["model"]], res["min_confidence"]
    if cnn:
        from ..checkpoint import load_checkpoint
        from ..device import resolve_device
        from .train import ensemble_proba, predict_cnn

        net, cfg = load_checkpoint(checkpoint, task="family")
        if cfg.get("meta", {}).get("classes") != ds.classes:
            raise InputError("checkpoint classes differ from the JASPAR 2024 dataset's", checkpoint)
        net.to(resolve_device(device))
        proba, thr = ensemble_proba([res["proba"]["knn-ensemble-k1"], predict_cnn(net, Q)]), None
    known_thr = res["min_known"] if min_known is None else min_known
    pv = res["tomtom_p"]
    motifs = []
    for i, (path, name, _) in enumerate(queries):
        c = int(proba[i].argmax())
        informative = bool(res["informative"][i])
        confident = informative and (thr is None or bool(proba[i, c] >= thr))
        kp = None if res["known_prob"] is None else float(res["known_prob"][i])
        known = kp is None or known_thr is None or kp >= known_thr
        near = np.argsort(pv[i], kind="stable")[:n_nearest] if informative else []
        mid, mname = _split_name(name)
        motifs.append({"file": path, "id": mid, "name": mname,
                       "tf_class": ds.classes[c] if known and (confident or not abstain) else "unknown",
                       "best_class": ds.classes[c], "class_prob": float(proba[i, c]), "known_prob": kp,
                       "known": known, "confident": confident, "information_bits": float(res["information_bits"][i]),
                       "models": {m: ds.classes[int(p[i].argmax())] for m, p in res["proba"].items()},
                       "knn_votes": {m: ds.classes[int(knn_proba(s[i:i + 1], ds.labels, C, 1).argmax())]
                                     for m, s in zip(METRICS, res["sims"])},
                       "nearest": [{"matrix_id": ds.ids[j], "name": ds.names[j],
                                    "tf_class": ds.classes[ds.labels[j]], "tomtom_p": float(pv[i, j])}
                                   for j in near]})
    return {"model": "knn-cnn" if cnn else res["model"], "classes": list(ds.classes),
            "reference": f"{len(ds):,} {ds.release.replace('JASPAR', 'JASPAR ')} motifs", "min_confidence": thr,
            "min_known": known_thr, "min_information_bits": res["min_information_bits"], "abstain": abstain,
            "motifs": motifs}


def apply_protein_class(doc: dict, protein_fasta) -> dict:
    """Set each motif's class from its protein's DNA-binding domains (``tfscope tfclass predict --protein P.fa``).

    The proteins of ``protein_fasta`` pair with the motifs: one protein for every motif, or one protein per motif
    in order. A protein's class is the TFClass class voted by the 752 bundled JASPAR-linked TFs with its DBD
    families (pyhmmer over the 88 Pfam DBD HMMs; :func:`tfscope.protein.infer.predict_class`):

    * the protein has a DBD whose families occur in the reference: ``tf_class`` = that class,
      ``class_evidence`` = ``protein``;
    * the protein has no DBD: ``tf_class`` = ``unknown`` (``protein-no-dbd``), whatever the motif says: the motif
      alone cannot reject a motif of a class it does not know;
    * its DBD families are not in the reference: the motif's call stands (``motif``).

    Each motif gains ``motif_class`` (the motif model's own call), ``class_evidence``, ``protein`` (id, DBD
    families, the protein's class and its evidence line); ``doc`` gains ``protein_fasta``.

    Raises
    ------
    InputError
        The FASTA is not protein, or the number of proteins is neither 1 nor the number of motifs.
    """
    from ..protein.domains import annotate, read_proteins, tf_hits
    from ..protein.infer import predict_class

    records = read_proteins(protein_fasta)
    motifs = doc["motifs"]
    if len(records) not in (1, len(motifs)):
        raise InputError(f"--protein: {plural(len(records), 'protein')} for {plural(len(motifs), 'motif')}; give one "
                         "protein for all motifs or one per motif, in order", str(protein_fasta))
    hits = annotate(records)
    ids = list(records)
    for i, r in enumerate(motifs):
        pid = ids[0] if len(ids) == 1 else ids[i]
        fams = sorted({h.family for h in tf_hits(hits[pid])})
        cl, ev = predict_class(hits[pid])
        r["motif_class"] = r["tf_class"]
        r["protein"] = {"id": pid, "dbd_families": fams, "class": cl, "evidence": ev}
        if not fams:
            r["tf_class"], r["class_evidence"] = "unknown", "protein-no-dbd"
        elif cl != "unknown":
            r["tf_class"], r["class_evidence"] = cl, "protein"
        else:
            r["class_evidence"] = "motif"
    doc["protein_fasta"] = str(protein_fasta)
    return doc


def prediction_text(doc: dict):
    """The lines (with newline) of ``tfscope tfclass predict``'s text output for :func:`predict_motifs`' result: a
    ``#`` header naming the model, the known classes and when a motif is called unknown, a column header, one line
    per motif and its nearest JASPAR motifs (indented)."""
    yield (f"# tfscope tfclass predict: {doc['model']} against {doc['reference']}; "
           f"{len(doc['classes'])} known classes: {'; '.join(doc['classes'])}\n")
    rule = []
    if doc["min_known"] is not None:
        rule.append(f"the motif is unlike every known class (known_prob < {doc['min_known']:.3f})")
    if doc["abstain"] and doc["min_confidence"] is not None:
        rule.append(f"class_prob < {doc['min_confidence']:.3f}")
    if doc["abstain"]:
        rule.append(f"the motif carries < {doc['min_information_bits']:.1f} bits")
    if rule and not doc.get("protein_fasta"):
        yield "# tf_class = unknown when " + " or ".join(rule) + "\n"
    if doc.get("protein_fasta"):
        yield (f"# tf_class from the DNA-binding domains of the proteins in {doc['protein_fasta']} (class vote of the "
               "752 JASPAR-linked TFs with the same DBD families); unknown when the protein has no DBD; the motif "
               "decides only when the protein's DBD families are not in that reference\n")
    yield "file\tid\tname\ttf_class\tclass_prob\tknown_prob\tnote\n"
    for r in doc["motifs"]:
        notes = []
        if not r["known"]:
            notes.append(f"unlike every known class (best class {r['best_class']})")
        if r["information_bits"] < doc["min_information_bits"]:
            notes.append(f"uninformative motif: {r['information_bits']:.1f} bits < {doc['min_information_bits']:.1f}, "
                         "the least informative JASPAR 2024 motif; no Tomtom matches")
        elif not r["confident"]:
            notes.append(f"low confidence (class_prob < {doc['min_confidence']:.3f})")
        if "class_evidence" in r:
            pr = r["protein"]
            dbd = "+".join(pr["dbd_families"]) or "no DBD"
            notes.insert(0, {"protein": f"class from protein {pr['id']} ({pr['evidence']}); motif model: "
                                        f"{r['motif_class']}",
                             "protein-no-dbd": f"unknown: protein {pr['id']} has no DNA-binding domain (motif model: "
                                               f"{r['motif_class']})",
                             "motif": f"class from the motif: protein {pr['id']} DBD {dbd} not in the reference"
                             }[r["class_evidence"]])
        kp = "" if r["known_prob"] is None else f"{r['known_prob']:.3f}"
        yield (f"{r['file']}\t{r['id']}\t{r['name'] or ''}\t{r['tf_class']}\t{r['class_prob']:.3f}\t{kp}\t"
               f"{'; '.join(notes)}\n")
        for n in r["nearest"]:
            yield f"    {n['matrix_id']}\t{n['name']}\t{n['tf_class']}\tTomtom p={n['tomtom_p']:.2e}\n"


def cmd_family_predict(args) -> int:
    import sys

    from ..io.atomic import refuse_clobbering

    refuse_clobbering([("--out", args.out), ("--json", args.json)],
                      [("motif file", p) for p in args.motif_files] + [("--protein FASTA", args.protein)])
    if args.protein:  # a DNA or unreadable protein FASTA stops before the motif models run
        from ..protein.domains import read_proteins

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
        from ..io.atomic import atomic_write

        with atomic_write(args.out) as fh:
            fh.writelines(prediction_text(doc))
        n_unknown = sum(r["tf_class"] == "unknown" for r in doc["motifs"])
        print(f"{plural(len(doc['motifs']), 'motif')} ({n_unknown} unknown) -> {args.out}", file=report_stream(args))
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


def _known_classes() -> list[str]:
    """The classes of the shipped model (from its config; no JASPAR access), for --help."""
    from ..checkpoint import read_config
    from ..resources import resource

    try:
        return list(read_config(resource("tfclass_model"))["meta"]["classes"])
    except Exception:  # a broken installation still gets a help text; predict reports the real error
        return []


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

    known = _known_classes()
    pr = fs.add_parser("predict", help="TF class (or unknown), probability and nearest JASPAR motifs of motif files",
                       description="Classify motifs into the TFClass classes of JASPAR 2024 that the model knows, "
                       f"or 'unknown'. Known classes ({len(known)}): {'; '.join(known)}. A motif of another class "
                       "(e.g. Runt, STAT, SMAD, p53) can still get a known class: see docs/family.md.")
    pr.add_argument("motif_files", nargs="+", metavar="MOTIF_FILE", help="JASPAR, MEME or plain PFM file")
    pr.add_argument("--checkpoint", help=f"family checkpoint: a knn-kmer one from 'tfscope tfclass train' (default: "
                    f"the shipped {DEFAULT_MODEL}; e.g. --model knn-kmer-clogit, the previous default) or a thesis "
                    "CNN (then the class is the KNN vote + CNN soft vote)")
    pr.add_argument("--nearest", type=int, default=5, help="nearest JASPAR motifs to list")
    pr.add_argument("--abstain", action="store_true",
                    help="also call a motif 'unknown' when its class probability is below the model's calibrated "
                         "threshold or it is less informative than every JASPAR 2024 motif")
    pr.add_argument("--min-known", type=float, metavar="P",
                    help="call a motif 'unknown' when the known-class detector's probability is below P (default: "
                         "the model's threshold, chosen on held-out classes; 0 turns it off)")
    pr.add_argument("--protein", metavar="FASTA", help="the TF protein(s) of the motifs (one for all, or one per "
                    "motif in order): the class comes from the protein's DNA-binding domains (pyhmmer, class vote "
                    "of the 752 bundled JASPAR-linked TFs), unknown when it has none; the output says which evidence "
                    "decided")
    pr.add_argument("--out", default="-", help="text output: a header with the known classes, one line per motif, "
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
