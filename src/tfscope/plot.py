"""Figures shared by the reports and commands: binding-map track plots, sequence logos, PNG data URIs.

Every function returns a PNG data URI (``data:image/png;base64,...``) so that figures embed in a single HTML file
(:mod:`tfscope.report.html`) or are decoded to a ``.png`` file by the caller.
"""

from __future__ import annotations

import base64
import io

import numpy as np


def png_uri(fig) -> str:
    """Close a matplotlib figure and return it as a base64 PNG data URI (110 dpi, tight bounding box)."""
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
    import warnings

    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    m = np.asarray(matrix, dtype=float)
    if information:
        from .motif import counts_to_probs, information_content

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
