"""Genome coordinates from FASTA headers (``scan --parse-genomic-coord``), known sites beside the calls, the
interactive report, and ``explain --tf`` on the default zoo."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tfscope.cli import main
from tfscope.errors import InputError
from tfscope.io import BedRecord, atomic, read_bed
from tfscope.io.coords import GenomeCoords, Locus, parse_genomic_coord, read_chrom_sizes
from tfscope.io.fasta import read_fasta, write_fasta
from tfscope.resources import resource
from tfscope.scan.known import known_recall, read_known, recall_line

HG19 = "chr1\t249250621\nchr4\t191154276\nchr6\t171115067\nchr7\t159138663\nchr15\t102531392\n"


def test_parse_genomic_coord_conventions():
    assert parse_genomic_coord("chr1:101-200", 100, "faidx") == Locus("chr1", 100, 100)
    assert parse_genomic_coord("chr1:100-200", 100, "bedtools") == Locus("chr1", 100, 100)
    assert parse_genomic_coord("chr1:101-200", 100) == Locus("chr1", 100, 100)  # auto: the span that fits
    assert parse_genomic_coord("chr1:100-200", 100) == Locus("chr1", 100, 100)
    assert parse_genomic_coord("peak7::chr2:1,000-1,050(+)", 50) == Locus("chr2", 1000, 50)
    assert parse_genomic_coord("contig9", 70) == Locus("contig9", 0, 70)  # no coordinates: as FIMO
    with pytest.raises(InputError, match="fits --parse-genomic-coord bedtools"):
        parse_genomic_coord("chr1:100-200", 100, "faidx")
    with pytest.raises(InputError, match="spans 101 bp"):
        parse_genomic_coord("chr1:100-200", 120)
    with pytest.raises(InputError, match="reverse-complemented"):
        parse_genomic_coord("chr1:100-200(-)", 100)


def test_genome_coords_sizes_order_and_overlap(tmp_path):
    sizes = tmp_path / "g.sizes"
    sizes.write_text("chr2\t5000\nchr1\t9000\n")
    g = GenomeCoords({"chr1:100-200": 100, "chr2:0-50": 50, "chr1:150-250": 100}, "bedtools",
                     read_chrom_sizes(sizes))
    assert g.chrom_order() == ["chr2", "chr1"] and g.chrom_sizes() == {"chr2": 5000, "chr1": 9000}
    assert g.overlapping() == ("chr1:100-200", "chr1:150-250")
    with pytest.raises(InputError, match="past the end of chr2"):
        GenomeCoords({"chr2:4990-5010": 20}, "bedtools", read_chrom_sizes(sizes))
    with pytest.raises(InputError, match="not in the chromosome sizes"):
        GenomeCoords({"chrX:0-10": 10}, "bedtools", read_chrom_sizes(sizes))


def test_scan_genome_coordinates_both_paths(tmp_path, capsys):
    """The known FOXK1 site of the first bundled region (bedtools-style header chr1:27816599-27816935, site at
    241-255 of the record) lies at chr1:27816840-27816854; the calls on it move there, in the streamed and the
    in-memory path, from bedtools- and from faidx-style headers alike; bigWig and bigBed use the genome's sizes."""
    pytest.importorskip("pybigtools")
    import pybigtools

    (tmp_path / "hg19.sizes").write_text(HG19)
    # a killed run's staging directory (a directory is swept once per process, before its first output is written)
    stale = tmp_path / f".g.bed.tfscope-{atomic._HOST}-999999999-k1ll3d0x"
    stale.mkdir()
    (stale / "calls.bed").write_text("x\n")
    rec = [(r.start, r.end) for r in read_bed(resource("example_sites")) if r.name == "FOXK1"]
    assert rec == [(241, 255)]
    seqs = read_fasta(resource("example_regions"))
    first = {"chr1:27816599-27816935": seqs["chr1:27816599-27816935"]}
    bed_fa, faidx_fa = tmp_path / "bedtools.fa", tmp_path / "faidx.fa"
    write_fasta(bed_fa, first)
    write_fasta(faidx_fa, {"chr1:27816600-27816935": first["chr1:27816599-27816935"]})  # samtools faidx style
    known_genome = tmp_path / "known.bed"  # the two known sites of that region, in hg19 coordinates
    known_genome.write_text("chr1\t27816683\t27816694\tKLF4\t0\t.\nchr1\t27816840\t27816854\tFOXK1\t0\t.\n")
    plain = tmp_path / "plain.bed"
    assert main(["scan", str(bed_fa), "--tfs", "FOXK1", "--out", str(plain), "--workers", "1", "--quiet",
                 "--no-parse-genomic-coord", "--tracks", "bedgraph"]) == 0
    rel = read_bed(plain)
    # one call on the site: the FOXK1 site width (14 bp) around a peak inside the site
    assert len(rel) == 1 and all(r.start < 255 and 241 < r.end and 241 <= int(r.extra[1]) < 255 for r in rel)
    streamed = tmp_path / "g.bed"
    assert main(["scan", str(faidx_fa), "--tfs", "FOXK1", "--out", str(streamed), "--parse-genomic-coord",
                 "--tracks", "bedgraph", "bigwig", "--bigbed", str(tmp_path / "g.bb"), "--chrom-sizes",
                 str(tmp_path / "hg19.sizes"), "--known", str(known_genome), "--workers", "1", "--quiet"]) == 0
    assert "known sites found: 1/1 by a call of their TF (FOXK1 1/1); 1 site(s) of TFs not scanned left out" in \
        capsys.readouterr().out
    # staging happens beside the output, and a killed run's staging directory is swept by the next run
    assert not stale.exists() and not [p for p in tmp_path.iterdir() if ".tfscope-" in p.name]
    gen = read_bed(streamed)
    assert [(r.chrom, r.start, r.end) for r in gen] == [("chr1", r.start + 27816599, r.end + 27816599) for r in rel]
    assert all(r.start < 27816854 and 27816840 < r.end and 27816840 <= int(r.extra[1]) < 27816854 for r in gen)
    # the bedGraph: the record's runs, moved by the record's offset
    graph = (tmp_path / "g.bedgraph" / "FOXK1.bedGraph").read_text().splitlines()
    own = (tmp_path / "plain.bedgraph" / "FOXK1.bedGraph").read_text().splitlines()
    assert len(graph) == len(own) > 10 and graph[0] == own[0]
    shift = 27816599
    assert [ln.split("\t") for ln in graph[1:]] == [
        ["chr1", str(int(a) + shift), str(int(b) + shift), v] for _, a, b, v in (ln.split("\t") for ln in own[1:])]
    bw = pybigtools.open(str(tmp_path / "g.bigwig" / "FOXK1.bw"))
    assert bw.chroms()["chr1"] == 249250621
    bb = list(pybigtools.open(str(tmp_path / "g.bb")).records("chr1"))
    assert [(r[0], r[1]) for r in bb] == [(r.start, r.end) for r in gen]
    mem = tmp_path / "m.bed"  # the in-memory path (--report) from the bedtools-style header
    assert main(["scan", str(bed_fa), "--tfs", "FOXK1", "--out", str(mem), "--parse-genomic-coord", "bedtools",
                 "--report", str(tmp_path / "r.html"), "--known", str(resource("example_sites")),
                 "--attributions", "1", "--workers", "1", "--quiet", "--tracks", "bedgraph"]) == 0
    assert mem.read_text() == streamed.read_text()
    assert (tmp_path / "m.bedgraph" / "FOXK1.bedGraph").read_text().splitlines() == graph
    out = capsys.readouterr().out
    assert "genome coordinates" in out and "report" in out and "known sites found: 1/1" in out
    html = (tmp_path / "r.html").read_text()
    assert "chr1:27816600-27816935" in html and "igv.createBrowser" in html and "class=sortable" in html
    # wrong convention, missing sizes: one error line, no output
    assert main(["scan", str(bed_fa), "--tfs", "FOXK1", "--out", str(tmp_path / "x.bed"), "--parse-genomic-coord",
                 "faidx", "--quiet"]) == 2
    assert main(["scan", str(bed_fa), "--tfs", "FOXK1", "--out", str(tmp_path / "x.bed"), "--parse-genomic-coord",
                 "--tracks", "bigwig", "--quiet"]) == 2
    assert not (tmp_path / "x.bed").exists()
    if shutil.which("bedtools"):  # the genome BED is one bedtools accepts
        r = subprocess.run(f"bedtools sort -i {streamed} | bedtools merge -i -", shell=True, capture_output=True,
                           text=True)
        assert r.returncode == 0 and r.stdout.startswith("chr1\t"), r.stderr


