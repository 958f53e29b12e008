"""Build the any-TF motif-conditioned model (issue 41): data, leave-group-out folds, the shipped model, calibration.

    python scripts/build_anytf.py prepare OUT [--train-windows 30000]       # labelled candidates (train/chr7/chr8)
    python scripts/build_anytf.py train OUT --fold K [--folds 5] [--max-minutes 6]   # K = -1: all 45 TFs
    python scripts/build_anytf.py calibrate OUT [--install]                 # LGO maps, PWM floor -> the artifact

Training data: tfbs-multilabel windows of the train chromosomes (never chr7, chr8, chr9), a random sample; chr7
(first 1 Mbp) picks the epoch and fits every calibration; chr8 (first 1 Mbp) is only scored for the benchmark.
Each fold model leaves out whole paralog groups (the genomic zoo's ``meta.groups``) from training and from its
validation set. One torch thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
WINDOWS = SHARED / "tfbs-multilabel" / "windows.tsv.gz"
SITES = SHARED / "tfbs-multilabel" / "sites.bed.gz"


def zoo_groups() -> dict[str, str]:
    """TF -> paralog group of the shipped genomic zoo (its ``meta.groups``)."""
    from tfscope.resources import resource

    return json.loads((resource("zoo", "genomic") / "config.json").read_text())["meta"]["groups"]


def folds(groups: dict[str, str], k: int = 5) -> list[list[str]]:
    """Paralog groups dealt to ``k`` folds (largest groups first, round robin): each fold a list of TFs."""
    members: dict[str, list[str]] = {}
    for tf, g in sorted(groups.items()):
        members.setdefault(g, []).append(tf)
    order = sorted(members, key=lambda g: (-len(members[g]), g))
    out = [[] for _ in range(k)]
    for i, g in enumerate(order):
        out[i % k] += members[g]
    return out


def prepare(out: Path, n_train: int):
    from tfscope.anytf.data import HOLDOUT, load_windows
    from tfscope.anytf.train import labelled_candidates, zoo_motifs

    tfs = sorted(zoo_groups())
    motifs = zoo_motifs(tfs)
    (out / "motifs.json").write_text(json.dumps([[m.matrix_id, m.name] for m in motifs]))
    sets = {"train": dict(exclude=HOLDOUT, sample=n_train, seed=0), "chr7": dict(chroms={"chr7"}, max_bp=1_000_000),
            "chr8": dict(chroms={"chr8"}, max_bp=1_000_000)}
    for name, kw in sets.items():
        t0 = time.time()
        w = load_windows(WINDOWS, SITES, **kw)
        d = labelled_candidates(w, motifs)
        np.savez(out / f"data_{name}.npz", **d)
        print(f"{name}: {len(w):,} windows, {len(d['label']):,} candidates, {d['label'].mean():.3f} positive "
              f"({time.time() - t0:.0f}s)", flush=True)


def load(out: Path, name: str) -> dict:
    z = np.load(out / f"data_{name}.npz")
    return {k: z[k] for k in z.files}


def train(out: Path, fold: int, n_folds: int, max_minutes: float, seed: int):
    import torch

    from tfscope.anytf.train import save_motif_model, score_candidates, train_motif_model, zoo_motifs

    torch.set_num_threads(1)
    groups = zoo_groups()
    tfs = sorted(groups)
    motifs = zoo_motifs(tfs)
    held = folds(groups, n_folds)[fold] if fold >= 0 else []
    keep = [t for t in tfs if t not in held]
    tr, c7, c8 = load(out, "train"), load(out, "chr7"), load(out, "chr8")
    model, res = train_motif_model(tr, c7, motifs, keep, seed=seed, max_seconds=max_minutes * 60)
    tag = "all" if fold < 0 else f"fold{fold}"
    meta = {"held_out_tfs": held, "trained_tfs": keep, "train": res.as_dict(), "excluded_chroms": ["chr7", "chr8", "chr9"],
            "matrices": {m.name: m.matrix_id for m in motifs}}
    save_motif_model(out / f"model_{tag}", model, meta=meta)
    # a fold scores the candidates of its held-out TFs (leave-group-out); the all-TF model scores chr8 (reference)
    preds = {}
    for ch, d in (("chr7", c7), ("chr8", c8)):
        p = np.full(len(d["motif"]), np.nan, np.float32)
        sel = np.isin(d["motif"], [i for i, t in enumerate(tfs) if t in held]) if fold >= 0 else \
            (np.ones(len(p), bool) if ch == "chr8" else np.zeros(len(p), bool))
        if sel.any():
            p[sel] = score_candidates(model, d["ctx"][sel], d["motif"][sel], motifs, d["feats"][sel])
        preds[ch] = p
    np.savez(out / f"pred_{tag}.npz", **preds)
    print(f"{tag}: held out {held}; best epoch {res.best_epoch}, valid {res.valid_loss}, {res.seconds:.0f}s",
          flush=True)


def lgo_predictions(out: Path, n_folds: int = 5) -> dict[str, dict[str, np.ndarray]]:
    """Leave-group-out scores per chromosome: each candidate scored by the fold model that left its TF's group out."""
    groups = zoo_groups()
    tfs = sorted(groups)
    fold_of = {t: k for k, f in enumerate(folds(groups, n_folds)) for t in f}
    out_d = {}
    for ch in ("chr7", "chr8"):
        d = load(out, ch)
        s = np.zeros(len(d["motif"]), np.float32)
        for k in range(n_folds):
            p = np.load(out / f"pred_fold{k}.npz")[ch]
            sel = np.isin(d["motif"], [i for i, t in enumerate(tfs) if fold_of[t] == k])
            s[sel] = p[sel]
        out_d[ch] = s
    return out_d


