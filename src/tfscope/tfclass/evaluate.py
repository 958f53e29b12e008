"""Cross-validation of the family KNN models on a motif collection (``tfscope family evaluate``).

Two uses:

* ``mode="cv"``: stratified K-fold CV *within* a labelled motif collection (default: the JASPAR 2024 dataset of
  :func:`tfscope.tfclass.build_dataset`): how well do the KNN models separate the classes of this collection?
* ``mode="reference"``: each labelled user motif is classified against the JASPAR 2024 reference set (the
  setting of ``tfscope family predict``) and compared with its label: how well does the tool work on my motifs?

Labels come from a TSV file: the first column is the motif key (the first word of the motif's name in the motif file,
e.g. the JASPAR matrix ID), and the class is the column named ``tf_class`` (or the second column when there is no
header). ``tfscope family build --out m.jaspar --labels m.tsv`` writes a pair that this module reads back.

Models: ``knn-ensemble-k1`` (thesis KNN vote), ``knn-stack``, ``kmer-lr``, ``knn-kmer``, ``knn-kmer-dedup``,
``knn-kmer-clogit`` and the shipped default ``knn-kmer-vote`` (see ``docs/family.md``). In ``reference`` mode the
fitted models come from the shipped ``knn-kmer-vote`` checkpoint
(:func:`tfscope.tfclass.reference.load_reference_model`), so ``knn-kmer``, ``knn-kmer-dedup`` and
``knn-kmer-clogit`` are not available there. The CNN is not cross-validated here (it needs a training run
per fold; see ``benchmarks/family.py``).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..io.inputs import read_lines
from ..io.motifs import read_motifs
from ..metrics import multiclass_metrics
from .data import build_dataset
from .kmer_profile import KmerLogistic, kmer_profile
from .knn import METRICS, all_similarities, knn_ensemble_proba
from .knn_kmer import RECIPES, make_model, uses_gapped, uses_groups
from .reference import classify
from .splits import paralog_group
from .stack import StackedKNN, normalise_similarity

EVAL_MODELS = ("knn-ensemble-k1", "knn-stack", "kmer-lr", *RECIPES)  # RECIPES: knn-kmer, -dedup, -clogit, -vote
KMER_K = 6  # k-mer length of kmer-lr and knn-kmer


def read_labels(path) -> dict[str, str]:
    """Read a label TSV -> ``{motif key: class}``.

    Raises InputError (file and line) for a missing/empty file, a row with fewer than two columns, an empty class,
    or a key listed twice.
    """

    rows = [(i, ln) for i, ln in read_lines(path) if ln.strip() and not ln.startswith("#")]
    if not rows:
        raise InputError("empty label file", path)
    col = 1
    head = rows[0][1].split("\t")
    if "tf_class" in head:
        col = head.index("tf_class")
        rows = rows[1:]
    out: dict[str, str] = {}
    for lineno, ln in rows:
        f = ln.split("\t")
        if len(f) <= col:
            raise InputError(f"expected a tab-separated key and class (column {col + 1}), got {len(f)} column(s)",
                             path, lineno)
        key, cls = f[0].strip(), f[col].strip()
        if not key or not cls:
            raise InputError("empty motif key or class", path, lineno)
        if key in out:
            raise InputError(f"motif {key!r} is labelled twice", path, lineno)
        out[key] = cls
    return out


def labelled_motifs(motif_path, labels_path) -> tuple[list[str], list[np.ndarray], list[str]]:
    """Motifs of a file joined with their labels -> (keys, pfms, class names). Every motif needs a label
    (InputError naming the motif file otherwise); labels of motifs not in the file are ignored."""

    labels = read_labels(labels_path)
    keys, pfms, cls = [], [], []
    for name, m in read_motifs(motif_path):
        key = name.split()[0] if name.split() else name
        if key not in labels:
            raise InputError(f"motif {key!r} has no label in {labels_path}", motif_path)
        keys.append(key)
        pfms.append(m)
        cls.append(labels[key])
    return keys, pfms, cls


def cross_validate(pfms: list[np.ndarray], labels: np.ndarray, n_classes: int, *, folds: int = 10, seed: int = 0,
                   models=EVAL_MODELS, k: int = KMER_K, groups=None) -> dict:
    """Stratified ``folds``-fold CV of the KNN models on motifs ``(4, L_i)`` with integer labels.

    ``groups`` ``(N,)``: paralog group of each motif (:func:`tfscope.tfclass.splits.paralog_group` of its TF name)
    for the grouped recipes' (``knn-kmer-dedup``, ``knn-kmer-clogit``, ``knn-kmer-vote``) grouped inner CV and
    one-neighbour-per-group features; default: each motif its own group.

    Returns ``{model: {"accuracy": [per fold], "macro_f1": [per fold]}}``. All-vs-all similarities are computed
    once (self excluded) and restricted to each fold's training motifs; k-mer profiles (length ``k``) once.

    Raises InputError if a class has fewer motifs than ``folds`` or there are fewer than 2 classes.
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    cnt = np.bincount(y, minlength=n_classes)
    if (cnt > 0).sum() < 2:
        raise InputError("need motifs of at least 2 classes for cross-validation")
    if folds < 2 or cnt[cnt > 0].min() < folds:
        raise InputError(f"{folds}-fold CV needs folds >= 2 and at least {folds} motifs per class; the smallest "
                         f"class has {int(cnt[cnt > 0].min())}")
    unknown = [m for m in models if m not in EVAL_MODELS]
    if unknown:
        raise InputError(f"unknown model(s) {unknown}; choose from {list(EVAL_MODELS)}")
    raw = all_similarities(pfms, pfms, exclude_self=True)[0] if set(models) - {"kmer-lr"} else None
    lengths = np.array([p.shape[1] for p in pfms])
    nsims = [normalise_similarity(s, m, lengths) for s, m in zip(raw, METRICS)] if raw else None
    kmers = kmer_profile(pfms, k) if set(models) & {"kmer-lr", *RECIPES} else None
    gapped = kmer_profile(pfms, k, gapped=True) if any(m in RECIPES and uses_gapped(m) for m in models) else None
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    res = {m: {"accuracy": [], "macro_f1": []} for m in models}
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        for m in models:
            if m == "knn-ensemble-k1":
                p = knn_ensemble_proba([s[np.ix_(te, tr)] for s in raw], y[tr], n_classes, 1)
            elif m == "knn-stack":
                st = StackedKNN(n_classes, seed=seed).fit([s[np.ix_(tr, tr)] for s in nsims], y[tr])
                p = st.predict_proba([s[np.ix_(te, tr)] for s in nsims])
            elif m == "kmer-lr":
                p = KmerLogistic(n_classes, k=k).fit_profile(kmers[tr], y[tr]).predict_proba_profile(kmers[te])
            else:
                gk = (None, None) if not uses_gapped(m) else (gapped[tr], gapped[te])
                kk = make_model(m, n_classes, k=k, seed=seed).fit([s[np.ix_(tr, tr)] for s in nsims], kmers[tr],
                                                                  y[tr], groups[tr] if uses_groups(m) else None,
                                                                  gapped=gk[0])
                p = kk.predict_proba([s[np.ix_(te, tr)] for s in nsims], kmers[te], gk[1])
            mm = multiclass_metrics(y[te], p.argmax(1), n_classes)
            res[m]["accuracy"].append(mm["accuracy"])
            res[m]["macro_f1"].append(mm["macro_f1"])
    return res