def test_known_recall_by_tf_and_group(tmp_path):
    known = [BedRecord("s", 10, 20, "KLF4"), BedRecord("s", 50, 60, "KLF4"), BedRecord("s", 90, 99, "E2F1")]
    calls = [BedRecord("s", 15, 18, "KLF4", 0.9, ".", ["0.9"]), BedRecord("s", 52, 55, "SP1", 0.8, ".", ["0.8"])]
    r = known_recall(known, calls)
    assert r["found"] == 1 and r["by_group"] is None
    assert r["by_tf"] == [{"TF": "E2F1", "known": 1, "found": 0, "recall": 0.0},
                          {"TF": "KLF4", "known": 2, "found": 1, "recall": 0.5}]
    grouped = [BedRecord("s", 15, 18, "KLF4", 900, ".", ["0.9", "16", "-1", "-1", "-1", "-1", "KLF/SP", "KLF4"]),
               BedRecord("s", 52, 55, "SP1", 800, ".", ["0.8", "53", "-1", "-1", "-1", "-1", "KLF/SP", "SP1"])]
    r = known_recall(known, grouped)
    assert r["found"] == 1 and r["found_group"] == 2
    assert "2/3 by a call of their paralog group" in recall_line(known, grouped)
    bed = tmp_path / "k.bed"
    bed.write_text("chr1\t27816840\t27816854\tFOXK1\t0\t.\nchr9\t5\t9\tX\t0\t.\n")
    g = GenomeCoords({"chr1:27816599-27816935": 336})
    assert [(k.chrom, k.start, k.end) for k in read_known(bed, {"chr1:27816599-27816935": 336}, g)] == \
        [("chr1:27816599-27816935", 241, 255)]
    bed.write_text("chr9\t5\t9\tX\t0\t.\n")
    with pytest.raises(InputError, match="none of the 1 known sites"):
        read_known(bed, {"chr1:27816599-27816935": 336}, g)


