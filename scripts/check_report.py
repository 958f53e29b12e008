"""Open a tfscope HTML report in headless Debian Chromium: screenshot it, check that the track plot is in the
rendered DOM and that the page logged no console errors.

Usage: ``python scripts/check_report.py REPORT.html SCREENSHOT.png`` (needs ``apt-get install chromium``).
Exit code 0 when all checks pass.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


def main() -> int:
    report, shot = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        print("chromium not found: apt-get install chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as prof:
        common = [exe, *FLAGS, f"--user-data-dir={prof}"]
        dom = subprocess.run([*common, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120)
        subprocess.run([*common, f"--screenshot={shot}", "--window-size=1280,2000", report.as_uri()],
                       capture_output=True, text=True, timeout=120)
    console_errors = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln and re.search(r"error", ln, re.I)]
    has_track = 'alt="track plot' in dom.stdout and "data:image/png;base64," in dom.stdout
    ok = has_track and not console_errors and shot.exists() and shot.stat().st_size > 10_000
    print(f"track plot in DOM: {has_track}; console errors: {len(console_errors)}; screenshot: {shot} "
          f"({shot.stat().st_size if shot.exists() else 0} bytes)")
    for ln in console_errors:
        print("  " + ln)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