def per_tf_calls(d: dict, score: np.ndarray, windows, tfs) -> dict:
    """TF -> (call score, matched, site_best, n_sites, candidate index) of :func:`tfscope.anytf.calibrate.tf_calls`."""
    from tfscope.anytf.calibrate import tf_calls

    z = np.zeros(0, np.int64)
    res = {}
    for i, tf in enumerate(tfs):
        idx, s, m, best, n = tf_calls(d, i, score, windows.sites.get(tf, (z, z, z)))
        res[tf] = (s, m, best, n, idx)
    return res


def as_precision(res: dict, maps: list, ic: dict, tfs) -> list[tuple]:
    """Per TF ``(precision, matched, site_best precision, n_sites)``: call scores through the precision maps (sites
    no call reached stay at -inf)."""
    from tfscope.anytf.calibrate import apply_precision

    out = []
    for t in tfs:
        s, m, best, n = res[t][:4]
        fin = np.isfinite(best)
        pb = np.full(len(best), -np.inf)
        if fin.any():
            pb[fin] = apply_precision(best[fin], ic[t], maps)
        out.append((apply_precision(s, ic[t], maps), m, pb, n))
    return out


def calibrate(out: Path, install: bool):
    """Fit the leave-group-out precision maps, the call thresholds and the PWM floor on chr7; install the model."""
    from tfscope.anytf.calibrate import IC_EDGES, best_global_threshold, fit_precision_maps, floor_decision
    from tfscope.anytf.data import load_windows, site_metrics
    from tfscope.anytf.train import zoo_motifs

    tfs = sorted(zoo_groups())
    motifs = zoo_motifs(tfs)
    ic = {m.name: m.ic for m in motifs}
    w7 = load_windows(WINDOWS, SITES, chroms={"chr7"}, max_bp=1_000_000)
    d7 = load(out, "chr7")
    lgo = lgo_predictions(out)["chr7"]
    nlp = -np.log10(np.maximum(d7["pvalue"], 1e-300))
    mc, pw = per_tf_calls(d7, lgo, w7, tfs), per_tf_calls(d7, nlp, w7, tfs)

    def maps(res):
        s = np.concatenate([res[t][0] for t in tfs])
        m = np.concatenate([res[t][1] for t in tfs])
        i = np.concatenate([np.full(len(res[t][0]), ic[t]) for t in tfs])
        return fit_precision_maps(s, m, i)

    mc_maps, pw_maps = maps(mc), maps(pw)
    # thresholds: one for every unseen matrix, on the calibrated precision (comparable across IC bins)
    grid = np.round(np.arange(0.02, 0.951, 0.01), 3)
    mc_p, pw_p = as_precision(mc, mc_maps, ic, tfs), as_precision(pw, pw_maps, ic, tfs)
    tau, f_mc = best_global_threshold(mc_p, grid)
    tau_pw, f_pw = best_global_threshold(pw_p, grid)
    t_pwm, f_pw_p = best_global_threshold([pw[t][:4] for t in tfs], np.round(np.arange(3.0, 8.01, 0.1), 2))
    mc_f1 = {t: site_metrics(*mc_p[k], tau)["site_f1"] for k, t in enumerate(tfs) if mc[t][3]}
    pw_f1 = {t: site_metrics(*pw_p[k], tau_pw)["site_f1"] for k, t in enumerate(tfs) if pw[t][3]}
    floor = floor_decision(mc_f1, pw_f1, ic)
    cal = {"ic_edges": list(IC_EDGES), "floor": floor,
           "motif_conditioned": {"maps": mc_maps, "min_precision": tau, "chr7_mean_site_f1": round(f_mc, 4)},
           "pwm": {"maps": pw_maps, "min_precision": tau_pw, "chr7_mean_site_f1": round(f_pw, 4),
                   "alternative": {"min_neg_log10_p": t_pwm, "chr7_mean_site_f1": round(f_pw_p, 4)}},
           "chr7_site_f1": {"motif_conditioned_lgo": {t: round(v, 4) for t, v in mc_f1.items()},
                            "pwm": {t: round(v, 4) for t, v in pw_f1.items()}},
           "set": "leave-group-out calls of the 45 zoo TFs' JASPAR 2024 matrices on the first 1 Mbp of tfbs-multilabel "
                  "chr7 windows (each window its own record); 5 folds of paralog groups"}
    (out / "calibration.json").write_text(json.dumps(cal, indent=1))
    print(f"MC precision >= {tau} (chr7 mean F1 {f_mc:.4f}); PWM precision >= {tau_pw} (chr7 mean F1 {f_pw:.4f}; "
          f"one p threshold -log10 p >= {t_pwm}: {f_pw_p:.4f}); floor {floor}",
          flush=True)
    if install:
        from tfscope.anytf.train import save_motif_model
        from tfscope.checkpoint import load_checkpoint
        from tfscope.resources import resources_dir

        model, cfg = load_checkpoint(out / "model_all", task="anytf")
        meta = dict(cfg["meta"])
        meta["calibration"] = cal
        meta["folds"] = folds(zoo_groups())
        meta["recipe"] = "python scripts/build_anytf.py prepare|train|calibrate (docs/any_tf.md)"
        save_motif_model(resources_dir() / "anytf", model, meta=meta, hparams=cfg.get("hparams") or None)
        print("installed", resources_dir() / "anytf", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["prepare", "train", "calibrate"])
    ap.add_argument("--install", action="store_true")
    ap.add_argument("out", type=Path)
    ap.add_argument("--train-windows", type=int, default=30000)
    ap.add_argument("--fold", type=int, default=-1)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--max-minutes", type=float, default=6.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    if a.step == "prepare":
        prepare(a.out, a.train_windows)
    elif a.step == "train":
        train(a.out, a.fold, a.folds, a.max_minutes, a.seed)
    else:
        calibrate(a.out, a.install)


if __name__ == "__main__":
    main()
