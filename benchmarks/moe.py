"""Mixture-of-experts TFBS benchmark (arXiv 2507.09754) on ../shared/data/tfbs-moe, in- and out-of-distribution.

Trains the paper's three DeepBind-style experts (ARID3A, FOXM1, GATA3; positives vs seeded dinucleotide shuffles),
the paper's 3-expert MoE (frozen experts, gating network, head; two-stage), and our larger-pool model: a
"generalist" expert trained on the pooled bound windows of the 45 TFs of ../shared/data/tfbs-snr (and the 3
training TFs) with reverse-complement augmentation, added to the pool of the MoE. Every model is evaluated with
30 MC-dropout trials on the 3 in-distribution test sets and the 6 OOD sets; rows hold the trial mean (``value``)
and standard deviation (``std``). Per test set: one-way ANOVA across our models' trial AUROCs and Tukey HSD.

Writes ``benchmarks/results/moe.json`` (long format, ``split`` = ``id``|``ood``) and ``moe.md``.

Usage: ``python benchmarks/moe.py [--seed 0] [--trials 30] [--save-checkpoints DIR] [--quick]``
(checkpoints default to ``benchmarks/checkpoints/moe``, git-ignored).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED, load_results, save_results  # noqa: E402

from tfscope.io import read_snr_table  # noqa: E402
from tfscope.metrics import markdown_table  # noqa: E402
from tfscope.io.deepbind import read_deepbind  # noqa: E402
from tfscope.moe import (anova_tukey, fit_length, load_training_set, mc_dropout_metrics,  # noqa: E402
                         tf_name, train_expert, train_moe)
from tfscope.sequence import one_hot  # noqa: E402

DATA = SHARED / "tfbs-moe"
# paper-like expert: DeepBind CNN (one conv layer, width 24, max+avg pooling, 32-unit hidden layer, dropout 0.5)
EXPERT_HP = {"filters": 64, "width": 24, "hidden": 32, "dropout": 0.5}
EXPERT_FIT = {"epochs": 4, "lr": 3e-3, "patience": 1}
# generalist expert (beyond the paper): two conv layers, both strands, trained on the pooled tfbs-snr TFs
GENERALIST_HP = {"filters": 64, "width": 11, "hidden": 32, "conv2": 64, "dropout": 0.3, "rc": True}
GENERALIST_FIT = {"epochs": 3, "lr": 3e-3, "patience": 1, "augment_rc": True}
SNR_PER_TF = 4000  # training rows (half bound, half shuffled) drawn per tfbs-snr TF
PUBLISHED = {"moe": "published-moe", "expert_ARID3A": "published-expert-ARID3A",
             "expert_FOXM1": "published-expert-FOXM1", "expert_GATA3": "published-expert-GATA3"}


def test_sets() -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
    out = {}
    for split, sub in (("id", "test"), ("ood", "ood")):
        for p in sorted((DATA / sub).glob("*.seq.gz")):
            t = read_deepbind(p, length=101)
            out[tf_name(p)] = (split, one_hot(list(t["seq"]), length=101), t["bound"])
    return out


def published_rows() -> list[dict]:
    rows = []
    with open(DATA / "published_auc.csv") as fh:
        for r in csv.DictReader(fh):
            rows.append({"model": PUBLISHED.get(r["model"], "published-" + r["model"]), "dataset": r["dataset_tf"],
                         "split": "id" if r["data_type"] == "in_distribution" else "ood", "metric": "auroc",
                         "value": float(r["mean_auc"]), "std": float(r["std_auc"]), "trials": 30})
    return rows


def snr_pool(seed: int, per_tf: int) -> tuple[list[str], np.ndarray]:
    """Training rows of the tfbs-snr tables (paper's train split; bound windows + their shuffles), 100 -> 101 nt."""
    rng = np.random.default_rng(seed)
    seqs, ys = [], []
    for p in sorted((SHARED / "tfbs-snr").glob("*.tsv.gz")):
        t = read_snr_table(p)
        tr = np.flatnonzero(t["split"] == "train")
        idx = np.sort(rng.choice(tr, min(per_tf, len(tr)), replace=False))
        seqs += fit_length(t["sequence"][idx], 101)
        ys.append(t["bound"][idx])
    return seqs, np.concatenate(ys)


def evaluate(name: str, model, tests, trials: int, seed: int, samples: dict) -> list[dict]:
    rows = []
    for tf, (split, x, y) in tests.items():
        m = mc_dropout_metrics(model, x, y, trials=trials, seed=seed)
        samples.setdefault(tf, {})[name] = m["auroc"]
        for k in ("auroc", "auprc"):
            rows.append({"model": name, "dataset": tf, "split": split, "metric": k, "value": float(m[k].mean()),
                         "std": float(m[k].std()), "trials": trials})
    mid = np.mean([r["value"] for r in rows if r["metric"] == "auroc" and r["split"] == "id"])
    mood = np.mean([r["value"] for r in rows if r["metric"] == "auroc" and r["split"] == "ood"])
    print(f"[{name}] mean AUROC id {mid:.3f} ood {mood:.3f}", flush=True)
    return rows


def render(doc: dict) -> str:
    rows = [r for r in doc["rows"] if r["metric"] in ("auroc", "auprc")]
    models = list(dict.fromkeys(r["model"] for r in rows))
    sets = list(dict.fromkeys(r["dataset"] for r in rows))
    val = {(r["model"], r["dataset"], r["metric"]): r["value"] for r in rows}
    split = {r["dataset"]: r["split"] for r in rows}
    out = [f"# MoE benchmark (arXiv 2507.09754 data; DeepBind format)\n\nMachine: {doc['machine']}; date "
           f"{doc['date']}. Values: mean of {doc.get('trials', 30)} MC-dropout trials. Published rows: "
           "published_auc.csv (AUROC only).\n"]
    summ = []
    for m in models:
        r = {"model": m}
        for sp in ("id", "ood"):
            for k in ("auroc", "auprc"):
                v = [val[(m, s, k)] for s in sets if split[s] == sp and (m, s, k) in val]
                r[f"mean {sp} {k}"] = float(np.mean(v)) if v else math.nan
        r["train_s"] = doc.get("train_seconds", {}).get(m, math.nan)
        summ.append(r)
    out.append("## Means\n\n" + markdown_table(summ, ["model", "mean id auroc", "mean ood auroc", "mean id auprc",
                                                     "mean ood auprc", "train_s"]))
    per = []
    for s in sets:
        r = {"test set": f"{s} ({split[s]})"}
        for m in models:
            r[m] = val.get((m, s, "auroc"), math.nan)
        per.append(r)
    out.append("\n## AUROC per test set\n\n" + markdown_table(per, ["test set", *models]))
    st = doc.get("stats", {})
    if st:
        lines = []
        for s, a in st.items():
            sig = [f"{t['a']} vs {t['b']} ({t['meandiff']:+.3f})" for t in a["tukey"] if t["reject"]]
            lines.append({"test set": s, "ANOVA F": a["F"], "p": a["p"], "Tukey HSD significant pairs":
                          f"{len(sig)}/{len(a['tukey'])}"})
        out.append(f"\n## One-way ANOVA across our models ({doc.get('trials', 30)} MC-dropout AUROCs each) and Tukey HSD "
                   "(alpha 0.05)\n\n"
                   + markdown_table(lines, ["test set", "ANOVA F", "p", "Tukey HSD significant pairs"],
                                    floatfmt=".3g"))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--save-checkpoints", default=str(Path(__file__).parent / "checkpoints" / "moe"),
                    help="directory for expert/MoE checkpoints (used by benchmarks/attribution.py); '' = none")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (subsampled data, 1 epoch)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t_all = time.time()
    doc = load_results("moe")
    doc["rows"], doc["trials"], doc["train_seconds"] = [], args.trials, {}
    tests = test_sets()
    samples: dict = {}
    rows = []
    cap = 1000 if args.quick else None
    fitq = {"epochs": 1} if args.quick else {}

    experts, names, seqs_all, y_all = [], [], [], []
    for p in sorted((DATA / "train").glob("*.seq.gz")):
        tf = tf_name(p)
        s, y = load_training_set(p, seed=args.seed, max_positives=cap)
        t0 = time.time()
        m, _ = train_expert(s, y, hparams=EXPERT_HP, seed=args.seed, desc=f"expert-{tf}", **{**EXPERT_FIT, **fitq})
        doc["train_seconds"][f"expert-{tf}"] = round(time.time() - t0, 1)
        experts.append(m)
        names.append(tf)
        seqs_all += s
        y_all.append(y)
        rows += evaluate(f"expert-{tf}", m, tests, args.trials, args.seed, samples)
    y_all = np.concatenate(y_all)

    t0 = time.time()
    moe3, _ = train_moe(experts, [EXPERT_HP] * 3, seqs_all, y_all, names=names, seed=args.seed,
                        **({"epochs": 2} if args.quick else {}))
    doc["train_seconds"]["moe-3"] = round(time.time() - t0, 1)
    rows += evaluate("moe-3", moe3, tests, args.trials, args.seed, samples)

    # beyond the paper: a generalist expert from the 45 tfbs-snr TFs + the 3 training TFs, RC augmentation
    t0 = time.time()
    gs, gy = snr_pool(args.seed, 200 if args.quick else SNR_PER_TF)
    sub = np.random.default_rng(args.seed).permutation(len(seqs_all))[: len(seqs_all) // 2]
    gs += [seqs_all[i] for i in sub]
    gy = np.concatenate([gy, y_all[sub]])
    gen, _ = train_expert(gs, gy, hparams=GENERALIST_HP, seed=args.seed, desc="generalist", verbose=True,
                          **{**GENERALIST_FIT, **fitq})
    doc["train_seconds"]["generalist"] = round(time.time() - t0, 1)
    rows += evaluate("generalist", gen, tests, args.trials, args.seed, samples)

    # larger-pool MoE: the 3 paper experts + the generalist; its gate and head (stage 2) are trained on the
    # 3 expert TFs' data plus as many tfbs-snr rows, so the gating sees TFs that no TF-specific expert covers
    t0 = time.time()
    pool_hp = [EXPERT_HP] * 3 + [GENERALIST_HP]
    k = min(len(seqs_all), len(gy) - len(sub))
    pick = np.random.default_rng(args.seed + 1).permutation(len(gy) - len(sub))[:k]
    s2 = seqs_all + [gs[i] for i in pick]
    y2 = np.concatenate([y_all, gy[pick]])
    best, _ = train_moe(experts + [gen], pool_hp, s2, y2, names=names + ["generalist"], seed=args.seed,
                        **({"epochs": 2} if args.quick else {}))
    doc["train_seconds"]["moe-pool"] = round(time.time() - t0, 1)
    rows += evaluate("moe-pool", best, tests, args.trials, args.seed, samples)
    for r in rows:
        if r["model"] == "moe-pool":
            rows.append({**r, "model": "best"})

    if args.save_checkpoints:
        from tfscope.checkpoint import save_checkpoint

        d = Path(args.save_checkpoints)
        for tf, m in zip(names, experts):
            save_checkpoint(d / f"expert-{tf}", m, model_name="deepbind", task="moe", hparams=EXPERT_HP)
        save_checkpoint(d / "generalist", gen, model_name="deepbind", task="moe", hparams=GENERALIST_HP)
        for nm, m, hp in (("moe-3", moe3, [EXPERT_HP] * 3), ("moe-pool", best, pool_hp)):
            save_checkpoint(d / nm, m, model_name="moe", task="moe",
                            hparams={"expert_hparams": hp, "expert_names": m.expert_names})

    stats = {}
    for tf, smp in samples.items():
        a = anova_tukey(smp)
        stats[tf] = a
        rows.append({"model": "anova", "dataset": tf, "split": tests[tf][0], "metric": "anova_F", "value": a["F"],
                     "p": a["p"], "models": list(smp)})
    doc["stats"] = stats
    doc["rows"] = rows + published_rows()
    doc["total_seconds"] = round(time.time() - t_all, 1)
    save_results(doc, render(doc))
    print(render(doc))


if __name__ == "__main__":
    main()
