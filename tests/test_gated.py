"""The gated genomic zoo (tfscope.zoo.gated): detector x localizer math, checkpoints, scanning, N handling."""

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tfscope.checkpoint import load_checkpoint, save_checkpoint
from tfscope.errors import CheckpointError
from tfscope.models.dilated import DilatedResNet
from tfscope.zoo.build import _part_tracks, _window_scores, assemble
from tfscope.zoo.gated import GatedZoo, gate_probabilities
from tfscope.scan.engine import ScanModel, scan, window_max_scores
from tfscope.scan.models import load_scan_models

TFS = ["TFA", "TFB"]
DET = {"channels": 4, "n_blocks": 2, "n_outputs": 2}
LOC = {"channels": 4, "n_blocks": 2}


def _parts(tmp_path):
    """A tiny multi-TF detector checkpoint and a folder of per-TF localizer checkpoints."""
    torch.manual_seed(0)
    det = save_checkpoint(tmp_path / "det", DilatedResNet(**DET).eval(), model_name="dilated", task="snr",
                          hparams=DET, meta={"tfs": TFS, "per_tf": {t: {"threshold": 0.5} for t in TFS}})
    for tf in TFS:
        save_checkpoint(tmp_path / "loc" / tf, DilatedResNet(**LOC).eval(), model_name="dilated", task="snr",
                        hparams=LOC, meta={"tf": tf})
    return det, tmp_path / "loc"


def _one_hot(seq: str) -> torch.Tensor:
    idx = torch.tensor(["ACGT".index(c) for c in seq])
    return F.one_hot(idx, 4).T.float()[None]


def test_gate_formula_and_limits():
    g = torch.tensor([[0.1, 0.9, 0.2, 0.05, 0.3]])
    s = torch.tensor([[0.2, 0.4, 0.8, 0.1, 0.2]])
    q = gate_probabilities(g, s, pool=1, shape_power=2.0, detector_weight=0.8)
    big_g = torch.tensor([[0.9, 0.9, 0.9, 0.3, 0.3]])
    big_s = torch.tensor([[0.4, 0.8, 0.8, 0.8, 0.2]])
    assert torch.allclose(q, big_g ** 0.8 * big_s ** 0.2 * (s / big_s) ** 2)
    # detector_weight 1 and shape_power 0: the detector's max-pooled track alone
    assert torch.allclose(gate_probabilities(g, s, pool=1, shape_power=0.0, detector_weight=1.0), big_g)
    # the local maximum of the localizer gets the region level; q never exceeds max(G, S)
    assert torch.all(q <= torch.maximum(big_g, big_s) + 1e-7)
    with pytest.raises(ValueError):
        gate_probabilities(g, s[:, :3], pool=1, shape_power=1.0, detector_weight=1.0)
    with pytest.raises(ValueError):
        gate_probabilities(g, s, pool=1, shape_power=1.0, detector_weight=1.5)


def test_assemble_forward_checkpoint_round_trip(tmp_path):
    det, loc = _parts(tmp_path)
    model, cfg = assemble(det, loc, pool=3, shape_power=2.0, detector_weight=0.9)
    assert cfg["meta"]["tfs"] == TFS and model.n_outputs == 2
    x = _one_hot("".join(random.Random(0).choice("ACGT") for _ in range(80)))
    d_net, _ = load_checkpoint(det, task="snr")
    xr = x.flip(-1).flip(-2)  # reverse complement
    with torch.no_grad():
        # detector strands averaged, localizer strands max-combined, then the gate
        g = (torch.sigmoid(d_net(x)) + torch.sigmoid(d_net(xr)).flip(-1)) / 2
        locs = [load_checkpoint(loc / tf, task="snr")[0] for tf in TFS]
        s = torch.stack([torch.maximum(torch.sigmoid(m(x)), torch.sigmoid(m(xr)).flip(-1)) for m in locs], 1)
        q = torch.sigmoid(model(x))
        # strand-symmetric: the reverse complement's output is the forward output reversed
        assert torch.allclose(torch.sigmoid(model(xr)).flip(-1), q, atol=1e-5)
    assert torch.allclose(q, gate_probabilities(g, s, pool=3, shape_power=2.0, detector_weight=0.9), atol=1e-5)
    assert model.receptive_field == d_net.receptive_field + 6
    out = save_checkpoint(tmp_path / "gated", model, model_name="gated", task="snr", hparams=model.hparams(),
                          meta={"tfs": TFS, "strands": "mean"})
    back, cfg2 = load_checkpoint(out, task="snr")
    assert isinstance(back, GatedZoo) and cfg2["class"] == "tfscope.zoo.gated:GatedZoo"
    with torch.no_grad():
        assert torch.equal(back(x), model(x))
    # a per-TF checkpoint is not a detector
    with pytest.raises(CheckpointError, match="multi-TF"):
        assemble(loc / "TFA", loc)


