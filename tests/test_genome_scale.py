"""Genome-scale scanning: streamed FASTA input, bigWig/bigBed tracks, and the local/Ray executors."""

import dataclasses
import filecmp
import os
import random
import time

import numpy as np
import pybigtools
import pytest

from tfscope.cli import main
from tfscope.errors import InputError
from tfscope.executor import LocalExecutor, make_executor
from tfscope.io import read_bed, read_fasta, write_bed, write_fasta
from tfscope.io.fasta import iter_fasta
from tfscope.io.tables import read_snr_table
from tfscope.resources import resource
from tfscope.scan.engine import scan
from tfscope.scan.stream import scan_fasta
from tfscope.io.tracks import track_runs, write_bedgraph
from tfscope.zoo.registry import load_zoo

CHUNK = 6000
PIECE = 2 * CHUNK


@pytest.fixture(scope="module")
def records():
    """Real DNA (bound KLF4 windows of the bundled table, concatenated): a record of ~4 pieces with an N run
    across a piece boundary, a 150 bp record and one that is not a whole number of chunks."""
    t = read_snr_table(resource("snr_tables", "KLF4.tsv.gz"))
    seq = "".join(t["sequence"][t["bound"] == 1][:500])
    return {"r1": seq[:10000] + "N" * 5000 + seq[15000:48000] + "ACG", "r2": seq[:150], "r3": seq[-9001:]}


@pytest.fixture(scope="module")
def models():
    """Two models of the default (gated, strand-symmetric) zoo at their thresholds, plus the shuffled zoo's KLF4
    model at a low threshold (long runs that cross piece boundaries: the gated track is too sharp for that), at 0
    (each record is one site: runs spanning whole pieces) and at a low threshold with the other strand rule."""
    ms = load_zoo(["KLF4", "E2F1"])
    sh = load_zoo(["KLF4"], kind="shuffled")[0]
    other = "max" if sh.strands == "mean" else "mean"
    return ms + [dataclasses.replace(sh, name="KLF4_low", threshold=0.002),
                 dataclasses.replace(ms[0], name="KLF4_all", threshold=0.0),
                 dataclasses.replace(sh, name=f"KLF4_{other}", threshold=0.002, strands=other)]


def test_iter_fasta_plain_gzip_indexed(tmp_path, records):
    import pyfaidx

    from Bio import bgzf  # biopython comes with pyjaspar; pyfaidx reads bgzip through it

    for name in ("x.fa", "x.fa.gz", "y.fa"):
        write_fasta(tmp_path / name, records, width=70)
    with bgzf.BgzfWriter(str(tmp_path / "z.fa.gz"), "wb") as fh:
        fh.write((tmp_path / "x.fa").read_bytes())
    for name in ("y.fa", "z.fa.gz"):  # index them (.fai, + .gzi for bgzip): then read through pyfaidx
        pyfaidx.Fasta(str(tmp_path / name)).close()
        assert (tmp_path / f"{name}.fai").exists()
    for name in ("x.fa", "x.fa.gz", "y.fa", "z.fa.gz"):
        got = {}
        for sid, blocks in iter_fasta(tmp_path / name, block=1000):
            parts = list(blocks)
            assert max(map(len, parts)) <= 1000
            got[sid] = "".join(parts)
        assert got == records == read_fasta(tmp_path / name)
    bad = tmp_path / "bad.fa"
    bad.write_text(">a\nACGT\n>b\nAC\nGTJ\n")
    with pytest.raises(InputError, match="bad.fa:5: invalid DNA letter 'J'"):
        for _, blocks in iter_fasta(bad):
            list(blocks)
    # lines are validated a block at a time: the error still names the line, in the middle of a block or in the
    # rest carried over from the previous block
    bad.write_text(">a\n" + "ACGTACGTAC\n" * 5 + "ACG.TACGTA\n" + "ACGTACGTAC\n" * 3)
    for block, line in ((25, 7), (35, 7), (1000, 7)):
        with pytest.raises(InputError, match=rf"bad.fa:{line}: invalid DNA letter '\.'"):
            for _, blocks in iter_fasta(bad, block=block):
                list(blocks)
    # an unwrapped record (one line): every full block of it at once, upper-cased, the rest last
    one = tmp_path / "one.fa"
    seq = "".join(random.Random(1).choice("acgtN") for _ in range(10_050))
    one.write_text(">r\n" + seq + "\n")
    got = [b for _, blocks in iter_fasta(one, block=1000) for b in blocks]
    assert got == [seq[i:i + 1000].upper() for i in range(0, len(seq), 1000)]
    bad.write_text(">a\nACGT\n>a\nAC\n")
    with pytest.raises(InputError, match="duplicate"):
        for _, blocks in iter_fasta(bad):
            list(blocks)


