"""Genome-scale scanning: throughput and peak memory of the streamed ``tfscope scan`` on 1, 10 and 50 Mbp records.

Input (real hg19 DNA, one FASTA record per size, so a single long "chromosome" is streamed): the 100 bp windows of
``../shared/data/tfbs-multilabel`` concatenated in genomic order, chr8 first (the held-out chromosome: its 1.38 Mbp
give the whole 1 Mbp input), then the other chromosomes in order. The windows hold about 31 Mbp of unique sequence
in all (junctions every few hundred bp are not contiguous genome), so the 50 Mbp record continues with the reverse
complements of the same windows (the other strand: real DNA, but the second half repeats the first half's bases).

Each configuration runs ``tfscope scan FASTA --tfs ... --executor local|ray --workers 2`` in a fresh subprocess:
``local`` = 2 forked worker processes, ``ray`` = Ray embedded on this machine (``ray.init(num_cpus=2)``) with 2
actors. Measured: the scan seconds printed by the command (model loading and Ray start-up excluded; ``wall_seconds``
includes them), bp/s = record bp / scan seconds, and peak RSS = the largest sum of RSS over the process tree
(sampled every 0.2 s with psutil: the command, its workers, and Ray's own processes; forked workers share pages, so
it is an upper bound) plus the largest single process (``getrusage`` of the children). The BED of the Ray run is
compared byte for byte with the local one. ``projected_hg38_hours`` = 3.1e9 bp / bp/s.

Sizes 10 and 50 Mbp run with a fixed subset of TFs (``--tfs``, default 5) so that one run stays in minutes on the
2-core benchmark machine; the 1 Mbp rows run with the same subset (RSS comparable across sizes) and also with the
whole zoo (the full-zoo hg38 projection).

``--zoo`` picks the zoo: ``shuffled`` (default; 45 per-TF 16-channel CNNs, the architecture of the first rows, which
ran on the then per-TF genomic zoo) or ``genomic`` (the gated genomic zoo since 2026-11-24: multi-TF detector +
per-TF localizers, rows ``zoo-gated-...``; the recorded ``zoo-multitf64-...`` rows were measured on the multi-TF
network alone, before it was gated) or ``fast`` (the distilled zoo, ``--zoo fast``, rows ``zoo-fast-...``).

Usage: ``python benchmarks/genome_scale.py [--sizes 1 10 50] [--tfs CTCFL E2F1 FOXK1 KLF4 YY1] [--zoo genomic]
[--resume] [--render-only]``
"""

from __future__ import annotations

import argparse
import filecmp
import gzip
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import SHARED, load_results, save_results  # noqa: E402

from tfscope.io import write_fasta  # noqa: E402
from tfscope.metrics import markdown_table  # noqa: E402
from tfscope.sequence import reverse_complement  # noqa: E402
from tfscope.zoo.registry import zoo_tfs  # noqa: E402

HG38_BP = 3.1e9
#: model-name prefix of each zoo's rows (architecture, not zoo name: the first rows ran on the per-TF genomic zoo,
#: the same 16-channel per-TF CNNs as today's shuffled zoo)
ZOO_ROWS = {"shuffled": "zoo-dilated16", "genomic": "zoo-gated", "fast": "zoo-fast"}
DEFAULT_TFS = ["CTCFL", "E2F1", "FOXK1", "KLF4", "YY1"]


def real_windows_sequence(bp: int) -> str:
    """``bp`` bases of tfbs-multilabel windows in genomic order (chr8 first), then their reverse complements."""
    rows = []
    with gzip.open(SHARED / "tfbs-multilabel" / "windows.tsv.gz", "rt") as fh:
        fh.readline()
        for line in fh:
            c = line.rstrip("\n").split("\t")
            rows.append((c[1], int(c[2]), c[6]))

    def chrom_key(c):
        n = c[3:]
        return (0, 0) if c == "chr8" else (1, int(n)) if n.isdigit() else (2, n)
    rows.sort(key=lambda r: (chrom_key(r[0]), r[1]))
    seq = "".join(r[2] for r in rows)
    if len(seq) < bp:
        seq += reverse_complement(seq)
    if len(seq) < bp:
        raise SystemExit(f"only {len(seq)} bp of windows available")
    return seq[:bp]


