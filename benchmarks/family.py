"""TF class ("family") from a motif (Wilk 2025 thesis) on JASPAR 2024: 2,112 motifs, 20 TFClass classes.

Stratified K-fold CV (K = 10, 5 and 20; the CNN folds are cached and resumable, see below) of
* KNN (K = 1..11) on each column metric (Pearson, Euclidean = memelite Tomtom -log10 p, Sandelin-Wasserman) and the
  majority-vote ensemble of the three metrics,
* the thesis reverse-complement-invariant CNN (tfscope.train.fit, softmax CE, lr 1e-3, wd 1e-3, patience 7),
* ``ensemble-knn3-cnn``: soft vote of the 3-metric KNN vote shares (K = 1) and the CNN softmax,
* ``knn-stack`` (tfscope.tfclass.stack.StackedKNN): logistic regression on the 2 most similar training motifs per class
  and metric (leave-one-out features on the training fold, C by inner 3-fold CV on the training fold), and
  ``ensemble-stack-cnn``: equal-weight soft vote of knn-stack and CNN probabilities (weights fixed beforehand),
* ``kmer-lr`` (tfscope.tfclass.kmer_profile.KmerLogistic): logistic regression on the motif's 6-mer profile,
* our best model ``knn-kmer`` (tfscope.tfclass.knn_kmer.KnnKmer): log-linear pool of knn-stack and kmer-lr, the pooling
  weight chosen by inner 3-fold CV log-likelihood on the training fold.

CNN out-of-fold probabilities and fold weights are cached per (K, fold) in ``benchmarks/checkpoints/family_cnn/``
(git-ignored), so an interrupted run resumes; ``--cnn-budget`` (seconds of CNN training in this run) stops training
new folds; a K whose CNN folds are incomplete gets no CNN rows in this run, and rows of models not recomputed are
carried over from the previous results file (``carried: true``).

Writes ``benchmarks/results/family.json`` (long format: model, dataset = jaspar2024-cv10 ..., metric in accuracy,
macro_f1, predict_seconds, class_accuracy:<class>; value = mean over folds, ``sd`` = SD over folds),
``family.md`` and figures ``benchmarks/figures/family_*.png`` (confusion matrix, integrated gradients, class overlap,
regression). Similarity matrices are cached in ``benchmarks/checkpoints/family_similarity.npz`` (git-ignored).

Repeated 10-fold CV with other split seeds (``--repeat-seeds 1 2``, datasets ``jaspar2024-cv10-seed1`` ...) shows how
much the seed-0 estimate depends on the split, for the models without a CNN.

Motifs never seen (issue 18; :mod:`tfscope.tfclass.splits`): ``--protocols temporal grouped`` adds, for knn-kmer,
knn-kmer-dedup, knn-kmer-clogit and the shipped default knn-kmer-vote (``--models`` to pick), the temporal split
(train JASPAR 2020, test the motifs first in JASPAR 2022 / 2024: datasets ``jaspar2020-to-2022``,
``jaspar2020-to-2024``) and a grouped 10-fold CV on JASPAR 2024 (``jaspar2024-grouped``, paralog groups kept
together): accuracy, macro-F1, per-class recall (``class_accuracy:``), coverage at the calibrated confidence
threshold, confusion matrices in ``analysis.protocols``. ``--new-only`` runs only those and the 10-fold CV of the
grouped ``--models`` and keeps every other row (fits cached in ``benchmarks/checkpoints/family_protocols/``).

One function per protocol: :func:`run_kfold_cv` (K-fold CV, CNN included), :func:`run_repeated_cv` (other split
seeds), :func:`run_timing` (prediction time), :func:`run_protocols` (fits of the never-seen protocols) with
:func:`temporal_rows`, :func:`grouped_rows` and :func:`recipe_cv_rows`. ``--render-only`` rewrites ``family.md`` from
the saved ``family.json`` without computing anything (:func:`render_only`).

Usage: ``python benchmarks/family.py [--folds 10 5 20] [--cnn-folds 10 5 20] [--cnn-budget SECONDS]
[--repeat-seeds 1 2] [--protocols temporal grouped] [--new-only] [--models knn-kmer-vote ...] [--render-only]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, load_results, save_results  # noqa: E402

from tfscope.tfclass.data import build_dataset  # noqa: E402
from tfscope.tfclass.kmer_profile import kmer_profile  # noqa: E402
from tfscope.tfclass.knn import (METRICS, all_similarities, knn_ensemble_proba, knn_proba, similarity,  # noqa: E402
                                tomtom_similarity)
from tfscope.tfclass.splits import grouped_folds, paralog_group, temporal_split  # noqa: E402
from tfscope.tfclass.knn_kmer import DEFAULT_MODEL, RECIPES, KnnKmer, make_model, uses_gapped, uses_groups  # noqa: E402
from tfscope.tfclass.stack import normalise_similarity  # noqa: E402
from tfscope.tfclass.train import ensemble_proba, predict_cnn, train_cnn  # noqa: E402
from tfscope.metrics import markdown_table, multiclass_metrics  # noqa: E402

FIG = Path(__file__).parent / "figures"
CACHE = Path(__file__).parent / "checkpoints" / "family_similarity.npz"
CNN_CACHE = Path(__file__).parent / "checkpoints" / "family_cnn"
KS = (1, 3, 5, 7, 9, 11)
GROUPED_MODELS = tuple(m for m in RECIPES if uses_groups(m))  # chosen on the temporal / grouped protocols
KMER_K = 6


def similarities(ds):
    """All-vs-all similarity per metric (self excluded) + Tomtom p-values + the seconds each took."""
    if CACHE.exists():
        z = np.load(CACHE)
        return {m: z[m] for m in METRICS}, z["tomtom_p"], json.loads(str(z["seconds"]))
    sims, secs = {}, {}
    for m in METRICS:
        t = time.time()
        if m == "euclidean":
            sims[m], p = tomtom_similarity(ds.pfms, ds.pfms, exclude_self=True)
        else:
            sims[m] = similarity(ds.pfms, ds.pfms, m, exclude_self=True)
        secs[m] = time.time() - t
        print(f"similarity {m}: {secs[m]:.1f}s", flush=True)
    p = p.copy()
    np.fill_diagonal(p, np.nan)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE, **sims, tomtom_p=p, seconds=json.dumps(secs))
    return sims, p, secs


def folds(labels, k, seed=0):
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels))


_STATE = {}  # similarity matrices, k-mer profiles and labels, set in main() and inherited by forked fold jobs


def fold_job(task):
    """Out-of-fold class probabilities of every KNN / stacked model for one CV fold.

    ``task`` = (dataset name, fold index, train indices, test indices, seed, all_knn); ``all_knn`` adds the
    per-metric KNN for every K and the KNN ensembles. Returns (dataset name, fold index, {model: proba}, stack C,
    knn-kmer pool weight, seconds)."""
    dname, i, tr, te, seed, all_knn = task
    torch.set_num_threads(1)
    t = time.time()
    sims, nsims, kmers, y, C = (_STATE[k] for k in ("sims", "nsims", "kmers", "y", "C"))
    probas = {}
    if all_knn:
        for m in METRICS:
            for k in KS:
                probas[f"knn-{m}-k{k}"] = knn_proba(sims[m][np.ix_(te, tr)], y[tr], C, k)
        for k in KS:
            probas[f"knn-ensemble-k{k}"] = knn_ensemble_proba([sims[m][np.ix_(te, tr)] for m in METRICS], y[tr], C, k)
    # knn-kmer's own parts, refitted on the whole training fold, are the knn-stack and kmer-lr models of this fold
    kk = KnnKmer(C, k=KMER_K, seed=seed).fit([s[np.ix_(tr, tr)] for s in nsims], kmers[tr], y[tr])
    query = [s[np.ix_(te, tr)] for s in nsims]
    probas["knn-stack"] = kk.stack.predict_proba(query)
    probas["kmer-lr"] = kk.kmer.predict_proba_profile(kmers[te])
    probas["knn-kmer"] = kk.predict_proba(query, kmers[te])
    if dname == "jaspar2024-cv10":  # the grouped recipes (knn-kmer-dedup, -clogit, the default knn-kmer-vote)
        g, gk = _STATE["groups"], _STATE["gkmers"]
        for name in GROUPED_MODELS:
            gtr, gte = (gk[tr], gk[te]) if uses_gapped(name) else (None, None)
            nd = make_model(name, C, k=KMER_K, seed=seed).fit([s[np.ix_(tr, tr)] for s in nsims], kmers[tr], y[tr],
                                                              g[tr], gapped=gtr)
            probas[name] = nd.predict_proba(query, kmers[te], gte)
    return dname, i, probas, kk.stack.C_, kk.weight_, time.time() - t


def cnn_fold(ds, K, i, tr, te, budget):
    """Out-of-fold CNN probabilities of fold i of K-fold CV (cached) and the trained model (or None, None when the
    training budget is spent). ``budget`` is a one-element list of remaining seconds."""
    from tfscope.tfclass.model import FamilyCNN

    f = CNN_CACHE / f"cv{K}_fold{i}.pt"
    C, y = len(ds.classes), ds.labels
    if f.exists():
        d = torch.load(f, weights_only=False)
        net = FamilyCNN(C)
        net.load_state_dict(d["state"])
        return d["proba"], net
    if budget[0] <= 0:
        return None, None
    t = time.time()
    net, res = train_cnn([ds.pfms[j] for j in tr], y[tr], C, seed=i)
    proba = predict_cnn(net, [ds.pfms[j] for j in te])
    budget[0] -= time.time() - t
    print(f"cv{K} fold {i}: cnn {len(res.train_loss)} epochs {time.time() - t:.0f}s", flush=True)
    CNN_CACHE.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(".tmp")
    torch.save({"proba": proba, "state": net.state_dict(), "epochs": len(res.train_loss)}, tmp)
    tmp.replace(f)
    return proba, net


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, nargs="+", default=[10, 5, 20])
    ap.add_argument("--cnn-folds", type=int, nargs="+", default=[10, 5, 20])
    ap.add_argument("--cnn-budget", type=float, default=float("inf"), help="seconds of new CNN training")
    ap.add_argument("--jobs", type=int, default=2, help="parallel fold jobs (forked, one thread each)")
    ap.add_argument("--repeat-seeds", type=int, nargs="*", default=[1, 2],
                    help="extra 10-fold CV splits (seeds) for knn-stack, kmer-lr and knn-kmer")
    ap.add_argument("--protocols", nargs="*", choices=("temporal", "grouped"), default=["temporal", "grouped"],
                    help="motifs never seen: JASPAR 2020 -> 2022/2024 temporal split, grouped 10-fold CV on 2024")
    ap.add_argument("--new-only", action="store_true",
                    help="run only --protocols and the 10-fold CV of the --models; keep all other rows")
    ap.add_argument("--models", nargs="+", choices=PROTO_MODELS, default=list(PROTO_MODELS),
                    help="models of --protocols (and of --new-only's 10-fold CV, except knn-kmer)")
    ap.add_argument("--render-only", action="store_true",
                    help="re-render family.md from the saved family.json (no computation)")
    args = ap.parse_args(argv)
    ds = build_dataset()
    if args.render_only:
        return render_only(ds)
    torch.set_num_threads(1)
    C, y = len(ds.classes), ds.labels
    sims, tomtom_p, _ = similarities(ds)
    lengths = np.array([p.shape[1] for p in ds.pfms])
    nsims = [normalise_similarity(sims[m], m, lengths) for m in METRICS]
    t = time.time()
    kmers = kmer_profile(ds.pfms, KMER_K)
    kmer_secs = time.time() - t
    doc = load_results("family")
    old_rows = doc.get("rows", [])
    doc["rows"] = []
    budget = [args.cnn_budget]

    def add(model, dataset, metric, vals, **kw):
        vals = np.asarray(vals, dtype=float)
        doc["rows"].append({"model": model, "dataset": dataset, "metric": metric, "value": float(np.nanmean(vals)),
                            "sd": float(np.nanstd(vals, ddof=1)) if len(vals) > 1 else 0.0, "n": int(len(vals)),
                            **kw})

    groups = np.array([paralog_group(n) for n in ds.names])
    if not args.new_only:
        doc.pop("kept_rows_date", None)  # a full run recomputes every row
    if args.new_only:
        doc.setdefault("kept_rows_date", doc.get("date"))  # rows this mode does not recompute keep their run's date
        analysis = doc.get("analysis", {})
        run_protocols(args, ds, nsims, kmers, add, analysis)
        have = {(r["model"], r["dataset"]) for r in doc["rows"]}
        doc["rows"] += [r for r in old_rows if (r["model"], r["dataset"]) not in have]  # not rerun: kept as is
        doc["analysis"] = analysis
        save_results(doc, render(doc, ds))
        return 0

    _STATE.update(sims=sims, nsims=nsims, kmers=kmers, y=y, C=C, groups=groups,
                  gkmers=kmer_profile(ds.pfms, KMER_K, gapped=True))
    cv = run_kfold_cv(args, ds, add, budget)
    stack_C, pool_w = {**cv["stack_C"]}, {**cv["pool_w"]}
    rep = run_repeated_cv(args, ds, add)
    stack_C.update(rep["stack_C"])
    pool_w.update(rep["pool_w"])
    analysis_fit_s = run_timing(ds, cv["cnn_models"], kmer_secs, nsims, kmers, add)

    protocols = {}
    if args.protocols:
        run_protocols(args, ds, nsims, kmers, add, protocols)
    have = {(r["model"], r["dataset"]) for r in doc["rows"]}
    for r in old_rows:  # results of models not recomputed in this run (e.g. CNN folds still missing)
        if (r["model"], r["dataset"]) not in have:
            doc["rows"].append({**r, "carried": True})
    analysis = {**interpret(ds, cv["cnn_models"], cv["oof"], tomtom_p, cv["extra"]), **protocols}
    old_reg = doc.get("analysis", {}).get("regression", {})
    for k, v in old_reg.items():
        analysis.setdefault("regression", {}).setdefault(k, {**v, "carried": True})
    analysis["stack_C"] = stack_C
    analysis["knn_kmer_pool_weight"] = pool_w
    analysis["knn_kmer_fit_seconds"] = analysis_fit_s  # fit on all motifs incl. inner CV, similarities given
    doc["analysis"] = analysis
    save_results(doc, render(doc, ds))
    return 0


def fold_results(args, tasks) -> tuple[dict, dict, dict]:
    """Run CV fold jobs (:func:`fold_job`) in ``args.jobs`` forked processes. Returns ({(dataset, fold): probas},
    {dataset: [stack C per fold]}, {dataset: [pool weight per fold]})."""
    done, stack_C, pool_w = {}, {}, {}
    with mp.get_context("fork").Pool(args.jobs) as pool:  # fold jobs share the similarity matrices via fork
        for dname, i, probas, c, w, secs in pool.imap_unordered(fold_job, tasks):
            done[dname, i] = probas
            stack_C.setdefault(dname, {})[i] = c
            pool_w.setdefault(dname, {})[i] = w
            print(f"{dname} fold {i}: {secs:.0f} s, stack C {c}, pool weight {w}", flush=True)
    return (done, {d: [v[i] for i in sorted(v)] for d, v in stack_C.items()},
            {d: [v[i] for i in sorted(v)] for d, v in pool_w.items()})


def run_kfold_cv(args, ds, add, budget) -> dict:
    """Stratified K-fold CV (seed 0) for each K of ``args.folds``: every KNN / stacked model (fold jobs), the CNN
    for the K of ``args.cnn_folds`` (cached, ``budget``) and its two soft votes; accuracy and macro-F1 rows, and for
    K = 10 the pooled per-class accuracy. Returns {"oof": 10-fold out-of-fold predictions per model, "cnn_models":
    the 10-fold CNNs, "extra": pooled 10-fold metrics per model, "stack_C", "pool_w"}."""
    C, y = len(ds.classes), ds.labels
    tasks = [(f"jaspar2024-cv{K}", i, tr, te, 0, True) for K in args.folds for i, (tr, te) in enumerate(folds(y, K))]
    done, stack_C, pool_w = fold_results(args, tasks)
    oof, extra, cnn_models = {}, {}, []
    for K in args.folds:
        dname = f"jaspar2024-cv{K}"
        fl = folds(y, K)
        probas = {}
        for i in range(K):
            for name, p in done[dname, i].items():
                probas.setdefault(name, []).append(p)
        if K in args.cnn_folds:
            got = [cnn_fold(ds, K, i, tr, te, budget) for i, (tr, te) in enumerate(fl)]
            if all(p is not None for p, _ in got):
                probas["cnn-thesis"] = [p for p, _ in got]
                probas["ensemble-knn3-cnn"] = [ensemble_proba([a, b]) for a, b in
                                               zip(probas["knn-ensemble-k1"], probas["cnn-thesis"])]
                probas["ensemble-stack-cnn"] = [ensemble_proba([a, b]) for a, b in
                                                zip(probas["knn-stack"], probas["cnn-thesis"])]
                if K == 10:
                    cnn_models = [n for _, n in got]
            else:
                print(f"cv{K}: CNN folds incomplete ({sum(p is not None for p, _ in got)}/{K}); "
                      "rerun to resume", flush=True)
        for name, plist in probas.items():
            ms = [multiclass_metrics(y[te], p.argmax(1), C) for (tr, te), p in zip(fl, plist)]
            add(name, dname, "accuracy", [m["accuracy"] for m in ms])
            add(name, dname, "macro_f1", [m["macro_f1"] for m in ms])
            if K == 10:
                pred = np.empty(len(y), dtype=int)
                for (tr, te), p in zip(fl, plist):
                    pred[te] = p.argmax(1)
                oof[name] = pred
                pooled = multiclass_metrics(y, pred, C)
                for c, a in zip(ds.classes, pooled["per_class_accuracy"]):
                    add(name, dname, f"class_accuracy:{c}", [a])
                extra[name] = pooled
        print(f"cv{K} done", flush=True)
    return {"oof": oof, "cnn_models": cnn_models, "extra": extra, "stack_C": stack_C, "pool_w": pool_w}


def run_repeated_cv(args, ds, add) -> dict:
    """Repeated 10-fold CV with the split seeds of ``args.repeat_seeds`` (models without a CNN): how much the seed-0
    split's estimate moves. Returns {"stack_C", "pool_w"} per dataset."""
    C, y = len(ds.classes), ds.labels
    tasks = [(f"jaspar2024-cv10-seed{sd}", i, tr, te, sd, False) for sd in args.repeat_seeds
             for i, (tr, te) in enumerate(folds(y, 10, sd))]
    done, stack_C, pool_w = fold_results(args, tasks) if tasks else ({}, {}, {})
    for seed in args.repeat_seeds:
        dname = f"jaspar2024-cv10-seed{seed}"
        fl = folds(y, 10, seed)
        probas = {}
        for i in range(10):
            for name, p in done[dname, i].items():
                probas.setdefault(name, []).append(p)
        for name, plist in probas.items():
            ms = [multiclass_metrics(y[te], p.argmax(1), C) for (tr, te), p in zip(fl, plist)]
            add(name, dname, "accuracy", [m["accuracy"] for m in ms])
            add(name, dname, "macro_f1", [m["macro_f1"] for m in ms])
        print(f"{dname} done", flush=True)
    return {"stack_C": stack_C, "pool_w": pool_w}


