#!/usr/bin/env bash
# Renders an allocmeter report in headless Chromium (Debian's chromium, installed when missing)
# and saves the page as screenshots a person can look at: OUT-01.png, OUT-02.png, ... each one
# screen high, the blank end of the page cut off. A check that the page shows what it should.
set -euo pipefail

usage="usage: scripts/report-screenshot.sh REPORT.html [OUT-PREFIX] (default: REPORT without .html, e.g. report-01.png)"
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "$usage" >&2; exit 2; }
report=$1
[ -f "$report" ] || { echo "report-screenshot: $report: no such file; write one with 'allocmeter report results/latest'" >&2; exit 2; }
prefix=${2:-${report%.html}}
here=$(cd "$(dirname "$0")" && pwd)
"$here/install-deps.sh" chromium

full=$(mktemp --suffix=.png)
trap 'rm -f "$full"' EXIT
# Tall enough for a full default run's report; what is below the page's end is cut off below.
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,30000 \
  --screenshot="$full" "file://$(realpath "$report")" 2>/dev/null
/usr/bin/python3 - "$full" "$prefix" <<'PY'
import sys
import matplotlib.image as image
import numpy as np

page = image.imread(sys.argv[1])[:, :, :3]
inked = np.where((page < 0.98).any(axis=(1, 2)))[0]
end = min(page.shape[0], int(inked.max()) + 24) if inked.size else 0
if end == 0:
    sys.exit("report-screenshot: the page rendered blank")
if end >= page.shape[0] - 24:
    print("report-screenshot: the page may go on below 30000 px; only that much is shown", file=sys.stderr)
screen = 1800
for i, top in enumerate(range(0, end, screen), 1):
    out = f"{sys.argv[2]}-{i:02d}.png"
    image.imsave(out, page[top:min(top + screen, end)])
    print(out)
PY
