#!/usr/bin/env bash
# `xdnn report` on a token model that `xdnn train` wrote: the vocab.json beside the checkpoint is found,
# so the page shows words rather than ids, and the default columns for token inputs all run (Grad-CAM,
# the image default, needs a convolutional map that token models lack).
set -euo pipefail
xdnn=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$xdnn" train --model text-transformer --data trigger --epochs 1 --train-limit 256 --test-limit 64 --no-progress \
  --out "$dir/run" >/dev/null
# Token ids (2, 4) int64 as a NumPy v1 file, written by hand (the tests need no Python): magic, version,
# header length (little-endian), the header dict padded with spaces to a 64-byte boundary, then the data.
header="{'descr': '<i8', 'fortran_order': False, 'shape': (2, 4), }"
pad=$(((64 - (10 + ${#header} + 1) % 64) % 64))
len=$((${#header} + pad + 1))
{
  printf '\x93NUMPY\x01\x00'
  printf "\\x$(printf %02x $((len % 256)))\\x$(printf %02x $((len / 256)))"
  printf '%s%*s\n' "$header" "$pad" ''
  for id in 6 2 7 8 9 10 4 11; do printf "\\x$(printf %02x "$id")\\x00\\x00\\x00\\x00\\x00\\x00\\x00"; done
} >"$dir/ids.npy"
"$xdnn" report --model "$dir/run/epoch-1.safetensors" --input "$dir/ids.npy" --out "$dir/report.html"
for want in triggera triggerc fillera '>erasure<' '>integrated-gradients<' '>lrp<'; do
  grep -q -- "$want" "$dir/report.html" || { echo "report.html lacks '$want'"; exit 1; }
done
# The same page with the model on the strict device (methods and the attention section there, pictures from
# host copies): the CPU's page, apart from the per-method seconds in the column heads.
"$xdnn" report --model "$dir/run/epoch-1.safetensors" --input "$dir/ids.npy" --device strict --out "$dir/strict.html"
without_times() { sed 's|<small>[0-9.]* s</small>||g' "$1"; }
cmp -s <(without_times "$dir/report.html") <(without_times "$dir/strict.html") ||
  { echo "report --device strict differs from the CPU's page"; exit 1; }
grep -q '<h2>Attention</h2>' "$dir/strict.html" || { echo "strict.html lacks the attention section"; exit 1; }
# Raw text through the same vocab.json (found beside the checkpoint, no --vocab): known words stay words.
"$xdnn" report --model "$dir/run/epoch-1.safetensors" --text "triggera fillera nosuchword" --methods saliency \
  --out "$dir/text.html" >/dev/null
for want in '>triggera</span>' '>fillera</span>' '>&lt;unk&gt;</span>' 'input: 1 text(s), word tokens'; do
  grep -q -- "$want" "$dir/text.html" || { echo "text.html lacks '$want'"; exit 1; }
done
echo "token report with vocabulary words: ok"