def tree_rss(pid: int) -> int:
    """Sum of RSS (bytes) of a process and all its descendants."""
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_scan(fasta: Path, out: Path, tfs: list[str] | None, executor: str, workers: int, zoo: str) -> dict:
    """One ``tfscope scan`` in a fresh subprocess; returns seconds, wall seconds, sites, peak RSS (MiB)."""
    cmd = [sys.executable, "-m", "tfscope", "scan", str(fasta), "--out", str(out), "--executor", executor,
           "--workers", str(workers), "--zoo", zoo, "--quiet"] + (["--tfs", *tfs] if tfs else [])
    # a fresh wrapper process per run, so getrusage(RUSAGE_CHILDREN) covers this run only
    cmd = [sys.executable, "-c", "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
           "print('MAXRSS_KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)",
           *cmd]
    t0 = time.time()
    # Ray's memory monitor kills workers when the whole machine passes 95% memory; on this shared machine that is
    # other jobs' memory, not the scan's, so it is switched off for the measurement
    env = {**os.environ, "RAY_memory_monitor_refresh_ms": "0"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(proc.pid))
            done.wait(0.2)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stdout, stderr = proc.communicate()
    done.set()
    th.join()
    wall = time.time() - t0
    load = os.getloadavg()[0]  # this machine is shared: other jobs' load slows the scan
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{stderr[-3000:]}")
    m = re.search(r"in ([0-9.]+) s .*: ([0-9,]+) call", stdout)  # the scan's summary line
    if m is None:
        raise SystemExit(f"no scan summary in the output of {' '.join(cmd)}:\n{stdout[-3000:]}")
    return {"seconds": float(m.group(1)), "wall_seconds": wall, "sites": int(m.group(2).replace(",", "")),
            "peak_rss_mib": peak[0] / 2**20, "load_avg_1min": load,
            "max_process_rss_mib": int(re.search(r"MAXRSS_KIB (\d+)", stdout).group(1)) / 1024}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[1, 10, 50], help="input sizes in Mbp")
    ap.add_argument("--tfs", nargs="+", default=DEFAULT_TFS, help="TF subset scanned at every size")
    ap.add_argument("--executors", nargs="+", default=["local", "ray"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--zoo", choices=list(ZOO_ROWS), default="shuffled", help="zoo to scan with (see above)")
    ap.add_argument("--full-zoo-mbp", type=float, default=1, help="also scan this size with all zoo TFs (0: skip)")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "tfscope-genome-scale"),
                    help="FASTA inputs and BED outputs (kept for --resume)")
    ap.add_argument("--resume", action="store_true", help="keep the measured rows of genome_scale.json and run "
                    "only the missing configurations")
    ap.add_argument("--render-only", action="store_true", help="rewrite genome_scale.md from genome_scale.json "
                    "and exit")
    args = ap.parse_args()
    doc = load_results("genome_scale")
    if args.render_only:
        save_results(doc, _markdown(doc, _table(doc), args), stamp=False)
        return
    if not args.resume:
        doc["rows"] = []
    n_zoo = len(zoo_tfs(kind=args.zoo))
    configs = [(s, args.tfs) for s in args.sizes] + ([(args.full_zoo_mbp, None)] if args.full_zoo_mbp else [])
    tmp = Path(args.workdir)
    tmp.mkdir(parents=True, exist_ok=True)
    for mbp, tfs in configs:
        bp = int(mbp * 1e6)
        fasta = tmp / f"real_{bp}.fa"
        if not fasta.exists():
            write_fasta(fasta, {f"hg19_windows_{bp // 10**6}Mbp": real_windows_sequence(bp)})
        n_tfs = len(tfs) if tfs else n_zoo
        beds = {}
        for ex in args.executors:
            beds[ex] = tmp / f"{args.zoo}_{ex}_{bp}_{n_tfs}.bed"
            name = f"{ZOO_ROWS[args.zoo]}-stream-{ex}{args.workers}"
            ds = f"{n_tfs}TFs-{bp}bp"
            if any(r["model"] == name and r["dataset"] == ds for r in doc["rows"]) and beds[ex].exists():
                continue  # --resume: measured already
            r = run_scan(fasta, beds[ex], tfs, ex, args.workers, args.zoo)
            r["bp_per_second"] = bp / r["seconds"]
            r["projected_hg38_hours"] = HG38_BP / r["bp_per_second"] / 3600
            if ex != args.executors[0]:
                r["bed_identical_to_local"] = float(filecmp.cmp(beds[args.executors[0]], beds[ex], shallow=False))
            for k, v in r.items():
                doc["rows"].append({"model": name, "dataset": ds, "metric": k, "value": round(v, 4)})
            print(r, flush=True)
            save_results(doc, _markdown(doc, _table(doc), args))