def ref_bedgraphs(directory, tracks: dict, names: list[str]) -> None:
    """The in-memory scan's bedGraphs (``<directory>/<name>.bedGraph``), written as :func:`scan_in_memory` does."""
    directory.mkdir()
    for name, runs in zip(names, track_runs(directory, tracks, names)):
        write_bedgraph(directory / f"{name}.bedGraph", name, runs.blocks())


def test_streaming_equals_whole_record_scan(tmp_path, records, models):
    """Pieces of 2 chunks streamed from a gzip FASTA give the same BED and bedGraph bytes as the in-memory scan,
    including calls that cross piece boundaries and whole records above threshold (q-values over the whole run
    included)."""
    fa = tmp_path / "x.fa.gz"
    write_fasta(fa, records)
    sites, tracks = scan(models, read_fasta(fa), keep_tracks=True, workers=2, chunk=CHUNK)
    write_bed(tmp_path / "ref.bed", sites)
    ref_bedgraphs(tmp_path / "ref", tracks, [m.name for m in models])
    res = scan_fasta(models, fa, tmp_path / "stream.bed", bedgraph=tmp_path / "stream", bigwig=tmp_path / "bw",
                     piece=PIECE, chunk=CHUNK, executor=LocalExecutor(2))
    assert filecmp.cmp(tmp_path / "ref.bed", tmp_path / "stream.bed", shallow=False)
    for m in models:  # the bedGraph, and the bigWig written by the track workers from the same runs
        assert filecmp.cmp(tmp_path / "ref" / f"{m.name}.bedGraph", tmp_path / "stream" / f"{m.name}.bedGraph",
                           shallow=False)
        bw = pybigtools.open(str(tmp_path / "bw" / f"{m.name}.bw"))
        got = [(k, a, b, f"{v:.3f}") for k in records for a, b, v in bw.records(k)]
        lines = (tmp_path / "stream" / f"{m.name}.bedGraph").read_text().splitlines()[1:]
        assert got == [(c, int(a), int(b), v) for c, a, b, v in (ln.split("\t") for ln in lines)]
    assert res["paths"]["bigwig"] == [tmp_path / "bw" / f"{m.name}.bw" for m in models]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file or folder left
    assert res["sites"] == len(sites) and res["chrom_sizes"] == {k: len(v) for k, v in records.items()}
    crossing = [s for s in sites if s.start // PIECE != (s.end - 1) // PIECE]
    assert any(s.name == "KLF4_low" for s in crossing)
    # threshold 0: every nucleotide is above it, so peaks tile each record one site width apart at least, across
    # every piece boundary, and every nucleotide lies within a site width of a peak
    w = models[[m.name for m in models].index("KLF4_all")].call.site_width
    for k, v in records.items():
        peaks = np.array([int(s.extra[1]) for s in sites if s.name == "KLF4_all" and s.chrom == k])
        assert np.all(np.diff(peaks) >= w) and np.abs(np.arange(len(v))[:, None] - peaks[None]).min(1).max() <= w
    assert any(s.name == "KLF4" for s in sites)  # real calls at the zoo threshold too
    with pytest.raises(ValueError, match="multiple of chunk"):
        scan_fasta(models, fa, tmp_path / "x.bed", piece=PIECE + 1, chunk=CHUNK)


def test_short_records_are_packed_and_scan_as_alone(tmp_path, records, models):
    """Many short records (a peak set from bedtools getfasta) are packed into shared pieces with N spacers; the BED
    and bedGraphs equal the in-memory scan of each record on its own, in file order, and the work units are few."""
    from tfscope.scan.stream import packed_tasks, stream_pieces

    seq = records["r1"][:48000].replace("N", "")
    rng = np.random.default_rng(3)
    lens = rng.integers(3, 400, 120)
    short = {f"p{i}": seq[j:j + n] for i, (j, n) in enumerate(zip(rng.integers(0, 40000, 120), lens))}
    short["p_n"] = "N" * 50
    short["long"] = seq[:PIECE + 700]  # one record over a piece between the short ones
    short.update({f"q{i}": seq[100 * i:100 * i + 100] for i in range(30)})
    fa = tmp_path / "peaks.fa"
    write_fasta(fa, short)
    sites, tracks = scan(models, read_fasta(fa), keep_tracks=True, workers=1, chunk=CHUNK)
    write_bed(tmp_path / "ref.bed", sites)
    ref_bedgraphs(tmp_path / "ref", tracks, [m.name for m in models])
    res = scan_fasta(models, fa, tmp_path / "stream.bed", bedgraph=tmp_path / "stream", piece=PIECE, chunk=CHUNK,
                     executor=LocalExecutor(2))
    assert filecmp.cmp(tmp_path / "ref.bed", tmp_path / "stream.bed", shallow=False) and res["sites"] == len(sites)
    for m in models:
        assert filecmp.cmp(tmp_path / "ref" / f"{m.name}.bedGraph", tmp_path / "stream" / f"{m.name}.bedGraph",
                           shallow=False)
    units = list(packed_tasks(stream_pieces(iter_fasta(fa, block=PIECE), PIECE, 200, {}), PIECE, 200))
    assert len(units) <= 8 and sum(len(u[3]) for u in units) == len(short) + 1  # the long record: 2 pieces


def test_bigwig_bigbed_open_with_pybigtools(tmp_path, capsys):
    import pybigtools

    out, bb, bw = tmp_path / "calls.bed", tmp_path / "calls.bb", tmp_path / "calls.bigwig"
    assert main(["scan", "--example", "--tfs", "E2F1", "FOXK1", "--out", str(out), "--tracks", "bedgraph", "bigwig",
                 "--bigbed", str(bb), "--quiet", "--workers", "1", "--no-parse-genomic-coord"]) == 0
    sizes = {k: len(v) for k, v in read_fasta(resource("example_regions")).items()}
    calls = read_bed(out)
    assert calls
    reader = pybigtools.open(str(bb))
    # lengths from the FASTA; the files list only chromosomes that have data (bigtools leaves out empty ones)
    assert reader.chroms().items() <= sizes.items() and set(reader.chroms()) == {s.chrom for s in calls}
    got = [(c, *r) for c in sizes if c in reader.chroms() for r in reader.records(c)]
    assert got == [(s.chrom, s.start, s.end, s.name, str(s.score), s.strand, *s.extra) for s in calls]
    assert all(isinstance(s.score, str) and 0 <= int(s.score) <= 1000 for s in calls)  # BED score: integer 0-1000
    for tf in ("E2F1", "FOXK1"):
        w = pybigtools.open(str(bw / f"{tf}.bw"))
        lines = [ln.split("\t") for ln in (tmp_path / "calls.bedgraph" / f"{tf}.bedGraph").read_text().splitlines()[1:]]
        assert lines and w.chroms().items() <= sizes.items() and set(w.chroms()) == {c for c, *_ in lines}
        recs = [(c, *r) for c in sizes if c in w.chroms() for r in w.records(c)]
        assert [(c, a, b) for c, a, b, _ in recs] == [(c, int(a), int(b)) for c, a, b, _ in lines]
        np.testing.assert_allclose([v for *_, v in recs], [float(v) for *_, v in lines], atol=1e-6)
        for s in (s for s in calls if s.name == tf):  # per-base values: each call's peak P is the track at its peak
            peak = int(s.extra[1])  # (not always the maximum of the call's span: a stronger neighbour's call may abut)
            assert s.start <= peak < s.end
            assert abs(w.values(s.chrom, peak, peak + 1, fillna=0)[0] - float(s.extra[0])) < 1e-3
    # a failed run (bad FASTA) writes nothing
    bad = tmp_path / "bad.fa"
    bad.write_text(">a\nACGTJ\n")
    assert main(["scan", str(bad), "--out", str(tmp_path / "x.bed"), "--bigbed", str(tmp_path / "x.bb")]) == 2
    assert not (tmp_path / "x.bed").exists() and not (tmp_path / "x.bb").exists()
    assert "tfscope: error" in capsys.readouterr().err


@pytest.fixture(scope="module")
def ray_session():
    """One embedded Ray (2 CPUs) for the module, workers at normal priority as the executor starts them; Ray's
    node-wide memory monitor is off (on a shared machine other processes' memory would get these workers killed)."""
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_memory_monitor_refresh_ms", "0")
        mp.setenv("RAY_worker_niceness", "0")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_executor_equals_local(tmp_path, records, models, ray_session):
    """Ray actors (embedded, 2 workers) give byte-identical BED and bedGraph output to the local forked workers,
    for the streamed scan and the in-memory one."""
    fa = tmp_path / "x.fa"
    small = {"r1": records["r1"][:15000], "r3": records["r3"][:3000]}
    write_fasta(fa, small)
    ms = [models[0], models[2]]  # KLF4 at its threshold and at a low one (sites across pieces)
    ray_ex = make_executor("ray", 2)
    for name, ex in (("local", LocalExecutor(2)), ("ray", ray_ex)):
        scan_fasta(ms, fa, tmp_path / f"{name}.bed", bedgraph=tmp_path / name, piece=PIECE, chunk=CHUNK,
                   executor=ex)
    assert filecmp.cmp(tmp_path / "local.bed", tmp_path / "ray.bed", shallow=False)
    assert read_bed(tmp_path / "ray.bed")
    assert all(filecmp.cmp(tmp_path / "local" / f"{m.name}.bedGraph", tmp_path / "ray" / f"{m.name}.bedGraph",
                           shallow=False) for m in ms)
    a, _ = scan(ms, small, executor=LocalExecutor(2))
    b, _ = scan(ms, small, executor=ray_ex)
    assert a == b and a
    ray_ex.close()
    assert ray_session.is_initialized()  # a session the executor did not start is left running


def test_make_executor_errors():
    with pytest.raises(InputError, match="unknown executor"):
        make_executor("dask")
    assert list(LocalExecutor(2).imap(_square, range(5))) == [0, 1, 4, 9, 16]


def _square(state, x):
    return x * x


def _signal_state(state, _):
    """In a worker: (SIGTERM handler is the default, SIGTERM not blocked)."""
    import signal

    return signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, signal.SIGTERM not in signal.pthread_sigmask(
        signal.SIG_BLOCK, [])


def test_local_workers_start_with_their_own_signal_handlers():
    """Workers are forked with SIGINT/SIGTERM/SIGHUP blocked and unblock them once their handlers are set, so that a
    signal arriving first (pool.terminate) cannot run a handler of the parent's (Ray's SIGTERM handler raises) in the
    child, which would carry on running the parent's code; the parent keeps its handler and gets its mask back."""
    import signal

    def raising(signum, frame):  # as Ray's handler: raise in whatever the process is running
        raise SystemExit(f"signal {signum}")

    from tfscope.executor import _blocked_while_forking, _worker_init

    old = signal.signal(signal.SIGTERM, raising)
    try:
        assert list(LocalExecutor(2).imap(_signal_state, range(4))) == [(True, True)] * 4
        assert signal.getsignal(signal.SIGTERM) is raising
        assert not {signal.SIGINT, signal.SIGTERM, signal.SIGHUP} & signal.pthread_sigmask(signal.SIG_BLOCK, [])
        # the race itself: SIGTERM reaches a forked worker before its initializer has run
        parent = os.getpid()
        with _blocked_while_forking():  # as a pool forks its workers (which never leave this block)
            pid = os.fork()
            if pid == 0:  # the child: whatever happens, never return into pytest
                try:
                    time.sleep(0.5)  # the parent's SIGTERM arrives meanwhile (pending: blocked)
                    _worker_init(parent)  # the worker's handlers, then unblocked: it dies of the signal
                    time.sleep(5)
                    os._exit(3)
                except BaseException:  # the parent's handler ran in the child
                    os._exit(4)
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM, status
    finally:
        signal.signal(signal.SIGTERM, old)


def test_gzip_truncated_stream_is_an_input_error(tmp_path, records, models):
    fa = tmp_path / "t.fa.gz"
    write_fasta(fa, records)
    data = fa.read_bytes()
    fa.write_bytes(data[:len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        scan_fasta(models[:1], fa, tmp_path / "t.bed")
    assert not (tmp_path / "t.bed").exists()


def test_final_points_and_context_fetcher():
    """Workers call the clusters of a piece that no other piece can join; their sequence comes from the unit's context
    string (N outside the record and outside the context)."""
    from tfscope.scan.stream import context_fetcher, final_points

    pos = np.array([100, 103, 120, 200, 290, 296])  # clusters (width 10): [100, 103], [120], [200], [290, 296]
    got = final_points(pos, 10, 100, 300, last=False)
    assert got.tolist() == [False, False, True, True, False, False]  # the first starts at the piece, the last ends it
    assert final_points(pos, 10, 0, 300, last=True).all()  # the record's first and last piece: nothing can join
    assert final_points(pos[:0], 10, 0, 300, last=False).shape == (0,)
    ctx = "ACGTACGTAC"  # record positions 5..14 (base -5), record ends at 12
    fetch = context_fetcher(ctx, -5, 12)
    assert fetch("r", 5, 9) == "ACGT" and fetch("r", 3, 7) == "NNAC" and fetch("r", 10, 14) == "CGNN"
    assert fetch("r", -2, 1) == "NNN" and fetch("r", 20, 22) == "NN"
    open_end = context_fetcher(ctx, -5, None)
    assert open_end("r", 12, 17) == "TACNN"  # past the context: N
    packed = context_fetcher("NNNACGTNNN", 3, 4)  # a packed record at offset 3 between N spacers
    assert packed("r", -1, 5) == "NACGTN"


def test_worker_calls_equal_call_records_then_orientation():
    """The scan workers' columnar calls (_final_calls) give the lines of make_calls then orient_calls, over calls near
    the record's start and end, N runs and the context's end, for a model with and one without a JASPAR matrix."""
    from tfscope.io.bed import bed_line
    from tfscope.scan.calls import P_COLUMN, make_calls
    from tfscope.scan.orient import orient_calls
    from tfscope.scan.stream import _final_calls, context_fetcher

    m = load_zoo(["KLF4"])[0]
    rng = np.random.default_rng(3)
    ctx = "".join(rng.choice(list("ACGT"), 3000))
    ctx = ctx[:400] + "N" * 30 + ctx[430:]
    pos = np.unique(np.concatenate([[0, 1, 2, 2497, 2499], rng.integers(0, 2500, 400)]))
    p = rng.random(len(pos)).astype(np.float32)
    pts = [pos, p, p, p]
    for end in (2500, None):  # the record ends in the context, or continues past it
        fetch = context_fetcher(ctx, 100, end)
        for model in (m, dataclasses.replace(m, call=dataclasses.replace(m.call, matrix=None))):
            recs = make_calls("r", model.name, model.call, *pts, 2500 if end else 2600, symmetric=True)
            want = [(r.start, r.name, bed_line(r), float(r.extra[P_COLUMN])) for r in orient_calls(
                recs, fetch, {model.name: model.call.matrix})]
            got = _final_calls("r", model, pts, 2500 if end else 2600, np.frombuffer(ctx.encode(), np.uint8), fetch)
            assert got == want and len(got) > 20


def test_track_writer_failure_names_the_output_and_keeps_nothing(tmp_path, records, models, monkeypatch):
    """A bigWig that fails in a track worker (a full disk) is one OutputError naming that bigWig; no track, BED or
    temporary file is left, and an older BED stays."""
    import errno

    from tfscope.errors import OutputError
    from tfscope.scan import stream

    fa = tmp_path / "x.fa"
    write_fasta(fa, {"r1": records["r1"][:15000]})
    bad = models[1].name
    real = stream.runs_to_bigwig

    def full_disk(runs, wig, sizes, **kw):
        if f"{bad}.bw" in os.path.basename(wig):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(runs, wig, sizes, **kw)

    monkeypatch.setattr(stream, "runs_to_bigwig", full_disk)  # (inherited by the forked track workers)
    out = tmp_path / "out"
    out.mkdir()
    (out / "calls.bed").write_text("old\n")
    with pytest.raises(OutputError, match=rf"{out}/bw/{bad}\.bw: cannot write \(No space left on device\)"):
        scan_fasta(models, fa, out / "calls.bed", bedgraph=out / "bg", bigwig=out / "bw", piece=PIECE, chunk=CHUNK,
                   executor=LocalExecutor(2))
    assert sorted(os.listdir(out)) == ["calls.bed"] and (out / "calls.bed").read_text() == "old\n"
