"""Multi-label training to convergence in phases: --init continues a checkpoint (meta.phases, cumulative epochs),
mismatches are refused, early stopping on the validation macro AP keeps the best weights, the converged flag."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tfscope.errors import CheckpointError

MOTIFS = {"TFA": "TGACTCA", "TFB": "CACGTG"}


def _data(n=360, L=40, seed=0):
    """Tiny synthetic MultiLabelData: planted motifs, 1/3 valid, 1/6 test."""
    from tfscope.multilabel import MultiLabelData
    from tfscope.sequence import one_hot

    rng = np.random.default_rng(seed)
    seqs, ys = [], []
    for i in range(n):
        s = list(rng.choice(list("ACGT"), L))
        y = []
        for k, (tf, m) in enumerate(MOTIFS.items()):
            on = rng.random() < 0.35
            if on:
                p = 3 + 18 * k
                s[p:p + len(m)] = m
            y.append(float(on))
        seqs.append("".join(s))
        ys.append(y)
    split = np.array(["test" if i % 6 == 0 else "valid" if i % 6 in (1, 2) else "train" for i in range(n)])
    x = one_hot(seqs).astype(np.float32)
    return MultiLabelData(np.array([f"w{i}" for i in range(n)]), np.array(["chr1"] * n), split, x,
                          np.array(ys, dtype=np.float32), list(MOTIFS))


HP = {"channels": 16}


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return _data()


def test_init_continues_and_records_phases(data, tmp_path):
    from tfscope.checkpoint import read_config
    from tfscope.multilabel import train_multilabel

    out = tmp_path / "cnn"
    r1 = train_multilabel(data, model="cnn", hparams=HP, epochs=2, batch_size=32, patience=5, out=out,
                          verbose=False)
    assert r1["phase"]["phase"] == 1 and len(r1["phase"]["valid_macro_ap"]) == 2
    r2 = train_multilabel(data, epochs=2, batch_size=32, patience=5, out=out, init=out, schedule="cosine",
                          verbose=False)  # model and hparams come from the checkpoint
    assert r2["model"] == "cnn" and r2["hparams"] == r1["hparams"]
    meta = read_config(out)["meta"]
    assert [p["phase"] for p in meta["phases"]] == [1, 2]
    assert meta["epochs"] == 4 == r2["epochs_total"]
    assert meta["windows_seen"] == 4 * int((data.split == "train").sum())
    p2 = meta["phases"][1]
    assert p2["seed"] == 1 and p2["schedule"] == "cosine" and p2["lr_end"] < p2["lr"]
    assert p2["start_valid_macro_ap"] == pytest.approx(max(meta["phases"][0]["valid_macro_ap"]), abs=1e-4)
    for k in ("seed", "lr", "epochs", "windows_seen", "seconds", "seconds_per_epoch", "valid_macro_ap", "best_epoch",
              "stop_reason", "converged"):
        assert k in p2, k
    assert meta["converged"] == p2["converged"] and meta["continued_from"]["phases"] == 1
    assert p2["best_valid_macro_ap"] >= meta["phases"][0]["best_valid_macro_ap"] - 1e-9  # never worse than init


def test_init_mismatch_is_refused(data, tmp_path):
    from tfscope.multilabel import train_multilabel

    out = tmp_path / "cnn"
    train_multilabel(data, model="cnn", hparams=HP, epochs=1, batch_size=64, out=out, verbose=False)
    with pytest.raises(CheckpointError, match="architecture 'cnn' vs 'tcn'"):
        train_multilabel(data, model="tcn", epochs=1, out=tmp_path / "x", init=out, verbose=False)
    with pytest.raises(CheckpointError, match="hyper-parameters channels=16 vs 32"):
        train_multilabel(data, model="cnn", hparams={"channels": 32}, epochs=1, init=out, verbose=False)
    other = data.subset(np.arange(len(data)))
    other.labels = ["TFA", "TFX"]
    with pytest.raises(CheckpointError, match="label set"):
        train_multilabel(other, epochs=1, init=out, verbose=False)
    with pytest.raises(CheckpointError, match="pos_weight_power"):
        train_multilabel(data, epochs=1, init=out, pos_weight_power=1.0, verbose=False)
    assert not (tmp_path / "x").exists()


def test_fit_early_stopping_on_score_restores_best_weights():
    """A score that peaks at epoch 2 stops the run after `patience` epochs and restores epoch 2's weights."""
    from tfscope.train import fit

    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    x, y = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32), np.zeros((64, 1), np.float32)
    scores, snaps = iter([0.1, 0.3, 0.5, 0.4, 0.45, 0.2, 0.9]), []

    def score(m):
        snaps.append(m.weight.detach().clone())
        return next(scores)

    res = fit(net, (x, y), (x, y), loss_fn=lambda o, t: ((o - t) ** 2).mean(), epochs=7, lr=0.1, patience=3,
              verbose=False, score_fn=score)
    assert res.valid_score == [0.1, 0.3, 0.5, 0.4, 0.45, 0.2] and res.best_epoch == 2
    assert res.stop_reason == "patience" and res.stopped_early
    assert torch.equal(net.weight.detach(), snaps[2])
    # a baseline no epoch beats: the initial weights come back
    w0 = net.weight.detach().clone()
    scores = iter([0.1, 0.2])
    res = fit(net, (x, y), (x, y), loss_fn=lambda o, t: ((o - t) ** 2).mean(), epochs=2, lr=0.1, patience=5,
              verbose=False, score_fn=lambda m: next(scores), score_baseline=0.5)
    assert res.best_epoch == -1 and res.stop_reason == "epochs" and torch.equal(net.weight.detach(), w0)