def test_explain_tf_on_default_zoo(tmp_path, capsys):
    fa = tmp_path / "one.fa"
    seqs = read_fasta(resource("example_regions"))
    write_fasta(fa, {k: seqs[k] for k in list(seqs)[:1]})
    assert main(["explain", str(fa), "--tf", "KLF5", "--method", "gradient", "--out", str(tmp_path / "a.tsv")]) == 0
    assert "of KLF5" in capsys.readouterr().out
    lines = (tmp_path / "a.tsv").read_text().splitlines()
    assert len(lines) == 337 and lines[1].startswith("chr1:27816599-27816935\t0\t")
    assert main(["explain", str(fa), "--zoo", "--out", str(tmp_path / "b.tsv")]) == 2  # 45 TFs: --tf needed
    assert "choose one with --tf" in capsys.readouterr().err
    assert main(["explain", str(fa), "--zoo", "shuffled", "--tf", "klf4", "--method", "gradient", "--out",
                 str(tmp_path / "c.tsv")]) == 0
    assert not (tmp_path / "b.tsv").exists()


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                    reason="needs Debian chromium (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    rep = tmp_path / "r.html"
    assert main(["scan", "--example", "--tfs", "FOXK1", "KLF4", "--out", str(tmp_path / "s.bed"),
                 "--parse-genomic-coord", "--report", str(rep), "--known", str(resource("example_sites")),
                 "--attributions", "1", "--workers", "1", "--quiet"]) == 0
    script = Path(__file__).resolve().parents[1] / "scripts" / "check_report.py"
    r = subprocess.run([sys.executable, str(script), str(rep), str(tmp_path / "shot.png")], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "console errors: 0" in r.stdout and "known sites" in r.stdout


def test_logo_svg_letters_axis_and_highlight():
    import numpy as np

    from tfscope.plot import logo_svg

    pfm = np.array([[10, 0, 0], [0, 10, 0], [0, 0, 10], [0, 0, 0]], dtype=float)  # A, C, G: one letter a column
    svg = logo_svg(pfm, "toy")
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "viewBox" in svg
    assert [svg.count(f">{b}</text>") for b in "ACGT"] >= [1, 1, 1, 0]
    attr = np.array([[0.5, -0.2], [0, 0], [0, 0], [0, 0.3]])
    svg = logo_svg(attr, "attr", information=False, start=1000, highlight=(0, 1), axis_label="chr1 position")
    assert "1,000" in svg and "chr1 position" in svg and "<rect" in svg and ">T</text>" in svg
