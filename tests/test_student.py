"""The distilled detector (tfscope.zoo.student) and the fast zoo built on it (issue 44)."""

import random

import numpy as np
import pytest
import torch

from tfscope.checkpoint import save_checkpoint
from tfscope.scan.engine import combine_strands, scan_tracks
from tfscope.scan.models import load_scan_models
from tfscope.scan.stream import scan_fasta
from tfscope.sequence import one_hot, reverse_complement_one_hot
from tfscope.zoo.gated import GatedZoo
from tfscope.zoo.student import StridedDetector, teacher_pooled, with_reverse_complements

TFS = ["TFA", "TFB"]
STUDENT = {"n_outputs": 2, "channels": 8, "stride": 8, "n_blocks": 2}
LOC = {"channels": 4, "n_blocks": 2}
LOC_STUDENT = {"student": {"channels": 4, "hidden": 3}}


def _seq(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(n))


def test_student_shapes_symmetry_and_fused_copy():
    torch.manual_seed(0)
    m = StridedDetector(**STUDENT).eval()
    x = torch.from_numpy(one_hot([_seq(160), _seq(160, 1)]))
    with torch.no_grad():
        assert m(x).shape == (2, 2, 20)
        assert m(x[:, :, :155]).shape == (2, 2, 20)  # padded with N to the bin grid
        g = m.pooled(x)
        assert g.shape == (2, 2, 160)
        assert torch.equal(g[..., :8], g[..., :1].expand(-1, -1, 8))  # one value per bin
        torch.testing.assert_close(m.pooled(reverse_complement_one_hot(x)).flip(-1), g)  # strands averaged
        torch.testing.assert_close(m.fused().pooled(x), g, atol=1e-5, rtol=1e-5)


def test_a_widened_motif_layer_computes_the_same_function():
    """widened_stem pads each filter with zero taps: a detector built with the wider layer gives the same logits,
    and its receptive field grows by the added taps; shrinking or an odd widening is refused."""
    from tfscope.zoo.student import widened_stem

    torch.manual_seed(0)
    narrow = StridedDetector(**STUDENT).eval()
    for m in narrow.modules():  # batch-norm statistics that are not the identity
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2)
    wide = StridedDetector(**STUDENT, stem_kernel=17).eval()
    wide.load_state_dict(widened_stem(narrow.state_dict(), 17))
    x = torch.from_numpy(one_hot([_seq(160), _seq(155, 1) + "N" * 5]))
    with torch.no_grad():
        assert torch.equal(wide(x), narrow(x))
    assert wide.receptive_field == narrow.receptive_field + 8
    for bad in (7, 16):
        with pytest.raises(ValueError, match="cannot grow"):
            widened_stem(narrow.state_dict(), bad)


def test_teacher_targets_are_bin_maxima_of_the_pooled_track():
    from tfscope.models.dilated import DilatedResNet

    torch.manual_seed(0)
    det = DilatedResNet(channels=4, n_blocks=2, n_outputs=2).eval()
    x = torch.from_numpy(one_hot([_seq(64) + "N" * 32]))
    with torch.no_grad():
        y = teacher_pooled(det, x, pool=5, stride=8)
        p = torch.sigmoid(det(x)), torch.sigmoid(det(reverse_complement_one_hot(x))).flip(-1)
    g = (p[0] + p[1]) / 2 * (x.sum(1, keepdim=True) > 0)
    big = torch.nn.functional.max_pool1d(g, 11, stride=1, padding=5)
    assert y.shape == (1, 2, 12)
    torch.testing.assert_close(y[0, :, 3], big[0, :, 24:32].max(-1).values)
    assert float(y[0, :, -1].max()) == 0.0  # bins further than the pool from any base
    with pytest.raises(ValueError, match="multiple of the stride"):
        teacher_pooled(det, x[..., :90], pool=5, stride=8)
    xx, yy = with_reverse_complements(x.numpy(), y.numpy())
    np.testing.assert_array_equal(xx[1], reverse_complement_one_hot(x.numpy())[0])
    np.testing.assert_array_equal(yy[1], y.numpy()[0, :, ::-1])


