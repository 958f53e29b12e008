"""Family task (TF class from a motif): does training on more motif collections than JASPAR help (issue 33)?

    python benchmarks/family_collections.py [--extra PATH] [--protocols temporal grouped] [--leaky]
        [--variants jaspar extra] [--folds 0 1 ...] [--jobs 1]

Compares the shipped recipe ``knn-kmer-vote`` fitted on JASPAR only (exactly as ``benchmarks/family.py`` fits it)
with the same recipe fitted on JASPAR + the extra-collection motifs of ``resources/family_extra``
(:func:`tfscope.tfclass.collections.load_extra`; built by ``scripts/build_motif_collections.py``), under two
leakage-aware protocols:

* **Temporal** (:func:`tfscope.tfclass.splits.temporal_split`, JASPAR 2020 -> 2022 and 2020 -> 2024): every extra
  motif of a gene (:func:`~tfscope.tfclass.collections.gene_symbol`) that has a motif in the test years (scored or
  of a class the model does not know) is removed from training, and extra motifs of classes the training release
  does not know are left out. The test motifs are scored as a whole and in two parts: **unseen TF**
  (``<split>-unseen-tf``: the test motif's gene has no motif in the JASPAR 2020 training set) and **known TF, new
  motif** (``<split>-known-tf``). ``--leaky`` adds a control fitted with the test genes' extra motifs kept
  (``knn-kmer-vote+extra-leaky``), to show what the removal guards against.
* **Grouped CV** (``jaspar2024-grouped``, the 10 folds of ``benchmarks/family.py``: ``StratifiedGroupKFold`` over
  paralog groups of the 2,112 JASPAR 2024 motifs, seed 0). Only JASPAR motifs are scored; in each fold the extra
  motifs of every paralog group (:func:`~tfscope.tfclass.splits.paralog_group` of any of their genes) that has a
  motif in the test fold are removed, so groups are kept apart across collections.

Similarities: the JASPAR-only fits use the similarities of JASPAR motifs among themselves (as ``family.py``); the
+extra fits use one all-vs-all computation over JASPAR + all extra motifs, restricted to each fit's training
motifs (memelite's Tomtom null comes from all targets, so it also sees removed extra motifs; no labels involved).
Similarities and every fit's test probabilities are cached in ``benchmarks/checkpoints/family_collections/`` (those
that involve the extra motifs in ``extra-<digest of the extra file's content>/``).
Writes ``benchmarks/results/family_collections.json`` / ``.md``: accuracy and macro-F1 (over the classes present
in the scored motifs) per model and dataset, the paired bootstrap 95% interval of the +extra minus JASPAR-only
macro-F1 difference, and the counts of every filter step.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save_results  # noqa: E402

from tfscope.metrics import markdown_table, multiclass_metrics  # noqa: E402
from tfscope.tfclass.collections import default_path, gene_symbol, load_extra  # noqa: E402
from tfscope.tfclass.data import build_dataset  # noqa: E402
from tfscope.tfclass.kmer_profile import kmer_profile  # noqa: E402
from tfscope.tfclass.knn import METRICS, all_similarities  # noqa: E402
from tfscope.tfclass.splits import grouped_folds, paralog_group, temporal_split  # noqa: E402
from tfscope.tfclass.knn_kmer import DEFAULT_MODEL, make_model  # noqa: E402
from tfscope.tfclass.stack import normalise_similarity  # noqa: E402

CKPT = Path(__file__).parent / "checkpoints" / "family_collections"
KMER_K = 6
TEMPORAL = (("JASPAR2020", "JASPAR2022"), ("JASPAR2020", "JASPAR2024"))
BASE, EXTRA, LEAKY = DEFAULT_MODEL, f"{DEFAULT_MODEL}+extra", f"{DEFAULT_MODEL}+extra-leaky"
N_BOOT = 2000
_S = {}  # feature state per similarity set (inherited by forked fit jobs)
_TAG = {"extra": ""}  # content digest of the extra motifs: caches of +extra similarities and fits live under it


def extra_digest(extra) -> str:
    """Short SHA-1 of the extra motifs' ids and matrices (rounded to 4 decimals), naming their cache folder."""
    import hashlib

    h = hashlib.sha1("\n".join(extra.ids).encode())
    for p in extra.pfms:
        h.update(np.round(p, 4).tobytes())
    return h.hexdigest()[:10]


