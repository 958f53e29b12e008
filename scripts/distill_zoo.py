"""Distil the genomic zoo into the fast zoo's networks (issue 44): its detector, then its localizers.

``--part detector``: genome segments of the training chromosomes (and chr7 for early stopping; never chr8 or chr9),
the teacher's pooled detector track on them (cached in ``OUT/targets-*.npz``), then :func:`tfscope.train.fit` on a
:class:`tfscope.zoo.student.StridedDetector` with the reverse complements added -> ``OUT/student.pt``.

``--part localizers`` (after the detector part, whose segments and targets it reuses): for each TF, the segments
where the teacher's detector lets the gate reach the TF's call threshold, the teacher's CNN localizer on them (both
strands, max), and a :class:`tfscope.zoo.student.LocalizerStudent` fitted to it on those nucleotides (and ``pool``
bp around them) -> ``OUT/localizers.pt``.

``scripts/build_zoo.py CKPTS --fast OUT/student.pt --localizer-students OUT/localizers.pt`` packs them into a zoo.

``--init`` (detector) and ``--loc-init`` (localizers) continue from an earlier fast zoo's networks; the detector's
motif layer may grow on the way (``--stem-kernel``, zero taps added: the same function at the start). The shipped
fast zoo (session 26): the session-19 student with its 9-bp motif layer grown to 17 bp and trained on (``--init
FAST_ZOO --stem-kernel 17 --lr 1e-3 --epochs 40 --minutes 45``), and its localizer students trained on (``--part
localizers --loc-init FAST_ZOO --lr 5e-4 --loc-seconds 75 --loc-epochs 40``, two processes, each with half of the
TFs in ``--tfs`` and its own ``--name``).

Usage: ``python scripts/distill_zoo.py OUT [--part detector|localizers] [--minutes 40] ...``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from tfscope.checkpoint import load_checkpoint
from tfscope.io.jaspar import jaspar_matrix, motif_pfm, pfm_to_log_odds
from tfscope.resources import resource
from tfscope.train import evaluate_loss, fit, seed_everything
from tfscope.zoo.student import (LocalizerStudent, StrandMax, StridedDetector, both_strand_max, distill_loss,
                                 distill_segments, localizer_loss, save_targets, teacher_targets, widened_stem,
                                 with_reverse_complements)

WINDOWS = Path(__file__).resolve().parents[2] / "shared" / "data" / "tfbs-multilabel" / "windows.tsv.gz"


def targets(out: Path, name: str, teacher, stride: int, **seg) -> tuple[np.ndarray, np.ndarray]:
    """Segments and teacher targets, from the cache when present."""
    path = out / f"targets-{name}-s{stride}.npz"
    if path.exists():
        z = np.load(path)
        return z["x"].astype(np.float32), z["y"]
    x = distill_segments(seg.pop("windows"), **seg)
    print(f"[distill] {name}: {len(x):,} segments of {x.shape[-1]} bp", flush=True)
    y = teacher_targets(teacher.detector, x, pool=teacher.pool, stride=stride)
    save_targets(path, x, y)
    return x, y


def initial_detector(path, stem_kernel: int) -> tuple[dict, dict]:
    """The detector weights and record to continue from: a ``student.pt`` of this script, or a fast zoo checkpoint
    directory (its detector, ``meta.student``), its motif layer widened to ``stem_kernel`` bp
    (:func:`tfscope.zoo.student.widened_stem`)."""
    if Path(path).is_dir():
        zoo, cfg = load_checkpoint(path)
        state, record = zoo.detector.state_dict(), cfg["meta"]["student"]
    else:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        state, record = blob["state_dict"], blob["record"]
    try:
        return widened_stem(state, stem_kernel), record
    except ValueError as e:
        raise SystemExit(f"{path}: {e}") from None


def detector(args, teacher, out: Path) -> None:
    """The detector part (see the module docstring)."""
    tr = targets(out, "train", teacher, args.stride, windows=args.windows, max_bp=int(args.max_mbp * 1e6),
                 seed=args.seed)
    va = targets(out, "chr7", teacher, args.stride, windows=args.windows, chroms={"chr7"},
                 max_bp=int(args.valid_mbp * 1e6), seed=args.seed)
    if args.targets_only:
        return
    seed_everything(args.seed)
    hp = {"n_outputs": teacher.n_outputs, "channels": args.channels, "stride": args.stride, "n_blocks": args.blocks,
          "stem_kernel": args.stem_kernel}
    student = StridedDetector(**hp)
    before = {}
    if args.init:  # continue a run; its record is kept under "continued_from"
        state, record = initial_detector(args.init, args.stem_kernel)
        student.load_state_dict(state)
        before = {"continued_from": record}
    t0 = time.time()
    res = fit(student, with_reverse_complements(*tr), va, loss_fn=distill_loss, epochs=args.epochs,
              batch_size=args.batch_size, lr=args.lr, patience=3, seed=args.seed, device=args.device,
              max_seconds=args.minutes * 60, desc="distill",
              scheduler=lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.3, patience=1))
    record = {**before, "hparams": hp, "train_segments": int(len(tr[0])), "valid_segments": int(len(va[0])),
              "segment_bp": int(tr[0].shape[-1]), "train_seconds": round(time.time() - t0, 1),
              "valid_loss": [round(v, 5) for v in res.valid_loss], "best_epoch": res.best_epoch,
              "stop_reason": res.stop_reason, "teacher_pool": teacher.pool,
              "data": "tfbs-multilabel windows of the training chromosomes (not chr7, chr8, chr9), concatenated and "
                      "spaced segments; early stopping on chr7"}
    torch.save({"state_dict": student.state_dict(), "record": record}, out / "student.pt")
    print(json.dumps(record), flush=True)


@torch.no_grad()
def localizer_rows(teacher, t: int, x: np.ndarray, y: np.ndarray, floor: float, stride: int, max_rows: int,
                   rng) -> tuple[np.ndarray, np.ndarray]:
    """Segments where TF ``t`` can be called and ``(rows, 2, L)`` targets: the teacher localizer's probability, and
    the mask of nucleotides within ``pool`` bp of one where the detector's ``G^a`` reaches ``floor``."""
    need = (y[:, t].astype(np.float32) ** teacher.detector_weight) >= floor  # (n, bins)
    rows = np.flatnonzero(need.any(1))
    if len(rows) > max_rows:
        rows = np.sort(rng.choice(rows, max_rows, replace=False))
    mask = torch.from_numpy(np.repeat(need[rows], stride, axis=1).astype(np.float32))[:, None]
    mask = torch.nn.functional.max_pool1d(mask, 2 * teacher.pool + 1, stride=1, padding=teacher.pool)[:, 0]
    xs = torch.from_numpy(x[rows])
    s = torch.cat([both_strand_max(teacher.localizers[t], xs[i:i + 64]) for i in range(0, len(xs), 64)])
    return x[rows], torch.stack([s, mask * (xs.sum(1) > 0)], 1).half().numpy()


