"""Protein two-layer benchmark (TF vs non-TF; TFPM vs TFPNM) on ../shared/data/protein.

For each dataset (``layer1``, ``layer2`` = published protocol; ``layer1-dedup``, ``layer2-dedup`` = exact duplicates
and train/test-identical sequences removed, see :mod:`tfscope.protein.data`) every model is chosen by stratified
5-fold CV on the training set, refit on all of it, and scored ONCE on the independent test set. Writes
``benchmarks/results/protein.json`` (long format: model, dataset, metric, value) and ``protein.md``; published
rows are added as ``published-<name>`` (from ../shared/README.md). ``offline-default`` is the shipped recipe
(:func:`tfscope.protein.models.select_default`: composition LR or the z-score stack of
:mod:`tfscope.protein.stack`, threshold from out-of-fold CV) refitted on each dataset. ``--write-default`` rebuilds
the shipped default (``src/tfscope/resources/protein/default_model``) with :func:`tfscope.protein.pipeline.train_default` on
the de-duplicated protocol (test scored once, in PROVENANCE.json). ``--conflicts`` writes
``results/protein.layer2_conflicts.tsv`` (every layer-2 sequence that occurs with both labels, ids per side).

``--methylselex`` adds the rows of dataset ``layer2-methylselex``: the rebuilt layer-2 set (methyl-HT-SELEX calls,
:mod:`tfscope.protein.methylselex`) under grouped 5-fold CV (``split`` = ``cluster-cv`` / ``family-cv``), for the
``family-majority`` baseline and the shipped recipe (``offline-default``); see :func:`methylselex_benchmark`.
``--write-default --write-default-layers layer2`` retrains only the layer-2 default.

``--motifs`` writes ``results/protein.motifs.md`` (+ ``.tsv``): 3-mers enriched in TFs vs non-TFs and in TFPMs vs
TFPNMs (de-duplicated training sets; one-sided Fisher, BH q), 3-mers enriched in high-importance residues of the
linear default (top 10% per TF), and ``figures/protein_motif_logos.png``. ``--attention-figure`` LoRA-tunes a
*tiny random* ESM-2-shaped model (no pretrained weights are available offline) on a slice of layer 1 and draws its
last-layer attention for one TF (``figures/protein_attention.png``): it demonstrates the pipeline, not biology.

DBD rows (issue 46): models ``dbd-rule-E1e-4`` (any Pfam DBD HMM at E <= 1e-4), ``dbd-lr``, ``dbd-stack`` and
``dbd-graded-stack-hom`` (graded DBD scores + stack + phmmer homology to the training proteins; :mod:`tfscope.protein.dbdmodel`) on ``layer1``/``layer1-dedup`` (each row lists the test proteins still wrong);
``--dbd-layer2`` adds ``layer2-methylselex`` cluster-cv rows with DBD family features; ``--dbd-reference`` adds
``tfclass-from-protein`` (grouped CV over paralog clusters) and ``motif-inference`` (leave-one-TF-out and
leave-paralogs-out, memelite Tomtom q < 0.05) on the bundled 752 JASPAR-linked TFs. ``--models esm-lora
dbd-tiered-esm --esm-backbone DIR`` adds the LoRA ESM-2 classifier alone and inside the DBD tiers (5-fold LoRA tuning
for the out-of-fold P(TF), :func:`tfscope.protein.esm.fit_esm_oof`); it needs pretrained weights, which cannot be
fetched on the benchmark machines, so these rows are not in the default ``--models``.

Usage: ``python benchmarks/protein.py [--models offline-default composition-lr ...] [--datasets layer1 ...]
[--write-default] [--conflicts] [--motifs] [--attention-figure] [--skip-models] [--methylselex]
[--dbd-layer2] [--dbd-reference] [--esm-backbone DIR --device cuda]``
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS as RESULTS_DIR  # noqa: E402
from common import SHARED, load_results, save_results  # noqa: E402

from tfscope.metrics import binary_metrics, markdown_table  # noqa: E402
from tfscope.protein.classic import select_and_fit  # noqa: E402
from tfscope.resources import resource  # noqa: E402
from tfscope.protein.data import load_layer  # noqa: E402
from tfscope.protein.features import composition_features  # noqa: E402

METRICS = ["accuracy", "sensitivity", "specificity", "mcc", "auroc"]
DATASETS = {"layer1": ("layer1", "published"), "layer2": ("layer2", "published"),
            "layer1-dedup": ("layer1", "dedup"), "layer2-dedup": ("layer2", "dedup")}
# ../shared/README.md, independent test (Acc %, Sn, Sp, MCC, AUC) -> fractions
PUBLISHED = {
    "layer1": {"LoRA-ESM2-650M": (94.34, 93.40, 95.28, 0.887, 0.982),
               "LoRA-ESM2-8M": (91.98, 90.57, 93.40, 0.840, 0.941),
               "ProtBERT-Li2024": (92.92, 91.51, 94.34, 0.859, 0.972), "TFPred": (None, None, None, None, 0.912),
               "Capsule_TF": (88.2, None, None, None, None)},
    "layer2": {"RAAC-kmer-SVM-Li2024": (80.19, 86.96, 67.57, 0.557, 0.835),
               "iTFPM-RGDC": (76.42, 82.61, 64.86, 0.478, 0.849)},
}
FIGURES = Path(__file__).parent / "figures"
DEFAULT_DIR = resource("protein_model")


def svm_rbf(sp, seed):
    """RBF SVM on AAC+DPC+g-gap(1..3); C by 5-fold CV AUROC; score = decision function (threshold 0)."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    spec = {"aac": True, "dpc": True, "gaps": [1, 2, 3], "reduced_k": []}
    x = composition_features(sp.train_seqs, spec)
    gs = GridSearchCV(make_pipeline(StandardScaler(), SVC(kernel="rbf", gamma="scale")), {"svc__C": [1, 10]},
                      scoring="roc_auc", cv=StratifiedKFold(5, shuffle=True, random_state=seed)).fit(x, sp.y_train)
    score = gs.decision_function(composition_features(sp.test_seqs, spec))
    return score, 0.0, {"cv_auroc": gs.best_score_, "chosen": str(gs.best_params_)}


