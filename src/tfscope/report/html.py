"""Self-contained HTML report of a scan: an igv.js genome browser (probability tracks, calls, known sites,
sequence), a static overview for printing, a sortable sites table, known-site recall, JASPAR logos, attributions of
the strongest calls, and what each model's call means. :func:`write_motif_report` is the page of an any-TF scan
(``tfscope scan --motifs``), grouped by evidence level.

One HTML file, offline: igv.js (3.1.4, MIT, vendored in ``tfscope/resources/igv``; see the README there) is inlined
in a ``<script>`` element, the browser's data (tracks as run-length features, the sequence as a gzipped FASTA data
URI) is inlined as JSON, the overview plots (matplotlib) are base64 PNGs and the logos inline SVG
(:func:`tfscope.plot.logo_svg`). No network access is needed to
open it; igv's default genome list is switched off (``loadDefaultGenomes: false``).

Coordinates: with :class:`tfscope.io.coords.GenomeCoords` (``tfscope scan --parse-genomic-coord``) the browser,
the tables and the logo axes are in genome coordinates; otherwise in record coordinates (the record id is the
browser's chromosome, ``:`` replaced by ``_`` so igv does not read it as a region).
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import math
import re

import numpy as np

from ..interpret import attribute
from ..io.atomic import atomic_write
from ..io.coords import REGION_HEADER
from ..io.jaspar import jaspar_motif, motif_pfm
from ..io.tracks import CALL_COLUMNS, value_runs
from ..plot import logo_svg, track_plot
from ..resources import resource
from ..scan.frame import COLUMNS as CALL_AND_MOTIF_COLUMNS, TEXT_COLUMNS
from ..scan.known import known_recall
from ..sequence import one_hot
from .table import html_table, inert

#: the default number of strongest calls (by score) whose attribution logos the report computes
N_ATTRIBUTIONS = 4
#: flanking bases shown on each side of a site in its attribution logo
LOGO_FLANK = 15
#: decimals of the probability tracks in the browser (runs of equal rounded value become one feature)
TRACK_DIGITS = 2
#: at most this many track features (runs) are inlined for the browser, about 30 bytes each; lanes past it are
#: left out and named on the page (a report of a long scan: load the bigWigs of ``--tracks bigwig`` instead)
MAX_TRACK_FEATURES = 1_000_000

_SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.title = 'click to sort'; th.style.cursor = 'pointer';
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute('data-dir') !== 'asc';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-dir'); });
      th.setAttribute('data-dir', asc ? 'asc' : 'desc');
      function key(r) { var c = r.cells[col], v = c.getAttribute('data-v'); if (v === null) v = c.textContent;
                        var n = parseFloat(v); return isNaN(n) || !/^-?[0-9.eE+-]+$/.test(v.trim()) ? v : n; }
      rows.sort(function (a, b) { var x = key(a), y = key(b);
        if (typeof x === typeof y) return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
        return (typeof x === 'number' ? -1 : 1) * (asc ? 1 : -1); });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

_IGV_JS = """
(function () {
  var D = JSON.parse(document.getElementById('tfscope-data').textContent);
  function feats(rows, keys) { return rows.map(function (r) { var f = {chr: D.chroms[r[0]]};
    keys.forEach(function (k, i) { f[k] = r[i + 1]; }); return f; }); }
  var tracks = [];
  D.annotations.forEach(function (a) {
    tracks.push({name: a.name, type: 'annotation', format: 'bed', displayMode: 'EXPANDED', color: a.color,
                 height: 60, autoHeight: true, minHeight: 30, maxHeight: 240,
                 features: feats(a.rows, ['start', 'end', 'name', 'score', 'strand']), order: tracks.length});
  });
  D.tracks.forEach(function (t) {
    tracks.push({name: t.name + ' P', type: 'wig', autoscale: false, min: 0, max: 1, height: 38, color: t.color,
                 guideLines: [{color: '#d32f2f', dotted: true, y: t.threshold}],
                 features: feats(t.rows, ['start', 'end', 'value']), order: tracks.length});
  });
  var opts = {reference: {id: 'tfscope', name: D.reference_name, fastaURL: D.fasta, indexed: false},
              locus: D.locus, tracks: tracks, loadDefaultGenomes: false, showCenterGuide: false,
              showCursorGuide: true};
  window.tfscopeBrowser = null;
  igv.createBrowser(document.getElementById('igv-div'), opts).then(function (b) {
    window.tfscopeBrowser = b;
    window.dispatchEvent(new Event('resize'));
    document.body.setAttribute('data-igv', 'ready');
  });
  document.querySelectorAll('[data-locus]').forEach(function (el) {
    el.addEventListener('click', function (ev) {
      if (window.tfscopeBrowser) { window.tfscopeBrowser.search(el.getAttribute('data-locus'));
        document.getElementById('browser').scrollIntoView(); }
    });
  });
})();
"""

_CSS = ("body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1250px;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;font-size:12px;margin:6px 0}td,th{border:1px solid #ccc;padding:2px 6px}"
        "th{background:#f3f3f3;position:sticky;top:0}th[data-dir=asc]::after{content:' \\25B2'}"
        "th[data-dir=desc]::after{content:' \\25BC'}tr[data-locus]{cursor:pointer}"
        "tr[data-locus]:hover{background:#eef5ff}"
        "img,svg.logo{max-width:100%;height:auto}img.track{display:block;margin:6px 0}.logos svg{margin:4px}"
        ".attr svg{display:block;margin:8px 0}#igv-div{border:1px solid #ccc;min-height:300px}"
        ".lede{background:#f7f9fc;border-left:4px solid #3f6fb5;padding:.6em 1em}.found{color:#1b7a1b}"
        ".missed{color:#b3261e}.regions a{margin-right:1em;cursor:pointer;color:#1a56a6}"
        ".scroll{max-height:480px;overflow:auto}"
        "@media print{#browser-section{display:none}.scroll{max-height:none}}")

_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]


#: characters that make markup (replaced in chromosome names shown by igv.js)
_MARKUP = re.compile(r"[<>&\"'`]")


def _strand_rules(models) -> str:
    """How the report's models combine the two strands, in words (:func:`tfscope.scan.engine.combine_strands`)."""
    words = {"max": "the higher of the two strands", "mean": "the mean of the two strands",
             "inside": "inside the model (gated zoo: detector strands averaged, localizer strands' maximum; each "
                       "call's strand comes from its TF's JASPAR matrix)"}

    def rule(m):
        return "inside" if m.strand_symmetric else m.strands

    rules = sorted({rule(m) for m in models})
    return "; ".join(words[r] for r in rules) if len(rules) == 1 else \
        "; ".join(f"{words[r]} for {', '.join(m.name for m in models if rule(m) == r)}" for r in rules)


