#!/usr/bin/env bash
# `xdnn fairness` end to end on carData::Arrests (skipped, exit 77, without r-cran-cardata): every output
# written, the same bits for 1 and 2 threads; `xdnn run --assert` writes its report beside the output and
# the output itself is the plain run's.
set -euo pipefail
xdnn=$1 golden=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if [ -e /usr/lib/R/site-library/carData/data/Rdata.rdx ]; then
  "$xdnn" fairness --epochs 3 --threads 1 --out "$dir/f1" >/dev/null
  "$xdnn" fairness --epochs 3 --threads 2 --out "$dir/f2" >/dev/null
  cmp "$dir/f1/fairness.json" "$dir/f2/fairness.json"
  for f in test_labels test_groups predictions_baseline predictions_reweighing predictions_thresholds-tpr \
    predictions_thresholds-selection-rate scores_baseline attribution_by_group_reweighing; do
    [ -s "$dir/f1/$f.npy" ] || { echo "missing $f.npy"; exit 1; }
  done
  grep -q '"equalised_odds_difference"' "$dir/f1/fairness.json"
else
  echo "SKIPPED fairness: r-cran-cardata not installed"
fi
cat >"$dir/a.json" <<'JSON'
{"assertions": [{"name": "no-flip", "kind": "consistency", "window": 2, "max_input_distance": 1, "action": "correct"},
                {"kind": "range"}]}
JSON
"$xdnn" run --model "$golden/models/cnn.onnx" --input "$golden/explain-cnn-saliency/input.npy" --out "$dir/plain.npy" >/dev/null
"$xdnn" run --model "$golden/models/cnn.onnx" --input "$golden/explain-cnn-saliency/input.npy" --out "$dir/y.npy" \
  --assert "$dir/a.json" >/dev/null
cmp "$dir/plain.npy" "$dir/y.npy"
grep -q '"final"' "$dir/y.assertions.json"
echo "fairness and assertions: outputs written, deterministic"
[ -e /usr/lib/R/site-library/carData/data/Rdata.rdx ] || exit 77
