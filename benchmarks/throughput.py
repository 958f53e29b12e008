"""Scanning throughput against a PWM scanner, on the same input in one run.

Input: the first ``--bp`` (default 1,000,000) bp of chr8 windows of tfbs-multilabel (genomic order), written as one
FASTA record (``one-record``), and the first 100,000 bp of it as 1,000 records of 100 bp (``short-records``, the shape
of a peak set from ``bedtools getfasta``) and as one record of 100 kbp (``one-record-100k``).

Rows (``tfscope scan`` through its Python entry point, the default 45-TF zoo, ``--workers`` processes; memelite FIMO
with each TF's JASPAR 2022 matrix at p < 1e-4 on one core, numba compiled before timing, fastest of 5 runs):

- ``zoo-genomic-calls``: calls only (the streamed path, no tracks);
- ``zoo-genomic-tracks``: calls + a bigWig per TF (``--tracks bigwig``);
- ``zoo-fast-calls`` / ``zoo-fast-tracks``: the same with the fast zoo (``--zoo fast``, :mod:`tfscope.zoo.student`);
- ``zoo-fast-calls-local-1`` / ``-local-2`` / ``-ray-2``: the fast zoo's calls with 1 and 2 local workers and with Ray
  on 2 embedded actors; ``projected_hg38_hours_2_cores`` (each calls row: seconds per Mbp x 3,088 Mbp),
  ``projected_hg38_hours_2_cores_scaling`` (from ``-local-2``) and ``projected_hg38_hours_16_cores`` (the 1-worker
  rate divided by 16: linear scaling assumed, not measured);
- ``zoo-fast-calls-<runtime>`` / ``zoo-genomic-calls-<runtime>`` (dataset ``chr8-100k-one-record``): each zoo's calls
  under each runtime of :data:`tfscope.zoo.gated.RUNTIMES` (the genomic zoo: fp32, channels-last and int8), one
  process and thread: ``in_process_seconds`` and ``changed_call_fraction`` (calls differing from fp32's in position,
  TF, score or strand);
- ``zoo-shuffled-calls``: the shuffled (paper-protocol) zoo, calls only;
- ``zoo-genomic-short-records``: 1,000 records of 100 bp, calls only, against one record of the same 100 kbp;
- ``fimo-jaspar``: the reference.

Metrics (long format, dataset ``chr8-<bp>``): ``seconds``, ``bp_per_s``, ``ratio_to_fimo`` (tfscope seconds / FIMO
seconds on the same bases) and, for the short records, ``ratio_to_one_record``. Start-up (loading the zoo and, since
2026-12-05 session 21, building its inference copies once per process) is timed separately as ``startup_seconds`` of
the zoo rows: it is not per Mbp, so the hg38 projections leave it out.

The compute floor (models ``zoo-genomic-calls`` and ``zoo-fast-calls``, dataset ``chr8-100k-one-record``):
``gflop_per_mbp``, the floating point operations the calls scan executes per Mbp
(``torch.utils.flop_counter.FlopCounterMode`` around an in-process scan of the 100 kbp record, so the gate's skipped
work is not counted; under the zoo's float32 channels-last networks, since the counter does not see int8
convolutions, which execute the same multiply-adds), ``detector_gflop_per_mbp`` (the detector's share, which every
position needs), ``localizer_gflop_per_mbp`` (the rest), ``in_process_seconds`` (the same scan under the zoo's own
runtime, one process, one thread) and ``achieved_gflop_per_s`` (int8 multiply-adds counted as FLOPs);
``gflop_per_s_needed_for_3x_fimo`` = the 1 Mbp calls FLOPs / (3 x FIMO's 1 Mbp seconds): the rate any CPU would need
to run these networks within 3x FIMO.

Writes ``benchmarks/results/throughput.json`` and ``throughput.md``.

Usage: ``python benchmarks/throughput.py [--bp 1000000] [--workers 2]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import load_results, real_sequence, save_results  # noqa: E402

from tfscope.metrics import markdown_table  # noqa: E402


@contextlib.contextmanager
def zoo_runtime(models, runtime: str):
    """Run the gated zoo of ``models`` under ``runtime`` inside the block; each zoo's own runtime is restored after
    (:data:`tfscope.zoo.gated.RUNTIMES`; the fast zoo declares int8)."""
    declared = [m.model.runtime for m in models]
    for m in models:
        m.model.runtime = runtime
    try:
        yield
    finally:
        for m, rt in zip(models, declared):
            m.model.runtime = rt


def scan_seconds(fasta: Path, out: Path, *, kind: str, tracks: bool, workers: int,
                 executor: str = "local") -> tuple[float, float]:
    """(start-up seconds, scan seconds) of ``tfscope scan`` on ``fasta`` with the ``kind`` zoo.

    Start-up: loading the zoo, the executor and the networks' inference copies, which a scan builds once per process
    (before the workers fork; the fast zoo's int8 copies about 0.15 s, the genomic zoo's dense copy about 0.4 s).
    """
    from tfscope.executor import make_executor
    from tfscope.scan.stream import build_inference_copies, scan_fasta
    from tfscope.zoo.registry import load_zoo

    t0 = time.time()
    models = load_zoo(kind=kind)
    executor = make_executor(executor, workers)
    build_inference_copies(models, dense=tracks)
    t1 = time.time()
    try:
        scan_fasta(models, fasta, out, bigwig=out.parent / f"{out.stem}.bigwig" if tracks else None,
                   executor=executor)
    finally:
        executor.close()
    return t1 - t0, time.time() - t1


#: FIMO runs per timing; the fastest is kept
FIMO_REPEATS = 5


def fimo_seconds(seqs: dict) -> float:
    """memelite FIMO at p < 1e-4 over ``seqs`` (one core), after a warm-up call that compiles it: the fastest of
    :data:`FIMO_REPEATS` runs."""
    import numba
    from memelite import fimo

    from tfscope.io.jaspar import jaspar_motif, motif_pfm
    from tfscope.sequence import one_hot
    from tfscope.zoo.registry import zoo_tfs

    pwms = {}
    for tf in zoo_tfs():
        pfm = motif_pfm(jaspar_motif(tf))
        pwms[tf] = pfm / pfm.sum(0, keepdims=True)
    lens = {len(s) for s in seqs.values()}
    x = one_hot(list(seqs.values()), length=max(lens))
    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # one core, as the issue compares
    try:
        fimo(pwms, x[:1, :, :200], threshold=1e-4)
        times = []
        for _ in range(FIMO_REPEATS):  # the reference: its fastest run (0.07 s runs vary by 25% between runs)
            t0 = time.time()
            fimo(pwms, x, threshold=1e-4)
            times.append(time.time() - t0)
        return min(times)
    finally:
        numba.set_num_threads(threads)


def compute_floor(fasta: Path, out: Path, bp: int, kind: str = "genomic") -> dict[str, float]:
    """FLOPs of the ``kind`` zoo's calls scan of ``fasta`` (``bp`` bases; one process, one thread), its detector's
    and its localizers' shares, and the seconds of the same scan without the counter (see the module docstring)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from tfscope.executor import make_executor
    from tfscope.scan.stream import scan_fasta
    from tfscope.zoo.registry import load_zoo

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        models = load_zoo(kind=kind)
        ex = make_executor("local", 1)
        scan_fasta(models, fasta, out, executor=ex)  # warm-up
        t0 = time.time()
        scan_fasta(models, fasta, out, executor=ex)
        secs = time.time() - t0
        # FlopCounterMode does not see int8 convolutions: count the same scan's float32 (channels-last) networks,
        # which execute the same multiply-adds; the seconds above are the zoo's own runtime's
        with zoo_runtime(models, "channels-last"), FlopCounterMode(display=False) as fc:
            scan_fasta(models, fasta, out, executor=ex)
        total = fc.get_total_flops()
        zoo = models[0].model
        with FlopCounterMode(display=False) as fd, torch.no_grad():  # the detector alone on the same bases
            x = torch.zeros(1, 4, bp)
            zoo.detector.pooled(x) if zoo.pooled else (zoo.detector(x), zoo.detector(x))  # both strands
        per_mbp = 1e6 / bp / 1e9
        det = fd.get_total_flops() * per_mbp
        return {"gflop_per_mbp": total * per_mbp, "detector_gflop_per_mbp": det,
                "localizer_gflop_per_mbp": total * per_mbp - det,
                "in_process_seconds": secs, "achieved_gflop_per_s": total / secs / 1e9}
    finally:
        torch.set_num_threads(threads)


