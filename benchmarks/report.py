"""What ``--report`` costs: ``tfscope scan`` of 4 kb with all 45 TFs of the default (genomic) zoo, with and without
the HTML report.

Input: 4 records of 1 kb of real hg19 sequence (the first 4,000 bp of the chr8 windows of
``../shared/data/tfbs-multilabel`` in genomic order, as ``benchmarks/scan.py``). Both runs go through the CLI in one
process (``tfscope.cli.main``), each timed once after a warm-up scan (imports and JASPAR matrices, paid once per
process, excluded; each run loads the zoo and builds its inference copies, as a command does: about 1.6 s for the
default zoo's int8 copies on the 2-core machine); the report run also takes the in-memory path (tracks kept). The
report reuses the scan's tracks; its model work is the attribution logos of the strongest ``--attributions`` calls
(default 4).
Target: the report run takes at most 3x the plain run.

Writes ``benchmarks/results/report.json`` and ``report.md``.

Usage: ``python benchmarks/report.py [--bp 4000] [--workers 2]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import load_results, real_sequence, save_results  # noqa: E402

from tfscope.cli import main as cli  # noqa: E402
from tfscope.io.fasta import write_fasta  # noqa: E402
from tfscope.metrics import markdown_table  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bp", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    seqs, _ = real_sequence(args.bp, n_records=4)
    doc = load_results("report")
    doc["rows"] = []
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        fa = Path(tmp) / "in.fa"
        write_fasta(fa, seqs)
        base = ["scan", str(fa), "--workers", str(args.workers), "--quiet"]
        cli(base + ["--out", f"{tmp}/warm.bed"])
        for name, extra in (("scan", []), ("scan --report", ["--report", f"{tmp}/r.html"])):
            t0 = time.time()
            cli(base + ["--out", f"{tmp}/{len(table)}.bed", *extra])
            dt = time.time() - t0
            table.append({"run": name, "TFs": 45, "bp": args.bp, "seconds": dt})
            doc["rows"].append({"model": "zoo-genomic", "dataset": f"45TFs-{args.bp}bp", "metric": f"{name} seconds",
                                "value": round(dt, 2)})
        size = (Path(tmp) / "r.html").stat().st_size / 2**20
    ratio = table[1]["seconds"] / table[0]["seconds"]
    doc["rows"].append({"model": "zoo-genomic", "dataset": f"45TFs-{args.bp}bp", "metric": "report / scan",
                        "value": round(ratio, 2)})
    md = (f"# What --report costs\n\nMachine: {doc.get('machine')}\n\n`tfscope scan` of {args.bp:,} bp of real hg19 "
          f"(chr8) with the 45 TFs of the default zoo, `--workers {args.workers}`, after a warm-up scan in the same "
          f"process (each run loads the zoo and builds its inference copies, as a command does). The report run writes "
          f"a {size:.1f} MiB self-contained HTML file (igv.js inlined) with 4 attribution logos. Report / scan: **{ratio:.2f}x** (target <= 3x). Rows measured before the 2026-12-05 data "
          f"correction (other chr8 windows, the earlier zoo): [`first_build/report.md`](first_build/report.md).\n\n"
          + markdown_table(table, ["run", "TFs", "bp", "seconds"], floatfmt=".1f"))
    print(md)
    save_results(doc, md)


if __name__ == "__main__":
    main()