def cache_dir(name: str) -> Path:
    """Cache folder of a similarity set or fit: a per-extra-file subfolder for anything built on the extra motifs
    (names containing ``union``), the top folder for JASPAR only."""
    return CKPT / f"extra-{_TAG['extra']}" if "union" in name else CKPT


def cached_sims(name, queries, targets, exclude_self):
    """Raw similarity matrices (METRICS order) of ``queries`` x ``targets``, cached by ``name``."""
    f = cache_dir(name) / f"sims_{name}.npz"
    if f.exists():
        z = np.load(f)
        return [z[m] for m in METRICS]
    t = time.time()
    s = all_similarities(queries, targets, exclude_self=exclude_self)[0]
    print(f"similarities {name} ({len(queries)} x {len(targets)}): {time.time() - t:.0f} s", flush=True)
    f.parent.mkdir(parents=True, exist_ok=True)
    np.savez(f, **dict(zip(METRICS, s)))
    return s


def state(name, pfms_tr, pfms_q, y, groups):
    """Normalised train x train and query x train similarities, k-mer and gapped k-mer profiles of one motif set."""
    L_tr, L_q = np.array([p.shape[1] for p in pfms_tr]), np.array([p.shape[1] for p in pfms_q])
    s_tr = cached_sims(f"{name}_tr", pfms_tr, pfms_tr, True)
    s_q = cached_sims(f"{name}_q", pfms_q, pfms_tr, False) if pfms_q else None
    _S[name] = {"tr": [normalise_similarity(s, m, L_tr) for s, m in zip(s_tr, METRICS)],
                "q": None if s_q is None else [normalise_similarity(s, m, L_q) for s, m in zip(s_q, METRICS)],
                "k_tr": kmer_profile(pfms_tr, KMER_K), "g_tr": kmer_profile(pfms_tr, KMER_K, gapped=True),
                "k_q": kmer_profile(pfms_q, KMER_K) if pfms_q else None,
                "g_q": kmer_profile(pfms_q, KMER_K, gapped=True) if pfms_q else None,
                "y": np.asarray(y), "groups": np.asarray(groups)}


def fit_job(task):
    """Fit knn-kmer-vote on rows ``tr`` of state ``name`` and predict ``te`` (query rows when ``query``, else
    training-set rows: a CV fold). Cached per ``key``. Returns (key, proba, fit summary, seconds)."""
    key, name, C, tr, te, query = task
    f = cache_dir(name) / f"fit_{key}.npz"
    if f.exists():
        z = np.load(f, allow_pickle=True)
        return key, z["proba"], z["fit"].item(), float(z["seconds"])
    torch.set_num_threads(1)
    t = time.time()
    s = _S[name]
    m = make_model(DEFAULT_MODEL, C, k=KMER_K)
    m.fit([x[np.ix_(tr, tr)] for x in s["tr"]], s["k_tr"][tr], s["y"][tr], s["groups"][tr], gapped=s["g_tr"][tr])
    if query:
        p = m.predict_proba([x[np.ix_(te, tr)] for x in s["q"]], s["k_q"][te], s["g_q"][te])
    else:
        p = m.predict_proba([x[np.ix_(te, tr)] for x in s["tr"]], s["k_tr"][te], s["g_tr"][te])
    fit = {"n_train": int(len(tr)), "stack_C": m.stack.C_, "weight": m.weight_, "temperature": m.temperature_,
           "pool_temperature": m.pool_temperature_, "min_confidence": m.min_confidence_}
    secs = time.time() - t
    tmp = f.with_name(f.stem + ".tmp.npz")
    np.savez(tmp, proba=p, fit=np.array(fit, dtype=object), seconds=secs)
    tmp.replace(f)
    return key, p, fit, secs