def run_timing(ds, cnn_models, kmer_secs, nsims, kmers, add) -> float:
    """Prediction time of all 2,112 motifs (CNN; KNN and the shipped model timed fresh on the real prediction path:
    queries = all motifs vs the 2,112 reference motifs, no cache, after the CV so that nothing else runs). Returns
    the seconds of one knn-kmer fit on all motifs (inner CV included, similarities given)."""
    C, y = len(ds.classes), ds.labels
    if cnn_models:
        t = time.time()
        predict_cnn(cnn_models[0], ds.pfms)
        add("cnn-thesis", "jaspar2024-all", "predict_seconds", [time.time() - t])
    secs = {}
    for m in METRICS:
        t = time.time()
        similarity(ds.pfms, ds.pfms, m)
        secs[m] = time.time() - t
        add(f"knn-{m}-k1", "jaspar2024-all", "predict_seconds", [secs[m]],
            note="similarity of all 2,112 motifs to the 2,112 reference motifs (+ a trivial vote)")
    add("knn-ensemble-k1", "jaspar2024-all", "predict_seconds", [sum(secs.values())],
        note="the 3 similarity matrices")
    from tfscope.tfclass.reference import classify

    t = time.time()
    classify(ds.pfms, ds)
    t = time.time() - t
    for m in ("knn-stack", "kmer-lr", DEFAULT_MODEL):
        add(m, "jaspar2024-all", "predict_seconds", [t],
            note="one tfscope.tfclass.reference.classify call with the shipped model gives all three: 3 similarity "
                 f"matrices, 6-mer profiles ({kmer_secs:.1f} s; gapped ones too for the reference set at load and "
                 "the queries), both heads")
    t = time.time()
    KnnKmer(C, k=KMER_K).fit(nsims, kmers, y)
    return time.time() - t


