"""k-mer tokens, the BertSNR label rule, the BertSNR model on tiny random configs, backbone loading, pretraining."""

import json

import numpy as np
import pytest
import torch

from tfscope.checkpoint import load_checkpoint
from tfscope.errors import InputError
from tfscope.snr.kmer import (CLS, SEP, UNK, kmer_vocab, nucleotide_to_token_labels, token_to_nucleotide_scores,
                          tokenize)
from tfscope.snr.bertsnr import BertSNR
from tfscope.snr.pretrain import MaskedDNALM, pretrain, span_mask

TINY = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}


@pytest.mark.parametrize("k", [3, 4, 5, 6])
def test_vocab_and_tokens(k):
    v = kmer_vocab(k)
    assert len(v) == 5 + 4 ** k and v[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    seq = "ACGTACGTNA"
    ids = tokenize([seq], k)[0]
    assert ids[0] == CLS and ids[-1] == SEP and len(ids) == len(seq) - k + 3
    for i, t in enumerate(ids[1:-1]):
        kmer = seq[i:i + k]
        assert (t == UNK) if "N" in kmer else (v[t] == kmer)


def test_label_rule_roundtrip():
    y = np.array([[0, 1, 1, 1, 1, 0, 0, 1, 1, 0]], np.float32)
    t = nucleotide_to_token_labels(y, 3)
    assert t.tolist() == [[0, 1, 1, 0, 0, 0, 0, 0]]  # positive only when all 3 nucleotides are
    assert token_to_nucleotide_scores(t, 3).tolist() == [[0, 1, 1, 1, 1, 0, 0, 0, 0, 0]]
    assert np.allclose(nucleotide_to_token_labels(torch.tensor(y), 3).numpy(), t)


def test_span_mask_spans():
    ids = torch.randint(5, 69, (50, 100))
    masked, labels = span_mask(ids, 3, 0.15, 69, torch.Generator().manual_seed(0))
    m = labels != -100
    assert 0.08 < m.float().mean() < 0.2 and not m[:, 0].any() and not m[:, -1].any()
    assert torch.equal(labels[m], ids[m]) and (masked[m] == 4).float().mean() > 0.7


def test_backbone_pretrain_load_and_finetune(tmp_path):
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 100)) for _ in range(64)]
    rec = pretrain(seqs[:56], seqs[56:], tmp_path / "bb", k=3, bert=TINY, epochs=1, batch_size=16, verbose=False)
    assert rec["tokens_seen"] == 56 * 98 and 0 <= rec["heldout_mlm_accuracy"] <= 1
    assert json.loads((tmp_path / "bb" / "pretraining.json").read_text())["k"] == 3
    net = BertSNR.from_backbone(tmp_path / "bb")
    mlm = MaskedDNALM(k=3, bert=TINY)
    assert net.k == 3 and net.config.hidden_size == 16 and mlm is not None
    x = torch.zeros(2, 4, 100)
    x[:, 1] = 1
    out = net.forward_all(x, output_attentions=True)
    assert out["seq"].shape == (2,) and out["token"].shape == (2, 98) and out["attentions"][0].shape == (2, 2, 100, 100)
    assert net(x).shape == (2, 100)
    (tmp_path / "bad").mkdir()
    with pytest.raises(InputError, match="config.json"):
        BertSNR.from_backbone(tmp_path / "bad")


def test_train_snr_bertsnr_variants(tmp_path):
    from tfscope.resources import resource
    from tfscope.snr.train import evaluate_snr, train_snr

    table = resource("snr_tables", "FOXK1.tsv.gz")
    with pytest.raises(InputError, match="backbone"):
        train_snr(table, model="bertsnr", backbone=tmp_path / "none", verbose=False)
    r = train_snr(table, model="bertsnr-scratch", hparams={"bert": TINY}, epochs=1, min_samples=0, lr=2e-3,
                  out=tmp_path / "ck", verbose=False)
    assert set(r["metrics"]) >= {"nt_auprc", "seq_auroc"} and r["metrics"]["nt_auroc"] > 0.5
    net, cfg = load_checkpoint(tmp_path / "ck", task="snr")
    assert isinstance(net, BertSNR) and cfg["meta"]["variant"] == "bertsnr-scratch" and cfg["meta"]["lambda"] == 0.1
    assert abs(evaluate_snr(tmp_path / "ck", table)["nt_auprc"] - r["metrics"]["nt_auprc"]) < 1e-6


def test_attention_maps(tmp_path):
    from tfscope.interpret.attention import attention_maps, mean_attention_per_position, plot_attention
    from tfscope.models import build_model
    from tfscope.sequence import one_hot

    net = BertSNR(k=3, bert={**TINY, "num_hidden_layers": 2})
    x = one_hot(["ACGT" * 25, "TTGA" * 25])
    maps = attention_maps(net, x[0])
    assert maps.shape == (2, 2, 100, 100) and np.allclose(maps.sum(-1), 1, atol=1e-4)
    mean = mean_attention_per_position(net, x)
    assert mean.shape == (98,) and (mean > 0).all()
    plot_attention(maps, tmp_path / "att.png", title="t")
    assert (tmp_path / "att.png").stat().st_size > 1000
    with pytest.raises(InputError, match="BERT"):
        attention_maps(build_model("dilated"), x[0])