def test_scan_equals_parts_and_n_runs_carry_no_evidence(tmp_path):
    det, loc = _parts(tmp_path)
    model, _ = assemble(det, loc, pool=5, shape_power=2.0, detector_weight=0.8)
    rng = random.Random(1)
    wins = ["".join(rng.choice("ACGT") for _ in range(100)) for _ in range(12)]
    ms = [ScanModel(tf, model, threshold=0.01, output=i, strands="mean") for i, tf in enumerate(TFS)]
    # the scanner's chunked composite equals the gate applied to the two networks' own strand tracks
    ref = window_max_scores(ms, wins)
    mine = _window_scores(_part_tracks(model, wins), pool=5, shape_power=2.0, detector_weight=0.8)
    assert np.abs(ref - mine).max() < 1e-5
    # N positions score 0 and do not lift their neighbours: a sequence with an N run scores like its pieces
    left, right = wins[0] * 3, wins[1] * 3
    sites, tr = scan(ms, {"gap": left + "N" * 200 + right, "l": left, "r": right}, keep_tracks=True)
    assert sites and all(r.strand == "." for r in sites)  # strand-symmetric model: calls carry no strand
    assert np.all(tr["gap"][:, len(left):len(left) + 200] == 0)
    assert np.allclose(tr["gap"][:, :len(left)], tr["l"], atol=1e-5)
    assert np.allclose(tr["gap"][:, -len(right):], tr["r"], atol=1e-5)
    # a saved gated checkpoint loads as one ScanModel per TF with the stored rule
    out = save_checkpoint(tmp_path / "g", model, model_name="gated", task="snr", hparams=model.hparams(),
                          meta={"tfs": TFS, "strands": "mean", "per_tf": {t: {"threshold": 0.3} for t in TFS}})
    loaded = load_scan_models([out])
    assert [m.name for m in loaded] == TFS and all(m.strands == "mean" and m.threshold == 0.3 for m in loaded)


def test_one_tf_is_the_forward_strand_gate_and_the_shipped_zoo_keeps_its_paper_metrics(tmp_path):
    det, loc = _parts(tmp_path)
    model, _ = assemble(det, loc, pool=4, shape_power=4.0, detector_weight=0.8)
    x = _one_hot("".join(random.Random(2).choice("ACGT") for _ in range(120)))
    with torch.no_grad():
        g = torch.sigmoid(model.detector(x))[:, 1]
        s = torch.sigmoid(model.localizers[1](x))
        one = torch.sigmoid(ScanModel("TFB", model, output=1).single_output()(x))
    assert one.shape == (1, 120)
    assert torch.allclose(one, gate_probabilities(g, s, pool=4, shape_power=4.0, detector_weight=0.8), atol=1e-5)
    # the shipped zoo: the paper protocol of `tfscope snr evaluate` reproduces the stored test metric
    import json

    from tfscope.resources import resource
    from tfscope.snr.train import evaluate_snr

    zoo = resource("zoo", "genomic")
    stored = json.loads((zoo / "config.json").read_text())["meta"]["per_tf"]["KLF4"]["test_metrics"]["nt_auprc"]
    got = evaluate_snr(zoo, resource("snr_tables", "KLF4.tsv.gz"), device="cpu")["nt_auprc"]
    assert got == pytest.approx(stored, abs=1e-3)  # stored: unclipped gate; here: logits clipped at EPS


def test_calls_only_scan_skips_localizers_but_keeps_every_call(tmp_path):
    """The calls-only copy (GatedCalls) runs each localizer only where the detector lets q reach the threshold:
    on real DNA its calls equal the full model's, its track equals the full one wherever that reaches the floor and
    stays below it elsewhere, and a TF with floor inf costs no localizer work. Streaming without tracks uses it."""
    from tfscope.io.fasta import read_fasta
    from tfscope.resources import resource
    from tfscope.zoo.gated import EPS
    from tfscope.scan.engine import call_sites, combine_strands, scan_tracks
    from tfscope.scan.stream import scan_fasta
    from tfscope.zoo.registry import load_zoo

    models = load_zoo(["KLF4", "SP1", "NFYA", "CTCFL"], kind="genomic")
    seq = "".join(read_fasta(resource("example_regions")).values())
    f_full, r_full = scan_tracks(models, seq)
    f_fast, r_fast = scan_tracks(models, seq, calls_only=True)
    n_calls = 0
    for i, m in enumerate(models):
        full, fast = (combine_strands(f, r, m.strands) for f, r in ((f_full[i], r_full[i]), (f_fast[i], r_fast[i])))
        on = full >= m.threshold
        np.testing.assert_allclose(fast[on], full[on], atol=1e-6)
        assert np.all(fast[~on] < m.threshold)
        a = call_sites("x", m, f_full[i], r_full[i])
        b = call_sites("x", m, f_fast[i], r_fast[i])
        assert [(r.start, r.end, r.extra) for r in a] == [(r.start, r.end, r.extra) for r in b]
        n_calls += len(a)
    assert n_calls > 0
    assert (f_fast < f_full - 1e-6).any()  # work was skipped somewhere
    # only the scanned TFs have floors; the others never reach the localizers
    net = models[0].model.calls_network([m.threshold if i == models[0].output else float("inf")
                                         for i in range(models[0].model.n_outputs)])
    x = _one_hot(seq[:3000])
    with torch.no_grad():
        q = torch.sigmoid(net(x))
    others = [i for i in range(net.n_outputs) if i != models[0].output]
    assert torch.all(q[0, others] <= EPS * 1.01)
    with pytest.raises(ValueError, match="one floor per TF"):
        models[0].model.calls_network([0.5])
    # streaming without tracks (calls only) writes the same BED as with a bedGraph (full tracks)
    fa = tmp_path / "r.fa"
    fa.write_text(f">r\n{seq}\n")
    scan_fasta(models, fa, tmp_path / "fast.bed")
    scan_fasta(models, fa, tmp_path / "full.bed", bedgraph=tmp_path / "bg")
    assert (tmp_path / "fast.bed").read_text() == (tmp_path / "full.bed").read_text()
    assert (tmp_path / "fast.bed").read_text().count("\n") == n_calls


