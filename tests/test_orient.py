"""Strand and matched site of each call from its TF's JASPAR matrix (``tfscope.scan.orient``), checked against
memelite's FIMO on the bundled known sites; one coordinate system per scan output."""

import numpy as np
import pytest
from memelite import fimo

from tfscope.cli import main
from tfscope.io.bed import BedRecord, read_bed
from tfscope.io.coords import GenomeCoords
from tfscope.io.fasta import read_fasta
from tfscope.io.tracks import CALL_COLUMNS, CALLS_AUTOSQL
from tfscope.resources import resource
from tfscope.scan.models import site_matrix
from tfscope.scan.orient import (SiteMatrix, StreamedSequences, best_site, orient_call, orient_calls, sequence_fetcher,
                                 site_window)
from tfscope.sequence import one_hot, reverse_complement

SITE = CALL_COLUMNS.index("site")


def test_best_site_strand_and_palindromes():
    pfm = np.array([[9, 0, 0, 0, 9], [0, 9, 0, 0, 0], [0, 0, 9, 0, 0], [0, 0, 0, 9, 0]], float)  # ACGTA
    m = SiteMatrix.from_pfm(pfm, "toy")
    assert not m.palindromic and m.width == 5
    assert best_site("ggACGTAgg".upper(), m) == (2, "+")
    assert best_site("GG" + reverse_complement("ACGTA") + "GG", m) == (2, "-")
    ebox = SiteMatrix.from_pfm(one_hot(["CACGTG"])[0] * 10 + 0.5)  # CACGTG is its own reverse complement
    assert ebox.palindromic and best_site("TTCACGTGTT", ebox) == (2, ".")
    assert site_matrix("MA0024.3").palindromic and not site_matrix("MA0852.2").palindromic  # E2F1 yes, FOXK1 no
    assert site_window(100, 110, 4) == (98, 111) and site_window(100, 111, 11) == (95, 116)  # centres in the call
    with pytest.raises(ValueError, match=r"\(4, W\)"):
        SiteMatrix.from_pfm(np.ones((3, 5)))


def test_batched_orientation_equals_one_call_at_a_time():
    """Scored in one batch (the scans' second pass), every call gets the strand and site it gets scored alone: calls of
    several widths (so padded to each other) and matrices, near record ends, over N runs, on palindromes and with no
    matrix."""
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACGT"), 3000))
    seq = seq[:500] + "N" * 40 + seq[540:1500] + "NNNNNNNNNNNN" + seq[1512:]
    fetch = sequence_fetcher({"r": seq})
    pal = np.array([[8, 0, 1, 0, 0, 1], [0, 9, 0, 1, 0, 0], [0, 0, 9, 0, 1, 8], [1, 0, 0, 9, 8, 0]], float)
    matrices = {"A": SiteMatrix.from_pfm(rng.random((4, 9)) ** 3), "B": SiteMatrix.from_pfm(pal + pal[::-1, ::-1]),
                "C": SiteMatrix.from_pfm(rng.random((4, 15)) ** 3), "D": None}
    assert matrices["B"].palindromic
    starts = [0, 3, 480, 505, 520, 1490, 1500, 2990, 2995, *rng.integers(0, 2980, 60).tolist()]
    recs = [(s, min(3000, s + int(w)), name) for s, w, name in zip(starts, rng.integers(1, 25, len(starts)),
                                                                    rng.choice(list("ABCD"), len(starts)))]
    one = [orient_call(BedRecord("r", a, b, n, 0, "."), fetch, matrices[n]) for a, b, n in recs]
    many = orient_calls([BedRecord("r", a, b, n, 0, ".") for a, b, n in recs], fetch, matrices)
    assert [(r.strand, r.extra) for r in many] == [(r.strand, r.extra) for r in one]
    assert {r.strand for r in one} >= {"+", "-", "."}
    # soft-masked (lower-case) DNA: the same strands, the sites in upper case
    masked = orient_calls([BedRecord("r", a, b, n, 0, ".") for a, b, n in recs],
                          sequence_fetcher({"r": seq[:1000].lower() + seq[1000:]}), matrices)
    assert [(r.strand, r.extra) for r in masked] == [(r.strand, r.extra) for r in one]