def _fast_zoo(tmp_path, threshold: float = 0.3, localizer=LOC):
    torch.manual_seed(0)
    zoo = GatedZoo(STUDENT, localizer, pool=10, shape_power=2.0, detector_weight=0.7).eval()
    assert (zoo.receptive_field // 2 + 1) % 8 == 0  # chunk margins on the bin grid
    save_checkpoint(tmp_path / "fast", zoo, model_name="gated", task="snr", hparams=zoo.hparams(),
                    meta={"tfs": TFS, "per_tf": {t: {"threshold": threshold} for t in TFS}})
    return load_scan_models([tmp_path / "fast"], device="cpu")


@pytest.mark.parametrize("localizer", [LOC, LOC_STUDENT], ids=["cnn-localizers", "student-localizers"])
def test_fast_zoo_calls_copy_is_exact_above_the_floor_and_scans_agree(tmp_path, localizer):
    """A gated zoo with a strided detector (and CNN or distilled localizers): its calls-only copy equals the full model
    wherever that reaches the threshold (chunk mode), the streamed scan of many short records packed together equals
    the in-memory scan of each record alone, and the scan of the reverse complement gives the mirrored tracks."""
    models = _fast_zoo(tmp_path, localizer=localizer)
    seq = _seq(13_000, 3)
    f_full, r_full = scan_tracks(models, seq, chunk=4000)
    for i, m in enumerate(models):  # thresholds that random weights reach on part of the sequence
        m.threshold = float(np.quantile(combine_strands(f_full[i], r_full[i], m.strands), 0.8))
    f_fast, r_fast = scan_tracks(models, seq, chunk=4000, calls_only=True)
    for i, m in enumerate(models):
        full = combine_strands(f_full[i], r_full[i], m.strands)
        fast = combine_strands(f_fast[i], r_fast[i], m.strands)
        on = full >= m.threshold
        assert on.any() and (~on).any()
        np.testing.assert_allclose(fast[on], full[on], atol=1e-5)
        assert np.all(fast[~on] < m.threshold)
    rc = seq[::-1].translate(str.maketrans("ACGT", "TGCA"))
    f_rc, _ = scan_tracks(models, rc[-12_000:], chunk=4000)  # a length on the bin grid: the bins mirror
    f_fw, _ = scan_tracks(models, seq[:12_000], chunk=4000)
    np.testing.assert_allclose(f_rc[:, ::-1], f_fw, atol=1e-5)
    # packed short records (streamed) = each record scanned alone (in memory), whatever their lengths
    recs = {f"r{i}": _seq(90 + 13 * i, 10 + i) for i in range(12)}
    fa = tmp_path / "short.fa"
    fa.write_text("".join(f">{k}\n{v}\n" for k, v in recs.items()))
    scan_fasta(models, fa, tmp_path / "short.bed", bedgraph=tmp_path / "bg")
    got = {}
    for line in (tmp_path / "bg" / "TFA.bedGraph").read_text().splitlines():
        c = line.split("\t")
        if len(c) == 4:
            got.setdefault(c[0], np.zeros(len(recs[c[0]])))[int(c[1]):int(c[2])] = float(c[3])
    for k, v in recs.items():
        f, r = scan_tracks(models[:1], v)
        want = np.round(combine_strands(f[0], r[0], models[0].strands), 3)
        np.testing.assert_allclose(got.get(k, np.zeros(len(v))), want, atol=1.1e-3)


def test_fast_zoo_is_built_from_the_zoo_and_its_students(tmp_path):
    """build.fast_zoo packs a gated zoo's gate and records with a distilled detector and localizers into one standard
    checkpoint that loads and scans; a student for other TFs or a missing localizer is refused."""
    from tfscope.checkpoint import load_checkpoint
    from tfscope.errors import CheckpointError
    from tfscope.zoo.build import fast_zoo
    from tfscope.zoo.student import LocalizerStudent

    torch.manual_seed(0)
    teacher = GatedZoo({"channels": 4, "n_blocks": 2, "n_outputs": 2}, LOC, pool=10, detector_weight=0.7).eval()
    save_checkpoint(tmp_path / "zoo", teacher, model_name="gated", task="snr", hparams=teacher.hparams(),
                    meta={"tfs": TFS, "train_rows": 5,
                          "per_tf": {t: {"threshold": 0.4, "test_metrics": {"nt_auprc": 0.9}} for t in TFS}})
    det = StridedDetector(**STUDENT)
    torch.save({"state_dict": det.state_dict(), "record": {"hparams": STUDENT}}, tmp_path / "student.pt")
    locs = {t: LocalizerStudent(**LOC_STUDENT["student"]).state_dict() for t in TFS}
    torch.save({"state_dicts": locs, "records": {t: {} for t in TFS}, "hparams": LOC_STUDENT["student"]},
               tmp_path / "loc.pt")
    rec = fast_zoo(tmp_path / "zoo", tmp_path / "student.pt", tmp_path / "fast", localizers=tmp_path / "loc.pt")
    assert rec["hparams"] == STUDENT
    model, cfg = load_checkpoint(tmp_path / "fast")
    assert model.pooled and cfg["meta"]["per_tf"]["TFA"]["threshold"] == 0.4
    # the teacher's training record and measurements are not the fast zoo's
    assert cfg["meta"]["teacher"] == {"train_rows": 5} and "train_rows" not in cfg["meta"]
    assert "test_metrics" not in cfg["meta"]["per_tf"]["TFA"]
    torch.testing.assert_close(model.detector.head.weight, det.head.weight)
    torch.testing.assert_close(model.localizers[1].net[0].weight, locs["TFB"]["net.0.weight"])
    models = load_scan_models([tmp_path / "fast"], device="cpu")
    f, r = scan_tracks(models, _seq(3000))
    assert f.shape == (2, 3000) and np.isfinite(f).all()
    torch.save({"state_dict": det.state_dict(), "record": {"hparams": {**STUDENT, "n_outputs": 3}}},
               tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="3 outputs"):
        fast_zoo(tmp_path / "zoo", tmp_path / "bad.pt", tmp_path / "x")
    torch.save({"state_dicts": {"TFA": locs["TFA"]}, "records": {}, "hparams": LOC_STUDENT["student"]},
               tmp_path / "half.pt")
    with pytest.raises(CheckpointError, match="no localizer for TFB"):
        fast_zoo(tmp_path / "zoo", tmp_path / "student.pt", tmp_path / "y", localizers=tmp_path / "half.pt")


def test_detector_runtimes(tmp_path):
    """The calls-only copy runs its detector in float32 or under bfloat16 autocast (close values); an unknown runtime
    is refused. (``compile`` is measured in benchmarks/throughput.py: its inductor build takes minutes.)"""
    models = _fast_zoo(tmp_path)
    zoo = models[0].model
    x = torch.from_numpy(one_hot([_seq(2048, 5)]))
    with torch.no_grad():
        ref = torch.sigmoid(zoo.calls_network([0.0, 0.0])(x))
        zoo.runtime = "bf16"
        low = torch.sigmoid(zoo.calls_network([0.0, 0.0])(x))
        zoo.runtime = "int4"
        with pytest.raises(ValueError, match="unknown runtime"):
            zoo.calls_network([0.0, 0.0])
    torch.testing.assert_close(low, ref, atol=0.03, rtol=0)


def test_needed_spans_merge_runs_closer_than_the_gap():
    from tfscope.zoo.gated import needed_spans

    need = np.zeros((3, 40), bool)
    need[0, 2:5] = need[0, 8:10] = True  # 4 apart (last of the first run to the first of the next): merged
    need[0, 20:22] = True  # 11 apart: its own span
    need[2, 39] = True
    rows, a, b = needed_spans(need, 4)
    assert list(zip(rows.tolist(), a.tolist(), b.tolist())) == [(0, 2, 10), (0, 20, 22), (2, 39, 40)]
    assert [len(v) for v in needed_spans(np.zeros((2, 5), bool), 4)] == [0, 0, 0]
    both = np.stack([need, need[::-1]])  # (T, N, L): stretches never merge across tracks or rows
    got = list(zip(*(v.tolist() for v in needed_spans(both, 4))))
    assert got == [(0, 0, 2, 10), (0, 0, 20, 22), (0, 2, 39, 40), (1, 0, 39, 40), (1, 2, 2, 10), (1, 2, 20, 22)]


def test_stem_pool_equals_the_motif_layer_relu_and_pool_bit_for_bit():
    """The fused detector's motif layer (one matrix product over the unfolded one-hot input, pooled before its bias
    and ReLU) gives exactly conv -> ReLU -> max-pool, N included; convolutions it cannot stand for are refused."""
    from tfscope.zoo.student import StemPool

    torch.manual_seed(0)
    conv = torch.nn.Conv1d(4, 16, 9, padding=4)
    x = torch.from_numpy(one_hot([_seq(96, 7), "N" * 20 + _seq(60, 8) + "N" * 16]))
    with torch.no_grad():
        want = torch.nn.functional.max_pool1d(torch.relu(conv(x)), 8)
        got = StemPool(conv, 8)(x)
        assert got.shape == want.shape == (2, 16, 12)
        assert torch.equal(got, want)
        m = StridedDetector(**STUDENT).eval()
        fused = m.fused()
        assert fused.stem_pools and isinstance(fused.stem, StemPool)
        torch.testing.assert_close(fused(x), m(x), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="same"):
        StemPool(torch.nn.Conv1d(4, 16, 9, padding=8, dilation=2), 8)


@pytest.mark.parametrize("runtime", ["channels-last", "int8"])
def test_dense_copy_raises_the_bins_to_the_detector_weight(runtime):
    """The dense inference copy computes ``G ** a`` on the strided detector's bins and repeats it per nucleotide: the
    same logits as the gate on the repeated ``G``, bit for bit, for inputs on the bin grid (the scans' chunks); other
    lengths take the plain gate."""
    torch.manual_seed(0)
    zoo = GatedZoo(STUDENT, LOC_STUDENT, pool=10, shape_power=2.0, detector_weight=0.7, runtime=runtime).eval()
    copy = zoo.inference_copy()
    assert copy.bin_power and not zoo.bin_power
    x = torch.from_numpy(one_hot([_seq(320), _seq(320, 1)]))
    x[1, :, 100:130] = 0  # an N run
    with torch.no_grad():
        for width in (320, 317):
            got = copy(x[..., :width])
            copy.bin_power = False
            want = copy(x[..., :width])
            copy.bin_power = True
            assert torch.equal(got, want)