#: (row name, zoo, tracks) of the 1 Mbp rows
ZOO_ROWS = (("zoo-genomic-calls", "genomic", False), ("zoo-genomic-tracks", "genomic", True),
            ("zoo-fast-calls", "fast", False), ("zoo-fast-tracks", "fast", True),
            ("zoo-shuffled-calls", "shuffled", False))
#: hg38 primary assembly, Mbp (chr1-22, X, Y: 3,088 Mbp; projections scale the measured seconds per Mbp)
HG38_MBP = 3088


def scaling_rows(fasta: Path, bp: int, ds: str, fimo: float) -> list[tuple]:
    """The fast zoo's calls on the same bases with 1 and 2 local workers and with Ray on 2 workers (embedded), and the
    hg38 projections: 2 cores from the 2-worker run, 16 cores from the 1-worker run divided by 16 (linear scaling
    assumed: pieces are independent)."""
    rows, secs = [], {}
    for name, executor, workers in (("local-1", "local", 1), ("local-2", "local", 2), ("ray-2", "ray", 2)):
        try:
            _, t = scan_seconds(fasta, fasta.parent / f"scale-{name}.bed", kind="fast", tracks=False,
                                workers=workers, executor=executor)
        except ImportError as e:  # ray is an optional extra
            print(f"scaling {name}: skipped ({e})", flush=True)
            continue
        secs[name] = t
        rows += [(f"zoo-fast-calls-{name}", ds, "seconds", t), (f"zoo-fast-calls-{name}", ds, "ratio_to_fimo", t / fimo)]
        print(f"scaling {name}: {t:.1f} s", flush=True)
    per_mbp = 1e6 / bp
    if "local-2" in secs:
        rows.append(("zoo-fast-calls", ds, "projected_hg38_hours_2_cores_scaling", secs["local-2"] * per_mbp * HG38_MBP / 3600))
    if "local-1" in secs:
        rows.append(("zoo-fast-calls", ds, "projected_hg38_hours_16_cores", secs["local-1"] * per_mbp * HG38_MBP / 16 / 3600))
    return rows