def test_streamed_sequences_equal_the_records():
    seqs = read_fasta(resource("example_regions"))
    fetch = StreamedSequences(((k, (v[i:i + 50] for i in range(0, len(v), 50))) for k, v in seqs.items()), keep=20)
    mem = sequence_fetcher(seqs)
    for rid, v in list(seqs.items())[::2]:  # records skipped in between are read past
        for a, b in ((-3, 10), (40, 75), (len(v) - 5, len(v) + 4)):
            assert fetch(rid, a, b) == mem(rid, a, b) and len(mem(rid, a, b)) == b - a


def test_known_site_calls_carry_fimo_strand_and_matched_sequence(tmp_path):
    """Every call overlapping a bundled known site of its TF: strand and site as memelite's FIMO finds the TF's JASPAR
    matrix in the same window (best hit); declared in the autoSql; genome coordinates from the headers by default."""
    out = tmp_path / "calls.bed"
    assert main(["scan", "--example", "--tfs", "FOXK1", "KLF4", "E2F1", "--out", str(out), "--quiet"]) == 0
    assert "string site;" in CALLS_AUTOSQL and (tmp_path / "calls.as").read_text() == CALLS_AUTOSQL
    calls = read_bed(out)
    seqs = read_fasta(resource("example_regions"))
    coords = GenomeCoords({k: len(v) for k, v in seqs.items()}, "auto")
    genome = {}  # genome-coordinate fetch over the records
    for rid, s in seqs.items():
        chrom, off = coords.locate(rid)
        genome.setdefault(chrom, []).append((off, s))
    assert all(c.chrom.startswith("chr") and ":" not in c.chrom for c in calls)  # genome coordinates by default
    known = []
    for k in read_bed(resource("example_sites")):
        chrom, off = coords.locate(k.chrom)
        known.append((chrom, k.start + off, k.end + off, k.name))
    jaspar = {"FOXK1": "MA0852.2", "KLF4": "MA0039.4", "E2F1": "MA0024.3"}
    checked = 0
    for c in calls:
        assert len(c.extra) == len(CALL_COLUMNS) and c.strand in "+-."
        peak = int(c.extra[CALL_COLUMNS.index("peak")])
        assert c.start <= peak < c.end  # the peak is in the same coordinates as the call
        if not any(kc == c.chrom and ks < c.end and c.start < ke and kn == c.name for kc, ks, ke, kn in known):
            continue
        m = site_matrix(jaspar[c.name])
        lo, hi = c.start - m.width // 2, c.end - 1 - m.width // 2 + m.width  # windows centred inside the call
        off, s = next((o, s) for o, s in genome[c.chrom] if o <= c.start < o + len(s))
        window = s[lo - off:hi - off].upper()
        pwm = np.asarray(m.log_odds)  # the same log-odds matrix, FIMO's scoring of every window on both strands
        hits = fimo({"m": np.exp(pwm) / np.exp(pwm).sum(0)}, one_hot([window]).astype(np.float32), threshold=1.0)[0]
        hits = hits.sort_values("score", ascending=False)
        best = hits.iloc[0]
        if m.palindromic:  # no orientation: the site is the + strand of the best window of either strand
            tops = [hits[hits["strand"] == s].iloc[0] for s in "+-"]
            assert c.strand == "." and c.extra[SITE] in {window[int(h["start"]):int(h["end"])] for h in tops}
        else:
            site = window[int(best["start"]):int(best["end"])]
            assert c.strand == best["strand"], (c, best.to_dict())
            assert c.extra[SITE] == (reverse_complement(site) if best["strand"] == "-" else site), (c, best.to_dict())
        checked += 1
    assert checked >= 10  # FOXK1 1, KLF4 2, E2F1 9 known sites are called