def test_fit_plateau_scheduler_halves_lr_on_flat_score():
    from tfscope.multilabel.train import _scheduler
    from tfscope.train import fit

    net = torch.nn.Linear(3, 1)
    x, y = np.zeros((8, 3), np.float32), np.zeros((8, 1), np.float32)
    scores = iter([0.5, 0.5, 0.5, 0.5])
    res = fit(net, (x, y), None, loss_fn=lambda o, t: ((o - t) ** 2).mean(), epochs=4, lr=0.1, patience=10,
              verbose=False, score_fn=lambda m: next(scores),
              scheduler=_scheduler("plateau", epochs=4, patience=3, lr=0.1))
    assert res.lr == [0.1, 0.1, 0.05, 0.025] and res.final_lr == pytest.approx(0.0125)


@pytest.mark.parametrize("curve, reason, partial, prior, expected", [
    ([0.3, 0.4, 0.41], "patience", False, None, True),      # patience ran out
    ([0.3, 0.4, 0.403], "time", False, None, True),         # last full epoch +0.003 < 0.005
    ([0.3, 0.4, 0.42], "time", False, None, False),         # still improving when the budget ended
    ([0.3, 0.4, 0.42, 0.43], "time", True, None, False),    # partial last epoch ignored: last full +0.02
    ([0.3, 0.4, 0.402, 0.5], "time", True, None, True),     # partial last epoch ignored: last full +0.002
    ([0.4], "epochs", False, None, False),                  # one epoch: cannot tell
    ([0.402], "time", False, 0.4, True),                    # compared with the phase it continued
    ([0.45], "epochs", False, 0.4, False),
    ([0.38, 0.39], "time", False, None, False),             # +0.01
    ([0.4, 0.39], "time", False, None, True),               # no improvement
])
def test_converged_flag(curve, reason, partial, prior, expected):
    from tfscope.multilabel import phase_converged

    assert phase_converged(curve, reason, partial_epoch=partial, prior_best=prior) is expected


def test_cli_init_and_converged_in_json(data, tmp_path, capsys):
    from tfscope.cli import main

    table = _write_table(data, tmp_path)
    out = tmp_path / "ck"
    base = ["multilabel", "train", "--windows", str(table), "--out", str(out), "--epochs", "1", "--quiet",
            "--device", "cpu", "--json", "-"]
    assert main([*base, "--model", "cnn"]) == 0
    s1 = json.loads(capsys.readouterr().out)
    assert s1["phase"] == 1 and s1["converged"] is False and len(s1["valid_macro_ap_curve"]) == 1
    assert main([*base, "--init", str(out), "--schedule", "plateau"]) == 0
    s2 = json.loads(capsys.readouterr().out)
    assert s2["phase"] == 2 and s2["model"] == "cnn" and s2["total"] == {
        "phases": 2, "epochs": 2, "windows_seen": 2 * s1["windows_seen"]} and isinstance(s2["converged"], bool)
    assert main([*base, "--init", str(out), "--model", "tcn"]) == 2
    assert "architecture 'cnn' vs 'tcn'" in capsys.readouterr().err


