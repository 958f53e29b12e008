"""Exploration harness of issue 18 (third round): candidate combiners around ``knn-kmer-clogit``, scored on the
protocols of motifs the model has never seen (JASPAR 2020 -> 2022, 2020 -> 2024, grouped 10-fold CV on 2024) and
on the random 10-fold CV, fitting every base model once per split.

Candidates (all fixed before any test split was scored; weights equal or chosen by the training set's grouped inner
CV, never by a test split):

* ``clogit``: the default knn-kmer-clogit; ``z4pool``: the same fit's two parts (z-scored k-mer profiles, k-mer
  correlation as fourth stack metric) log-linearly pooled with its inner-CV weight, temperature fitted on the grouped
  inner out-of-fold pool; ``dedup``: knn-kmer-dedup.
* ``avg-*``: equal-weight soft votes (mean of calibrated probabilities) of those; ``*-innercv``: the soft-vote
  weight in {0, 0.1, ..., 1} with the smallest grouped inner out-of-fold NLL on the training motifs.
* ``clogit-cnn``: the thesis CNN (:class:`~tfscope.tfclass.model.FamilyCNN`) as a third expert of the conditional
  logit (its inner out-of-fold log probabilities from CNNs trained on the same grouped inner folds).
* ``avg-gap5-gap5pool``: the equal-weight soft vote of ``clogit-gap5`` and its own pooled parts (ideas 1 and 3
  together; added after the first temporal screen). Shipped in the fourth round as the package recipe
  ``knn-kmer-vote`` (:data:`tfscope.tfclass.knn_kmer.RECIPES`, the default), which this harness now fits.
* ``gapkmer-lr``: logistic regression on row-standardised gapped 6-mer profiles
  (:func:`~tfscope.tfclass.kmer_profile.kmer_profile` with ``gapped=True``); ``clogit-gapexpert``: it as a third
  expert of the conditional logit; ``clogit-gap5``: knn-kmer-clogit with the gapped-profile correlation as a fifth
  stack metric.

Reuses :mod:`family` (similarities, temporal states, folds). Per-split outputs are cached in
``benchmarks/checkpoints/family_explore/`` (git-ignored), so the run resumes. Prints accuracy / macro-F1 per
candidate and protocol (temporal: over the classes present in the test set; grouped: pooled out-of-fold; 10-fold:
mean over folds, as ``benchmarks/family.py`` reports them) and writes them to
``benchmarks/results/family_explore.json`` / ``.md`` (rows of protocols not rerun are kept). The winner,
``avg-gap5-gap5pool``, is ``knn-kmer-vote`` in ``tfscope.tfclass.knn_kmer.RECIPES``, measured by ``benchmarks/family.py``.

Usage: ``python benchmarks/family_explore.py [--protocols temporal grouped cv10] [--parts cl dedup gap gap5 cnn]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.special import log_softmax

sys.path.insert(0, str(Path(__file__).parent))
import family as fam  # noqa: E402

from common import load_results, save_results  # noqa: E402
from tfscope.metrics import markdown_table, multiclass_metrics  # noqa: E402
from tfscope.tfclass.data import build_dataset  # noqa: E402
from tfscope.tfclass.kmer_profile import KmerLogistic, kmer_profile, kmer_similarity  # noqa: E402
from tfscope.tfclass.knn import METRICS  # noqa: E402
from tfscope.tfclass.splits import grouped_folds, paralog_group  # noqa: E402
from tfscope.tfclass.combine import (conditional_logit_log_proba, fit_conditional_logit, fit_temperature,  # noqa: E402
                                    pool_log_proba, soft_vote_log_proba)
from tfscope.tfclass.knn_kmer import RECIPES, KnnKmer, make_model  # noqa: E402
from tfscope.tfclass.stack import inner_splits, normalise_similarity  # noqa: E402
from tfscope.tfclass.train import predict_cnn, train_cnn  # noqa: E402

OUT = Path(__file__).parent / "checkpoints" / "family_explore"
MIX = np.round(np.linspace(0, 1, 11), 1)


def part_cl(sp, fifth=False):
    """knn-kmer-clogit fitted once: its own and its pooled parts' calibrated log probabilities (test and grouped
    inner out-of-fold) and what a refit of the conditional logit with more experts needs. With ``fifth`` the
    gapped-profile correlation is a fifth stack metric (keys prefixed ``gap5``): the package's ``knn-kmer-vote``,
    whose two combiners are ``gap5`` and ``gap5pool``. Without it, the same vote machinery on knn-kmer-clogit's
    recipe gives ``clogit`` and ``z4pool`` (the vote does not change the conditional logit's fit)."""
    recipe = RECIPES["knn-kmer-vote"] if fifth else {**RECIPES["knn-kmer-clogit"], "vote": True}
    gk_tr, gk_q = (sp["gk_tr"], sp["gk_q"]) if fifth else (None, None)
    m = KnnKmer(sp["C"], k=fam.KMER_K, seed=sp["seed"], **recipe).fit(sp["sims_tr"], sp["k_tr"], sp["y"], sp["g"],
                                                                       gapped=gk_tr)
    io = m.inner_oof_
    y = sp["y"]
    shape = (len(y), -1, sp["C"], m.top)
    cl_oof = conditional_logit_log_proba(io["stack_features"].reshape(shape), np.stack([io["kmer"], io["stack"]]),
                                         *m.clogit_, m.temperature_)
    lp = m.combiner_log_proba(sp["sims_q"], sp["k_q"], gk_q)
    a, b = ("gap5", "gap5pool") if fifth else ("clogit", "z4pool")
    out = {f"{a}_q": lp["clogit"], f"{a}_oof": cl_oof, f"{b}_q": lp["pool"],
           f"{b}_oof": pool_log_proba(io["stack"], io["kmer"], m.weight_, m.pool_temperature_)}
    if not fifth:
        F_tr = m.stack.features(list(sp["sims_tr"]) + [kmer_similarity(sp["k_tr"], sp["k_tr"], exclude_self=True)])
        f_q = m.stack.features(m.stack_sims(sp["sims_q"], sp["k_q"]))
        lps_q, lpk_q = m.stack.head.log_proba(f_q), m.kmer.log_proba_profile(sp["k_q"])
        out.update({"F_tr": F_tr, "F_q": f_q, "lps_oof": io["stack"], "lpk_oof": io["kmer"],
                    "f_oof": io["stack_features"], "lps_q": lps_q, "lpk_q": lpk_q, "top": m.top, "weight": m.weight_})
    return out


def part_dedup(sp):
    m = make_model("knn-kmer-dedup", sp["C"], k=fam.KMER_K, seed=sp["seed"])
    m.fit(sp["sims_tr"], sp["k_tr"], sp["y"], sp["g"])
    io = m.inner_oof_
    return {"dedup_q": m.predict_log_proba(sp["sims_q"], sp["k_q"]),
            "dedup_oof": pool_log_proba(io["stack"], io["kmer"], m.weight_, m.temperature_)}


def part_gap(sp):
    """Gapped 6-mer logistic regression: grouped inner out-of-fold and full-fit log probabilities."""
    y, C = sp["y"], sp["C"]
    oof = np.zeros((len(y), C))
    for itr, iva in inner_splits(y, sp["g"], 3, sp["seed"]):
        oof[iva] = KmerLogistic(C, row_standardise=True).fit_profile(sp["gk_tr"][itr], y[itr]).log_proba_profile(
            sp["gk_tr"][iva])
    q = KmerLogistic(C, row_standardise=True).fit_profile(sp["gk_tr"], y).log_proba_profile(sp["gk_q"])
    return {"gap_oof": oof, "gap_q": q}


def part_gap5(sp):
    """knn-kmer-clogit with the gapped-profile correlation as a fifth stack metric (and its pooled parts)."""
    return part_cl(sp, fifth=True)


def part_cnn(sp):
    """Thesis CNN: grouped inner out-of-fold and full-fit log probabilities."""
    torch.set_num_threads(1)
    y, C = sp["y"], sp["C"]
    oof = np.zeros((len(y), C))
    for j, (itr, iva) in enumerate(inner_splits(y, sp["g"], 3, sp["seed"])):
        net, _ = train_cnn([sp["p_tr"][i] for i in itr], y[itr], C, seed=j, device="cpu")
        oof[iva] = np.log(np.clip(predict_cnn(net, [sp["p_tr"][i] for i in iva]), 1e-12, None))
    net, _ = train_cnn(sp["p_tr"], y, C, seed=0, device="cpu")
    return {"cnn_oof": oof, "cnn_q": np.log(np.clip(predict_cnn(net, sp["p_q"]), 1e-12, None))}


PARTS = {"cl": part_cl, "dedup": part_dedup, "gap": part_gap, "gap5": part_gap5, "cnn": part_cnn}


def clogit_extra(r, y, C, extra_oof, extra_q):
    """The conditional logit refitted with extra experts (inner out-of-fold log probabilities for fitting), its
    temperature fitted on the grouped out-of-fold stack features as in KnnKmer."""
    shape = (len(y), -1, C, int(r["top"]))
    E = np.stack([r["lpk_oof"], r["lps_oof"], *extra_oof])
    theta = fit_conditional_logit(r["F_tr"].reshape(shape), E, y, lam=0.01)
    z = conditional_logit_log_proba(r["f_oof"].reshape(shape), E, *theta)
    T = fit_temperature(z, y)
    Eq = np.stack([r["lpk_q"], r["lps_q"], *extra_q])
    return conditional_logit_log_proba(r["F_q"].reshape(len(r["F_q"]), -1, C, int(r["top"])), Eq, *theta, T)


mix = soft_vote_log_proba  # log((1 - w) p_a + w p_b)


def candidates(r, y, C):
    """Candidate name -> test log probabilities from the cached parts ``r`` of one split."""
    out = {}
    for k in ("clogit", "z4pool", "dedup", "gap5", "gap5pool"):
        if f"{k}_q" in r:
            out[k] = r[f"{k}_q"]
    if "gap_q" in r:
        out["gapkmer-lr"] = r["gap_q"]
    if "cnn_q" in r:
        out["cnn-thesis"] = r["cnn_q"]
    rows = np.arange(len(y))
    for other in ("z4pool", "dedup"):
        if "clogit_q" in r and f"{other}_q" in r:
            a, b, ao, bo = r["clogit_q"], r[f"{other}_q"], r["clogit_oof"], r[f"{other}_oof"]
            out[f"avg-clogit-{other}"] = mix(a, b, 0.5)
            out[f"geo-clogit-{other}"] = log_softmax(0.5 * a + 0.5 * b, axis=1)
            nll = [-mix(ao, bo, w)[rows, y].mean() for w in MIX]
            w = MIX[int(np.argmin(nll))]
            out[f"avg-clogit-{other}-innercv"] = mix(a, b, w)
            out.setdefault("_weights", {})[f"avg-clogit-{other}-innercv"] = float(w)
    if "gap5pool_q" in r:  # ideas 1 and 3 together: the soft vote of the five-metric fit and its own pool
        out["avg-gap5-gap5pool"] = mix(r["gap5_q"], r["gap5pool_q"], 0.5)
    if all(f"{k}_q" in r for k in ("clogit", "z4pool", "dedup")):
        out["avg3-clogit-z4pool-dedup"] = np.log((np.exp(r["clogit_q"]) + np.exp(r["z4pool_q"])
                                                 + np.exp(r["dedup_q"])) / 3)
    if "F_tr" in r and "gap_q" in r:
        out["clogit-gapexpert"] = clogit_extra(r, y, C, [r["gap_oof"]], [r["gap_q"]])
    if "F_tr" in r and "cnn_q" in r:
        out["clogit-cnn"] = clogit_extra(r, y, C, [r["cnn_oof"]], [r["cnn_q"]])
    if "F_tr" in r and "cnn_q" in r and "gap_q" in r:
        out["clogit-gap-cnn"] = clogit_extra(r, y, C, [r["gap_oof"], r["cnn_oof"]], [r["gap_q"], r["cnn_q"]])
    return out


def run_split(name, sp, parts):
    """Fit the requested parts of one split (cached per part and inner-CV seed) and return the merged outputs."""
    OUT.mkdir(parents=True, exist_ok=True)
    r = {}
    for part in parts:
        tag = f"_seed{sp['seed']}" if sp["seed"] else ""
        f = OUT / f"{name}_{part}{tag}.npz"
        if not f.exists():
            t = time.time()
            res = PARTS[part](sp)
            tmp = f.with_name(f.stem + ".tmp.npz")
            np.savez(tmp, **res)
            tmp.replace(f)
            print(f"  {name} {part}: {time.time() - t:.0f} s", flush=True)
        z = np.load(f)
        r.update({k: z[k] for k in z.files})
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocols", nargs="+", default=["temporal", "grouped", "cv10"],
                    choices=("temporal", "grouped", "cv10"))
    ap.add_argument("--parts", nargs="+", default=["cl", "dedup", "gap"], choices=list(PARTS))
    ap.add_argument("--folds", type=int, nargs="+", default=list(range(10)), help="grouped / cv10 folds to run")
    ap.add_argument("--seed", type=int, default=0, help="inner-CV seed of every fit (datasets get a -seed suffix)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    gapped = bool({"gap", "gap5"} & set(args.parts))
    scores = {}  # candidate -> protocol -> (accuracy, macro-F1)
    if "temporal" in args.protocols:
        for a, b in fam.TEMPORAL:
            dname = f"jaspar{a[-4:]}-to-{b[-4:]}"
            tr, te, info, st = fam.temporal_state(a, b)
            dname += f"-seed{args.seed}" if args.seed else ""
            n = st["n_known"]
            sp = {"sims_tr": st["sims_tr"], "sims_q": st["sims_q"], "k_tr": st["kmers_tr"], "k_q": st["kmers_q"],
                  "y": st["y"], "g": st["groups"], "C": st["C"], "p_tr": st["pfms_tr"], "p_q": st["pfms_q"],
                  "seed": args.seed}
            if gapped:
                sp["gk_tr"], sp["gk_q"] = (kmer_profile(p, fam.KMER_K, gapped=True) for p in (sp["p_tr"], sp["p_q"]))
            r = run_split(dname, sp, args.parts)
            for cand, lp in candidates(r, st["y"], st["C"]).items():
                if cand.startswith("_"):
                    print(f"  {dname} inner-CV weights: {lp}")
                    continue
                mm = multiclass_metrics(te.labels, lp[:n].argmax(1), st["C"], present_only=True)
                scores.setdefault(cand, {})[dname] = (mm["accuracy"], mm["macro_f1"])
    if {"grouped", "cv10"} & set(args.protocols):
        ds = build_dataset()
        y, C = ds.labels, len(ds.classes)
        sims, _, _ = fam.similarities(ds)
        L = np.array([p.shape[1] for p in ds.pfms])
        nsims = [normalise_similarity(sims[m], m, L) for m in METRICS]
        del sims
        kmers = kmer_profile(ds.pfms, fam.KMER_K)
        gk = kmer_profile(ds.pfms, fam.KMER_K, gapped=True) if gapped else None
        groups = np.array([paralog_group(n) for n in ds.names])
        for proto in ("grouped", "cv10"):
            if proto not in args.protocols:
                continue
            fl = grouped_folds(ds.names, y, 10, seed=0) if proto == "grouped" else fam.folds(y, 10)
            dname = f"jaspar2024-{proto}" + (f"-seed{args.seed}" if args.seed else "")
            pred, per_fold = {}, {}
            for i in args.folds:
                tr, te = fl[i]
                sp = {"sims_tr": [s[np.ix_(tr, tr)] for s in nsims], "sims_q": [s[np.ix_(te, tr)] for s in nsims],
                      "k_tr": kmers[tr], "k_q": kmers[te], "y": y[tr], "g": groups[tr], "C": C,
                      "p_tr": [ds.pfms[j] for j in tr], "p_q": [ds.pfms[j] for j in te], "seed": args.seed}
                if gapped:
                    sp["gk_tr"], sp["gk_q"] = gk[tr], gk[te]
                r = run_split(f"{dname}_{i}", sp, args.parts)
                for cand, lp in candidates(r, y[tr], C).items():
                    if cand.startswith("_"):
                        continue
                    pred.setdefault(cand, np.full(len(y), -1))[te] = lp.argmax(1)
                    per_fold.setdefault(cand, []).append(multiclass_metrics(y[te], lp.argmax(1), C))
            for cand in pred:
                if proto == "grouped":
                    done = pred[cand] >= 0
                    mm = multiclass_metrics(y[done], pred[cand][done], C)
                    scores.setdefault(cand, {})[dname] = (mm["accuracy"], mm["macro_f1"])
                else:
                    scores.setdefault(cand, {})[dname] = (np.mean([m["accuracy"] for m in per_fold[cand]]),
                                                          np.mean([m["macro_f1"] for m in per_fold[cand]]))
    doc = load_results("family_explore")
    have = {(c, d) for c, v in scores.items() for d in v}
    doc["rows"] = [r for r in doc["rows"] if (r["model"], r["dataset"]) not in have]
    for cand, v in scores.items():
        for d, (acc, f1) in v.items():
            doc["rows"] += [{"model": cand, "dataset": d, "metric": "accuracy", "value": float(acc)},
                            {"model": cand, "dataset": d, "metric": "macro_f1", "value": float(f1)}]
    md = render(doc)
    save_results(doc, md)
    print(md)
    return 0


def render(doc) -> str:
    """Markdown: one row per candidate, accuracy / macro-F1 per protocol."""
    get = {(r["model"], r["dataset"], r["metric"]): r["value"] for r in doc["rows"]}
    order = ("jaspar2020-to-2022", "jaspar2020-to-2024", "jaspar2024-grouped", "jaspar2024-cv10")
    dsets = sorted({r["dataset"] for r in doc["rows"]},
                   key=lambda d: (order.index(d.split("-seed")[0]) if d.split("-seed")[0] in order else 9, d))
    tab = []
    for cand in dict.fromkeys(r["model"] for r in doc["rows"]):
        row = {"candidate": cand}
        for d in dsets:
            a, f = get.get((cand, d, "accuracy")), get.get((cand, d, "macro_f1"))
            row[d] = f"{a:.3f} / {f:.3f}" if a is not None else "-"
        tab.append(row)
    return (f"# TF class: issue 18 round-3 candidates (exploration, `benchmarks/family_explore.py`)\n\n"
            f"Machine: {doc['machine']}; date {doc['date']}. Accuracy / macro-F1. Temporal: JASPAR 2020 -> first "
            "seen in 2022 / 2024, macro-F1 over the classes present; grouped: 10-fold paralog-grouped CV on JASPAR "
            "2024, pooled out-of-fold; cv10: stratified 10-fold CV (seed 0), mean over folds. Target (issue 18): "
            "macro-F1 >= 0.906 (2022) and >= 0.874 (2024), 10-fold macro-F1 >= 0.903.\n\n"
            + markdown_table(tab, ["candidate", *dsets]))


if __name__ == "__main__":
    sys.exit(main())
