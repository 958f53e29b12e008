"""Mixture-of-experts task: DeepBind reader, shuffled negatives, expert/MoE models, two-stage training,
MC dropout, ANOVA/Tukey, CLI."""

import gzip
from collections import Counter

import numpy as np
import pytest
import torch

from tfscope.errors import InputError
from tfscope.moe import (DeepBindExpert, MixtureOfExperts, anova_tukey, fit_length, load_training_set,
                         mc_dropout_metrics, mc_dropout_predict, tf_name, train_expert, train_moe)
from tfscope.io.deepbind import read_deepbind
from tfscope.sequence import one_hot

MOTIF = "AGATAAGG"  # GATA-like core


def _rand(rng, n, L=101):
    return ["".join(rng.choice(list("ACGT"), L)) for _ in range(n)]


def _plant(rng, seqs, motif=MOTIF):
    out = []
    for s in seqs:
        p = rng.integers(0, len(s) - len(motif))
        out.append(s[:p] + motif + s[p + len(motif):])
    return out


def write_deepbind(path, seqs, bound, fold="A"):
    with gzip.open(path, "wt") as fh:
        fh.write("FoldID\tEventID\tseq\tBound\n")
        for i, (s, b) in enumerate(zip(seqs, bound)):
            fh.write(f"{fold}\tseq_{i:05d}_peak\t{s}\t{b}\n")
    return path


def dinucs(s):
    return Counter(s[i:i + 2] for i in range(len(s) - 1))


def test_read_deepbind_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    seqs = _rand(rng, 5)
    p = write_deepbind(tmp_path / "TFX_cell_B.seq.gz", seqs, [1, 0, 1, 1, 0])
    t = read_deepbind(p, length=101)
    assert list(t["seq"]) == seqs
    assert t["bound"].tolist() == [1, 0, 1, 1, 0]
    assert t["event"][0] == "seq_00000_peak"
    assert tf_name(p) == "TFX"


@pytest.mark.parametrize("body,line,msg", [
    ("A\tx\tACGT\t2\n", 2, "Bound must be 0 or 1"),
    ("A\tx\tACGT\t1\nA\tx\tACGZ\t1\n", 3, "invalid DNA letter"),
    ("A\tx\tACGT\n", 2, "4 tab-separated columns"),
    ("A\tx\tACGT\t1\nA\ty\tACGTA\t1\n", 3, "length 5"),
])
def test_read_deepbind_bad_rows_name_file_and_line(tmp_path, body, line, msg):
    p = tmp_path / "bad.seq"
    p.write_text("FoldID\tEventID\tseq\tBound\n" + body)
    with pytest.raises(InputError) as e:
        read_deepbind(p, length=4 if "length" in msg else None)
    assert msg in str(e.value) and f"bad.seq:{line}:" in str(e.value)


def test_read_deepbind_bad_header_and_empty(tmp_path):
    p = tmp_path / "h.seq"
    p.write_text("id\tseq\tlabel\n")
    with pytest.raises(InputError, match=r"h.seq:1: header"):
        read_deepbind(p)
    p.write_text("FoldID\tEventID\tseq\tBound\n")
    with pytest.raises(InputError, match="no data lines"):
        read_deepbind(p)
    with pytest.raises(InputError, match="not found"):
        read_deepbind(tmp_path / "missing.seq.gz")


def test_training_set_shuffled_negatives_seeded(tmp_path):
    rng = np.random.default_rng(1)
    pos = _rand(rng, 20)
    p = write_deepbind(tmp_path / "T_AC.seq.gz", pos, [1] * 20)
    s1, y1 = load_training_set(p, seed=3)
    s2, y2 = load_training_set(p, seed=3)
    s3, _ = load_training_set(p, seed=4)
    assert s1 == s2 and (y1 == y2).all() and s1 != s3
    assert y1.sum() == 20 and len(y1) == 40
    for a, b in zip(s1[:20], s1[20:]):  # each negative keeps its positive's dinucleotide counts
        assert dinucs(a) == dinucs(b) and a != b


def test_fit_length():
    assert fit_length(["ACGT"], 6) == ["NACGTN"]
    assert fit_length(["ACGTA"], 6) == ["ACGTAN"]
    assert fit_length(["AACCGGT"], 5) == ["ACCGG"]


def test_expert_shapes_and_rc_invariance():
    torch.manual_seed(0)
    x = torch.tensor(one_hot(_rand(np.random.default_rng(2), 6, 40)))
    m = DeepBindExpert(filters=8, width=5, hidden=4, rc=True).eval()
    assert m(x).shape == (6,) and m.embed(x).shape == (6, 4)
    torch.testing.assert_close(m(x), m(torch.flip(x, dims=(1, 2))))


def _planted_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    pos = _plant(rng, _rand(rng, n))
    neg = _rand(rng, n)
    return pos + neg, np.r_[np.ones(n), np.zeros(n)].astype(np.int8)