# --- motifs the model has never seen: temporal split and grouped CV (issue 18) ----------------------------------

PROTO_CACHE = Path(__file__).parent / "checkpoints" / "family_protocols"
PROTO_MODELS = tuple(RECIPES)  # knn-kmer, knn-kmer-dedup, knn-kmer-clogit, knn-kmer-vote (the default)
TEMPORAL = (("JASPAR2020", "JASPAR2022"), ("JASPAR2020", "JASPAR2024"))
_PSTATE = {}  # per protocol dataset: normalised similarities, k-mer profiles, labels, groups (inherited by forks)


def temporal_state(train_rel, test_rel):
    """Train/test sets of one temporal split and their similarities (cached in ``benchmarks/checkpoints``)."""
    tr, te, info = temporal_split(train_rel, test_rel)
    unk = info.pop("unknown_test")
    q = te.pfms + unk.pfms  # known-class test motifs, then those of classes the model does not know
    f = CACHE.parent / f"family_temporal_{train_rel}_{test_rel}.npz"
    if f.exists():
        z = np.load(f)
        s_tr, s_q = [z[f"tr_{m}"] for m in METRICS], [z[f"q_{m}"] for m in METRICS]
    else:
        t = time.time()
        s_tr = all_similarities(tr.pfms, tr.pfms, exclude_self=True)[0]
        s_q = all_similarities(q, tr.pfms)[0]
        print(f"temporal {train_rel}->{test_rel} similarities: {time.time() - t:.0f} s", flush=True)
        f.parent.mkdir(parents=True, exist_ok=True)
        np.savez(f, **{f"tr_{m}": s for m, s in zip(METRICS, s_tr)}, **{f"q_{m}": s for m, s in zip(METRICS, s_q)})
    L_tr, L_q = np.array([p.shape[1] for p in tr.pfms]), np.array([p.shape[1] for p in q])
    return tr, te, info, {
        "sims_tr": [normalise_similarity(s, m, L_tr) for s, m in zip(s_tr, METRICS)],
        "sims_q": [normalise_similarity(s, m, L_q) for s, m in zip(s_q, METRICS)],
        "kmers_tr": kmer_profile(tr.pfms, KMER_K), "kmers_q": kmer_profile(q, KMER_K), "y": tr.labels,
        "gkmers_tr": kmer_profile(tr.pfms, KMER_K, gapped=True), "gkmers_q": kmer_profile(q, KMER_K, gapped=True),
        "groups": np.array([paralog_group(n) for n in tr.names]), "C": len(tr.classes), "n_known": len(te),
        "pfms_tr": tr.pfms, "pfms_q": q}