def evaluate_reference(pfms, class_names: list[str], *, models=None) -> dict:
    """Classify labelled motifs against the JASPAR 2024 reference set. Returns ``{model: {"accuracy", "macro_f1",
    "predictions": [class name per motif]}}``; macro-F1 over the classes present in the labels.

    Raises InputError for a label that is not one of the 20 JASPAR 2024 TF classes.
    """
    from sklearn.metrics import f1_score

    ds = build_dataset()
    bad = sorted(set(class_names) - set(ds.classes))
    if bad:
        raise InputError(f"label(s) {bad[:3]} are not JASPAR 2024 TF classes (e.g. {ds.classes[0]!r}); "
                         "use --mode cv for other label sets")
    res = classify(pfms, ds)
    models = list(res["proba"]) if models is None else models
    unknown = [m for m in models if m not in res["proba"]]
    if unknown:
        raise InputError(f"model(s) {unknown} not available against the shipped reference model; choose from "
                         f"{list(res['proba'])}")
    y = np.array([ds.classes.index(c) for c in class_names])
    out = {}
    for m in models:
        pred = res["proba"][m].argmax(1)
        out[m] = {"accuracy": float((pred == y).mean()),
                  "macro_f1": float(f1_score(y, pred, labels=sorted(set(y)), average="macro", zero_division=0)),
                  "predictions": [ds.classes[i] for i in pred]}
    return out



