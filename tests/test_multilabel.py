"""Multi-label TF binding: data contract, metrics, models, training, cooperative statistics, IG, CLI."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from tfscope.errors import InputError

MOTIFS = {"TFA": "TGACTCA", "TFB": "CACGTG", "TFC": "GATAAGA"}
LABELS = list(MOTIFS)


def _make_table(path, n=900, L=50, seed=0):
    """Planted-motif windows: TFA and TFB co-occur (p=0.8 given TFA), TFC independent; ~1/3 valid, ~1/6 test."""
    rng = np.random.default_rng(seed)
    lines = ["id\tchrom\tstart\tend\tsplit\ttfs\tsequence"]
    for i in range(n):
        seq = list(rng.choice(list("ACGT"), L))
        tfs = []
        a = rng.random() < 0.3
        b = (rng.random() < 0.8) if a else (rng.random() < 0.1)
        c = rng.random() < 0.3
        slots = iter(rng.permutation([2, 18, 34]))
        for tf, on in zip(LABELS, (a, b, c)):
            if on:
                s = int(next(slots))
                seq[s:s + len(MOTIFS[tf])] = MOTIFS[tf]
                tfs.append(tf)
        split = "test" if i % 6 == 0 else "valid" if i % 6 == 1 else "train"
        lines.append(f"w{i}\tchr1\t{i * L}\t{(i + 1) * L}\t{split}\t{','.join(tfs)}\t{''.join(seq)}")
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    (path.parent / "label_set.txt").write_text("\n".join(LABELS) + "\n")
    return path


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return _make_table(tmp_path_factory.mktemp("ml") / "windows.tsv.gz")


@pytest.fixture(scope="module")
def trained(table, tmp_path_factory):
    from tfscope.multilabel import load_windows, train_multilabel

    torch.set_num_threads(1)
    data = load_windows(table)
    out = tmp_path_factory.mktemp("ck") / "tcn"
    r = train_multilabel(data, model="tcn", hparams={"channels": 16, "n_blocks": 4}, epochs=12, batch_size=32,
                         lr=3e-3, patience=4, out=out, verbose=False)
    return data, r, out


def test_load_windows(table):
    from tfscope.multilabel import load_windows

    d = load_windows(table)
    assert d.x.shape == (900, 4, 50) and d.y.shape == (900, 3) and d.labels == LABELS
    assert set(d.split) == {"train", "valid", "test"}
    assert np.allclose(d.x.sum(1), 1.0)
    # labels follow the table: a window listing TFA has the motif
    from tfscope.sequence import decode

    s = decode(d.x[d.y[:, 0] == 1][:5])
    assert all(MOTIFS["TFA"] in q for q in s)
    assert len(load_windows(table, splits=["test"])) == 150
    assert len(load_windows(table, max_rows=10)) == 10


@pytest.mark.parametrize("bad,msg,line", [
    ("w1\tchr1\t0\t10\ttrain\tTFZ\tACGTACGTAC", "TFZ", 2),
    ("w1\tchr1\t0\t10\ttrain\tTFA\tACGTAC", "differs", 3),
    ("w1\tchr1\t0\t10\ttrain\tTFA\tACGTACGTAX", "invalid DNA letter", 2),
    ("w1\tchr1\t0\t10\tholdout\tTFA\tACGTACGTAC", "unknown split", 2),
    ("w1\tchr1\t0\t10\ttrain\tACGTACGTAC", "fields", 2),
])
def test_bad_rows_name_file_and_line(tmp_path, bad, msg, line):
    from tfscope.multilabel import load_windows

    p = tmp_path / "w.tsv"
    good = "w0\tchr1\t0\t10\ttrain\tTFA\tACGTACGTAC"
    rows = [bad] if line == 2 else [good, bad]
    p.write_text("id\tchrom\tstart\tend\tsplit\ttfs\tsequence\n" + "\n".join(rows) + "\n")
    with pytest.raises(InputError, match=msg) as e:
        load_windows(p, labels=LABELS)
    assert e.value.path == str(p) and e.value.line == line


def test_bad_files(tmp_path):
    from tfscope.multilabel import load_windows, read_label_set

    p = tmp_path / "w.tsv"
    p.write_text("id\tchrom\tsequence\nw\tchr1\tACGT\n")
    with pytest.raises(InputError, match="header lacks") as e:
        load_windows(p, labels=LABELS)
    assert e.value.line == 1
    with pytest.raises(InputError, match="no label set"):
        load_windows(p)
    lab = tmp_path / "labels.txt"
    lab.write_text("TFA\nTFB\nTFA\n")
    with pytest.raises(InputError, match="duplicate") as e:
        read_label_set(lab)
    assert e.value.line == 3
    with pytest.raises(InputError, match="not found"):
        load_windows(tmp_path / "missing.tsv.gz", labels=LABELS)


def test_multilabel_metrics_match_sklearn():
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    from tfscope.metrics import multilabel_metrics

    rng = np.random.default_rng(1)
    y = (rng.random((200, 4)) < 0.2).astype(int)
    s = np.clip(y * 0.4 + rng.random((200, 4)) * 0.7, 0, 1)
    m = multilabel_metrics(y, s, thresholds=[0.5, 0.6, 0.5, 0.7], labels=list("abcd"))
    assert m["per_label"][1]["ap"] == pytest.approx(average_precision_score(y[:, 1], s[:, 1]))
    assert m["per_label"][1]["f1"] == pytest.approx(f1_score(y[:, 1], s[:, 1] >= 0.6))
    assert m["macro"]["auroc"] == pytest.approx(roc_auc_score(y, s, average="macro"))
    assert m["micro"]["ap"] == pytest.approx(average_precision_score(y, s, average="micro"))
    assert multilabel_metrics(y, y.astype(float))["macro"]["ap"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        multilabel_metrics(y, s[:, :3])


@pytest.mark.parametrize("name", ["tcn", "bilstm", "danq", "cnn"])
def test_models_shape_and_registry(name):
    from tfscope.models import MODELS, build_model

    assert name in MODELS
    m = build_model(name, n_labels=7)
    assert m(torch.zeros(3, 4, 100)).shape == (3, 7)


def test_tcn_causal_padding_sees_no_future():
    from tfscope.models.tcn import TCN

    torch.manual_seed(0)
    m = TCN(n_labels=2, channels=8, n_blocks=3, causal=True).eval()
    x = torch.rand(1, 4, 30)
    x2 = x.clone()
    x2[..., 20:] = torch.rand(1, 4, 10)
    h, h2 = m.blocks(x), m.blocks(x2)
    assert torch.allclose(h[..., :20], h2[..., :20]) and not torch.allclose(h[..., 20:], h2[..., 20:])
    nc = TCN(n_labels=2, channels=8, n_blocks=3, causal=False).eval()
    assert not torch.allclose(nc.blocks(x)[..., :20], nc.blocks(x2)[..., :20])  # non-causal: context both sides


def test_positive_weights_and_thresholds():
    from tfscope.multilabel import positive_weights, tune_thresholds

    y = np.zeros((100, 2), np.float32)
    y[:10, 0] = 1
    y[:50, 1] = 1
    assert positive_weights(y).tolist() == pytest.approx([3.0, 1.0])
    p = np.tile(np.linspace(0, 1, 100)[::-1, None], (1, 2))
    thr = tune_thresholds(y, p)
    assert thr.shape == (2,) and p[9, 0] >= thr[0] > p[10, 0]


def test_training_learns_planted_motifs_and_checkpoint_roundtrip(trained):
    from tfscope.multilabel import evaluate_multilabel, load_multilabel

    data, r, out = trained
    assert r["test"]["macro"]["auroc"] > 0.9 and r["test"]["macro"]["ap"] > 0.8
    assert r["windows_seen"] > 0 and r["thresholds"].shape == (3,)
    net, labels, thr = load_multilabel(out)
    assert labels == LABELS and np.allclose(thr, r["thresholds"])
    m, p = evaluate_multilabel(net, data, thr, split="test")
    assert np.allclose(p, r["test_probs"], atol=1e-6)
    assert m["macro"]["ap"] == pytest.approx(r["test"]["macro"]["ap"])


def test_cooccurrence_finds_planted_pair(table):
    from scipy.stats import fisher_exact

    from tfscope.multilabel import annotate_pair, cooccurrence, load_windows, log2_or_matrix, top_pairs

    d = load_windows(table)
    rows = {(r["a"], r["b"]): r for r in cooccurrence(d.y, d.labels)}
    ab, ac = rows[("TFA", "TFB")], rows[("TFA", "TFC")]
    assert ab["significant"] and ab["log2_or"] > 3 and ab["n11"] > 2 * ab["expected"]
    assert not ac["significant"]
    a, b = d.y[:, 0] > 0, d.y[:, 1] > 0
    tab = [[int((a & b).sum()), int((a & ~b).sum())], [int((~a & b).sum()), int((~a & ~b).sum())]]
    assert ab["p"] == pytest.approx(fisher_exact(tab).pvalue)
    assert [(r["a"], r["b"]) for r in top_pairs(list(rows.values()), 3)] == [("TFA", "TFB")]
    m = log2_or_matrix(list(rows.values()), d.labels)
    assert m.shape == (3, 3) and m[0, 1] == m[1, 0] == ab["log2_or"]
    assert annotate_pair("NFYA", "NFYC") == "NF-Y" and annotate_pair("HNF4A", "HNF4G") == "family:HNF4"
    assert annotate_pair("AR", "CTCFL") == ""


def test_ig_highlights_planted_motif(trained):
    from tfscope.multilabel import ig_hypothetical

    data, r, _ = trained
    te = data.part("test")
    i = np.flatnonzero((te.y[:, 0] == 1) & (te.y.sum(1) == 1))[:10]
    hyp, contrib = ig_hypothetical(r["net"], te.x[i], 0, n_steps=8)
    assert hyp.shape == contrib.shape == (len(i), 4, 50)
    assert np.allclose(hyp.sum(1), 0, atol=1e-5)            # mean-centred over bases
    from tfscope.sequence import decode

    pos = contrib.sum(1)
    hits = 0
    for k, s in enumerate(decode(te.x[i])):
        start = s.find(MOTIFS["TFA"])
        inside = pos[k, start:start + 7].mean()
        outside = np.delete(pos[k], range(start, start + 7)).mean()
        hits += inside > outside
    assert hits >= 0.8 * len(i)


def test_match_pattern_own_jaspar_motif():
    from tfscope.io.jaspar import jaspar_motif, motif_pfm
    from tfscope.multilabel.explain import consensus, match_pattern, trim_pattern

    pfm = motif_pfm(jaspar_motif("CTCF", release="JASPAR2022"))
    ppm = pfm / pfm.sum(0)
    res = match_pattern(ppm, "CTCF", ["CTCF", "CTCFL"])
    assert res["verdict"] == "own" and res["own_q"] < 0.05 and res["own_rank"] <= 3
    res = match_pattern(ppm, "CTCFL", ["CTCF", "CTCFL", "ZZZ"])
    assert res["verdict"] in ("own", "partner")
    cwm = np.zeros((4, 10))
    cwm[:, 3:7] = 1.0
    assert trim_pattern(np.full((4, 10), 0.25), cwm).shape == (4, 4)
    assert consensus(np.eye(4)) == "ACGT"


def test_cli_train_evaluate_and_errors(table, tmp_path, capsys):
    import json

    from tfscope.cli import main

    out = tmp_path / "ck"
    assert main(["multilabel", "train", "--windows", str(table), "--model", "cnn", "--out", str(out), "--epochs", "1",
                 "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["test"]["macro"]["auroc"] > 0.5
    js = tmp_path / "m.json"
    assert main(["multilabel", "evaluate", "--windows", str(table), "--checkpoint", str(out), "--json", str(js)]) == 0
    full = json.loads(js.read_text())
    assert full["n"] == 150 and len(full["per_label"]) == 3
    capsys.readouterr()
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\tchrom\tstart\tend\tsplit\ttfs\tsequence\nw\tchr1\t0\t4\ttrain\tNOPE\tACGT\n")
    assert main(["multilabel", "evaluate", "--windows", str(bad), "--checkpoint", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tfscope: error: ") and f"{bad}:2:" in err and "NOPE" in err
    assert main(["multilabel", "evaluate", "--windows", str(table), "--checkpoint", str(tmp_path)]) == 2
    assert "not a tfscope checkpoint" in capsys.readouterr().err