def test_shipped_backbone_loads_offline():
    """The pretrained backbone inside the package is the default of --model bertsnr and carries its record."""
    from tfscope.resources import resource

    d = resource("backbone")
    rec = json.loads((d / "pretraining.json").read_text())
    assert rec["k"] == 3 and rec["heldout_mlm_accuracy"] > 4 * rec["chance_accuracy"]
    assert rec["data"]["unique_windows"] > 100_000 and rec["wall_seconds"] > 0
    assert rec["heldout_mlm_accuracy"] > 0.5 and rec["shipped_dtype"] == "float16"  # the GPU-pretrained h256 one
    assert (d / "model.safetensors").stat().st_size <= 25 * 2**20
    net = BertSNR.from_backbone(d)
    assert net.k == 3 and net.config.hidden_size == 256 and net.config.num_hidden_layers == 4
    assert all(p.dtype == torch.float32 for p in net.parameters())  # fp16 on disk, fp32 in memory
    from tfscope.snr.train import _build_bertsnr

    _, meta = _build_bertsnr("bertsnr", {}, None)  # the checkpoint names its backbone
    assert meta["backbone"] == "shipped:backbone" and meta["backbone_record"]["parameters"] == rec["parameters"]
    x = torch.zeros(2, 4, 100)
    x[:, 2] = 1
    out = net.forward_all(x)
    assert out["token"].shape == (2, 98) and out["seq"].shape == (2,)


def test_shipped_fp16_backbone_matches_fp32_original():
    """Predictions from the fp16-stored backbone equal those of the fp32 original in ../shared (within 1e-3)."""
    from pathlib import Path

    from tfscope.sequence import one_hot
    from tfscope.resources import resource

    original = Path(__file__).resolve().parents[1] / ".." / "shared" / "models" / "dna-bert-k3-h256"
    if not (original / "model.safetensors").exists():
        pytest.skip("the fp32 original is only in ../shared/models")
    nets = []
    for d in (resource("backbone"), original):
        torch.manual_seed(0)  # same random heads
        nets.append(BertSNR.from_backbone(d).eval())
    rng = np.random.default_rng(0)
    x = torch.from_numpy(one_hot(["".join(rng.choice(list("ACGT"), 100)) for _ in range(32)]))
    with torch.no_grad():
        a, b = (torch.sigmoid(n(x)) for n in nets)
    assert float((a - b).abs().max()) < 1e-3


def test_seq_pool_and_frozen_layers(tmp_path):
    """The sequence head can read the mean token state (recorded in the checkpoint); frozen lower layers keep their
    weights through fine-tuning; both options refuse what does not apply (issue 31 ablation)."""
    from tfscope.resources import resource
    from tfscope.snr.train import _unfrozen, train_snr
    from tfscope.sequence import one_hot

    net = BertSNR(k=3, bert={**TINY, "num_hidden_layers": 2}, seq_pool="mean")
    x = torch.as_tensor(one_hot(["ACGT" * 25, "TTGA" * 25]))
    out = net.forward_all(x)
    assert out["seq"].shape == (2,) and net.hparams()["seq_pool"] == "mean"
    assert "seq_pool" not in BertSNR(k=3, bert=TINY).hparams()  # the paper's [CLS] head: hparams as before
    with pytest.raises(InputError, match="seq_pool"):
        BertSNR(k=3, bert=TINY, seq_pool="max")
    params = _unfrozen(net, 1)
    assert not any(p.requires_grad for p in net.bert.embeddings.parameters())
    assert all(p.requires_grad for p in net.bert.encoder.layer[1].parameters()) and len(params) > 0
    with pytest.raises(InputError, match="freeze_layers"):
        _unfrozen(BertSNR(k=3, bert={**TINY, "num_hidden_layers": 2}), 2)

    from pathlib import Path

    real = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tfbs-snr" / "STAT1STAT2.tsv.gz"
    if not real.exists():
        pytest.skip("needs ../shared/data/tfbs-snr")
    with pytest.raises(InputError, match="freeze_layers"):
        train_snr(real, model="dilated", freeze_layers=1, verbose=False)
    before = BertSNR.from_backbone(resource("backbone")).bert.encoder.layer[0].state_dict()
    res = train_snr(real, model="bertsnr", hparams={"seq_pool": "mean"}, freeze_layers=2, epochs=1,
                    min_samples=1, max_seconds=3, verbose=False, out=tmp_path / "m")
    after = res["net"].bert.encoder.layer[0].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    net2, cfg = load_checkpoint(tmp_path / "m", task="snr")
    assert cfg["meta"]["frozen_layers"] == 2 and cfg["hparams"]["seq_pool"] == "mean"
