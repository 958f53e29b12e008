"""HTML tables of the report: cells escaped, numbers formatted, sortable columns, rows that move the browser."""

from __future__ import annotations

import html
import math


def inert(name) -> str:
    """A name handed to igv.js, which renders track and feature names as HTML (``innerHTML``): escaped, so it shows
    as text and never runs as markup."""
    return html.escape(str(name), quote=True)


def fmt(v) -> str:
    """Return a table cell's text: floats to 3 significant digits (``-`` for NaN), anything else escaped."""
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.3g}" if abs(v) < 1e-3 and v != 0 else f"{v:.3f}"
    return html.escape(str(v))


def html_table(rows: list[dict], cols: list[str], *, sortable: bool = True, locus_key: str | None = None,
           classes: dict | None = None) -> str:
    """Return an HTML table of ``rows`` with columns ``cols``.

    ``sortable`` tables sort on a header click (inline JS), rows with ``locus_key`` jump the browser there on a click;
    ``classes`` maps a column to a function of the row giving a CSS class.
    """
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        loc = f' data-locus="{html.escape(r[locus_key])}"' if locus_key and r.get(locus_key) else ""
        cells = []
        for c in cols:
            v = r.get(c, "")
            cls = f' class="{classes[c](r)}"' if classes and c in classes else ""
            num = f' data-v="{v}"' if isinstance(v, (int, float)) and not isinstance(v, bool) and not (
                isinstance(v, float) and math.isnan(v)) else ""
            cells.append(f"<td{cls}{num}>{fmt(v)}</td>")
        body.append(f"<tr{loc}>{''.join(cells)}</tr>")
    return (f"<table{' class=sortable' if sortable else ''}><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")