def kmer_tfidf_lr(sp, seed):
    """Logistic regression on sublinear TF-IDF of amino-acid 3-mers (8,000 features); C by 5-fold CV AUROC."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(3, 3), lowercase=False, sublinear_tf=True),
                         LogisticRegression(max_iter=3000, random_state=seed))
    gs = GridSearchCV(pipe, {"logisticregression__C": [1, 10]}, scoring="roc_auc",
                      cv=StratifiedKFold(5, shuffle=True, random_state=seed)).fit(sp.train_seqs, sp.y_train)
    return gs.predict_proba(sp.test_seqs)[:, 1], 0.5, {"cv_auroc": gs.best_score_, "chosen": str(gs.best_params_)}


def composition_lr(sp, seed):
    """Standardised L2 logistic regression on composition features; feature set and C by 5-fold CV AUROC."""
    m = select_and_fit(sp.train_seqs, sp.y_train, labels=sp.labels, seed=seed, verbose=True)
    ch = m.meta["chosen"]
    return m.predict_proba(sp.test_seqs), 0.5, {"cv_auroc": ch["cv_auroc"], "chosen": f"{ch['features']} C={ch['C']}"}


def ensemble_lr_tfidf(sp, seed):
    """Mean of the probabilities of composition-lr and an LR on TF-IDF amino-acid 1-3-mers (each CV-tuned).

    Reported CV AUROC is that of the averaged out-of-fold probabilities (components fixed at their CV choices).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tfscope.protein.classic import FEATURE_SETS

    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    lin = select_and_fit(sp.train_seqs, sp.y_train, labels=sp.labels, seed=seed)
    ch = lin.meta["chosen"]
    pipe = make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), lowercase=False, sublinear_tf=True),
                         LogisticRegression(max_iter=3000, random_state=seed))
    tr = np.array(sp.train_seqs, dtype=object)
    gs = GridSearchCV(pipe, {"logisticregression__C": [1, 10]}, scoring="roc_auc", cv=cv).fit(tr, sp.y_train)
    x = composition_features(sp.train_seqs, FEATURE_SETS[ch["features"]])
    oof1 = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(C=ch["C"], max_iter=5000)), x,
                             sp.y_train, cv=cv, method="predict_proba")[:, 1]
    oof2 = cross_val_predict(gs.best_estimator_, tr, sp.y_train, cv=cv, method="predict_proba")[:, 1]
    score = (lin.predict_proba(sp.test_seqs) + gs.predict_proba(np.array(sp.test_seqs, dtype=object))[:, 1]) / 2
    return score, 0.5, {"cv_auroc": roc_auc_score(sp.y_train, (oof1 + oof2) / 2),
                        "chosen": f"{ch['features']} C={ch['C']} + tfidf1-3 {gs.best_params_}"}


def offline_default(sp, seed):
    """The shipped recipe (:func:`tfscope.protein.models.select_default`): composition LR or the z-score stack
    (composition LR + TF-IDF 2-4-mer LR + TF-IDF 3-5-mer kNN), whichever has the higher CV AUROC; threshold =
    max-MCC threshold on out-of-fold CV predictions (0.5 for the composition LR)."""
    from tfscope.protein.models import select_default

    m = select_default(sp.train_seqs, sp.y_train, labels=sp.labels, seed=seed, verbose=True)
    ch = m.meta["choice"]
    cv = ch["stack_cv_auroc"] if ch["model"] == "stack" else ch["composition_lr_cv_auroc"]
    extra = (f"; members CV AUROC {', '.join(f'{k} {v:.3f}' for k, v in m.meta['cv_auroc_members'].items())}; "
             f"OOF MCC {m.meta['cv_mcc_at_threshold']:.3f} at p>={m.threshold:.3f}") if ch["model"] == "stack" else ""
    return m.predict_proba(sp.test_seqs), m.threshold, {"cv_auroc": cv, "chosen": ch["model"] + extra}


def _wrong(sp, called) -> list[str]:
    """The test proteins whose call (``called``, bool per test protein) disagrees with their label, as ``ID(TF)`` /
    ``ID(non-TF)``."""
    return [sp.test_ids[i] + ("(TF)" if t else "(non-TF)") for i, (a, t) in enumerate(zip(called, sp.y_test))
            if bool(a) != bool(t)]


def dbd_rule_baseline(sp, seed):
    """The bare rule "any of the 88 Pfam DBD HMMs hits at per-sequence E <= 1e-4" (pyhmmer; no training)."""
    from tfscope.protein.dbdmodel import dbd_rule

    from sklearn.metrics import roc_auc_score

    rule_train = dbd_rule(sp.train_seqs)
    r = dbd_rule(sp.test_seqs)
    return r, 0.5, {"cv_auroc": roc_auc_score(sp.y_train, rule_train), "wrong": _wrong(sp, r >= 0.5),
                    "chosen": "rule, no fitting (cv_auroc = the rule on the training set)"}


def _dbd_model(sp, seed, stack):
    from tfscope.protein.dbdmodel import fit_dbd_stack

    m = fit_dbd_stack(sp.train_seqs, sp.y_train, labels=sp.labels, seed=seed, stack=stack, verbose=True)
    p = m.predict_proba(sp.test_seqs)
    info = {"cv_auroc": m.meta["cv_auroc"], "chosen": f"C={m.meta['C']}; OOF MCC {m.meta['cv_mcc_at_threshold']:.3f} "
            f"at p>={m.threshold:.3f}" + (f"; stack OOF AUROC {m.meta['stack_cv_auroc']:.3f}" if stack else ""),
            "wrong": _wrong(sp, p >= m.threshold)}
    return p, m.threshold, info


def dbd_stack(sp, seed):
    """Logistic regression on [logit of the offline stack's out-of-fold P(TF), DBD features]
    (:func:`tfscope.protein.dbdmodel.fit_dbd_stack`); threshold = max MCC on out-of-fold predictions."""
    return _dbd_model(sp, seed, True)


def dbd_lr(sp, seed):
    """Logistic regression on the DBD features alone (no composition/k-mer stack)."""
    return _dbd_model(sp, seed, False)


def dbd_graded(sp, seed):
    """Logistic regression on [stack OOF logit, graded DBD scores (pyhmmer down to E = 10), phmmer homology to
    the training TFs / non-TFs] (:func:`tfscope.protein.dbdmodel.fit_dbd_graded`); C by grouped 5-fold CV AUROC on
    train; threshold = max MCC on out-of-fold predictions."""
    from tfscope.protein.dbdmodel import fit_dbd_graded

    m = fit_dbd_graded(sp.train_seqs, sp.y_train, labels=sp.labels, seed=seed, verbose=True)
    p = m.predict_proba(sp.test_seqs)
    info = {"cv_auroc": m.meta["cv_auroc"], "chosen": f"C={m.meta['C']}; OOF MCC {m.meta['cv_mcc_at_threshold']:.3f} "
            f"at p>={m.threshold:.3f}; stack OOF AUROC {m.meta['stack_cv_auroc']:.3f}",
            "wrong": _wrong(sp, p >= m.threshold)}
    return p, m.threshold, info


_FITS: dict = {}
#: ``train_esm`` arguments of the ESM-2 rows (``--esm-backbone``: a local pretrained ESM-2 directory); None: no rows
ESM_TRAIN: dict | None = None