def _write_table(data, tmp_path):
    import gzip

    table = tmp_path / "w.tsv.gz"
    lines = ["id\tchrom\tstart\tend\tsplit\ttfs\tsequence"]
    for i in range(len(data)):
        seq = "".join("ACGT"[j] for j in data.x[i].argmax(0))
        tfs = ",".join(t for t, v in zip(data.labels, data.y[i]) if v)
        lines.append(f"w{i}\tchr1\t{i * 40}\t{(i + 1) * 40}\t{data.split[i]}\t{tfs}\t{seq}")
    with gzip.open(table, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    (tmp_path / "label_set.txt").write_text("\n".join(data.labels) + "\n")
    return table


def test_converge_runner_appends_phases_and_keeps_rows(data, tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import multilabel_converge as mc

    res = tmp_path / "results"
    res.mkdir()
    old = [{"model": "tcn", "dataset": "macro", "metric": "ap", "value": 0.5}]
    (res / "multilabel.json").write_text(json.dumps({"suite": "multilabel", "machine": "m", "date": "d",
                                                     "rows": old, "settings": {"max_seconds": 330}}))
    args = ["--data", str(_write_table(data, tmp_path)), "--models", "cnn", "--minutes", "0.05", "--epochs", "1",
            "--results-dir", str(res), "--checkpoints", str(tmp_path / "ck"), "--device", "cpu"]
    for _ in range(2):
        assert mc.main(args) == 0
    doc = json.loads((res / "multilabel.json").read_text())
    assert old[0] in doc["rows"]
    val = {(r["model"], r["dataset"], r["metric"]): r["value"] for r in doc["rows"]}
    assert val[("cnn-converge", "all", "phases")] == 2 and val[("cnn-converge", "all", "epochs")] == 2
    assert val[("cnn-converge", "all", "converged")] in (0, 1) and ("cnn-converge", "macro", "ap") in val
    assert [p["phase"] for p in doc["converge"]["phases"]["cnn"]] == [1, 2]
    assert (res / "figures" / mc.CONVERGE_FIG).stat().st_size > 0
    assert "Training to convergence" in (res / "multilabel.md").read_text()
    assert not [p for p in res.rglob("*") if p.name.endswith(".tmp")]


def test_converge_post_sign_tests_cobinding_and_modisco(data, tmp_path):
    """--post: per-TF chr8 rows of every checkpoint, sign tests of the TCN, co-binding and MoDISco of the best
    converged model, rendered into multilabel.md; a second --post keeps the analyses (resumable)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import multilabel_converge as mc

    res = tmp_path / "results"
    res.mkdir()
    (res / "multilabel.json").write_text(json.dumps({"suite": "multilabel", "machine": "m", "date": "d", "rows": [],
                                                     "settings": {}, "labels": list(MOTIFS)}))
    ck = tmp_path / "ck"
    args = ["--data", str(_write_table(data, tmp_path)), "--minutes", "0.05", "--epochs", "1", "--results-dir",
            str(res), "--checkpoints", str(ck), "--device", "cpu"]
    assert mc.main([*args, "--models", "tcn", "bilstm"]) == 0
    cfg = json.loads((ck / "tcn" / "config.json").read_text())
    cfg["meta"]["converged"] = True  # as if its last phase had run out of patience
    (ck / "tcn" / "config.json").write_text(json.dumps(cfg))
    post = [*args, "--models", "tcn", "--post", "--explain-per-tf", "20", "--explain-budget", "60"]
    assert mc.main(post) == 0
    doc = json.loads((res / "multilabel.json").read_text())
    val = {(r["model"], r["dataset"], r["metric"]): r["value"] for r in doc["rows"]}
    for m in ("tcn", "bilstm"):
        assert all((f"{m}-converge", t, "ap") in val for t in MOTIFS)
        assert (ck / m / "test_probs.npy").exists()
    st = doc["converge"]["sign_tests"]
    assert [s["versus"] for s in st] == ["bilstm-converge"] and st[0]["n"] == 2
    assert st[0]["wins"] + st[0]["losses"] <= 2 and 0 <= st[0]["p_value"] <= 1
    conv = doc["converge"]
    assert conv["best_model"] == "tcn" and set(conv["cooperative"]) == {"tcn"} and set(conv["modisco"]) == {"tcn"}
    assert [r["tf"] for r in conv["modisco"]["tcn"]["rows"]] == list(MOTIFS)
    assert all("recovered" in r for r in conv["cooperative"]["tcn"]["known"])
    md = (res / "multilabel.md").read_text()
    assert "Sign tests over the TFs" in md and "### Per TF (chr8 test AP" in md and "tcn-converge" in md
    note = conv["modisco"]["tcn"]["note"]
    assert mc.main(post) == 0  # resumable: the analyses are kept
    assert json.loads((res / "multilabel.json").read_text())["converge"]["modisco"]["tcn"]["note"] == note
    assert conv["best_model_converged"] is True
    # --post-unconverged with no model to train (--models alone): the best of all trained models, converged or not
    cfg["meta"]["converged"] = False
    (ck / "tcn" / "config.json").write_text(json.dumps(cfg))
    assert mc.main([*args, "--models", "--post", "--post-unconverged", "--explain-per-tf", "20",
                    "--explain-budget", "60"]) == 0
    conv = json.loads((res / "multilabel.json").read_text())["converge"]
    assert conv["best_model"] in ("tcn", "bilstm") and conv["best_model_converged"] is False
    assert len(json.loads((ck / "tcn" / "config.json").read_text())["meta"]["phases"]) == 1  # nothing trained


def test_sign_test():
    from tfscope.metrics import sign_test

    s = sign_test([0.9, 0.8, 0.7, 0.5, float("nan")], [0.5, 0.5, 0.7, 0.6, 0.1])
    assert (s["n"], s["wins"], s["losses"]) == (4, 2, 1) and s["p_value"] == pytest.approx(1.0)
    assert sign_test([1.0] * 10, [0.0] * 10)["p_value"] == pytest.approx(2 * 0.5 ** 10)
    with pytest.raises(ValueError):
        sign_test([1.0], [1.0, 2.0])
