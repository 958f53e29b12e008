"""Binding-site calls: one call per binding event, streaming equal to whole-record calling, paralog groups,
per-call confidence (precision map, p-value, BH q-value), selection and group collapse."""

import numpy as np
import pytest

from tfscope.io.bed import BedRecord
from tfscope.io.tracks import CALL_COLUMNS
from tfscope.scan.calls import BG_GRID, CallConfidence, CallSpec, StreamCaller, bh_qvalues, collapse_groups, fill_qvalues, finalize_calls, make_calls, peak_calls, qvalue_map, select_calls


def _track(rng, n=5000):
    """A smooth random track with bumps and plateaus, like a model's output."""
    x = np.convolve(rng.random(n) ** 8, np.ones(9) / 9, mode="same")
    x = np.round(x / x.max(), 2)  # rounding makes plateaus of equal values
    return x.astype(np.float32)


def test_peak_calls_suppress_within_a_site_width_and_keep_width():
    rng = np.random.default_rng(0)
    p = _track(rng)
    for width in (6, 11, 20):
        pos = np.flatnonzero(p >= 0.3)
        calls = peak_calls(pos, p[pos], width, len(p))
        peaks = np.array([c[2] for c in calls])
        assert len(calls) and np.all(np.diff(np.sort(peaks)) >= width)  # one call per site width
        assert all(c[1] - c[0] == width and 0 <= c[0] and c[1] <= len(p) for c in calls)
        assert all(p[c[2]] >= 0.3 for c in calls)
        # every above-threshold nucleotide lies within a site width of a peak at least as high
        for i in pos:
            near = peaks[np.abs(peaks - i) < width]
            assert len(near) and p[near].max() >= p[i]
        # peaks at or above a higher threshold do not depend on the floor the suppression starts from
        hi = [c[2] for c in calls if p[c[2]] >= 0.6]
        pos6 = np.flatnonzero(p >= 0.6)
        assert hi == [c[2] for c in peak_calls(pos6, p[pos6], width, len(p))]


def test_peak_calls_fast_path_equals_the_greedy_loop():
    """Clusters narrower than the suppression distance are called at once (vectorized); the calls equal the greedy
    loop's on every point, with plateaus, ties, sequence ends and any width or suppression distance."""
    from tfscope.scan.calls import _greedy_nms

    rng = np.random.default_rng(0)
    for _ in range(3000):
        length = int(rng.integers(1, 300))
        pos = np.sort(rng.choice(length, int(rng.integers(0, min(length, 80) + 1)), replace=False))
        if rng.random() < 0.5:  # runs of consecutive points: plateaus
            pos = np.unique(np.concatenate([pos, pos + 1, pos + 2]))
            pos = pos[pos < length]
        levels = int(rng.integers(1, 5))
        p = (rng.integers(0, levels, len(pos)) / levels).astype(np.float32) + np.float32(0.1)
        width = int(rng.integers(1, 25))
        sup = None if rng.random() < 0.7 else int(rng.integers(1, 25))
        ref = sorted(_greedy_nms(pos, p, width, length, sup or width, np.arange(len(pos))))
        assert peak_calls(pos, p, width, length, suppress=sup) == ref


def test_calls_near_sequence_ends_keep_the_site_width():
    p = np.zeros(30, np.float32)
    p[[0, 29]] = 0.9
    pos = np.flatnonzero(p > 0.5)
    assert [(a, b) for a, b, *_ in peak_calls(pos, p[pos], 11, 30)] == [(0, 11), (19, 30)]
    assert [(a, b) for a, b, *_ in peak_calls(pos[:1], p[pos[:1]], 11, 5)] == [(0, 5)]  # sequence shorter than a site


def test_stream_caller_equals_whole_record():
    rng = np.random.default_rng(1)
    p = _track(rng, 20_000)
    spec = CallSpec(site_width=13, group="G")
    pos = np.flatnonzero(p >= 0.25)
    whole = make_calls("r", "TF", spec, pos, p[pos], p[pos], p[pos], len(p), symmetric=True)
    sc, got = StreamCaller("r", "TF", spec, True), []
    for start in range(0, len(p), 3000):
        i = pos[(pos >= start) & (pos < start + 3000)]
        sc.add(i, p[i], p[i], p[i])
        end = min(len(p), start + 3000)
        got += sc.finish(len(p)) if end == len(p) else sc.ready(end, end + 13)
    assert [(r.start, r.end, r.extra) for r in got] == [(r.start, r.end, r.extra) for r in whole]


