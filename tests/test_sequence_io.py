import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfscope.errors import InputError
from tfscope.io import read_bed, read_fasta, read_snr_table, write_snr_table
from tfscope.sequence import decode, one_hot, reverse_complement, reverse_complement_one_hot

HEADER = "id\tsplit\tbound\tsite_start\tsite_end\tchrom\twindow_start\tstrand\tsequence\n"


def test_one_hot_contract():
    x = one_hot(["ACGTN", "acgtr"])
    assert x.shape == (2, 4, 5) and x.dtype == np.float32
    assert np.array_equal(x[0, :, :4], np.eye(4))
    assert x[0, :, 4].sum() == 0 and x[1, :, 4].sum() == 0  # N and IUPAC R -> zeros
    assert decode(x) == ["ACGTN", "ACGTN"]
    with pytest.raises(InputError, match="invalid DNA letter 'Z'"):
        one_hot(["ACZT"])


def test_reverse_complement_consistent():
    s = "AACGTTTGCN"
    assert reverse_complement(s) == "NGCAAACGTT"
    assert np.array_equal(reverse_complement_one_hot(one_hot([s])), one_hot([reverse_complement(s)]))


def test_fasta_reader(tmp_path):
    p = tmp_path / "a.fa"
    p.write_text(">s1 desc\nacgtn\nRYAC\n>s2\nGGGG\n")
    assert read_fasta(p) == {"s1": "ACGTNRYAC", "s2": "GGGG"}


@pytest.mark.parametrize("text,msg,line", [
    ("", "no FASTA records", None),
    ("ACGT\n", "before the first", 1),
    (">a\nACGT\n>a\nAC\n", "duplicate sequence id", 3),
    (">a\nAC1T\n", "invalid DNA letter '1'", 2),
    (">a\n>b\nAC\n", "has no sequence", 1),
])
def test_fasta_errors(tmp_path, text, msg, line):
    p = tmp_path / "bad.fa"
    p.write_text(text)
    with pytest.raises(InputError, match=msg) as e:
        read_fasta(p)
    assert e.value.path == str(p) and e.value.line == line


def test_bed_errors(tmp_path):
    p = tmp_path / "x.bed"
    p.write_text("chr1\t10\t20\tA\t0\t+\nchr1\t30\n")
    with pytest.raises(InputError, match="at least 3") as e:
        read_bed(p)
    assert e.value.line == 2
    p.write_text("chr1\t10\t5\n")
    with pytest.raises(InputError, match="empty or negative"):
        read_bed(p)
    p.write_text("chr1\t1\t5\tn\t0\t*\n")
    with pytest.raises(InputError, match="strand"):
        read_bed(p)


def _table(tmp_path, rows, name="t.tsv"):
    p = tmp_path / name
    p.write_text(HEADER + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    return p


def test_snr_table_roundtrip(tmp_path):
    seq = "ACGT" * 25
    p = _table(tmp_path, [("T_0", "test", 1, 10, 20, "chr1", 5, "+", seq), ("T_1", "test", 0, "", "", "", "", "", seq)])
    t = read_snr_table(p)
    assert t["site_start"].tolist() == [10, -1] and t["bound"].tolist() == [1, 0]
    out = tmp_path / "o.tsv.gz"
    write_snr_table(out, t)
    t2 = read_snr_table(out)
    assert all(np.array_equal(t[k], t2[k]) for k in t)


@pytest.mark.parametrize("row,msg", [
    (("T_0", "test", 1, 10, 20, "chr1", 5, "+", "ACGT" * 24), "length 96, expected 100"),
    (("T_0", "test", 1, 10, 20, "chr1", 5, "+", "ACGU" * 24 + "ACXT"), "invalid DNA letter 'X'"),
    (("T_0", "test", 1, 90, 120, "chr1", 5, "+", "ACGT" * 25), "outside the 100 bp window"),
    (("T_0", "test", 2, 10, 20, "chr1", 5, "+", "ACGT" * 25), "bound must be 0 or 1"),
    (("T_0", "test", 1, 10, 20, "chr1"), "truncated line"),
])
def test_snr_table_errors(tmp_path, row, msg):
    p = _table(tmp_path, [row])
    with pytest.raises(InputError, match=msg) as e:
        read_snr_table(p)
    assert e.value.line == 2


def test_snr_table_empty_and_truncated_gzip(tmp_path):
    p = tmp_path / "e.tsv"
    p.write_text(HEADER)
    with pytest.raises(InputError, match="no data rows"):
        read_snr_table(p)
    g = tmp_path / "t.tsv.gz"
    data = gzip.compress((HEADER + ("x\ttrain\t0\t\t\t\t\t\t" + "A" * 100 + "\n") * 500).encode())
    g.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        read_snr_table(g)


# ---- property-based fuzzing: parsers raise only InputError ----
text = st.text(alphabet=st.sampled_from(list("ACGTNacgtnXZ>\t\n 0123456789-+.chr#")), max_size=400)


@settings(max_examples=150, deadline=None)
@given(text)
def test_fuzz_fasta(tmp_path_factory, s):
    p = tmp_path_factory.mktemp("f") / "x.fa"
    p.write_text(s)
    try:
        recs = read_fasta(p)
        assert recs and all(v and set(v) <= set("ACGTNRYSWKMBDHVU") for v in recs.values())
    except InputError:
        pass


@settings(max_examples=150, deadline=None)
@given(text)
def test_fuzz_bed(tmp_path_factory, s):
    p = tmp_path_factory.mktemp("b") / "x.bed"
    p.write_text(s)
    try:
        for r in read_bed(p):
            assert 0 <= r.start < r.end
    except InputError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["train", "test"]), st.sampled_from(["0", "1", "2", ""]),
                          st.integers(-5, 120), st.integers(-5, 120),
                          st.text(alphabet="ACGTNX", min_size=0, max_size=102)), max_size=5), st.booleans())
