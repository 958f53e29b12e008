"""Calls on real genomic background: the zoos, the multi-label model and a FIMO baseline over 1 Mbp of chr8.

Input (as ``benchmarks/scan.py``): the first 1,000,000 bp of chr8 windows of ``../shared/data/tfbs-multilabel``
(the test chromosome; every window holds a JASPAR ChIP-seq site of at least one of the 45 TFs, so the background is
regulatory DNA bound by *other* TFs), concatenated in genomic order into 10 records of 100 kb. A window's label for
a TF is whether the multi-label set lists the TF (a whole site inside the window).

Models, all over the same sequence:

- ``zoo-shuffled``: the BertSNR-protocol zoo (shuffled negatives only; ``tfscope scan --zoo shuffled``);
- ``zoo-genomic``: the default zoo (:mod:`tfscope.zoo.gated`): the multi-TF detector below says whether a TF binds
  near a nucleotide, the shuffled zoo's per-TF model of the TF says where; gate and thresholds chosen on chr7 and
  tfbs-snr validation rows;
- ``zoo-genomic-detector`` (recorded, not rerun: since 2026-11-24 the detector inside ``zoo-genomic``): the multi-TF
  model alone, trained on every train-chromosome genome window plus shuffles (:mod:`tfscope.zoo.multitask`),
  nucleotide + window loss, strands averaged, thresholds calibrated on chr7;
- ``zoo-genomic-lam03`` (recorded, not rerun: replaced 2026-11-24 by its continuation): the same model after phase 4
  (window term ``lam = 0.3``), scanned with the max of the two strands;
- ``zoo-genomic-nt`` (recorded, not rerun: replaced 2026-11-24 by its continuation): the same model before the window
  term, trained with the nucleotide loss only (2026-11-24 run);
- ``zoo-genomic-pertf`` (recorded, not rerun: its models were replaced): the first genomic zoo, 45 per-TF 16-channel
  CNNs each trained against 4 genomic negatives per positive window (2026-11-22 run);
- ``multilabel-cnn``: the best model of ``benchmarks/multilabel.py`` (plain CNN, 45 outputs), retrained here with
  its budget (``--ml-seconds``) on train chromosomes, thresholds tuned on chr7, scoring each 100 bp window;
- ``fimo-jaspar``: memelite FIMO with each TF's JASPAR 2022 matrix; calls are hits at p < 1e-4 (both strands),
  window scores the best FIMO log-odds score of a hit at p < 1e-3 overlapping the window (windows without one
  rank last).

Metrics (dataset ``chr8``): ``window_auroc``/``window_auprc`` (mean over the 45 TFs; per-TF rows under dataset
``chr8:<TF>``) and ``calls_per_mbp`` (all TFs; zoo calls = BED sites of ``tfscope scan``; multi-label calls =
windows at or above the TF threshold). Also dataset ``tfbs-snr``, metric ``nt_auprc_mean``: the zoo's mean test
nucleotide AUPRC on the paper protocol (from the checkpoints). Nothing here is tuned on chr8.

Writes ``benchmarks/results/genomic.json`` and ``genomic.md``.

Usage: ``python benchmarks/genomic.py [--bp 1000000] [--ml-seconds 330] [--models zoo-shuffled ...] [--render-only]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import (SHARED, keep_first_build, load_results, mean_window_metrics, real_sequence,  # noqa: E402
                    save_results, window_max)

from tfscope.metrics import markdown_table  # noqa: E402

HERE = Path(__file__).parent
MODELS = ["zoo-shuffled", "zoo-genomic", "multilabel-cnn", "fimo-jaspar"]
#: rows kept from earlier runs of models that no longer ship (rendered after the ones run here)
RECORDED = ["zoo-genomic-detector", "zoo-genomic-lam03", "zoo-genomic-nt", "zoo-genomic-pertf"]
WINDOWS = SHARED / "tfbs-multilabel" / "windows.tsv.gz"


def run_zoo(kind: str, seqs: dict, names: list[str], workers: int):
    """Window scores ``(T, nW)``, calls, seconds and the paper-protocol mean nt AUPRC of one bundled zoo."""
    from tfscope.scan.engine import scan
    from tfscope.zoo.registry import list_zoo, load_zoo

    models = load_zoo(names, kind=kind)
    t0 = time.time()
    sites, tracks = scan(models, seqs, keep_tracks=True, workers=workers)
    dt = time.time() - t0
    score = window_max(tracks, seqs, len(models))
    snr = float(np.mean([r["nt_auprc"] for r in list_zoo(kind=kind) if r["TF"] in names]))
    return score, len(sites), dt, {"nt_auprc_mean": snr}


def run_fimo(seqs: dict, names: list[str]):
    """FIMO calls at p < 1e-4 and window scores from hits at p < 1e-3 (see the module docstring)."""
    from memelite import fimo

    from tfscope.io.jaspar import jaspar_motif, motif_pfm
    from tfscope.sequence import one_hot

    pwms = {}
    for tf in names:
        pfm = motif_pfm(jaspar_motif(tf))
        pwms[tf] = pfm / pfm.sum(0, keepdims=True)
    recs = list(seqs)
    size = len(seqs[recs[0]])
    x = one_hot([seqs[r] for r in recs], length=size)
    t0 = time.time()
    calls = sum(len(h) for h in fimo(pwms, x, threshold=1e-4))
    hits = fimo(pwms, x, threshold=1e-3)
    dt = time.time() - t0
    n_win = len(recs) * size // 100
    score = np.full((len(names), n_win), -1e9, np.float64)
    for t, h in enumerate(hits):
        if not len(h):
            continue
        base = h["sequence_name"].to_numpy().astype(np.int64) * size
        first = (base + h["start"].to_numpy()) // 100
        last = (base + h["end"].to_numpy() - 1) // 100
        sc = h["score"].to_numpy()
        for w in (first, last):
            np.maximum.at(score[t], w, sc)
    return score, calls, dt, {}


def run_multilabel(names: list[str], n_windows: int, seconds: float):
    """Best multi-label model of benchmarks/multilabel.py: window scores on the first chr8 windows and calls."""
    import torch

    from tfscope.io.windows import load_windows
    from tfscope.multilabel.train import train_multilabel

    torch.set_num_threads(1)  # the multi-label benchmark's setting
    data = load_windows(WINDOWS)
    t0 = time.time()
    r = train_multilabel(data, model="cnn", max_seconds=seconds, verbose=False,
                         out=HERE / "checkpoints" / "genomic" / "multilabel-cnn")
    dt = time.time() - t0
    te = data.part("test")
    order = np.lexsort((te.start,))[:n_windows]  # chr8 windows in genomic order, as real_sequence builds them
    cols = [data.labels.index(t) for t in names]
    probs = r["test_probs"][order][:, cols].T  # (T, nW)
    thr = np.asarray(r["thresholds"])[cols][:, None]
    return probs, int((probs >= thr).sum()), dt, {"train_seconds": r["train_seconds"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bp", type=int, default=1_000_000)
    ap.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    ap.add_argument("--ml-seconds", type=float, default=330.0, help="training budget of multilabel-cnn (s)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--render-only", action="store_true", help="rewrite genomic.md from genomic.json and exit")
    args = ap.parse_args()
    from tfscope.zoo.registry import zoo_tfs

    names = zoo_tfs()
    doc = load_results("genomic")
    keep_first_build(doc, FIRST_BUILD)
    if args.render_only:
        save_results(doc, render(doc, names, args.bp), stamp=False)
        return
    seqs, labels = real_sequence(args.bp)
    keep = [r for r in doc["rows"] if r["model"] not in args.models]
    doc["rows"] = keep
    per_tf_all = doc.setdefault("per_tf", {})
    for model in args.models:
        if model.startswith("zoo-"):
            score, calls, dt, extra = run_zoo(model[4:], seqs, names, args.workers)
        elif model == "fimo-jaspar":
            score, calls, dt, extra = run_fimo(seqs, names)
        else:
            score, calls, dt, extra = run_multilabel(names, len(labels), args.ml_seconds)
        per_tf = {}
        acc = mean_window_metrics(score, labels, names, per_tf)
        rows = [("chr8", k, v) for k, v in acc.items()]
        rows += [("chr8", "calls_per_mbp", calls / (args.bp / 1e6)), ("chr8", "seconds", dt)]
        rows += [("tfbs-snr" if k == "nt_auprc_mean" else "chr8", k, v) for k, v in extra.items()]
        rows += [(f"chr8:{tf}", k, v) for tf, m in per_tf.items() for k, v in m.items()]
        doc["rows"] += [{"model": model, "dataset": ds, "metric": k, "value": round(float(v), 4)} for ds, k, v in rows]
        per_tf_all[model] = per_tf
        print(model, json.dumps({**acc, "calls_per_mbp": calls / (args.bp / 1e6), "seconds": dt, **extra}),
              flush=True)
        save_results(doc, render(doc, names, args.bp))


#: what changed in ``../shared/data`` on 2026-12-05 (rows measured before it are kept under ``first_build``)
FIRST_BUILD = ("Measured on the first build of `../shared/data`, whose windows and sites of 14 TFs (ASCL1 BATF3 CTCFL "
               "FOXK1 FOXK2 GATA6 KLF4 MXI1 MYC MYCN NFYC POU5F1 RFX1 TFDP1) sat at hg38 positions read as hg19, so "
               "window labels across the two groups were lost (and the zoos of those rows were trained on them).")


def _summary(val: dict, models) -> list[dict]:
    return [{"model": m, "window AUROC": val.get((m, "chr8", "window_auroc"), float("nan")),
             "window AUPRC": val.get((m, "chr8", "window_auprc"), float("nan")),
             "calls per Mbp": val.get((m, "chr8", "calls_per_mbp"), float("nan")),
             "tfbs-snr nt AUPRC": val.get((m, "tfbs-snr", "nt_auprc_mean"), float("nan")),
             "seconds": val.get((m, "chr8", "seconds"), float("nan"))} for m in models]


def render(doc: dict, names: list[str], bp: int) -> str:
    val = {(r["model"], r["dataset"], r["metric"]): r["value"] for r in doc["rows"]}
    models = [m for m in MODELS + RECORDED if (m, "chr8", "window_auprc") in val]
    summary = _summary(val, models)
    fb = doc.get("first_build") or {}
    old = {(r["model"], r["dataset"], r["metric"]): r["value"] for r in fb.get("rows", [])}
    first = _summary(old, [m for m in MODELS + RECORDED if (m, "chr8", "window_auprc") in old])
    per_tf = [{"TF": tf, **{m: val.get((m, f"chr8:{tf}", "window_auprc"), float("nan")) for m in models},
               "chr8 positives": val.get((models[0], f"chr8:{tf}", "n_pos"), float("nan")) if models else 0}
              for tf in names]
    return (f"# Calls on real genomic background (chr8)\n\nMachine: {doc.get('machine')}; date {doc.get('date')}.\n\n"
            f"{len(names)} TFs over the first {bp:,} bp of chr8 windows of tfbs-multilabel (regulatory DNA: each "
            "window holds a site of some TF). Window AUROC/AUPRC: each 100 bp window scored by the model's highest "
            "probability in it (FIMO: best hit score at p < 1e-3), against whether the window holds a site of the "
            "TF; mean over TFs. Calls per Mbp: all TFs together (zoo: BED sites at each model's threshold; FIMO: "
            "hits at p < 1e-4; multi-label: windows at the chr7-tuned threshold). tfbs-snr nt AUPRC: mean test "
            "nucleotide AUPRC of the zoo on the BertSNR paper protocol. Thresholds and early stopping use chr7 "
            "only. seconds: scanning wall time with 2 workers (multi-label: training + prediction; a multi-TF "
            "zoo runs its shared trunk once in one process). Models that no longer ship (zoo-genomic-detector, "
            "-lam03, -nt, -pertf) were measured on the first build only (table below).\n\n"
            + markdown_table(summary, ["model", "window AUROC", "window AUPRC", "calls per Mbp",
                                       "tfbs-snr nt AUPRC", "seconds"], floatfmt=".3f")
            + (f"\n## First build of the shared data (kept for comparison)\n\n{fb['note']} Date {fb.get('date')}."
               "\n\n" + markdown_table(first, ["model", "window AUROC", "window AUPRC", "calls per Mbp",
                                                "tfbs-snr nt AUPRC", "seconds"], floatfmt=".3f") if first else "")
            + "\n## Window AUPRC per TF\n\n"
            + markdown_table(per_tf, ["TF", *models, "chr8 positives"], floatfmt=".3f"))


if __name__ == "__main__":
    main()
