"""Self-contained HTML report of a scan: TF binding map, site table, JASPAR logos, attributions, model metrics.

All figures are drawn with matplotlib/logomaker and embedded as base64 PNG, so the single HTML file opens
anywhere without network access.
"""

from __future__ import annotations

import html
import math

from ..io.atomic import atomic_write
from ..plot import logo_plot, track_plot


def _table(rows: list[dict], cols: list[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return "-" if math.isnan(v) else f"{v:.3f}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _strand_rules(models) -> str:
    """How the report's models combine the two strands, in words (:func:`tfscope.snr.scan.combine_strands`)."""
    words = {"max": "the higher of the two strands", "mean": "the mean of the two strands",
             "inside": "inside the model (gated zoo: detector strands averaged, localizer strands' maximum; calls "
                       "carry no strand)"}

    def rule(m):
        return "inside" if m.strand_symmetric else m.strands

    rules = sorted({rule(m) for m in models})
    return "; ".join(words[r] for r in rules) if len(rules) == 1 else \
        "; ".join(f"{words[r]} for {', '.join(m.name for m in models if rule(m) == r)}" for r in rules)


def write_report(path, *, sequences: dict[str, str], sites, tracks: dict, models, model_rows: list[dict] | None = None,
                 n_attributions: int = 4, attribution_method: str = "shiftsmooth", title: str = "tfscope scan") -> None:
    """Write the HTML report atomically.

    Parameters
    ----------
    sequences : dict id -> DNA
    sites : list of BedRecord from :func:`tfscope.snr.scan.scan`
    tracks : dict id -> ``(T, S)`` probabilities (may be empty)
    models : list of :class:`tfscope.snr.scan.ScanModel` (attributions of the strongest calls use them)
    model_rows : rows of :func:`tfscope.snr.zoo.list_zoo` (test metrics), optional
    n_attributions : number of strongest calls shown with attribution tracks
    """
    from ..interpret import attribute
    from ..io.jaspar import jaspar_motif, motif_pfm
    from ..sequence import one_hot

    names = [m.name for m in models]
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p>{len(sequences)} sequence(s), {sum(map(len, sequences.values()))} bp, {len(models)} TF model(s), "
             f"{len(sites)} called site(s). Probabilities are per nucleotide, both strands combined "
             f"({_strand_rules(models)}).</p>",
             "<h2>Binding map</h2>"]
    for sid, seq in sequences.items():
        parts.append(f'<img class="track" alt="track plot {html.escape(sid)}" '
                     f'src="{track_plot(sid, len(seq), sites, tracks.get(sid), names)}">')
    rows = [{"sequence": s.chrom, "start": s.start, "end": s.end, "TF": s.name, "mean P": float(s.score),
             "peak P": float(s.extra[0]) if s.extra else float("nan"), "strand": s.strand,
             "site": sequences[s.chrom][s.start:s.end]} for s in sites]
    parts += ["<h2>Called sites</h2>", _table(rows, ["sequence", "start", "end", "TF", "mean P", "peak P", "strand",
                                                    "site"])]
    called = sorted({s.name for s in sites})
    if called:
        parts.append("<h2>JASPAR motifs of the called TFs</h2><div class='logos'>")
        for tf in called:
            try:
                m = jaspar_motif(tf)
                parts.append(f'<img alt="logo {tf}" src="{logo_plot(motif_pfm(m), f"{tf} {m.matrix_id}")}">')
            except Exception as e:  # a TF without a JASPAR matrix still gets a report
                parts.append(f"<p>{html.escape(tf)}: no JASPAR motif ({html.escape(str(e))})</p>")
        parts.append("</div>")
    strongest = sorted(sites, key=lambda s: -float(s.score))[:n_attributions]
    if strongest:
        parts.append(f"<h2>Attributions of the strongest calls ({html.escape(attribution_method)})</h2>")
        by_name = {m.name: m for m in models}
        for s in strongest:
            m = by_name[s.name]
            seq = sequences[s.chrom]
            center = (s.start + s.end) // 2
            a = max(0, min(len(seq) - m.window, center - m.window // 2))
            win = seq[a:a + m.window]
            x = one_hot([win], length=m.window)
            target = min(center - a, m.window - 1)
            attr = attribute(m.single_output(), x, method=attribution_method, target=target)[0]
            parts.append(f'<img alt="attribution {s.name}" src="'
                         f'{logo_plot(attr, f"{s.name} {s.chrom}:{a}-{a + m.window} (site {s.start}-{s.end})", information=False)}">')
    if model_rows:
        parts += ["<h2>Models: what a call means, and test metrics (BertSNR benchmark split)</h2>",
                  "<p>A site is called where a model's probability reaches its threshold. <i>call precision</i> / "
                  "<i>call recall</i>: on held-out real genome windows (chr7 of the tfbs-multilabel set, scanned "
                  "like this sequence), the share of windows with a call that held a ChIP-seq-supported JASPAR "
                  "site of the TF, and the share of such windows that were called. Sites of other TFs with the same "
                  "motif count as false calls there, so precision is a floor for 'a site of this motif family'.</p>",
                  _table(model_rows, ["TF", "model", "jaspar_id", "tf_class", "threshold", "call_precision",
                                      "call_recall", "nt_auprc", "nt_auroc", "seq_auroc"])]
    css = ("body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;font-size:12px}"
           "td,th{border:1px solid #ccc;padding:2px 6px}img.track{display:block;max-width:100%;margin:6px 0}"
           ".logos img{margin:4px}")
    doc = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{css}</style></head><body>{''.join(parts)}</body></html>")
    with atomic_write(path) as fh:
        fh.write(doc)
