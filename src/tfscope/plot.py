"""Figures shared by the reports and commands: binding-map track plots, sequence logos, PNG data URIs.

Every function returns a PNG data URI (``data:image/png;base64,...``) so that figures embed in a single HTML file
(:mod:`tfscope.report.html`) or are decoded to a ``.png`` file by the caller.
"""

from __future__ import annotations

import base64
import html as _html
import io
import warnings

import numpy as np

from .motif import counts_to_probs, information_content


def png_uri(fig) -> str:
    """Close a matplotlib figure and return it as a base64 PNG data URI (110 dpi, tight bounding box)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def track_plot(seq_id: str, length: int, sites, tracks: np.ndarray | None, names: list[str], *,
               chrom: str | None = None, offset: int = 0) -> str:
    """Binding map of one sequence: one lane per TF with calls; probability track (if given) and site boxes.

    ``sites`` are in record coordinates; with ``chrom``/``offset`` (genome coordinates of the record, e.g. from
    :meth:`tfscope.io.coords.GenomeCoords.locate`) the x axis is labelled with genome positions (0-based).

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
                                                          color=cmap(float(s.score) / 1000), ec="k", lw=0.5))
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels(lanes[::-1])
    ax.set_xlim(0, length)
    ax.set_ylim(-0.6, len(lanes) - 0.4)
    if chrom is not None:
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{int(offset + v):,}"))
        ax.set_xlabel(f"{chrom} position (bp, 0-based)")
    else:
        ax.set_xlabel(f"{seq_id} position (bp)")
    ax.set_title(f"TF binding map of {seq_id} (grey: P(binding); bars: called sites, colour = estimated precision)")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=matplotlib.colors.Normalize(0, 1))
    fig.colorbar(sm, ax=ax, pad=0.01, fraction=0.02, label="precision (BED score / 1000)")
    return png_uri(fig)


