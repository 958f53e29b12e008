"""Record the weights checksum (sha256) in the config.json of tfscope checkpoints written before checksums existed.

    python scripts/stamp_checksums.py DIR [DIR ...]            # each DIR a checkpoint, or a tree of checkpoints
    python scripts/stamp_checksums.py --bundled [--skip zoo/genomic]   # the checkpoints under src/tfscope/resources

A checkpoint is a directory with config.json (format tfscope-checkpoint/1) and model.safetensors
(:func:`tfscope.checkpoint.stamp_checksums`); directories in other formats (the Hugging Face backbone) are skipped.
Weights that do not load or hold NaN/inf values are refused, not stamped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tfscope.checkpoint import FORMAT, stamp_checksums  # noqa: E402
from tfscope.errors import TfscopeError  # noqa: E402

RESOURCES = Path(__file__).resolve().parents[1] / "src" / "tfscope" / "resources"


def checkpoints(root: Path):
    """tfscope checkpoint directories at or under ``root`` (sorted)."""
    for cfg in sorted([root / "config.json", *root.rglob("config.json")]):
        if cfg.exists() and (cfg.parent / "model.safetensors").exists():
            try:
                if json.loads(cfg.read_text()).get("format") == FORMAT:
                    yield cfg.parent
            except (ValueError, AttributeError):
                continue


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="*", type=Path)
    p.add_argument("--bundled", action="store_true", help="the checkpoints under src/tfscope/resources")
    p.add_argument("--skip", nargs="*", default=[], help="paths (relative to resources with --bundled) to leave")
    args = p.parse_args(argv)
    roots = list(args.dirs) + ([RESOURCES] if args.bundled else [])
    skip = {(RESOURCES / s).resolve() if args.bundled else Path(s).resolve() for s in args.skip}
    n = 0
    for root in roots:
        for d in dict.fromkeys(checkpoints(root)):
            if d.resolve() in skip:
                print(f"skipped {d}")
                continue
            try:
                sums = stamp_checksums(d)
            except TfscopeError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            print(f"{d}: {', '.join(f'{k} {v[:12]}' for k, v in sums.items())}")
            n += 1
    print(f"stamped {n} checkpoint(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