def test_expert_learns_planted_motif_and_moe_keeps_experts_frozen():
    torch.set_num_threads(1)
    s, y = _planted_data()
    hp = {"filters": 8, "width": 9, "hidden": 8, "dropout": 0.1}
    m, hist = train_expert(s, y, hparams=hp, epochs=6, lr=1e-2, seed=0)
    ts, ty = _planted_data(100, seed=5)
    xt = one_hot(ts, length=101)
    met = mc_dropout_metrics(m, xt, ty, trials=5)
    assert met["auroc"].mean() > 0.9, met
    before = {k: v.clone() for k, v in m.state_dict().items()}
    moe, h = train_moe([m, m], [hp, hp], s, y, names=["A", "B"], epochs=3, seed=0)
    for e in moe.experts:
        for k, v in e.state_dict().items():
            torch.testing.assert_close(v, before[k])
    w = moe.gate_weights(torch.tensor(xt))
    assert w.shape == (200, 2)
    torch.testing.assert_close(w.sum(1), torch.ones(200))
    p = mc_dropout_predict(moe, xt, trials=4, seed=1)
    assert p.shape == (4, 200) and p.std(0).max() > 0  # dropout is sampled
    np.testing.assert_allclose(p, mc_dropout_predict(moe, xt, trials=4, seed=1))  # seeded
    from sklearn.metrics import roc_auc_score
    assert roc_auc_score(ty, p.mean(0)) > 0.9


def test_moe_checkpoint_roundtrip(tmp_path):
    from tfscope.checkpoint import load_checkpoint, save_checkpoint

    hp = [{"filters": 4, "width": 5, "hidden": 3}, {"filters": 4, "width": 7, "hidden": 5, "rc": True}]
    moe = MixtureOfExperts(hp, expert_names=["A", "B"]).eval()
    save_checkpoint(tmp_path / "m", moe, model_name="moe", task="moe",
                    hparams={"expert_hparams": hp, "expert_names": ["A", "B"]})
    m2, cfg = load_checkpoint(tmp_path / "m", task="moe")
    x = torch.tensor(one_hot(_rand(np.random.default_rng(0), 3, 30)))
    torch.testing.assert_close(moe(x), m2(x))
    assert m2.expert_names == ["A", "B"]


def test_anova_tukey():
    rng = np.random.default_rng(0)
    a = anova_tukey({"a": 0.70 + 0.003 * rng.standard_normal(30), "b": 0.71 + 0.003 * rng.standard_normal(30),
                     "c": 0.70 + 0.003 * rng.standard_normal(30)})
    assert a["F"] > 50 and a["p"] < 1e-6
    pairs = {(t["a"], t["b"]): t["reject"] for t in a["tukey"]}
    assert pairs[("a", "b")] and pairs[("b", "c")] and not pairs[("a", "c")]


def test_cli_train_evaluate_explain(tmp_path, capsys):
    from tfscope.cli import main

    rng = np.random.default_rng(0)
    tr = write_deepbind(tmp_path / "GATAX_cell_AC.seq.gz", _plant(rng, _rand(rng, 150)), [1] * 150)
    tr2 = write_deepbind(tmp_path / "OTHER_cell_AC.seq.gz", _plant(rng, _rand(rng, 150), "TTGCGCAA"), [1] * 150)
    te = write_deepbind(tmp_path / "GATAX_cell_B.seq.gz", _plant(rng, _rand(rng, 40)) + _rand(rng, 40),
                        [1] * 40 + [0] * 40)
    out = tmp_path / "run"
    assert main(["moe", "train", "--train", str(tr), str(tr2), "--out", str(out), "--epochs", "2",
                 "--moe-epochs", "2", "--filters", "8", "--width", "9", "--hidden", "8", "--quiet"]) == 0
    assert (out / "moe" / "config.json").exists() and (out / "expert-GATAX" / "model.safetensors").exists()
    capsys.readouterr()
    assert main(["moe", "evaluate", "--checkpoint", str(out / "moe"), "--data", str(te), "--trials", "3",
                 "--json", str(tmp_path / "m.json")]) == 0
    import json
    res = json.loads((tmp_path / "m.json").read_text())
    assert 0.0 <= res["GATAX"]["auroc"]["mean"] <= 1.0 and res["GATAX"]["n"] == 80
    assert main(["explain", "--checkpoint", str(out / "expert-GATAX"), "--deepbind", str(te), "--method",
                 "shiftsmooth", "--out", str(tmp_path / "a.tsv")]) == 0
    lines = (tmp_path / "a.tsv").read_text().splitlines()
    assert lines[0] == "id\tposition\tbase\tattribution" and len(lines) == 1 + 80 * 101
    assert [ln.split("\t")[1] for ln in lines[1:3]] == ["0", "1"]  # 0-based positions, as BED
    # the same sequences from a FASTA (positional input) give the same attributions
    fa = tmp_path / "te.fa"
    rows = [r.split("\t") for r in gzip.open(te, "rt").read().splitlines()[1:]]
    fa.write_text("".join(f">{r[1]}\n{r[2]}\n" for r in rows))
    assert main(["explain", str(fa), "--checkpoint", str(out / "expert-GATAX"), "--method", "shiftsmooth",
                 "--out", str(tmp_path / "b.tsv")]) == 0
    assert (tmp_path / "b.tsv").read_text() == (tmp_path / "a.tsv").read_text()
    bad = tmp_path / "bad.seq"
    bad.write_text("FoldID\tEventID\tseq\tBound\nA\tx\tACGT\tyes\n")
    capsys.readouterr()
    assert main(["moe", "evaluate", "--checkpoint", str(out / "moe"), "--data", str(bad)]) == 2
    assert "bad.seq:2: Bound must be 0 or 1" in capsys.readouterr().err
