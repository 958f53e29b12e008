"""Many-TF scanning, the bundled zoo, bedGraph tracks and the HTML report."""

from pathlib import Path

import numpy as np
import pytest

from tfscope.cli import main
from tfscope.errors import InputError
from tfscope.io import read_bed
from tfscope.scan.engine import ScanModel, call_sites, scan, scan_tracks
from tfscope.sequence import reverse_complement
from tfscope.zoo.registry import list_zoo, load_zoo, zoo_tfs


def test_zoo_lists_models():
    """Each zoo is judged where it is meant to be used: the shuffled (BertSNR-protocol) zoo on the paper protocol,
    the genomic zoo on held-out chr7 genome windows (its calibration record)."""
    import json

    from tfscope.resources import resource

    for kind in ("shuffled", "genomic"):
        rows = list_zoo(kind=kind)
        assert len(rows) == len(zoo_tfs(kind=kind)) >= 4
        for r in rows:
            assert r["jaspar_id"].startswith("MA") and 0 < r["threshold"] < 1
            # paper-protocol floor: the genomic zoo trades localisation for window ranking (docs/genomic.md), so its
            # floor is lower, still several times the share of site nucleotides in the tfbs-snr test rows
            assert r["nt_auprc"] > (0.5 if kind == "shuffled" else 0.3)
    per_tf = json.loads((resource("zoo", "genomic") / "config.json").read_text())["meta"]["per_tf"]
    assert all(r["calibration"]["window_auroc"] > 0.9 for r in per_tf.values())
    with pytest.raises(InputError, match="unknown TF 'NOPE'"):
        load_zoo(["NOPE"])


def test_scan_strand_symmetry_and_n_runs():
    models = load_zoo(["FOXK1"])
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 300))
    seq = seq[:120] + "TGTTTAC" + seq[127:]  # a forkhead core
    f, r = scan_tracks(models, seq)
    f2, r2 = scan_tracks(models, reverse_complement(seq))
    assert np.allclose(np.maximum(f, r)[0], np.maximum(f2, r2)[0][::-1], atol=1e-5)
    nseq = seq[:100] + "N" * 100 + seq[200:]
    f3, r3 = scan_tracks(models, nseq)
    assert np.all(np.maximum(f3, r3)[0, 100:200] == 0)


def _toy(width: int, strands: str = "max") -> ScanModel:
    import torch

    from tfscope.scan.calls import CallSpec

    return ScanModel("TF", torch.nn.Identity(), 0.5, strands=strands, call=CallSpec(site_width=width, group="G"))


def test_call_sites_one_call_per_event():
    """A track that dips below the threshold inside one site gives one call of the site's width, centred on the
    peak (moved inside the sequence at its ends); peaks a site width apart give separate calls."""
    p = np.array([0, 0.9, 0.95, 0.9, 0.2, 0.8, 0.85, 0.9, 0.7, 0], np.float32)
    z = np.zeros_like(p)
    one = call_sites("s", _toy(10), p, z)
    assert [(s.start, s.end, s.name, s.strand) for s in one] == [(0, 10, "TF", "+")]
    assert one[0].extra[:2] == ["0.9500", "2"] and one[0].extra[-2:] == ["G", "TF:0.950"]
    assert one[0].score == 950  # no calibration: round(1000 x peak P), an integer 0-1000
    two = call_sites("s", _toy(3), p, z)
    assert [(s.start, s.end, int(s.extra[1])) for s in two] == [(1, 4, 2), (6, 9, 7)]


def test_strand_rules():
    """``max`` calls a nucleotide when either strand reaches the threshold, ``mean`` (reverse-complement
    averaging) when the two strands do on average; the rule of a checkpoint travels with its ScanModels."""
    from tfscope.scan.engine import combine_strands

    f = np.array([0, 0.9, 0.9, 0.9, 0.9, 0], np.float32)
    r = np.array([0, 0.9, 0.9, 0.9, 0.0, 0], np.float32)
    np.testing.assert_allclose(combine_strands(f, r, "mean"), [0, 0.9, 0.9, 0.9, 0.45, 0])
    assert [int(s.extra[1]) for s in call_sites("s", _toy(4), f, r)] == [2]  # plateau 1-4: its centre
    mean = call_sites("s", _toy(3, "mean"), f, r)
    assert [(s.start, s.end, int(s.extra[1])) for s in mean] == [(1, 4, 2)] and mean[0].score == 900
    with pytest.raises(ValueError, match="strands must be one of"):
        combine_strands(f, r, "min")
    with pytest.raises(ValueError, match="strands must be one of"):
        ScanModel("T", load_zoo(["FOXK1"])[0].model, strands="sum")
    seq = "".join(np.random.default_rng(5).choice(list("ACGT"), 800))
    for m in load_zoo(["FOXK1"], kind="shuffled") + load_zoo(["FOXK1"]):
        _, tracks = scan([m], {"s": seq}, keep_tracks=True)
        fw, rv = scan_tracks([m], seq)
        np.testing.assert_allclose(tracks["s"][0], combine_strands(fw, rv, m.strands)[0], atol=1e-6)