def _fitted(kind, sp, seed):
    """The stack (``fit_stack``), the graded model on it (``fit_dbd_graded``) or the LoRA ESM-2 classifier with its
    out-of-fold P(TF) (``fit_esm_oof``, :data:`ESM_TRAIN`) of a split, fitted once per run."""
    from tfscope.protein.dbdmodel import fit_dbd_graded
    from tfscope.protein.esm import fit_esm_oof
    from tfscope.protein.stack import fit_stack

    key = (kind, sp.layer, sp.protocol, seed)
    if key not in _FITS:
        if kind == "esm":
            _FITS[key] = fit_esm_oof(sp.train_seqs, sp.y_train, labels=sp.labels, seed=seed, verbose=True,
                                     **ESM_TRAIN)
        elif kind == "stack":
            _FITS[key] = fit_stack(sp.train_seqs, sp.y_train, labels=sp.labels, seed=seed, verbose=True)
        else:
            _FITS[key] = fit_dbd_graded(sp.train_seqs, sp.y_train, labels=sp.labels, seed=seed,
                                        stack=_fitted("stack", sp, seed), verbose=True)
    return _FITS[key]


def _tiered(sp, seed, within):
    """Tier scores (:func:`tfscope.protein.dbdmodel.tiered_scores`: the DBD rule first) with ``within`` ordering the
    proteins inside each tier: the graded model's P(TF) (the shipped :class:`~tfscope.protein.dbdmodel.DbdTieredModel`),
    the stack's, their mean, or the ESM-2 classifier's; threshold = max MCC of the training proteins' out-of-fold tier
    scores."""
    from sklearn.metrics import roc_auc_score

    from tfscope.protein.dbdmodel import dbd_rule, fit_dbd_tiered, tiered_scores
    from tfscope.protein.stack import mcc_threshold

    if within in ("stack", "graded", "esm"):
        m = fit_dbd_tiered(sp.train_seqs, sp.y_train, inner=_fitted(within, sp, seed), labels=sp.labels,
                           verbose=True)
        p, thr = m.predict_proba(sp.test_seqs), m.threshold
        cv, mcc = m.meta["cv_auroc"], m.meta["cv_mcc_at_threshold"]
    else:
        fits = [_fitted(k, sp, seed) for k in ("stack", "graded")]
        score = tiered_scores(dbd_rule(sp.train_seqs), np.mean([f.oof_proba for f in fits], axis=0))
        thr, mcc = mcc_threshold(sp.y_train, score)
        cv = roc_auc_score(sp.y_train, score)
        p = tiered_scores(dbd_rule(sp.test_seqs), np.mean([f.predict_proba(sp.test_seqs) for f in fits], axis=0))
    return p, thr, {"cv_auroc": cv, "chosen": f"rule tier, then {within} P(TF); OOF MCC {mcc:.3f} at score>={thr:.3f}"
                    f" (no DBD: P >= {min(1.0, 2 * thr):.3f})",
                    "wrong": _wrong(sp, p >= thr)}


def dbd_tiered_stack(sp, seed):
    """DBD rule tier first, the offline stack's P(TF) inside each tier."""
    return _tiered(sp, seed, "stack")


def dbd_tiered_graded(sp, seed):
    """The shipped layer 1: DBD rule tier first, the dbd-graded-stack-hom P(TF) inside each tier (the inner model
    chosen by training OOF AUROC among stack, graded and their mean, on both protocols)."""
    return _tiered(sp, seed, "graded")


def dbd_tiered_mean(sp, seed):
    """DBD rule tier first, the mean of the stack's and the graded model's P(TF) inside each tier."""
    return _tiered(sp, seed, "mean")


def esm_lora(sp, seed):
    """LoRA ESM-2 alone (``--esm-backbone``); threshold = max MCC of its out-of-fold predictions."""
    m = _fitted("esm", sp, seed)
    return m.predict_proba(sp.test_seqs), m.threshold, {
        "cv_auroc": m.meta["cv_auroc"], "chosen": f"{m.meta['backbone']}, LoRA r={m.meta['lora_r']}; OOF MCC "
        f"{m.meta['cv_mcc_at_threshold']:.3f} at p>={m.threshold:.3f}"}


def dbd_tiered_esm(sp, seed):
    """DBD rule tier first, the LoRA ESM-2 classifier's P(TF) inside each tier (``--esm-backbone``)."""
    return _tiered(sp, seed, "esm")


DBD_CLASS = "tfclass-from-protein"
DBD_MOTIF = "motif-inference"


def _tomtom_match_table(ref):
    """Tomtom (memelite) p-values of every bundled JASPAR matrix against every other, BH q per query row."""
    from memelite import tomtom
    from statsmodels.stats.multitest import multipletests

    ids = sorted(ref.matrices)
    mats = []
    for m in ids:
        c = np.asarray(ref.matrices[m]["counts"], dtype=float)
        mats.append((c + 0.25) / (c.sum(0, keepdims=True) + 1.0))
    p = np.asarray(tomtom(mats, mats)[0], dtype=float)
    q = np.vstack([multipletests(np.clip(row, 0, 1), method="fdr_bh")[1] for row in p])
    return ids, q