def protocol_job(task):
    """Fit ``model`` on a protocol's training motifs and predict its test motifs (cached per task).

    ``task`` = (dataset name, model, fold index, train indices, test indices); indices are None for a temporal
    split (train = the old release, test = the new motifs). Returns (dataset, model, fold, test indices, proba,
    {weight, temperature, min_confidence}, seconds)."""
    dname, model, i, tr, te = task
    f = PROTO_CACHE / f"{dname}_{model}_{i}.npz"
    if f.exists():
        z = np.load(f, allow_pickle=True)
        return dname, model, i, te, z["proba"], z["fit"].item(), float(z["seconds"])
    torch.set_num_threads(1)
    t = time.time()
    st = _PSTATE[dname.split("-grouped")[0].split("-cv")[0] if tr is not None else dname]
    m = make_model(model, st["C"], k=KMER_K)
    g = st["groups"] if uses_groups(model) else None
    gap = uses_gapped(model)
    if tr is None:
        m.fit(st["sims_tr"], st["kmers_tr"], st["y"], g, gapped=st["gkmers_tr"] if gap else None)
        p = m.predict_proba(st["sims_q"], st["kmers_q"], st["gkmers_q"] if gap else None)
    else:
        m.fit([s[np.ix_(tr, tr)] for s in st["nsims"]], st["kmers"][tr], st["y"][tr], None if g is None else g[tr],
              gapped=st["gkmers"][tr] if gap else None)
        p = m.predict_proba([s[np.ix_(te, tr)] for s in st["nsims"]], st["kmers"][te],
                            st["gkmers"][te] if gap else None)
    fit = {"weight": m.weight_, "temperature": m.temperature_, "min_confidence": m.min_confidence_,
           "stack_C": m.stack.C_, **({"pool_temperature": m.pool_temperature_} if m.vote else {})}
    secs = time.time() - t
    PROTO_CACHE.mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f.stem + ".tmp.npz")
    np.savez(tmp, proba=p, fit=np.array(fit, dtype=object), seconds=secs)
    tmp.replace(f)
    return dname, model, i, te, p, fit, secs


