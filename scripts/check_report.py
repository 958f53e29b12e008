"""Open a tfscope HTML report in headless Debian Chromium and check it as a reader would see it.

Checks: the igv.js genome browser is created and holds its tracks (the sequence, the calls, the probability
lanes, and the known sites when the report has them), a sortable table sorts on a header click, the static
overview plot is there, and the page logs no console errors or uncaught exceptions; then saves a screenshot.

How: a copy of the report gets a small probe script at the top of ``<head>`` (it records ``console.error`` calls
and uncaught errors from the first moment, waits for the browser, reads its tracks, clicks a table header and
checks the order) and is loaded with ``--dump-dom``; the probe's JSON result is read back from the DOM. Chromium's
own ``CONSOLE`` log lines (``--enable-logging=stderr``) are counted as well. The screenshot is of the unmodified
report.

Usage: ``python scripts/check_report.py REPORT.html SCREENSHOT.png`` (needs ``apt-get install chromium``).
Exit code 0 when all checks pass, 1 when one fails, 2 without Chromium.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000"]

PROBE = """<script>
(function () {
  var R = {errors: [], tracks: [], sorted: null, igv: false};
  var ce = console.error;
  console.error = function () {
    R.errors.push(Array.prototype.join.call(arguments, ' ')); ce.apply(console, arguments); };
  window.addEventListener('error', function (e) { R.errors.push('uncaught: ' + e.message); });
  window.addEventListener('unhandledrejection', function (e) { R.errors.push('unhandled rejection: ' + e.reason); });
  function cellValues(table, col) { return Array.prototype.map.call(table.tBodies[0].rows, function (r) {
    var c = r.cells[col], v = c.getAttribute('data-v'); return v === null ? c.textContent : parseFloat(v); }); }
  function finish() {
    var b = window.tfscopeBrowser;
    R.igv = !!b;
    if (b) R.tracks = b.trackViews.map(function (tv) { return tv.track.type + ':' + (tv.track.name || ''); });
    var table = document.querySelector('table.sortable');
    if (table && table.tBodies[0].rows.length > 1) {
      var ths = table.querySelectorAll('th'), col = 0;
      ths.forEach(function (th, i) { if (th.textContent === 'score') col = i; });
      ths[col].click();
      var v = cellValues(table, col), asc = v.every(function (x, i) { return i === 0 || v[i - 1] <= x; });
      ths[col].click();
      var w = cellValues(table, col), desc = w.every(function (x, i) { return i === 0 || w[i - 1] >= x; });
      R.sorted = asc && desc;
    }
    var pre = document.createElement('pre'); pre.id = 'tfscope-check'; pre.textContent = JSON.stringify(R);
    document.body.appendChild(pre);
  }
  var tries = 0;
  function wait() { if ((document.body && document.body.getAttribute('data-igv') === 'ready') || ++tries > 150)
                      setTimeout(finish, 300); else setTimeout(wait, 100); }
  window.addEventListener('load', wait);
})();
</script>"""


def check(report: Path, shot: Path) -> tuple[bool, str]:
    """Run the checks on ``report``; returns ``(ok, one-line summary + details)``."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        raise FileNotFoundError("chromium not found: apt-get install chromium")
    html = report.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        probed = Path(tmp) / "probed.html"
        probed.write_text(html.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
        common = [exe, *FLAGS, f"--user-data-dir={tmp}/profile"]
        dom = subprocess.run([*common, "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=180)
        subprocess.run([*common, f"--screenshot={shot}", "--window-size=1300,1700", report.as_uri()],
                       capture_output=True, text=True, timeout=180)
    m = re.search(r'<pre id="tfscope-check">(.*?)</pre>', dom.stdout, re.S)
    res = json.loads(m.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")) if m else {}
    chrome_console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln and re.search(r"error", ln, re.I)]
    errors = res.get("errors", []) + chrome_console
    tracks = res.get("tracks", [])
    names = [t.split(":", 1)[1] for t in tracks]
    expect_known = '"name":"known sites"' in html
    checks = {
        "igv browser created": bool(res.get("igv")),
        "sequence track": any(t.startswith("sequence:") for t in tracks),
        "calls track": "tfscope calls" in names,
        "probability lanes": any(t.startswith("wig:") for t in tracks),
        "known sites track": ("known sites" in names) or not expect_known,
        "table sorts": res.get("sorted") is not False,
        "static overview": 'alt="track plot' in html,
        "no console errors": not errors,
        "screenshot": shot.exists() and shot.stat().st_size > 10_000,
    }
    ok = all(checks.values())
    lines = [f"igv tracks: {', '.join(names) or '-'}; known sites: {'known sites' in names}; table sorted: "
             f"{res.get('sorted')}; console errors: {len(errors)}; screenshot: {shot} "
             f"({shot.stat().st_size if shot.exists() else 0} bytes)"]
    lines += [f"  FAILED: {k}" for k, v in checks.items() if not v]
    lines += ["  " + e for e in errors]
    if not m:
        lines.append("  the probe wrote no result (page did not load?)")
    return ok, "\n".join(lines)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    report, shot = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    try:
        ok, text = check(report, shot)
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