def dbd_reference_benchmark(doc: dict, seed: int = 0, folds: int = 5) -> None:
    """TF class from the protein and motif inference on the 752 JASPAR-linked TFs of the bundled DBD reference.

    Paralog clusters: :func:`tfscope.protein.infer.paralog_clusters` (phmmer, >= 40 % identity over >= 50 % of the
    shorter protein, single linkage). Class: grouped ``folds``-fold CV over those clusters (GroupKFold), the class
    vote of :func:`tfscope.protein.infer.predict_class` built on the training folds only; ``unknown`` counts as wrong.
    Motif: :func:`tfscope.protein.infer.infer_profiles` leave-one-TF-out (the TF itself excluded) and
    leave-paralogs-out (its whole cluster excluded); matrices of the query TF itself (shared dimer matrices) are never
    counted as inferences. A TF's inferred matrix "matches" when its Tomtom q (memelite, BH over the 1,010 reference
    matrices) against any of the TF's own JASPAR matrices is < 0.05.
    """
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GroupKFold

    from tfscope.protein.dbdref import load_reference
    from tfscope.protein.domains import annotate
    from tfscope.protein.infer import (class_table, dbd_key, homologs, infer_profiles, paralog_clusters,
                                       phmmer_alignments, predict_class)

    t0 = time.time()
    ref = load_reference()
    accs = list(ref.proteins)
    recs = {a: ref.proteins[a]["sequence"] for a in accs}
    hits = annotate(recs)
    al = phmmer_alignments(recs, ref)  # all-vs-all, once: paralog clusters and Rost homologues
    clusters = paralog_clusters(ref, alignments=al)
    groups = np.array([clusters[a] for a in accs])
    print(f"DBD reference: {len(accs)} TFs, {len(set(groups))} paralog clusters ({time.time() - t0:.0f}s)", flush=True)
    true = [ref.protein_class(a) or "none" for a in accs]
    keys = {a: dbd_key(hits[a]) for a in accs}
    pred = [""] * len(accs)
    for tr, te in GroupKFold(folds).split(accs, groups=groups):
        table = class_table(ref, [accs[i] for i in tr], keys)
        for i in te:
            pred[i] = predict_class(hits[accs[i]], table)[0]
    acc = float(np.mean([p == t for p, t in zip(pred, true)]))
    f1 = float(f1_score(true, pred, labels=sorted(set(true)), average="macro", zero_division=0))
    maj = Counter_most(true)
    doc["rows"] = [r for r in doc["rows"] if r["dataset"] not in (DBD_CLASS, DBD_MOTIF)]
    base_acc = float(np.mean([t == maj for t in true]))
    base_f1 = float(f1_score(true, [maj] * len(true), labels=sorted(set(true)), average="macro", zero_division=0))
    n_unknown = sum(p == "unknown" for p in pred)
    proto = f"{folds}-fold GroupKFold, groups = paralog clusters (phmmer >= 40 % identity over >= 50 % of the shorter)"
    for name, a, f, note in (("dbd-composition-vote", acc, f1, f"class vote of training TFs with the same DBD families "
                              f"(else the best DBD's family); unknown for {n_unknown} TFs (no DBD hit or unseen "
                              f"family)"),
                             ("majority-class baseline", base_acc, base_f1, f"always {maj}")):
        for k, v in (("accuracy", a), ("macro_f1", f)):
            doc["rows"].append({"model": name, "dataset": DBD_CLASS, "metric": k, "value": v, "n": len(accs),
                                "n_classes": len(set(true)), "protocol": proto, "note": note})
    print(f"  class: accuracy {acc:.3f}, macro-F1 {f1:.3f} (majority {base_acc:.3f} / {base_f1:.3f}); unknown "
          f"{n_unknown}", flush=True)
    hom = homologs(recs, ref, alignments=al)
    ids, q = _tomtom_match_table(ref)
    col = {m: i for i, m in enumerate(ids)}
    members = {}
    for a, g in clusters.items():
        members.setdefault(g, set()).add(a)
    for split, excl in (("leave-one-TF-out", {a: {a} for a in accs}),
                        ("leave-paralogs-out", {a: members[clusters[a]] for a in accs})):
        inf = infer_profiles(recs, hits=hits, ref=ref, exclude=excl, homolog_hits=hom)
        n_inf = n_top = n_any = pairs = pairs_ok = 0
        for a in accs:
            own = set(ref.proteins[a]["matrices"])
            got = [r for r in inf[a] if r.matrix_id not in own]
            if not got:
                continue
            ok = [any(q[col[r.matrix_id], col[o]] < 0.05 for o in own) for r in got]
            n_inf += 1
            n_top += ok[0]
            n_any += any(ok)
            pairs += len(ok)
            pairs_ok += sum(ok)
        vals = {"coverage": n_inf / len(accs), "match_rate": n_top / len(accs), "precision_top": n_top / max(n_inf, 1),
                "precision_any": n_any / max(n_inf, 1), "precision_pairs": pairs_ok / max(pairs, 1)}
        for k, v in vals.items():
            doc["rows"].append({"model": "jaspar-profile-inference (pyhmmer + CIS-BP thresholds)", "dataset": DBD_MOTIF,
                                "split": split, "metric": k, "value": float(v), "n": len(accs), "n_inferred": n_inf,
                                "n_pairs": pairs, "note": "match = Tomtom q < 0.05 (memelite, BH over the 1,010 "
                                "reference matrices) against any of the TF's own JASPAR matrices; top = the "
                                "inference from the best phmmer homologue"})
        print(f"  motif {split}: " + ", ".join(f"{k} {v:.3f}" for k, v in vals.items()) + f" ({n_inf} TFs with an "
              f"inference, {pairs} pairs; {time.time() - t0:.0f}s)", flush=True)