def test_cli_scan_report(tmp_path, capsys):
    out = tmp_path / "sites.bed"
    rep = tmp_path / "report.html"
    assert main(["scan", "--example", "--tfs", "FOXK1", "E2F1", "--out", str(out), "--tracks", "bedgraph",
                 "--report", str(rep), "--quiet"]) == 0
    sites = read_bed(out)
    assert {s.name for s in sites} <= {"FOXK1", "E2F1"} and sites
    keys = [(s.chrom, s.start) for s in sites]
    order = list(dict.fromkeys(s.chrom for s in sites))
    assert keys == sorted(keys, key=lambda k: (order.index(k[0]), k[1]))
    assert (tmp_path / "sites.bedgraph" / "FOXK1.bedGraph").read_text().startswith("track type=bedGraph")
    html = rep.read_text()
    assert 'alt="track plot' in html and "data:image/png;base64," in html and "<table" in html and "igv.createBrowser" in html
    assert main(["zoo", "list"]) == 0 and "FOXK1" in capsys.readouterr().out
    bad = tmp_path / "bad.fa"
    bad.write_text(">a\nACGTJ\n")
    assert main(["scan", str(bad), "--out", str(tmp_path / "x.bed")]) == 2
    assert not (tmp_path / "x.bed").exists()


def test_receptive_field_is_exact():
    """Changing a base just outside the declared receptive field leaves an output unchanged; just inside, not."""
    import torch

    from tfscope.models.dilated import DilatedResNet

    torch.manual_seed(0)
    net = DilatedResNet(channels=8).eval()
    rf = net.receptive_field
    L, pos = 400, 200
    x = torch.zeros(3, 4, L)
    x[:, 0] = 1
    half = rf // 2
    for i, off in enumerate((half, half + 1)):  # inside, outside
        x[i + 1, :, pos + off] = 0
        x[i + 1, 3, pos + off] = 1
    with torch.no_grad():
        y = net(x)[:, pos]
    assert y[1] != y[0] and y[2] == y[0]


def test_chunk_mode_matches_one_pass_and_is_chunk_size_invariant():
    """Chunk mode equals one pass of the fused network over the whole N-padded sequence, for any chunk length."""
    import torch

    from tfscope.sequence import one_hot

    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACGT"), 2500)) + "N" * 700 + "".join(rng.choice(list("ACGT"), 1800))
    models = load_zoo(["KLF4", "E2F1"])
    assert all(m.receptive_field for m in models)
    f1, r1 = scan_tracks(models, seq, chunk=500)
    f2, r2 = scan_tracks(models, seq, chunk=7000)
    np.testing.assert_allclose(f1, f2, atol=1e-5)
    np.testing.assert_allclose(r1, r2, atol=1e-5)
    margin = models[0].receptive_field // 2 + 1
    x = torch.from_numpy(np.pad(one_hot([seq]), ((0, 0), (0, 0), (margin, margin))))
    # the whole network the dense path runs (the default zoo's int8 copy; its single_output() is the forward-strand
    # variant of the float network)
    with torch.no_grad():
        full = torch.sigmoid(models[0].inference_model(x)[:, models[0].output])[0, margin:-margin].numpy()
    full *= one_hot([seq])[0].sum(0) > 0
    np.testing.assert_allclose(f1[0], full, atol=1e-4)
    assert (f1[:, 2500:3200] == 0).all()
    # window mode (how the models were trained) agrees on where the strongest signal is
    fw, rw = scan_tracks([ScanModel(m.name, m.model, m.threshold, output=m.output) for m in models], seq,
                        mode="window")
    a, b = np.maximum(f1, r1), np.maximum(fw, rw)
    assert all(np.corrcoef(a[i], b[i])[0, 1] > 0.5 for i in range(2))
    with pytest.raises(ValueError):
        scan_tracks(models, seq, mode="sideways")