def localizers(args, teacher, cfg, out: Path) -> None:
    """The localizer part (see the module docstring)."""
    tr = targets(out, "train", teacher, args.stride)
    va = targets(out, "chr7", teacher, args.stride)
    meta = cfg["meta"]
    path = out / f"{args.name}.pt"
    done = torch.load(path, weights_only=True) if path.exists() else {"state_dicts": {}, "records": {}}
    hp = {"channels": args.loc_channels}
    init = load_checkpoint(args.loc_init) if args.loc_init else None
    if init is not None:
        hp = init[0].localizer_hparams["student"]
    for t, tf in enumerate(meta["tfs"]):
        if tf in done["state_dicts"] or (args.tfs and tf not in args.tfs):
            continue
        t0 = time.time()
        rng = np.random.default_rng(args.seed + t)  # a TF's rows do not depend on which TFs a process takes
        floor = float(meta["per_tf"][tf]["threshold"])
        xt, yt = localizer_rows(teacher, t, *tr, floor, args.stride, args.loc_rows, rng)
        xv, yv = localizer_rows(teacher, t, *va, floor, args.stride, args.loc_rows // 8, rng)
        seed_everything(args.seed)
        student = LocalizerStudent(**hp)
        if init is not None:  # continue from that zoo's student (its record kept, this run's under "continued")
            student.load_state_dict(init[0].localizers[t].state_dict())
            before = evaluate_loss(StrandMax(student), (xv, yv), loss_fn=localizer_loss, device=args.device)
        else:
            student.seed_matrix(pfm_to_log_odds(motif_pfm(jaspar_matrix(meta["per_tf"][tf]["jaspar_id"]))))
        res = fit(StrandMax(student), (xt, yt), (xv, yv), loss_fn=localizer_loss, epochs=args.loc_epochs,
                  batch_size=args.batch_size, lr=args.lr, patience=2 if init is None else 3, seed=args.seed,
                  device=args.device, max_seconds=args.loc_seconds, verbose=False)
        done["state_dicts"][tf] = student.state_dict()
        rec = {"valid_loss": round(min(res.valid_loss), 5), "epochs": len(res.valid_loss),
               "seconds": round(time.time() - t0, 1)}
        if init is None:
            done["records"][tf] = {"train_rows": int(len(xt)), "valid_rows": int(len(xv)), **rec}
        else:
            done["records"][tf] = {**init[1]["meta"]["localizers"]["students"][tf], "continued": {
                "valid_loss_before": round(before, 5), **rec, "lr": args.lr}}
        done["hparams"] = hp
        torch.save(done, path)
        print(f"[distill] localizer {tf}: {done['records'][tf]}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--part", choices=["detector", "localizers"], default="detector")
    ap.add_argument("--windows", default=str(WINDOWS))
    ap.add_argument("--device", default="cpu", help="training device (auto|cpu|cuda[:N])")
    ap.add_argument("--max-mbp", type=float, default=12.0, help="training bases per segment kind (Mbp)")
    ap.add_argument("--valid-mbp", type=float, default=1.0, help="chr7 bases per segment kind (Mbp)")
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--stride", type=int, default=8)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--minutes", type=float, default=40.0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tfs", nargs="+", help="localizers: only these TFs (e.g. to split the work over processes)")
    ap.add_argument("--name", default="localizers", help="localizers: output OUT/NAME.pt (one per process)")
    ap.add_argument("--targets-only", action="store_true")
    ap.add_argument("--init", help="detector: continue from this student.pt or fast zoo checkpoint (same "
                    "hyper-parameters, but the motif layer may be narrower: see initial_detector)")
    ap.add_argument("--stem-kernel", type=int, default=17, help="detector: motif layer width (bp; 9 before session 26)")
    ap.add_argument("--loc-init", help="localizers: continue from the localizer students of this fast zoo checkpoint")
    ap.add_argument("--loc-channels", type=int, default=16)
    ap.add_argument("--loc-rows", type=int, default=2400, help="training segments per TF (localizers)")
    ap.add_argument("--loc-epochs", type=int, default=20)
    ap.add_argument("--loc-seconds", type=float, default=90.0, help="training budget per TF (localizers)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    teacher, cfg = load_checkpoint(resource("zoo", "genomic"))
    teacher.eval()
    if args.part == "detector":
        detector(args, teacher, out)
    else:
        localizers(args, teacher, cfg, out)


if __name__ == "__main__":
    main()