def dbd_layer2_benchmark(doc: dict, seeds, folds: int = 5) -> None:
    """Layer 2 (methyl-SELEX set) with DBD family features, beside the family-majority baseline (cluster-cv only).

    ``dbd-family-lr``: L2 logistic regression (C = 1, standardised) on the DBD features of
    :func:`tfscope.protein.domains.dbd_features` (pyhmmer hits; no Lambert family given); ``dbd-family-majority``:
    the family-majority rule with the protein's best-scoring pyhmmer DBD family in place of the given Lambert family.
    Same folds as :func:`methylselex_benchmark` (StratifiedGroupKFold over 40 %-identity clusters, seeds ``seeds``);
    metrics on pooled out-of-fold predictions (MCC at p >= 0.5), mean and sd over seeds. Rows replace earlier ones.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tfscope.protein.domains import annotate, dbd_features
    from tfscope.protein.methylselex import family_majority, grouped_folds, load_methylselex

    ds = load_methylselex()
    recs = {str(i): s for i, s in enumerate(ds.seqs)}
    hits = annotate(recs, align=False)
    x, _ = dbd_features(hits, list(recs), [len(s) for s in ds.seqs])
    best = np.array([min(hits[k], key=lambda h: h.seq_evalue).family if hits[k] else "none" for k in recs])
    print(f"{METHYLSELEX} DBD: {sum(b != 'none' for b in best)}/{len(best)} proteins with a DBD hit", flush=True)
    names = ("dbd-family-lr", "dbd-family-majority")
    mets = {k: [] for k in names}
    for seed in seeds:
        sc = {k: np.zeros(len(ds.y)) for k in names}
        for tr, te in grouped_folds(ds.y, ds.cluster, folds, seed):
            m = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000)).fit(x[tr], ds.y[tr])
            sc["dbd-family-lr"][te] = m.predict_proba(x[te])[:, 1]
            sc["dbd-family-majority"][te] = family_majority(best[tr], ds.y[tr], best[te])[0]
        for k in names:
            mets[k].append(binary_metrics(ds.y, sc[k], threshold=0.5))
        print(f"  cluster-cv seed {seed}: " + "; ".join(f"{k} AUROC {v[-1]['auroc']:.3f} MCC {v[-1]['mcc']:.3f}"
                                                        for k, v in mets.items()), flush=True)
    doc["rows"] = [r for r in doc["rows"] if not (r["dataset"] == METHYLSELEX and r["model"] in names)]
    notes = {"dbd-family-lr": "L2 LR (C=1) on pyhmmer DBD features (best E-value per Pfam family, any DBD, number, "
                              "covered fraction); MCC at p>=0.5",
             "dbd-family-majority": "TFPM fraction of the protein's best pyhmmer DBD family in the training folds"}
    for name, runs in mets.items():
        for k in METRICS:
            vals = [r["recall" if k == "sensitivity" else k] for r in runs]
            doc["rows"].append({"model": name, "dataset": METHYLSELEX, "split": "cluster-cv", "metric": k,
                                "value": float(np.mean(vals)), "sd": float(np.std(vals)), "n_repeats": len(vals),
                                "n": int(len(ds.y)), "n_pos": int(ds.y.sum()),
                                "protocol": f"{folds}-fold StratifiedGroupKFold, groups = sequence-identity cluster "
                                            f"(40 %); pooled out-of-fold predictions; mean over seeds {list(seeds)}",
                                "note": notes[name]})


def Counter_most(xs):
    from collections import Counter

    return Counter(xs).most_common(1)[0][0]


METHYLSELEX = "layer2-methylselex"
METHYLSELEX_SPLITS = {"cluster-cv": "sequence-identity cluster (40 %)", "family-cv": "DNA-binding family (Lambert 2018)"}


def methylselex_benchmark(doc: dict, seeds, folds: int = 5) -> None:
    """Grouped CV on the rebuilt layer-2 set (:mod:`tfscope.protein.methylselex`, issue 17).

    Two protocols: ``cluster-cv`` (StratifiedGroupKFold over 40 %-identity sequence clusters) and ``family-cv``
    (groups = DNA-binding family, so no family is on both sides). Per protocol and seed, every fold fits
    ``offline-default`` (the shipped recipe: :func:`tfscope.protein.models.select_default` with the alignment kNN
    candidate, CV-chosen on the training folds only) and the ``family-majority`` baseline (TFPM fraction of the
    protein's family in the training folds; majority label for MCC); metrics are computed on the pooled
    out-of-fold predictions and averaged over seeds (``sd`` = spread over seeds). Rows replace earlier ones.
    """
    from collections import Counter

    from tfscope.protein.methylselex import family_majority, grouped_folds, load_methylselex
    from tfscope.protein.models import select_default

    ds = load_methylselex()
    fam = np.array(ds.family)
    print(f"{METHYLSELEX}: {ds.notes}", flush=True)
    for split, what in METHYLSELEX_SPLITS.items():
        groups = ds.cluster if split == "cluster-cv" else fam
        mets = {"family-majority": [], "offline-default": []}
        chosen, t0 = Counter(), time.time()
        pooled = []  # (default score, default threshold, baseline score, baseline call) per seed, for the bootstrap
        for seed in seeds:
            score = {k: np.zeros(len(ds.y)) for k in mets}
            call = np.zeros(len(ds.y))
            thr = np.zeros(len(ds.y))
            for tr, te in grouped_folds(ds.y, groups, folds, seed):
                assert not set(groups[tr].tolist()) & set(groups[te].tolist())
                score["family-majority"][te], call[te] = family_majority(fam[tr], ds.y[tr], fam[te])
                m = select_default([ds.seqs[i] for i in tr], ds.y[tr], labels=ds.labels, seed=seed, alignment=True,
                                   groups=ds.cluster[tr])
                score["offline-default"][te] = m.predict_proba([ds.seqs[i] for i in te])
                thr[te] = m.threshold
                chosen[m.meta["choice"]["model"]] += 1
            fm = binary_metrics(ds.y, score["family-majority"])
            fm.update({k: v for k, v in binary_metrics(ds.y, call).items() if k != "auroc"})
            mets["family-majority"].append(fm)
            mets["offline-default"].append(binary_metrics(ds.y, score["offline-default"], threshold=thr))
            pooled.append((score["offline-default"].copy(), thr.copy(), score["family-majority"].copy(), call.copy()))
            print(f"  {split} seed {seed}: " + "; ".join(f"{k} AUROC {v[-1]['auroc']:.3f} MCC {v[-1]['mcc']:.3f}"
                                                          for k, v in mets.items()), flush=True)
        doc["rows"] = [r for r in doc["rows"] if not (r["dataset"] == METHYLSELEX and r.get("split") == split)]
        notes = {"family-majority": "TFPM fraction of the protein's DNA-binding family in the training folds "
                                    "(MCC: family majority label)",
                 "offline-default": "shipped recipe refitted per fold; chosen " +
                                    ", ".join(f"{k} x{v}" for k, v in chosen.most_common())}
        delta = paired_bootstrap(ds.y, pooled, seed=0)
        print(f"  {split}: default - baseline AUROC {delta['auroc'][0]:+.3f} (95% CI {delta['auroc'][1]:+.3f}, "
              f"{delta['auroc'][2]:+.3f}), MCC {delta['mcc'][0]:+.3f} (95% CI {delta['mcc'][1]:+.3f}, "
              f"{delta['mcc'][2]:+.3f})", flush=True)
        for k, (v, lo, hi) in delta.items():
            doc["rows"].append({"model": "offline-default minus family-majority", "dataset": METHYLSELEX,
                                "split": split, "metric": f"delta_{k}", "value": v, "ci95_low": lo, "ci95_high": hi,
                                "n_boot": 2000, "note": "paired bootstrap over proteins (same resample for both "
                                "models), difference of seed-averaged pooled out-of-fold metrics"})
        for name, runs in mets.items():
            for k in METRICS:
                vals = [r["recall" if k == "sensitivity" else k] for r in runs]
                doc["rows"].append({"model": name, "dataset": METHYLSELEX, "split": split, "metric": k,
                                    "value": float(np.mean(vals)), "sd": float(np.std(vals)), "n_repeats": len(vals),
                                    "n": int(len(ds.y)), "n_pos": int(ds.y.sum()),
                                    "protocol": f"{folds}-fold StratifiedGroupKFold, groups = {what}; pooled "
                                                f"out-of-fold predictions; mean over seeds {list(seeds)}",
                                    "note": notes[name], "seconds": round(time.time() - t0, 1)})


def paired_bootstrap(y, pooled, n_boot: int = 2000, seed: int = 0) -> dict:
    """Difference (model - baseline) of AUROC and MCC, averaged over seeds, with a 95 % percentile interval from a
    paired bootstrap over proteins (one resample of protein indices shared by both models and all seeds).

    ``pooled``: per seed ``(score, threshold, baseline_score, baseline_call)`` arrays over all proteins.
    Returns ``{"auroc": (delta, low, high), "mcc": (...)}``.
    """
    from sklearn.metrics import matthews_corrcoef, roc_auc_score

    y = np.asarray(y)

    def delta(idx):
        d_auc = [roc_auc_score(y[idx], s[idx]) - roc_auc_score(y[idx], b[idx]) for s, _, b, _ in pooled]
        d_mcc = [matthews_corrcoef(y[idx], s[idx] >= t[idx]) - matthews_corrcoef(y[idx], c[idx] >= 0.5)
                 for s, t, _, c in pooled]
        return float(np.mean(d_auc)), float(np.mean(d_mcc))

    point = delta(np.arange(len(y)))
    rng = np.random.default_rng(seed)
    boots = []
    while len(boots) < n_boot:
        idx = rng.integers(0, len(y), len(y))
        if 0 < y[idx].sum() < len(idx):
            boots.append(delta(idx))
    b = np.array(boots)
    return {k: (point[i], float(np.quantile(b[:, i], 0.025)), float(np.quantile(b[:, i], 0.975)))
            for i, k in enumerate(("auroc", "mcc"))}


MODELS = {"offline-default": offline_default, "composition-lr": composition_lr, "ensemble-lr-tfidf": ensemble_lr_tfidf, "composition-svm-rbf": svm_rbf,
          "kmer3-tfidf-lr": kmer_tfidf_lr, "dbd-rule-E1e-4": dbd_rule_baseline, "dbd-lr": dbd_lr,
          "dbd-stack": dbd_stack, "dbd-graded-stack-hom": dbd_graded, "dbd-tiered-stack": dbd_tiered_stack,
          "dbd-tiered-graded": dbd_tiered_graded, "dbd-tiered-mean": dbd_tiered_mean}
#: rows that need pretrained ESM-2 weights (``--esm-backbone``): not in the default ``--models``
ESM_MODELS = {"esm-lora": esm_lora, "dbd-tiered-esm": dbd_tiered_esm}


def render(doc: dict) -> str:
    val = {(r["model"], r["dataset"], r["metric"]): r["value"] for r in doc["rows"]}
    extra = {(r["model"], r["dataset"]): r for r in doc["rows"] if r["metric"] == "auroc"}
    models = list(dict.fromkeys(r["model"] for r in doc["rows"]))
    out = [f"# Protein benchmark (two-layer TF / TFPM, independent test)\n\nMachine: {doc['machine']}; date "
           f"{doc['date']}. Model choice by stratified 5-fold CV on train; the independent test is scored once per "
           "model. Threshold 0.5 on probabilities (0 on SVM decision values); `offline-default` (the `select_default` "
           "recipe: the shipped layer 2; on layer 1 the stack inside the shipped tiered model) and the `dbd-` models use "
           "the max-MCC threshold of their out-of-fold CV predictions (in `chosen`). The shipped layer 1 is "
           "`dbd-tiered-graded` (DBD rule first, the graded DBD model inside each tier; trained on the `-dedup` "
           "training set). `-dedup`: exact duplicates and "
           "test sequences identical to a training sequence removed.\n"]
    for ds in DATASETS:
        rows = []
        for m in models:
            if (m, ds, "auroc") not in val and (m, ds, "accuracy") not in val:
                continue
            r = {"model": m, **{k: (val.get((m, ds, k)) if val.get((m, ds, k)) is not None else math.nan)
                                for k in METRICS}}
            e = extra.get((m, ds), {})
            r["cv_auroc"] = e.get("cv_auroc", math.nan) if e.get("cv_auroc") is not None else math.nan
            r["n_test"] = e.get("n_test", "")
            r["chosen"] = e.get("chosen", "")
            rows.append(r)
        title = ds + (f" (iTFPM-RGDC labels, which conflict; superseded by {METHYLSELEX} below)"
                      if ds.startswith("layer2") else "")
        out.append(f"## {title}\n\n" + markdown_table(rows, ["model", *METRICS, "cv_auroc", "n_test", "chosen"]))
    ms = [r for r in doc["rows"] if r["dataset"] == METHYLSELEX]
    if ms:
        out.append(f"## {METHYLSELEX} (rebuilt layer 2: methyl-HT-SELEX calls, grouped CV; the shipped layer-2 "
                   "default)\n\nOne label per protein from Yin et al. 2017 (see `docs/protein.md`); mean (sd) over "
                   "seeds of metrics on pooled out-of-fold predictions. The rows above (`layer2`, `layer2-dedup`) are "
                   "the published iTFPM-RGDC protocol, kept as they were.\n")
        rows = []
        for split in METHYLSELEX_SPLITS:
            for m in dict.fromkeys(r["model"] for r in ms if r["split"] == split and "sd" in r):
                rr = {r["metric"]: r for r in ms if r["split"] == split and r["model"] == m}
                rows.append({"split": split, "model": m, **{k: f"{rr[k]['value']:.3f} ({rr[k]['sd']:.3f})"
                                                             for k in METRICS if k in rr},
                             "n": rr["auroc"]["n"], "note": rr["auroc"]["note"]})
        out.append(markdown_table(rows, ["split", "model", *METRICS, "n", "note"]))
        dl = [{"split": r["split"], "metric": r["metric"], "value": f"{r['value']:+.3f}",
               "95% CI": f"{r['ci95_low']:+.3f} to {r['ci95_high']:+.3f}"} for r in ms if r["metric"].startswith("delta_")]
        if dl:
            out.append("offline-default minus family-majority (paired bootstrap over proteins, 2,000 resamples):\n\n"
                       + markdown_table(dl, ["split", "metric", "value", "95% CI"]))
    wr = [r for r in doc["rows"] if r.get("wrong") is not None and r["metric"] == "auroc"]
    if wr:
        out.append("## Proteins still wrong (DBD rows; ids of the independent test)\n\n" + markdown_table(
            [{"dataset": r["dataset"], "model": r["model"], "n wrong": len(r["wrong"]), "wrong": ", ".join(r["wrong"])}
             for r in wr], ["dataset", "model", "n wrong", "wrong"]))
    cl = [r for r in doc["rows"] if r["dataset"] == DBD_CLASS]
    if cl:
        rows = []
        for m in dict.fromkeys(r["model"] for r in cl):
            rr = {r["metric"]: r for r in cl if r["model"] == m}
            rows.append({"model": m, "accuracy": rr["accuracy"]["value"], "macro_f1": rr["macro_f1"]["value"],
                         "n": rr["accuracy"]["n"], "note": rr["accuracy"]["note"]})
        out.append(f"## {DBD_CLASS} (TFClass class of the 752 JASPAR-linked TFs from their DBDs)\n\n"
                   f"{cl[0]['protocol']}.\n\n" + markdown_table(rows, ["model", "accuracy", "macro_f1", "n", "note"]))
    mo = [r for r in doc["rows"] if r["dataset"] == DBD_MOTIF]
    if mo:
        keys = list(dict.fromkeys(r["metric"] for r in mo))
        rows = []
        for sp in dict.fromkeys(r["split"] for r in mo):
            rr = {r["metric"]: r for r in mo if r["split"] == sp}
            rows.append({"split": sp, **{k: rr[k]["value"] for k in keys}, "n_inferred": rr[keys[0]]["n_inferred"],
                         "n_pairs": rr[keys[0]]["n_pairs"]})
        out.append(f"## {DBD_MOTIF} (JASPAR profile inference from the protein, 752 TFs)\n\n{mo[0]['note']}; "
                   "coverage = share of TFs with an inference; match_rate = share of all TFs whose top inference "
                   "matches.\n\n" + markdown_table(rows, ["split", *keys, "n_inferred", "n_pairs"]))
    if doc.get("layer2_conflicts"):
        out.append("## Layer-2 exact-sequence conflicts (ids in `protein.layer2_conflicts.tsv`)\n\n" +
                   markdown_table([{"kind": k, "distinct sequences": v} for k, v in doc["layer2_conflicts"].items()],
                                  ["kind", "distinct sequences"]))
    return "\n".join(out)


def motif_report(data, seed=0):
    """Enrichment tables + logos (see module docstring)."""
    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfscope.io.atomic import atomic_write
    from tfscope.protein.motifs import (kmer_context_counts, kmer_enrichment, linear_residue_importance,
                                        region_kmer_enrichment)
    from tfscope.protein.pipeline import TwoLayerPredictor

    tables = {}
    for layer in ("layer1", "layer2"):
        sp = load_layer(layer, "dedup", data)
        pos = [s for s, t in zip(sp.train_seqs, sp.y_train) if t]
        neg = [s for s, t in zip(sp.train_seqs, sp.y_train) if not t]
        tables[f"{sp.labels[0]} vs {sp.labels[1]} (3-mer presence per protein, {layer}-dedup train)"] = \
            kmer_enrichment(pos, neg, k=3, top=20)
        if layer == "layer1":
            tf_pos = pos
    lin = TwoLayerPredictor().layers["layer1"]
    imp = [linear_residue_importance(lin, s) for s in tf_pos]
    tables["high-importance residues of TFs (linear default, top 10% 3-mers per TF vs rest)"] = \
        region_kmer_enrichment(tf_pos, imp, k=3, top_fraction=0.1, top=20)
    md = ["# Protein k-mer motif enrichment\n\nOne-sided Fisher exact test (hypergeometric upper tail), "
          "Benjamini-Hochberg q over all tested 3-mers (present in >= 5 proteins / occurrences).\n"]
    with atomic_write(RESULTS_DIR / "protein.motifs.tsv") as fh:
        fh.write("table\tkmer\tcount_a\tcount_b\todds_ratio\tp\tq\n")
        for name, rows in tables.items():
            cols = list(rows[0]) if rows else []
            md.append(f"## {name}\n\n" + markdown_table(rows, cols, floatfmt=".3g"))
            for r in rows:
                a, b = (r["pos_with"], r["neg_with"]) if "pos_with" in r else (r["in_region"], r["outside"])
                fh.write(f"{name}\t{r['kmer']}\t{a}\t{b}\t{r['odds_ratio']:.4g}\t{r['p']:.3g}\t{r['q']:.3g}\n")
    with atomic_write(RESULTS_DIR / "protein.motifs.md") as fh:
        fh.write("\n".join(md))
    top = [r["kmer"] for r in list(tables.values())[0][:4]]
    fig, axes = plt.subplots(len(top), 1, figsize=(6, 1.6 * len(top)))
    for ax, km in zip(np.atleast_1d(axes), top):
        counts = kmer_context_counts(tf_pos, km, flank=4)
        info = logomaker.transform_matrix(counts + 0.01, from_type="counts", to_type="information")
        logomaker.Logo(info, ax=ax, color_scheme="chemistry")
        ax.set_title(f"TF 3-mer {km} with 4-residue flanks ({int(counts.sum(1).max())} sites)", fontsize=8)
        ax.set_ylabel("bits")
    fig.tight_layout()
    FIGURES.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURES / "protein_motif_logos.png", dpi=120)
    plt.close(fig)
    print("\n".join(md)[:3000])


def attention_figure(data, seed=0):
    """Tiny random ESM-2-shaped model, LoRA-tuned on a layer-1 slice; last-layer attention of one TF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfscope.metrics import binary_metrics as bm
    from tfscope.protein.esm import attention_maps, residue_attention_profile, tiny_esm_config, train_esm
    from tfscope.protein.motifs import linear_residue_importance
    from tfscope.protein.pipeline import TwoLayerPredictor

    sp = load_layer("layer1", "dedup", data)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(sp.y_train), 160, replace=False)
    t0 = time.time()
    m = train_esm([sp.train_seqs[i] for i in idx], sp.y_train[idx], esm_config=tiny_esm_config(hidden_size=64,
                  intermediate_size=128), lora=True, lora_r=8, lora_alpha=16, epochs=3, batch_size=16, lr=2e-3,
                  max_residues=256, seed=seed)
    p = m.predict_proba(sp.test_seqs)
    met = bm(sp.y_test, p)
    print(f"tiny random ESM + LoRA ({time.time() - t0:.0f}s): test AUROC {met['auroc']:.3f} (random backbone; "
          "demonstration only)")
    tf_i = next(i for i, (s, t) in enumerate(zip(sp.test_seqs, sp.y_test)) if t and "WFQNRR" in s)
    full = sp.test_seqs[tf_i]
    start = max(0, min(full.find("WFQNRR") - 75, len(full) - 150))
    seq = full[start:start + 150]
    a = attention_maps(m, seq)
    fig, axes = plt.subplots(2, 3, figsize=(12, 7.5))
    for h in range(a.shape[0]):
        ax = axes.flat[h]
        ax.imshow(a[h], cmap="viridis")
        ax.set_title(f"last layer, head {h}", fontsize=9)
    axes.flat[4].imshow(a.mean(0), cmap="viridis")
    axes.flat[4].set_title("mean over heads", fontsize=9)
    ax = axes.flat[5]
    prof = residue_attention_profile(a)
    imp = linear_residue_importance(TwoLayerPredictor().layers["layer1"], seq)
    ax.plot((prof - prof.mean()) / prof.std(), label="attention received, z (tiny ESM)", lw=0.8)
    ax.plot((imp - imp.mean()) / imp.std(), label="linear-default importance, z", lw=0.8)
    k = seq.find("WFQNRR")
    ax.axvspan(k, k + 6, color="red", alpha=0.2, label="WFQNRR (homeodomain)")
    ax.legend(fontsize=7)
    ax.set_xlabel("residue")
    fig.suptitle(f"{sp.test_ids[tf_i]} residues {start + 1}-{start + len(seq)}: tiny RANDOM-init ESM-2-shaped model, "
                 f"LoRA-tuned on 160 proteins; test AUROC {met['auroc']:.2f}", fontsize=10)
    fig.tight_layout()
    FIGURES.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURES / "protein_attention.png", dpi=110)
    plt.close(fig)
    return met


