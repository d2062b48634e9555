#!/usr/bin/env bash
# `xdnn export` on what `xdnn train` wrote: the checkpoint and its ONNX export give the same logits on
# Fashion-MNIST test images (bit for bit: the importer maps every exported op back to its layer).
set -euo pipefail
xdnn=$1 input=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$xdnn" train --model fashion-resnet --epochs 1 --train-limit 256 --test-limit 64 --no-progress --out "$dir/run" >/dev/null
"$xdnn" export --model "$dir/run/epoch-1.safetensors" --out "$dir/model.onnx"
"$xdnn" run --model "$dir/run/epoch-1.safetensors" --input "$input" --out "$dir/checkpoint.npy"
"$xdnn" run --model "$dir/model.onnx" --input "$input" --out "$dir/onnx.npy"
cmp "$dir/checkpoint.npy" "$dir/onnx.npy"
# A model kind with no export, or an unwritable path: one line and a non-zero exit.
if "$xdnn" export --model "$dir/run/epoch-1.safetensors" --out "$dir/no/such/dir/m.onnx" 2>"$dir/err"; then
  echo "export to a missing directory succeeded"; exit 1
fi
grep -q "no/such/dir" "$dir/err" && [ "$(wc -l <"$dir/err")" -le 2 ]
# A text checkpoint (vocabulary and sizes from its metadata) exports too.
"$xdnn" train --model text-lstm --data trigger --epochs 1 --train-limit 128 --test-limit 32 --no-progress \
  --out "$dir/text" >/dev/null
"$xdnn" export --model "$dir/text/epoch-1.safetensors" --out "$dir/text.onnx"
[ -s "$dir/text.onnx" ]
echo "export of trained checkpoints: same logits"
