"""Attribution localization benchmark: gradient vs integrated gradients vs ShiftSmooth on TFBS test positives.

For each test TF, positives of ``../shared/data/tfbs-moe`` that carry a FIMO hit (memelite, p < 1e-4, both
strands; p < 1e-3 for motifs shorter than 8 nt) of the TF's JASPAR 2024 motif are attributed with :func:`tfscope.interpret.attribute` (gradient x input,
integrated gradients from an all-zero baseline, ShiftSmooth x input with shifts in [-3, 3]). Per sequence and per
position the score is |sum over bases of the attribution|; we report

- ``frac_in_hit``: fraction of the total |attribution| that falls inside the FIMO hits (mean over sequences), next
  to ``hit_fraction_of_length`` (the value a position-agnostic attribution would get), and
- ``hit_auroc``: AUROC of the per-position |attribution| for "position inside a hit" (mean over sequences).

Models: the checkpoints written by ``benchmarks/moe.py --save-checkpoints benchmarks/checkpoints/moe`` (the TF's
own expert for in-distribution TFs, and the larger-pool MoE ``moe-pool`` for every TF); missing experts are
trained here with the settings of ``benchmarks/moe.py``.

Writes ``benchmarks/results/attribution.json`` / ``.md`` and ``benchmarks/figures/attribution_tracks.png``.

Usage: ``python benchmarks/attribution.py [--checkpoints benchmarks/checkpoints/moe] [--max-seqs 150]``
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED, load_results, save_results  # noqa: E402

from tfscope.interpret import attribute  # noqa: E402
from tfscope.metrics import markdown_table  # noqa: E402
from tfscope.io.deepbind import read_deepbind  # noqa: E402
from tfscope.sequence import one_hot  # noqa: E402

DATA = SHARED / "tfbs-moe"
METHODS = {"gradient": {}, "integrated_gradients": {"n_steps": 32}, "shiftsmooth": {"shift": 3}}
TFS = {"ARID3A": "id", "FOXM1": "id", "GATA3": "id", "CTCF": "ood"}
FIGURES = Path(__file__).parent / "figures"


def jaspar_pwm(tf: str) -> tuple[str, np.ndarray]:
    """Probability matrix (4, W) of the TF's JASPAR 2024 motif (CORE; FOXM1 only exists as UNVALIDATED)."""
    from pyjaspar import jaspardb

    ms = jaspardb(release="JASPAR2024").fetch_motifs_by_name(tf)
    ms = sorted(ms, key=lambda m: (m.collection != "CORE", -int(m.matrix_id.split(".")[1]), m.length))
    m = ms[0]
    pfm = np.array([m.counts[b] for b in "ACGT"], dtype=float)
    return m.matrix_id, pfm / pfm.sum(0, keepdims=True)


def hit_masks(x: np.ndarray, pwm: np.ndarray, threshold: float = 1e-4) -> np.ndarray:
    """Boolean ``(N, L)``: positions covered by a FIMO hit (memelite) of ``pwm`` on either strand."""
    from memelite import fimo

    df = fimo({"m": pwm}, x, threshold=threshold)[0]
    mask = np.zeros((len(x), x.shape[-1]), bool)
    for i, s, e in zip(df["sequence_name"], df["start"], df["end"]):
        mask[int(i), int(s):int(e)] = True
    return mask