def layer2_conflicts(data) -> dict:
    """Exact-sequence label conflicts of layer 2: one TSV row per distinct sequence that occurs with both labels
    (train vs train, or a test sequence whose training copy has the other label), with every id on each side.
    Writes ``results/protein.layer2_conflicts.tsv``; returns the counts."""
    import hashlib

    from tfscope.io.atomic import atomic_write
    from tfscope.io.fasta import read_protein_records
    from tfscope.protein.data import LAYER_FILES

    spec = LAYER_FILES["layer2"]
    sets = {}
    for split in ("train", "test"):
        for lab, stem in zip(spec["labels"], spec[split]):
            for i, sq in read_protein_records(data / f"{stem}.fasta"):
                sets.setdefault((split, lab), {}).setdefault(sq, []).append(i)
    pm, pnm = spec["labels"]
    kinds = {"train_both_labels": (("train", pm), ("train", pnm)),
             "TFPM_test_in_TFPNM_train": (("test", pm), ("train", pnm)),
             "TFPNM_test_in_TFPM_train": (("test", pnm), ("train", pm)),
             "TFPM_test_in_TFPM_train": (("test", pm), ("train", pm)),
             "TFPNM_test_in_TFPNM_train": (("test", pnm), ("train", pnm))}
    cols = [("train", pm), ("train", pnm), ("test", pm), ("test", pnm)]
    counts, lines = {}, []
    for kind, (a, b) in kinds.items():
        shared = [sq for sq in sets[a] if sq in sets[b]]
        counts[kind] = len(shared)
        for sq in shared:
            lines.append("\t".join([kind, hashlib.md5(sq.encode()).hexdigest()[:12], str(len(sq))] +
                                    [",".join(sets[c].get(sq, [])) for c in cols]))
    with atomic_write(RESULTS_DIR / "protein.layer2_conflicts.tsv") as fh:
        fh.write("kind\tseq_md5\tlength\t" + "\t".join(f"{c[1]}_{c[0]}_ids" for c in cols) + "\n")
        fh.write("\n".join(lines) + "\n")
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=[*MODELS, *ESM_MODELS])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--write-default", action="store_true")
    ap.add_argument("--write-default-layers", nargs="+", default=["layer1", "layer2"], choices=["layer1", "layer2"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--motifs", action="store_true")
    ap.add_argument("--conflicts", action="store_true", help="write results/protein.layer2_conflicts.tsv")
    ap.add_argument("--attention-figure", action="store_true")
    ap.add_argument("--skip-models", action="store_true", help="only --motifs / --attention-figure / --methylselex")
    ap.add_argument("--methylselex", action="store_true",
                    help=f"grouped-CV benchmark of the rebuilt layer-2 set (dataset {METHYLSELEX})")
    ap.add_argument("--dbd-reference", action="store_true",
                    help=f"TF class from the protein ({DBD_CLASS}) and motif inference ({DBD_MOTIF}) on the bundled "
                         "752 JASPAR-linked TFs")
    ap.add_argument("--dbd-layer2", action="store_true",
                    help=f"{METHYLSELEX} cluster-cv rows of DBD family features (dbd-family-lr, dbd-family-majority)")
    ap.add_argument("--methylselex-seeds", type=int, default=3, help="repeats (seeds 0..N-1) of the grouped CV")
    ap.add_argument("--esm-backbone", help="local pretrained ESM-2 directory (transformers format) for the "
                    f"{', '.join(ESM_MODELS)} rows (5-fold LoRA tuning for the out-of-fold P(TF), then all)")
    ap.add_argument("--esm-epochs", type=int, default=3)
    ap.add_argument("--esm-max-residues", type=int, default=1022)
    ap.add_argument("--device", default="auto", help="where the ESM-2 rows train (auto: CUDA when present)")
    args = ap.parse_args()
    if set(args.models) & set(ESM_MODELS):
        if not args.esm_backbone:
            ap.error(f"the rows {', '.join(sorted(set(args.models) & set(ESM_MODELS)))} need --esm-backbone "
                     "(a local pretrained ESM-2 directory)")
        global ESM_TRAIN
        ESM_TRAIN = {"backbone": args.esm_backbone, "lora": True, "epochs": args.esm_epochs,
                     "max_residues": args.esm_max_residues, "device": args.device}
    torch.set_num_threads(1)
    doc = load_results("protein")
    data = SHARED / "protein"
    if args.motifs:
        motif_report(data, args.seed)
    if args.conflicts:
        doc["layer2_conflicts"] = layer2_conflicts(data)
        print("layer-2 exact-sequence conflicts:", doc["layer2_conflicts"], flush=True)
    if args.attention_figure:
        met = attention_figure(data, args.seed)
        doc["rows"] = [r for r in doc["rows"] if r["model"] != "tiny-random-esm-lora-demo"]
        for k in METRICS:
            doc["rows"].append({"model": "tiny-random-esm-lora-demo", "dataset": "layer1-dedup", "metric": k,
                                "value": float(met["recall" if k == "sensitivity" else k]),
                                "note": "random-init 2-layer ESM-2-shaped model, 160 training proteins, demo only"})
    if args.methylselex:
        methylselex_benchmark(doc, range(args.methylselex_seeds))
    if args.dbd_reference:
        dbd_reference_benchmark(doc, args.seed)
    if args.dbd_layer2:
        dbd_layer2_benchmark(doc, range(args.methylselex_seeds))
    for ds in ([] if args.skip_models else args.datasets):
        layer, protocol = DATASETS[ds]
        sp = load_layer(layer, protocol, data)
        print(f"{ds}: train {len(sp.y_train)} ({sp.y_train.sum()} pos), test {len(sp.y_test)} ({sp.y_test.sum()} pos);"
              f" {sp.notes}", flush=True)
        for name in args.models:
            t0 = time.time()
            score, thr, info = {**MODELS, **ESM_MODELS}[name](sp, args.seed)
            met = binary_metrics(sp.y_test, score, threshold=thr)
            met["sensitivity"] = met["recall"]
            doc["rows"] = [r for r in doc["rows"] if (r["model"], r["dataset"]) != (name, ds)]
            for k in METRICS:
                row = {"model": name, "dataset": ds, "metric": k, "value": float(met[k])}
                if k == "auroc":
                    row.update(cv_auroc=float(info["cv_auroc"]), chosen=info["chosen"], n_test=int(met["n"]),
                               seconds=round(time.time() - t0, 1))
                    if "wrong" in info:
                        row["wrong"] = info["wrong"]
                doc["rows"].append(row)
            print(f"  {name:22s} " + " ".join(f"{k} {met[k]:.3f}" for k in METRICS) +
                  f"  (cv AUROC {info['cv_auroc']:.3f}; {info['chosen']}; {time.time() - t0:.0f}s)", flush=True)
    for r in doc["rows"]:
        if r["dataset"] in ("layer2", "layer2-dedup"):
            r["labels"] = (f"iTFPM-RGDC published files (42 training sequences carry both labels); superseded by "
                           f"{METHYLSELEX}")
    doc["rows"] = [r for r in doc["rows"] if not r["model"].startswith("published-")]
    for ds, pubs in PUBLISHED.items():
        for name, vals in pubs.items():
            for k, v in zip(METRICS, vals):
                if v is not None:
                    doc["rows"].append({"model": f"published-{name}", "dataset": ds, "metric": k,
                                        "value": v / 100 if k in ("accuracy", "sensitivity", "specificity") else v,
                                        **({"labels": "iTFPM-RGDC published files (as published)"}
                                           if ds == "layer2" else {})})
    if args.write_default:
        from tfscope.protein.pipeline import train_default

        prov = train_default(DEFAULT_DIR, data_dir=data, protocol="dedup", seed=args.seed, verbose=True,
                             layers=tuple(args.write_default_layers))
        prov["built_by"] = ("python benchmarks/protein.py --skip-models --write-default --write-default-layers "
                            + " ".join(args.write_default_layers))
        (DEFAULT_DIR / "PROVENANCE.json").write_text(json.dumps(prov, indent=1, default=float) + "\n")
    save_results(doc, render(doc))
    print(render(doc))


if __name__ == "__main__":
    main()