def evaluate_motifs(motif_file=None, labels=None, *, mode: str = "cv", folds: int = 10, seed: int = 0,
                    model: str = "all") -> dict:
    """``tfscope tfclass evaluate`` as one call: K-fold CV within a labelled motif collection (``mode="cv"``; no
    motif file: the JASPAR 2024 dataset, paralog groups from its TF names) or its motifs classified against JASPAR
    2024 (``mode="reference"``).

    Returns ``{"source", "mode", "models": {model: ...}}``: for ``cv`` also ``folds`` and ``seed`` and per model and
    metric (``accuracy``, ``macro_f1``) ``{"mean", "sd", "folds"}``; for ``reference`` per model
    :func:`evaluate_reference`'s result with ``predictions`` keyed by motif.

    Raises
    ------
    InputError
        A motif file without labels or labels without a motif file, or ``mode="reference"`` without them; bad label
        files (:func:`labelled_motifs`).
    """
    models = EVAL_MODELS if model == "all" else (model,)
    if (motif_file is None) != (labels is None):
        raise InputError("give a motif file together with --labels (or neither, for the JASPAR 2024 dataset)")
    if motif_file is None:
        if mode == "reference":
            raise InputError("--mode reference needs a motif file and --labels")
        ds = build_dataset()
        pfms, y, classes, source = ds.pfms, ds.labels, ds.classes, "JASPAR 2024 (2,112 motifs, 20 classes)"
        groups = [paralog_group(n) for n in ds.names]
    else:
        keys, pfms, names = labelled_motifs(motif_file, labels)
        groups = None  # no TF names: each motif is its own group
        classes = sorted(set(names))
        y = np.array([classes.index(c) for c in names])
        source = f"{motif_file} ({len(pfms)} motifs, {len(classes)} classes)"
    if mode == "cv":
        res = cross_validate(pfms, y, len(classes), folds=folds, seed=seed, models=models, groups=groups)
        summary = {m: {k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)), "folds": v}
                       for k, v in r.items()} for m, r in res.items()}
        return {"source": source, "mode": "cv", "folds": folds, "seed": seed, "models": summary}
    res = evaluate_reference(pfms, names, models=None if model == "all" else models)
    return {"source": source, "mode": "reference", "models": {
        m: {**r, "predictions": dict(zip(keys, r["predictions"]))} for m, r in res.items()}}


def evaluation_text(doc: dict):
    """The lines (with newline) of ``tfscope tfclass evaluate``'s report of :func:`evaluate_motifs`' result."""
    yield f"{doc['source']}; " + (f"stratified {doc['folds']}-fold CV (seed {doc['seed']})" if doc["mode"] == "cv"
                                  else "classified against JASPAR 2024") + "\n"
    for m, r in doc["models"].items():
        if doc["mode"] == "cv":
            yield (f"  {m}\taccuracy {r['accuracy']['mean']:.3f} ± {r['accuracy']['sd']:.3f}"
                   f"\tmacro-F1 {r['macro_f1']['mean']:.3f} ± {r['macro_f1']['sd']:.3f}\n")
        else:
            yield f"  {m}\taccuracy {r['accuracy']:.3f}\tmacro-F1 {r['macro_f1']:.3f}\n"