def abstain_rows(add, model, dname, y, p, thr, p_unknown=None):
    """Coverage and accuracy of the predictions at or above the calibrated confidence ``thr`` (and the share of
    motifs of classes the model does not know that it abstains on)."""
    if thr is None:
        return
    conf, ok = p.max(1), p.argmax(1) == y
    keep = conf >= thr
    add(model, dname, "coverage", [keep.mean()], note=f"share of motifs with confidence >= {thr:.3f}")
    add(model, dname, "accuracy_covered", [ok[keep].mean() if keep.any() else np.nan])
    if p_unknown is not None and len(p_unknown):
        add(model, dname, "unknown_class_abstained", [(p_unknown.max(1) < thr).mean()],
            note=f"{len(p_unknown)} test motifs of classes the model does not know")


def run_protocols(args, ds, nsims24, kmers24, add, analysis):
    """Temporal (2020 -> 2022, 2020 -> 2024) and grouped 10-fold CV rows for knn-kmer and the new default, and
    the 10-fold CV rows of the new default; fold jobs run in ``args.jobs`` forked processes."""
    y = ds.labels
    groups24 = np.array([paralog_group(n) for n in ds.names])
    _PSTATE["jaspar2024"] = {"nsims": nsims24, "kmers": kmers24, "y": y, "groups": groups24, "C": len(ds.classes),
                             "gkmers": (kmer_profile(ds.pfms, KMER_K, gapped=True)
                                        if any(uses_gapped(m) for m in args.models) else None)}
    tasks, temporal = [], {}
    if "temporal" in args.protocols:
        for a, b in TEMPORAL:
            dname = f"jaspar{a[-4:]}-to-{b[-4:]}"
            tr, te, info, st = temporal_state(a, b)
            _PSTATE[dname] = st
            temporal[dname] = (tr, te, info)
            tasks += [(dname, m, 0, None, None) for m in args.models]
    gfolds = grouped_folds(ds.names, y, 10, seed=0)
    if "grouped" in args.protocols:
        tasks += [("jaspar2024-grouped", m, i, tr, te) for m in args.models for i, (tr, te) in enumerate(gfolds)]
    kfolds = folds(y, 10)
    cv_models = [m for m in args.models if m in GROUPED_MODELS] if args.new_only else []
    # the K-fold rows of the grouped recipes (the full run fits them in fold_job)
    tasks += [("jaspar2024-cv10", m, i, tr, te) for m in cv_models for i, (tr, te) in enumerate(kfolds)]
    res = {}
    with mp.get_context("fork").Pool(args.jobs) as pool:
        for dname, model, i, te, p, fit, secs in pool.imap_unordered(protocol_job, tasks):
            res[dname, model, i] = (te, p, fit)
            print(f"{dname} {model} fold {i}: {secs:.0f} s, {fit}", flush=True)
    proto = analysis.setdefault("protocols", {})
    temporal_rows(args, temporal, res, add, proto)
    if "grouped" in args.protocols:
        grouped_rows(args, ds, gfolds, res, add, proto)
    recipe_cv_rows(ds, cv_models, kfolds, res, add)


def temporal_rows(args, temporal, res, add, proto) -> None:
    """Rows of the temporal protocol (JASPAR 2020 -> 2022 / 2024) from the fitted ``res``: accuracy, macro-F1 over
    the classes present, per-class recall, coverage at the calibrated threshold and the abstain rate on test motifs of
    classes the model does not know; confusion matrices and fits into ``proto``."""
    for dname, (tr, te, info) in temporal.items():
        C, n = len(tr.classes), len(te)
        old = proto.get(dname, {})  # models not rerun keep their confusion matrices and fits
        proto[dname] = {**info, "confusion": old.get("confusion", {}), "fit": old.get("fit", {})}
        for model in args.models:
            _, p, fit = res[dname, model, 0]
            mm = multiclass_metrics(te.labels, p[:n].argmax(1), C, present_only=True)
            add(model, dname, "accuracy", [mm["accuracy"]], n_test=n)
            add(model, dname, "macro_f1", [mm["macro_f1"]], n_test=n,
                note="macro-F1 over the classes present in the test set")
            for c, a in zip(tr.classes, mm["per_class_accuracy"]):
                if not np.isnan(a):
                    add(model, dname, f"class_accuracy:{c}", [a])
            abstain_rows(add, model, dname, te.labels, p[:n], fit["min_confidence"], p[n:])
            proto[dname]["confusion"][model] = mm["confusion"]
            proto[dname]["fit"][model] = fit


