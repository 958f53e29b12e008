"""Genomic background: site coordinates from tfbs-snr rows, genome-window labels, the per-TF training split,
genome-calibrated thresholds, window scoring by scanning, and the two bundled zoos."""

import gzip
import json

import numpy as np
import pytest

from tfscope.zoo.genomic import HOLDOUT_CHROMS, GenomicBackground, genomic_labels, site_intervals
from tfscope.errors import InputError
from tfscope.scan.engine import ScanModel, scan, window_max_scores
from tfscope.sequence import reverse_complement
from tfscope.resources import resource
from tfscope.zoo.registry import call_meaning, list_zoo, load_zoo, zoo_tfs

HEADER = "id\tsplit\tbound\tsite_start\tsite_end\tchrom\twindow_start\tstrand\tsequence\n"


def _genome(seed=0, n=3000):
    rng = np.random.default_rng(seed)
    return {c: "".join(rng.choice(list("ACGT"), n)) for c in ("chr1", "chr2", "chr7", "chr8")}


MOTIF = "GATAAGGATAAG"


def _tables(tmp_path, genome, n_sites=6, seed=0):
    """A tfbs-snr table with sites planted in ``genome`` (both strands) and a multi-label windows table."""
    rng = np.random.default_rng(seed)
    g = {c: list(s) for c, s in genome.items()}
    lines, sites = [], []
    k = 0
    for c in g:
        for j in range(n_sites):
            s0 = 200 + j * 400 + int(rng.integers(0, 50))
            g[c][s0:s0 + len(MOTIF)] = list(MOTIF)
            sites.append((c, s0, s0 + len(MOTIF)))
    genome2 = {c: "".join(v) for c, v in g.items()}
    for i, (c, s0, s1) in enumerate(sites):
        off = 30
        ws = s0 - off
        win = genome2[c][ws:ws + 100]
        split = "test" if i % 5 == 0 and c == "chr1" else "train"
        if i % 2:  # '-' strand row: the window is reverse-complemented, the site mirrored
            a, b = 100 - (off + len(MOTIF)), 100 - off
            lines.append(f"T_{k}\t{split}\t1\t{a}\t{b}\t{c}\t{ws}\t-\t{reverse_complement(win)}\n")
        else:
            lines.append(f"T_{k}\t{split}\t1\t{off}\t{off + len(MOTIF)}\t{c}\t{ws}\t+\t{win}\n")
        shuf = "".join(rng.permutation(list(win)))
        lines.append(f"T_{k + 1}\t{split}\t0\t\t\t\t\t\t{shuf}\n")
        k += 2
    table = tmp_path / "TFX.tsv.gz"
    with gzip.open(table, "wt") as fh:
        fh.write(HEADER + "".join(lines))
    wins = tmp_path / "windows.tsv.gz"
    split_of = {"chr1": "train", "chr2": "train", "chr7": "valid", "chr8": "test"}
    with gzip.open(wins, "wt") as fh:
        fh.write("id\tchrom\tstart\tend\tsplit\ttfs\tsequence\n")
        for c, s in genome2.items():
            for ws in range(0, len(s) - 100 + 1, 100):
                inside = any(sc == c and ws <= a and b <= ws + 100 for sc, a, b in sites)
                fh.write(f"{c}:{ws}-{ws + 100}\t{c}\t{ws}\t{ws + 100}\t{split_of[c]}\t{'TFX' if inside else ''}\t"
                         f"{s[ws:ws + 100]}\n")
    (tmp_path / "label_set.txt").write_text("TFX\n")
    return table, wins, genome2, sites


def test_site_intervals_both_strands(tmp_path):
    table, _, genome, sites = _tables(tmp_path, _genome())
    iv = site_intervals(table)
    got = sorted(zip(iv.chrom.tolist(), iv.start.tolist(), iv.end.tolist()))
    assert got == sorted(sites)
    for c, a, b in got:
        assert genome[c][a:b] == MOTIF
    assert set(iv.split.tolist()) == {"train", "test"}
    y = genomic_labels(np.array(["chr1", "chr1"]), np.array([sites[0][1] - 5, sites[0][1] + 4]), 20, iv)
    assert y[0, 5:17].all() and not y[0, :5].any() and y[1, :8].all() and not y[1, 8:].any()  # clipped site
    bad = tmp_path / "noloc.tsv"
    bad.write_text(HEADER + "a\ttrain\t0\t\t\t\t\t\t" + "A" * 100 + "\n")
    with pytest.raises(InputError, match="no bound rows"):
        site_intervals(bad)