def runtime_rows(fasta: Path) -> list[tuple]:
    """The fast and genomic zoos' calls on 100 kbp in one process and one thread under each inference runtime
    (:data:`tfscope.zoo.gated.RUNTIMES`; the genomic zoo: fp32, channels-last and int8): seconds (fastest of 3) and the
    fraction of calls that differ from fp32's (by position, TF, score and strand)."""
    import torch

    from tfscope.executor import make_executor
    from tfscope.scan.stream import scan_fasta
    from tfscope.zoo.gated import RUNTIMES
    from tfscope.zoo.registry import load_zoo

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    try:
        for kind, runtimes in (("fast", RUNTIMES), ("genomic", ("fp32", "channels-last", "int8"))):
            models, beds = load_zoo(kind=kind), {}
            ex = make_executor("local", 1)
            for rt in runtimes:
                out = fasta.parent / f"runtime-{kind}-{rt}.bed"
                with zoo_runtime(models, rt):
                    scan_fasta(models, fasta, out, executor=ex)  # warm-up (and compilation)
                    times = []
                    for _ in range(3):
                        t0 = time.time()
                        scan_fasta(models, fasta, out, executor=ex)
                        times.append(time.time() - t0)
                beds[rt] = {tuple(line.split("\t")[:6]) for line in out.read_text().splitlines()}
                changed = len(beds[rt] ^ beds["fp32"]) / max(1, len(beds["fp32"]))
                rows += [(f"zoo-{kind}-calls-{rt}", "chr8-100k-one-record", "in_process_seconds", min(times)),
                         (f"zoo-{kind}-calls-{rt}", "chr8-100k-one-record", "changed_call_fraction", changed)]
                print(f"{kind} runtime {rt}: {min(times):.2f} s, {changed:.4f} of calls changed", flush=True)
    finally:
        torch.set_num_threads(threads)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bp", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs of the one-record / short-records pair, alternating; the fastest of each is kept")
    ap.add_argument("--zoo-repeats", type=int, default=2,
                    help="runs of each 1 Mbp zoo row; the fastest is kept (this VM's 2-worker runs vary by ~10%%)")
    ap.add_argument("--short-only", action="store_true",
                    help="rerun only the 100 kbp rows (one record vs 1,000 short records) and the compute floor, "
                         "keeping the recorded 1 Mbp rows")
    ap.add_argument("--note", default=None, help="a sentence on the conditions of this run (e.g. machine load)")
    ap.add_argument("--render-only", action="store_true")
    args = ap.parse_args()
    doc = load_results("throughput")
    if args.render_only:
        save_results(doc, render(doc), stamp=False)
        return
    from tfscope.io.fasta import write_fasta

    seqs, _ = real_sequence(args.bp)
    whole = "".join(seqs.values())
    ds = f"chr8-{args.bp // 1000}k"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_fasta(tmp / "one.fa", {"chr8_windows": whole})
        write_fasta(tmp / "one100k.fa", {"chr8_windows_100k": whole[:100_000]})
        write_fasta(tmp / "short.fa", {f"w{i}": whole[i * 100:(i + 1) * 100] for i in range(1000)})
        fimo_all = fimo_seconds({"chr8_windows": whole})
        if args.short_only:  # keep the recorded 1 Mbp rows, and their FIMO time for the floor's needed rate
            rows += [(r["model"], r["dataset"], r["metric"], r["value"]) for r in doc["rows"] if r["dataset"] == ds]
            fimo_all = next((v for m, d, k, v in rows if (m, k) == ("fimo-jaspar", "seconds")), fimo_all)
        else:
            rows.append(("fimo-jaspar", ds, "seconds", fimo_all))
            rows.append(("fimo-jaspar", ds, "bp_per_s", args.bp / fimo_all))
        for name, kind, tracks in ZOO_ROWS:
            if args.short_only:
                break
            start, secs = min((scan_seconds(tmp / "one.fa", tmp / f"{name}.bed", kind=kind, tracks=tracks,
                                            workers=args.workers) for _ in range(args.zoo_repeats)),
                              key=lambda t: t[1])
            rows += [(name, ds, "seconds", secs), (name, ds, "startup_seconds", start),
                     (name, ds, "bp_per_s", args.bp / secs), (name, ds, "ratio_to_fimo", secs / fimo_all)]
            if not tracks:
                rows.append((name, ds, "projected_hg38_hours_2_cores", secs * HG38_MBP * 1e6 / args.bp / 3600))
            print(name, f"{secs:.1f} s (start-up {start:.1f} s), {secs / fimo_all:.1f}x FIMO", flush=True)
        if not args.short_only:
            rows += scaling_rows(tmp / "one.fa", args.bp, ds, fimo_all)
            rows += runtime_rows(tmp / "one100k.fa")
        ones, shorts = [], []
        for _ in range(args.repeats):  # alternating, so that load changes hit both alike; fastest of each kept
            ones.append(scan_seconds(tmp / "one100k.fa", tmp / "one100k.bed", kind="genomic", tracks=False,
                                     workers=args.workers)[1])
            shorts.append(scan_seconds(tmp / "short.fa", tmp / "short.bed", kind="genomic", tracks=False,
                                       workers=args.workers)[1])
        one, short = min(ones), min(shorts)
        print("one record:", [round(x, 2) for x in ones], "short records:", [round(x, 2) for x in shorts], flush=True)
        fimo_short = fimo_seconds({f"w{i}": whole[i * 100:(i + 1) * 100] for i in range(1000)})
        rows += [("zoo-genomic-calls", "chr8-100k-one-record", "seconds", one),
                 ("zoo-genomic-short-records", "chr8-100k-1000x100bp", "seconds", short),
                 ("zoo-genomic-short-records", "chr8-100k-1000x100bp", "ratio_to_one_record", short / one),
                 ("zoo-genomic-short-records", "chr8-100k-1000x100bp", "ratio_to_fimo", short / fimo_short),
                 ("fimo-jaspar", "chr8-100k-1000x100bp", "seconds", fimo_short)]
        print(f"short records: {short:.1f} s vs one record {one:.1f} s ({short / one:.2f}x)", flush=True)
        for name, kind in (("zoo-genomic-calls", "genomic"), ("zoo-fast-calls", "fast")):
            floor = compute_floor(tmp / "one100k.fa", tmp / "floor.bed", 100_000, kind)
            floor["gflop_per_s_needed_for_3x_fimo"] = floor["gflop_per_mbp"] * args.bp / 1e6 / (3 * fimo_all)
            rows += [(name, "chr8-100k-one-record", k, v) for k, v in floor.items()]
            print(name, "compute floor:", {k: round(v, 2) for k, v in floor.items()}, flush=True)
    doc["rows"] = [{"model": m, "dataset": d, "metric": k, "value": round(float(v), 4)} for m, d, k, v in rows]
    doc["workers"] = args.workers
    doc["repeats"] = args.repeats
    doc["zoo_repeats"] = args.zoo_repeats
    if args.note is not None:
        doc["note"] = args.note
    save_results(doc, render(doc))
    print(json.dumps(doc["rows"][:4]))