def grouped_rows(args, ds, gfolds, res, add, proto) -> None:
    """Rows of the grouped 10-fold CV on JASPAR 2024 (paralog groups kept together): pooled out-of-fold accuracy,
    macro-F1, per-class recall and coverage at each fold's own calibrated threshold; confusion matrices and fits
    into ``proto``."""
    y, groups24 = ds.labels, np.array([paralog_group(n) for n in ds.names])
    dname = "jaspar2024-grouped"
    old = proto.get(dname, {})
    proto[dname] = {"folds": 10, "n_groups": int(len(set(groups24))), "confusion": old.get("confusion", {}),
                    "fit": old.get("fit", {}), "classes": ds.classes,
                    "fold_sizes": [int(len(te)) for _, te in gfolds]}
    for model in args.models:
        p = np.zeros((len(y), len(ds.classes)))
        accs, thr_ok = [], []
        for i, (tr, te) in enumerate(gfolds):
            p[te] = res[dname, model, i][1]
            accs.append(float((p[te].argmax(1) == y[te]).mean()))
            thr = res[dname, model, i][2]["min_confidence"]
            if thr is not None:
                thr_ok.append(p[te].max(1) >= thr)
        mm = multiclass_metrics(y, p.argmax(1), len(ds.classes))
        add(model, dname, "accuracy", [mm["accuracy"]], n_folds=10,
            note="pooled out-of-fold; sd = SD of the per-fold accuracy", sd_folds=float(np.std(accs, ddof=1)))
        add(model, dname, "macro_f1", [mm["macro_f1"]], n_folds=10, note="pooled out-of-fold")
        for c, a in zip(ds.classes, mm["per_class_accuracy"]):
            add(model, dname, f"class_accuracy:{c}", [a])
        if thr_ok:  # each fold's own calibrated threshold
            keep = np.zeros(len(y), dtype=bool)
            for (tr, te), k in zip(gfolds, thr_ok):
                keep[te] = k
            ok = p.argmax(1) == y
            add(model, dname, "coverage", [keep.mean()], note="each fold's own calibrated threshold")
            add(model, dname, "accuracy_covered", [ok[keep].mean()])
        proto[dname]["confusion"][model] = mm["confusion"]
        proto[dname]["fit"][model] = [res[dname, model, i][2] for i in range(10)]


def recipe_cv_rows(ds, cv_models, kfolds, res, add) -> None:
    """10-fold CV rows (seed 0) of the grouped recipes fitted by ``--new-only`` (the full run fits them in
    :func:`fold_job`)."""
    y = ds.labels
    for model in cv_models:
        dname = "jaspar2024-cv10"
        plist = [res[dname, model, i][1] for i in range(10)]
        ms = [multiclass_metrics(y[te], p.argmax(1), len(ds.classes)) for (tr, te), p in zip(kfolds, plist)]
        add(model, dname, "accuracy", [m["accuracy"] for m in ms])
        add(model, dname, "macro_f1", [m["macro_f1"] for m in ms])
        pred = np.empty(len(y), dtype=int)
        for (tr, te), p in zip(kfolds, plist):
            pred[te] = p.argmax(1)
        for c, a in zip(ds.classes, multiclass_metrics(y, pred, len(ds.classes))["per_class_accuracy"]):
            add(model, dname, f"class_accuracy:{c}", [a])