class _Frame:
    """Record -> display coordinates of the report (genome with ``coords``, else record coordinates)."""

    def __init__(self, sequences: dict[str, str], coords=None):
        self.coords = coords
        self.sequences = sequences
        self.chroms: list[str] = []

    def locate(self, sid: str) -> tuple[str, int]:
        """``(chrom, offset)`` of record ``sid`` as the page shows it; characters that are markup (or, in record
        coordinates, ``:``) become ``_``, so a record id from a FASTA header cannot become HTML in igv.js."""
        if self.coords is not None:
            chrom, off = self.coords.locate(sid)
            return _MARKUP.sub("_", chrom), off
        return _MARKUP.sub("_", sid.replace(":", "_")), 0

    def chrom_index(self, chrom: str) -> int:
        if chrom not in self.chroms:
            self.chroms.append(chrom)
        return self.chroms.index(chrom)

    def locus(self, sid: str, start: int, end: int, pad: int = 0) -> str:
        """igv locus string (1-based inclusive) of ``[start, end)`` in record ``sid``, widened by ``pad``."""
        chrom, off = self.locate(sid)
        a = max(0, start - pad)
        b = min(len(self.sequences[sid]), end + pad)
        return f"{chrom}:{off + a + 1}-{off + b}"

    def fasta_uri(self) -> str:
        """The scanned sequences as a gzipped FASTA data URI whose headers place them (igv's ``chr:from-to``
        segments, 1-based, with ``@len=`` the chromosome length)."""
        sizes = self.coords.chrom_sizes() if self.coords is not None else {}
        lines = []
        for sid, seq in self.sequences.items():
            chrom, off = self.locate(sid)
            self.chrom_index(chrom)
            size = sizes.get(chrom, off + len(seq))
            head = f">{chrom}:{off + 1}-{off + len(seq)} @len={size}" if self.coords is not None else f">{chrom}"
            lines.append(head + "\n" + seq + "\n")
        data = gzip.compress("".join(lines).encode(), mtime=0)
        return "data:application/gzip;base64," + base64.b64encode(data).decode()