def test_record_coordinates_on_request_and_chrom_sizes_rule(tmp_path, capsys):
    out = tmp_path / "rec.bed"
    assert main(["scan", "--example", "--tfs", "FOXK1", "--out", str(out), "--quiet", "--no-parse-genomic-coord"]) == 0
    assert all(":" in c.chrom for c in read_bed(out))  # record ids kept
    assert main(["scan", "--example", "--tfs", "FOXK1", "--out", str(out), "--tracks", "bigwig", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--chrom-sizes" in err and "--no-parse-genomic-coord" in err


def _reference_orientation(seq: str, m: SiteMatrix) -> tuple[str, str]:
    """Strand and site of the best window, one window at a time (the rule of tfscope.scan.orient, written plainly)."""
    code = {b: i for i, b in enumerate("ACGT")}
    w = m.width
    wins = [seq[j:j + w] for j in range(len(seq) - w + 1)]
    if not all("N" in x or any(c not in code for c in x) for x in wins):  # windows with another letter only if all do
        wins = [x if all(c in code for c in x) else None for x in wins]

    def score(x, lo):
        return -np.inf if x is None else sum(lo[code[c], k] if c in code else 0.0 for k, c in enumerate(x))

    f = [score(x, m.log_odds) for x in wins]
    r = [score(x, m.log_odds[::-1, ::-1]) for x in wins]
    i, j = int(np.argmax(f)), int(np.argmax(r))
    a, b = f[i], r[j]
    if m.palindromic or abs(a - b) <= 1e-8 + 1e-5 * abs(b):
        return ".", seq[i:i + w] if a >= b else seq[j:j + w]
    return ("+", seq[i:i + w]) if a > b else ("-", reverse_complement(seq[j:j + w]))


def test_orientation_equals_a_window_by_window_reference():
    """The vectorized scorer (orient_calls, and the scan workers' oriented_sites) against a plain loop over windows:
    strands and matched sites, IUPAC letters and N included (a site with Y on the - strand complements to R)."""
    rng = np.random.default_rng(7)
    letters = list("ACGT" * 20 + "NRY")
    seq = "".join(rng.choice(letters, 4000))
    fetch = sequence_fetcher({"r": seq})
    matrices = {"A": SiteMatrix.from_pfm(rng.random((4, 8)) ** 3), "C": SiteMatrix.from_pfm(rng.random((4, 13)) ** 3)}
    recs = [BedRecord("r", int(s), int(s) + int(w), str(n), 0, ".")
            for s, w, n in zip(rng.integers(0, 3970, 300), rng.integers(1, 25, 300), rng.choice(list("AC"), 300))]
    got = orient_calls(recs, fetch, matrices)
    for r in got:
        m = matrices[r.name]
        lo, hi = site_window(r.start, r.end, m.width)
        assert (r.strand, r.extra[-1]) == _reference_orientation(fetch("r", lo, hi), m)
    assert {r.strand for r in got} >= {"+", "-"}
    assert reverse_complement("AYRN") == "NYRT" and reverse_complement("ayr") == "yrt"


def test_calls_across_pieces_are_oriented_from_the_pieces_held():
    """The first pass of a streamed scan orients the calls of clusters across pieces from the contexts of the pieces
    it still holds (``stream._orient_known``): a call whose searched stretch lies inside one of them gets the strand and
    site the FASTA gives it (N before the record and past its known end); one outside stays for the second pass."""
    from tfscope.scan.stream import _orient_known, context_fetcher

    rng = np.random.default_rng(2)
    seq = "".join(rng.choice(list("ACGT"), 2000))
    mem = sequence_fetcher({"r": seq})
    matrices = {"A": SiteMatrix.from_pfm(rng.random((4, 11)) ** 3), "D": None}
    # two pieces: [0, 1000) with 200 bp of context after it, [1000, 2000) (the record's end) with 200 before
    first = context_fetcher(seq[:1200], 0, None)
    second = context_fetcher(seq[800:], -800, 2000)
    inside = [(0, 8, "A"), (500, 520, "A"), (1150, 1170, "A"), (810, 830, "A"), (1990, 2000, "A"), (1000, 1010, "D")]
    recs = [BedRecord("r", a, b, n, 0, ".") for a, b, n in inside]
    _orient_known(recs, [(first, False), (second, True)], matrices)
    want = orient_calls([BedRecord("r", a, b, n, 0, ".") for a, b, n in inside], mem, matrices)
    assert [(r.strand, r.extra) for r in recs] == [(r.strand, r.extra) for r in want]
    # known to neither piece held: left for the second pass (before the second piece's context; past the first
    # piece's context, whose end is not the record's)
    for a, b, held in ((500, 520, [(second, True)]), (1190, 1200, [(first, False)])):
        rec = _orient_known([BedRecord("r", a, b, "A", 0, ".")], held, matrices)[0]
        assert rec.extra == [] and rec.strand == "."
