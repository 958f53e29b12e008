"""Tests of the TF-class-from-motif task (tfscope.tfclass, tfscope family CLI)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tfscope.errors import InputError
from tfscope.motif import counts_to_probs
from tfscope.tfclass.data import build_dataset, pad_batch
from tfscope.io.motifs import read_motifs, write_jaspar
from tfscope.tfclass.knn import (alignment_similarity, column_similarity, knn_ensemble_proba, knn_proba,
                                tomtom_similarity)
from tfscope.tfclass.model import FamilyCNN
from tfscope.tfclass.train import make_crop_augment, predict_cnn, train_cnn
from tfscope.metrics import multiclass_metrics


def onehot_motif(seq: str, eps: float = 0.02) -> np.ndarray:
    m = np.full((4, len(seq)), eps)
    for j, b in enumerate(seq):
        m["ACGT".index(b), j] = 1.0
    return m / m.sum(0)


def rc(m):
    return m[::-1, ::-1]


@pytest.fixture(scope="module")
def dataset():
    return build_dataset()


def test_dataset_counts_thesis(dataset):
    assert len(dataset) == 2112 and len(dataset.classes) == 20
    c = dataset.counts()
    assert min(c.values()) >= 20 and c["Homeo domain factors"] == 375
    assert dataset.meta["n_unannotated_dropped"] == 22
    assert not any("::" in n for n in dataset.names)
    assert len(set(dataset.ids)) == len(dataset)
    for p in dataset.pfms[:50]:
        assert p.shape[0] == 4 and np.allclose(p.sum(0), 1)


def test_readers_all_formats(tmp_path):
    jas = tmp_path / "m.jaspar"
    jas.write_text(">MA1 one\nA [ 10 0 0 ]\nC [ 0 10 0 ]\nG [ 0 0 5 ]\nT [ 0 0 5 ]\n>MA2 two\n"
                   "A 1 1\nC 1 1\nG 1 1\nT 1 1\n")
    ms = read_motifs(jas)
    assert [n for n, _ in ms] == ["MA1 one", "MA2 two"]
    assert np.allclose(ms[0][1][:, 2], [0, 0, 0.5, 0.5]) and ms[0][1].shape == (4, 3)
    meme = tmp_path / "m.meme"
    meme.write_text("MEME version 4\n\nALPHABET= ACGT\n\nMOTIF X1 xname\nletter-probability matrix: alength= 4 w= 2\n"
                    "0.7 0.1 0.1 0.1\n0.0 0.0 0.0 1.0\n\nMOTIF X2\nletter-probability matrix: w= 1\n.25 .25 .25 .25\n")
    mm = read_motifs(meme)
    assert mm[0][0] == "X1 xname" and np.allclose(mm[0][1][:, 0], [0.7, 0.1, 0.1, 0.1]) and mm[1][1].shape == (4, 1)
    pfm = tmp_path / "plain.pfm"
    pfm.write_text("4 0\n0 4\n0 0\n0 0\n")
    (name, m), = read_motifs(pfm)
    assert name == "plain" and np.allclose(m, [[1, 0], [0, 1], [0, 0], [0, 0]])
    out = tmp_path / "rt.jaspar"
    write_jaspar(out, ms)
    assert np.allclose(read_motifs(out)[0][1], ms[0][1])


@pytest.mark.parametrize("text, line, msg", [
    ("A 1 2\nC 1 x\nG 1 1\nT 1 1\n", 2, "not a number"),
    ("A 1 2\nC 1 2 3\nG 1 1\nT 1 1\n", 2, "columns"),
    (">m\nA 1 2\nC 1 2\n", 3, "truncated"),
    (">m\nA 1 0\nC 1 0\nG 1 0\nT 1 0\n", 1, "sums to zero"),
    ("A 1 2\nG 1 2\nC 1 1\nT 1 1\n", 2, "expected 'C'"),
    ("MOTIF a\nletter-probability matrix: w= 3\n0.25 0.25 0.25 0.25\n", 3, "truncated"),
    ("MOTIF a\nletter-probability matrix: w= 1\n0.5 0.5 0.0\n", 3, "expected 4"),
])
def test_reader_bad_input_names_file_and_line(tmp_path, text, line, msg):
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(InputError) as e:
        read_motifs(p)
    assert e.value.path == str(p) and e.value.line == line and msg in str(e.value)


def test_reader_empty_and_missing(tmp_path):
    (tmp_path / "e.pfm").write_text("\n# comment\n")
    with pytest.raises(InputError, match="empty"):
        read_motifs(tmp_path / "e.pfm")
    with pytest.raises(InputError, match="file not found"):
        read_motifs(tmp_path / "missing.pfm")


def test_column_metrics_values():
    a = np.array([[1.0, 0, 0, 0]])
    b = np.array([[0, 1.0, 0, 0]])
    assert column_similarity(a, a, "pearson")[0, 0] == pytest.approx(1.0)
    assert column_similarity(a, b, "pearson")[0, 0] == pytest.approx(-1 / 3)
    assert column_similarity(a, b, "sandelin")[0, 0] == pytest.approx(0.0)
    assert column_similarity(a, a, "sandelin")[0, 0] == pytest.approx(2.0)
    assert column_similarity(a, b, "euclidean")[0, 0] == pytest.approx(-np.sqrt(2))


def brute_force(q, t, metric, min_overlap=4):
    """Reference: loop over strands and offsets, overhanging query columns scored against uniform."""
    best = -np.inf
    Lq, Lt = q.shape[1], t.shape[1]
    u = np.full((4, 1), 0.25)
    for tt in (t, rc(t)):
        for off in range(-(Lq - 1), Lt):  # query column i aligned to target column i + off
            cols = [i for i in range(Lq) if 0 <= i + off < Lt]
            if len(cols) < min(min_overlap, Lq, Lt):
                continue
            s = 0.0
            for i in range(Lq):
                c = tt[:, [i + off]] if 0 <= i + off < Lt else u
                s += column_similarity(q[:, [i]].T, c.T, metric)[0, 0]
            best = max(best, s)
    return best


@pytest.mark.parametrize("metric", ["pearson", "sandelin", "euclidean"])
def test_alignment_matches_brute_force(metric):
    rng = np.random.default_rng(1)
    qs = [rng.dirichlet(np.ones(4) * 0.5, size=L).T for L in (3, 6, 9)]
    ts = [rng.dirichlet(np.ones(4) * 0.5, size=L).T for L in (4, 7, 12, 5)]
    S = alignment_similarity(qs, ts, metric)
    for i, q in enumerate(qs):
        for j, t in enumerate(ts):
            assert S[i, j] == pytest.approx(brute_force(q, t, metric), abs=1e-4)


def test_alignment_finds_planted_submotif_on_reverse_strand():
    rng = np.random.default_rng(0)
    targets = [onehot_motif("".join(rng.choice(list("ACGT"), 12))) for _ in range(30)]
    targets[17] = onehot_motif("GGACACGTGTTC")
    query = rc(onehot_motif("ACACGTGT"[1:]))  # sub-motif, reverse complement
    for metric in ("pearson", "sandelin"):
        assert alignment_similarity([query], targets, metric).argmax() == 17
    sim, p = tomtom_similarity([query], targets)
    assert sim.argmax() == 17 and p[0, 17] < 0.01


def test_knn_votes_and_ensemble():
    sim = np.array([[0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.95]])
    labels = np.array([0, 1, 1, 2])
    assert knn_proba(sim, labels, 3, 1).argmax(1).tolist() == [0, 2]
    p3 = knn_proba(sim, labels, 3, 3)
    assert p3[0].argmax() == 1 and p3[0, 1] == pytest.approx(2 / 3, abs=1e-4)
    # 2 of 3 metrics vote class 1 for query 0
    sims = [sim, np.array([[0.1, 0.9, 0, 0], [0, 0, 0, 1]]), np.array([[0, 0, 0.9, 0], [0, 0, 0, 1]])]
    assert knn_ensemble_proba(sims, labels, 3, 1).argmax(1).tolist() == [1, 2]


def test_cnn_reverse_complement_invariant_and_checkpoint(tmp_path):
    from tfscope.checkpoint import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    net = FamilyCNN(n_classes=5).eval()
    x = torch.rand(3, 4, 17)
    out = net(x)
    assert out.shape == (3, 5)
    assert torch.allclose(out, net(torch.flip(x, (1, 2))), atol=1e-6)
    save_checkpoint(tmp_path / "ck", net, model_name="family_cnn", task="family", hparams={"n_classes": 5})
    net2, cfg = load_checkpoint(tmp_path / "ck", task="family")
    assert torch.allclose(net2(x), out)


def test_crop_augment_keeps_submotif():
    x = torch.from_numpy(pad_batch([onehot_motif("ACGTACGTAC")] * 8, 20))
    y = make_crop_augment(p_crop=1.0, seed=3)(x)
    assert y.shape == x.shape
    for i in range(8):
        cols = torch.nonzero(y[i].sum(0) > 0).flatten()
        w = len(cols)
        assert 6 <= w <= 10 and (cols[-1] - cols[0] + 1) == w
        cons = "".join("ACGT"[int(k)] for k in y[i][:, cols].argmax(0))
        assert cons in "ACGTACGTAC"


def test_train_cnn_learns_planted_classes():
    rng = np.random.default_rng(0)

    def rand_ctx(core):
        s = "".join(rng.choice(list("ACGT"), rng.integers(0, 4))) + core
        return s + "".join(rng.choice(list("ACGT"), rng.integers(0, 4)))

    pfms, labels = [], []
    for i in range(160):
        c = i % 2
        seq = rand_ctx("CACGTG" if c == 0 else "TAATTA")
        pfms.append(onehot_motif(seq) if rng.random() < 0.5 else rc(onehot_motif(seq)))
        labels.append(c)
    labels = np.array(labels)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: thread oversubscription on a shared machine only slows it down
    try:
        net, res = train_cnn(pfms[:120], labels[:120], 2, epochs=30, patience=7, seed=0)
    finally:
        torch.set_num_threads(threads)
    p = predict_cnn(net, pfms[120:])
    assert p.shape == (40, 2) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert (p.argmax(1) == labels[120:]).mean() >= 0.9


def test_multiclass_metrics():
    m = multiclass_metrics([0, 0, 1, 2], [0, 1, 1, 2], 4)
    assert m["accuracy"] == 0.75 and m["per_class_accuracy"][:3] == [0.5, 1.0, 1.0]
    assert np.isnan(m["per_class_accuracy"][3]) and m["confusion"][0] == [1, 1, 0, 0]


def test_counts_to_probs_rejects_bad():
    with pytest.raises(ValueError):
        counts_to_probs(np.ones((3, 2)))
    with pytest.raises(ValueError):
        counts_to_probs(-np.ones((4, 2)))


def test_cli_predict_and_bad_file(tmp_path, capsys):
    from tfscope.cli import main

    bad = tmp_path / "bad.jaspar"
    bad.write_text(">m\nA [ 1 2 ]\nC [ 1 ]\n")
    assert main(["family", "predict", str(bad)]) == 2
    assert f"{bad}:3" in capsys.readouterr().err
    hox = tmp_path / "hox.pfm"
    hox.write_text("1 1 18 18 1 2\n1 1 0 0 1 3\n1 1 1 1 1 14\n17 17 1 1 17 1\n")
    assert main(["family", "predict", str(hox), "--nearest", "3"]) == 0
    out = [ln for ln in capsys.readouterr().out.splitlines() if not ln.startswith("#")]
    assert out[0] == "file\tid\tname\ttf_class\tclass_prob\tknown_prob\tright_prob\treason\tnote"
    assert out[1].split("\t")[3] == "Homeo domain factors" and len(out) == 5
    import json

    assert main(["family", "predict", str(hox), "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    r = doc["motifs"][0]
    assert doc["model"] == "knn-kmer-vote" and len(doc["classes"]) == 20 and r["tf_class"] in doc["classes"]
    assert set(r["models"]) == {"knn-ensemble-k1", "knn-stack", "kmer-lr", "knn-kmer-vote"}
    assert r["models"]["knn-kmer-vote"] == r["tf_class"] and 0.05 < r["class_prob"] <= 1
    assert r["id"] == "hox" and r["name"] is None  # a plain PFM file: the file stem names the motif


# --- stacked KNN and `tfscope family evaluate` --------------------------------------------------------------------

def test_class_neighbour_features_by_hand():
    from tfscope.tfclass.stack import class_neighbour_features, normalise_similarity

    sim = np.array([[-np.inf, 5.0, 3.0, 1.0],
                    [4.0, 2.0, np.inf * -1, 0.5]])
    y = np.array([0, 0, 1, 1])
    f = class_neighbour_features([sim], y, 2, top=2)
    assert f.shape == (2, 4)
    # query 0: class 0 -> [5, lo=1] - 5; class 1 -> [3, 1] - 5
    assert np.allclose(f[0], [0, -4, -2, -4])
    # query 1: class 0 -> [4, 2] - 4; class 1 -> [0.5, lo=0.5] - 4
    assert np.allclose(f[1], [0, -2, -3.5, -3.5])
    assert np.allclose(normalise_similarity(np.array([[6.0, 3.0]]), "pearson", [3]), [[2.0, 1.0]])
    assert normalise_similarity(np.array([[400.0]]), "euclidean", [3])[0, 0] == 30.0
    with pytest.raises(ValueError):
        class_neighbour_features([sim], y[:3], 2)


def planted_collection(rng, n_per=8):
    cores = {"bhlh": "CACGTG", "homeo": "TAATTA", "gata": "AGATAAG"}
    pfms, names, cls = [], [], []
    for c, core in cores.items():
        for i in range(n_per):
            s = "".join(rng.choice(list("ACGT"), rng.integers(1, 4))) + core
            s += "".join(rng.choice(list("ACGT"), rng.integers(1, 4)))
            m = onehot_motif(s, eps=0.05)
            pfms.append(m if i % 2 else rc(m))
            names.append(f"{c}{i} X")
            cls.append(c)
    return pfms, names, cls


def planted_dataset(seed):
    """Planted collection as a FamilyDataset, each motif its own TF (for reference-model fits): (ds, pfms)."""
    from tfscope.tfclass.data import FamilyDataset

    pfms, _, cls = planted_collection(np.random.default_rng(seed), 8)
    classes = sorted(set(cls))
    return FamilyDataset([f"M{i}.1" for i in range(len(pfms))], [f"{c}-{chr(97 + i)}" for i, c in enumerate(cls)],
                         pfms, np.array([classes.index(c) for c in cls]), classes, release="planted"), pfms


def planted_labelled(seed):
    """Planted collection with integer labels: (pfms, y)."""
    pfms, _, cls = planted_collection(np.random.default_rng(seed))
    classes = sorted(set(cls))
    return pfms, np.array([classes.index(c) for c in cls])


@pytest.mark.filterwarnings("ignore:tomtom was given")
def test_stacked_knn_separates_planted_classes():
    from tfscope.tfclass.evaluate import cross_validate

    pfms, y = planted_labelled(1)
    res = cross_validate(pfms, y, 3, folds=4, models=("knn-ensemble-k1", "knn-stack"))
    for m in ("knn-ensemble-k1", "knn-stack"):
        assert len(res[m]["accuracy"]) == 4 and np.mean(res[m]["accuracy"]) >= 0.9
    with pytest.raises(InputError, match="motifs per class"):
        cross_validate(pfms, y, 3, folds=9)


@pytest.mark.filterwarnings("ignore:tomtom was given")
def test_cli_evaluate_labelled_file_and_bad_labels(tmp_path, capsys):
    import json

    from tfscope.cli import main

    rng = np.random.default_rng(2)
    pfms, names, cls = planted_collection(rng, 6)
    mf = tmp_path / "m.jaspar"
    write_jaspar(mf, list(zip(names, pfms)))
    lab = tmp_path / "labels.tsv"
    lab.write_text("matrix_id\tname\ttf_class\n" + "".join(f"{n.split()[0]}\tX\t{c}\n" for n, c in zip(names, cls)))
    assert main(["family", "evaluate", str(mf), "--labels", str(lab), "--folds", "3", "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["mode"] == "cv" and set(doc["models"]) == {"knn-ensemble-k1", "knn-stack", "kmer-lr", "knn-kmer",
                                                          "knn-kmer-dedup", "knn-kmer-clogit", "knn-kmer-vote"}
    for m in ("knn-stack", "knn-kmer", "knn-kmer-dedup", "knn-kmer-clogit", "knn-kmer-vote"):
        assert doc["models"][m]["accuracy"]["mean"] >= 0.9
        assert len(doc["models"][m]["accuracy"]["folds"]) == 3
    # duplicate key -> file and line
    dup = tmp_path / "dup.tsv"
    dup.write_text("a\tX\nb\tY\na\tZ\n")
    assert main(["family", "evaluate", str(mf), "--labels", str(dup)]) == 2
    assert f"{dup}:3" in capsys.readouterr().err
    # a motif without a label names the motif file
    part = tmp_path / "part.tsv"
    part.write_text("".join(f"{n.split()[0]}\t{c}\n" for n, c in list(zip(names, cls))[1:]))
    assert main(["family", "evaluate", str(mf), "--labels", str(part)]) == 2
    err = capsys.readouterr().err
    assert str(mf) in err and "no label" in err
    # labels that are not JASPAR classes cannot be scored against the reference set
    assert main(["family", "evaluate", str(mf), "--labels", str(lab), "--mode", "reference"]) == 2
    assert "not JASPAR 2024 TF classes" in capsys.readouterr().err
    assert main(["family", "evaluate", "--labels", str(lab)]) == 2


# --- k-mer profile, kmer-lr and the knn-kmer pool -----------------------------------------------------------------

def test_kmer_profile_matches_brute_force_and_is_rc_invariant():
    import itertools

    from tfscope.tfclass.kmer_profile import kmer_profile

    rng = np.random.default_rng(0)
    m = rng.dirichlet(np.ones(4), size=5).T  # (4, 5)
    pc, k = 0.01, 3
    prof = kmer_profile([m], k, pseudocount=pc)
    assert prof.shape == (1, 64) and prof.dtype == np.float32
    lp = np.log((m + pc) / (1 + 4 * pc))
    for j, km in enumerate(itertools.product(range(4), repeat=k)):
        best = -np.inf
        for q in (lp, lp[::-1, ::-1]):
            for s in range(-(k - 1), q.shape[1]):
                best = max(best, sum(q[b, s + t] if 0 <= s + t < q.shape[1] else np.log(0.25)
                                     for t, b in enumerate(km)))
        assert np.isclose(prof[0, j], best, atol=1e-5)
    assert np.allclose(kmer_profile([rc(m)], k, pseudocount=pc), prof)
    # a sharp motif: its own 6-mers (lexicographic index) score ~0 (6 log(1.01 / 1.04) with the pseudocount) = the maximum, others far lower
    prof6 = kmer_profile([onehot_motif("TCACGTGA", eps=0.001)], 6)[0]
    idx = {w: int("".join(str("ACGT".index(b)) for b in w), 4) for w in ("CACGTG", "TCACGT", "AAAAAA")}
    assert np.isclose(prof6[idx["CACGTG"]], prof6.max()) and prof6.max() > -0.3
    assert np.isclose(prof6[idx["TCACGT"]], prof6.max()) and prof6[idx["AAAAAA"]] < -5
    for bad in ([np.ones((3, 4))], [np.ones((4, 0))]):
        with pytest.raises(ValueError, match=r"\(4, L\)"):
            kmer_profile(bad, 3)
    with pytest.raises(ValueError, match="k must be"):
        kmer_profile([m], 9)


def test_gapped_kmer_profile_matches_brute_force():
    import itertools

    from tfscope.tfclass.kmer_profile import kmer_profile

    rng = np.random.default_rng(1)
    m = rng.dirichlet(np.ones(4), size=6).T  # (4, 6)
    pc, k = 0.01, 3
    prof = kmer_profile([m], k, pseudocount=pc, gapped=True)
    assert prof.shape == (1, 64)
    lp = np.log((m + pc) / (1 + 4 * pc))
    for j, km in enumerate(itertools.product(range(4), repeat=k)):
        best = -np.inf
        for q in (lp, lp[::-1, ::-1]):
            for gap in range(1, k):  # k bases over k + 1 columns, one interior column unspecified
                offs = [*range(gap), *range(gap + 1, k + 1)]
                for s in range(-k, q.shape[1]):
                    best = max(best, sum(q[b, s + o] if 0 <= s + o < q.shape[1] else np.log(0.25)
                                         for o, b in zip(offs, km)))
        assert np.isclose(prof[0, j], best, atol=1e-5)
    assert np.allclose(kmer_profile([rc(m)], k, pseudocount=pc, gapped=True), prof)
    # CAC.GTG with any base at the gap: the gapped 6-mer CACGTG scores ~0 in "CACNGTG", the ungapped one does not
    cw = int("".join(str("ACGT".index(b)) for b in "CACGTG"), 4)
    half = onehot_motif("CACAGTG", eps=0.001)
    assert kmer_profile([half], 6, gapped=True)[0, cw] > -0.3 > kmer_profile([half], 6)[0, cw]
    with pytest.raises(ValueError, match="k must be"):
        kmer_profile([m], 1, gapped=True)


def test_standard_linear_equals_sklearn_and_handles_absent_class():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from tfscope.tfclass.model import StandardLinear

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5)) + np.repeat(np.eye(3, 5) * 2, 20, axis=0)
    y = np.repeat([0, 2, 3], 20)  # class 1 absent of 4
    head = StandardLinear.fit_logistic(X, y, 4, C=0.5)
    ref = LogisticRegression(C=0.5, max_iter=3000).fit(StandardScaler().fit_transform(X), y)
    p = head.predict_proba(X)
    assert p.shape == (60, 4) and np.allclose(p[:, 1], 0)
    assert np.allclose(p[:, [0, 2, 3]], ref.predict_proba(StandardScaler().fit(X).transform(X)), atol=1e-6)
    with pytest.raises(ValueError, match="2 classes"):
        StandardLinear.fit_logistic(X[:20], y[:20], 4)


@pytest.mark.filterwarnings("ignore:tomtom was given")
def test_knn_kmer_cv_and_checkpoint_roundtrip(tmp_path, dataset):
    from tfscope.errors import CheckpointError
    from tfscope.tfclass.reference import load_reference_model
    from tfscope.checkpoint import load_checkpoint, save_checkpoint
    from tfscope.tfclass.evaluate import cross_validate
    from tfscope.tfclass.kmer_profile import kmer_profile
    from tfscope.tfclass.knn import METRICS, all_similarities
    from tfscope.tfclass.knn_kmer import KnnKmer
    from tfscope.tfclass.stack import normalise_similarity

    pfms, y = planted_labelled(3)
    res = cross_validate(pfms, y, 3, folds=4, models=("kmer-lr", "knn-kmer"))
    for m in ("kmer-lr", "knn-kmer"):
        assert len(res[m]["accuracy"]) == 4 and np.mean(res[m]["accuracy"]) >= 0.9
    L = np.array([p.shape[1] for p in pfms])
    sims = [normalise_similarity(s, m, L) for s, m in zip(all_similarities(pfms, pfms, exclude_self=True)[0], METRICS)]
    km = kmer_profile(pfms, 4)
    model = KnnKmer(3, k=4, weights=(0.0, 0.5, 1.0)).fit(sims, km, y)
    assert model.weight_ in (0.0, 0.5, 1.0) and set(model.inner_nll) == {0.0, 0.5, 1.0}
    p = model.predict_proba(sims, km)
    assert p.shape == (len(y), 3) and np.allclose(p.sum(1), 1)
    mod = model.to_module()
    save_checkpoint(tmp_path / "kk", mod, model_name="family_knn_kmer", task="family", hparams=mod.hparams)
    net, _ = load_checkpoint(tmp_path / "kk", task="family")
    again = KnnKmer.from_module(net, y)
    assert np.allclose(again.predict_proba(sims, km), p)
    with torch.no_grad():  # the module's own forward gives the same pooled log probabilities
        lp = net(torch.from_numpy(model.stack.features(sims)), torch.from_numpy(km)).numpy()
    assert np.allclose(np.exp(lp), p, atol=1e-8)
    with pytest.raises(ValueError, match="k-mer profile has shape"):
        KnnKmer(3, k=5).fit(sims, km, y)
    # a knn-kmer checkpoint of another reference set, or a CNN checkpoint, is refused for JASPAR 2024
    with pytest.raises(CheckpointError, match="classes differ"):
        load_reference_model(dataset, tmp_path / "kk")
    cnn = FamilyCNN(20)
    save_checkpoint(tmp_path / "cnn", cnn, model_name="family_cnn", task="family", hparams={"n_classes": 20})
    with pytest.raises(CheckpointError, match="expected 'family_knn_kmer'"):
        load_reference_model(dataset, tmp_path / "cnn")
    assert load_reference_model(dataset).weight_ > 0  # the shipped model loads offline and uses both parts


# --- protocols for motifs never seen (temporal split, grouped CV) and the knn-kmer-dedup default ------------------

def test_paralog_group_and_grouped_folds_keep_groups_apart(dataset):
    from tfscope.tfclass.splits import grouped_folds, paralog_group

    assert {paralog_group(n) for n in ("GATA1", "Gata4", "GATA6")} == {"GATA"}
    assert paralog_group("HOXA13") == "HOXA" != paralog_group("HOXB13")
    assert paralog_group("ZNF263") != paralog_group("ZNF384")  # serial numbers, not paralogs
    assert paralog_group("NKX2-5") == "NKX2" and paralog_group("Arnt") == "ARNT"
    fl = grouped_folds(dataset.names, dataset.labels, 10, seed=0)
    g = np.array([paralog_group(n) for n in dataset.names])
    assert len(fl) == 10 and sorted(np.concatenate([te for _, te in fl]).tolist()) == list(range(len(dataset)))
    for tr, te in fl:
        assert not set(g[tr]) & set(g[te])  # no paralog group (hence no TF) on both sides
        assert len(set(tr) | set(te)) == len(dataset)
    with pytest.raises(ValueError, match="fewer than"):
        grouped_folds(["A1", "A2", "B1"], [0, 0, 1], 3)


def test_temporal_split_has_no_test_base_id_in_train():
    from pyjaspar import jaspardb

    from tfscope.tfclass.splits import temporal_split

    tr, te, info = temporal_split("JASPAR2020", "JASPAR2022")
    base = lambda ids: {i.split(".")[0] for i in ids}  # noqa: E731
    assert not base(tr.ids) & base(te.ids)
    old = {m.base_id for r in ("JASPAR2018", "JASPAR2020")
           for m in jaspardb(release=r).fetch_motifs(collection=["CORE"], all_versions=True)}
    assert not base(te.ids) & old  # first appearance in 2022
    assert tr.classes == te.classes == info["classes"] and len(tr.classes) >= 10
    assert np.bincount(tr.labels, minlength=len(tr.classes)).min() >= 20
    assert info["n_train"] == len(tr) > 1000 and info["n_test"] == len(te) > 100
    unk = info["unknown_test"]
    assert not set(unk.ids) & set(te.ids) and not base(unk.ids) & old
    assert not any("::" in n for n in tr.names + te.names)
    with pytest.raises(ValueError, match="not allowed"):
        temporal_split("JASPAR2020", "JASPAR2026")
    with pytest.raises(ValueError, match="must come after"):
        temporal_split("JASPAR2022", "JASPAR2020")


@pytest.mark.filterwarnings("ignore:tomtom was given")
def test_knn_kmer_dedup_fit_checkpoint_confidence_and_abstain(tmp_path):
    from tfscope.tfclass.data import FamilyDataset
    from tfscope.tfclass.reference import classify, fit_reference_model, load_reference_model
    from tfscope.tfclass.combine import adapt_priors, confidence_threshold
    from tfscope.tfclass.stack import class_neighbour_features, group_weights

    # one neighbour per group: the second rank skips the query's second motif of group "a"
    sim = np.array([[5.0, 4.0, 1.0, 0.0]])
    y = np.array([0, 0, 0, 1])
    f = class_neighbour_features([sim], y, 2, top=2, train_groups=np.array(["a", "a", "b", "c"]))
    assert np.allclose(f[0, :2], [0.0, -4.0])
    assert np.allclose(class_neighbour_features([sim], y, 2, top=2)[0, :2], [0.0, -1.0])
    assert np.allclose(group_weights(["a", "a", "b"]), [0.75, 0.75, 1.5])
    assert confidence_threshold(np.array([0.9, 0.8, 0.6, 0.5]), np.array([1, 1, 0, 1]), 0.75) == 0.5
    assert confidence_threshold(np.array([0.9, 0.8]), np.array([0, 0]), 0.9) == 1.0
    p, prior = adapt_priors(np.array([[0.6, 0.4], [0.7, 0.3], [0.8, 0.2]]), np.array([0.5, 0.5]))
    assert prior[0] > 0.7 and (p[:, 0] >= [0.6, 0.7, 0.8]).all()

    rng = np.random.default_rng(4)
    pfms, names, cls = planted_collection(rng, 8)
    classes = sorted(set(cls))
    tf_names = [f"{c}-{chr(97 + i)}" for i, c in enumerate(cls)]  # one TF (paralog group) per motif
    ds = FamilyDataset([f"M{i}.1" for i in range(len(pfms))], tf_names, pfms,
                       np.array([classes.index(c) for c in cls]), classes, release="planted")
    model = fit_reference_model(ds, tmp_path / "kd", variant="knn-kmer-dedup", k=4, progress=lambda m: None)
    assert model.dedup and 0.05 <= model.temperature_ <= 20 and 0 < model.min_confidence_ <= 1
    loaded = load_reference_model(ds, tmp_path / "kd")
    assert loaded.variant == "knn-kmer-dedup" and loaded.min_confidence_ == model.min_confidence_
    q = [pfms[0], pfms[9], np.full((4, 6), 0.25)]
    res = classify(q, ds, model_path=tmp_path / "kd")
    pr = res["proba"]["knn-kmer-dedup"]
    assert res["model"] == "knn-kmer-dedup" and pr.shape == (3, 3) and np.allclose(pr.sum(1), 1)
    assert pr[:2].argmax(1).tolist() == [ds.labels[0], ds.labels[9]]
    assert pr[0].max() >= res["min_confidence"] and pr[2].max() < pr[0].max()


def test_cli_predict_confidence_and_abstain(tmp_path, capsys):
    import json

    from tfscope.cli import main

    f = tmp_path / "m.jaspar"
    f.write_text(">hox\nA 1 1 18 18 1 2\nC 1 1 0 0 1 3\nG 1 1 1 1 1 14\nT 17 17 1 1 17 1\n"
                 ">flat\nA 5 5 5 6\nC 5 5 6 5\nG 5 6 5 5\nT 6 5 5 5\n")
    assert main(["tfclass", "predict", str(f), "--json", "-", "--abstain", "--nearest", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    hox, flat = doc["motifs"]
    assert doc["model"] == "knn-kmer-vote" and hox["confident"] and hox["tf_class"] == "Homeo domain factors"
    assert 0 < doc["min_confidence"] < 1 and hox["class_prob"] >= doc["min_confidence"]
    assert not flat["confident"] and flat["tf_class"] == "unknown" and flat["best_class"] != "unknown"
    assert (hox["id"], hox["name"], flat["id"]) == ("hox", None, "flat")
    # a near-uniform motif is less informative than every JASPAR 2024 motif: never confident, whatever its p, and
    # its Tomtom matches (p-values of the flat stretches of long motifs) are not listed
    assert flat["information_bits"] < 0.1 < doc["min_information_bits"] <= hox["information_bits"]
    assert flat["nearest"] == [] and len(hox["nearest"]) == 1
    assert main(["family", "predict", str(f), "--nearest", "0", "--out", str(tmp_path / "p.txt")]) == 0
    lines = (tmp_path / "p.txt").read_text().splitlines()
    assert lines[0].startswith("# tfscope tfclass predict: knn-kmer-vote") and "Homeo domain factors" in lines[0]
    row = lines[-1].split("\t")
    assert row[3] == "unknown" and row[7] == "uninformative" and "uninformative motif" in row[8] and row[1] == "flat"
    # the forced answer: every motif gets its best class, the reason still says why it would be unknown
    capsys.readouterr()
    assert main(["tfclass", "predict", str(f), "--json", "-", "--no-abstain", "--nearest", "0"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert not doc["abstain"] and doc["motifs"][1]["tf_class"] == flat["best_class"] != "unknown"
    assert doc["motifs"][1]["reason"] == "uninformative" and doc["motifs"][0]["reason"] == ""


def test_cli_predict_open_set(tmp_path, capsys):
    """Motifs unlike every known class are called unknown (the known-class detector); its threshold can be moved,
    and the known classes are named in --help and the output."""
    import json

    from tfscope.cli import build_parser, main
    from tfscope.tfclass.reference import load_reference_model, reference_dataset

    det = load_reference_model(reference_dataset()).novelty_
    assert 0 < det["min_known"] < 0.5 and det["flag_rate"] == 0.02 and det["held_out_auroc"] > 0.8
    assert [p["flag_rate"] for p in det["operating_points"]] == [0.01, 0.02, 0.05, 0.1, 0.2, 0.3]
    from tfscope.io.jaspar import jaspar_matrix, motif_pfm
    from tfscope.io.motifs import write_jaspar

    hox = np.array([[1, 1, 18, 18, 1, 2], [1, 1, 0, 0, 1, 3], [1, 1, 1, 1, 1, 14], [17, 17, 1, 1, 17, 1]], float)
    f = tmp_path / "m.jaspar"  # TP53 (p53 class, not among the 20) and a homeodomain TAAT core
    write_jaspar(f, [("MA0106.3 TP53", motif_pfm(jaspar_matrix("MA0106.3", release="JASPAR2024"))), ("hox", hox)])
    # the 10% operating point (10% of held-in motifs flagged in the held-out-class simulation)
    at10 = next(p["min_known"] for p in det["operating_points"] if p["flag_rate"] == 0.1)
    assert main(["tfclass", "predict", str(f), "--json", "-", "--min-known", str(at10)]) == 0
    doc = json.loads(capsys.readouterr().out)
    p53, hox = doc["motifs"]
    assert doc["min_known"] == at10 and "p53 domain factors" not in doc["classes"]
    assert p53["known_prob"] < at10 <= hox["known_prob"]
    assert (p53["id"], p53["name"], p53["tf_class"], p53["known"]) == ("MA0106.3", "TP53", "unknown", False)
    assert p53["best_class"] in doc["classes"] and hox["tf_class"] == "Homeo domain factors"
    # the detector's default threshold is the conservative 2% point: TP53 passes it, and the open-set rule calls
    # it unknown (its answer is not calibrated to be right); the forced answer gives its best class
    assert main(["tfclass", "predict", str(f), "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["min_known"] == det["min_known"] and doc["motifs"][0]["known"]
    assert (doc["motifs"][0]["tf_class"], doc["motifs"][0]["reason"]) == ("unknown", "not-calibrated")
    assert main(["tfclass", "predict", str(f), "--json", "-", "--no-abstain"]) == 0
    assert json.loads(capsys.readouterr().out)["motifs"][0]["tf_class"] == p53["best_class"]
    assert main(["tfclass", "predict", str(f), "--min-known", "2"]) == 2
    assert "--min-known must lie in [0, 1]" in capsys.readouterr().err
    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["tfclass"]._subparsers
                         ._group_actions[0].choices["predict"].format_help().split())
    assert "Known classes (20)" in help_text and "Homeo domain factors" in help_text


def test_cli_predict_default_abstains_on_unknown_class_and_flat_motifs(tmp_path, capsys):
    """Issue 42: RUNX1 (Runt class, not among the 20; forced answer C2H2 at 0.955) and a flat motif are unknown by
    default; a real homeodomain motif keeps its class; --no-abstain gives the forced answer."""
    import json

    from tfscope.cli import main
    from tfscope.io.jaspar import jaspar_matrix, motif_pfm
    from tfscope.io.motifs import write_jaspar
    from tfscope.checkpoint import read_config
    from tfscope.resources import resource

    shipped_rule = read_config(resource("tfclass_model"))["meta"]["open_set"]  # the shipped checkpoint carries it
    assert shipped_rule is not None and len(shipped_rule["thresholds"]) == 20
    flat = np.array([[5, 5, 5, 6], [5, 5, 6, 5], [5, 6, 5, 5], [6, 5, 5, 5]], float) / 21
    f = tmp_path / "m.jaspar"
    write_jaspar(f, [("MA0002.3 RUNX1", motif_pfm(jaspar_matrix("MA0002.3", release="JASPAR2024"))), ("flat", flat),
                     ("MA0063.3 NKX2-5", motif_pfm(jaspar_matrix("MA0063.3", release="JASPAR2024")))])
    assert main(["tfclass", "predict", str(f), "--json", "-", "--nearest", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    runx, fl, nkx = doc["motifs"]
    assert doc["abstain"] and doc["open_set"]["precision"] == shipped_rule["precision"]
    assert (runx["tf_class"], runx["reason"], fl["tf_class"], fl["reason"]) == (
        "unknown", "not-calibrated", "unknown", "uninformative")
    assert runx["best_class"] == "C2H2 zinc finger factors" and runx["class_prob"] > 0.9 and runx["known"]
    assert 0 < runx["right_prob"] < shipped_rule["thresholds"][doc["classes"].index(runx["best_class"])]
    assert (nkx["tf_class"], nkx["reason"]) == ("Homeo domain factors", "")
    assert main(["tfclass", "predict", str(f), "--out", str(tmp_path / "p.txt"), "--nearest", "0"]) == 0
    rows = [ln.split("\t") for ln in (tmp_path / "p.txt").read_text().splitlines() if not ln.startswith("#")]
    assert rows[1][3] == "unknown" and rows[1][7].startswith("not-calibrated") and "not calibrated" in rows[1][8]
    capsys.readouterr()
    assert main(["tfclass", "predict", str(f), "--json", "-", "--no-abstain", "--nearest", "0"]) == 0
    forced = json.loads(capsys.readouterr().out)["motifs"]
    assert [m["tf_class"] for m in forced] == [m["best_class"] for m in doc["motifs"]]


def test_open_set_rule_thresholds_and_simulated_estimate():
    """The open-set rule's per-class thresholds keep the asked precision of weighted answers, and its fit reports a
    held-out estimate; bad arguments are refused."""
    from tfscope.tfclass.open_set import FEATURES, accept, class_thresholds, fit_open_set_rule

    score = np.array([0.9, 0.8, 0.7, 0.6, 0.9, 0.5])
    pred = np.array([0, 0, 0, 0, 1, 1])
    right = np.array([1, 1, 0, 1, 1, 0], bool)
    t = class_thresholds(score, pred, right, np.ones(6), 3, 0.75)
    assert t.tolist() == [0.6, 0.9, 0.0]  # class 0: 3 of 4 right down to 0.6; class 1: only the right one
    assert np.isinf(class_thresholds(score, pred, ~right, np.ones(6), 3, 0.9)[1])
    rng = np.random.default_rng(0)
    n = 400
    unknown = np.r_[np.zeros(n, bool), np.ones(n, bool)]
    right = ~unknown & (rng.random(2 * n) < 0.9)
    X = rng.normal(size=(2 * n, len(FEATURES))) + 1.5 * right[:, None]
    sim = {"features": X, "pred": rng.integers(0, 3, 2 * n), "right": right, "unknown_class": unknown,
           "round": np.arange(2 * n) % 4}
    rule = fit_open_set_rule(sim, 3, precision=0.8)
    s = rule["simulated"]
    assert s["known_motifs"] == s["unknown_motifs"] == n and s["unknown_called_unknown"] > 0.7
    assert s["known_accuracy"] <= s["known_accuracy_forced"] and len(rule["thresholds"]) == 3
    sc, ok = accept(X, sim["pred"], rule)
    assert sc.shape == ok.shape == (2 * n,) and ok[right].mean() > ok[unknown].mean()
    with pytest.raises(ValueError, match="precision"):
        fit_open_set_rule(sim, 3, precision=1.0)


@pytest.mark.filterwarnings("ignore:tomtom was given")
def test_open_set_rule_fitted_into_a_checkpoint(tmp_path):
    """fit_reference_model(open_set=True) runs the held-out-class simulation and stores the rule in the checkpoint;
    classify applies it (a flat query is not answered, a planted motif is)."""
    from tfscope.checkpoint import read_config
    from tfscope.tfclass.reference import classify, fit_reference_model, load_reference_model

    ds, pfms = planted_dataset(7)
    model = fit_reference_model(ds, tmp_path / "os", variant="knn-kmer-vote", k=4, progress=lambda m: None,
                                open_set=True)
    rule = read_config(tmp_path / "os")["meta"]["open_set"]
    assert rule["thresholds"] == model.open_set_["thresholds"] and len(rule["thresholds"]) == len(ds.classes)
    sim = rule["simulated"]  # 3 classes: 3 rounds, each motif once of an unknown class
    assert sim["unknown_motifs"] == len(ds) and 0 < sim["known_motifs"] < len(ds)
    assert load_reference_model(ds, tmp_path / "os").open_set_ == rule
    res = classify([pfms[2], np.full((4, 6), 0.25)], ds, model_path=tmp_path / "os")
    assert res["answered"].tolist() == [True, False] and res["right_prob"][0] > res["right_prob"][1]


def test_kmer_row_standardisation_and_profile_correlation():
    from tfscope.tfclass.kmer_profile import KmerLogistic, kmer_profile, kmer_similarity, standardise_rows

    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 16)) * rng.uniform(0.5, 3, size=(5, 1)) + rng.normal(size=(5, 1))
    Z = standardise_rows(X)
    assert np.allclose(Z.mean(1), 0) and np.allclose(Z.std(1), 1)
    assert np.allclose(standardise_rows(np.ones((2, 4))), 0)  # no spread: all zero, no NaN
    # a motif's profile shifted and scaled (a sharper copy of the same preferences) standardises to the same row
    assert np.allclose(standardise_rows(3 * X + 7), Z)
    S = kmer_similarity(X[:2], X)
    assert np.allclose(S, np.corrcoef(X)[:2])
    Sx = kmer_similarity(X, X, exclude_self=True)
    assert np.isneginf(np.diag(Sx)).all() and np.allclose(Sx[0, 1], np.corrcoef(X)[0, 1])
    with pytest.raises(ValueError, match="different widths"):
        kmer_similarity(X, X[:, :8])
    pfms, y = planted_labelled(2)
    P = kmer_profile(pfms, 4)
    km = KmerLogistic(3, k=4, row_standardise=True).fit_profile(P, y)
    assert (km.predict_proba_profile(P).argmax(1) == y).mean() >= 0.9
    assert np.allclose(np.exp(km.log_proba_profile(P)), km.predict_proba_profile(P))


def test_conditional_logit_gradient_shared_weights_and_fit():
    from scipy.optimize import check_grad

    from tfscope.tfclass.combine import clogit_objective, conditional_logit_log_proba, fit_conditional_logit

    rng = np.random.default_rng(1)
    n, M, C, T = 300, 2, 4, 2
    F = rng.normal(size=(n, M, C, T))
    E = np.log(rng.dirichlet(np.ones(C), size=(1, n)))
    beta, gamma, alpha = np.array([[2.0, 0.5], [0.0, 1.0]]), np.array([0.7]), np.array([0.3, 0.0, -0.3, 0.1])
    lp = conditional_logit_log_proba(F, E, beta, gamma, alpha)
    assert np.allclose(np.exp(lp).sum(1), 1)
    # class c's utility depends only on class c's features: raising F[:, :, 0] raises p(class 0) only
    F2 = F.copy()
    F2[:, 0, 0, 0] += 1.0
    d = np.exp(conditional_logit_log_proba(F2, E, beta, gamma, alpha)) - np.exp(lp)
    assert (d[:, 0] > 0).all() and (d[:, 1:] < 0).all()
    y = np.array([rng.choice(C, p=p) for p in np.exp(lp)])
    b, g, a = fit_conditional_logit(F, E, y, lam=1e-4)
    assert np.allclose(b, beta, atol=0.4) and abs(g[0] - gamma[0]) < 0.4
    # the analytic gradient of the objective equals a finite-difference one
    theta = rng.normal(size=M * T + 1 + C) * 0.3
    err = check_grad(lambda t: clogit_objective(t, F, E, y, 0.01)[0], lambda t: clogit_objective(t, F, E, y, 0.01)[1],
                     theta)
    assert err < 1e-5
    with pytest.raises(ValueError, match="do not match"):
        fit_conditional_logit(F, E[:, :10], y)


@pytest.mark.filterwarnings("ignore:tomtom was given")
def test_knn_kmer_clogit_fit_checkpoint_forward_and_classify(tmp_path):
    from tfscope.checkpoint import load_checkpoint
    from tfscope.tfclass.kmer_profile import kmer_profile
    from tfscope.tfclass.knn import METRICS, all_similarities
    from tfscope.tfclass.reference import classify, fit_reference_model, load_reference_model
    from tfscope.tfclass.stack import normalise_similarity

    ds, pfms = planted_dataset(5)
    model = fit_reference_model(ds, tmp_path / "cl", variant="knn-kmer-clogit", k=4, progress=lambda m: None)
    beta, gamma, alpha = model.clogit_
    assert model.combiner == "clogit" and beta.shape == (4, 2) and gamma.shape == (2,) and alpha.shape == (3,)
    assert model.row_standardise and model.kmer_metric and 0 < model.min_confidence_ <= 1
    loaded = load_reference_model(ds, tmp_path / "cl")
    assert loaded.variant == "knn-kmer-clogit" and loaded.combiner == "clogit"
    q = [pfms[1], pfms[12], np.full((4, 6), 0.25)]
    L = np.array([p.shape[1] for p in q])
    sims = [normalise_similarity(s, m, L) for s, m in zip(all_similarities(q, pfms)[0], METRICS)]
    km = kmer_profile(q, 4)
    lp = model.predict_log_proba(sims, km)
    assert np.allclose(loaded.predict_log_proba(sims, km), lp)
    # the checkpoint module's own forward is the conditional logit before the temperature
    net, _ = load_checkpoint(tmp_path / "cl", task="family")
    with torch.no_grad():
        u = net(torch.from_numpy(model.stack.features(model.stack_sims(sims, km))),
                torch.from_numpy(model.kmer._x(km))).numpy()
    z = u / model.temperature_
    assert np.allclose(z - np.log(np.exp(z).sum(1, keepdims=True)), lp, atol=1e-8)
    res = classify(q, ds, model_path=tmp_path / "cl")
    pr = res["proba"]["knn-kmer-clogit"]
    assert res["model"] == "knn-kmer-clogit" and np.allclose(pr.sum(1), 1)
    assert pr[:2].argmax(1).tolist() == [ds.labels[1], ds.labels[12]] and pr[2].max() < pr[0].max()


def test_information_content():
    from tfscope.motif import information_content

    m = np.array([[1.0, 0.25, 0.5], [0.0, 0.25, 0.5], [0.0, 0.25, 0.0], [0.0, 0.25, 0.0]])
    assert np.allclose(information_content(m), [2.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="probability matrix"):
        information_content(np.ones((3, 2)))


@pytest.mark.filterwarnings("ignore:tomtom was given")
def test_knn_kmer_vote_is_the_mean_of_its_parts_and_checkpoints(tmp_path):
    from tfscope.tfclass.kmer_profile import kmer_profile
    from tfscope.tfclass.knn import METRICS, all_similarities
    from tfscope.tfclass.reference import classify, fit_reference_model, load_reference_model, reference_dataset
    from tfscope.tfclass.combine import soft_vote_log_proba
    from tfscope.tfclass.knn_kmer import DEFAULT_MODEL, KnnKmer
    from tfscope.tfclass.stack import normalise_similarity

    assert DEFAULT_MODEL == "knn-kmer-vote"
    ds, pfms = planted_dataset(7)
    model = fit_reference_model(ds, tmp_path / "vote", variant="knn-kmer-vote", k=4, progress=lambda m: None)
    # five stack metrics: 3 column metrics, the gapped- and the ungapped-profile correlation
    assert model.vote and model.gapped_metric and model.clogit_[0].shape == (5, 2)
    assert model.pool_temperature_ > 0 and 0 < model.min_confidence_ <= 1
    q = [pfms[2], pfms[17], np.full((4, 6), 0.25)]
    L = np.array([p.shape[1] for p in q])
    sims = [normalise_similarity(s, m, L) for s, m in zip(all_similarities(q, pfms)[0], METRICS)]
    km, gk = kmer_profile(q, 4), kmer_profile(q, 4, gapped=True)
    parts = model.combiner_log_proba(sims, km, gk)
    p = model.predict_proba(sims, km, gk)
    # the vote is the mean of the calibrated conditional logit's and the calibrated pool's probabilities
    assert np.allclose(p, 0.5 * np.exp(parts["clogit"]) + 0.5 * np.exp(parts["pool"]), atol=1e-12)
    assert np.allclose(p.sum(1), 1) and np.allclose(np.exp(parts["pool"]).sum(1), 1)
    assert np.allclose(soft_vote_log_proba(parts["clogit"], parts["pool"], 0.0), parts["clogit"])
    with pytest.raises(ValueError, match="gapped k-mer profiles"):
        model.predict_proba(sims, km)
    with pytest.raises(ValueError, match="needs combiner"):
        KnnKmer(3, vote=True)  # a vote needs the conditional logit
    # saved and loaded: identical predictions; classify (the CLI's path) reports the vote
    loaded = load_reference_model(ds, tmp_path / "vote")
    assert loaded.variant == "knn-kmer-vote" and loaded.vote and loaded.pool_temperature_ == model.pool_temperature_
    # the reference k-mer profiles come from the checkpoint's reference pack (float16 z-scores): equal to ~1e-5
    assert np.allclose(loaded.predict_proba(sims, km, gk), p, atol=1e-5, rtol=0)
    assert (tmp_path / "vote" / "reference.npz").exists()
    pack_ds = reference_dataset(tmp_path / "vote")  # the reference motifs travel with the checkpoint
    assert pack_ds.ids == ds.ids and pack_ds.classes == ds.classes and all(
        np.array_equal(a, b) for a, b in zip(pack_ds.pfms, ds.pfms))
    res = classify(q, ds, model_path=tmp_path / "vote")
    assert res["model"] == "knn-kmer-vote" and np.allclose(res["proba"]["knn-kmer-vote"], p, atol=1e-5)
    # the known-class detector: fitted with the vote, a probability per query, its threshold in the result
    assert 0 <= res["min_known"] <= 1 and res["known_prob"].shape == (3,) and loaded.novelty_["held_out_auroc"] > 0.5
    chunked = classify(q, ds, model_path=tmp_path / "vote", chunk=1)  # queries scored apart: same numbers
    assert np.allclose(chunked["proba"]["knn-kmer-vote"], res["proba"]["knn-kmer-vote"], atol=1e-12)
    assert np.allclose(chunked["tomtom_p"], res["tomtom_p"]) and np.allclose(chunked["known_prob"], res["known_prob"])
    assert res["min_confidence"] == model.min_confidence_
    assert p[:2].argmax(1).tolist() == [ds.labels[2], ds.labels[17]]


def test_a_bed_given_as_motifs_is_not_a_motif_file(tmp_path):
    """A BED (or any table) passed where a motif file goes says so, naming the file and line (issue 42)."""
    from tfscope.errors import InputError
    from tfscope.resources import resource

    with pytest.raises(InputError, match="not a motif file") as e:
        read_motifs(resource("example_sites"))
    assert e.value.line == 1 and str(e.value).startswith(f"{resource('example_sites')}:1: not a motif file")
