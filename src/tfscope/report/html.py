"""Self-contained HTML report of a scan: TF binding map, site table, JASPAR logos, attributions, model metrics.

All figures are drawn with matplotlib/logomaker and embedded as base64 PNG, so the single HTML file opens
anywhere without network access.
"""

from __future__ import annotations

import base64
import html
import io
import math

import numpy as np

from ..io.atomic import atomic_write


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def track_plot(seq_id: str, length: int, sites, tracks: np.ndarray | None, names: list[str]) -> str:
    """Binding map of one sequence: one lane per TF with calls; probability track (if given) and site boxes.

    Returns a PNG data URI.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    called = sorted({s.name for s in sites if s.chrom == seq_id})
    lanes = called or ["(no calls)"]
    fig, ax = plt.subplots(figsize=(11, 0.45 * len(lanes) + 1.2))
    cmap = plt.get_cmap("viridis")
    for i, tf in enumerate(lanes):
        y = len(lanes) - 1 - i
        if tracks is not None and tf in names:
            p = tracks[names.index(tf)]
            ax.fill_between(np.arange(length), y - 0.15, y - 0.15 + 0.55 * p, color="0.6", step="mid", lw=0)
        for s in sites:
            if s.chrom == seq_id and s.name == tf:
                ax.add_patch(matplotlib.patches.Rectangle((s.start, y - 0.42), s.end - s.start, 0.22,
                                                          color=cmap(float(s.score)), ec="k", lw=0.5))
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels(lanes[::-1])
    ax.set_xlim(0, length)
    ax.set_ylim(-0.6, len(lanes) - 0.4)
    ax.set_xlabel(f"{seq_id} position (bp)")
    ax.set_title(f"TF binding map of {seq_id} (grey: P(binding); bars: called sites, colour = mean P)")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=matplotlib.colors.Normalize(0, 1))
    fig.colorbar(sm, ax=ax, pad=0.01, fraction=0.02, label="P")
    return _png(fig)


def logo_plot(matrix: np.ndarray, title: str, *, information: bool = True) -> str:
    """Sequence logo of a ``(4, W)`` PFM (information content) or of ``(4, W)`` attributions; PNG data URI."""
    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    m = np.asarray(matrix, dtype=float)
    if information:
        p = (m + 0.25) / (m + 0.25).sum(0, keepdims=True)
        ic = 2 + (p * np.log2(p)).sum(0)
        m = p * ic
    df = pd.DataFrame(m.T, columns=list("ACGT"))
    fig, ax = plt.subplots(figsize=(max(3.0, 0.28 * m.shape[1]), 1.6))
    logomaker.Logo(df, ax=ax)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    return _png(fig)


def _table(rows: list[dict], cols: list[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return "-" if math.isnan(v) else f"{v:.3f}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


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
             f"{len(sites)} called site(s). Probabilities are per nucleotide (max of both strands).</p>",
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