def render(doc: dict) -> str:
    rows = [{"model": r["model"], "dataset": r["dataset"], "metric": r["metric"], "value": r["value"]}
            for r in doc["rows"]]
    return ("# Scanning throughput against memelite FIMO\n\n"
            f"Machine: {doc.get('machine')}; date {doc.get('date')}; tfscope with {doc.get('workers')} worker "
            "processes, FIMO on one core (numba-compiled before timing, fastest of 5 runs). 45 TFs. "
            "ratio_to_fimo = tfscope seconds / FIMO seconds on the same bases; ratio_to_one_record = 1,000 records of 100 bp against the same 100 kbp "
            f"as one record (fastest of {doc.get('repeats', 1)} alternating runs each); each 1 Mbp zoo row is the "
            f"fastest of {doc.get('zoo_repeats', 1)} runs. Start-up (loading the zoo and building its inference copies "
            "once per process) is not in the scan seconds. The compute-floor rows (dataset chr8-100k-one-record: "
            "gflop_per_mbp, detector_gflop_per_mbp, localizer_gflop_per_mbp, in_process_seconds, achieved_gflop_per_s, "
            "gflop_per_s_needed_for_3x_fimo) are described in `benchmarks/throughput.py`."
            + (f" {doc['note']}" if doc.get("note") else "") + "\n\n"
            + markdown_table(rows, ["model", "dataset", "metric", "value"], floatfmt=".3f"))


if __name__ == "__main__":
    main()
