"""Distil the genomic zoo's detector into a :class:`tfscope.zoo.student.StridedDetector` (issue 44).

Steps: genome segments of the training chromosomes (and chr7 for early stopping; never chr8 or chr9), the teacher's
pooled detector track on them (cached in ``OUT/targets-*.npz``), then :func:`tfscope.train.fit` on the student with
the reverse complements added. Writes ``OUT/student.pt`` (state dict + hyper-parameters + training record), which
``scripts/build_zoo.py --fast OUT/student.pt`` packs with the zoo's localizers into the fast zoo.

Usage: ``python scripts/distill_detector.py OUT [--max-mbp 12] [--minutes 40] [--channels 64] [--stride 8]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from tfscope.checkpoint import load_checkpoint
from tfscope.resources import resource
from tfscope.train import fit, seed_everything
from tfscope.zoo.student import (StridedDetector, distill_loss, distill_segments, save_targets, teacher_targets,
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--windows", default=str(WINDOWS))
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
    ap.add_argument("--targets-only", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    teacher, _ = load_checkpoint(resource("zoo", "genomic"))
    teacher.eval()
    tr = targets(out, "train", teacher, args.stride, windows=args.windows, max_bp=int(args.max_mbp * 1e6),
                 seed=args.seed)
    va = targets(out, "chr7", teacher, args.stride, windows=args.windows, chroms={"chr7"},
                 max_bp=int(args.valid_mbp * 1e6), seed=args.seed)
    if args.targets_only:
        return
    seed_everything(args.seed)
    hp = {"n_outputs": teacher.n_outputs, "channels": args.channels, "stride": args.stride, "n_blocks": args.blocks}
    student = StridedDetector(**hp)
    t0 = time.time()
    res = fit(student, with_reverse_complements(*tr), va, loss_fn=distill_loss, epochs=args.epochs,
              batch_size=args.batch_size, lr=args.lr, patience=3, seed=args.seed, device="cpu",
              max_seconds=args.minutes * 60, desc="distill",
              scheduler=lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.3, patience=1))
    record = {"hparams": hp, "train_segments": int(len(tr[0])), "valid_segments": int(len(va[0])),
              "segment_bp": int(tr[0].shape[-1]), "train_seconds": round(time.time() - t0, 1),
              "valid_loss": [round(v, 5) for v in res.valid_loss], "best_epoch": res.best_epoch,
              "stop_reason": res.stop_reason, "teacher_pool": teacher.pool,
              "data": "tfbs-multilabel windows of the training chromosomes (not chr7, chr8, chr9), concatenated and "
                      "spaced segments; early stopping on chr7"}
    torch.save({"state_dict": student.state_dict(), "record": record}, out / "student.pt")
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
