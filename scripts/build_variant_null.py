"""Build the empirical null of variant effects of a zoo from chr7 (validation) genome windows, never chr8/chr9.

    python scripts/build_variant_null.py [--zoo genomic] [--n 10000] [--windows ../shared/data/tfbs-multilabel/windows.tsv.gz]

Random SNVs (one per sampled chr7 tfbs-multilabel window: a uniform position inside the window, a uniform other base)
are scored with the zoo like any variant (:class:`tfscope.variants.score.VariantScorer`; context = the stitched
chr7 windows, N beyond them). Per TF only SNVs that lie in no window listing a TF of its paralog group are kept
(genomic background, as the call calibration's background peaks). The per-TF |delta| counts are written beside the
zoo (``resources/zoo/<kind>.variant_null.json``, :mod:`tfscope.variants.null`) with the sha256 of the zoo weights
and of the null's content.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tfbs-multilabel" / "windows.tsv.gz"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zoo", default="genomic")
    p.add_argument("--windows", type=Path, default=SHARED)
    p.add_argument("--n", type=int, default=10000, help="null SNVs (windows sampled)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, help="default: beside the zoo")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from tfscope.io.stitch import Window, stitch_windows
    from tfscope.zoo.registry import zoo_dir
    from tfscope.variants.null import RegionGenome, VariantNull, null_path
    from tfscope.variants.read import Variant
    from tfscope.variants.run import load_models
    from tfscope.zoo.gated import effective_runtime
    from tfscope.variants.score import VariantScorer

    wins, tfs_of = [], {}
    with gzip.open(args.windows, "rt") as fh:
        fh.readline()
        for line in fh:
            wid, chrom, start, _end, _split, tfs, seq = line.rstrip("\n").split("\t")
            if chrom == "chr7":  # validation chromosome only: never chr8 (test) or chr9 (withheld)
                wins.append(Window(chrom, int(start), seq.upper(), wid))
                tfs_of[wid] = set(tfs.split(",")) if tfs else set()
    wins.sort(key=lambda w: w.start)
    starts = [w.start for w in wins]
    regions = [r for r in stitch_windows(wins) if r.agree]
    genome = RegionGenome(regions)
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(wins), size=min(args.n, len(wins)), replace=False)
    variants, bound = [], []
    for i in sorted(pick):
        w = wins[i]
        o = int(rng.integers(0, len(w.sequence)))
        ref = w.sequence[o]
        if ref not in "ACGT":
            continue
        alt = "ACGT".replace(ref, "")[int(rng.integers(0, 3))]
        pos0 = w.start + o
        if genome.fetch("chr7", pos0, pos0 + 1) != ref:
            continue  # the window sits in a region whose windows disagreed
        variants.append(Variant("chr7", pos0 + 1, ref, alt, f"null{len(variants)}", len(variants)))
        # TFs with a site in any window covering the SNV
        bound.append(set().union(*[tfs_of[x.name] for x in wins_at(wins, starts, pos0)]))
    models, _, _ = load_models(zoo=args.zoo, device="cpu")
    scorer = VariantScorer(models, pwm=False, batch_size=128)
    t0 = time.time()
    deltas = {m.name: [] for m in models}
    T = len(models)
    for b in range(0, len(variants), 500):
        df = scorer.score(genome, variants[b:b + 500])
        d = df["delta"].to_numpy().reshape(-1, T)
        for j, m in enumerate(models):
            members = set(m.call.group.split("/")) | {m.name}
            keep = np.array([not (members & bound[b + i]) for i in range(len(d))])
            deltas[m.name].append(d[keep, j])
        print(f"{b + len(d)} / {len(variants)} SNVs, {time.time() - t0:.0f} s", flush=True)
    d = zoo_dir(None, args.zoo)
    sha = json.loads((d / "config.json").read_text()).get("weights_sha256", {}).get("model.safetensors") \
        if (d / "config.json").exists() else None
    meta = {"zoo": args.zoo, "zoo_weights_sha256": sha, "zoo_runtime": effective_runtime(models[0].model),
            "statistic": "|altP - refP| of random SNVs",
            "source": "tfbs-multilabel windows on chr7 (validation chromosome; chr8/chr9 never used), stitched, "
                      "N beyond them; one uniform SNV per sampled window; per TF only SNVs in no window of a site "
                      "of its paralog group",
            "n_snvs": len(variants), "seed": args.seed, "seconds": round(time.time() - t0, 1)}
    null = VariantNull.from_deltas({k: np.concatenate(v) for k, v in deltas.items()}, meta)
    out = args.out or null_path(d)
    null.save(out)
    print(f"wrote {out}: {len(variants)} SNVs, {T} TFs, {time.time() - t0:.0f} s")
    return 0


def wins_at(wins, starts, pos0):
    """Windows covering 0-based ``pos0`` (``wins`` sorted by start, ``starts`` their starts)."""
    import bisect

    i = bisect.bisect_right(starts, pos0)
    out = []
    j = i - 1
    while j >= 0 and wins[j].start > pos0 - 1001:
        if wins[j].start <= pos0 < wins[j].end:
            out.append(wins[j])
        j -= 1
    return out


if __name__ == "__main__":
    raise SystemExit(main())