#: call columns the sites table leaves to the BED (or shows in its own place): q-values do not separate calls in
#: regulatory DNA (docs/cli.md, "Which number to filter on")
LEFT_TO_THE_BED = ("group", "members", "site", "pValue", "qValue")


def _call_columns(calls) -> list[str]:
    """The :data:`CALL_COLUMNS` the calls carry (peak P always; others where some call knows a value)."""
    present = []
    for i, c in enumerate(CALL_COLUMNS):
        vals = [r.extra[i] for r in calls if len(r.extra) > i]
        if vals and (c == "peakP" or any(v not in ("-1", "", ".") for v in map(str, vals))):
            present.append(c)
    return present


def _num(v):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return v
    return float("nan") if x == -1 else x


def _strongest_first(calls) -> list:
    """The calls by decreasing BED score (a score that is not a number counts as 0)."""
    return sorted(calls, key=lambda s: -(_num(s.score) if not isinstance(_num(s.score), str) else 0))


def _site_rows(calls, frame: _Frame, sequences, chr7_precision: dict, cols: list[str]) -> list[dict]:
    """Table rows of calls: BED fields, the forward-strand site, and the call columns ``cols`` (an any-TF call's
    ``evidence`` and ``matrixId`` too, :data:`tfscope.scan.frame.COLUMNS`)."""
    rows = []
    for s in calls:
        chrom, off = frame.locate(s.chrom)
        extra = dict(zip(CALL_AND_MOTIF_COLUMNS, s.extra))
        row = {"chrom": chrom, "start": s.start + off, "end": s.end + off, "TF": s.name, "score": int(s.score),
               "strand": s.strand, "site": sequences[s.chrom][s.start:s.end],
               "TF chr7 precision": chr7_precision.get(s.name, float("nan")),
               "_locus": frame.locus(s.chrom, s.start, s.end, pad=40)}
        if frame.coords is not None:
            row["record"] = s.chrom
        for c in cols:
            v = extra.get(c, "")
            row[c] = (int(v) + off if v not in ("", "-1") else "-") if c == "peak" else \
                v if c in TEXT_COLUMNS else _num(v)
        rows.append(row)
    return rows


def _browser_data(frame: _Frame, sequences, sites, tracks, models, known, other_calls, *,
                  lanes: dict | None = None) -> tuple[dict, list[str]]:
    """The JSON the igv page script reads, and the TFs left without a probability track.

    ``lanes`` (``{label: calls}``) replaces the calls lane and ``other_calls`` by one lane per label (an any-TF
    scan's evidence levels).
    """

    names = [m.name for m in models]
    fasta = frame.fasta_uri()

    def rows_of(calls):
        out = []
        for s in calls:
            chrom, off = frame.locate(s.chrom)
            score = _num(s.score)
            out.append([frame.chrom_index(chrom), s.start + off, s.end + off, inert(s.name),
                        0 if isinstance(score, str) or math.isnan(score) else score, inert(s.strand)])
        return out

    if lanes is not None:
        annotations = [{"name": inert(label), "color": _COLOURS[j % len(_COLOURS)], "rows": rows_of(calls)}
                       for j, (label, calls) in enumerate(lanes.items())]
    else:
        annotations = [{"name": "tfscope calls", "color": "#3f6fb5", "rows": rows_of(sites)}]
        for label, calls in (other_calls or {}).items():
            calls = calls[0] if isinstance(calls, tuple) else calls
            annotations.append({"name": inert(label), "color": "#8e44ad", "rows": rows_of(calls)})
    if known:
        annotations.append({"name": "known sites", "color": "#1b7a1b", "rows": rows_of(known)})
    wanted = list(dict.fromkeys([s.name for s in sites] + [k.name for k in known or []]
                                + [s.name for c in (other_calls or {}).values()
                                   for s in (c[0] if isinstance(c, tuple) else c)]))
    shown = [n for n in names if n in wanted] if tracks else []
    if tracks and not shown:  # nothing called: the five TFs with the highest peaks
        peak = {n: max(float(t[i].max()) for t in tracks.values()) for i, n in enumerate(names)}
        shown = sorted(names, key=lambda n: -peak[n])[:5]
    track_data, n_features = [], 0
    for j, n in enumerate(shown):
        i = names.index(n)
        rows = []
        for sid, t in tracks.items():
            chrom, off = frame.locate(sid)
            ci = frame.chrom_index(chrom)
            a, b, v = value_runs(np.round(t[i], TRACK_DIGITS))
            rows += [[ci, int(x) + off, int(y) + off, float(z)] for x, y, z in zip(a, b, v)]
        n_features += len(rows)
        if n_features > MAX_TRACK_FEATURES:
            break
        track_data.append({"name": inert(n), "threshold": float(models[i].threshold),
                           "color": _COLOURS[j % len(_COLOURS)], "rows": rows})
    shown = shown[:len(track_data)]
    first = next(iter(sequences))
    data = {"chroms": frame.chroms, "fasta": fasta, "reference_name": "scanned sequences",
            "locus": frame.locus(first, 0, len(sequences[first])), "annotations": annotations, "tracks": track_data}
    return data, [n for n in names if n not in shown]


