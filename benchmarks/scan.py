"""Scanning throughput of the bundled zoo: all zoo TFs over 1 Mbp of real hg19 sequence, both strands.

Input: the first 1,000,000 bp of chr8 windows of ``../shared/data/tfbs-multilabel`` (the held-out chromosome),
concatenated in genomic order into 10 records of 100 kb (real DNA; junctions every 100 bp are not contiguous
genome). Writes ``benchmarks/results/scan.json`` (long format, metric ``bp_per_second`` = sequence bp scanned by
all models per wall-clock second, plus ``seconds``, ``peak_rss_mib``, ``sites``) and ``scan.md``.

Each scan mode (chunk mode of the fully convolutional zoo models, and 100 bp windows every ``--stride`` bp) is
also checked against the real labels of those chr8 windows: a window's score for a TF is its maximum
per-nucleotide probability, its label whether the multi-label set lists the TF (``window_auroc``/``window_auprc``,
mean over the zoo TFs). This is genomic background, unlike the shuffled negatives the models were trained on.

Usage: ``python benchmarks/scan.py [--bp 1000000] [--stride 50]``
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import load_results, real_sequence, save_results, window_scores  # noqa: E402

from tfscope.metrics import markdown_table  # noqa: E402
from tfscope.scan.engine import scan  # noqa: E402
from tfscope.zoo.registry import load_zoo  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bp", type=int, default=1_000_000)
    ap.add_argument("--stride", type=int, default=50, help="window step of the window-mode run")
    ap.add_argument("--zoo", default="shuffled", choices=["shuffled", "genomic"],
                    help="zoo to time (the committed scan.json used the shuffled one; both zoos share one "
                         "architecture, and benchmarks/genomic.py compares their calls)")
    args = ap.parse_args()
    seqs, labels = real_sequence(args.bp)
    models = load_zoo(kind=args.zoo)
    names = [m.name for m in models]
    width = models[0].model.stem[0].out_channels
    doc = load_results("scan")
    doc["rows"] = []
    table = []
    for mode in ("auto", "window"):
        t0 = time.time()
        sites, tracks = scan(models, seqs, stride=args.stride, batch_size=1024, verbose=True, mode=mode,
                             keep_tracks=True, workers=2)
        dt = time.time() - t0
        # parent + each worker at its peak (forked workers share pages copy-on-write, so this is an upper bound)
        rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
               + 2 * resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
        name = f"zoo-dilated{width}-" + ("chunk" if mode == "auto" else f"window-stride{args.stride}")
        ds = f"{len(models)}TFs-{args.bp}bp"
        acc = window_scores(tracks, seqs, labels, names)
        del tracks
        for k, v in (("bp_per_second", args.bp / dt), ("seconds", dt), ("peak_rss_mib", rss),
                     ("sites", len(sites)), *acc.items()):
            doc["rows"].append({"model": name, "dataset": ds, "metric": k, "value": round(v, 4)})
        table.append({"setting": name, "TFs": len(models), "bp": args.bp, "seconds": dt, "bp/s": args.bp / dt,
                      "peak RSS MiB": rss, "sites": len(sites), **acc})
        print(table[-1], flush=True)
    md = (f"# Scan throughput\n\nMachine: {doc.get('machine')}\n\n2 worker processes with one torch thread each "
          "(`tfscope scan --workers 2`). Peak RSS = parent + 2 x the largest worker (an upper bound: forked workers "
          "share pages); tracks are kept in memory for the accuracy check (45 x 1 Mbp float32). `window_auroc`/`window_auprc`: mean "
          "over TFs, chr8 windows of the multi-label set scored by their maximum probability (labels of the corrected "
          "data of 2026-12-05; the rows measured on the first build are kept in "
          "[`first_build/scan.md`](first_build/scan.md)).\n\n"
          + markdown_table(table, ["setting", "TFs", "bp", "seconds", "bp/s", "peak RSS MiB", "sites",
                                   "window_auroc", "window_auprc"], floatfmt=".3f"))
    save_results(doc, md)


if __name__ == "__main__":
    main()
