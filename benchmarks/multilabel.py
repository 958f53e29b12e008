"""Multi-label TF-binding benchmark (arXiv 2603.12073 protocol) on ../shared/data/tfbs-multilabel.

Trains TCN, BiLSTM, DanQ and a plain CNN with the SAME wall-time budget each (``--max-seconds``, one torch thread),
tunes per-TF thresholds on chr7 (valid), evaluates on all chr8 (test) windows, then runs the cooperative-binding
statistics (observed labels vs the TCN's thresholded predictions) and the interpretation (IG + TF-MoDISco + Tomtom)
on the TCN. Writes ``benchmarks/results/multilabel.json`` (long format: model, dataset = TF | macro | micro,
metric, value; plus ``cooperative`` and ``modisco`` sections), ``multilabel.md`` and
``benchmarks/figures/multilabel_cooccurrence.png``.
Resumable: models already in the JSON are skipped unless ``--redo``; checkpoints and test probabilities are kept in
``benchmarks/checkpoints/multilabel/<model>`` (git-ignored).

Usage: ``python benchmarks/multilabel.py [--models tcn bilstm danq cnn] [--max-seconds 330]
[--explain-budget 420] [--render-only]``
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

from tfscope.metrics import markdown_table  # noqa: E402

HERE = Path(__file__).parent
CKPT = HERE / "checkpoints" / "multilabel"
FIG = HERE / "figures" / "multilabel_cooccurrence.png"
TABLE = SHARED / "tfbs-multilabel" / "windows.tsv.gz"
MODELS = ["tcn", "bilstm", "danq", "cnn"]
CONVERGE_SUFFIX = "-converge"  # rows of benchmarks/multilabel_converge.py
CONVERGE_FIG = "multilabel_converge.png"  # in benchmarks/results/figures/
# co-occurring pairs named by ../shared/README.md (tfbs-multilabel): "HNF4A/HNF4G, USF1/USF2, FOSL1/JUNB, NFYA/NFYB,
# MYC/MXI1, E2F4/E2F6, NFY with SP1/USF at promoters"; since the 2026-12-05 correction also NFYA/NFYB/NFYC and
# KLF4/KLF5 (pairs whose TFs sat in different assemblies in the first build)
README_PAIRS = [("HNF4A", "HNF4G"), ("USF1", "USF2"), ("FOSL1", "JUNB"), ("NFYA", "NFYB"), ("NFYA", "NFYC"),
                ("NFYB", "NFYC"), ("MYC", "MXI1"), ("E2F4", "E2F6"), ("KLF4", "KLF5")] + [
    (n, o) for n in ("NFYA", "NFYB", "NFYC") for o in ("SP1", "USF1", "USF2")]
#: the results measured on the first build of ../shared/data (hg38 coordinates of 14 TFs read as hg19), kept as they
#: were committed (benchmarks/results/first_build/)
FIRST_BUILD = HERE / "results" / "first_build" / "multilabel.json"
# extra configurations: benchmark name -> (registry name, hparams); run with --models tcn-stem
VARIANTS = {"tcn-stem": ("tcn", {"stem_kernel": 11, "n_blocks": 4})}


def setup_note(doc) -> str:
    s = doc.get("settings", {})
    return (f"Protocol: train on all chromosomes but chr7/chr8, early stopping and per-TF F1-optimal thresholds "
            f"on chr7 (valid), metrics on all chr8 (test) windows. Every model got the same wall-time budget of "
            f"{s.get('max_seconds', '?')} s of training (`fit(max_seconds=...)`, AdamW lr {s.get('lr', '?')}, "
            f"batch {s.get('batch_size', '?')}, BCE with positive weights (n_neg/n_pos)^0.5), one torch thread, on a "
            f"2-core machine shared with other jobs, so budgets end mid-epoch and `train_seconds` (which includes "
            f"the validation passes) is wall time under contention. AP = sklearn average precision.")


def render(doc: dict) -> str:
    rows = doc["rows"]
    val = {(r["model"], r["dataset"], r["metric"]): r["value"] for r in rows}
    models = [m for m in [*MODELS, *VARIANTS] if (m, "macro", "ap") in val] + sorted(
        {r["model"] for r in rows if not r["model"].endswith(CONVERGE_SUFFIX)} - set(MODELS) - set(VARIANTS))
    labels = doc.get("labels", [])
    out = [f"# Multi-label TF binding benchmark (tfbs-multilabel, chr8 test)\n\nMachine: {doc['machine']}; date "
           f"{doc['date']}.\n\n" + (f"{setup_note(doc)}\n" if models else "")]
    summ = []
    for m in models:
        r = {"model": m}
        for agg in ("macro", "micro"):
            for k in ("ap", "auroc", "f1"):
                r[f"{agg} {k}"] = val.get((m, agg, k), math.nan)
        for k in ("train_seconds", "epochs", "windows_seen", "params", "predict_windows_per_second"):
            r[k] = val.get((m, "all", k), math.nan)
        summ.append(r)
    cols = ["model", "macro ap", "macro auroc", "macro f1", "micro ap", "micro auroc", "micro f1", "train_seconds",
            "epochs", "windows_seen", "params", "predict_windows_per_second"]
    out.append("Rows measured on the first build of `../shared/data` (before the 2026-12-05 coordinate correction) "
               "are kept as committed in [`first_build/multilabel.md`](first_build/multilabel.md).\n")
    if doc.get("observed"):
        out.append(render_observed(doc["observed"]))
    if summ:
        out.append("## Summary (chr8 test)\n\n" + markdown_table(summ, cols))
    if ("tcn", "macro", "ap") in val and ("bilstm", "macro", "ap") in val:
        d = val[("tcn", "macro", "ap")] - val[("bilstm", "macro", "ap")]
        out.append(f"\nTCN macro-AP minus BiLSTM macro-AP: {d:+.3f} (target >= +0.05: "
                   f"{'met' if d >= 0.05 else 'NOT met'}).\n")
    per = []
    for t in labels:
        r = {"TF": t, "n_pos test": val.get((models[0], t, "n_pos"), math.nan) if models else math.nan}
        for m in models:
            r[f"{m} AP"] = val.get((m, t, "ap"), math.nan)
        for m in models:
            r[f"{m} AUROC"] = val.get((m, t, "auroc"), math.nan)
        if "tcn" in models:
            r["tcn F1"] = val.get(("tcn", t, "f1"), math.nan)
        per.append(r)
    cols = ["TF", "n_pos test"] + [f"{m} AP" for m in models] + [f"{m} AUROC" for m in models] + (
        ["tcn F1"] if "tcn" in models else [])
    if models:
        out.append("\n## Per TF (chr8 test)\n\n" + markdown_table(per, cols))
    if doc.get("cooperative"):
        out.append(render_cooperative(doc["cooperative"], f"benchmarks/figures/{FIG.name}", "##"))
    if doc.get("modisco"):
        out.append(render_modisco(doc["modisco"], "chr8 test", "##"))
    if doc.get("converge"):
        out.append(render_converge(doc))
    return "\n".join(out)


def render_cooperative(coop: dict, fig: str, level: str, *, observed: bool = True) -> str:
    """Markdown of a :func:`cooperative_record` (``level``: heading prefix of the section; ``observed``: include the
    top pairs of the observed labels, which are the same for every model)."""
    model = coop.get("model", "tcn")
    out = [f"\n{level} Cooperative binding (co-occurrence in the same 100 bp window, {model})\n\n"
           "Fisher exact test (two-sided) per TF pair, Benjamini-Hochberg over the "
           f"{coop.get('n_pairs', '?')} pairs; odds ratio with +0.5 correction. Every window holds >= 1 "
           "site, so independence is judged among bound windows (unrelated pairs fall below OR 1). "
           f"Figure: `{fig}` (left: observed labels, all windows; right: {model} predictions thresholded at the "
           "valid-tuned thresholds, chr8 test).\n"]
    for key, title in (("observed_all", "Observed labels, all 307k windows"),
                       ("observed_test", "Observed labels, chr8 test windows"),
                       ("predicted_test", f"{model} predictions, chr8 test windows")):
        if key in coop and (observed or key == "predicted_test"):
            out.append(f"\n{level}# Top pairs: {title}\n\n" + markdown_table(
                coop[key], ["a", "b", "n11", "expected", "odds_ratio", "log2_or", "q", "complex"], floatfmt=".3g"))
    if "known" in coop:
        known = coop["known"]
        cols = ["a", "b", "complex", "obs n11", "obs log2_or", "obs q", "pred log2_or", "pred q"]
        head = f"\n{level}# Known complexes (observed, all windows, vs {model} predicted on chr8)\n\n"
        if known and "recovered" in known[0]:
            cols.append("recovered")
            obs = [r for r in known if r["obs q"] < 0.05 and r["obs log2_or"] > 0]
            head += (f"Recovered (predicted log2 OR > 0 at q < 0.05): {sum(r['recovered'] for r in known)} of "
                     f"{len(known)} known pairs; {sum(r['recovered'] for r in obs)} of the {len(obs)} that are "
                     "significantly enriched in the observed labels.\n\n")
        out.append(head + markdown_table(known, cols, floatfmt=".3g"))
    if coop.get("readme_pairs"):
        rp = coop["readme_pairs"]
        enr = [r for r in rp if r["obs q"] < 0.05 and r["obs log2_or"] > 0]
        out.append(f"\n{level}# The co-occurring pairs named in `../shared/README.md`\n\n{model} recovers "
                   f"{sum(r['recovered'] for r in rp)} of {len(rp)} (predicted log2 OR > 0 at q < 0.05, chr8): "
                   f"{sum(r['recovered'] for r in enr)} of the {len(enr)} that the observed labels (all windows) "
                   f"show enriched ({sum(r['obs q'] < 0.05 and r['obs log2_or'] < 0 for r in rp)} co-occur less than "
                   f"expected in the labels).\n\n"
                   + markdown_table(rp, ["a", "b", "obs n11", "obs log2_or", "obs q", "pred log2_or", "pred q",
                                         "recovered"], floatfmt=".3g"))
    if "spearman_obs_vs_pred" in coop:
        out.append(f"\nSpearman correlation of pair log2 odds ratios, observed (chr8 labels) vs predicted "
                   f"(chr8): {coop['spearman_obs_vs_pred']:.3f} over {coop['n_pairs']} pairs.\n")
    return "".join(out)


def render_modisco(mod: dict, positives: str, level: str) -> str:
    """Markdown of a :func:`modisco_record`: verdict counts and the per-TF table."""
    counts = {}
    for r in mod["rows"]:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    mrows = [{k: ("" if v is None else v) for k, v in r.items()} for r in mod["rows"]]
    return (f"\n{level} Interpretation: IG -> TF-MoDISco -> Tomtom ({mod.get('model', 'tcn')}, "
            f"{mod.get('positives', positives)} positives)\n\n{mod['note']}\n\nVerdicts: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + f" (of {len(mod['rows'])} TFs).\n\n"
            + markdown_table(mrows, ["tf", "n_seqs", "n_patterns", "top_n_seqlets", "consensus", "verdict",
                                     "best_name", "best_q", "own_id", "own_q", "own_rank", "partner", "seconds"],
                             floatfmt=".3g"))


def phase_settings(conv: dict) -> str:
    """``model: 60 min / patience 3 / plateau, ...`` for every recorded phase of every model."""
    out = []
    for m, phases in conv.get("phases", {}).items():
        out.append(f"{m} " + ", ".join(
            f"{(p.get('max_seconds') or 0) / 60:.0f} min / patience {p.get('patience', '?')} / {p.get('schedule', '?')}"
            for p in phases))
    return "; ".join(out) or "none recorded"


def render_converge(doc: dict) -> str:
    """The section of ``benchmarks/multilabel_converge.py``: models trained in resumable phases until the chr7
    macro AP converged (rows of the models ``<model>-converge``)."""
    conv = doc["converge"]
    st = conv.get("settings", {})
    val = {(r["model"], r["dataset"], r["metric"]): r["value"] for r in doc["rows"]}
    rows = []
    for m in MODELS:
        name = m + CONVERGE_SUFFIX
        if (name, "all", "epochs") not in val:
            continue
        ph = conv.get("phases", {}).get(m, [])
        rows.append({"model": name, "phases": len(ph), "epochs": val.get((name, "all", "epochs"), math.nan),
                     "windows_seen": val.get((name, "all", "windows_seen"), math.nan),
                     "seconds_per_epoch": val.get((name, "all", "seconds_per_epoch"), math.nan),
                     "best chr7 macro ap": val.get((name, "all", "valid_macro_ap"), math.nan),
                     "chr8 macro ap": val.get((name, "macro", "ap"), math.nan),
                     **({f"chr8 macro ap ({doc['settings']['max_seconds']:.0f} s budget)": val.get((m, "macro", "ap"),
                                                                                             math.nan)}
                        if "max_seconds" in doc.get("settings", {}) else {}),
                     "converged": "yes" if val.get((name, "all", "converged")) else "no",
                     "last stop": ph[-1].get("stop_reason", "") if ph else ""})
    cols = list(rows[0]) if rows else ["model"]
    return (f"\n## Training to convergence (`benchmarks/multilabel_converge.py`)\n\n"
            f"Each model is trained in resumable phases (`tfscope multilabel train --init`: a phase continues the "
            f"model's checkpoint; same data, loss, positive weights and chr7 thresholds as above; early stopping on "
            f"the chr7 macro AP; batch {st.get('batch_size', '?')}). Phase settings (wall-time budget, patience, "
            f"learning-rate schedule), per model in order: {phase_settings(conv)}. `converged`: "
            f"the last phase ran out of patience, or its last full epoch raised the best chr7 macro AP by less than "
            f"0.005; `no` means the last phase ended on its time budget while still improving (run another phase). "
            f"`epochs` and `windows_seen` add up all phases; `seconds_per_epoch` = wall seconds per pass over the "
            f"training windows, validation included. AP on chr8 (test) with the chr7-tuned thresholds. "
            f"Learning curves (chr7 macro AP per epoch, phase starts marked): "
            f"`benchmarks/results/figures/{CONVERGE_FIG}`.\n\n" + markdown_table(rows, cols)
            + render_converge_post(doc))


def render_converge_post(doc: dict) -> str:
    """Per-TF chr8 AP of the converged models, the TCN's sign tests and the co-binding / MoDISco analyses of
    ``benchmarks/multilabel_converge.py --post``."""
    conv = doc["converge"]
    val = {(r["model"], r["dataset"], r["metric"]): r["value"] for r in doc["rows"]}
    names = [m + CONVERGE_SUFFIX for m in MODELS if (m + CONVERGE_SUFFIX, doc.get("labels", [""])[0], "ap") in val]
    out = []
    if conv.get("sign_tests"):
        out.append("\n### Does the TCN beat the RNNs? Sign tests over the TFs (chr8 AP of the models above)\n\n"
                   "Two-sided exact binomial test of per-TF wins (ties dropped), `tfscope.metrics.sign_test`.\n\n"
                   + markdown_table(conv["sign_tests"], ["model", "versus", "n", "wins", "losses",
                                                         "median_difference", "p_value"], floatfmt=".3g"))
    if names:
        per = [{"TF": t, "n_pos test": val.get((names[0], t, "n_pos"), math.nan),
                **{f"{n} AP": val.get((n, t, "ap"), math.nan) for n in names}} for t in doc.get("labels", [])]
        out.append("\n### Per TF (chr8 test AP of the models above; see `converged` for whether each converged)\n\n"
                   + markdown_table(per, ["TF", "n_pos test", *[f"{n} AP" for n in names]]))
    for m, coop in conv.get("cooperative", {}).items():
        out.append(render_cooperative(coop, f"benchmarks/results/figures/multilabel_converge_cooccurrence_{m}.png",
                                      "###", observed=False))
    for m, mod in conv.get("modisco", {}).items():
        out.append(render_modisco(mod, "held-out", "###"))
    return "".join(out)


def main():
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--max-seconds", type=float, default=330.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--explain-budget", type=float, default=420.0, help="seconds for IG+MoDISco over the TFs")
    ap.add_argument("--explain-per-tf", type=int, default=150)
    ap.add_argument("--skip-explain", action="store_true")
    ap.add_argument("--explain-model", default=None,
                    help="checkpoint to interpret (default: the TCN configuration with the best valid macro-AP)")
    ap.add_argument("--redo", action="store_true")
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--redo-post", action="store_true", help="recompute the cooperative and MoDISco sections")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--observed", action="store_true", help="only the co-binding of the observed labels (no model)")
    args = ap.parse_args()
    suite = "multilabel"
    if args.render_only:
        doc = load_results(suite)
        save_results(doc, render(doc), stamp=False)
        return
    from tfscope.multilabel import load_windows, train_multilabel

    t0 = time.time()
    data = load_windows(TABLE)
    print(f"loaded {len(data)} windows in {time.time() - t0:.0f}s", flush=True)
    doc = load_results(suite)
    doc["observed"] = observed_cobinding(data)
    doc["labels"] = data.labels
    save_results(doc, render(doc))
    if args.observed:
        return
    te = data.part("test")
    for m in args.models:
        doc = load_results(suite)
        if any(r["model"] == m for r in doc["rows"]) and not args.redo:
            print(f"{m}: done, skipped", flush=True)
            continue
        name, hp = VARIANTS.get(m, (m, None))
        r = train_multilabel(data, model=name, hparams=hp, max_seconds=args.max_seconds, epochs=100, lr=args.lr,
                             batch_size=args.batch_size, seed=args.seed, out=CKPT / m, verbose=True)
        np.save(CKPT / m / "test_probs.npy", r["test_probs"])
        params = sum(p.numel() for p in r["net"].parameters())
        new = []
        for pl in r["test"]["per_label"]:
            for k in ("ap", "auroc", "f1", "threshold", "n_pos"):
                new.append({"model": m, "dataset": pl["label"], "metric": k, "value": pl[k]})
        for agg in ("macro", "micro"):
            for k, v in r["test"][agg].items():
                new.append({"model": m, "dataset": agg, "metric": k, "value": v})
        tr = r["train"]
        for k, v in (("train_seconds", round(r["train_seconds"], 1)), ("epochs", len(tr["train_loss"])),
                     ("windows_seen", r.get("windows_seen")), ("params", params),
                     ("predict_windows_per_second", round(r["test"]["predict_windows_per_second"], 1)),
                     ("valid_macro_ap", r["valid"]["macro"]["ap"])):
            if v is not None:
                new.append({"model": m, "dataset": "all", "metric": k, "value": v})
        doc = load_results(suite)
        doc["rows"] = [x for x in doc["rows"] if x["model"] != m] + new
        doc["labels"] = data.labels
        doc["settings"] = {"max_seconds": args.max_seconds, "lr": args.lr, "batch_size": args.batch_size,
                           "seed": args.seed, "hparams": {**doc.get("settings", {}).get("hparams", {}),
                                                          m: r["hparams"]}}
        save_results(doc, render(doc))
        print(f"{m}: macro AP {r['test']['macro']['ap']:.3f} AUROC {r['test']['macro']['auroc']:.3f} "
              f"micro AP {r['test']['micro']['ap']:.3f} train {r['train_seconds']:.0f}s", flush=True)

    # the TCN configuration interpreted below and whose predictions feed the co-occurrence comparison
    doc = load_results(suite)
    vap = {r["model"]: r["value"] for r in doc["rows"] if r["metric"] == "valid_macro_ap"}
    tcns = [m for m in ("tcn", *VARIANTS) if m in vap and (CKPT / m / "test_probs.npy").exists()]
    xm = args.explain_model or (max(tcns, key=lambda m: vap[m]) if tcns else None)

    # cooperative binding: observed vs TCN predictions
    if xm is not None and ("cooperative" not in doc or doc["cooperative"].get("model") != xm or args.redo_post):
        from tfscope.multilabel.train import load_multilabel

        t1 = time.time()
        _, _, thr = load_multilabel(CKPT / xm)
        doc["cooperative"] = cooperative_record(data, np.load(CKPT / xm / "test_probs.npy"), thr, xm, FIG)
        save_results(doc, render(doc))
        print(f"cooperative: {time.time() - t1:.0f}s, spearman {doc['cooperative']['spearman_obs_vs_pred']:.3f}",
              flush=True)

    # interpretation on the TCN
    doc = load_results(suite)
    if not args.skip_explain and xm is not None and (
            "modisco" not in doc or doc["modisco"].get("model") != xm or args.redo_post):
        from tfscope.multilabel.train import load_multilabel

        net, labels, _ = load_multilabel(CKPT / xm)
        rec = modisco_record(net, te.x, te.y, labels, xm, per_tf=args.explain_per_tf, budget=args.explain_budget,
                             seed=args.seed, positives="chr8 test", why="the TCN configuration with the best chr7 "
                             "macro-AP")
        doc = load_results(suite)
        doc["modisco"] = rec
        save_results(doc, render(doc))


def observed_cobinding(data) -> dict:
    """Co-occurrence of the pairs named in ``../shared/README.md`` in the observed labels (all windows; Fisher exact
    test, BH over all 990 pairs, :func:`tfscope.multilabel.cooccurrence`), beside the same pairs in the first build
    of the shared data (``first_build``: windows and sites of 14 TFs at hg38 positions read as hg19)."""
    import json

    from tfscope.multilabel import cooccurrence

    idx = {(r["a"], r["b"]): r for r in cooccurrence(data.y, data.labels)}
    old = {}
    if FIRST_BUILD.exists():
        fb = json.loads(FIRST_BUILD.read_text())
        for coop in (fb.get("converge", {}).get("cooperative") or {}).values():
            for r in coop.get("readme_pairs", []):
                old[(r["a"], r["b"])] = r
        for r in (fb.get("cooperative") or {}).get("observed_all", []):
            old.setdefault((r["a"], r["b"]), {"obs n11": r["n11"], "obs log2_or": r["log2_or"], "obs q": r["q"]})
    rows = []
    for a, b in README_PAIRS:
        o = idx.get((a, b)) or idx.get((b, a))
        f = old.get((a, b)) or old.get((b, a)) or {}
        rows.append({"a": a, "b": b, "n11": o["n11"], "expected": o["expected"], "odds_ratio": o["odds_ratio"],
                     "log2_or": o["log2_or"], "q": o["q"], "enriched": bool(o["q"] < 0.05 and o["log2_or"] > 0),
                     "first build n11": f.get("obs n11", math.nan), "first build log2_or": f.get("obs log2_or", math.nan)})
    return {"windows": len(data), "positives": {t: int(v) for t, v in zip(data.labels, data.y.sum(0))},
            "readme_pairs": rows}


def render_observed(obs: dict) -> str:
    """Markdown of :func:`observed_cobinding`."""
    rows = obs["readme_pairs"]
    return ("\n## Co-binding in the observed labels (corrected data, all windows)\n\n"
            f"The pairs `../shared/README.md` names, over the {obs['windows']:,} windows (Fisher exact test, "
            "Benjamini-Hochberg over the 990 pairs, odds ratio with +0.5 correction); `first build`: the same pair in "
            "the labels of the first build of the shared data, where the windows of 14 TFs sat at hg38 positions "
            f"({sum(r['enriched'] for r in rows)} of {len(rows)} enriched now).\n\n"
            + markdown_table(rows, ["a", "b", "n11", "expected", "odds_ratio", "log2_or", "q", "enriched",
                                    "first build n11", "first build log2_or"], floatfmt=".3g"))


def cooperative_record(data, probs: np.ndarray, thr: np.ndarray, model: str, fig: Path | None = None) -> dict:
    """Co-binding statistics (:mod:`tfscope.multilabel.coop`): Fisher tests of every TF pair on the observed labels
    (all windows, chr8 test) and on ``model``'s chr8 predictions ``probs (N_test, T)`` thresholded at ``thr (T,)``;
    top pairs, the known complexes of ``../shared/README.md`` (observed vs predicted; ``recovered``: predicted
    log2 OR > 0 at q < 0.05) and the Spearman correlation of pair log2 odds ratios. Draws the heatmaps to ``fig``."""
    from scipy.stats import spearmanr

    from tfscope.multilabel import cooccurrence, log2_or_matrix, plot_heatmaps, top_pairs

    te = data.part("test")
    obs_all = cooccurrence(data.y, data.labels)
    obs_te = cooccurrence(te.y, data.labels)
    pred_te = cooccurrence(probs >= thr[None, :], data.labels)
    keep = ["a", "b", "n_a", "n_b", "n11", "expected", "odds_ratio", "log2_or", "p", "q", "complex"]
    pick = lambda rows: [{k: r[k] for k in keep} for r in top_pairs(rows, 15)]  # noqa: E731
    pidx = {(r["a"], r["b"]): r for r in pred_te}
    known = []
    for r in obs_all:
        if r["complex"] and not r["complex"].startswith("family:"):
            pr = pidx[(r["a"], r["b"])]
            known.append({"a": r["a"], "b": r["b"], "complex": r["complex"], "obs n11": r["n11"],
                          "obs log2_or": r["log2_or"], "obs q": r["q"], "pred log2_or": pr["log2_or"],
                          "pred q": pr["q"], "recovered": bool(pr["q"] < 0.05 and pr["log2_or"] > 0)})
    oidx = {(r["a"], r["b"]): r for r in obs_all}
    readme = []
    for a, b in README_PAIRS:
        key = (a, b) if (a, b) in oidx else (b, a)
        if key in oidx:
            o, pr = oidx[key], pidx[key]
            readme.append({"a": a, "b": b, "obs n11": o["n11"], "obs log2_or": o["log2_or"], "obs q": o["q"],
                           "pred log2_or": pr["log2_or"], "pred q": pr["q"],
                           "recovered": bool(pr["q"] < 0.05 and pr["log2_or"] > 0)})
    rho = spearmanr([r["log2_or"] for r in obs_te], [r["log2_or"] for r in pred_te]).statistic
    if fig is not None:
        plot_heatmaps(log2_or_matrix(obs_all, data.labels), log2_or_matrix(pred_te, data.labels), data.labels, fig,
                      titles=("observed labels, all windows", f"{model} predictions, chr8 test"))
    return {"model": model, "n_pairs": len(obs_all), "observed_all": pick(obs_all), "observed_test": pick(obs_te),
            "predicted_test": pick(pred_te), "known": known, "readme_pairs": readme,
            "spearman_obs_vs_pred": float(rho),
            "n_significant_all": sum(r["significant"] for r in obs_all),
            "n_significant_positive_all": sum(r["significant"] and r["log2_or"] > 0 for r in obs_all)}


def modisco_record(net, x: np.ndarray, y: np.ndarray, labels: list[str], model: str, *, per_tf: int, budget: float,
                   seed: int, positives: str, why: str) -> dict:
    """IG -> TF-MoDISco -> Tomtom for every TF head of ``net`` on up to ``per_tf`` of its positives among the
    windows ``x (N, 4, L)``, ``y (N, T)`` (:func:`tfscope.multilabel.explain_multilabel`): ``{"model", "rows",
    "note", "positives"}``; ``positives`` and ``why`` (why this model) go into the note."""
    from tfscope.multilabel import explain_multilabel

    t1 = time.time()
    rows = explain_multilabel(net, x, y, labels, max_per_tf=per_tf, n_steps=16, time_budget=budget, seed=seed,
                              verbose=True)
    n_done = sum(r["verdict"] != "skipped" for r in rows)
    note = (f"Model: `{model}` ({why}). Integrated gradients (captum via tfscope.interpret.attribute, zero "
            f"baseline, 16 steps) of each TF head on up to {per_tf} of its {positives} positives; modisco-lite with "
            f"windows scaled to 100 bp; top pattern (most seqlets) trimmed and matched to JASPAR 2022 CORE "
            f"vertebrates with memelite Tomtom. `own`: the TF's own JASPAR matrix at q < 0.05; `partner`: another "
            f"label-set TF's matrix at q < 0.05. {n_done} of {len(rows)} TFs ran within the {budget:.0f} s budget "
            f"({time.time() - t1:.0f} s).")
    print(f"explain {model}: {time.time() - t1:.0f}s", flush=True)
    return {"model": model, "rows": rows, "note": note, "positives": positives}


if __name__ == "__main__":
    main()