def test_fuzz_snr_table(tmp_path_factory, rows, drop_col):
    p = tmp_path_factory.mktemp("t") / "x.tsv"
    lines = [HEADER.rstrip("\n")]
    for i, (split, b, a, e, seq) in enumerate(rows):
        cols = [f"r{i}", split, b, str(a), str(e), "chr1", "0", "+", seq]
        if drop_col:
            cols = cols[:-1]
        lines.append("\t".join(cols))
    p.write_text("\n".join(lines) + "\n")
    try:
        t = read_snr_table(p)
        assert all(len(s) == 100 for s in t["sequence"])
    except InputError:
        pass


def test_track_runs_bedgraph_and_bigwig(tmp_path):
    """Runs merge across calls of add (touching, same value), values print with the given decimals (on and off the
    table of grid values); the bigWig written from the runs file holds the bedGraph's runs; an empty track still gives
    a readable bigWig; runs move to genome coordinates in genome order."""
    import pybigtools

    from tfscope.io.coords import GenomeCoords, relocate_runs
    from tfscope.io.tracks import TrackRuns, runs_to_bigwig, track_runs, write_bedgraph

    w = TrackRuns(tmp_path / "t.runs")
    f32 = np.float32
    w.add("c1", [0, 5], [5, 9], np.array([0.25, 0.5], f32))
    w.add("c1", [9, 12], [12, 20], np.array([0.5, 0.125], f32))  # 9-12 continues 5-9 at 0.5
    w.add("c1", [20], [21], [1.5])  # off the [0, 1] grid: formatted value by value
    w.add("c2", [0], [3], [0.5])  # another chromosome: never merged
    w.add("c2", [], [], [])
    runs = w.close()
    assert runs.chroms == ("c1", "c2")
    write_bedgraph(tmp_path / "t.bedGraph", "T", runs.blocks(size=3), digits=3)  # blocks smaller than the file
    lines = (tmp_path / "t.bedGraph").read_text().splitlines()
    assert lines[0].startswith('track type=bedGraph name="T"')
    assert lines[1:] == ["c1\t0\t5\t0.250", "c1\t5\t12\t0.500", "c1\t12\t20\t0.125", "c1\t20\t21\t1.500",
                         "c2\t0\t3\t0.500"]
    sizes = {"c1": 30, "c2": 5}
    bw = pybigtools.open(str(runs_to_bigwig(runs, tmp_path / "t.bw", sizes)))
    assert [(c, a, b, f"{v:.3f}") for c in sizes for a, b, v in bw.records(c)] == [
        tuple(int(x) if x.isdigit() else x for x in ln.split("\t")) for ln in lines[1:]]
    with pytest.raises(ValueError, match="32-bit"):
        TrackRuns(tmp_path / "big.runs").add("c1", [1 << 32], [(1 << 32) + 1], [0.5])
    # a track with no run (an all-N record): a readable bigWig of zeros
    empty = TrackRuns(tmp_path / "e.runs").close()
    zeros = pybigtools.open(str(runs_to_bigwig(empty, tmp_path / "e.bw", sizes)))
    assert zeros.values("c1", 0, 30, fillna=0).sum() == 0
    # in-memory tracks as runs, then in genome coordinates: the records in genome order, whatever the file order,
    # each shifted by its offset; the two abutting records' touching runs of one value merge
    t = {"chr2:100-110": np.array([[0.5] * 4 + [0.0] * 5 + [0.25]]),
         "chr1:10-15": np.array([[0.0, 0.1234, 0.1234, 0.0, 0.0]]),
         "chr2:90-100": np.array([[0.0] * 8 + [0.25, 0.5]])}
    (tmp_path / "m").mkdir()
    [mem] = track_runs(tmp_path / "m", t, ["T"])
    assert [(c, a.tolist(), b.tolist(), v.tolist()) for c, a, b, v in mem.blocks()] == [
        ("chr2:100-110", [0, 9], [4, 10], [0.5, 0.25]), ("chr1:10-15", [1], [3], [f32(0.123)]),
        ("chr2:90-100", [8, 9], [9, 10], [0.25, 0.5])]
    coords = GenomeCoords({k: 10 if k.startswith("chr2") else 5 for k in t}, "bedtools", {"chr1": 50, "chr2": 200},
                          None)
    moved = relocate_runs(mem, coords, tmp_path / "m" / "g.runs")
    assert [(c, a.tolist(), b.tolist(), v.tolist()) for c, a, b, v in moved.blocks()] == [
        ("chr1", [11], [13], [f32(0.123)]), ("chr2", [98, 99, 109], [99, 104, 110], [0.25, 0.5, 0.25])]
    from tfscope.io.tracks import bed_to_bigbed

    (tmp_path / "c.bed").write_text("c1\t2\t8\tKLF4\t500\t+\t0.9\n")  # not a BED6+9 call line
    with pytest.raises(InputError, match="c.bed:1: expected a tfscope scan BED6"):
        bed_to_bigbed(tmp_path / "c.bed", tmp_path / "c.bb", {"c1": 30})
    assert not (tmp_path / "c.bb").exists()