def test_background_split_and_training(tmp_path):
    from tfscope.snr.train import train_snr

    table, wins, genome, sites = _tables(tmp_path, _genome())
    bg = GenomicBackground.load(wins, min_negatives=10, max_negatives=40)
    iv = site_intervals(table)
    tr, va = bg.train_valid(iv, seed=0)
    assert not np.isin(tr.chrom, HOLDOUT_CHROMS).any() and set(va.chrom.tolist()) == {"chr7"}
    assert (tr.y_seq > 0).sum() >= 1 and (tr.y_seq == 0).sum() <= 40
    test_sites = [(c, a, b) for (c, a, b), s in zip(zip(iv.chrom, iv.start, iv.end), iv.split) if s == "test"]
    starts = [int(i.split(":")[1].split("-")[0]) for i in tr.ids]
    for c, a, b in test_sites:  # windows holding a paper-protocol test site never train
        assert not any(ch == c and s <= a < s + 100 for ch, s in zip(tr.chrom, starts))
    assert np.all(np.diff([int(i.split(":")[1].split("-")[0]) for i in va.ids]) > 0)  # genomic order
    r = train_snr(table, model="dilated", hparams={"channels": 4, "n_blocks": 2}, epochs=1, min_samples=0,
                  background=bg, verbose=False, out=tmp_path / "ck")
    meta = json.loads((tmp_path / "ck" / "config.json").read_text())["meta"]
    cal = meta["calibration"]
    assert meta["negatives"] == "genomic+shuffled" and cal["threshold"] == r["threshold"]
    assert cal["n_windows"] == len(va) and 0 <= cal["precision"] <= 1 and "chr7" in cal["set"]
    assert "chr7" in call_meaning(meta) and "%" in call_meaning(meta)
    from tfscope.cli import main

    assert main(["snr", "train", "--table", str(table), "--windows", str(wins), "--epochs", "1",
                 "--min-samples", "0", "--out", str(tmp_path / "ck2"), "--quiet"]) == 0
    assert "calibration" in json.loads((tmp_path / "ck2" / "config.json").read_text())["meta"]


def test_window_max_scores_equals_scan_tracks():
    from tfscope.models import build_model

    rng = np.random.default_rng(1)
    wins = ["".join(rng.choice(list("ACGT"), 100)) for _ in range(7)]
    import torch

    torch.manual_seed(0)
    m = ScanModel("M", build_model("dilated", channels=4, n_blocks=2))
    s = window_max_scores([m], wins, record_bp=300)
    assert s.shape == (1, 7)
    recs = {"a": "".join(wins[:3]), "b": "".join(wins[3:6]), "c": wins[6]}
    _, tracks = scan([m], recs, keep_tracks=True)
    ref = np.concatenate([tracks[k].reshape(1, -1, 100).max(-1) for k in recs], axis=1)
    assert np.allclose(s, ref)
    with pytest.raises(ValueError, match="same length"):
        window_max_scores([m], ["ACGT" * 25, "ACG"])


def test_two_zoos_bundled():
    assert zoo_tfs(kind="genomic") == zoo_tfs(kind="shuffled") and len(zoo_tfs()) == 45
    assert resource("zoo", "genomic").name == "genomic"
    g = {r["TF"]: r for r in list_zoo()}
    s = {r["TF"]: r for r in list_zoo(kind="shuffled")}
    for tf, r in g.items():
        assert 0 <= r["call_precision"] <= 1 and "chr7" in r["call_meaning"]
        assert np.isnan(s[tf]["call_precision"]) and "shuffled" in s[tf]["call_meaning"]
    with pytest.raises(InputError, match="unknown zoo"):
        load_zoo(["FOXK1"], kind="nope")


def test_cli_scan_zoo_choice(tmp_path):
    from tfscope.cli import main

    n = {}
    for kind in ("genomic", "shuffled"):
        out = tmp_path / f"{kind}.bed"
        assert main(["scan", "--example", "--zoo", kind, "--tfs", "KLF4", "E2F1", "FOXK1", "--out", str(out),
                     "--quiet", "--workers", "1"]) == 0
        n[kind] = len(out.read_text().splitlines())
    assert n["genomic"] < n["shuffled"]


