"""Per-site benchmark of calls on real genome: does each call land on a true binding site of its TF?

Input: the same 1 Mbp of chr8 windows as ``benchmarks/genomic.py`` (the first 10,000 tfbs-multilabel windows of the
test chromosome in genomic order), each scanned as a separate record (laid end to end with N spacers wider than the
receptive field: :func:`tfscope.zoo.sites.window_points`); true sites from ``../shared/data/tfbs-multilabel/
sites.bed.gz`` (JASPAR 2022 ChIP-seq sites of the 45 TFs, hg19, chr9 withheld). A call *matches* when it overlaps a
true site of its TF; a true site wholly inside a window is *recalled* when a call of its TF overlaps it.

Rows (all on the same windows):

- ``zoo-genomic``: the default zoo with the shipped caller (one call per binding event, the TF's site width centred on
  the peak; thresholds by best site F1 on chr7) and its per-call precision;
- ``zoo-fast``: the fast zoo (``--zoo fast``: the genomic zoo's localizers and gate with the distilled detector of
  :mod:`tfscope.zoo.student`, its own chr7 thresholds and precision maps) with the shipped caller;
- ``zoo-genomic-runs``: the same networks with the previous caller (runs of >= 3 nucleotides at or above the
  window-level chr7 threshold; one call per run);
- ``fimo-jaspar``: memelite FIMO, one JASPAR 2022 matrix per TF, hits at p < 1e-4 (both strands);
- ``fimo-jaspar-matched``: FIMO's best hits (lowest p, from those at p < 1e-3), as many per TF as ``zoo-genomic``
  calls.

Metrics (dataset ``chr8``; mean over the TFs with a true site in the windows; per TF under ``chr8:<TF>``):
``site_precision``, ``site_recall``, ``site_f1``; ``group_site_f1`` (a call counts when it overlaps a site of any TF
of its paralog group, and a site is recalled by a call of any TF of its group); ``short_call_fraction`` (calls
shorter than 6 bp, all TFs); ``call_ece`` (expected calibration error of the per-call precision against the observed
match rate, 10 equal-width bins, all calls pooled; zoo only); ``calls_per_mbp``; ``peak_to_site_bp`` (median distance
from a matched call's peak to the centre of the nearest site of its TF). Nothing is tuned on chr8: thresholds,
precision maps and p-value backgrounds come from chr7 (``scripts/build_zoo.py --calibrate-calls``).

Writes ``benchmarks/results/sites.json``, ``sites.md`` and ``figures/sites_reliability.png``.

Usage: ``python benchmarks/sites.py [--bp 1000000] [--models zoo-genomic ...] [--render-only]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED, keep_first_build, load_results, save_results  # noqa: E402

from tfscope.metrics import markdown_table  # noqa: E402

HERE = Path(__file__).parent
MODELS = ["zoo-genomic", "zoo-fast", "zoo-genomic-runs", "fimo-jaspar", "fimo-jaspar-matched"]
WINDOWS = SHARED / "tfbs-multilabel" / "windows.tsv.gz"
SITES = SHARED / "tfbs-multilabel" / "sites.bed.gz"
FIGURE = HERE / "results" / "figures" / "sites_reliability.png"


def run_calls(windows, names, workers, window_thr: dict, kind: str = "genomic"):
    """Per TF :class:`tfscope.zoo.sites.WindowCalls` of the zoo with the shipped caller and with runs, the calls'
    estimated precision, the groups, and the scan seconds."""
    from tfscope.resources import resource
    from tfscope.zoo.sites import WindowCalls, cached_window_points, calls_from_points
    from tfscope.zoo.registry import load_zoo

    models = load_zoo(names, kind=kind)
    # a rerun of the same zoo scans once; dt is the wall time of the scan that made the points
    cache = HERE / "checkpoints" / f"sites-points-{windows.chrom}{'' if kind == 'genomic' else '-' + kind}.npz"
    points, dt = cached_window_points(models, windows, cache, weights=resource("zoo", kind) / "model.safetensors",
                                      workers=workers)
    peaks, runs, prec = {}, {}, {}
    for m, pts in zip(models, points):
        c = calls_from_points(pts, m.call.site_width, windows.length)
        keep = c.peak_p >= m.threshold
        peaks[m.name] = c.subset(keep)
        conf = m.call.confidence
        prec[m.name] = conf.score(peaks[m.name].peak_p)[0] if conf else np.full(int(keep.sum()), np.nan)
        # the previous caller: runs of >= 3 nucleotides at or above the window-level chr7 threshold
        thr = float(window_thr.get(m.name) or m.threshold)
        w, x, p = pts
        on = p >= thr
        w, x, p = w[on], x[on], p[on]
        brk = np.flatnonzero((np.diff(w) != 0) | (np.diff(x) != 1)) + 1
        a = np.concatenate([[0], brk]) if len(w) else np.zeros(0, int)
        b = np.concatenate([brk, [len(w)]]) if len(w) else np.zeros(0, int)
        ok = (b - a) >= 3
        a, b = a[ok], b[ok]
        pk = np.array([a_ + int(np.argmax(p[a_:b_])) for a_, b_ in zip(a, b)], int)
        runs[m.name] = WindowCalls(w[a], x[a], x[b - 1] + 1, x[pk] if len(pk) else pk,
                                   p[pk].astype(float) if len(pk) else np.zeros(0))
    groups = {m.name: m.call.group or m.name for m in models}
    return peaks, runs, prec, groups, dt


def window_thresholds(names):
    """TF -> the window-level chr7 threshold of the zoo (``meta.per_tf[TF].calibration.threshold``)."""
    from tfscope.resources import resource

    cfg = json.loads((resource("zoo", "genomic") / "config.json").read_text())
    return {tf: cfg["meta"]["per_tf"][tf].get("calibration", {}).get("threshold") for tf in names}


def run_fimo(windows, names, n_matched: dict | None):
    """FIMO hits as WindowCalls per TF: at p < 1e-4, or (``n_matched``) the best n per TF of those at p < 1e-3."""
    from memelite import fimo

    from tfscope.io.jaspar import jaspar_motif, motif_pfm
    from tfscope.sequence import one_hot
    from tfscope.zoo.sites import WindowCalls

    pwms = {}
    for tf in names:
        pfm = motif_pfm(jaspar_motif(tf))
        pwms[tf] = pfm / pfm.sum(0, keepdims=True)
    x = one_hot(windows.seqs, length=windows.length)
    t0 = time.time()
    hits = fimo(pwms, x, threshold=1e-3 if n_matched else 1e-4)
    dt = time.time() - t0
    out = {}
    for tf, h in zip(names, hits):
        if n_matched:
            h = h.sort_values("p-value", kind="stable").head(n_matched[tf])
        w = h["sequence_name"].to_numpy().astype(np.int64)
        st, en = h["start"].to_numpy().astype(np.int64), h["end"].to_numpy().astype(np.int64)
        out[tf] = WindowCalls(w, st, en, (st + en) // 2, -np.log10(np.maximum(h["p-value"].to_numpy().astype(float), 1e-300)))
    return out, dt


def score_rows(calls: dict, windows, groups: dict, names, bp: int, prec: dict | None = None):
    """Metrics of one row (see the module docstring): ``(mean metrics, per-TF metrics, reliability bins)``."""
    from tfscope.zoo.sites import _overlap, evaluate_tf, peak_distances, site_scores

    members = {}
    for tf, g in groups.items():
        members.setdefault(g, []).append(tf)
    per_tf, pooled_pred, pooled_obs, dist, n_calls, n_short = {}, [], [], [], 0, 0
    z = np.zeros(0, np.int64)
    for tf in names:
        c = calls[tf]
        ev = evaluate_tf(c, windows, tf, members[groups[tf]])
        if not ev["n_sites"]:
            continue
        own = windows.sites.get(tf, (z, z, z))
        inside = (own[1] >= 0) & (own[2] <= windows.length)
        grec = np.zeros(int(inside.sum()), bool)  # a site recalled by a call of any TF of its group
        for other in members[groups[tf]]:
            grec |= _overlap(calls[other], own)[1][inside] >= 0
        sc = site_scores(ev, 0.0)  # every call: peak scores are >= 0 (zoo P, FIMO -log10 p)
        gp, gr = sc["group_precision"], grec.mean()
        n, match = sc["calls"], ev["match"]
        per_tf[tf] = {"site_precision": sc["precision"], "site_recall": sc["recall"], "site_f1": sc["f1"],
                      "group_site_f1": 2 * gp * gr / (gp + gr) if gp + gr else 0.0, "calls": n,
                      "true_sites": ev["n_sites"]}
        n_calls += n
        n_short += int(((c.end - c.start) < 6).sum())
        d = peak_distances(c, windows, tf)[match]
        dist.append(d[np.isfinite(d)])
        if prec is not None:
            pooled_pred.append(prec[tf])
            pooled_obs.append(match.astype(float))
    mean = {k: float(np.mean([v[k] for v in per_tf.values()]))
            for k in ("site_precision", "site_recall", "site_f1", "group_site_f1")}
    mean["short_call_fraction"] = n_short / max(n_calls, 1)
    mean["calls_per_mbp"] = n_calls / (bp / 1e6)
    dist = np.concatenate(dist) if dist else np.zeros(0)
    mean["peak_to_site_bp"] = float(np.median(dist)) if len(dist) else float("nan")
    bins = None
    if prec is not None:
        pred, obs = np.concatenate(pooled_pred), np.concatenate(pooled_obs)
        edges = np.linspace(0, 1, 11)
        idx = np.clip(np.digitize(pred, edges) - 1, 0, 9)
        bins = [{"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "calls": int((idx == b).sum()),
                 "mean predicted": float(pred[idx == b].mean()) if (idx == b).any() else float("nan"),
                 "observed": float(obs[idx == b].mean()) if (idx == b).any() else float("nan")} for b in range(10)]
        mean["call_ece"] = float(sum(b_["calls"] * abs(b_["mean predicted"] - b_["observed"])
                                     for b_ in bins if b_["calls"]) / max(len(pred), 1))
    return mean, per_tf, bins


def reliability_figure(bins, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [b["mean predicted"] for b in bins if b["calls"]]
    y = [b["observed"] for b in bins if b["calls"]]
    n = [b["calls"] for b in bins if b["calls"]]
    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=120)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect calibration")
    ax.scatter(x, y, s=[max(8, 200 * k / max(n)) for k in n], c="C0", zorder=3, label="zoo-genomic calls (chr8)")
    ax.plot(x, y, c="C0", lw=1)
    ax.set_xlabel("estimated precision (chr7 isotonic map)")
    ax.set_ylabel("observed share overlapping a true site")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Per-call precision: reliability on chr8", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bp", type=int, default=1_000_000)
    ap.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--label", help="store the rows of --models under 'MODEL (LABEL)' beside the shipped ones, e.g. "
                    "'before retraining' for the previous zoo measured on the corrected truth")
    args = ap.parse_args()
    from tfscope.zoo.sites import GenomeWindows
    from tfscope.zoo.registry import zoo_tfs

    names = zoo_tfs()
    doc = load_results("sites")
    keep_first_build(doc, FIRST_BUILD)
    if args.render_only:
        save_results(doc, render(doc, names), stamp=False)
        return
    if "zoo-genomic" in args.models:
        doc["provenance"] = zoo_provenance()
    windows = GenomeWindows.load(WINDOWS, SITES, "chr8", max_bp=args.bp)
    bp = len(windows) * windows.length
    tag = (lambda m: f"{m} ({args.label})") if args.label else (lambda m: m)
    doc["rows"] = [r for r in doc["rows"] if r["model"] not in map(tag, args.models)]
    per_tf_all = doc.setdefault("per_tf", {})
    thr_w = window_thresholds(names)
    peaks, runs, prec, groups, dt = None, None, None, None, None
    if any(m in args.models for m in ("zoo-genomic", "zoo-genomic-runs", "fimo-jaspar-matched")):
        peaks, runs, prec, groups, dt = run_calls(windows, names, args.workers, thr_w)
    if groups is None:
        from tfscope.zoo.registry import load_zoo

        groups = {m.name: m.call.group or m.name for m in load_zoo(names)}
    doc["groups"] = groups
    for model in args.models:
        if model == "zoo-genomic":
            calls, secs, p = peaks, dt, prec
        elif model == "zoo-fast":
            calls, _, p, _, secs = run_calls(windows, names, args.workers, thr_w, kind="fast")
        elif model == "zoo-genomic-runs":
            calls, secs, p = runs, dt, None
        elif model == "fimo-jaspar":
            (calls, secs), p = run_fimo(windows, names, None), None
        else:
            (calls, secs), p = run_fimo(windows, names, {tf: len(peaks[tf]) for tf in names}), None
        mean, per_tf, bins = score_rows(calls, windows, groups, names, bp, p)
        mean["seconds"] = secs
        doc["rows"] += [{"model": tag(model), "dataset": "chr8", "metric": k, "value": round(float(v), 4)}
                        for k, v in mean.items()]
        doc["rows"] += [{"model": tag(model), "dataset": f"chr8:{tf}", "metric": k, "value": round(float(v), 4)}
                        for tf, m in per_tf.items() for k, v in m.items()]
        per_tf_all[tag(model)] = per_tf
        if bins is not None and not args.label and model == "zoo-genomic":
            doc["reliability"] = bins
            reliability_figure(bins, FIGURE)
        print(model, json.dumps({k: round(v, 4) for k, v in mean.items()}), flush=True)
        save_results(doc, render(doc, names))


#: what the zoo of the committed rows saw, for results written before the zoo recorded it (``meta.excluded_chroms``)
PROVENANCE_BEFORE = ("The zoo's localizers (45 per-TF 16-channel CNNs) were retrained on the tfbs-snr paper split "
                     "*without* the rows on chr7, chr8 and chr9. The detector (the 45-TF network) was trained on the "
                     "tfbs-multilabel train-chromosome windows (never chr7, chr8 or chr9) plus tfbs-snr train pairs "
                     "off chr7 and chr8; those pairs include tfbs-snr rows on chr9 (the withheld chromosome). FIMO "
                     "uses each TF's JASPAR 2022 matrix (built from the same ChIP-seq sites on every chromosome).")


def zoo_provenance() -> str:
    """What the installed genomic zoo's networks trained on, from its checkpoint (``meta.excluded_chroms`` of the
    detector, ``meta.localizers`` of the gate)."""
    from tfscope.resources import resource

    meta = json.loads((resource("zoo", "genomic") / "config.json").read_text())["meta"]
    det = meta.get("excluded_chroms")
    loc = (meta.get("localizers") or {}).get("excluded_chroms")
    if not det or not loc:
        return PROVENANCE_BEFORE
    return (f"The zoo's localizers (45 per-TF CNNs) were trained on the tfbs-snr paper split without its rows on "
            f"{', '.join(loc)} (`scripts/build_zoo.py --train ... --exclude-chroms {' '.join(loc)}`). The detector "
            f"(the 45-TF network) was trained on the tfbs-multilabel windows and the tfbs-snr train pairs off "
            f"{', '.join(det)} (`tfscope.zoo.genomic.HOLDOUT_CHROMS`). So no model behind these calls saw a tfbs-snr "
            "row of chr7 (calibration), chr8 (this page) or chr9 (withheld). FIMO uses each TF's JASPAR 2022 "
            "matrix (built from the same ChIP-seq sites on every chromosome).")


#: what the fast zoo's students saw (scripts/distill_zoo.py)
FAST_PROVENANCE = ("zoo-fast is that zoo distilled (`--zoo fast`, `tfscope.zoo.student`): its detector and localizers "
                   "were trained on the genomic zoo's outputs over tfbs-multilabel windows of the training chromosomes "
                   "(never chr7, chr8 or chr9; early stopping on chr7) and its thresholds and precision maps fitted on "
                   "chr7 like the default's. Its seconds are those of the same full-track window scan.")


#: what changed in ``../shared/data`` on 2026-12-05 (rows measured before it are kept under ``first_build``)
FIRST_BUILD = ("Measured on the first build of `../shared/data` (2026-12-02), whose sites of 14 TFs (ASCL1 BATF3 CTCFL "
               "FOXK1 FOXK2 GATA6 KLF4 MXI1 MYC MYCN NFYC POU5F1 RFX1 TFDP1) sat at hg38 positions read as hg19: the "
               "truth missed their sites on chr8 and the zoo's detector was trained on windows labelled the same way.")


def _ordered(models) -> list[str]:
    return sorted(models, key=lambda m: (MODELS.index(m.split(" (")[0]) if m.split(" (")[0] in MODELS else 99, m))


def render(doc: dict, names) -> str:
    val = {(r["model"], r["dataset"], r["metric"]): r["value"] for r in doc["rows"]}
    models = _ordered({m for (m, d, k) in val if d == "chr8" and k == "site_f1"})
    cols = ["site_precision", "site_recall", "site_f1", "group_site_f1", "short_call_fraction", "call_ece",
            "calls_per_mbp", "peak_to_site_bp", "seconds"]
    summary = [{"model": m, **{c: val.get((m, "chr8", c), float("nan")) for c in cols}} for m in models]
    per_tf = [{"TF": tf, "group": doc.get("groups", {}).get(tf, tf),
               **{m: val.get((m, f"chr8:{tf}", "site_f1"), float("nan")) for m in models},
               "true sites": val.get((models[0], f"chr8:{tf}", "true_sites"), float("nan")) if models else 0}
              for tf in names]
    old = {(r["model"], r["metric"]): r["value"] for r in doc.get("first_build", {}).get("rows", [])
           if r["dataset"] == "chr8"}
    first = [{"model": m, **{c: old.get((m, c), float("nan")) for c in cols}}
             for m in _ordered({m for m, _ in old})]
    rel = doc.get("reliability") or []
    groups = sorted({g for g in doc.get("groups", {}).values() if "/" in g})
    return ("# Per-site calls on real genome (chr8)\n\n"
            f"Machine: {doc.get('machine')}; date {doc.get('date')}.\n\n"
            "The first 10,000 tfbs-multilabel windows of chr8 (1 Mbp, the held-out test chromosome), each scanned "
            "as a separate record; true sites: the JASPAR 2022 ChIP-seq sites of the 45 TFs "
            "(`../shared/data/tfbs-multilabel/sites.bed.gz`). A call matches when it overlaps a true site of its "
            "TF; a site wholly inside a window is recalled when a call of its TF overlaps it. Means over TFs. "
            "group_site_f1 counts a call (and recalls a site) through any TF of the paralog group. call_ece: "
            "expected calibration error of each call's estimated precision (10 bins, all calls pooled). "
            "peak_to_site_bp: median distance from a matched call's peak to the site centre. Every threshold, "
            "precision map and p-value background was fitted on chr7; nothing here is tuned on chr8.\n\n"
            f"**What each model saw.** {doc.get('provenance') or PROVENANCE_BEFORE}"
            + (f" {FAST_PROVENANCE}" if "zoo-fast" in models else "") + "\n\n"
            + markdown_table(summary, ["model", *cols], floatfmt=".3f")
            + ("\n## First build of the shared data (kept for comparison)\n\n"
               f"{doc['first_build']['note']} Date {doc['first_build'].get('date')}.\n\n"
               + markdown_table(first, ["model", *cols], floatfmt=".3f") if first else "")
            + "\n## Reliability of the per-call precision (zoo-genomic, chr8)\n\n"
            "![reliability diagram](figures/sites_reliability.png)\n\n"
            + (markdown_table(rel, ["bin", "calls", "mean predicted", "observed"], floatfmt=".3f") if rel else "")
            + "\n## Paralog groups\n\n" + "\n".join(f"- {g}" for g in groups) + "\n"
            + "\n## Site F1 per TF\n\n" + markdown_table(per_tf, ["TF", "group", *models, "true sites"],
                                                           floatfmt=".3f"))


if __name__ == "__main__":
    main()