@pytest.mark.parametrize("runtime", ["fp32", "channels-last"])
def test_calls_copy_lays_stretches_end_to_end_and_equals_the_full_model(runtime):
    """GatedCalls joins the stretches of all rows of a batch with no spacer between them (N only where an input end
    cuts a stretch's context): its q equals the full model's wherever it reaches the floor, for stretches that touch
    both ends of the input, lie close together or span a whole row. Compared outside the outermost margin (half the
    receptive field), which chunk-mode scans never read: there the full model's hidden layers see zero padding and the
    copy's see the activations of N."""
    torch.manual_seed(0)
    zoo = GatedZoo(DET, LOC, pool=6, shape_power=2.0, detector_weight=0.7).eval()
    zoo.runtime = runtime
    rng = random.Random(4)
    x = torch.cat([_one_hot("".join(rng.choice("ACGT") for _ in range(400))) for _ in range(3)])
    x[1, :, 150:170] = 0  # an N run inside a row
    margin = zoo.receptive_field // 2 + 1
    with torch.no_grad():
        full = torch.sigmoid(zoo(x))
        # a floor of 0 (below EPS: every position is a hit), then everything needed (whole rows), about half, a few
        # stretches
        quantiles = [[float(torch.quantile(full[:, t], qu)) for t in range(2)] for qu in (0.0, 0.5, 0.9)]
        for floor in [[0.0, 0.0]] + quantiles:
            rows, tfs, pos, q = zoo.calls_network(floor).hits(x)
            inner = (pos >= margin) & (pos < x.shape[-1] - margin)
            rows, tfs, pos, q = rows[inner], tfs[inner], pos[inner], q[inner]
            want = full[rows, tfs, pos].numpy()
            np.testing.assert_allclose(q, want, atol=2e-6, rtol=0)
            above = (full[..., margin:-margin] >= torch.tensor(floor)[None, :, None]).nonzero().numpy()
            above[:, 2] += margin
            got = {(int(r), int(t), int(p)) for r, t, p in zip(rows, tfs, pos)}
            # every position at or above the floor is returned (float ties at the floor aside)
            missing = [tuple(a) for a in above.tolist() if (a[0], a[1], a[2]) not in got]
            assert all(abs(float(full[r, t, p]) - floor[t]) < 1e-6 for r, t, p in missing)


def test_window_any_is_the_max_pool_of_a_mask():
    from tfscope.zoo.gated import window_any

    torch.manual_seed(0)
    for radius in (0, 1, 5, 50):
        for length in (1, 7, 120):
            hit = torch.rand(2, 3, length) > 0.95
            want = F.max_pool1d(hit.float(), 2 * radius + 1, stride=1, padding=radius) > 0
            assert torch.equal(window_any(hit, radius), want)
            brute = torch.stack([hit[..., max(0, i - radius):i + radius + 1].any(-1) for i in range(length)], -1)
            assert torch.equal(window_any(hit, radius), brute)


def test_sliding_max_is_the_max_pool_of_probabilities():
    from tfscope.zoo.gated import sliding_max

    torch.manual_seed(0)
    for radius in (0, 1, 2, 5, 25, 50):
        for length in (1, 7, 120, 1000):
            x = torch.rand(2, 3, length) * (torch.rand(2, 3, length) > 0.3)  # exact zeros as at N
            want = F.max_pool1d(x, 2 * radius + 1, stride=1, padding=radius)
            assert torch.equal(sliding_max(x, radius), want), (radius, length)
