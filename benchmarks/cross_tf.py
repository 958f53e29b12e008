"""Cross-TF matrix: each zoo model (trained on one TF) tested on the test windows of every TF of its family.

Families (as in BertSNR's cross-TF analysis): E2F, AP-1, NF-Y, KLF/SP, GATA, RFX. Writes
``benchmarks/results/cross_tf.json`` (long format; model = ``dilated:<trained TF>``, dataset = tested TF,
metrics nt_auprc and seq_auroc), ``cross_tf.md`` and ``benchmarks/figures/cross_tf.png`` (heatmaps).

Usage: ``python benchmarks/cross_tf.py [--checkpoints DIR]`` (default: the bundled zoo)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED, load_results, save_results  # noqa: E402

from tfscope.checkpoint import load_checkpoint  # noqa: E402
from tfscope.snr.data import load_snr  # noqa: E402
from tfscope.metrics import markdown_table, snr_metrics  # noqa: E402
from tfscope.snr.train import predict_windows  # noqa: E402
from tfscope.resources import resource  # noqa: E402

FAMILIES = {"E2F": ["E2F1", "E2F4", "E2F6", "TFDP1"], "AP-1": ["FOSL1", "FOSL2", "JUNB", "BATF3", "BATFJUN"],
            "NF-Y": ["NFYA", "NFYB", "NFYC"], "KLF/SP": ["KLF4", "KLF5", "SP1", "SP2"],
            "GATA": ["GATA2", "GATA3", "GATA6"], "RFX": ["RFX1", "RFX2", "RFX5"]}


def main():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # the committed cross_tf.json was measured on the shuffled-negative (BertSNR protocol) zoo
    ap.add_argument("--checkpoints", default=str(resource("zoo", "shuffled")))
    args = ap.parse_args()
    doc = load_results("cross_tf")
    doc["rows"] = []
    md = ["# Cross-TF matrix (models trained on one TF, tested on another of the family)\n"]
    fig, axes = plt.subplots(1, len(FAMILIES), figsize=(4 * len(FAMILIES), 4))
    for ax, (fam, tfs) in zip(axes, FAMILIES.items()):
        tests = {}
        for t in tfs:
            d = load_snr(SHARED / "tfbs-snr" / f"{t}.tsv.gz")
            tests[t] = d.subset(d.split == "test")
        mat = np.zeros((len(tfs), len(tfs)))
        rows = []
        for i, a in enumerate(tfs):
            net, _ = load_checkpoint(Path(args.checkpoints) / a, task="snr")
            r = {"trained on": a}
            for j, b in enumerate(tfs):
                p_nt, p_seq = predict_windows(net, tests[b].x)
                m = snr_metrics(tests[b].y_nt, p_nt, tests[b].y_seq, p_seq)
                mat[i, j] = m["nt_auprc"]
                r[b] = m["nt_auprc"]
                for k in ("nt_auprc", "seq_auroc"):
                    doc["rows"].append({"model": f"dilated:{a}", "dataset": b, "metric": k, "value": m[k],
                                        "family": fam})
            rows.append(r)
        md.append(f"\n## {fam} (nucleotide AUPRC; rows: trained on, columns: tested on)\n\n"
                  + markdown_table(rows, ["trained on", *tfs]))
        im = ax.imshow(mat, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(tfs)), tfs, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(tfs)), tfs, fontsize=8)
        for i in range(len(tfs)):
            for j in range(len(tfs)):
                ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="w" if mat[i, j] < 0.6 else "k")
        ax.set_title(fam)
        print(fam, np.round(mat, 3).tolist(), flush=True)
    fig.colorbar(im, ax=axes, fraction=0.02, label="nucleotide AUPRC")
    fig.supxlabel("tested on")
    out = Path(__file__).parent / "figures" / "cross_tf.png"
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    save_results(doc, "\n".join(md))


if __name__ == "__main__":
    main()
