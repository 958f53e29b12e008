"""The HTML page of ``tfscope variants --report``: the strongest effects, each with its REF and ALT probability
tracks and attribution logos, and a sortable table of the strongest rows.

One self-contained, offline file (the style and sortable tables of :mod:`tfscope.report.html`; no genome browser:
each view is a few hundred bases). A *view* re-scores one (variant, TF) pair exactly as
:class:`tfscope.variants.score.VariantScorer` did (the same REF and ALT windows, both strands combined), so its
tracks reach the row's refP and altP; the logos are attributions (:func:`tfscope.interpret.attribute`,
ShiftSmooth by default) of the TF's output at one nucleotide, the same site on both alleles: the peak of the
allele with the higher probability, mapped onto the other allele through the reference axis.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from ..interpret import attribute
from ..plot import allele_track_plot, logo_svg
from ..report.html import write_page
from ..report.table import html_table
from ..sequence import one_hot
from .read import Variant
from .score import changed_bases

#: bases on each side of the read span in a view's track
TRACK_FLANK = 40
#: bases on each side of the attributed site in a view's logos
LOGO_FLANK = 12
#: columns of the report's table (docs/variants.md documents each)
TABLE_COLUMNS = ["chrom", "pos", "id", "ref", "alt", "kind", "TF", "group", "effect", "refP", "altP", "delta",
                 "log2FC", "refPrecision", "altPrecision", "pValue", "qValue", "siteOffset", "areaDelta", "pwmRef",
                 "pwmAlt"]


class AlleleAxis:
    """Index maps between a variant's REF and ALT windows (:meth:`VariantScorer.windows`): both start at the same
    genome base; bases before the change keep their index, bases after it shift by ``len(ALT) - len(REF)``, and
    changed bases are spread linearly over the other allele's changed span.

    Parameters
    ----------
    start : index of the variant's first REF base in both windows (the scorer's flank)
    ref, alt : the alleles
    """

    def __init__(self, start: int, ref: str, alt: str):
        p, re_, ae = changed_bases(ref, alt)
        self.c0, self.r1, self.a1 = start + p, start + re_, start + ae

    def _map(self, i, end_from: int, end_to: int):
        i = np.asarray(i, dtype=float)
        span_from, span_to = max(end_from - self.c0, 1), max(end_to - self.c0, 0)
        inside = self.c0 + (i - self.c0) * span_to / span_from
        return np.where(i < self.c0, i, np.where(i >= end_from, i - end_from + end_to, inside))

    def alt_to_ref(self, i):
        """Reference-axis position (float) of ALT index ``i``."""
        return self._map(i, self.a1, self.r1)

    def ref_to_alt(self, i):
        """ALT-axis position (float) of REF index ``i``."""
        return self._map(i, self.r1, self.a1)


def variant_view(scorer, genome, row, *, method: str = "shiftsmooth") -> dict:
    """Tracks and attribution logos of one (variant, TF) row.

    Parameters
    ----------
    scorer : the :class:`tfscope.variants.score.VariantScorer` that scored the row
    genome : its :class:`tfscope.variants.read.Genome`
    row : a row of the effects table (``chrom``, ``pos`` 1-based, ``ref``, ``alt``, ``id``, ``TF``)
    method : attribution method of :func:`tfscope.interpret.attribute`

    Returns
    -------
    dict with ``track`` (PNG data URI), ``logos`` (two inline SVGs, REF then ALT), ``flat`` (no attribution above
    1e-6: a saturated or closed gate gives no gradient) and ``refP``/``altP`` as the view recomputed them.

    Raises
    ------
    KeyError
        ``row["TF"]`` is not one of the scorer's models.
    """
    names = [m.name for m in scorer.models]
    j = names.index(row["TF"])
    m = scorer.models[j]
    w = int(scorer.widths[j])
    v = Variant(str(row["chrom"]), int(row["pos"]), str(row["ref"]), str(row["alt"]), str(row["id"]))
    ref_seq, alt_seq, rc, ac = scorer.windows(genome, v)
    P = scorer.probabilities([ref_seq, alt_seq])[:, j]  # (2, L)
    p_ref, p_alt = P[0, :len(ref_seq)], P[1, :len(alt_seq)]
    axis = AlleleAxis(scorer.flank, v.ref, v.alt)
    read_ref = (max(0, rc[0] - w + 1), rc[1] + w - 1)
    read_alt = (max(0, ac[0] - w + 1), ac[1] + w - 1)
    ref_peak = read_ref[0] + int(np.argmax(p_ref[read_ref[0]:read_ref[1]]))
    alt_peak = read_alt[0] + int(np.argmax(p_alt[read_alt[0]:read_alt[1]]))
    ref_best, alt_best = float(p_ref[ref_peak]), float(p_alt[alt_peak])
    if alt_best > ref_best:  # one site on both alleles: the stronger allele's peak
        t_alt, t_ref = alt_peak, int(round(float(axis.alt_to_ref(alt_peak))))
    else:
        t_ref, t_alt = ref_peak, int(round(float(axis.ref_to_alt(ref_peak))))
    t_ref, t_alt = min(max(t_ref, 0), len(ref_seq) - 1), min(max(t_alt, 0), len(alt_seq) - 1)
    g0 = v.pos - scorer.flank  # 1-based genome position of window index 0
    lo, hi = max(0, read_ref[0] - TRACK_FLANK), min(len(ref_seq), read_ref[1] + TRACK_FLANK)
    xa = axis.alt_to_ref(np.arange(len(alt_seq)))
    keep = (xa >= lo) & (xa < hi)
    chrom = genome.resolve(v.chrom) or v.chrom
    track = allele_track_plot(
        np.arange(lo, hi) + g0, p_ref[lo:hi], xa[keep] + g0, p_alt[keep], float(m.threshold),
        title=f"{m.name} at {chrom}:{v.pos} {v.ref}>{v.alt}: refP {ref_best:.3f}, altP {alt_best:.3f}",
        changed=(axis.c0 + g0 - 0.5, max(axis.r1, axis.c0 + 1) + g0 - 0.5),
        read=(read_ref[0] + g0 - 0.5, read_ref[1] + g0 - 0.5), axis_label=f"{chrom} position (1-based, REF axis)")
    logos, flat = [], True
    net = m.single_output()
    for label, seq, t, (c0, c1) in (("REF", ref_seq, t_ref, (axis.c0, axis.r1)),
                                    ("ALT", alt_seq, t_alt, (axis.c0, axis.a1))):
        attr = attribute(net, one_hot([seq]), method=method, target=t)[0]
        a = max(0, t - w // 2 - LOGO_FLANK)
        b = min(len(seq), t - w // 2 + w + LOGO_FLANK)
        flat &= not np.abs(attr[:, a:b]).max() > 1e-6
        same_axis = len(v.ref) == len(v.alt) or label == "REF"
        logos.append(logo_svg(attr[:, a:b], f"{label} allele: {m.name} {method} attributions",
                              information=False, start=(g0 + a) if same_axis else None,
                              highlight=(c0 - a, max(c1, c0 + 1) - a) if c1 > c0 or label == "REF" else None,
                              axis_label=f"{chrom} position"))
    return {"track": track, "logos": logos, "flat": flat, "refP": ref_best, "altP": alt_best}


def _rows(df: pd.DataFrame) -> list[dict]:
    out = []
    for r in df.to_dict("records"):
        out.append({c: (float(r[c]) if c in ("refP", "altP", "delta", "log2FC", "refPrecision", "altPrecision",
                                             "pValue", "qValue", "areaDelta", "pwmRef", "pwmAlt") else r[c])
                    for c in TABLE_COLUMNS if c in r})
        for c in ("refPrecision", "altPrecision", "pValue", "qValue"):
            if out[-1].get(c) == -1:
                out[-1][c] = float("nan")
    return out


def write_variant_report(path, *, rows: pd.DataFrame, scorer, genome, n_views: int = 6, summary: dict | None = None,
                         title: str = "tfscope variants", method: str = "shiftsmooth", outputs=None) -> None:
    """Write the variant page atomically (one self-contained, offline HTML file).

    Parameters
    ----------
    path : the HTML file
    rows : the effects rows to show, strongest first (:func:`tfscope.variants.run.strongest_effects`; at most
        :data:`tfscope.variants.run.REPORT_ROWS`)
    scorer, genome : the :class:`tfscope.variants.score.VariantScorer` and genome of the run (the views re-score)
    n_views : views (tracks and logos) for the first ``n_views`` rows
    summary : the run summary of :func:`tfscope.variants.run.variants_to_files` (counts on the page), optional
    title, method, outputs : page title, attribution method, :class:`tfscope.io.atomic.Outputs` to stage the file in
    """
    s = summary or {}
    eff = s.get("effects", {})
    skipped = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in s.get("skipped", {}).items()) or "none"
    n_tf = len(scorer.models)
    parts = [f"<h1>{html.escape(title)}</h1>",
             "<div class=lede><p><b>What this page shows.</b> tfscope scored "
             f"{s.get('variants_scored', '?')} variant allele(s) for {n_tf} TF model(s): for each, the highest "
             "probability that a binding site of the TF covers a base near the variant, on the reference allele "
             "(<i>refP</i>) and on the alternative allele (<i>altP</i>). A <b>loss</b> is a site called on REF "
             "(refP at or above the model's threshold) and not on ALT; a <b>gain</b> the reverse: "
             f"<b>{eff.get('loss', 0)} loss</b> and <b>{eff.get('gain', 0)} gain</b> here "
             f"(skipped: {html.escape(skipped)}).</p>"
             "<p><b>How to read it.</b> Each view below shows one TF at one variant: its probability along the "
             "reference axis on both alleles (grey band: the bases whose highest probability is refP/altP; red "
             "band: the changed bases; dotted line: the call threshold), then the attributions of the model's "
             "output at the same site on each allele (letters above the line push the probability up; the "
             "changed bases are shaded). <i>refPrecision</i>/<i>altPrecision</i>: the chance, measured on held-out "
             "chromosome 7, that a call at that probability is a real site of the TF. <i>pValue</i>: how unusual "
             "the change is against random SNVs in genome background; <i>qValue</i>: Benjamini-Hochberg over this "
             "run. <i>areaDelta</i>: the change of the TF's summed probability within 50 bp of the variant, the column "
             "that best tells variants that change binding from those that do not (docs/variants.md). Positions are "
             "1-based (VCF). Every column is explained in docs/variants.md.</p></div>"]
    shown = rows.head(max(0, n_views))
    if len(shown):
        parts.append(f"<h2>The {len(shown)} strongest effect(s)</h2>"
                     "<p>Gains and losses first, then by the size of the change (|delta|).</p>")
    for r in shown.to_dict("records"):
        view = variant_view(scorer, genome, r, method=method)
        head = f"{r['TF']}: {r['chrom']}:{r['pos']} {r['ref']}>{r['alt']}"
        vid = f" ({html.escape(str(r['id']))})" if str(r["id"]) not in (".", "") else ""
        parts += [f"<h3>{html.escape(head)}{vid}: {html.escape(str(r['effect']))}</h3>",
                  html_table(_rows(pd.DataFrame([r])), [c for c in TABLE_COLUMNS if c not in
                                                        ("chrom", "pos", "id", "ref", "alt", "TF")], sortable=False),
                  f'<img class="track" alt="REF and ALT tracks of {html.escape(head)}" src="{view["track"]}">',
                  "<div class=attr>" + "".join(view["logos"]) + "</div>"]
        if view["flat"]:
            parts.append("<p><i>Flat: no single base changes this model's forward-strand output here (a gated "
                         "model whose gate is saturated or closed on this strand gives no gradient).</i></p>")
    parts += [f"<h2>Strongest rows ({len(rows):,})</h2>",
              "<p>The written rows with the largest effects (gains and losses first, then |delta|); the TSV has "
              "every written row. Click a column header to sort.</p>",
              "<div class=scroll>" + html_table(_rows(rows), [c for c in TABLE_COLUMNS if c in rows.columns])
              + "</div>"]
    write_page(path, title, parts, None, outputs)
