"""Scanning throughput of the bundled zoo: all zoo TFs over 1 Mbp of real hg19 sequence, both strands.

Input: the first 1,000,000 bp of chr8 windows of ``../shared/data/tfbs-multilabel`` (the held-out chromosome),
concatenated in genomic order into 10 records of 100 kb (real DNA; junctions every 100 bp are not contiguous
genome). Writes ``benchmarks/results/scan.json`` (long format, metric ``bp_per_second`` = sequence bp scanned by
all models per wall-clock second, plus ``seconds``, ``peak_rss_mib``, ``sites``) and ``scan.md``.

Usage: ``python benchmarks/scan.py [--bp 1000000] [--stride 50 100]``
"""

from __future__ import annotations

import argparse
import gzip
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED, load_results, save_results  # noqa: E402

from tfscope.metrics import markdown_table  # noqa: E402
from tfscope.scan import load_scan_models, scan  # noqa: E402
from tfscope.zoo import zoo_checkpoints  # noqa: E402


def real_sequence(bp: int, n_records: int = 10) -> dict[str, str]:
    rows = []
    with gzip.open(SHARED / "tfbs-multilabel" / "windows.tsv.gz", "rt") as fh:
        fh.readline()
        for line in fh:
            c = line.rstrip("\n").split("\t")
            if c[1] == "chr8":
                rows.append((int(c[2]), c[6]))
    rows.sort()
    s = "".join(seq for _, seq in rows)[:bp]
    if len(s) < bp:
        raise SystemExit(f"only {len(s)} bp of chr8 windows available")
    size = bp // n_records
    return {f"chr8_windows_{i}": s[i * size:(i + 1) * size] for i in range(n_records)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bp", type=int, default=1_000_000)
    ap.add_argument("--stride", type=int, nargs="+", default=[50, 100])
    args = ap.parse_args()
    seqs = real_sequence(args.bp)
    models = load_scan_models(zoo_checkpoints())
    doc = load_results("scan")
    doc["rows"] = []
    table = []
    for stride in args.stride:
        t0 = time.time()
        sites, _ = scan(models, seqs, stride=stride, batch_size=1024, verbose=True)
        dt = time.time() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        name = f"zoo-{models[0].model.__class__.__name__}-stride{stride}"
        ds = f"{len(models)}TFs-{args.bp}bp"
        for k, v in (("bp_per_second", args.bp / dt), ("seconds", dt), ("peak_rss_mib", rss),
                     ("sites", len(sites))):
            doc["rows"].append({"model": name, "dataset": ds, "metric": k, "value": round(v, 2)})
        table.append({"setting": name, "TFs": len(models), "bp": args.bp, "seconds": dt, "bp/s": args.bp / dt,
                      "peak RSS MiB": rss, "sites": len(sites)})
        print(table[-1], flush=True)
    md = (f"# Scan throughput\n\nMachine: {doc.get('machine')}\n\n"
          + markdown_table(table, ["setting", "TFs", "bp", "seconds", "bp/s", "peak RSS MiB", "sites"], floatfmt=".1f"))
    save_results(doc, md)


if __name__ == "__main__":
    main()
