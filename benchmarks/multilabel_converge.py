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
from multilabel import CONVERGE_FIG, CONVERGE_SUFFIX, MODELS, TABLE, render  # noqa: E402

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
    best = max((p.get("best_valid_macro_ap") or float("nan") for p in phases), default=float("nan"))
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


def main(argv=None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, required=True, help="wall-time budget of this phase, per model")
    ap.add_argument("--models", nargs="+", default=MODELS, choices=MODELS, help="models to train")
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
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from tfscope.multilabel import load_windows, train_multilabel

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
            if data is None:
                t0 = time.time()
                data = load_windows(args.data)
                if args.max_rows is not None and len(data) > args.max_rows:
                    data = data.subset(np.sort(np.random.default_rng(args.seed).permutation(len(data))[
                        :args.max_rows]))
                print(f"loaded {len(data)} windows in {time.time() - t0:.0f}s", flush=True)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