def _table(doc) -> list[dict]:
    """One Markdown row per (configuration, input) of the long-format rows."""
    rows: dict = {}
    for r in doc["rows"]:
        n_tfs, bp = re.fullmatch(r"(\d+)TFs-(\d+)bp", r["dataset"]).groups()
        zoo, ex, workers = re.fullmatch(r"(zoo-[a-z0-9]+)-stream-([a-z]+)(\d+)", r["model"]).groups()
        row = rows.setdefault((r["model"], r["dataset"]), {"zoo": zoo, "executor": f"{ex} ({workers} workers)",
                                                          "device": "CPU", "TFs": int(n_tfs), "Mbp": int(bp) / 1e6})
        row[r["metric"]] = r["value"]
    return list(rows.values())


def _markdown(doc, table, args) -> str:
    ratios = []
    for zoo, ex in dict.fromkeys((r["zoo"], r["executor"]) for r in table):
        same = [r for r in table if r["zoo"] == zoo and r["executor"] == ex]
        n_tfs = min(r["TFs"] for r in same)
        rows = sorted((r for r in same if r["TFs"] == n_tfs), key=lambda r: r["Mbp"])
        if len(rows) > 1:
            ratios.append(f"{zoo} {ex}, {n_tfs} TFs: {rows[-1]['peak_rss_mib'] / rows[0]['peak_rss_mib']:.2f}x "
                          f"({rows[0]['Mbp']:g} -> {rows[-1]['Mbp']:g} Mbp)")
    summary = ("Peak RSS (process tree) at the largest input relative to the smallest, same TFs: "
               + "; ".join(ratios) + ".\n\n") if ratios else ""
    return (f"# Genome-scale scanning (streamed)\n\nMachine: {doc.get('machine')}. No GPU in this session: every row "
            "is CPU (2 cores, one torch thread per worker); no GPU row was measured.\n\n"
            "Input: real hg19 DNA from the tfbs-multilabel windows, one FASTA record per size (chr8 windows first, "
            "then the other chromosomes' windows in genomic order; about 31 Mbp of unique windows exist, so the "
            "50 Mbp record continues with their reverse complements). TFs: "
            f"{', '.join(DEFAULT_TFS)} at every size (so peak RSS is comparable), and the whole zoo at "
            "1 Mbp (zoo-dilated16: 45 per-TF 16-channel CNNs); the genomic-zoo rows scan all 45 TFs at every size "
            "(`--zoo genomic --tfs` all TFs; zoo-multitf64: the multi-TF network alone, in one pass; zoo-gated: "
            "the shipped gated zoo, that network plus the 45 per-TF localizers, which a scan that writes no track "
            "runs only where the detector lets a call arise: `tfscope.zoo.gated.GatedCalls`, measured 2026-11-24 "
            "in session 9; its BEDs equal those of the full model, byte for byte, at 1 and 10 Mbp). `seconds`: scan time printed by `tfscope scan` (model loading and Ray "
            "start-up excluded, they are in `wall_seconds`). Peak RSS: largest sum over the process tree (command, "
            "workers, Ray's processes; forked workers share pages, so an upper bound); `max_process_rss_mib`: "
            "largest single process. `bed_identical_to_local`: the Ray run's BED equals the local run's byte for "
            "byte (1). Projected hg38 hours = 3.1e9 bp / bp/s for that TF set and executor. `load_avg_1min`: the "
            "machine's 1-minute load average when the run ended (the 2 cores are shared with other jobs; above 2 "
            "the scan got less than 2 cores). The embedded Ray's actors run at normal priority, like the "
            "local workers (`tfscope.executor` sets `RAY_worker_niceness=0`; Ray's default 15 let other jobs starve "
            "them: 41 s instead of 13 s for the 1 Mbp row in a first run).\n\n"
            + summary
            + markdown_table(table, ["zoo", "executor", "device", "TFs", "Mbp", "seconds", "wall_seconds", "bp_per_second",
                                     "peak_rss_mib", "max_process_rss_mib", "sites", "bed_identical_to_local",
                                     "projected_hg38_hours", "load_avg_1min"], floatfmt=".2f"))


if __name__ == "__main__":
    main()