def bootstrap_diff(y, pa, pb, n_classes, n=N_BOOT, seed=0):
    """Paired bootstrap over motifs of macro-F1(pb) - macro-F1(pa) (present classes): (2.5%, 97.5%) quantiles."""
    rng = np.random.default_rng(seed)
    d = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        d.append(multiclass_metrics(y[i], pb[i], n_classes, present_only=True)["macro_f1"]
                 - multiclass_metrics(y[i], pa[i], n_classes, present_only=True)["macro_f1"])
    return [float(np.quantile(d, 0.025)), float(np.quantile(d, 0.975))]


def extra_classes(extra, classes):
    """Class index per extra motif in ``classes`` (-1 for a class not in it)."""
    idx = {c: i for i, c in enumerate(classes)}
    return np.array([idx.get(c, -1) for c in extra.labels])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--extra", type=Path, default=default_path())
    ap.add_argument("--protocols", nargs="*", choices=("temporal", "grouped"), default=["temporal", "grouped"])
    ap.add_argument("--leaky", action="store_true", help="temporal control with the test genes' extra motifs kept")
    ap.add_argument("--variants", nargs="*", choices=("jaspar", "extra"), default=["jaspar", "extra"],
                    help="which fits to run: JASPAR only and/or JASPAR + extra (default both)")
    ap.add_argument("--folds", type=int, nargs="*", help="grouped CV: only these folds (0-9; default all 10); "
                    "rows are then named jaspar2024-grouped-folds<...> and pooled over those folds' motifs")
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    extra = load_extra(args.extra)
    _TAG["extra"] = extra_digest(extra)
    egenes = [[gene_symbol(g) for g in gs] for gs in extra.genes]
    egroups = [{paralog_group(g) for g in gs} for gs in egenes]
    doc = {"suite": "family_collections", "extra": {"path": str(args.extra), "n_motifs": len(extra),
                                                    "build": extra.meta}, "rows": [], "analysis": {}}
    tasks, setups = [], {}
    if "temporal" in args.protocols:
        splits = {f"jaspar{a[-4:]}-to-{b[-4:]}": temporal_split(a, b) for a, b in TEMPORAL}
        tr = next(iter(splits.values()))[0]
        assert all(s[0].ids == tr.ids for s in splits.values()), "temporal training sets differ"
        ec = extra_classes(extra, tr.classes)
        e_in = np.flatnonzero(ec >= 0)  # extra motifs of classes the JASPAR 2020 training set knows
        tests = [s[1] for s in splits.values()]
        q = [p for te in tests for p in te.pfms]
        qoff = np.cumsum([0] + [len(te) for te in tests])
        trg = [paralog_group(n) for n in tr.names]
        state("t2020_jaspar", tr.pfms, q, tr.labels, trg)
        state("t2020_union", tr.pfms + [extra.pfms[i] for i in e_in], q,
              np.concatenate([tr.labels, ec[e_in]]), trg + [paralog_group(egenes[i][0]) for i in e_in])
        train_genes = {gene_symbol(n) for n in tr.names}
        C = len(tr.classes)
        for k, (dname, (_, te, info)) in enumerate(splits.items()):
            unk = info["unknown_test"]
            test_genes = {gene_symbol(n) for n in te.names + unk.names}
            clean = np.array([not (set(egenes[i]) & test_genes) for i in e_in])
            qi = np.arange(qoff[k], qoff[k + 1])
            ntr = len(tr)
            tasks.append((f"{dname}_{BASE}", "t2020_jaspar", C, np.arange(ntr), qi, True))
            tasks.append((f"{dname}_{EXTRA}", "t2020_union", C, np.concatenate([np.arange(ntr),
                                                                                 ntr + np.flatnonzero(clean)]), qi,
                          True))
            if args.leaky:
                tasks.append((f"{dname}_{LEAKY}", "t2020_union", C, np.arange(ntr + len(e_in)), qi, True))
            known = np.array([gene_symbol(n) in train_genes for n in te.names])
            setups[dname] = {"test": te, "known": known, "classes": tr.classes}
            doc["analysis"][dname] = {
                "n_train_jaspar": ntr, "n_extra_of_known_classes": int(len(e_in)),
                "n_extra_removed_test_genes": int((~clean).sum()), "n_extra_used": int(clean.sum()),
                "n_test_genes": len(test_genes), "n_test": len(te), "n_test_known_tf": int(known.sum()),
                "n_test_unseen_tf": int((~known).sum()), "classes": tr.classes,
                "n_extra_used_per_class": {c: int(((ec[e_in][clean]) == i).sum()) for i, c in enumerate(tr.classes)}}
    if "grouped" in args.protocols:
        ds = build_dataset()
        ec = extra_classes(extra, ds.classes)
        assert (ec >= 0).all(), "extra motifs outside the 20 JASPAR 2024 classes"
        g24 = [paralog_group(n) for n in ds.names]
        state("g2024_jaspar", ds.pfms, [], ds.labels, g24)
        state("g2024_union", ds.pfms + extra.pfms, [], np.concatenate([ds.labels, ec]),
              g24 + [paralog_group(g[0]) for g in egenes])
        folds = grouped_folds(ds.names, ds.labels, 10, seed=0)
        n = len(ds)
        used = []
        fold_ids = sorted(set(args.folds)) if args.folds else list(range(len(folds)))
        for i in fold_ids:
            tr, te = folds[i]
            test_groups = {g24[j] for j in te}
            clean = np.array([not (eg & test_groups) for eg in egroups])
            used.append(int(clean.sum()))
            tasks.append((f"grouped{i}_{BASE}", "g2024_jaspar", len(ds.classes), tr, te, False))
            tasks.append((f"grouped{i}_{EXTRA}", "g2024_union", len(ds.classes),
                          np.concatenate([tr, n + np.flatnonzero(clean)]), te, False))
        gname = ("jaspar2024-grouped" if len(fold_ids) == len(folds) else
                 "jaspar2024-grouped-folds" + "-".join(map(str, fold_ids)))
        doc["analysis"][gname] = {"folds": fold_ids, "n_extra": len(extra), "n_extra_used_per_fold": used}
    run = {"jaspar": BASE, "extra": EXTRA}
    wanted = {run[v] for v in args.variants} | ({LEAKY} if args.leaky else set())
    tasks = [t for t in tasks if t[0].split("_", 1)[1] in wanted]
    # +extra fits first (the new ones), then JASPAR only, the leaky controls last
    tasks.sort(key=lambda t: (t[0].endswith("leaky"), not t[0].endswith("+extra")))
    res = {}
    if args.jobs > 1:
        with mp.get_context("fork").Pool(args.jobs) as pool:
            it = list(pool.imap_unordered(fit_job, tasks))
    else:
        it = map(fit_job, tasks)
    for key, p, fit, secs in it:
        res[key] = (p, fit)
        print(f"{key}: {secs:.0f} s, {fit}", flush=True)
    rows = doc["rows"]

    def add(model, dname, y, pred, C, **kw):
        mm = multiclass_metrics(y, pred, C, present_only=True)
        for met in ("accuracy", "macro_f1"):
            rows.append({"model": model, "dataset": dname, "metric": met, "value": float(mm[met]), "n": int(len(y)),
                         **kw})
        return mm

    models = [m for m in (BASE, EXTRA, LEAKY) if m in wanted]
    pair = BASE in wanted and EXTRA in wanted
    for dname, s in setups.items():
        y, known, C = s["test"].labels, s["known"], len(s["classes"])
        preds = {m: res[f"{dname}_{m}"][0].argmax(1) for m in models}
        doc["analysis"][dname]["fit"] = {m: res[f"{dname}_{m}"][1] for m in models}
        doc["analysis"][dname]["bootstrap_macro_f1_diff_95"] = {}
        for sub, mask in (("", np.ones(len(y), bool)), ("-unseen-tf", ~known), ("-known-tf", known)):
            for m in models:
                mm = add(m, dname + sub, y[mask], preds[m][mask], C)
                doc["analysis"][dname].setdefault("confusion", {})[f"{m}{sub}"] = mm["confusion"]
            if pair:
                doc["analysis"][dname]["bootstrap_macro_f1_diff_95"][dname + sub] = bootstrap_diff(
                    y[mask], preds[BASE][mask], preds[EXTRA][mask], C)
    if "grouped" in args.protocols:
        dname = gname
        idx = np.concatenate([folds[i][1] for i in fold_ids])
        y = ds.labels[idx]
        preds = {}
        for m in (m for m in (BASE, EXTRA) if m in wanted):
            preds[m] = np.concatenate([res[f"grouped{i}_{m}"][0].argmax(1) for i in fold_ids])
            mm = multiclass_metrics(y, preds[m], len(ds.classes), present_only=True)
            for met in ("accuracy", "macro_f1"):
                rows.append({"model": m, "dataset": dname, "metric": met, "value": float(mm[met]), "n": int(len(y)),
                             "note": "pooled out-of-fold, macro-F1 over the classes present"})
            doc["analysis"][dname].setdefault("per_class_recall", {})[m] = dict(zip(ds.classes,
                                                                                    mm["per_class_accuracy"]))
        if pair:
            doc["analysis"][dname]["bootstrap_macro_f1_diff_95"] = bootstrap_diff(y, preds[BASE], preds[EXTRA],
                                                                                  len(ds.classes))
    import datetime

    doc["date"], doc["machine"] = str(datetime.date.today()), machine()
    save_results(doc, render(doc))
    print(render(doc))
    return 0


