#!/usr/bin/env bash
# `mpirun -np N xdnn explain|influence` writes, byte for byte, the file of one process (explain/cli/cluster.h):
# the ranks split outputs (explain rows, influence training examples), never a sum. Also: ranks given
# different inputs, an error on one rank only, a command that does not shard, and a resumed run under MPI
# each end with one clear error line and no hang. Skipped (exit 77) only when the build has no MPI.
# Usage: cli_mpi.sh path/to/xdnn path/to/tests/golden
set -u
xdnn="$1"
golden="$2"
if "$xdnn" --version | grep -q '^MPI: not built'; then
  echo "SKIP: this xdnn was built without MPI ($("$xdnn" --version | grep '^MPI:'))"
  exit 77
fi
command -v mpirun >/dev/null || { echo "FAIL: xdnn has MPI but mpirun is not installed (openmpi-bin)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDNN_NUM_THREADS=1
# Under ASan (CI's second pass) Open MPI's own allocations at MPI_Init are never freed: leak reports would be
# Open MPI's, not xdnn's (every other test keeps leak detection).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fail() { echo "FAIL: $*"; exit 1; }
# CI runs as root; --oversubscribe: more ranks than cores. timeout: a hang is a failure, not a stuck CI.
mpi() { timeout 120 mpirun --oversubscribe --allow-run-as-root --quiet --mca pml ob1 "$@"; }
same() { cmp "$1" "$2" || fail "$3: the MPI output differs from one process"; echo "ok: $3"; }

model="$golden/models/cnn-tracin-ckpt3.onnx"
x="$golden/data/tracin-train-x.npy"  # 64 images
ex=(explain --model "$model" --input "$x")
# smoothgrad draws noise per sample: ranks must draw sample n's numbers. --chunk 5: rounds of 2 x 5 rows, a
# last round that only rank 0 fills.
"$xdnn" "${ex[@]}" --method smoothgrad --samples 4 --chunk 5 --out "$work/e1.npy" >/dev/null || fail "explain, 1 process"
mpi -np 2 "$xdnn" "${ex[@]}" --method smoothgrad --samples 4 --chunk 5 --out "$work/e2.npy" >/dev/null || fail "np 2"
same "$work/e1.npy" "$work/e2.npy" "explain smoothgrad, 2 ranks"
mpi -np 3 "$xdnn" "${ex[@]}" --method smoothgrad --samples 4 --chunk 16 --out "$work/e3.npy" >/dev/null || fail "np 3"
same "$work/e1.npy" "$work/e3.npy" "explain smoothgrad, 3 ranks, other chunks"
"$xdnn" "${ex[@]}" --method lrp --out "$work/l1.npy" >/dev/null || fail "lrp, 1 process"
mpi -np 2 "$xdnn" "${ex[@]}" --method lrp --chunk 8 --out "$work/l2.npy" >/dev/null || fail "lrp, np 2"
same "$work/l1.npy" "$work/l2.npy" "explain lrp, 2 ranks"
# By rows: each rank reads the rows of its own chunks from the .npy (explain/cli/cmd_explain.cpp InputRows);
# targets given as a class index and as a labels file are checked from the first rows.
"$xdnn" "${ex[@]}" --method saliency --target 3 --out "$work/t1.npy" >/dev/null || fail "explain --target 3, 1 process"
mpi -np 2 "$xdnn" "${ex[@]}" --method saliency --target 3 --chunk 7 --out "$work/t2.npy" >/dev/null || fail "--target 3, np 2"
same "$work/t1.npy" "$work/t2.npy" "explain saliency --target 3, 2 ranks"
"$xdnn" "${ex[@]}" --method gradient-x-input --target "$golden/data/tracin-train-y.npy" --precision float32 \
  --out "$work/t1.npy" >/dev/null || fail "explain --target labels, 1 process"
mpi -np 3 "$xdnn" "${ex[@]}" --method gradient-x-input --target "$golden/data/tracin-train-y.npy" --precision float32 \
  --chunk 9 --out "$work/t2.npy" >/dev/null || fail "--target labels, np 3"
same "$work/t1.npy" "$work/t2.npy" "explain gradient-x-input --target labels.npy, 3 ranks"
# A NaN in row 7 (element 100) is found by the rank that reads it (rank 1: rows [5, 10) with --chunk 5, element
# 2 · 784 + 100 of its chunk), when it reads it.
cp "$x" "$work/nan.npy"
data=$((10 + $(od -An -tu2 -j8 -N2 "$x")))  # .npy 1.0: the data follow 10 bytes and the header length at byte 8
printf '\x00\x00\xc0\x7f' | dd of="$work/nan.npy" bs=1 seek=$((data + (7 * 784 + 100) * 4)) conv=notrunc status=none

# A run under MPI killed after one round resumes under MPI.
XDNN_STOP_AFTER_CHUNKS=1 mpi -np 2 -x XDNN_STOP_AFTER_CHUNKS "$xdnn" "${ex[@]}" --method smoothgrad --samples 4 \
  --chunk 5 --out "$work/e4.npy" >/dev/null 2>&1 && fail "the stopped MPI run succeeded"
grep -q '"rows_done": 10' "$work/e4.npy.progress.json" || fail "record after one MPI round: $(cat "$work/e4.npy.progress.json")"
mpi -np 2 "$xdnn" "${ex[@]}" --method smoothgrad --samples 4 --chunk 5 --out "$work/e4.npy" >/dev/null 2>&1 ||
  fail "resume under MPI"
same "$work/e1.npy" "$work/e4.npy" "explain resumed under MPI"

ckpts="$golden/models/cnn-tracin-ckpt1.onnx,$golden/models/cnn-tracin-ckpt2.onnx,$golden/models/cnn-tracin-ckpt3.onnx"
train=(influence --checkpoints "$ckpts" --lr 0.1,0.1,0.1 --train-x "$x" --train-y "$golden/data/tracin-train-y.npy")
inf=("${train[@]}" --test-x "$golden/influence-cnn-tracin-last-layer/input.npy" --test-y "$golden/influence-cnn-tracin-last-layer/labels.npy")
# --chunk 10: shares of whole chunks (40 + 24 examples on 2 ranks); 256: rank 1 has no examples at all.
for run in "tracin --params all --chunk 10" "tracin --params last-layer --chunk 10" "grad-cos --params all --chunk 10" \
  "self-influence --params last-layer --chunk 10" "tracin --params all --projection 32" ; do
  read -r -a extra <<<"$run"
  "$xdnn" "${inf[@]}" --method "${extra[@]}" --out "$work/i1.npy" >/dev/null || fail "influence $run, 1 process"
  mpi -np 2 "$xdnn" "${inf[@]}" --method "${extra[@]}" --out "$work/i2.npy" >/dev/null || fail "influence $run, np 2"
  same "$work/i1.npy" "$work/i2.npy" "influence $run, 2 ranks"
done
# The test side split over the ranks too: 64 test examples = 4 forward batches of 16 (last layer: 2 + 2 on 2
# ranks, 2 + 2 + 0 on 3) or 2 sub-chunks of 32 (all parameters: 1 + 1, 1 + 1 + 0); the ranks exchange the
# test factors or gradients (InfluenceOptions::ranks).
tt=(--test-x "$x" --test-y "$golden/data/tracin-train-y.npy")
for run in "tracin --params last-layer" "grad-cos --params last-layer" "grad-dot --params last-layer --chunk 16" \
  "tracin --params all --chunk 16" "grad-cos --params all" "tracin --params all --chunk 16 --projection 8"; do
  read -r -a extra <<<"$run"
  "$xdnn" "${train[@]}" "${tt[@]}" --method "${extra[@]}" --out "$work/i1.npy" >/dev/null || fail "$run, 1 process"
  for np in 2 3; do
    mpi -np $np "$xdnn" "${train[@]}" "${tt[@]}" --method "${extra[@]}" --out "$work/i2.npy" >/dev/null ||
      fail "$run, np $np"
    same "$work/i1.npy" "$work/i2.npy" "influence $run, 64 test examples, $np ranks"
  done
done
# The same on the strict device (issue 17): the ranks exchange host copies of the device's rows, and the third
# rank, with no test sub-chunk of its own, builds its empty share on the device.
for run in "tracin --params all --chunk 16" "grad-cos --params all"; do
  read -r -a extra <<<"$run"
  "$xdnn" "${train[@]}" "${tt[@]}" --method "${extra[@]}" --out "$work/i1.npy" >/dev/null || fail "$run, 1 process"
  mpi -np 3 "$xdnn" "${train[@]}" "${tt[@]}" --method "${extra[@]}" --device strict --out "$work/i2.npy" >/dev/null ||
    fail "$run --device strict, np 3"
  same "$work/i1.npy" "$work/i2.npy" "influence $run --device strict, 64 test examples, 3 ranks"
done
mpi -np 3 "$xdnn" "${inf[@]}" --method tracin --chunk 7 --out "$work/i3.npy" >/dev/null || fail "influence, np 3"
"$xdnn" "${inf[@]}" --method tracin --out "$work/i1.npy" >/dev/null || fail "influence, 1 process"
same "$work/i1.npy" "$work/i3.npy" "influence tracin, 3 ranks"
# Without --top each rank writes its own columns into the output (cluster::write_npy_columns), through one
# temporary file that rank 0 renames: none is left behind. With --top rank 0 gathers S to rank the examples.
ls -A "$work" | grep -q xdnn-tmp && fail "a temporary output file was left behind: $(ls -A "$work")"
"$xdnn" "${inf[@]}" --method tracin --top 2 --out "$work/top1.npy" >"$work/top1.txt" || fail "--top 2, 1 process"
mpi -np 2 "$xdnn" "${inf[@]}" --method tracin --top 2 --out "$work/top2.npy" >"$work/top2.txt" || fail "--top 2, np 2"
same "$work/top1.npy" "$work/top2.npy" "influence tracin --top 2, 2 ranks"
cmp <(tail -n +2 "$work/top1.txt") <(tail -n +2 "$work/top2.txt") || fail "--top 2: the ranking differs from one process"
# A rank whose write fails at the last moment (after its block is in): the run ends with one error naming the
# rank, the output keeps its old bytes, and the temporary file is removed.
printf 'old' >"$work/kept.npy"
XDNN_FAIL_BLOCK_WRITE=1 mpi -np 2 -x XDNN_FAIL_BLOCK_WRITE "$xdnn" "${inf[@]}" --method tracin --chunk 10 \
  --out "$work/kept.npy" >/dev/null 2>"$work/err.txt" && fail "a failed block write succeeded"
grep -q "^xdnn: error: .*kept.npy: rank 1's block: failing on purpose" "$work/err.txt" ||
  fail "failed block write: $(cat "$work/err.txt")"
[ "$(cat "$work/kept.npy")" = old ] || fail "a failed MPI write replaced the output"
ls -A "$work" | grep -q xdnn-tmp && fail "a failed MPI write left its temporary file: $(ls -A "$work")"
echo "ok: a failed block write leaves the output as it was"

# expect_error PATTERN CMD...: fails, within the timeout, with one "xdnn: error:" line matching PATTERN.
expect_error() {
  local pattern="$1"
  shift
  if "$@" >"$work/out.txt" 2>"$work/err.txt"; then fail "succeeded, expected an error matching '$pattern': $*"; fi
  [ "$(grep -c '^xdnn: error:' "$work/err.txt")" = 1 ] || fail "expected one error line: $(cat "$work/err.txt")"
  grep -q -- "$pattern" "$work/err.txt" || fail "expected '$pattern', got: $(cat "$work/err.txt")"
  echo "ok: error: $(grep '^xdnn: error:' "$work/err.txt")"
}
# Ranks reading different files (MPMD launch: one rank per command line).
expect_error "MPI ranks disagree on --input" mpi -np 1 "$xdnn" "${ex[@]}" --method saliency --out "$work/d.npy" : \
  -np 1 "$xdnn" explain --model "$model" --input "$golden/explain-cnn-saliency/input.npy" --method saliency \
  --out "$work/d.npy"
expect_error "MPI ranks disagree on the options" mpi -np 1 "$xdnn" "${inf[@]}" --method tracin --out "$work/d.npy" : \
  -np 1 "$xdnn" "${inf[@]}" --method tracin --seed 3 --out "$work/d.npy"
# An error on rank 1 only ends rank 0 too (which would otherwise wait for it forever).
expect_error "rank 1: .*missing.npy" mpi -np 1 "$xdnn" "${ex[@]}" --method saliency --out "$work/d.npy" : \
  -np 1 "$xdnn" explain --model "$model" --input "$work/missing.npy" --method saliency --out "$work/d.npy"
expect_error "influence-function does not share its work" mpi -np 2 "$xdnn" "${inf[@]}" --method influence-function \
  --params last-layer --out "$work/d.npy"
expect_error "rank 1: --input '$work/nan.npy' rows \[5, 10): element 1668 of float32 (5, 1, 28, 28) is NaN" mpi -np 2 "$xdnn" explain --model "$model" --input "$work/nan.npy" \
  --method saliency --chunk 5 --out "$work/d.npy"
expect_error "only 'xdnn explain' and 'xdnn influence' run" mpi -np 2 "$xdnn" run --model "$model" --input "$x" \
  --out "$work/d.npy"
[ -e "$work/d.npy" ] && fail "a failed MPI run wrote its output"
# MPI lives in the module libxdnn_mpi.so, loaded only under mpirun: one process loads no MPI library
# (LD_DEBUG=files: the dynamic loader names every library it opens, dlopen included), and a binary whose
# module is missing says so in one line (here a copy of the binary in a folder without it).
LD_DEBUG=files "$xdnn" explain --model "$model" --input "$x" --method saliency --out "$work/one.npy" >/dev/null \
  2>"$work/ld.txt" || fail "explain, one process: $(grep -v 'file=' "$work/ld.txt" | tail -3)"
grep -q 'file=libc.so' "$work/ld.txt" || fail "LD_DEBUG=files printed no library: $(head -3 "$work/ld.txt")"
grep 'file=.*mpi' "$work/ld.txt" && fail "one process loaded an MPI library"
echo "ok: one process loads no MPI library"
"$xdnn" --version | grep -q '^MPI: Open MPI.*(through .*libxdnn_mpi.so)' || fail "--version: $("$xdnn" --version | grep MPI)"
mkdir "$work/bin" && cp "$xdnn" "$work/bin/xdnn"
if "$work/bin/xdnn" --version | grep -q '^MPI: built, but MPI: cannot load libxdnn_mpi.so'; then
  expect_error "MPI: cannot load libxdnn_mpi.so" mpi -np 1 "$work/bin/xdnn" "${ex[@]}" --method saliency \
    --out "$work/d.npy"
else  # the binary found an installed module: the missing case cannot be made here
  echo "not checked: a missing module ($("$work/bin/xdnn" --version | grep '^MPI:'))"
fi
echo "ok: MPI"
