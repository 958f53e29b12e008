"""Any TF in one scan (issue 41): motif-conditioned calls for TFs no model was trained on, against FIMO.

Per-site protocol of ``benchmarks/sites.py``: the first 10,000 tfbs-multilabel windows of chr8 (1 Mbp, genomic
order), each scanned as its own record; truth = ``../shared/data/tfbs-multilabel/sites.bed.gz``; a call matches
when it overlaps a true site of its TF; a true site wholly inside a window is recalled when a call of its TF
overlaps it. Candidates are FIMO hits (memelite, p < 1e-3, both strands) of each zoo TF's JASPAR 2024 matrix; one
call per binding event (the best hit of the matrix among those closer than its width).

Rows (``dataset`` ``chr8`` = mean over the 45 TFs, ``chr8:<TF>`` per TF):

- ``motif-conditioned-lgo``: each TF scored by the fold model that was trained without its paralog group (5 folds
  of groups); calls at the one precision threshold chosen on chr7 for every matrix; precision from the chr7
  leave-group-out maps (``call_ece`` on chr8 = calibration for unseen TFs);
- ``fimo-jaspar-matched``: FIMO with the same matrix, its p-value threshold tuned per TF on chr7 (best site F1);
- ``pwm-floor``: FIMO hits through the PWM precision maps (per IC bin) at one precision threshold (chosen on chr7): what
  a matrix gets when the floor applies;
- ``motif-conditioned-seen`` (reference): the shipped network, trained on all 45 TFs (not zero-shot);
- ``zoo-genomic`` (reference): the trained zoo, copied from ``sites.json`` (site F1) and ``genomic.json`` (window
  AUPRC) of the same windows.

Metrics: ``site_f1`` (+ precision, recall), ``window_auprc`` (the best candidate score of each window against its
tfbs-multilabel labels; the zoo's from ``genomic.json``), ``nt_auprc`` (BertSNR protocol: tfbs-snr test split, first
:data:`NT_ROWS` rows of each TF, nucleotide score = best candidate score covering it, 0 elsewhere), ``call_ece``
(10 bins, calls pooled; ``call_ece_tf_mean``: the mean over TFs of each TF's own ECE). Speed: 879 JASPAR 2024 matrices over 1 Mbp of chr8 (10 records) with
:func:`tfscope.anytf.scan.scan_motifs` vs the 45-TF zoo's scan of the same records vs memelite FIMO of the 879
matrices, on this machine, in one run.

Needs ``scripts/build_anytf.py`` outputs in ``--work`` (candidates, fold predictions, fold checkpoints).

Usage: ``python benchmarks/any_tf.py [--work /work/ckpts/anytf] [--skip-speed] [--skip-nt] [--speed-only] [--zoo-only]
[--render-only]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from common import SHARED, load_results, real_sequence, save_results  # noqa: E402

from tfscope.metrics import markdown_table  # noqa: E402

HERE = Path(__file__).parent
NT_ROWS = 2000
MODELS = ["motif-conditioned-lgo", "fimo-jaspar-matched", "pwm-floor", "motif-conditioned-seen", "zoo-genomic"]


def nt_auprc(work: Path, tfs, motifs, fold_of: dict) -> tuple[dict, dict]:
    """TF -> nucleotide AUPRC on its tfbs-snr test rows for the leave-group-out model and for FIMO."""
    import torch

    from tfscope.anytf.candidates import candidate_features, contexts, find_candidates, score_range
    from tfscope.anytf.train import score_candidates
    from tfscope.checkpoint import load_checkpoint
    from tfscope.io.tables import read_snr_table
    from tfscope.metrics import binary_metrics
    from tfscope.sequence import one_hot

    torch.set_num_threads(1)
    models = {}
    mc, fi = {}, {}
    for i, (tf, m) in enumerate(zip(tfs, motifs)):
        k = fold_of[tf]
        if k not in models:
            models[k] = load_checkpoint(work / f"model_fold{k}", task="anytf")[0]
        t = read_snr_table(SHARED / "tfbs-snr" / f"{tf}.tsv.gz")
        test = np.flatnonzero(t["split"] == "test")[:NT_ROWS]
        seqs = [t["sequence"][j] for j in test]
        x = one_hot(seqs, length=100)
        y = np.zeros((len(test), 100), np.float32)
        for r, j in enumerate(test):
            if t["bound"][j] > 0:
                y[r, int(t["site_start"][j]):int(t["site_end"][j])] = 1
        c = find_candidates([m.probs], x)
        lo, hi = score_range([m.probs])
        f = candidate_features(c, lo, hi)
        p = score_candidates(models[k], contexts(x, c), c.motif, [m], f) if len(c) else np.zeros(0)
        nl = -np.log10(np.maximum(c.pvalue, 1e-300))
        for store, s in ((mc, p), (fi, nl)):
            track = np.zeros((len(test), 100))
            for a in range(len(c)):
                sl = track[c.seq[a], c.start[a]:c.end[a]]
                np.maximum(sl, s[a], out=sl)
            store[tf] = binary_metrics(y.ravel(), track.ravel())["auprc"]
        print(f"nt {tf}: lgo {mc[tf]:.3f} fimo {fi[tf]:.3f}", flush=True)
    return mc, fi


def window_auprc(d: dict, score: np.ndarray, windows, tfs) -> dict:
    """TF -> AUPRC of each window's best candidate score against the window's labels."""
    from tfscope.metrics import binary_metrics

    out = {}
    for i, tf in enumerate(tfs):
        sel = d["motif"] == i
        best = np.zeros(len(windows))
        np.maximum.at(best, d["win"][sel], np.nan_to_num(score[sel], nan=0.0))
        y = np.array([tf in lab for lab in windows.labels], np.float32)
        if 0 < y.sum() < len(y):
            out[tf] = binary_metrics(y, best)["auprc"]
    return out



def model_rows(model: str, per: dict, extra_mean: dict | None = None) -> list[dict]:
    """Result rows of one model: the mean over TFs of each per-TF metric (dataset ``chr8``; a per-TF ``call_ece``
    becomes ``call_ece_tf_mean``) plus ``extra_mean``, then every per-TF value (dataset ``chr8:<TF>``)."""
    mean = {k: float(np.nanmean([v[k] for v in per.values() if k in v]))
            for k in sorted({k for v in per.values() for k in v})}
    if "call_ece" in mean:  # the mean of per-TF ECEs (each TF's calls alone); extra_mean's is over all calls
        mean["call_ece_tf_mean"] = mean.pop("call_ece")
    mean.update(extra_mean or {})
    print(model, json.dumps({k: round(v, 4) for k, v in mean.items()}), flush=True)
    return ([{"model": model, "dataset": "chr8", "metric": k, "value": round(float(v), 4)} for k, v in mean.items()]
            + [{"model": model, "dataset": f"chr8:{tf}", "metric": k, "value": round(float(v), 4)}
               for tf, m in per.items() for k, v in m.items()])


def zoo_reference() -> tuple[dict, dict]:
    """The trained (default) zoo's per-TF metrics and pooled call ECE, from the committed ``sites.json`` and
    ``genomic.json`` on the same windows: ``(per_tf, {"call_ece": ...})``."""
    sites_doc = json.loads((HERE / "results" / "sites.json").read_text())
    gen_doc = json.loads((HERE / "results" / "genomic.json").read_text())
    per = {}
    for r in sites_doc["rows"] + gen_doc["rows"]:
        if r["model"] == "zoo-genomic" and r["dataset"].startswith("chr8:") and r["metric"] in (
                "site_f1", "site_precision", "site_recall", "window_auprc", "nt_auprc"):
            per.setdefault(r["dataset"][5:], {})[r["metric"]] = r["value"]
    mean = {r["metric"]: r["value"] for r in sites_doc["rows"] if r["model"] == "zoo-genomic"
            and r["dataset"] == "chr8" and r["metric"] == "call_ece"}
    return per, mean

def speed(bp: int = 1_000_000) -> dict:
    """Seconds to scan ``bp`` of chr8 (10 records): 879 matrices through scan_motifs, the 45-TF zoo, memelite FIMO."""
    import torch
    from memelite import fimo

    from tfscope.anytf.motifs import jaspar_motifs
    from tfscope.anytf.scan import scan_motifs
    from tfscope.scan.engine import scan
    from tfscope.sequence import one_hot
    from tfscope.zoo.registry import load_zoo

    torch.set_num_threads(1)
    seqs, _ = real_sequence(bp)
    motifs = list(jaspar_motifs())
    scan_motifs({"warm": seqs[next(iter(seqs))][:5000]}, motifs[:5], use_zoo=False)  # numba compile, model load
    t0 = time.time()
    calls = scan_motifs(seqs, motifs, use_zoo=False)
    t_any = time.time() - t0
    n_ev = {e: sum(r.extra[-2] == e for r in calls) for e in ("motif-conditioned", "pwm")}
    t0 = time.time()
    net_calls = scan_motifs(seqs, motifs, use_zoo=False, pwm_floor=False)
    t_net = time.time() - t0
    x = np.stack([one_hot([s], length=len(s))[0] for s in seqs.values()])
    pw = {m.matrix_id: m.probs for m in motifs}
    t0 = time.time()
    fimo(pw, x, threshold=1e-4)
    t_fimo = time.time() - t0
    models = load_zoo(device="cpu")
    t0 = time.time()
    zc, _ = scan(models, seqs, workers=1)
    t_zoo = time.time() - t0
    return {"anytf_879_seconds": t_any, "zoo_45_seconds": t_zoo, "fimo_879_seconds": t_fimo,
            "anytf_879_network_seconds": t_net, "anytf_network_calls": len(net_calls),
            "ratio_to_zoo": t_any / t_zoo, "network_ratio_to_zoo": t_net / t_zoo, "anytf_calls": len(calls),
            "zoo_calls": len(zc),
            "calls_motif_conditioned": n_ev["motif-conditioned"], "calls_pwm": n_ev["pwm"], "bp": bp}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/work/ckpts/anytf"))
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-nt", action="store_true")
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--speed-only", action="store_true", help="measure the speed rows and add them to the results")
    ap.add_argument("--zoo-only", action="store_true",
                    help="re-read the zoo-genomic reference rows from sites.json and genomic.json (after a change of "
                         "the default zoo) and remeasure the speed rows")
    args = ap.parse_args()
    doc = load_results("any_tf")
    if args.render_only:
        save_results(doc, render(doc), stamp=False)
        return
    if args.zoo_only:  # after a change of the default zoo: its reference rows, then the speed rows
        per, mean = zoo_reference()
        doc["rows"] = [r for r in doc["rows"] if r["model"] != "zoo-genomic"] + model_rows("zoo-genomic", per, mean)
        doc["per_tf"]["zoo-genomic"] = {t: {k: round(float(v), 4) for k, v in d.items()} for t, d in per.items()}
    if args.speed_only or args.zoo_only:
        doc["speed"] = speed()
        print("speed", doc["speed"], flush=True)
        save_results(doc, render(doc))
        return
    import build_anytf as b

    from tfscope.anytf.calibrate import apply_precision, ece
    from tfscope.anytf.data import load_windows, site_metrics
    from tfscope.anytf.scan import load_motif_model
    from tfscope.anytf.train import zoo_motifs

    groups = b.zoo_groups()
    tfs = sorted(groups)
    motifs = zoo_motifs(tfs)
    ic = {m.name: m.ic for m in motifs}
    fold_of = {t: k for k, f in enumerate(b.folds(groups)) for t in f}
    cal = load_motif_model()[1]["calibration"]
    w7 = load_windows(b.WINDOWS, b.SITES, chroms={"chr7"}, max_bp=1_000_000)
    w8 = load_windows(b.WINDOWS, b.SITES, chroms={"chr8"}, max_bp=1_000_000)
    d7, d8 = b.load(args.work, "chr7"), b.load(args.work, "chr8")
    lgo8 = b.lgo_predictions(args.work)["chr8"]
    seen8 = np.load(args.work / "pred_all.npz")["chr8"]
    nl7, nl8 = (-np.log10(np.maximum(d["pvalue"], 1e-300)) for d in (d7, d8))
    rows, per_tf = [], {}

    def add(model, per, extra_mean=None):
        rows.extend(model_rows(model, per, extra_mean))
        per_tf[model] = per

    # motif-conditioned (LGO and seen): calls at the chr7 precision threshold
    mc_maps, tau = cal["motif_conditioned"]["maps"], cal["motif_conditioned"]["min_precision"]
    wa_lgo, wa_seen = window_auprc(d8, lgo8, w8, tfs), window_auprc(d8, seen8, w8, tfs)
    wa_fimo = window_auprc(d8, nl8, w8, tfs)
    nt_mc, nt_fi = ({}, {}) if args.skip_nt else nt_auprc(args.work, tfs, motifs, fold_of)
    for model, score, wa in (("motif-conditioned-lgo", lgo8, wa_lgo), ("motif-conditioned-seen", seen8, wa_seen)):
        calls = b.per_tf_calls(d8, score, w8, tfs)
        per, pred, obs = {}, [], []
        for t in tfs:
            s, m, best, n, _ = calls[t]
            pr = apply_precision(s, ic[t], mc_maps)
            pb = np.where(np.isfinite(best), apply_precision(np.where(np.isfinite(best), best, 0), ic[t], mc_maps),
                          -np.inf)
            keep = pr >= tau
            pred.append(pr[keep])
            obs.append(m[keep])
            if not n:
                continue
            per[t] = site_metrics(pr, m, pb, n, tau)
            if t in wa:
                per[t]["window_auprc"] = wa[t]
            if model.endswith("lgo") and t in nt_mc:
                per[t]["nt_auprc"] = nt_mc[t]
            per[t]["call_ece"] = ece(pr[keep], m[keep])
        add(model, per, {"call_ece": ece(np.concatenate(pred), np.concatenate(obs)),
                         "calls_per_mbp": float(sum(len(p) for p in pred))})
    # FIMO, p threshold tuned per TF on chr7
    c7, c8 = b.per_tf_calls(d7, nl7, w7, tfs), b.per_tf_calls(d8, nl8, w8, tfs)
    grid = np.round(np.arange(3.0, 8.01, 0.1), 2)
    per, n_calls = {}, 0
    for t in tfs:
        if not c8[t][3]:
            continue
        thr = grid[int(np.argmax([site_metrics(*c7[t][:4], g)["site_f1"] for g in grid]))] if c7[t][3] else 4.0
        per[t] = site_metrics(*c8[t][:4], thr)
        per[t]["p_threshold"] = 10 ** -thr
        n_calls += per[t]["calls"]
        if t in wa_fimo:
            per[t]["window_auprc"] = wa_fimo[t]
        if t in nt_fi:
            per[t]["nt_auprc"] = nt_fi[t]
    add("fimo-jaspar-matched", per, {"calls_per_mbp": float(n_calls)})
    # the PWM floor: FIMO hits through the PWM precision maps, one precision threshold for every matrix
    t_pwm, pw_maps = cal["pwm"]["min_precision"], cal["pwm"]["maps"]
    per, pred, obs = {}, [], []
    for t in tfs:
        s, m, best, n, _ = c8[t]
        pr = apply_precision(s, ic[t], pw_maps)
        pb = np.full(len(best), -np.inf)
        fin = np.isfinite(best)
        if fin.any():
            pb[fin] = apply_precision(best[fin], ic[t], pw_maps)
        keep = pr >= t_pwm
        pred.append(pr[keep])
        obs.append(m[keep])
        if n:
            per[t] = site_metrics(pr, m, pb, n, t_pwm)
            per[t]["call_ece"] = ece(pr[keep], m[keep])
            if t in wa_fimo:
                per[t]["window_auprc"] = wa_fimo[t]
            if t in nt_fi:
                per[t]["nt_auprc"] = nt_fi[t]
    add("pwm-floor", per, {"call_ece": ece(np.concatenate(pred), np.concatenate(obs)),
                           "calls_per_mbp": float(sum(len(p) for p in pred))})
    add("zoo-genomic", *zoo_reference())
    doc["rows"] = rows
    doc["per_tf"] = {m: {t: {k: round(float(v), 4) for k, v in d.items()} for t, d in p.items()}
                     for m, p in per_tf.items()}
    doc["groups"] = groups
    doc["folds"] = b.folds(groups)
    doc["matrices"] = {m.name: m.matrix_id for m in motifs}
    doc["calibration"] = {k: cal[k] for k in ("floor", "ic_edges")} | {
        "min_precision": tau, "pwm_min_precision": t_pwm}
    if not args.skip_speed:
        doc["speed"] = speed()
        print("speed", doc["speed"], flush=True)
    save_results(doc, render(doc))


def render(doc: dict) -> str:
    val = {(r["model"], r["dataset"], r["metric"]): r["value"] for r in doc["rows"]}
    cols = ["site_precision", "site_recall", "site_f1", "window_auprc", "nt_auprc", "call_ece", "call_ece_tf_mean",
            "calls_per_mbp"]
    models = [m for m in MODELS if (m, "chr8", "site_f1") in val]
    summary = [{"model": m, **{c: val.get((m, "chr8", c), float("nan")) for c in cols}} for m in models]
    tfs = sorted(doc.get("groups", {}))
    per = [{"TF": t, "group": doc["groups"][t], "matrix": doc.get("matrices", {}).get(t, ""),
            **{m: val.get((m, f"chr8:{t}", "site_f1"), float("nan")) for m in models}} for t in tfs]
    sp = doc.get("speed")
    lgo, fimo = val.get(("motif-conditioned-lgo", "chr8", "site_f1")), val.get(("fimo-jaspar-matched", "chr8",
                                                                                 "site_f1"))
    gap = f"{lgo - fimo:+.3f}" if lgo is not None and fimo is not None else "n/a"
    cal = doc.get("calibration", {})
    text = ("# Any TF in one scan: zero-shot motif-conditioned calls vs FIMO (chr8)\n\n"
            f"Machine: {doc.get('machine')}; date {doc.get('date')}.\n\n"
            "First 10,000 tfbs-multilabel windows of chr8 (1 Mbp), each its own record; truth: the JASPAR 2022 "
            "ChIP-seq sites of the 45 zoo TFs; every TF scanned with its JASPAR 2024 matrix. "
            "`motif-conditioned-lgo`: each TF scored by a network trained without its paralog group (5 folds of "
            "groups), at the one chr7 precision threshold shared by every matrix. `fimo-jaspar-matched`: FIMO with "
            "the same matrix, p threshold tuned per TF on chr7 (it uses the TF's own chr7 sites, which an unseen TF "
            "does not have). `pwm-floor`: FIMO hits through the chr7 PWM precision maps (per IC bin), one "
            "precision threshold for every matrix: what an unseen matrix gets from the floor. "
            "`motif-conditioned-seen` and `zoo-genomic` were trained on these TFs (reference only). Nothing tuned on "
            "chr8; chr9 never used.\n\n"
            f"Zero-shot site F1 minus FIMO's: **{gap}** (target +0.08). Chosen on chr7: call precision >= "
            f"{cal.get('min_precision')} (motif-conditioned), >= {cal.get('pwm_min_precision')} (PWM); evidence per "
            f"IC bin (edges {cal.get('ic_edges')} bits): {cal.get('floor')}.\n\n"
            + markdown_table(summary, ["model", *cols], floatfmt=".3f"))
    if sp:
        text += ("\n## Speed (1 Mbp of chr8, 10 records, this machine, one run)\n\n"
                 + markdown_table([{"what": "scan_motifs, 879 JASPAR 2024 matrices (shipped: PWM floor)",
                                    "seconds": sp["anytf_879_seconds"], "calls": sp["anytf_calls"]},
                                   {"what": "scan_motifs, 879 matrices, all through the network (pwm_floor=False)",
                                    "seconds": sp["anytf_879_network_seconds"], "calls": sp["anytf_network_calls"]},
                                   {"what": "zoo scan, 45 TFs (1 worker)", "seconds": sp["zoo_45_seconds"],
                                    "calls": sp["zoo_calls"]},
                                   {"what": "memelite FIMO, 879 matrices, p < 1e-4", "seconds": sp["fimo_879_seconds"],
                                    "calls": float("nan")}], ["what", "seconds", "calls"], floatfmt=".1f")
                 + f"\nRatio any-TF / zoo: {sp['ratio_to_zoo']:.2f} shipped, {sp['network_ratio_to_zoo']:.2f} with "
                 "every matrix through the network (target <= 2).\n")
    text += "\n## Site F1 per TF (chr8)\n\n" + markdown_table(per, ["TF", "group", "matrix", *models], floatfmt=".3f")
    return text


if __name__ == "__main__":
    main()
