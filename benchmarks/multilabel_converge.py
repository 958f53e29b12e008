"""Multi-label models trained to convergence in resumable phases (issue 30).

One call runs ONE phase per model: for each of tcn, bilstm, danq, cnn (same windows, loss, positive weights and
chr7-tuned thresholds as ``benchmarks/multilabel.py``) it trains at most ``--minutes`` of wall time with
``tfscope.multilabel.train_multilabel`` (early stopping on the chr7 macro AP), continuing the model's checkpoint in
``--checkpoints/<model>`` when there is one (``init=``, recorded in its ``meta.phases``) and skipping models whose
checkpoint has already converged (``meta.converged``). Run it again until every model has converged.

After each model it rewrites (atomically: temp file + ``os.replace``) the rows of ``<model>-converge`` in
``<results-dir>/multilabel.json``, keeping every other row (long format: model, dataset, metric, value; ``macro`` /
``micro`` ap, auroc, f1 on chr8 test, and ``all``: converged 0/1, epochs, windows_seen, seconds_per_epoch, phases,
train_seconds, valid_macro_ap), the ``converge`` section of the JSON (settings, per-model phase records and chr7
curves), ``multilabel.md`` (rendered by ``benchmarks/multilabel.py``, with a convergence section) and the learning
curves ``<results-dir>/figures/multilabel_converge.png`` (chr7 macro AP vs cumulative epoch).

Usage: ``python benchmarks/multilabel_converge.py --minutes 30 [--models tcn bilstm danq cnn]
[--schedule constant] [--checkpoints benchmarks/checkpoints/multilabel-converge]``; a smoke test:
``--max-rows 3000 --minutes 0.3 --results-dir /tmp/r --checkpoints /tmp/ck``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, load_results, save_results  # noqa: E402
from multilabel import (CONVERGE_FIG, CONVERGE_SUFFIX, MODELS, TABLE, cooperative_record,  # noqa: E402
                        modisco_record, render)

HERE = Path(__file__).parent
CKPT = HERE / "checkpoints" / "multilabel-converge"
SUITE = "multilabel"


def read_meta(ckpt: Path) -> dict | None:
    """``meta`` of a model's checkpoint, or None when there is none yet."""
    from tfscope.checkpoint import read_config

    return read_config(ckpt)["meta"] if (ckpt / "config.json").exists() else None


def read_hparams(ckpt: Path) -> dict:
    """``hparams`` of a model's checkpoint."""
    from tfscope.checkpoint import read_config

    return read_config(ckpt)["hparams"]


def best_valid_ap(phases: list[dict]) -> float:
    """Best chr7 macro AP over a model's recorded phases (NaN when none recorded one; a phase trained before phases
    were recorded has none and is skipped, instead of a NaN that ``max`` would keep or drop by position)."""
    vals = [p["best_valid_macro_ap"] for p in phases if p.get("best_valid_macro_ap") is not None]
    return max(vals) if vals else float("nan")


def rows_of(model: str, meta: dict) -> list[dict]:
    """Long-format rows of ``<model>-converge`` from its checkpoint meta (chr8 test metrics, convergence record)."""
    name = model + CONVERGE_SUFFIX
    rows = []
    for agg in ("macro", "micro"):
        for k, v in (meta.get(f"test_{agg}") or {}).items():
            rows.append({"model": name, "dataset": agg, "metric": k, "value": v})
    phases = meta.get("phases", [])
    seconds = sum(float(p.get("seconds") or 0) for p in phases)
    passes = meta.get("windows_seen", 0) / max(meta.get("train_rows", 1), 1)
    best = best_valid_ap(phases)
    for k, v in (("converged", int(bool(meta.get("converged")))), ("epochs", meta.get("epochs")),
                 ("windows_seen", meta.get("windows_seen")),
                 ("seconds_per_epoch", round(seconds / passes, 2) if passes else None),
                 ("phases", len(phases)), ("train_seconds", round(seconds, 1)), ("valid_macro_ap", best)):
        if v is not None:
            rows.append({"model": name, "dataset": "all", "metric": k, "value": v})
    return rows


