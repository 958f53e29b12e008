"""Protein layer: data contracts and de-duplication, composition features, linear default (safe storage),
two-layer CLI, ESM-2 classifier with LoRA on a tiny random config (no downloads), attention maps, motifs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from tfscope.cli import main as cli_main
from tfscope.errors import CheckpointError, InputError
from tfscope.protein.classic import fit_linear, select_and_fit
from tfscope.protein.models import load_protein_model, save_protein_model
from tfscope.io.fasta import read_protein_records
from tfscope.protein.data import load_layer
from tfscope.protein.features import aac, composition_features, dpc, feature_names, reduced_kmers

AA = "ACDEFGHIKLMNPQRSTVWY"


def _random_protein(rng, n):
    return "".join(rng.choice(list(AA), n))


def _planted(n=60, seed=0):
    """Positives carry a basic, DNA-binding-like 'KRKRWFQNRR' stretch; negatives are plain random."""
    rng = np.random.default_rng(seed)
    seqs, y = [], []
    for i in range(n):
        s = _random_protein(rng, int(rng.integers(60, 120)))
        if i % 2 == 0:
            pos = int(rng.integers(0, len(s) - 10))
            s = s[:pos] + "KRKRWFQNRRKRKR" + s[pos:]
        seqs.append(s)
        y.append(int(i % 2 == 0))
    return seqs, np.array(y)


# ---------------------------------------------------------------- features
def test_composition_features_values():
    assert np.allclose(aac("AAC"), np.eye(20)[0] * 2 / 3 + np.eye(20)[1] / 3)
    d = dpc("AAC")  # pairs AA, AC
    assert d[0] == pytest.approx(0.5) and d[1] == pytest.approx(0.5) and d.sum() == pytest.approx(1)
    g = dpc("ACDA", gap=2)  # pairs (A, A) only
    assert g[0] == pytest.approx(1.0) and g.sum() == pytest.approx(1)
    r = reduced_kmers("AGVC", k=3)  # groups 0,0,0 then 0,0,6
    assert r.shape == (343,) and r[0] == pytest.approx(0.5) and r[6] == pytest.approx(0.5)
    # non-standard letters: windows containing them are skipped; too-short sequences give zeros
    assert np.allclose(dpc("AXA"), 0) and np.allclose(aac("XXAX"), np.eye(20)[0])
    x = composition_features(["ACDEFGHIK", "MNPQRSTVWYACD"])
    assert x.shape == (2, len(feature_names())) and x.dtype == np.float32
    assert np.isfinite(x).all()


# ---------------------------------------------------------------- data and de-duplication
def _write(path, recs):
    path.write_text("".join(f">{i}\n{s}\n" for i, s in recs))


@pytest.fixture
def toy_layer_dir(tmp_path):
    rng = np.random.default_rng(1)
    s = [_random_protein(rng, 50) for _ in range(10)]
    _write(tmp_path / "TFPM_training_dataset_used.fasta", [("p1", s[0]), ("p2", s[1]), ("p3", s[2]), ("p3b", s[0])])
    _write(tmp_path / "TFPNM_training_dataset.fasta", [("n1", s[3]), ("n2", s[1]), ("n3", s[4])])
    _write(tmp_path / "TFPM_independent_dataset.fasta", [("tp1", s[5]), ("tp2", s[2]), ("tp3", s[6])])
    _write(tmp_path / "TFPNM_independent_dataset.fasta", [("tn1", s[7]), ("tn2", s[1]), ("tn3", s[8])])
    return tmp_path, s


def test_load_layer_published_and_dedup(toy_layer_dir):
    d, s = toy_layer_dir
    pub = load_layer("layer2", "published", d)
    assert len(pub.train_seqs) == 7 and pub.y_train.tolist() == [1, 1, 1, 1, 0, 0, 0]
    assert pub.notes["train_duplicate_sequences"] == 2 and pub.notes["test_sequences_in_train"] == 2
    ded = load_layer("layer2", "dedup", d)
    # s[0] kept once; s[1] has both labels -> dropped; test copies of training sequences removed
    assert ded.train_seqs == [s[0], s[2], s[3], s[4]] and ded.y_train.tolist() == [1, 1, 0, 0]
    assert ded.test_ids == ["tp1", "tp3", "tn1", "tn3"]
    assert not set(ded.test_seqs) & set(pub.train_seqs)
    with pytest.raises(InputError, match="unknown layer"):
        load_layer("layer3", "dedup", d)
    with pytest.raises(InputError, match="not found"):
        load_layer("layer1", "dedup", d)


def test_read_protein_records_keeps_duplicate_ids_and_validates(tmp_path):
    p = tmp_path / "a.fasta"
    p.write_text(">x\nMKV\n>x\nMKV\n>y\nAC*\n")
    assert read_protein_records(p) == [("x", "MKV"), ("x", "MKV"), ("y", "AC")]
    p.write_text(">x\nMKV\n>y\n\n>z\nAAA\n")
    with pytest.raises(InputError, match=r"a.fasta:3: record 'y' has no sequence"):
        read_protein_records(p)


def test_real_data_leakage_counts():
    from tfscope.protein.data import default_data_dir

    if not (default_data_dir() / "TF_training_dataset.fasta").exists():
        pytest.skip("../shared/data/protein not available")
    sp = load_layer("layer1", "published")
    assert len(sp.y_train) == 832 and len(sp.y_test) == 212 and sp.notes["test_sequences_in_train"] == 36
    dd = load_layer("layer1", "dedup")
    assert len(set(dd.train_seqs)) == len(dd.train_seqs) and not set(dd.test_seqs) & set(sp.train_seqs)


# ---------------------------------------------------------------- linear default
def test_linear_model_cv_save_load(tmp_path):
    seqs, y = _planted(80)
    m = select_and_fit(seqs, y, labels=("TF", "non-TF"), feature_sets={
        "aac": {"aac": True, "dpc": False, "gaps": [], "reduced_k": []},
        "aac+dpc": {"aac": True, "dpc": True, "gaps": [], "reduced_k": []}}, c_grid=(0.1, 1.0))
    assert len(m.meta["cv"]) == 4 and m.meta["chosen"]["cv_auroc"] > 0.9
    tseqs, ty = _planted(40, seed=5)
    p = m.predict_proba(tseqs)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(ty, p) > 0.9
    save_protein_model(m, tmp_path, "layer1")  # the one checkpoint format: model.safetensors + config.json
    assert sorted(f.name for f in (tmp_path / "layer1").iterdir()) == ["config.json", "model.safetensors"]
    m2 = load_protein_model(tmp_path, "layer1")
    assert np.allclose(m2.predict_proba(tseqs), p) and m2.labels == ("TF", "non-TF")
    cfg = json.loads((tmp_path / "layer1" / "config.json").read_text())
    assert cfg["task"] == "protein" and cfg["class"] == "tfscope.protein.classic:LinearProteinModel"
    # a fresh process that imported only tfscope.checkpoint loads it too (the config names the class)
    from tfscope.checkpoint import load_checkpoint
    assert type(load_checkpoint(tmp_path / "layer1", task="protein")[0]) is type(m)
    # corrupted / mismatched files give CheckpointError
    cfg["hparams"]["spec"]["gaps"] = [1]
    (tmp_path / "layer1" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="do not match"):
        load_protein_model(tmp_path, "layer1")
    (tmp_path / "layer1" / "config.json").write_text("{")
    with pytest.raises(CheckpointError, match="invalid JSON"):
        load_protein_model(tmp_path, "layer1")
    with pytest.raises(CheckpointError, match="no protein model"):
        load_protein_model(tmp_path, "layer2")


def test_shipped_default_two_layer():
    from tfscope.protein.pipeline import TwoLayerPredictor
    from tfscope.resources import resource

    files = {str(f.relative_to(resource("protein_model"))) for f in resource("protein_model").rglob("*")
             if f.is_file()}
    assert files == {"PROVENANCE.json", "layer1/config.json", "layer1/model.safetensors", "layer2/config.json",
                     "layer2/model.safetensors"}  # one tfscope checkpoint per layer, no pickles
    assert sum((resource("protein_model") / f).stat().st_size for f in files) < 5 * 2**20
    pred = TwoLayerPredictor()
    # a C2H2 zinc-finger array (TF-like) and a collagen-like repeat (non-TF-like)
    zf = "MSEPRKLCPECGKSFSQSSNLQKHQRTHTGEKPYKCEECGKAFSQSSHLIRHQRTHTGEKPFKCSECGKAFSRSDHLAEHQRTH" * 2
    col = "GPPGPAGPQGPRGDKGETGEQGDRGIKGHRGFSGLQGPPGPPGSPGEQGPSGASGPAGPRGPPGSAGAPGKDGLNGLPGPIG"
    rows = pred.predict({"zf": zf, "col": col})
    assert [r["id"] for r in rows] == ["zf", "col"]
    assert rows[0]["p_tf"] > rows[1]["p_tf"] and rows[0]["is_tf"]
    for r in rows:
        assert 0 <= r["p_tf"] <= 1
        assert (r["is_tf"] and 0 <= r["p_tfpm"] <= 1) or (not r["is_tf"] and math.isnan(r["p_tfpm"]))


def test_kmer_tfidf_and_ensemble_roundtrip(tmp_path):
    from tfscope.protein.classic import EnsembleModel, fit_kmer_tfidf
    from tfscope.protein.models import select_default

    seqs, y = _planted(60, seed=4)
    km = fit_kmer_tfidf(seqs, y, C=10.0)  # asserts the numpy TF-IDF equals sklearn's
    lin = fit_linear(seqs, y, spec={"aac": True, "dpc": True, "gaps": [], "reduced_k": []}, C=0.1)
    ens = EnsembleModel([lin, km], ("TF", "non-TF"))
    tseqs, ty = _planted(20, seed=6)
    p = ens.predict_proba(tseqs)
    assert np.allclose(p, (lin.predict_proba(tseqs) + km.predict_proba(tseqs)) / 2)
    save_protein_model(ens, tmp_path, "layer1")
    back = load_protein_model(tmp_path, "layer1")
    assert isinstance(back, EnsembleModel) and np.allclose(back.predict_proba(tseqs), p)
    assert [m["class"] for m in json.loads((tmp_path / "layer1" / "config.json").read_text())["hparams"]["members"]] \
        == ["tfscope.protein.classic:LinearProteinModel", "tfscope.protein.classic:KmerTfidfModel"]
    (tmp_path / "layer1" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="checksum mismatch|cannot read weights"):
        load_protein_model(tmp_path, "layer1")
    m = select_default(seqs, y, labels=("TF", "non-TF"), c_grid=(0.1,),
                       feature_sets={"aac": {"aac": True, "dpc": False, "gaps": [], "reduced_k": []}})
    assert m.meta["choice"]["model"] in ("stack", "composition-lr")


# ---------------------------------------------------------------- CLI
def test_cli_predict_tsv_and_bad_fasta(tmp_path, capsys):
    fa = tmp_path / "in.fasta"
    zf = "MSEPRKLCPECGKSFSQSSNLQKHQRTHTGEKPYKCEECGKAFSQSSHLIRHQRTH" * 3
    fa.write_text(">zf\n" + zf + "\n>b\nMKTAYIAKQRQISFVKSHF\n")
    out = tmp_path / "pred.tsv"
    js = tmp_path / "pred.json"
    assert cli_main(["protein", "predict", str(fa), "--out", str(out), "--json", str(js), "--device", "cpu"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("id\tp_tf\tis_tf\tp_tfpm\tis_tfpm") and len(lines) == 3
    cols = lines[1].split("\t")
    assert cols[0] == "zf" and 0 <= float(cols[1]) <= 1 and (cols[3] == "") == (cols[2] == "0")
    doc = json.loads(js.read_text())
    assert doc["tfpm_threshold"] == pytest.approx(0.7612, abs=1e-4) and doc["tf_threshold"] == pytest.approx(0.3696,
                                                                                                              abs=1e-4)
    # the shipped layer 1 puts DNA-binding domains first: the zinc-finger protein scores >= 0.5 and is a TF
    assert doc["proteins"][0]["p_tf"] >= 0.5 and doc["proteins"][0]["is_tf"]
    for r, line in zip(doc["proteins"], lines[1:]):
        cols = line.split("\t")
        assert r["id"] == cols[0] and int(r["is_tf"]) == int(cols[2])
        if r["is_tf"]:  # the layer-2 call is P(TFPM) >= the documented 0.761
            assert r["is_tfpm"] == (r["p_tfpm"] >= doc["tfpm_threshold"]) and cols[4] == str(int(r["is_tfpm"]))
        else:
            assert r["is_tfpm"] is None and r["p_tfpm"] is None and cols[3] == cols[4] == ""
    # a lower layer-2 cut calls every TF a TFPM
    assert cli_main(["protein", "predict", str(fa), "-o", str(out), "--tfpm-threshold", "0.0001"]) == 0
    assert all(r.split("\t")[4] == "1" for r in out.read_text().splitlines()[1:] if r.split("\t")[2] == "1")
    assert cli_main(["protein", "predict", str(fa), "--tfpm-threshold", "1.5"]) == 2
    assert "tfpm_threshold must lie in (0, 1)" in capsys.readouterr().err
    bad = {"letters": (">a\nMKV1Q\n", r"bad.fasta:2: invalid amino-acid letter '1'"),
           "empty": (">a\n>b\nMKV\n", r"bad.fasta:1: record 'a' has no sequence"),
           "dup": (">a\nMKV\n>a\nMKV\n", r"bad.fasta:3: duplicate sequence id 'a'"),
           "nofasta": ("MKV\n", r"bad.fasta:1: sequence data before")}
    for name, (text, msg) in bad.items():
        p = tmp_path / "bad.fasta"
        p.write_text(text)
        assert cli_main(["protein", "predict", str(p)]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("tfscope: error: ") and __import__("re").search(msg, err), (name, err)
    assert cli_main(["protein", "predict", str(tmp_path / "missing.fasta")]) == 2
    assert "file not found" in capsys.readouterr().err


# ---------------------------------------------------------------- ESM-2 + LoRA (tiny random config, no download)
@pytest.fixture
def tiny_backbone_dir(tmp_path):
    from transformers import EsmConfig, EsmModel

    from tfscope.protein.esm import tiny_esm_config

    torch.manual_seed(0)
    bb = EsmModel(EsmConfig(**tiny_esm_config()), add_pooling_layer=False)
    d = tmp_path / "tiny-esm2"
    bb.save_pretrained(d)
    return d, bb


def test_esm_tokenize_windows():
    from tfscope.protein.esm import CLS, EOS, PAD, protein_windows, tokenize

    assert protein_windows("A" * 10, 8, "truncate") == ["A" * 8]
    w = protein_windows("ABCDEFGHIJ", 4, "window", stride=3)
    assert w == ["ABCD", "DEFG", "GHIJ"]
    w = protein_windows("ABCDEFGHIJK", 4, "window", stride=3)
    assert w[-1] == "HIJK"  # last window aligned to the C-terminus
    ids, owner = tokenize(["MK", "ABCDEFGHIJ"], max_residues=4, mode="window", stride=3)
    assert owner.tolist() == [0, 1, 1, 1] and ids.shape == (4, 6)
    assert ids[0].tolist()[:4] == [CLS, 20, 15, EOS] and ids[0, 4] == PAD
    with pytest.raises(InputError, match="truncate"):
        protein_windows("AAA", 2, "slide")


def test_esm_lora_train_save_load_predict_attention(tiny_backbone_dir, tmp_path):
    from tfscope.protein.esm import (add_lora, attention_maps, classifier_from_backbone, load_esm_classifier,
                                     residue_attention_profile, save_esm_classifier, train_esm)

    torch.set_num_threads(1)
    d, bb = tiny_backbone_dir
    net = classifier_from_backbone(d)  # local directory, no network
    assert torch.equal(net.backbone.embeddings.word_embeddings.weight, bb.embeddings.word_embeddings.weight)
    total = sum(p.numel() for p in net.parameters())
    add_lora(net, r=4, alpha=8, dropout=0.0)
    trainable = [n for n, p in net.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    assert any("query" in n for n in trainable) and any("dense" in n for n in trainable)
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) < total / 3

    seqs, y = _planted(48, seed=2)
    m = train_esm(seqs, y, (seqs[:12], y[:12]), backbone=d, lora=True, lora_r=4, lora_alpha=8, epochs=2,
                  batch_size=8, lr=3e-3, max_residues=64, long_mode="window", labels=("TF", "non-TF"))
    assert m.meta["lora"] and m.meta["lora_targets"] == ["query", "key", "value", "dense"]
    assert not hasattr(m.net.backbone, "peft_config")  # adapters merged before saving
    p = m.predict_proba(seqs)
    assert p.shape == (48,) and ((p >= 0) & (p <= 1)).all()
    ck = save_esm_classifier(tmp_path / "ck", m)
    m2 = load_esm_classifier(ck)
    assert np.allclose(m2.predict_proba(seqs), p, atol=1e-6) and m2.long_mode == "window"
    a = attention_maps(m2, seqs[0])
    L = min(len(seqs[0]), 64)
    assert a.shape == (4, L, L) and (a >= 0).all() and (a.sum(-1) <= 1 + 1e-5).all()
    assert residue_attention_profile(a).shape == (L,)

    # full fine-tuning: every weight trainable; two-layer CLI predict with ESM checkpoints
    full = train_esm(seqs[:16], y[:16], backbone=d, lora=False, epochs=1, batch_size=8, max_residues=64)
    assert full.meta["trainable_parameters"] == total
    save_esm_classifier(tmp_path / "two" / "layer1", m)
    save_esm_classifier(tmp_path / "two" / "layer2", full)
    fa = tmp_path / "q.fasta"
    fa.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs[:5])))
    out = tmp_path / "q.tsv"
    assert cli_main(["protein", "predict", str(fa), "--checkpoint", str(tmp_path / "two"), "-o", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 6


def test_esm_backbone_missing_is_clear_error(tmp_path):
    from tfscope.protein.esm import classifier_from_backbone

    with pytest.raises(InputError, match="cannot load ESM backbone"):
        classifier_from_backbone(tmp_path / "nope")


# ---------------------------------------------------------------- motifs
def test_kmer_enrichment_and_importance_find_planted_motif():
    from tfscope.protein.motifs import kmer_enrichment, linear_residue_importance, region_kmer_enrichment

    seqs, y = _planted(80, seed=3)
    pos = [s for s, t in zip(seqs, y) if t]
    neg = [s for s, t in zip(seqs, y) if not t]
    rows = kmer_enrichment(pos, neg, k=3, min_count=5, top=10)
    assert rows[0]["kmer"] in "KRKRWFQNRRKRKR" and rows[0]["q"] < 1e-6 and rows[0]["pos_with"] == 40
    assert all(rows[i]["p"] <= rows[i + 1]["p"] for i in range(len(rows) - 1))
    m = fit_linear(seqs, y, spec={"aac": True, "dpc": True, "gaps": [1], "reduced_k": [3]}, C=0.1)
    s = pos[0]
    imp = linear_residue_importance(m, s)
    const = m.intercept - np.sum(m.coef * m.mean / m.scale)
    assert imp.sum() == pytest.approx(m.decision_function([s])[0] - const, rel=1e-6)
    k = s.find("WFQNRR")
    assert imp[k:k + 6].mean() > np.median(imp)
    reg = region_kmer_enrichment(pos, [linear_residue_importance(m, p) for p in pos], k=3, top=5)
    assert reg and reg[0]["kmer"] in "KRKRWFQNRRKRKR"


# ---------------------------------------------------------------- layer-1 stack (issue 7)
def test_stack_tfidf_matches_sklearn_fit_roundtrip_and_corruption(tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import roc_auc_score

    from tfscope.protein.stack import StackModel, fit_stack, kmer_counts, tfidf_idf, tfidf_transform

    seqs, y = _planted(60, seed=7)
    # numpy/scipy TF-IDF == sklearn's char TF-IDF (same vocabulary up to column order -> same cosine similarities)
    c = kmer_counts(seqs, (2, 3, 4))
    x = tfidf_transform(c, tfidf_idf(c))
    xs = TfidfVectorizer(analyzer="char", ngram_range=(2, 4), lowercase=False, sublinear_tf=True).fit_transform(seqs)
    assert np.allclose((x @ x.T).toarray(), (xs @ xs.T).toarray(), atol=1e-10)
    assert np.isclose(x.sum(), xs.sum())
    # fit: members are positively oriented on the planted motif, threshold comes from out-of-fold predictions
    m = fit_stack(seqs, y, labels=("TF", "non-TF"), C=10.0)
    assert m.platt[0] > 0 and 0 < m.threshold < 1 and m.meta["cv_auroc"] > 0.9
    tseqs, ty = _planted(30, seed=8)
    p = m.predict_proba(tseqs)
    assert p.shape == (30,) and ((0 <= p) & (p <= 1)).all() and roc_auc_score(ty, p) > 0.9
    save_protein_model(m, tmp_path, "layer1")
    assert sorted(f.name for f in (tmp_path / "layer1").iterdir()) == ["config.json", "model.safetensors"]
    back = load_protein_model(tmp_path, "layer1")
    assert isinstance(back, StackModel) and np.allclose(back.predict_proba(tseqs), p)
    assert back.threshold == m.threshold and back.labels == ("TF", "non-TF")
    (tmp_path / "layer1" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="checksum mismatch|cannot read weights"):
        load_protein_model(tmp_path, "layer1")


def test_select_default_refuses_sign_flipped_stack():
    from tfscope.protein.models import select_default

    # labels anti-correlated with sequence similarity across folds: pairs of identical-motif proteins, one per class
    rng = np.random.default_rng(3)
    seqs, y = [], []
    for i in range(30):
        core = _random_protein(rng, 80)
        seqs += [core + _random_protein(rng, 5), core + _random_protein(rng, 5)]
        y += [1, 0]
    m = select_default(seqs, np.array(y), c_grid=(0.1,),
                       feature_sets={"aac+dpc": {"aac": True, "dpc": True, "gaps": [], "reduced_k": []}})
    ch = m.meta["choice"]
    # the stack "wins" CV only by flipping the sign of its anti-predictive members; it must not be chosen
    assert ch["stack_platt_slope"] < 0 and ch["stack_cv_auroc"] > ch["composition_lr_cv_auroc"]
    assert ch["model"] == "composition-lr"
