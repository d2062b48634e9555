#!/bin/bash
# `xdnn attack --method cw-l2` end to end on the golden CNN: untargeted and targeted (--targets), the success
# line and the distortion line printed, a one-line error for targets out of range.
set -euo pipefail
xdnn=$1
golden=$2/attack-cnn-pgd
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$("$xdnn" attack --method cw-l2 --model "$golden/../models/cnn.onnx" --input "$golden/input.npy" \
  --labels "$golden/labels.npy" --steps 200 --search-steps 4 --initial-const 0.1 --out "$tmp/adv.npy")
echo "$out"
grep -q "attack success: 3 of 3 examples misclassified after the attack" <<<"$out"
grep -q "distortion of the successful examples: mean L2 " <<<"$out"
# Targets: the labels' file with its int64 data (the last 24 bytes, labels [1, 6, 5]) replaced.
targets() {
  cp "$golden/labels.npy" "$1"
  for v in "${@:2}"; do printf "$(printf '\\x%02x' "$v")\\0\\0\\0\\0\\0\\0\\0"; done |
    dd of="$1" bs=1 seek=$(($(stat -c %s "$1") - 24)) conv=notrunc status=none
}
targets "$tmp/t.npy" 2 7 6
out=$("$xdnn" attack --method cw-l2 --model "$golden/../models/cnn.onnx" --input "$golden/input.npy" \
  --labels "$golden/labels.npy" --targets "$tmp/t.npy" --confidence 1 --steps 300 --search-steps 6 \
  --initial-const 1 --out "$tmp/adv2.npy")
echo "$out"
grep -q "attack success: 3 of 3 examples classified as their target after the attack" <<<"$out"
# A target out of range: one line naming it, exit 1.
targets "$tmp/bad.npy" 2 10 6
if "$xdnn" attack --method cw-l2 --model "$golden/../models/cnn.onnx" --input "$golden/input.npy" \
  --labels "$golden/labels.npy" --targets "$tmp/bad.npy" --out "$tmp/adv3.npy" 2>"$tmp/err"; then
  echo "a target out of range was accepted"
  exit 1
fi
cat "$tmp/err"
grep -q "^xdnn: error: targets: class 10 of example 1 is out of range for 10 classes" "$tmp/err"
[ ! -e "$tmp/adv3.npy" ]
echo ok
