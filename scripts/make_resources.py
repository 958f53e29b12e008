"""Rebuild the real example data bundled in ``src/tfscope/resources`` from ``../shared/data``.

- ``resources/snr/<TF>.tsv.gz``: the complete tables of three small TFs of the BertSNR benchmark
  (``../shared/data/tfbs-snr``; JASPAR 2022 ChIP-seq TFBS, hg19, packaged by the BertSNR authors), unchanged.
- ``resources/example_regions.fa`` + ``example_sites.bed``: contiguous hg19 (+ strand) sequences stitched from the
  overlapping 100 bp windows of ``../shared/data/tfbs-multilabel`` around held-out (``split == test``) bound
  windows of the bundled TFs, with the known JASPAR sites of the bundled TFs inside them (BED, region coordinates).
  Regions on chr7 (the genomic zoo's calibration chromosome, where its thresholds were chosen) are left out, so the
  demo never shows calls on data the zoo was tuned on. A region is kept only if every window stitched into it
  equals the region's sequence at its position (:func:`tfscope.io.stitch.stitch_windows`: overlapping windows agree
  on their shared bases); ``example_windows.tsv`` lists each region's windows (id, offset in the region, sequence)
  so the test suite re-checks that agreement without ``../shared``. They are whatever stretches the windows happen to cover
  around those sites (no promoter or other annotation was used to choose them).

Usage: ``python scripts/make_resources.py [--shared ../shared]``
"""

from __future__ import annotations

import argparse
import gzip
import shutil
from pathlib import Path

from tfscope.io.stitch import read_multilabel_windows, stitch_windows

TFS = ["KLF4", "E2F1", "FOXK1"]
N_REGIONS = 6
#: chromosomes whose regions are not bundled: chr7 holds the genomic zoo's call calibration
EXCLUDE_CHROMS = {"chr7"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[1] / ".." / "shared"))
    args = ap.parse_args()
    shared = Path(args.shared) / "data"
    from tfscope.resources import resources_dir

    res = resources_dir()
    (res / "snr").mkdir(parents=True, exist_ok=True)
    targets = []  # (chrom, start, end, tf, site_start, site_end) hg19 + strand coordinates of held-out sites
    for tf in TFS:
        src = shared / "tfbs-snr" / f"{tf}.tsv.gz"
        shutil.copyfile(src, res / "snr" / f"{tf}.tsv.gz")
        with gzip.open(src, "rt") as fh:
            header = fh.readline().rstrip("\n").split("\t")
            for line in fh:
                r = dict(zip(header, line.rstrip("\n").split("\t")))
                if r["split"] == "test" and r["bound"] == "1" and r["window_start"]:  # 341 rows did not lift
                    ws = int(r["window_start"])
                    a, b = int(r["site_start"]), int(r["site_end"])
                    if r["strand"] == "-":
                        a, b = 100 - b, 100 - a
                    targets.append((r["chrom"], ws + a, ws + b, tf))
    # the windows of the multilabel set stitched into contiguous regions; a region is kept only if every window
    # equals the stitched sequence at its position (overlapping windows agree on their shared bases)
    stitched = stitch_windows(read_multilabel_windows(shared / "tfbs-multilabel" / "windows.tsv.gz"))
    n_bad = sum(not r.agree for r in stitched)
    regions = [(r.chrom, r.start, r.end, r.sequence, r.windows) for r in stitched if r.agree]
    by_chrom = {}
    for t in targets:
        by_chrom.setdefault(t[0], []).append(t)
    scored = []
    for chrom, s, e, seq, wins in regions:
        inside = [t for t in by_chrom.get(chrom, []) if t[1] >= s and t[2] <= e]
        if inside and 300 <= e - s <= 3000 and chrom not in EXCLUDE_CHROMS:
            scored.append((len({t[3] for t in inside}), len(inside), chrom, s, e, seq, inside, wins))
    scored.sort(key=lambda r: (-r[0], -r[1], r[2], r[3]))
    chosen = scored[:N_REGIONS]
    with open(res / "example_regions.fa", "w") as fa, open(res / "example_sites.bed", "w") as bed, \
            open(res / "example_windows.tsv", "w") as wt:
        wt.write("region\tid\toffset\tsequence\n")
        for _, _, chrom, s, e, seq, inside, wins in chosen:
            rid = f"{chrom}:{s}-{e}"
            fa.write(f">{rid} hg19 + strand\n")
            for i in range(0, len(seq), 80):
                fa.write(seq[i:i + 80] + "\n")
            for _, a, b, tf in sorted(set(inside), key=lambda t: (t[1], t[3])):
                bed.write(f"{rid}\t{a - s}\t{b - s}\t{tf}\t0\t.\n")
            for w in wins:
                wt.write(f"{rid}\t{w.name}\t{w.start - s}\t{w.sequence}\n")
    print(f"{len(stitched)} stitched regions, {n_bad} left out because overlapping windows disagree; "
          f"{len(chosen)} regions, {sum(len(c[6]) for c in chosen)} known held-out sites, "
          f"{sum(len(c[7]) for c in chosen)} windows (example_windows.tsv)")


if __name__ == "__main__":
    main()
