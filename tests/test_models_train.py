import json

import numpy as np
import pytest
import torch

from tfscope.checkpoint import load_checkpoint, save_checkpoint
from tfscope.errors import CheckpointError
from tfscope.metrics import binary_metrics, snr_metrics
from tfscope.models import build_model
from tfscope.sequence import one_hot
from tfscope.snr.train import nucleotide_loss
from tfscope.train import fit, predict


@pytest.mark.parametrize("name", ["dilated", "deepsnr", "daednet", "pwm"])
def test_nucleotide_models_shape(name, device):
    m = build_model(name).to(device)
    for L in (100, 64):
        out = m(torch.rand(3, 4, L, device=device))
        assert out.shape == (3, L) and out.device.type == device


def planted(n=600, L=100, motif="TGACGTCA", seed=0):
    """Random sequences, half with a planted motif at a random offset; nucleotide labels mark it."""
    rng = np.random.default_rng(seed)
    seqs, y = [], np.zeros((n, L), np.float32)
    for i in range(n):
        s = list(rng.choice(list("ACGT"), L))
        if i % 2 == 0:
            o = rng.integers(0, L - len(motif))
            s[o:o + len(motif)] = motif
            y[i, o:o + len(motif)] = 1
        seqs.append("".join(s))
    return one_hot(seqs), y


def test_training_learns_planted_motif(device):
    x, y = planted()
    m = build_model("dilated", channels=16, n_blocks=3)
    res = fit(m, (x[:500], y[:500]), (x[500:], y[500:]), loss_fn=nucleotide_loss, epochs=6, lr=3e-3,
              batch_size=32, verbose=False, device=device)
    assert res.valid_loss[res.best_epoch] < res.valid_loss[0] or res.best_epoch == 0
    p = predict(m, x[500:])
    met = binary_metrics(y[500:], p)
    assert met["auprc"] > 0.8, met


def test_metrics_known_values():
    m = binary_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    assert m["accuracy"] == 0.5 and m["precision"] == 0.5 and m["recall"] == 0.5 and m["auroc"] == 0.75
    s = snr_metrics(np.array([[0, 1]]), np.array([[0.2, 0.7]]), np.array([1, 0]), np.array([0.9, 0.1]))
    assert s["nt_f1"] == 1.0 and s["seq_auroc"] == 1.0
    assert np.isnan(binary_metrics([1, 1], [0.2, 0.3])["auroc"])


def test_checkpoint_roundtrip_and_mismatch(tmp_path):
    m = build_model("deepsnr", motif_length=8)
    save_checkpoint(tmp_path / "c", m, model_name="deepsnr", task="snr", hparams={"motif_length": 8},
                    meta={"tf": "X"})
    m2, cfg = load_checkpoint(tmp_path / "c", task="snr")
    x = torch.rand(2, 4, 100)
    m.eval()
    assert torch.allclose(m(x), m2(x)) and cfg["meta"]["tf"] == "X"
    with pytest.raises(CheckpointError, match="task 'snr', not 'family'"):
        load_checkpoint(tmp_path / "c", task="family")
    cfg_path = tmp_path / "c" / "config.json"
    c = json.loads(cfg_path.read_text())
    c["hparams"] = {"motif_length": 12}
    cfg_path.write_text(json.dumps(c))
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(tmp_path / "c")
    c["model"] = "daednet"
    c["hparams"] = {}
    cfg_path.write_text(json.dumps(c))
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(tmp_path / "c")
    w = tmp_path / "c" / "model.safetensors"
    w.write_bytes(w.read_bytes()[:50])
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "c")
    with pytest.raises(CheckpointError, match="not a tfscope checkpoint"):
        load_checkpoint(tmp_path / "nothing")


def test_fit_time_budget_stops_mid_epoch_and_counts_samples():
    """A spent wall budget stops training after the current batch; samples_seen counts what was trained on."""
    from tfscope.train import fit

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(40, 1))
    x = np.random.default_rng(0).random((1000, 4, 10), dtype=np.float32)
    y = (x[:, 0, 0] > 0.5).astype(np.float32)[:, None]
    res = fit(net, (x, y), None, loss_fn=torch.nn.functional.binary_cross_entropy_with_logits, epochs=5,
              batch_size=100, max_seconds=0, verbose=False)
    assert res.samples_seen == 100 and res.stopped_early and len(res.train_loss) == 1
    res = fit(net, (x, y), None, loss_fn=torch.nn.functional.binary_cross_entropy_with_logits, epochs=2,
              batch_size=100, verbose=False)
    assert res.samples_seen == 2000 and res.as_dict()["samples_seen"] == 2000