def _igv_script() -> str:
    js = resource("igv_js").read_text(encoding="utf-8")
    return "\n".join(ln for ln in js.splitlines() if not ln.startswith("//# sourceMappingURL"))


def _known_section(known, sites, other_calls, frame: _Frame, sequences, models) -> list[str]:
    sets = {"tfscope calls": (sites, [m.name for m in models]),
            **{label: v if isinstance(v, tuple) else (v, None) for label, v in (other_calls or {}).items()}}
    results = {label: known_recall(known, calls, tfs) for label, (calls, tfs) in sets.items()}
    parts = ["<h2>Known sites: found and missed</h2>",
             "<p>A known site is <span class=found>found</span> when a call of the same TF overlaps it by at least "
             "one base, and found <i>by its group</i> when a call of a TF of its paralog group does (the calls' "
             "<code>group</code> column; shown only when the calls carry it).</p>"]
    summary = []
    for label, r in results.items():
        row = {"calls": label, "known sites": r["known"], "found by TF": r["found"],
               "recall": r["found"] / max(r["known"], 1)}
        if r["by_group"] is not None:
            row["found by group"] = r["found_group"]
        row["by TF"] = "; ".join(f"{x['TF']} {x['found']}/{x['known']}" for x in r["by_tf"])
        summary.append(row)
    cols = ["calls", "known sites", "found by TF", "recall"] + (
        ["found by group"] if any("found by group" in r for r in summary) else []) + ["by TF"]
    parts.append(html_table(summary, cols, sortable=False))
    rows = []
    for i, k in enumerate(known):
        chrom, off = frame.locate(k.chrom)
        row = {"chrom": chrom, "start": k.start + off, "end": k.end + off, "TF": k.name,
               "site": sequences[k.chrom][k.start:k.end], "_locus": frame.locus(k.chrom, k.start, k.end, pad=40)}
        for label, r in results.items():
            if r["per_site"][i] is None:
                row[label] = "not scanned"
                continue
            f_tf, f_gr, over = r["per_site"][i]
            row[label] = ("found" if f_tf else "group" if f_gr else "missed") + (
                f" ({', '.join(over)})" if over and not f_tf else "")
        rows.append(row)
    labels = list(results)
    parts.append(html_table(rows, ["chrom", "start", "end", "TF", *labels, "site"], locus_key="_locus",
                        classes={lb: (lambda r, lb=lb: "found" if r[lb].startswith("found") else
                                              "" if r[lb] == "not scanned" else "missed")
                                 for lb in labels}))
    return parts