def test_multitask_zoo_data_training_and_loading(tmp_path):
    """The multi-TF genomic zoo: genome windows labelled for every TF (test sites masked per TF), paper-protocol
    rows (bound: own TF only; shuffled: negative for all), one checkpoint scanned as one ScanModel per TF."""
    import shutil

    import torch

    from tfscope.zoo.multitask import build_data, masked_nucleotide_loss, train_multitask
    from tfscope.scan.models import load_scan_models

    table, wins, genome, sites = _tables(tmp_path, _genome())
    snr = tmp_path / "snr"
    snr.mkdir()
    for tf in ("TFX", "TFY"):  # a second TF (same sites) to exercise the T axis
        shutil.copyfile(table, snr / f"{tf}.tsv.gz")
    train, valid, valid_windows, iv, tfs = build_data(wins, snr, pairs_per_tf=5, verbose=False)
    assert tfs == ["TFX", "TFY"] and train.y.shape[1:] == (2, 100) and len(valid_windows) == len(valid)
    g = train.source == "genome"
    assert g.sum() == 60 and (train.source == "bound").sum() == (train.source == "shuffled").sum() <= 10
    test_sites = [(c, a) for c, a, s in zip(iv["TFX"].chrom, iv["TFX"].start, iv["TFX"].split) if s == "test"]
    masked = np.flatnonzero(g & (train.mask[:, 0] == 0))
    assert len(masked) >= len(test_sites) >= 1 and (train.mask[masked] == 0).all()  # both TFs share the sites
    assert (train.mask[train.source == "shuffled"] == 1).all() and not train.y[train.source == "shuffled"].any()
    bound = np.flatnonzero(train.source == "bound")
    assert (train.mask[bound].sum(1) == 1).all() and all(train.y[i, train.mask[i].argmax()].any() for i in bound)
    assert valid.mask.all() and valid.y[:, 0].max(1).sum() >= sum(c == "chr7" for c, _, _ in sites)
    # masked pairs do not count in the loss
    logits = torch.zeros(2, 2, 100)
    y = torch.ones(2, 2, 100)
    m = torch.tensor([[1, 0], [0, 0]])
    assert torch.isclose(masked_nucleotide_loss(logits, y, m), torch.tensor(np.log(2.0), dtype=torch.float32))
    # the window term (lam) scores the window's maximum logit against "the window holds a site"
    logits = torch.full((1, 1, 100), -3.0)
    logits[0, 0, 7] = 2.0
    y = torch.zeros(1, 1, 100)
    y[0, 0, 50] = 1
    nt = masked_nucleotide_loss(logits, y, torch.ones(1, 1))
    window = torch.nn.functional.softplus(torch.tensor(-2.0))  # BCE(logit 2, label 1)
    assert torch.isclose(masked_nucleotide_loss(logits, y, torch.ones(1, 1), lam=0.25), 0.25 * window + 0.75 * nt)

    r = train_multitask(wins, snr, out=tmp_path / "zoo", channels=4, n_blocks=2, epochs=1, pairs_per_tf=5,
                        verbose=False)
    assert set(r["per_tf"]) == {"TFX", "TFY"} and "nt_auprc" in r["per_tf"]["TFX"]["test_metrics"]
    models = load_scan_models([tmp_path / "zoo"])
    assert [m.name for m in models] == ["TFX", "TFY"] and [m.output for m in models] == [0, 1]
    assert models[0].model is models[1].model and models[0].inference_model is models[1].inference_model
    assert models[1].threshold == r["per_tf"]["TFY"]["threshold"]
    # one pass for all TFs equals each TF's output track scanned on its own
    seqs = {"a": genome["chr8"][:1500], "b": genome["chr2"][:700]}
    _, tracks = scan(models, seqs, keep_tracks=True)
    for m in models:
        own_model = ScanModel(m.name, m.single_output(), m.threshold, strands=m.strands)
        _, own = scan([own_model], seqs, keep_tracks=True)
        for k in seqs:
            np.testing.assert_allclose(tracks[k][m.output], own[k][0], atol=1e-5)
    # the zoo functions read the multi-TF layout
    rows = list_zoo(tmp_path / "zoo")
    assert [r_["TF"] for r_ in rows] == ["TFX", "TFY"] and all("chr7" in r_["call_meaning"] for r_ in rows)
    assert [m.name for m in load_zoo(["tfy"], tmp_path / "zoo")] == ["TFY"]
    with pytest.raises(InputError, match="unknown TF 'NOPE'"):
        load_zoo(["NOPE"], tmp_path / "zoo")
    from tfscope.snr.train import evaluate_snr  # the paper protocol on one TF's track

    got = evaluate_snr(tmp_path / "zoo", snr / "TFY.tsv.gz")
    assert got["nt_auprc"] == pytest.approx(r["per_tf"]["TFY"]["test_metrics"]["nt_auprc"], abs=1e-6)
    from tfscope.errors import CheckpointError  # continuing a run needs the same TFs and architecture

    with pytest.raises(CheckpointError, match="cannot continue"):
        train_multitask(wins, snr, tfs=["TFX"], init=tmp_path / "zoo", channels=4, n_blocks=2, verbose=False)
    # the strand rule is stored and used by the calibration; recalibrating for the other rule rewrites the meta
    from tfscope.zoo.multitask import recalibrate

    assert models[0].strands == "mean"
    cal = recalibrate(tmp_path / "zoo", wins, snr, strands="max")
    again = load_scan_models([tmp_path / "zoo"])
    assert again[0].strands == "max" and again[1].threshold == cal["TFY"]["threshold"]
    got2 = evaluate_snr(tmp_path / "zoo", snr / "TFY.tsv.gz")  # weights and paper protocol untouched
    assert got2["nt_auprc"] == pytest.approx(got["nt_auprc"], abs=1e-9)