def curve_of(phases: list[dict]) -> tuple[list[float], list[float], list[int]]:
    """Concatenated chr7 macro-AP curve over phases -> (cumulative epoch numbers, AP values, first epoch of each
    phase). A phase recorded without a curve (trained before phases existed) only shifts the epochs."""
    xs, ys, starts, e = [], [], [], 0
    for p in phases:
        starts.append(e)
        for i, v in enumerate(p.get("valid_macro_ap") or []):
            xs.append(e + i + 1)
            ys.append(v)
        e += int(p.get("epochs") or 0)
    return xs, ys, starts


def plot_curves(phases_by_model: dict[str, list[dict]], path: Path) -> None:
    """chr7 macro AP vs cumulative epoch, one line per model, phase starts as dotted markers (PNG, atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401

    from tfscope.io import atomic_write

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m, phases in phases_by_model.items():
        xs, ys, starts = curve_of(phases)
        if not xs:
            continue
        (line,) = ax.plot(xs, ys, marker="o", ms=3, label=m)
        for s in starts[1:]:
            ax.axvline(s + 0.5, color=line.get_color(), ls=":", lw=0.8)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch (cumulative over phases; dotted: a new phase starts)")
    ax.set_ylabel("chr7 (valid) macro AP")
    ax.set_title("Multi-label models trained to convergence")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_write(path, mode="wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


def record(doc: dict, model: str, meta: dict, settings: dict, hparams: dict | None = None) -> dict:
    """``doc`` with the rows and phase records of ``model`` replaced (every other row kept)."""
    name = model + CONVERGE_SUFFIX
    doc["rows"] = [r for r in doc["rows"] if r["model"] != name] + rows_of(model, meta)
    conv = doc.setdefault("converge", {})
    conv["settings"] = settings
    conv.setdefault("phases", {})[model] = meta.get("phases", [])
    conv.setdefault("hparams", {})[model] = hparams
    return doc


#: models the converged TCN is compared with by a sign test over the TFs (per-TF chr8 AP)
SIGN_VERSUS = ("bilstm", "danq", "cnn")


def per_tf_rows(model: str, metrics: dict) -> list[dict]:
    """Long-format per-TF rows (dataset = TF; ap, auroc, f1, threshold, n_pos) of ``<model>-converge``."""
    return [{"model": model + CONVERGE_SUFFIX, "dataset": pl["label"], "metric": k, "value": pl[k]}
            for pl in metrics["per_label"] for k in ("ap", "auroc", "f1", "threshold", "n_pos")]


def _merge_saved(doc: dict, results_dir: Path) -> dict:
    """Save ``doc``'s post-training results (per-TF ``-converge`` rows and the ``converge`` analyses) into the JSON
    as it is on disk now, so that rows another process wrote meanwhile (a phase of a model that was still training)
    are kept; returns the merged document."""
    disk = load_results(SUITE, results_dir)
    mine = {(r["model"], r["dataset"], r["metric"]) for r in doc["rows"]}
    disk["rows"] = [r for r in disk["rows"] if (r["model"], r["dataset"], r["metric"]) not in mine] + doc["rows"]
    conv = disk.setdefault("converge", {})
    for k in ("sign_tests", "best_model", "best_model_converged", "cooperative", "modisco"):
        if k in doc.get("converge", {}):
            conv[k] = doc["converge"][k]
    if "labels" in doc:
        disk["labels"] = doc["labels"]
    save_results(disk, render(disk), results_dir)
    return disk


def post(doc: dict, data, ckpts: Path, results_dir: Path, *, per_tf: int, budget: float, seed: int,
         redo: bool, unconverged: bool = False) -> dict:
    """After training: per-TF chr8 metrics of every model's checkpoint (test probabilities kept in
    ``<ckpt>/test_probs.npy``), sign tests of the TCN against the RNNs and the CNN over the TFs, and the co-binding
    and IG -> TF-MoDISco -> Tomtom analyses of the converged model with the best chr7 macro AP and of the converged
    TCN (held-out positives: chr7 and chr8 windows, which no model trained on). Resumable: an analysis already in
    ``doc["converge"]`` for the same model is kept unless ``redo``. ``unconverged``: choose among every trained
    model, converged or not (``best_model_converged`` in the JSON says which it was)."""
    from tfscope.metrics import multilabel_metrics, sign_test
    from tfscope.multilabel.train import load_multilabel
    from tfscope.train import predict

    conv = doc.setdefault("converge", {})
    te = data.part("test")
    ap, loaded, metas = {}, {}, {m: read_meta(ckpts / m) for m in MODELS}
    for m in MODELS:
        if metas[m] is None:
            continue
        net, labels, thr = loaded[m] = load_multilabel(ckpts / m)
        probs = predict(net, te.x, batch_size=1024)
        np.save(ckpts / m / "test_probs.npy", probs)
        met = multilabel_metrics(te.y, probs, thresholds=thr, labels=labels)
        name = m + CONVERGE_SUFFIX
        doc["rows"] = [r for r in doc["rows"] if not (r["model"] == name and r["dataset"] in labels)] + per_tf_rows(
            m, met)
        ap[m] = [pl["ap"] for pl in met["per_label"]]
    conv["sign_tests"] = [{"model": "tcn" + CONVERGE_SUFFIX, "versus": o + CONVERGE_SUFFIX,
                           **{k: (round(v, 4) if k == "median_difference" else v)
                              for k, v in sign_test(ap["tcn"], ap[o]).items()}}
                          for o in SIGN_VERSUS if "tcn" in ap and o in ap]
    vap = {m: best_valid_ap(metas[m]["phases"]) for m in MODELS
           if metas[m] is not None and (unconverged or metas[m].get("converged"))}
    conv["best_model"] = max(vap, key=vap.get) if vap else None
    conv["best_model_converged"] = bool(vap and metas[conv["best_model"]].get("converged"))
    targets = list(dict.fromkeys([*([conv["best_model"]] if vap else []), *(["tcn"] if "tcn" in vap else [])]))
    held = data.subset(data.split != "train")
    doc = _merge_saved(doc, results_dir)
    for m in targets:
        state = "converged" if metas[m].get("converged") else "trained (not converged)"
        why = (f"the {state} model with the best chr7 macro AP" if m == conv["best_model"] else f"the {state} TCN")
        net, _, thr = loaded[m]
        coop = doc["converge"].setdefault("cooperative", {})
        if m not in coop or redo:
            coop[m] = cooperative_record(data, np.load(ckpts / m / "test_probs.npy"), thr, m + CONVERGE_SUFFIX,
                                         results_dir / "figures" / f"multilabel_converge_cooccurrence_{m}.png")
            doc = _merge_saved(doc, results_dir)
        mod = doc["converge"].setdefault("modisco", {})
        if m not in mod or redo:
            mod[m] = modisco_record(net, held.x, held.y, data.labels, m + CONVERGE_SUFFIX, per_tf=per_tf,
                                    budget=budget, seed=seed, positives="held-out (chr7 valid + chr8 test)",
                                    why=why)
            doc = _merge_saved(doc, results_dir)
    return doc


def load_data(args):
    """The windows table (``--max-rows``: a seeded sample of it, for smoke tests)."""
    from tfscope.multilabel import load_windows

    t0 = time.time()
    data = load_windows(args.data)
    if args.max_rows is not None and len(data) > args.max_rows:
        data = data.subset(np.sort(np.random.default_rng(args.seed).permutation(len(data))[:args.max_rows]))
    print(f"loaded {len(data)} windows in {time.time() - t0:.0f}s", flush=True)
    return data


def main(argv=None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, required=True, help="wall-time budget of this phase, per model")
    ap.add_argument("--models", nargs="*", default=MODELS, choices=MODELS,
                    help="models to train (none: only --post)")
    ap.add_argument("--checkpoints", type=Path, default=CKPT, help="one checkpoint directory per model below this")
    ap.add_argument("--results-dir", type=Path, default=RESULTS, help="where multilabel.json/.md and figures/ are")
    ap.add_argument("--data", type=Path, default=TABLE, help="windows table")
    ap.add_argument("--max-rows", type=int, default=None,
                    help="smoke tests: a seeded sample of N windows of the table (all splits)")
    ap.add_argument("--schedule", choices=("constant", "cosine", "plateau"), default="constant",
                    help="learning-rate schedule of each phase")
    ap.add_argument("--epochs", type=int, default=100, help="epoch limit of a phase")
    ap.add_argument("--patience", type=int, default=3, help="epochs without a better chr7 macro AP")
    ap.add_argument("--lr", type=float, default=None, help="learning rate (default: train_multilabel's)")
    ap.add_argument("--batch-size", type=int, default=128, help="windows per batch")
    ap.add_argument("--seed", type=int, default=0, help="seed (phase k trains with seed + k - 1)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    ap.add_argument("--post", action="store_true",
                    help="after training: per-TF chr8 rows, sign tests, co-binding and MoDISco (see post())")
    ap.add_argument("--explain-per-tf", type=int, default=300, help="MoDISco: held-out positives per TF")
    ap.add_argument("--explain-budget", type=float, default=1800.0, help="MoDISco: seconds per model")
    ap.add_argument("--redo-post", action="store_true", help="recompute the co-binding and MoDISco analyses")
    ap.add_argument("--post-unconverged", action="store_true",
                    help="--post: analyse the best (and the TCN) among all trained models, converged or not")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from tfscope.multilabel import train_multilabel

    settings = {"minutes": args.minutes, "schedule": args.schedule, "patience": args.patience,
                "batch_size": args.batch_size, "max_epochs": args.epochs, "seed": args.seed, "lr": args.lr,
                "max_rows": args.max_rows}
    data = None
    for m in args.models:
        ckpt = args.checkpoints / m
        meta = read_meta(ckpt)
        if meta is not None and meta.get("converged"):
            print(f"{m}: converged after {len(meta.get('phases', []))} phase(s), skipped", flush=True)
        else:
            data = data if data is not None else load_data(args)
            r = train_multilabel(data, model=m, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                 patience=args.patience, max_seconds=args.minutes * 60, seed=args.seed,
                                 out=ckpt, init=ckpt if meta is not None else None, schedule=args.schedule,
                                 device=args.device, verbose=True)
            ph = r["phase"]
            print(f"{m}: phase {ph['phase']}: {ph['epochs']} epochs, stop {ph['stop_reason']}, chr7 macro AP "
                  f"{ph['valid_macro_ap']}, converged {r['converged']}, chr8 macro AP "
                  f"{r['test']['macro']['ap'] if r['test'] else float('nan'):.4f}", flush=True)
            meta = read_meta(ckpt)
        doc = record(load_results(SUITE, args.results_dir), m, meta, settings, hparams=read_hparams(ckpt))
        plot_curves(doc["converge"]["phases"], args.results_dir / "figures" / CONVERGE_FIG)
        save_results(doc, render(doc), args.results_dir)
    if args.post:
        data = data if data is not None else load_data(args)
        post(load_results(SUITE, args.results_dir), data, args.checkpoints, args.results_dir,
             per_tf=args.explain_per_tf, budget=args.explain_budget, seed=args.seed, redo=args.redo_post,
             unconverged=args.post_unconverged)  # saves
    return 0


if __name__ == "__main__":
    sys.exit(main())