def localization(attr: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    score = np.abs(attr.sum(1))
    frac = (score * mask).sum(1) / np.maximum(score.sum(1), 1e-12)
    auc = [roc_auc_score(m, s) for m, s in zip(mask, score) if 0 < m.sum() < len(m)]
    return {"frac_in_hit": float(frac.mean()), "hit_auroc": float(np.mean(auc)),
            "hit_fraction_of_length": float(mask.mean())}


def load_models(ckdir: Path, tf: str, seed: int) -> dict:
    from tfscope.checkpoint import load_checkpoint

    models = {}
    if TFS[tf] == "id":
        p = ckdir / f"expert-{tf}"
        if p.exists():
            models[f"expert-{tf}"] = load_checkpoint(p)[0]
        else:
            from moe import EXPERT_FIT, EXPERT_HP
            from tfscope.moe import load_training_set, train_expert

            path = next((DATA / "train").glob(f"{tf}_*"))
            s, y = load_training_set(path, seed=seed)
            models[f"expert-{tf}"] = train_expert(s, y, hparams=EXPERT_HP, seed=seed, **EXPERT_FIT)[0]
    if (ckdir / "moe-pool").exists():
        models["moe-pool"] = load_checkpoint(ckdir / "moe-pool")[0]
    return models


def figure(examples: list, path: Path) -> None:
    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, axes = plt.subplots(len(examples) * 3, 1, figsize=(14, 1.3 * 3 * len(examples)), squeeze=False)
    k = 0
    for title, attrs, mask in examples:
        for name, a in attrs.items():
            ax = axes[k, 0]
            logomaker.Logo(pd.DataFrame(a.T, columns=list("ACGT")), ax=ax)
            for j in np.flatnonzero(mask):
                ax.axvspan(j - 0.5, j + 0.5, color="gold", alpha=0.25, lw=0)
            ax.set_ylabel(name.replace("integrated_gradients", "IG"), fontsize=8)
            ax.set_xticks([])
            if name == "gradient":
                ax.set_title(title + " (gold: FIMO hit of the JASPAR motif)", fontsize=9)
            k += 1
    fig.tight_layout()
    from tfscope.io.atomic import atomic_write

    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoints", default=str(Path(__file__).parent / "checkpoints" / "moe"))
    ap.add_argument("--max-seqs", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    t_all = time.time()
    doc = load_results("attribution")
    doc["rows"] = []
    examples = []
    for tf, split in TFS.items():
        path = next((DATA / ("test" if split == "id" else "ood")).glob(f"{tf}_*"))
        t = read_deepbind(path, length=101)
        seqs = list(t["seq"][t["bound"] == 1])
        x = one_hot(seqs, length=101)
        mid, pwm = jaspar_pwm(tf)
        thr = 1e-4 if pwm.shape[1] >= 8 else 1e-3  # a 6-7 nt motif cannot reach p < 1e-4 (4**-6 = 2.4e-4)
        mask = hit_masks(x, pwm, threshold=thr)
        keep = np.flatnonzero(mask.any(1))
        n_hit = len(keep)
        keep = np.sort(np.random.default_rng(args.seed).permutation(keep)[: args.max_seqs])
        xs, ms = x[keep], mask[keep]
        print(f"{tf}: motif {mid}, {n_hit}/{len(x)} positives with a FIMO hit (p < {thr:g}); using {len(keep)}",
              flush=True)
        for mname, model in load_models(Path(args.checkpoints), tf, args.seed).items():
            attrs = {}
            for meth, kw in METHODS.items():
                t0 = time.time()
                a = attribute(model, xs, method=meth, **kw)
                attrs[meth] = a
                loc = localization(a, ms)
                for k, v in loc.items():
                    doc["rows"].append({"model": mname, "dataset": tf, "split": split, "method": meth, "metric": k,
                                        "value": v, "n_seqs": len(keep), "motif": mid, "fimo_p": thr,
                                        "positives_with_hit": n_hit, "positives": len(x)})
                doc["rows"].append({"model": mname, "dataset": tf, "split": split, "method": meth,
                                    "metric": "seconds", "value": round(time.time() - t0, 2), "n_seqs": len(keep)})
                print(f"  {mname} {meth}: frac_in_hit {loc['frac_in_hit']:.3f} hit_auroc {loc['hit_auroc']:.3f} "
                      f"(chance frac {loc['hit_fraction_of_length']:.3f})", flush=True)
            if mname.startswith("expert") or (split == "ood" and mname == "moe-pool"):
                with torch.no_grad():
                    logit = model(torch.tensor(xs)).numpy()
                i = int(np.argmax(logit))  # the most confident positive of this TF
                examples.append((f"{tf} test positive {keep[i]} ({mname}, motif {mid})",
                                 {m: a[i] for m, a in attrs.items()}, ms[i]))
    figure(examples, FIGURES / "attribution_tracks.png")
    doc["total_seconds"] = round(time.time() - t_all, 1)
    save_results(doc, render(doc))
    print(render(doc))


def render(doc: dict) -> str:
    rows = [r for r in doc["rows"] if r["metric"] != "seconds"]
    keys = list(dict.fromkeys((r["model"], r["dataset"]) for r in rows))
    val = {(r["model"], r["dataset"], r["method"], r["metric"]): r["value"] for r in rows}
    n = {(r["model"], r["dataset"]): r["n_seqs"] for r in rows}
    table = []
    for m, d in keys:
        row = {"model": m, "test set": d, "seqs": n[(m, d)],
               "chance frac": val.get((m, d, "gradient", "hit_fraction_of_length"), math.nan)}
        for meth in METHODS:
            row[f"{meth} frac"] = val.get((m, d, meth, "frac_in_hit"), math.nan)
            row[f"{meth} AUROC"] = val.get((m, d, meth, "hit_auroc"), math.nan)
        table.append(row)
    means = {"model": "mean", "test set": "", "seqs": sum(r["seqs"] for r in table),
             "chance frac": float(np.mean([r["chance frac"] for r in table]))}
    for meth in METHODS:
        for k in ("frac", "AUROC"):
            means[f"{meth} {k}"] = float(np.mean([r[f"{meth} {k}"] for r in table]))
    table.append(means)
    cols = ["model", "test set", "seqs", "chance frac"] + [f"{m} {k}" for m in METHODS for k in ("frac", "AUROC")]
    return (f"# Attribution localization on FIMO hits of JASPAR 2024 motifs\n\nMachine: {doc['machine']}; date "
            f"{doc['date']}. frac: mean fraction of |attribution| inside hits; AUROC: mean per-sequence AUROC of "
            "|attribution| for hit positions. Figure: figures/attribution_tracks.png\n\n"
            + markdown_table(table, cols) + "\n")


if __name__ == "__main__":
    main()
