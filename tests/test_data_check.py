"""Data checks: overlapping genome windows agree on their shared bases.

The first build of ``../shared/data`` placed the windows of 14 TFs at hg38 positions read as hg19 (and paired the
coordinates of 5 TFs with their windows in a shifted order): overlapping windows then disagreed in 5.9% of pairs and
labels across the two groups were lost. These tests fail if that returns, in the shared files (when present) or in
the bundled example regions (always).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tfscope.io.fasta import read_fasta
from tfscope.io.stitch import (MAX_DISAGREEMENT, Region, Window, overlap_agreement, read_multilabel_windows,
                               region_matches, stitch_windows)
from tfscope.resources import resource
from tfscope.sequence import reverse_complement

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def test_agreement_counts_disagreeing_pairs():
    a = Window("chr1", 100, "ACGTACGTAC")
    good = Window("chr1", 105, "CGTACGTA")  # a[5:] = "CGTAC"
    bad = Window("chr1", 108, "TTTT")       # a[8:] = "AC"
    far = Window("chr2", 100, "GGGG")
    r = overlap_agreement([bad, a, good, far])
    assert (r.pairs, r.disagree) == (3, 2)  # a-good agree; a-bad and good-bad (good[3:5] = "AC") do not
    assert r.examples[0] == (a, bad)
    assert overlap_agreement([Window("chr1", 0, "ACNT"), Window("chr1", 2, "GT")]).disagree == 0  # N matches


def test_stitch_flags_chimeras():
    ok, clash = stitch_windows([Window("c", 0, "AAAACC"), Window("c", 4, "CCGG"),
                                Window("c", 20, "ACGT"), Window("c", 22, "TTA")])
    assert (ok.start, ok.end, ok.sequence, ok.agree) == (0, 8, "AAAACCGG", True)
    assert (clash.sequence, clash.agree) == ("ACGTA", False)  # "GT" vs "TT" where they overlap


def _bundled_regions() -> list[Region]:
    seqs = read_fasta(resource("example_regions"))
    regions = {}
    for rid, seq in seqs.items():
        chrom, span = rid.split(":")
        start, end = (int(v) for v in span.split("-"))
        assert end - start == len(seq), rid
        regions[rid] = Region(chrom, start, end, seq, [])
    with open(resource("example_windows")) as fh:
        assert fh.readline().split() == ["region", "id", "offset", "sequence"]
        for line in fh:
            rid, wid, offset, seq = line.rstrip("\n").split("\t")
            r = regions[rid]
            r.windows.append(Window(r.chrom, r.start + int(offset), seq, wid))
    return list(regions.values())


def test_bundled_regions_are_stitched_from_agreeing_windows():
    regions = _bundled_regions()
    assert len(regions) == 6
    for r in regions:
        assert r.windows, f"{r.chrom}:{r.start}-{r.end} lists no windows"
        covered = set()
        for w in r.windows:
            assert region_matches(r, w), f"window {w.name} disagrees with region {r.chrom}:{r.start}-{r.end}"
            covered.update(range(w.start, w.end))
        assert covered == set(range(r.start, r.end)), "the windows must cover the whole region"
        assert overlap_agreement(r.windows).disagree == 0


@pytest.mark.skipif(not (SHARED / "tfbs-multilabel" / "windows.tsv.gz").exists(), reason="needs ../shared/data")
def test_bundled_windows_are_the_shared_windows():
    want = {w.name: w for r in _bundled_regions() for w in r.windows}
    found = {w.name: w for w in read_multilabel_windows(SHARED / "tfbs-multilabel" / "windows.tsv.gz")
             if w.name in want}
    assert found == want


@pytest.mark.skipif(not (SHARED / "tfbs-multilabel" / "windows.tsv.gz").exists(), reason="needs ../shared/data")
def test_shared_multilabel_windows_agree():
    r = overlap_agreement(read_multilabel_windows(SHARED / "tfbs-multilabel" / "windows.tsv.gz"))
    assert r.pairs > 100_000
    assert r.fraction <= MAX_DISAGREEMENT, f"{r.disagree} of {r.pairs} overlapping windows disagree: {r.examples[:3]}"


@pytest.mark.skipif(not (SHARED / "tfbs-snr").is_dir(), reason="needs ../shared/data")
def test_shared_snr_windows_agree_across_tfs():
    windows = []
    for path in sorted((SHARED / "tfbs-snr").glob("*.tsv.gz")):
        tf = path.name.split(".")[0]
        with gzip.open(path, "rt") as fh:
            header = fh.readline().rstrip("\n").split("\t")
            for line in fh:
                row = dict(zip(header, line.rstrip("\n").split("\t")))
                if row["bound"] != "1" or not row["window_start"]:
                    continue
                seq = reverse_complement(row["sequence"]) if row["strand"] == "-" else row["sequence"]
                windows.append(Window(row["chrom"], int(row["window_start"]), seq, tf))
    r = overlap_agreement(windows)
    assert r.pairs > 100_000
    assert r.fraction <= MAX_DISAGREEMENT, f"{r.disagree} of {r.pairs} overlapping windows disagree: {r.examples[:3]}"