def interpret(ds, cnn_models, oof, tomtom_p, extra) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfscope.tfclass.interpret import (bh_qvalues, class_overlap, integrated_gradients, overlap_features,
                                          overlap_regression)

    FIG.mkdir(parents=True, exist_ok=True)
    C, y = len(ds.classes), ds.labels
    short = [c.split(" (")[0].replace(" factors", "").replace(" domain", "")[:22] for c in ds.classes]
    out = {}
    # confusion matrix of the best model
    for name in ("knn-kmer", "knn-stack", "ensemble-knn3-cnn", "cnn-thesis", "knn-ensemble-k1"):
        if name in extra:
            cm = np.array(extra[name]["confusion"], dtype=float)
            cmn = cm / cm.sum(1, keepdims=True)
            fig, ax = plt.subplots(figsize=(9, 8))
            im = ax.imshow(cmn, cmap="Blues", vmin=0, vmax=1)
            ax.set_xticks(range(C), short, rotation=90, fontsize=7)
            ax.set_yticks(range(C), short, fontsize=7)
            ax.set_xlabel("predicted class")
            ax.set_ylabel("true class")
            ax.set_title(f"{name}: 10-fold CV confusion (row-normalised)")
            fig.colorbar(im)
            fig.tight_layout()
            fig.savefig(FIG / "family_confusion.png", dpi=110)
            plt.close(fig)
            out["confusion_model"] = name
            break
    # all-vs-all similarity -> class overlap
    q = bh_qvalues(tomtom_p)
    ov = class_overlap(q, y, C)
    out["overlap"] = ov.tolist()
    fig, ax = plt.subplots(figsize=(9, 8))
    im = ax.imshow(ov, cmap="magma_r", vmin=0)
    ax.set_xticks(range(C), short, rotation=90, fontsize=7)
    ax.set_yticks(range(C), short, fontsize=7)
    ax.set_title("class overlap: share of motif pairs with Tomtom q < 0.05")
    fig.colorbar(im)
    fig.tight_layout()
    fig.savefig(FIG / "family_overlap.png", dpi=110)
    plt.close(fig)
    feats = overlap_features(ov)
    out["regression"] = {}
    reg_models = [m for m in ("cnn-thesis", "knn-ensemble-k1", "knn-stack", "knn-kmer") if m in extra]
    fig, axes = plt.subplots(1, max(1, len(reg_models)), figsize=(5 * max(1, len(reg_models)), 4))
    for ax, name in zip(np.atleast_1d(axes), reg_models):
        if name not in extra:
            continue
        acc = np.array(extra[name]["per_class_accuracy"])
        reg = overlap_regression(acc, ov)
        out["regression"][name] = reg
        ax.scatter(feats["between_sum"], acc, c=feats["within"], cmap="viridis")
        for i, s in enumerate(short):
            ax.annotate(s[:10], (feats["between_sum"][i], acc[i]), fontsize=6)
        ax.set_xlabel("between-class overlap (row sum, off-diagonal)")
        ax.set_ylabel("per-class accuracy (10-fold CV)")
        ax.set_title(f"{name}: R^2 = {reg['r2']:.2f} (within + between)")
    fig.tight_layout()
    fig.savefig(FIG / "family_regression.png", dpi=110)
    plt.close(fig)
    # integrated gradients: 4 bHLH (CANNTG) and 4 homeodomain (TAAT) motifs, each from the held-out fold of its model
    if cnn_models and "cnn-thesis" in oof:
        fl = folds(y, 10)
        test_of = np.empty(len(y), dtype=int)
        for i, (tr, te) in enumerate(fl):
            test_of[te] = i
        cons = ["".join("ACGT"[j] for j in p.argmax(0)) for p in ds.pfms]
        picks = []
        for cls, pat in (("Basic helix-loop-helix factors (bHLH)", "CA..TG"), ("Homeo domain factors", "TAAT|ATTA")):
            import re

            ci = ds.classes.index(cls)
            cand = [i for i in np.flatnonzero(y == ci) if re.search(pat, cons[i]) and oof["cnn-thesis"][i] == ci]
            picks += [(cls, i) for i in cand[:: max(1, len(cand) // 4)][:4]]
        fig, axes = plt.subplots(len(picks), 1, figsize=(7, 1.3 * len(picks)))
        out["ig"] = []
        for ax, (cls, i) in zip(np.atleast_1d(axes), picks):
            imp = integrated_gradients(cnn_models[test_of[i]], ds.pfms[i], y[i])
            out["ig"].append({"id": ds.ids[i], "name": ds.names[i], "consensus": cons[i],
                              "importance": np.round(imp, 3).tolist()})
            ax.bar(range(len(imp)), imp, color=["C3" if v > 0 else "C0" for v in imp])
            ax.set_xticks(range(len(imp)), list(cons[i]), fontsize=7)
            ax.set_ylim(-1, 1)
            ax.set_ylabel(f"{ds.ids[i]}\n{ds.names[i]}", fontsize=7, rotation=0, ha="right", va="center")
        fig.suptitle("Integrated gradients per position (CNN, held-out fold; bHLH top, homeodomain bottom)",
                     fontsize=9)
        fig.tight_layout()
        fig.savefig(FIG / "family_ig.png", dpi=110)
        plt.close(fig)
    return out


def render_only(ds, results_dir=None) -> int:
    """Rewrite ``family.md`` from the saved ``family.json`` (``--render-only``): the same :func:`render` as a run,
    nothing recomputed, the JSON untouched."""
    from tfscope.io.atomic import atomic_write

    root = Path(results_dir or RESULTS)
    doc = json.loads((root / "family.json").read_text())
    with atomic_write(root / "family.md") as fh:
        fh.write(render(doc, ds))
    return 0


def render(doc, ds) -> str:
    rows = doc["rows"]
    get = {(r["model"], r["dataset"], r["metric"]): r for r in rows}
    models = list(dict.fromkeys(r["model"] for r in rows))
    dsets = sorted({r["dataset"] for r in rows if r["dataset"].startswith("jaspar2024-cv")},
                   key=lambda s: (int(s.split("cv")[1].split("-")[0]), s))
    out = [f"# TF class from a motif (JASPAR 2024, {len(ds)} motifs, {len(ds.classes)} TFClass classes)\n\n",
           f"Machine: {doc['machine']}; date {doc['date']}. Stratified K-fold CV (seed 0); mean ± SD over folds.\n\n",
           (f"Only the temporal / grouped rows and the 10-fold rows of {', '.join(GROUPED_MODELS)} were run on "
            f"{doc['date']} "
            f"(`--new-only`); all other rows are from the run of {doc['kept_rows_date']} on the same machine type."
            "\n\n" if doc.get("kept_rows_date") and doc["kept_rows_date"] != doc["date"] else ""),
           "Thesis (Wilk 2025), 10-fold: KNN ensemble accuracy 0.842 / macro-F1 0.765; CNN 0.822 / 0.785. "
           "Targets: accuracy >= 0.92, macro-F1 >= 0.90.\n"
           "† = carried over from an earlier run (not recomputed in this run).\n"]
    main_models = [m for m in models if m.endswith("-k1") or m in ("knn-stack", *PROTO_MODELS)
                   or not m.startswith("knn")]
    for d in dsets:
        tab = []
        for m in main_models:
            a, f = get.get((m, d, "accuracy")), get.get((m, d, "macro_f1"))
            if a:
                tab.append({"model": m + (" †" if a.get("carried") else ""),
                            "accuracy": f"{a['value']:.3f} ± {a['sd']:.3f}",
                            "macro_f1": f"{f['value']:.3f} ± {f['sd']:.3f}"})
        out.append(f"\n## {d}\n\n" + markdown_table(tab, ["model", "accuracy", "macro_f1"]))
    d = "jaspar2024-cv10"
    tab = []
    for met in (*METRICS, "ensemble"):
        row = {"metric": met}
        for k in KS:
            a = get.get((f"knn-{met}-k{k}", d, "accuracy"))
            f = get.get((f"knn-{met}-k{k}", d, "macro_f1"))
            row[f"K={k}"] = f"{a['value']:.3f} / {f['value']:.3f}" if a else "-"
        tab.append(row)
    out.append("\n## KNN by K (10-fold; accuracy / macro-F1)\n\n" + markdown_table(tab, ["metric", *[f"K={k}" for k in KS]]))
    tab = [{"model": r["model"], "seconds": r["value"], "what": r.get("note", "predict all 2,112 motifs")}
           for r in rows if r["metric"] == "predict_seconds"]
    out.append("\n## Prediction time (all 2,112 motifs, 1 torch thread)\n\n" + markdown_table(tab, ["model", "seconds", "what"]))
    pc = [m for m in ("knn-ensemble-k1", "cnn-thesis", "ensemble-knn3-cnn", "knn-stack", "kmer-lr", *PROTO_MODELS)
          if (m, d, f"class_accuracy:{ds.classes[0]}") in get]
    tab = []
    for c, n in ds.counts().items():
        row = {"class": c, "motifs": n}
        for m in pc:
            row[m] = get[(m, d, f"class_accuracy:{c}")]["value"]
        tab.append(row)
    out.append("\n## Per-class accuracy (10-fold, pooled out-of-fold)\n\n" + markdown_table(tab, ["class", "motifs", *pc]))
    out.append(render_protocols(doc, get))
    reg = doc.get("analysis", {}).get("regression", {})
    if reg:
        out.append("\n## Per-class accuracy vs class overlap (OLS on within- and between-class overlap)\n\n")
        out.append(markdown_table([{"model": k + (" †" if v.get("carried") else ""), "R2": v["r2"],
                                    "R2_adj": v["r2_adj"]} for k, v in reg.items() if isinstance(v, dict)],
                                  ["model", "R2", "R2_adj"]))
        out.append("\nThesis R^2: 0.61 (CNN), 0.45 (KNN). Figures: `benchmarks/figures/family_*.png`.\n")
    return "".join(out)



def render_protocols(doc, get) -> str:
    """Markdown of the temporal and grouped-CV rows (empty when there are none)."""
    proto = doc.get("analysis", {}).get("protocols", {})
    dsets = [d for d in ("jaspar2020-to-2022", "jaspar2020-to-2024", "jaspar2024-grouped") if d in proto]
    if not dsets:
        return ""
    out = ["\n## Motifs the model has never seen: temporal split and grouped CV\n\n",
           "Temporal: trained on JASPAR 2020 CORE, tested on the motifs whose base ID first appears in JASPAR 2022 "
           "(resp. 2024); labels are the JASPAR 2024 TFClass classes; only classes with >= 20 training motifs are "
           "known, test motifs of other classes are not scored (the abstain rate on them is shown). Macro-F1 over "
           "the classes present in the test set. Grouped: 10-fold StratifiedGroupKFold on JASPAR 2024 with all "
           "motifs of one paralog group (TF name stem) in one fold; pooled out-of-fold accuracy / macro-F1 (± = SD "
           "of the per-fold accuracy). Coverage: share of motifs at or above the model's calibrated confidence "
           "threshold (grouped inner CV: 90% of the predictions above it right); accuracy (covered) on those.\n\n"]
    for d in dsets:
        p = proto[d]
        if "n_train" in p:
            out.append(f"* `{d}`: {p['n_train']} training motifs in {len(p['classes'])} known classes, {p['n_test']} "
                       f"test motifs of known classes, {p['n_test_unknown_class']} of classes the model does not "
                       f"know ({p['n_test_outside_20_classes']} outside the 20 JASPAR 2024 classes), "
                       f"{p['n_test_no_2024_annotation']} without a JASPAR 2024 annotation (dropped).\n")
        else:
            out.append(f"* `{d}`: {sum(p['fold_sizes'])} motifs, {p['n_groups']} paralog groups, fold sizes "
                       f"{min(p['fold_sizes'])}-{max(p['fold_sizes'])}.\n")
    tab = []
    for d in dsets:
        for m in PROTO_MODELS:
            a = get.get((m, d, "accuracy"))
            if not a:
                continue
            row = {"dataset": d, "model": m,
                   "accuracy": f"{a['value']:.3f}" + (f" ± {a['sd_folds']:.3f}" if "sd_folds" in a else ""),
                   "macro_f1": get[(m, d, "macro_f1")]["value"]}
            for k in ("coverage", "accuracy_covered", "unknown_class_abstained"):
                r = get.get((m, d, k))
                row[k] = r["value"] if r else "-"
            tab.append(row)
    cv = [(m, get.get((m, "jaspar2024-cv10", "accuracy")), get.get((m, "jaspar2024-cv10", "macro_f1")))
          for m in PROTO_MODELS]
    for m, a, f in cv:
        if a:
            tab.append({"dataset": "jaspar2024-cv10", "model": m, "accuracy": f"{a['value']:.3f} ± {a['sd']:.3f}",
                        "macro_f1": f["value"], "coverage": "-", "accuracy_covered": "-",
                        "unknown_class_abstained": "-"})
    out.append("\n" + markdown_table(tab, ["dataset", "model", "accuracy", "macro_f1", "coverage", "accuracy_covered",
                                           "unknown_class_abstained"]))
    for d in dsets:
        classes = proto[d].get("classes")
        rows = []
        for c in classes:
            row = {"class": c}
            for m in PROTO_MODELS:
                r = get.get((m, d, f"class_accuracy:{c}"))
                row[m] = r["value"] if r else float("nan")
            if any(not np.isnan(row[m]) for m in PROTO_MODELS):
                n = sum(next(iter(proto[d]["confusion"].values()))[classes.index(c)])
                rows.append({**row, "motifs": n})
        out.append(f"\n### Per-class recall, `{d}` (confusion matrices in family.json, analysis.protocols)\n\n"
                   + markdown_table(rows, ["class", "motifs", *PROTO_MODELS]))
    return "".join(out)


if __name__ == "__main__":
    sys.exit(main())
