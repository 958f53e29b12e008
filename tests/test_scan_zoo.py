"""Many-TF scanning, the bundled zoo, bedGraph tracks and the HTML report."""

import numpy as np
import pytest

from tfscope.cli import main
from tfscope.errors import InputError
from tfscope.io import read_bed
from tfscope.scan import call_sites, load_scan_models, scan_tracks
from tfscope.sequence import reverse_complement
from tfscope.zoo import list_zoo, zoo_checkpoints, zoo_tfs


def test_zoo_lists_models():
    rows = list_zoo()
    assert len(rows) == len(zoo_tfs()) >= 4
    for r in rows:
        assert r["jaspar_id"].startswith("MA") and 0 < r["threshold"] < 1 and r["nt_auprc"] > 0.5
    with pytest.raises(InputError, match="unknown TF 'NOPE'"):
        zoo_checkpoints(["NOPE"])


def test_scan_strand_symmetry_and_n_runs():
    models = load_scan_models(zoo_checkpoints(["FOXK1"]))
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 300))
    seq = seq[:120] + "TGTTTAC" + seq[127:]  # a forkhead core
    f, r = scan_tracks(models, seq)
    f2, r2 = scan_tracks(models, reverse_complement(seq))
    assert np.allclose(np.maximum(f, r)[0], np.maximum(f2, r2)[0][::-1], atol=1e-5)
    nseq = seq[:100] + "N" * 100 + seq[200:]
    f3, r3 = scan_tracks(models, nseq)
    assert np.all(np.maximum(f3, r3)[0, 100:200] == 0)


def test_call_sites_merges_runs():
    p = np.array([0, 0.9, 0.95, 0.9, 0.2, 0.8, 0.85, 0.9, 0.7, 0], np.float32)
    sites = call_sites("s", "TF", p, np.zeros_like(p), 0.5, min_length=3)
    assert [(s.start, s.end) for s in sites] == [(1, 4), (5, 9)] and sites[0].strand == "+"


def test_cli_scan_report(tmp_path, capsys):
    out = tmp_path / "sites.bed"
    rep = tmp_path / "report.html"
    assert main(["scan", "--example", "--tfs", "FOXK1", "E2F1", "--out", str(out), "--bedgraph",
                 str(tmp_path / "bg"), "--report", str(rep), "--quiet"]) == 0
    sites = read_bed(out)
    assert {s.name for s in sites} <= {"FOXK1", "E2F1"} and sites
    keys = [(s.chrom, s.start) for s in sites]
    order = list(dict.fromkeys(s.chrom for s in sites))
    assert keys == sorted(keys, key=lambda k: (order.index(k[0]), k[1]))
    assert (tmp_path / "bg" / "FOXK1.bedGraph").read_text().startswith("track type=bedGraph")
    html = rep.read_text()
    assert 'alt="track plot' in html and "data:image/png;base64," in html and "<table>" in html
    assert main(["zoo", "list"]) == 0 and "FOXK1" in capsys.readouterr().out
    bad = tmp_path / "bad.fa"
    bad.write_text(">a\nACGTJ\n")
    assert main(["scan", str(bad), "--out", str(tmp_path / "x.bed")]) == 2
    assert not (tmp_path / "x.bed").exists()