def write_report(path, *, sequences: dict[str, str], sites, tracks: dict, models, model_rows: list[dict] | None = None,
                 n_attributions: int = N_ATTRIBUTIONS, attribution_method: str = "shiftsmooth",
                 title: str = "tfscope scan", coords=None, known=None, other_calls: dict | None = None,
                 verbose: bool = False, outputs=None) -> None:
    """Write the HTML report atomically (one self-contained, offline file).

    Names (TFs, record ids, known-site names) are data: the page escapes them, and those handed to igv.js, which
    renders track and feature names as HTML, are escaped before (:func:`_inert`).

    Parameters
    ----------
    sequences : dict id -> DNA (the scanned records)
    sites : list of :class:`tfscope.io.bed.BedRecord` calls (record coordinates; ``extra`` = the
        :data:`tfscope.io.tracks.CALL_COLUMNS` the caller provides, read defensively)
    tracks : dict id -> ``(T, L)`` probabilities of the scan (reused, not recomputed; may be empty)
    models : list of :class:`tfscope.scan.engine.ScanModel` (names, thresholds; attributions use them)
    model_rows : rows of :func:`tfscope.zoo.registry.list_zoo` (chr7 call precision and test metrics), optional
    n_attributions : attribution logos for the ``n`` strongest calls by score (default :data:`N_ATTRIBUTIONS`;
        each costs a few model passes over one window: the only model work the report does)
    attribution_method : ``gradient``, ``integrated_gradients`` or ``shiftsmooth`` (:func:`tfscope.interpret.attribute`)
    title : page title
    coords : :class:`tfscope.io.coords.GenomeCoords` to show genome coordinates, optional
    known : known sites in record coordinates (:func:`tfscope.scan.known.read_known`), optional: a browser track,
        and the found/missed table with recall by TF (and by paralog group)
    other_calls : ``{label: calls}`` or ``{label: (calls, TFs scanned)}`` of other models over the same records
        (e.g. the demo's freshly trained models), optional: one browser track each, and their recall of the known
        sites (of the TFs scanned, when given)
    verbose : progress bar over the attributions
    outputs : :class:`tfscope.io.atomic.Outputs`, optional: the file is renamed into place at its commit (with the
        run's other outputs)
    """
    from tqdm.auto import tqdm

    frame = _Frame(sequences, coords)
    names = [m.name for m in models]
    tracks = tracks or {}
    chr7 = {r["TF"]: float(r["call_precision"]) for r in model_rows or [] if r.get("call_precision") not in (None, "")}
    n_bp = sum(map(len, sequences.values()))
    where = ("genome coordinates (from the FASTA headers)" if coords is not None else
             "positions within each sequence (0-based, as in BED)")
    parts = [f"<h1>{html.escape(title)}</h1>",
             "<div class=lede><p><b>What this page shows.</b> tfscope read "
             f"{len(sequences)} DNA sequence(s) ({n_bp:,} bp) and asked {len(models)} transcription-factor (TF) "
             "model(s), at every base, how likely it is that a binding site of their TF covers it. Where that "
             "probability reaches a model's threshold, tfscope <i>calls</i> a site: "
             f"<b>{len(sites)} call(s)</b> here. Positions are {where}.</p>"
             "<p><b>How to read it.</b> The genome browser below is zoomable (drag on the ruler, use +/-, or type a "
             "position in the box): one lane per TF with its probability (0 to 1; the dotted red line is the call "
             "threshold), the calls" + (", the known sites" if known else "") +
             ", and the DNA sequence when zoomed in. Click a row of a table to go there; click a column header to "
             "sort. A call's <i>TF chr7 precision</i> is the share of that model's calls on held-out chromosome 7 "
             "that held a real (ChIP-seq-supported) site of the TF: how far to trust a call of this TF.</p></div>"]
    if coords is None and any(REGION_HEADER.match(sid) for sid in sequences):
        parts.append("<p><b>Note:</b> the FASTA headers look like genome positions (<code>chrom:start-end</code>); "
                     "scan with <code>--parse-genomic-coord</code> to see this page, and the BED and tracks, in genome "
                     "coordinates.</p>")
    parts.append(f"<p>Strands: probabilities combine both strands ({html.escape(_strand_rules(models))}).</p>")
    # genome browser
    data, hidden = _browser_data(frame, sequences, sites, tracks, models, known, other_calls)
    links = "".join(f'<a data-locus="{html.escape(frame.locus(sid, 0, len(seq)))}">'
                    f'{html.escape(frame.locus(sid, 0, len(seq)))}</a>' for sid, seq in sequences.items())
    parts += ["<section id=browser-section><h2 id=browser>Genome browser</h2>",
              f"<p class=regions>Scanned regions: {links}</p>", "<div id=igv-div></div>",
              (f"<p>Probability lanes are shown for the TFs with calls{' or known sites' if known else ''}; "
               f"{len(hidden)} other TF(s) are left out (without calls, or past the page's track budget of "
               f"{MAX_TRACK_FEATURES:,} features: {html.escape(', '.join(hidden))}).</p>"
               if hidden else "") + "</section>"]
    # static overview (for printing)
    if tracks:
        parts.append("<h2>Overview (static, for printing)</h2>")
        for sid, seq in sequences.items():
            where = dict(zip(("chrom", "offset"), coords.locate(sid))) if coords is not None else {}
            parts.append(f'<img class="track" alt="track plot {html.escape(sid)}" '
                         f'src="{track_plot(sid, len(seq), sites, tracks.get(sid), names, **where)}">')
    # sites
    cols = _call_columns(sites)
    rows = _site_rows(sites, frame, sequences, chr7, cols)
    show = (["record"] if coords is not None else []) + ["chrom", "start", "end", "TF"] + \
        (["group"] if "group" in cols else []) + ["score"] + [c for c in cols if c not in LEFT_TO_THE_BED] + \
        ["TF chr7 precision", "strand", "site"] + (["members"] if "members" in cols else [])
    parts += ["<h2>Called sites</h2>",
              "<p>BED coordinates (start 0-based, end exclusive). <i>score</i>: the BED score; <i>peakP</i>: the "
              "highest probability inside the call; <i>precision</i> / <i>groupPrecision</i>: the estimated chance "
              "that the call is a real site of its TF / of its paralog group, where the model is calibrated: "
              "filter and rank on it. <i>strand</i>, <i>site</i>: the TF's JASPAR matrix aligned in the call, as "
              "FIMO reports them (. for a palindromic matrix). The BED also holds each peak's p- and q-value "
              "against genome background without sites of the TF's group; nearly every call in regulatory DNA "
              "passes them (all 120 calls on the bundled regions have q &le; 0.05), so they do not rank calls "
              "and are not shown here.</p>",
              "<div class=scroll>" + html_table(rows, show, locus_key="_locus") + "</div>"]
    if known:
        parts += _known_section(known, sites, other_calls, frame, sequences, models)
    # JASPAR logos
    called = sorted({s.name for s in sites})
    if called:
        parts.append("<h2>JASPAR motifs of the called TFs</h2><div class='logos'>")
        own_pfm = {m.name: getattr(m.model, "pfm", None) for m in models}
        for tf in called:
            if own_pfm.get(tf) is not None:  # a PWM model (tfscope scan --protein): the matrix it scanned with
                parts.append(logo_svg(np.asarray(own_pfm[tf], dtype=float), tf))
                continue
            try:
                m = jaspar_motif(tf)
                parts.append(logo_svg(motif_pfm(m), f"{tf} {m.matrix_id}"))
            except Exception as e:  # a TF without a JASPAR matrix still gets a report
                parts.append(f"<p>{html.escape(tf)}: no JASPAR motif ({html.escape(str(e))})</p>")
        parts.append("</div>")
    # attributions of the strongest calls
    strongest = _strongest_first(sites)[:max(0, n_attributions)]
    if strongest:
        parts.append(f"<h2>Why the model called the {len(strongest)} strongest site(s) "
                     f"({html.escape(attribution_method)} attributions)</h2>"
                     "<p>Each base's contribution to the model's output at the centre of the call (letters above the "
                     "line pushed the probability up); the called site is shaded, positions are "
                     + ("genome positions (1-based, as in the browser)" if coords is not None else
                        "1-based within the sequence") + "."
                     f" Only the {len(strongest)} strongest calls by score are explained (<code>--attributions N"
                     "</code>).</p><div class=attr>")
        by_name = {m.name: m for m in models}
        for s in tqdm(strongest, desc="report: attributions", disable=None if verbose else True):
            m = by_name[s.name]
            seq = sequences[s.chrom]
            center = (s.start + s.end) // 2
            a = max(0, min(len(seq) - m.window, center - m.window // 2))
            x = one_hot([seq[a:a + m.window]], length=m.window)
            target = min(center - a, m.window - 1)
            attr = attribute(m.single_output(), x, method=attribution_method, target=target)[0]
            lo = max(0, s.start - LOGO_FLANK - a)
            hi = min(attr.shape[1], s.end + LOGO_FLANK - a, len(seq) - a)
            chrom, off = frame.locate(s.chrom)
            parts.append(logo_svg(attr[:, lo:hi], f"{s.name} call {chrom}:{off + s.start + 1}-{off + s.end}",
                                  information=False, start=off + a + lo + 1,
                                  highlight=(s.start - a - lo, s.end - a - lo), axis_label=f"{chrom} position"))
            if not np.abs(attr[:, lo:hi]).max() > 1e-6:
                parts.append("<p><i>Flat: no single base changes this model's forward-strand output here (a gated "
                             "model whose gate is saturated or closed on this strand gives no gradient).</i></p>")
        parts.append("</div>")
    if model_rows and any(r.get("evidence") for r in model_rows):
        parts += ["<h2>Models: where each matrix comes from</h2>",
                  "<p>PWM models of JASPAR matrices inferred from a protein's DNA-binding domains (<code>tfscope scan "
                  "--protein</code>): <i>evidence</i> names the reference TF whose DBD is highly similar, the DBD "
                  "family and identity, and the rule that accepted it. A call is a window whose PWM score reaches "
                  "the p-value threshold (<i>threshold</i>: as a relative score); these calls are not calibrated on "
                  "genome windows (no precision).</p>",
                  "<div class=scroll>" + html_table(model_rows, ["TF", "model", "jaspar_id", "tf_class", "threshold",
                                                             "evidence"]) + "</div>"]
    elif model_rows:
        parts += ["<h2>Models: what a call means, and test metrics (BertSNR benchmark split)</h2>",
                  "<p>A site is called where a model's probability reaches its threshold. <i>call precision</i> / "
                  "<i>call recall</i>: on held-out real genome windows (chr7 of the tfbs-multilabel set, scanned "
                  "like this sequence), the share of windows with a call that held a ChIP-seq-supported JASPAR "
                  "site of the TF, and the share of such windows that were called. Sites of other TFs with the same "
                  "motif count as false calls there, so precision is a floor for 'a site of this motif family'.</p>",
                  "<div class=scroll>" + html_table(model_rows, ["TF", "model", "jaspar_id", "tf_class", "threshold",
                                                             "call_precision", "call_recall", "nt_auprc", "nt_auroc",
                                                             "seq_auroc"]) + "</div>"]
    write_page(path, title, parts, data, outputs)


def write_page(path, title: str, parts: list[str], data: dict | None, outputs=None) -> None:
    """Write the report page around the HTML ``parts`` atomically: the report's style, sortable tables and, with
    browser ``data`` (:func:`_browser_data`), the inlined igv.js genome browser (``data=None``: a page without
    one).
    """
    scripts = f"<script>{_SORT_JS}</script>"
    if data is not None:
        payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
        scripts = (f"<script type='application/json' id='tfscope-data'>{payload}</script>"
                   f"<script>{_igv_script()}</script><script>{_SORT_JS}{_IGV_JS}</script>")
    doc = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{_CSS}</style></head><body>"
           f"{''.join(parts)}{scripts}</body></html>")
    with atomic_write(path, outputs=outputs) as fh:
        fh.write(doc)


#: evidence levels of an any-TF scan, in the order the motif report shows them, with what a call's precision means
EVIDENCE_MEANING = {
    "trained": "the TF is one of the zoo's 45: its trained model called the site; <i>precision</i> is that model's "
               "chr7 call calibration",
    "motif-conditioned": "the motif-conditioned network rescored the matrix's PWM hit; <i>precision</i> is what it "
                         "achieved on chr7 for TFs left out of its training (leave-group-out)",
    "pwm": "the PWM floor: a FIMO hit of the matrix; <i>precision</i> is what such hits achieved on chr7 for matrices "
           "of the same information content",
}
#: rows per evidence level in the motif report's tables (the strongest by score; the BED has every call)
MOTIF_TABLE_ROWS = 2_000


def write_motif_report(path, *, sequences: dict[str, str], sites, motifs: dict, source: str, coords=None, known=None,
                       title: str = "tfscope scan --motifs", outputs=None) -> None:
    """Write the HTML report of an any-TF scan (``tfscope scan --motifs ... --report``), grouped by evidence.

    One self-contained, offline file like :func:`write_report`: the evidence levels with their calls and what their
    precision means, an igv.js browser with one lane of calls per evidence level (and the known sites), one sortable
    table per level (its :data:`MOTIF_TABLE_ROWS` strongest calls by score), and the logos of the called matrices.

    Parameters
    ----------
    sequences : dict id -> DNA (the scanned records)
    sites : calls of :func:`tfscope.anytf.scan.scan_motifs` (record coordinates; ``extra`` = the call columns then
        ``evidence`` and ``matrixId``)
    motifs : ``{matrix ID: (4, W) probability matrix}`` of the called matrices (their logos)
    source : what was scanned (``jaspar`` or the motif file), for the page's text
    coords, known, title, outputs : as :func:`write_report`
    """
    frame = _Frame(sequences, coords)
    n_call = len(CALL_COLUMNS)
    by_ev: dict[str, list] = {e: [] for e in EVIDENCE_MEANING}
    for s in sites:
        by_ev.setdefault(s.extra[n_call] if len(s.extra) > n_call else "?", []).append(s)
    n_bp = sum(map(len, sequences.values()))
    where = ("genome coordinates (from the FASTA headers)" if coords is not None else
             "positions within each sequence (0-based, as in BED)")
    summary = [{"evidence": e, "calls": len(c), "TFs called": len({s.name for s in c}),
                "matrices called": len({s.extra[n_call + 1] for s in c})}
               for e, c in by_ev.items()]
    parts = [f"<h1>{html.escape(title)}</h1>",
             "<div class=lede><p><b>What this page shows.</b> tfscope read "
             f"{len(sequences)} DNA sequence(s) ({n_bp:,} bp) and scanned them with every matrix of "
             f"<code>{html.escape(source)}</code>: <b>{len(sites)} call(s)</b> of "
             f"{len({s.name for s in sites})} TF(s). Each call says who made it (its <i>evidence</i>), and its "
             f"<i>precision</i> is the chance, measured on held-out chromosome 7, that such a call is a real site of "
             f"the TF. Positions are {where}.</p>"
             "<p><b>How to read it.</b> The genome browser below is zoomable (drag on the ruler, use +/-, or type a "
             "position in the box): one lane of calls per evidence level" + (", the known sites" if known else "")
             + ", and the DNA sequence when zoomed in. Click a row of a table to go there; click a column header to "
             "sort.</p></div>",
             "<h2>Evidence levels</h2>",
             "<ul>" + "".join(f"<li><b>{html.escape(e)}</b>: {m}</li>" for e, m in EVIDENCE_MEANING.items()) + "</ul>",
             html_table(summary, ["evidence", "calls", "TFs called", "matrices called"], sortable=False)]
    if coords is None and any(REGION_HEADER.match(sid) for sid in sequences):
        parts.append("<p><b>Note:</b> the FASTA headers look like genome positions (<code>chrom:start-end</code>); "
                     "scan with <code>--parse-genomic-coord</code> to see this page, and the BED, in genome "
                     "coordinates.</p>")
    lanes = {f"{e} calls": c for e, c in by_ev.items() if c}
    data, _ = _browser_data(frame, sequences, [], {}, [], known, None, lanes=lanes)
    links = "".join(f'<a data-locus="{html.escape(frame.locus(sid, 0, len(seq)))}">'
                    f'{html.escape(frame.locus(sid, 0, len(seq)))}</a>' for sid, seq in sequences.items())
    parts += ["<section id=browser-section><h2 id=browser>Genome browser</h2>",
              f"<p class=regions>Scanned regions: {links}</p>", "<div id=igv-div></div></section>"]
    cols = ["precision", "pValue", "qValue"]
    for e, calls in by_ev.items():
        if not calls:
            continue
        rows = _site_rows(_strongest_first(calls)[:MOTIF_TABLE_ROWS], frame, sequences, {},
                          [*cols, "site", "matrixId"])
        more = (f" The {MOTIF_TABLE_ROWS:,} strongest by score are listed; the BED has all {len(calls):,}."
                if len(calls) > MOTIF_TABLE_ROWS else "")
        parts += [f"<h2>Calls: {html.escape(e)} ({len(calls):,})</h2>",
                  f"<p>{EVIDENCE_MEANING.get(e, '')}. BED coordinates (start 0-based, end exclusive); <i>site</i>: the "
                  f"matched sequence on the call's strand.{more}</p>",
                  "<div class=scroll>" + html_table(rows, (["record"] if coords is not None else [])
                                                    + ["chrom", "start", "end", "TF", "matrixId", "score", *cols,
                                                       "strand", "site"], locus_key="_locus") + "</div>"]
    called = sorted({s.extra[n_call + 1]: s.name for s in sites if len(s.extra) > n_call + 1}.items(),
                    key=lambda kv: (kv[1], kv[0]))
    shown = [(mid, name) for mid, name in called if mid in motifs][:60]
    if shown:
        parts.append(f"<h2>Matrices of the called TFs ({len(shown)} of {len(called)})</h2><div class='logos'>")
        parts += [logo_svg(np.asarray(motifs[mid], dtype=float), f"{name} {mid}") for mid, name in shown]
        parts.append("</div>")
    write_page(path, title, parts, data, outputs)
