"""BertSNR learning curve: nucleotide AUPRC vs fine-tuning windows seen, pretrained backbone vs from scratch.

Evidence for how far the CPU-budget BertSNR rows of ``snr.json`` are from convergence. Trains ``bertsnr`` and
``bertsnr-scratch`` on one TF (default FOXK1) for each budget of windows (the same recipe as ``benchmarks/snr.py``,
early stopping on), writes ``benchmarks/results/bertsnr_budget.json`` (long format; model = variant, dataset = TF,
metric ``nt_auprc@<windows>`` etc.) and a Markdown table. Resumable per (variant, budget).

Usage: ``python benchmarks/bertsnr_budget.py [--tf FOXK1] [--windows 12000 48000]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED, load_results, save_results  # noqa: E402

from tfscope.metrics import markdown_table  # noqa: E402
from tfscope.snr.train import train_snr  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tf", default="FOXK1")
    ap.add_argument("--windows", type=int, nargs="+", default=[12_000, 48_000])
    ap.add_argument("--models", nargs="+", default=["bertsnr", "bertsnr-scratch"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    table = SHARED / "tfbs-snr" / f"{args.tf}.tsv.gz"
    for n in args.windows:
        for model in args.models:
            doc = load_results("bertsnr_budget")
            if any(r["model"] == model and r["dataset"] == args.tf and r["metric"] == f"nt_auprc@{n}"
                   for r in doc["rows"]):
                continue
            r = train_snr(table, model=model, tf=args.tf, epochs=1, min_samples=n, verbose=False)
            seen = r["history"].get("samples_seen")
            for k, v in (("nt_auprc", r["metrics"]["nt_auprc"]), ("seq_auroc", r["metrics"]["seq_auroc"]),
                         ("windows_seen", seen), ("train_seconds", round(r["train_seconds"], 1))):
                doc["rows"].append({"model": model, "dataset": args.tf, "metric": f"{k}@{n}", "value": v})
            rows = {}
            for x in doc["rows"]:
                key, budget = x["metric"].split("@")
                rows.setdefault((x["model"], x["dataset"], int(budget)), {})[key] = x["value"]
            table_rows = [{"model": m, "TF": t, "budget windows": b, **v} for (m, t, b), v in sorted(rows.items())]
            md = (f"# BertSNR learning curve (fine-tuning windows budget)\n\nMachine: {doc['machine']}\n\n"
                  + markdown_table(table_rows, ["model", "TF", "budget windows", "windows_seen", "nt_auprc",
                                                "seq_auroc", "train_seconds"]))
            save_results(doc, md)
            print(f"{model} {n}: nt_auprc {r['metrics']['nt_auprc']:.3f} ({r['train_seconds']:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
