#!/usr/bin/env bash
# `--device cuda` where no GPU can be used (no device, or a build without the CUDA backend): every
# command that takes --device must exit non-zero within seconds with ONE line on stderr that says so and
# what to do. Where a CUDA device is present this is not the situation under test: exit 77 (meson: SKIP).
# Usage: cli_device_cuda.sh path/to/xdnn
set -u
xdnn="$1"
version=$(timeout 60 "$xdnn" --version) || { echo "FAIL: xdnn --version failed"; exit 1; }
echo "$version"
case "$version" in *"backends: cpu"*) ;; *) echo "FAIL: --version does not list the backends"; exit 1 ;; esac
if grep -q '^cuda:[0-9]' <<<"$version"; then echo "SKIP: a CUDA device is present"; exit 77; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
check() {  # check NAME ARGS...: non-zero exit, one stderr line naming --device cuda and --device cpu
  local name=$1
  shift
  timeout 60 "$xdnn" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local lines
  lines=$(wc -l <"$tmp/err")
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$lines" -ne 1 ] || ! grep -q -- '--device cuda' "$tmp/err" ||
    ! grep -q -- '--device cpu' "$tmp/err"; then
    echo "FAIL: $name: exit $rc, $lines stderr line(s):"
    cat "$tmp/err"
    status=1
  else
    echo "ok: $name: $(cat "$tmp/err")"
  fi
}
# The inputs do not exist: the device is checked before anything is loaded.
check run run --device cuda --model "$tmp/m.onnx" --input "$tmp/x.npy" --out "$tmp/y.npy"
check explain explain --device cuda --model fashion-mlp --input "$tmp/x.npy" --method saliency --out "$tmp/a.npy"
check train train --device cuda --model fashion-mlp --epochs 1 --train-limit 8 --test-limit 8 --no-progress
check influence influence --device cuda --method tracin --checkpoints "$tmp/c.onnx" --train-x "$tmp/x.npy" \
  --train-y "$tmp/y.npy" --test-x "$tmp/x.npy" --test-y "$tmp/y.npy" --out "$tmp/s.npy"
check evaluate evaluate --device cuda --model fashion-mlp --input "$tmp/x.npy" --methods saliency --metric deletion \
  --score prob --steps 4 --out "$tmp/e.npy"
check attack attack --device cuda --method cw-l2 --model fashion-mlp --input "$tmp/x.npy" --labels "$tmp/y.npy" \
  --out "$tmp/adv.npy"
check svcca svcca --device cuda --checkpoints "$tmp/a.safetensors,$tmp/b.safetensors" --input "$tmp/x.npy" \
  --out "$tmp/s.npy"
check eval eval --device cuda --model fashion-mlp --limit 8
check probe probe --device cuda --model fashion-mlp --input "$tmp/x.npy" --labels "$tmp/y.npy" --out "$tmp/p.csv"
check tcav tcav --device cuda --model fashion-mlp --layer fc1 --class 0 --input "$tmp/x.npy" --concept "$tmp/c.npy" \
  --random "$tmp/r.npy" --out "$tmp/t.json"
check exemplars exemplars --device cuda --model fashion-mlp --input "$tmp/x.npy" --out "$tmp/ex"
check visualize visualize --device cuda --model fashion-mlp --layer fc1 --units 0 --out "$tmp/v"
check "visualize --train-generator" visualize --device cuda --train-generator --out "$tmp/g.safetensors"
check project project --device cuda --model fashion-mlp --input "$tmp/x.npy" --layer fc1 --out "$tmp/e.npy"
check report report --device cuda --model fashion-mlp --input "$tmp/x.npy" --methods saliency --out "$tmp/r.html"
# The global report page does not run on a device yet: it refuses it up front too (the same line without a GPU).
check "report --global" report --device cuda --global probes --model fashion-mlp --input "$tmp/x.npy" --out "$tmp/g.html"
exit $status