def render(doc) -> str:
    """Markdown: one table of accuracy / macro-F1 per dataset and model, the bootstrap intervals and counts."""
    get = {(r["model"], r["dataset"], r["metric"]): r for r in doc["rows"]}
    dsets = list(dict.fromkeys(r["dataset"] for r in doc["rows"]))
    models = list(dict.fromkeys(r["model"] for r in doc["rows"]))
    table = []
    for d in dsets:
        row = {"dataset": d, "n test": str(next(get[(m, d, "accuracy")]["n"] for m in models
                                                if (m, d, "accuracy") in get))}
        for m in models:
            a, f = get.get((m, d, "accuracy")), get.get((m, d, "macro_f1"))
            row[m] = f"{a['value']:.3f} / {f['value']:.3f}" if a else ""
        table.append(row)
    out = [f"# Family task: JASPAR only vs JASPAR + extra motif collections (issue 33)\n\n{doc['date']}, "
           f"{doc['machine']}. Extra motifs: {doc['extra']['n_motifs']} (`{Path(doc['extra']['path']).name}`). "
           "Accuracy / macro-F1 (over the classes present); see `benchmarks/family_collections.py` for the "
           "protocols.\n\n",
           markdown_table(table, ["dataset", "n test"] + models), "\n\nPaired bootstrap 95% interval of macro-F1 "
           f"({EXTRA}) - macro-F1 ({BASE}):\n\n"]
    for d, a in doc["analysis"].items():
        b = a.get("bootstrap_macro_f1_diff_95")
        if isinstance(b, dict):
            out += [f"* {k}: [{v[0]:+.3f}, {v[1]:+.3f}]\n" for k, v in b.items()]
        elif b:
            out.append(f"* {d}: [{b[0]:+.3f}, {b[1]:+.3f}]\n")
    out.append("\nCounts:\n\n")
    for d, a in doc["analysis"].items():
        c = {k: v for k, v in a.items() if k.startswith("n_")}
        out.append(f"* {d}: {c}\n")
    return "".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