def test_confidence_precision_pvalue_and_qvalues():
    bg = np.array([0.1, 0.2, 0.3, 0.5, 0.9])
    counts = (bg[None, :] >= BG_GRID[:, None]).sum(1).astype(float)
    conf = CallConfidence((np.array([0.2, 0.8]), np.array([0.1, 0.7])), None, counts, len(bg))
    prec, gprec, pv = conf.score(np.array([0.1, 0.5, 0.95]))
    np.testing.assert_allclose(prec, [0.1, 0.4, 0.7])  # clipped at the ends, linear between knots
    assert np.all(gprec == -1)
    # (1 + background peaks >= score) / (1 + background peaks), never below the exact value
    exact = np.array([(1 + (bg >= s).sum()) / 6 for s in (0.1, 0.5, 0.95)])
    assert np.all(pv >= exact - 1e-12) and pv[2] == pytest.approx(1 / 6)
    assert CallConfidence.from_meta(conf.to_meta()).score(np.array([0.5]))[0] == pytest.approx(0.4)
    # Benjamini-Hochberg, compared with the textbook definition
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.5])
    m, order = len(p), np.argsort(p)
    expected = np.empty(m)
    expected[order] = np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1]
    np.testing.assert_allclose(bh_qvalues(p), expected)
    np.testing.assert_allclose(qvalue_map(p)(p), expected)


def _rec(start, name, group, score, peak_p, q=-1):
    ex = [f"{peak_p:.4f}", str(start + 5), f"{score / 1000:.4f}", "0.9000", "0.001", str(q), group,
          f"{name}:{score / 1000:.3f}"]
    return BedRecord("chr1", start, start + 11, name, score, ".", ex)


def test_collapse_groups_and_select():
    recs = [_rec(10, "E2F4", "E2F1/E2F4", 300, 0.7), _rec(12, "E2F1", "E2F1/E2F4", 800, 0.6),
            _rec(14, "KLF4", "KLF4", 500, 0.9), _rec(100, "E2F1", "E2F1/E2F4", 200, 0.5)]
    out = collapse_groups(recs)
    assert [(r.start, r.name) for r in out] == [(12, "E2F1/E2F4"), (14, "KLF4"), (100, "E2F1/E2F4")]
    first = dict(zip(CALL_COLUMNS, out[0].extra))
    assert first["members"] == "E2F1:0.800,E2F4:0.300" and out[0].score == 900  # group precision as score
    assert [r.name for r in select_calls(recs, min_precision=0.4)] == ["E2F1", "KLF4"]
    fill_qvalues(recs, qvalue_map(np.array([0.001] * 4)))
    assert all(r.extra[5] == "0.001" for r in recs)
    assert [r.name for r in select_calls(recs, max_q=0.0001)] == []
    assert len(finalize_calls(recs, collapse="group")) == 3
    with pytest.raises(ValueError, match="collapse"):
        finalize_calls(recs, collapse="tf")


def test_shipped_zoo_has_groups_widths_and_confidence():
    """The default zoo's calls carry the TF's site width, its paralog group and a chr7-calibrated confidence."""
    from tfscope.zoo.registry import load_zoo

    models = {m.name: m for m in load_zoo()}
    groups = {m.call.group for m in models.values()}
    for expected in ("E2F1/E2F4/E2F6/TFDP1", "KLF4/KLF5/SP1/SP2", "NFYA/NFYB/NFYC", "GATA2/GATA3/GATA6"):
        assert expected in groups
    assert models["NFYA"].call.site_width == 18 and models["KLF4"].call.site_width == 11
    for m in models.values():
        c = m.call.confidence
        assert c is not None and c.precision is not None and c.n_background > 1000
        prec, _, pv = c.score(np.array([m.threshold, 0.99]))
        assert 0 <= prec[0] <= prec[1] <= 1 and 0 < pv[1] <= pv[0] <= 1


def test_qvalue_texts_format_each_call():
    from tfscope.scan.calls import qvalue_texts

    rng = np.random.default_rng(0)
    p = np.round(rng.random(500), 3)
    p[::7] = -1  # uncalibrated calls
    qmap = qvalue_map(p)
    assert qvalue_texts(p, qmap) == [f"{q:.3g}" if q >= 0 else "-1" for q in qmap(p)]
    assert qvalue_texts(np.zeros(0), qmap) == []
