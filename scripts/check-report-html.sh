#!/usr/bin/env bash
# Checks that a `chimera run` report.html renders offline in headless Chromium with its charts:
#   scripts/check-report-html.sh OUT/<timestamp>/report.html [screenshot.png] [min-interval-charts]
# 1. the file is self-contained (no scripts, no external stylesheets, images or links);
# 2. Chromium (Debian's `chromium` package) loads it with the network disabled and the DOM it built
#    holds the inline SVG charts, among them the per-arm means with 95% CI bars (figures of class
#    "interval", at least 2 by default: the third argument, for pages such as `chimera agents`'s);
# 3. a screenshot is taken and its pixels contain the charts' series colours (#0072B2 and #E69F00,
#    the first two series), so the charts were really drawn, not just present in the source.
# Exit 0 when all hold; 1 with a message naming the failed check; 77 when Chromium is not installed.
set -euo pipefail

html=${1:?usage: check-report-html.sh REPORT.html [SCREENSHOT.png]}
[[ -f "$html" ]] || { echo "check-report-html: $html does not exist" >&2; exit 1; }
html=$(realpath "$html")
shot=${2:-$(mktemp --suffix=.png)}
min_intervals=${3:-2}

browser=""
for candidate in chromium chromium-browser google-chrome; do
  if command -v "$candidate" >/dev/null 2>&1; then browser=$candidate; break; fi
done
if [[ -z "$browser" ]]; then
  echo "check-report-html: no Chromium found; install it with: apt-get install chromium" >&2
  exit 77
fi

# 1. Self-contained: nothing a browser would fetch or run.
for banned in '<script' '<link' '<iframe' '<img' 'src=' '@import' 'url(' 'href="http'; do
  if grep -qiF -- "$banned" "$html"; then
    echo "check-report-html: $html is not self-contained: it contains '$banned'" >&2
    exit 1
  fi
done

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run
       --user-data-dir="$profile" --proxy-server=127.0.0.1:9 --proxy-bypass-list='<-loopback>'
       --disable-background-networking --disable-component-update --disable-sync --disable-quic
       --window-size=1100,1000)

# 2. The DOM after loading, with every network request sent to a closed port.
dom=$(timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$html" 2>/dev/null)
svgs=$( (grep -o '<svg ' <<<"$dom" || true) | wc -l)
if (( svgs < 2 )); then
  echo "check-report-html: Chromium's DOM holds $svgs inline SVG charts; expected at least 2" >&2
  exit 1
fi
intervals=$( (grep -o '<figure class="interval' <<<"$dom" || true) | wc -l)  # none is a count of 0
if (( intervals < min_intervals )); then
  echo "check-report-html: Chromium's DOM holds $intervals interval charts (means with CI bars);" \
       "expected at least $min_intervals (chimera run: decode tok/s and TTFT per arm)" >&2
  exit 1
fi

# 3. A screenshot of the top of the page (the charts come first), and the series colours in its pixels.
timeout 120 "$browser" "${flags[@]}" --screenshot="$shot" "file://$html" >/dev/null 2>&1
[[ -s "$shot" ]] || { echo "check-report-html: Chromium wrote no screenshot" >&2; exit 1; }
python3 - "$shot" <<'PY'
import struct, sys, zlib

def pixels(path):
    data = open(path, 'rb').read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    pos, idat, width = 8, b'', 0
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b'IHDR':
            width, height, depth, colour, _, _, interlace = struct.unpack('>IIBBBBB', body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, 'unsupported PNG layout'
            channels = 3 if colour == 2 else 4
        elif kind == b'IDAT':
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * channels
    previous, out, i = bytearray(stride), [], 0
    for _ in range(height):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = previous[x]
            c = previous[x - channels] if x >= channels else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.append(bytes(line))
        previous = line
    return width, height, channels, out

width, height, channels, rows = pixels(sys.argv[1])
wanted = {'#0072B2': (0, 114, 178), '#E69F00': (230, 159, 0)}
# Exact colour triples (legend swatches and point markers are drawn unblended); bytes.count runs in C.
found = {name: sum(row.count(bytes(colour)) for row in rows) for name, colour in wanted.items()}
missing = [name for name, n in found.items() if n < 50]
if missing:
    sys.exit(f'check-report-html: the screenshot ({width}x{height}) lacks the chart colours {missing}: '
             f'the charts did not render')
print(f'check-report-html: ok: {width}x{height} screenshot, chart pixels {found}')
PY
echo "check-report-html: $html renders offline with $svgs charts ($intervals with CI bars); screenshot $shot"