def test_scan_workers_match_serial():
    """Models shared between forked single-thread workers give the same sites and tracks as one process."""
    import torch


    rng = np.random.default_rng(2)
    seqs = {f"s{i}": "".join(rng.choice(list("ACGT"), 3000 + 500 * i)) for i in range(3)}
    models = load_zoo(["KLF4", "E2F1", "FOXK1"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, ta = scan(models, seqs, keep_tracks=True, workers=1)
    finally:
        torch.set_num_threads(threads)
    b, tb = scan(models, seqs, keep_tracks=True, workers=2)
    assert [(r.chrom, r.start, r.end, r.name, r.strand) for r in a] == [(r.chrom, r.start, r.end, r.name, r.strand)
                                                                         for r in b]
    assert all(np.allclose(ta[k], tb[k], atol=1e-6) and ta[k].shape == (3, len(seqs[k])) for k in seqs)


def test_cached_window_points_rescans_when_the_gate_changes(tmp_path, monkeypatch):
    """The calibration / sites cache of window points is keyed by the network's hyper-parameters too: a gated zoo's
    gate lives in its config, not in its weights, so the same weights with another gate must scan anew."""
    from types import SimpleNamespace

    import tfscope.zoo.sites as zs
    from tfscope.zoo.gated import GatedZoo

    scans = []

    def fake_points(models, windows, workers=2):
        scans.append(1)
        return [(np.array([0]), np.array([5]), np.array([0.9], np.float32)) for _ in models]

    monkeypatch.setattr(zs, "window_points", fake_points)
    zoo = GatedZoo({"n_outputs": 1, "channels": 4, "n_blocks": 1}, {"channels": 4, "n_blocks": 1}, pool=5)
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"same weights")
    models = [SimpleNamespace(model=zoo)]
    windows = type("W", (), {"chrom": "chr7", "__len__": lambda self: 3})()
    cache = tmp_path / "points.npz"
    for _ in range(2):
        pts, _ = zs.cached_window_points(models, windows, cache, weights=weights)
    assert len(scans) == 1 and pts[0][1].tolist() == [5]  # the second call loaded the cache
    zoo.set_gate(pool=5, shape_power=2.0, detector_weight=0.5)
    zs.cached_window_points(models, windows, cache, weights=weights)
    assert len(scans) == 2  # another gate: scanned anew


def test_genome_sized_input_with_the_default_zoo_points_to_the_fast_zoo(tmp_path):
    """Only when the zoo was not chosen and the FASTA (by its .fai, or its size) is genome-sized."""
    import argparse
    import gzip
    import warnings

    from tfscope.errors import TfscopeWarning
    from tfscope.scan.cli import FAST_HINT_BP, _fast_hint, fasta_bp_estimate

    fa = tmp_path / "g.fa"
    fa.write_text(">chr1\nACGT\n")
    assert fasta_bp_estimate(fa) == fa.stat().st_size and fasta_bp_estimate(tmp_path / "none.fa") is None
    Path(f"{fa}.fai").write_text(f"chr1\t{FAST_HINT_BP - 10}\t6\t60\t61\nchr2\t20\t9\t60\t61\n")
    assert fasta_bp_estimate(fa) == FAST_HINT_BP + 10
    gz = tmp_path / "g.fa.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(">chr1\n" + "ACGT" * 1000 + "\n")
    assert fasta_bp_estimate(gz) == 3 * gz.stat().st_size

    def said(**kw) -> list[str]:
        args = argparse.Namespace(**{"zoo": None, "checkpoint": None, "protein": None, "example": False, **kw})
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            _fast_hint(args, fa)
        return [str(x.message) for x in w if issubclass(x.category, TfscopeWarning)]

    [msg] = said()
    assert "about 100 Mbp with the default (genomic) zoo; --zoo fast scans it about 4x faster" in msg
    assert said(zoo="genomic") == said(zoo="fast") == said(checkpoint=["x"]) == []
    Path(f"{fa}.fai").write_text("chr1\t1000\t6\t60\t61\n")
    assert said() == []
