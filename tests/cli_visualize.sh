#!/usr/bin/env bash
# `xdnn visualize` end to end: the files it promises (one PNG per unit, the grid, the images), the maximised
# activation above the data set's best in its printed table, the same bits for 1 and 2 threads, and the
# generator prior: a VAE decoder trained on 64 images, then the ascent through it.
set -euo pipefail
xdnn=$1 golden=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
model=$golden/models/cnn.onnx
"$xdnn" visualize --model "$model" --units 0,3 --steps 30 --fashion-test 100 --threads 2 --out "$dir/a" >"$dir/a.txt"
for f in unit-0.png unit-3.png grid.png images.npy; do [ -s "$dir/a/$f" ] || { echo "missing $f"; exit 1; }; done
# Columns: label words, start, maximised, data-set max: the maximised value beats the data set's best.
awk '/ channel [0-9]+ / { if (!($(NF-1) > $NF)) { print "not above the data set: " $0; bad = 1 } n++ }
     END { exit bad || n != 2 }' "$dir/a.txt"
"$xdnn" visualize --model "$model" --units 0,3 --steps 30 --threads 1 --out "$dir/b" >/dev/null
cmp "$dir/a/images.npy" "$dir/b/images.npy"
"$xdnn" visualize --train-generator --epochs 1 --limit 64 --latent 4 --hidden 32 --out "$dir/g.safetensors" >/dev/null
"$xdnn" visualize --model "$model" --units 1 --steps 10 --generator "$dir/g.safetensors" --out "$dir/c" >/dev/null
[ -s "$dir/c/grid.png" ]
# A generator that draws other pictures than the model takes: one line, non-zero exit.
if "$xdnn" visualize --model "$model" --generator "$model" --out "$dir/d" 2>"$dir/err"; then
  echo "an ONNX file accepted as a generator"; exit 1
fi
[ "$(wc -l <"$dir/err")" -le 2 ]
