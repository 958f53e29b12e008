"""Why does BertSNR's multi-task model trail its single-task variant? (issue 31, item 1 and 2)

Each variant fine-tunes the shipped pretrained backbone (``resources/backbone``) on a few TFs with the budget of
``benchmarks/snr.py`` (:data:`BERT_WINDOWS` windows seen, lr 3e-4, batch 64, patience 4) and is scored on the
**validation** rows (the 10% of the paper's train split that :func:`tfscope.snr.data.train_valid_test` carves out
for early stopping; never the test split), so the winner can then be run on the 45-TF test table without having
been chosen on it. Variants:

* ``multitask`` (today's ``bertsnr``): ``lam = 0.5``, sequence head on ``[CLS]``.
* ``multitask-lam0.1``, ``multitask-lam0.2``: less weight on the sequence loss. With ``lam = 0.5`` the sequence
  BCE (one balanced label per window) is several times the token BCE (mostly negative tokens) and dominates the
  gradient that reaches the encoder.
* ``multitask-mean``: the sequence head reads the mean of the token states instead of ``[CLS]``.
* ``single`` (today's ``bertsnr-single``): token loss only.
* ``*-freeze2``: embeddings and the lowest 2 of 4 encoder layers frozen (the CPU-cost cut of item 2).
* ``*-bf16``: bfloat16 autocast while fine-tuning (:func:`tfscope.device.autocast`; AMX on the project's Xeon),
  fp32 master weights, fp32 scoring.

Resumable: (variant, TF) pairs already in ``benchmarks/results/bertsnr_ablation.json`` are skipped unless
``--redo``; the JSON and ``.md`` are rewritten atomically after every run.

Usage: ``python benchmarks/bertsnr_ablation.py [--tfs KLF4 E2F1 FOXK1] [--variants multitask single ...]
[--windows 12000]``
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED, load_results, save_results  # noqa: E402
from snr import BERT_WINDOWS  # noqa: E402

from tfscope.metrics import markdown_table, snr_metrics  # noqa: E402
from tfscope.snr.data import load_snr, train_valid_test  # noqa: E402
from tfscope.snr.train import predict_windows, train_snr  # noqa: E402

SUITE = "bertsnr_ablation"
VARIANTS = {
    "multitask": {"model": "bertsnr", "lam": 0.5},
    "multitask-lam0.2": {"model": "bertsnr", "lam": 0.2},
    "multitask-lam0.1": {"model": "bertsnr", "lam": 0.1},
    "multitask-mean": {"model": "bertsnr", "lam": 0.5, "hparams": {"seq_pool": "mean"}},
    "multitask-lam0.1-mean": {"model": "bertsnr", "lam": 0.1, "hparams": {"seq_pool": "mean"}},
    "single": {"model": "bertsnr-single"},
    "multitask-lam0.1-freeze2": {"model": "bertsnr", "lam": 0.1, "freeze_layers": 2},
    "single-freeze2": {"model": "bertsnr-single", "freeze_layers": 2},
    "multitask-lam0.1-bf16": {"model": "bertsnr", "lam": 0.1, "amp": "bf16"},
    "single-bf16": {"model": "bertsnr-single", "amp": "bf16"},
}
TFS = ["KLF4", "E2F1", "FOXK1"]  # the three TFs of the committed bertsnr rows of snr.json
METRICS = ("valid_nt_auprc", "valid_nt_auroc", "valid_seq_auroc", "train_seconds", "windows_per_second",
           "windows_seen")


def run_one(variant: str, tf: str, *, windows: int, seed: int, device: str) -> dict[str, float]:
    """Fine-tune one variant on one TF and score it on that TF's validation rows -> metric values."""
    spec = dict(VARIANTS[variant])
    table = SHARED / "tfbs-snr" / f"{tf}.tsv.gz"
    t = time.time()
    res = train_snr(table, model=spec.pop("model"), epochs=1, min_samples=windows, seed=seed, device=device,
                    **spec)
    secs = time.time() - t
    _, va, _ = train_valid_test(load_snr(table), seed=seed)  # the same rows train_snr validated on
    p_nt, p_seq = predict_windows(res["net"], va.x, device=device)
    m = snr_metrics(va.y_nt, p_nt, va.y_seq, p_seq)
    seen = int(res["history"].get("samples_seen") or 0)
    return {"valid_nt_auprc": m["nt_auprc"], "valid_nt_auroc": m["nt_auroc"], "valid_seq_auroc": m["seq_auroc"],
            "train_seconds": round(secs, 1), "windows_seen": seen,
            "windows_per_second": round(seen / max(res["train_seconds"], 1e-9), 1) if seen else math.nan}


def render(doc: dict) -> str:
    val = {(r["model"], r["dataset"], r["metric"]): r["value"] for r in doc["rows"]}
    variants = list(dict.fromkeys(r["model"] for r in doc["rows"]))
    tfs = list(dict.fromkeys(r["dataset"] for r in doc["rows"]))
    rows = []
    for v in variants:
        row = {"variant": v, "TFs": sum((v, t, "valid_nt_auprc") in val for t in tfs)}
        for t in tfs:
            row[t] = val.get((v, t, "valid_nt_auprc"), math.nan)
        for k in ("valid_nt_auprc", "valid_seq_auroc", "windows_per_second"):
            x = [val[(v, t, k)] for t in tfs if (v, t, k) in val and val[(v, t, k)] is not None]
            row["mean " + k] = float(np.mean(x)) if x else math.nan
        rows.append(row)
    return (f"# BertSNR ablation: validation rows (issue 31)\n\nMachine: {doc['machine']}; date {doc['date']}. "
            f"Shipped backbone, {doc.get('windows', BERT_WINDOWS):,} fine-tuning windows per run, lr 3e-4, batch "
            "64, patience 4; nucleotide AUPRC on the validation rows (10% of the paper's train split), never the "
            "test split.\n\n"
            + markdown_table(rows, ["variant", "TFs", *tfs, "mean valid_nt_auprc", "mean valid_seq_auroc",
                                    "mean windows_per_second"], floatfmt=".3f"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tfs", nargs="+", default=TFS, help="TFs (tfbs-snr table names)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), help="variants to run")
    ap.add_argument("--windows", type=int, default=BERT_WINDOWS, help="fine-tuning windows per run")
    ap.add_argument("--seed", type=int, default=0, help="seed (split, initialisation of the heads, batches)")
    ap.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    ap.add_argument("--redo", action="store_true", help="rerun pairs already in the results")
    args = ap.parse_args()
    doc = load_results(SUITE)
    doc["windows"] = args.windows
    for tf in args.tfs:
        for v in args.variants:
            if not args.redo and any(r["model"] == v and r["dataset"] == tf for r in doc["rows"]):
                continue
            vals = run_one(v, tf, windows=args.windows, seed=args.seed, device=args.device)
            doc["rows"] = [r for r in doc["rows"] if not (r["model"] == v and r["dataset"] == tf)]
            doc["rows"] += [{"model": v, "dataset": tf, "metric": k, "value": vals[k]} for k in METRICS]
            save_results(doc, render(doc))
            print(f"{tf} {v}: valid nt AUPRC {vals['valid_nt_auprc']:.3f} ({vals['train_seconds']:.0f} s)",
                  flush=True)
    print(render(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
