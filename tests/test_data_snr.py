import numpy as np
import pytest

from tfscope.cli import main
from tfscope.shuffle import dinucleotide_shuffle
from tfscope.snr.data import load_snr, nucleotide_labels, train_valid_test
from tfscope.snr.windows import build_windows
from tfscope.errors import InputError
from tfscope.io import read_snr_table
from tfscope.sequence import reverse_complement


def dinucs(s):
    from collections import Counter
    return Counter(s[i:i + 2] for i in range(len(s) - 1))


def test_dinucleotide_shuffle_keeps_counts():
    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACGT"), 100)) for _ in range(5)]
    sh = dinucleotide_shuffle(seqs, seed=3)
    assert sh == dinucleotide_shuffle(seqs, seed=3)
    assert all(dinucs(a) == dinucs(b) and a != b for a, b in zip(seqs, sh))


def test_build_windows(tiny_genome, tmp_path):
    fa, bed, chroms = tiny_genome
    t = build_windows(bed, fa, window=50, seed=0)
    assert len(t["id"]) == 10 and t["bound"] == [1, 0] * 5
    for i in range(0, 10, 2):
        seq, a, b, chrom, ws, strand = (t[k][i] for k in ("sequence", "site_start", "site_end", "chrom",
                                                            "window_start", "strand"))
        g = chroms[chrom][ws:ws + 50].upper()
        assert seq == (reverse_complement(g) if strand == "-" else g)
        assert dinucs(t["sequence"][i + 1]) == dinucs(seq)
        assert len(seq) == 50 and 0 <= a < b <= 50
    # the site sequence in the window equals the genome site (on its strand)
    g = chroms["chrA"][500:510].upper()
    assert t["sequence"][2][t["site_start"][2]:t["site_end"][2]] == reverse_complement(g)
    # CLI writes the same table format, seeded
    out = tmp_path / "w.tsv.gz"
    assert main(["data", "windows", "--bed", str(bed), "--genome", str(fa), "--out", str(out), "--window", "50"]) == 0
    tt = read_snr_table(out, window=50)
    assert tt["sequence"].tolist() == t["sequence"]


def test_build_windows_genomic_negatives(tiny_genome, tmp_path):
    fa, bed, chroms = tiny_genome
    t = build_windows(bed, fa, window=50, seed=0, negatives="both")
    assert t["bound"] == [1, 0, 0] * 5  # each site: bound window, its shuffle, a GC-matched genome window
    pos = [(t["chrom"][i], t["window_start"][i]) for i in range(0, 15, 3)]
    for i in range(2, 15, 3):
        c, ws, seq = t["chrom"][i], t["window_start"][i], t["sequence"][i]
        assert t["strand"][i] == "+" and seq == chroms[c][ws:ws + 50].upper() and t["split"][i] == t["split"][i - 2]
        assert all(pc != c or ws + 50 <= p0 or p0 + 50 <= ws for pc, p0 in pos)  # no site window overlapped
    g = build_windows(bed, fa, window=50, seed=0, negatives="genomic")
    assert g["bound"] == [1, 0] * 5 and [g["window_start"][i] for i in range(1, 10, 2)] == \
        [t["window_start"][i] for i in range(2, 15, 3)]
    out = tmp_path / "g.tsv"
    assert main(["data", "windows", "--bed", str(bed), "--genome", str(fa), "--out", str(out), "--window", "50",
                 "--negatives", "genomic"]) == 0
    assert read_snr_table(out, window=50)["window_start"].tolist() == g["window_start"]
    with pytest.raises(InputError, match="negatives must be"):
        build_windows(bed, fa, window=50, negatives="random")


def test_build_windows_errors(tiny_genome, tmp_path):
    fa, _, _ = tiny_genome
    bed = tmp_path / "b.bed"
    bed.write_text("chrZ\t10\t20\n")
    with pytest.raises(InputError, match="chrZ"):
        build_windows(bed, fa)
    bed.write_text("chrA\t10\t20\n")
    with pytest.raises(InputError, match="too close"):
        build_windows(bed, fa, window=100, seed=1)
    bed.write_text("chrA\t100\t300\n")
    with pytest.raises(InputError, match="longer than"):
        build_windows(bed, fa)


def test_labels_and_split(tmp_path):
    y = nucleotide_labels(np.array([2, -1]), np.array([5, -1]), 8)
    assert y.tolist() == [[0, 0, 1, 1, 1, 0, 0, 0], [0] * 8]
    from tfscope.resources import resource
    d = load_snr(resource("snr_tables", "KLF4.tsv.gz"))
    tr, va, te = train_valid_test(d, seed=0)
    assert len(tr) + len(va) + len(te) == len(d)
    assert set(tr.ids).isdisjoint(va.ids) and (te.split == "test").all()
    assert abs(d.y_nt[d.y_seq == 1].mean() - 1 / 16) < 0.05  # about 1:15 positive:negative nucleotides