def allele_track_plot(x_ref: np.ndarray, p_ref: np.ndarray, x_alt: np.ndarray, p_alt: np.ndarray,
                      threshold: float, *, title: str, changed: tuple[float, float], read: tuple[float, float],
                      axis_label: str = "position") -> str:
    """One TF's probability on the REF and the ALT allele of a variant, on the reference axis (a variant view of
    ``tfscope variants --report``).

    Parameters
    ----------
    x_ref, p_ref : positions (e.g. 1-based genome positions) and ``P(binding)`` of the REF sequence
    x_alt, p_alt : the same for the ALT sequence, its positions mapped on the reference axis (inserted bases are
        spread over the position of the change)
    threshold : the model's call threshold (dotted line)
    changed : ``(a, b)`` positions of the changed bases (shaded red)
    read : ``(a, b)`` positions whose highest probability is refP/altP (shaded grey)

    Returns a PNG data URI.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 2.4))
    ax.axvspan(read[0], read[1], color="0.9", lw=0, label="read for refP / altP")
    ax.axvspan(changed[0], changed[1], color="#f4b6b0", lw=0, label="changed bases")
    ax.step(x_ref, p_ref, where="mid", color="#1f5fa8", lw=1.6, label="REF")
    ax.step(x_alt, p_alt, where="mid", color="#e07b00", lw=1.6, ls="--", label="ALT")
    ax.axhline(threshold, color="#d32f2f", ls=":", lw=1, label="call threshold")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(min(x_ref.min(), x_alt.min()), max(x_ref.max(), x_alt.max()))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{int(round(v)):,}"))
    ax.set_xlabel(axis_label)
    ax.set_ylabel("P(binding)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1), fontsize=8, frameon=False)
    return png_uri(fig)


def logo_plot(matrix: np.ndarray, title: str, *, information: bool = True, start: int | None = None,
              highlight: tuple[int, int] | None = None, axis_label: str = "position") -> str:
    """Sequence logo of a ``(4, W)`` PFM (information content) or of ``(4, W)`` attributions; PNG data URI.

    Parameters
    ----------
    matrix : ``(4, W)`` counts/probabilities (``information=True``) or attributions (A, C, G, T rows)
    title : figure title
    start : position of column 0 (0-based, e.g. a genome coordinate): the x axis is then labelled with positions
        (ticks every 5 or 10 bp); without it the axis is bare (a motif)
    highlight : ``(a, b)`` columns ``[a, b)`` shaded (the called site)
    axis_label : x-axis label when ``start`` is given

    Library warnings of logomaker/matplotlib are silenced (they are not the user's business).
    """

    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    m = np.asarray(matrix, dtype=float)
    if information:

        p = counts_to_probs(m, pseudocount=0.25)
        m = p * information_content(p)
    df = pd.DataFrame(m.T, columns=list("ACGT"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig, ax = plt.subplots(figsize=(max(3.0, 0.22 * m.shape[1]), 1.8 if start is not None else 1.6))
        logomaker.Logo(df, ax=ax)
        if highlight is not None:
            ax.axvspan(highlight[0] - 0.5, highlight[1] - 0.5, color="#ffd54f", alpha=0.35, lw=0, zorder=-1)
        ax.set_title(title, fontsize=9)
        if start is None:
            ax.set_xticks([])
        else:
            step = 5 if m.shape[1] <= 40 else 10
            first = (-start) % step
            ticks = np.arange(first, m.shape[1], step)
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{start + t:,}" for t in ticks], fontsize=7)
            ax.set_xlabel(axis_label, fontsize=8)
        return png_uri(fig)


#: letter colours of the SVG logos (logomaker's "classic" scheme)
LOGO_COLOURS = {"A": "#109648", "C": "#255c99", "G": "#f7b32b", "T": "#d62839"}


def logo_svg(matrix: np.ndarray, title: str, *, information: bool = True, start: int | None = None,
             highlight: tuple[int, int] | None = None, axis_label: str = "position", col_width: int = 14,
             height: int = 80) -> str:
    """Sequence logo as inline SVG markup (vector, no matplotlib: about a millisecond per logo, for the HTML report).

    Same input as :func:`logo_plot`: a ``(4, W)`` PFM (``information=True``: letter heights = probability x
    information content, bits; 0-2 axis) or ``(4, W)`` attributions (positive letters stacked above the zero line,
    negative ones below). Each letter is a bold sans-serif glyph scaled to its height (``textLength`` fixes its
    width); the SVG has a ``viewBox`` so CSS ``max-width: 100%`` scales it to the page.

    Parameters
    ----------
    start : position of column 0 (labels of the x axis, ticks every 5 or 10); None: no x axis
    highlight : ``(a, b)``: columns ``[a, b)`` shaded
    col_width, height : column width and plot height in px (before scaling)
    """

    m = np.asarray(matrix, dtype=float)
    if information:

        p = counts_to_probs(m, pseudocount=0.25)
        m = p * information_content(p)
    w = m.shape[1]
    pos = np.clip(m, 0, None).sum(0)
    neg = np.clip(m, None, 0).sum(0)
    top = 2.0 if information else max(float(pos.max()), 1e-9)
    bottom = 0.0 if information else min(float(neg.min()), 0.0)
    if not information and bottom < 0 and top <= 1e-9:
        top = 0.0
    span = max(top - bottom, 1e-9)
    left, title_h, axis_h = 44, 16, (30 if start is not None else 6)
    width = left + w * col_width + 8
    total = title_h + height + axis_h
    scale = height / span
    zero = title_h + top * scale  # y of the zero line
    out = [f'<svg class="logo" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {total}" width="{width}" '
           f'height="{total}" font-family="Arial,Helvetica,\'DejaVu Sans\',sans-serif" role="img">',
           f'<title>{_html.escape(title)}</title>',
           f'<text x="{left}" y="12" font-size="11">{_html.escape(title)}</text>']
    if highlight is not None:
        a, b = max(0, highlight[0]), min(w, highlight[1])
        out.append(f'<rect x="{left + a * col_width}" y="{title_h}" width="{(b - a) * col_width}" height="{height}" '
                   'fill="#ffd54f" fill-opacity="0.35"/>')
    cap = 72.0  # cap height of the glyphs at font-size 100 (about 0.72 em for Arial/DejaVu Sans bold)
    for j in range(w):
        x = left + j * col_width
        for sign in (1, -1):
            vals = [(float(m[i, j]), "ACGT"[i]) for i in range(4) if sign * m[i, j] > 1e-9]
            vals.sort(key=lambda v: abs(v[0]))  # the tallest letter outermost
            y = zero
            for v, letter in vals:
                h = abs(v) * scale
                if h < 0.3:
                    continue
                base = y if sign > 0 else y + h
                out.append(f'<text font-size="100" font-weight="bold" textLength="{col_width * 0.94:.1f}" '
                           f'lengthAdjust="spacingAndGlyphs" fill="{LOGO_COLOURS[letter]}" '
                           f'transform="translate({x + col_width * 0.03:.1f},{base:.2f}) scale(1,{h / cap:.4f})">'
                           f'{letter}</text>')
                y = y - h if sign > 0 else y + h
    # axes
    out.append(f'<line x1="{left - 2}" y1="{title_h}" x2="{left - 2}" y2="{title_h + height}" stroke="#333"/>')
    out.append(f'<line x1="{left - 2}" y1="{zero:.2f}" x2="{left + w * col_width}" y2="{zero:.2f}" stroke="#999" '
               'stroke-width="0.6"/>')
    ticks = [0.0, 1.0, 2.0] if information else sorted({round(top, 2), 0.0, round(bottom, 2)})
    for t in ticks:
        y = zero - t * scale
        out.append(f'<text x="{left - 5}" y="{y + 3:.1f}" font-size="9" text-anchor="end">{t:g}</text>')
    out.append(f'<text x="10" y="{title_h + height / 2:.0f}" font-size="9" text-anchor="middle" '
               f'transform="rotate(-90 10 {title_h + height / 2:.0f})">{"bits" if information else "attr."}</text>')
    if start is not None:
        step = 5 if w <= 40 else 10
        for t in range((-start) % step, w, step):
            x = left + (t + 0.5) * col_width
            out.append(f'<line x1="{x:.1f}" y1="{title_h + height}" x2="{x:.1f}" y2="{title_h + height + 4}" '
                       'stroke="#333"/>')
            out.append(f'<text x="{x:.1f}" y="{title_h + height + 14}" font-size="9" text-anchor="middle">'
                       f'{start + t:,}</text>')
        out.append(f'<text x="{left + w * col_width / 2:.0f}" y="{total - 2}" font-size="9" text-anchor="middle">'
                   f'{_html.escape(axis_label)}</text>')
    out.append("</svg>")
    return "".join(out)
