#!/usr/bin/env bash
# One prepared device check for the CUDA backend (issue 17, item 7). Builds xdnn with -Dcuda=enabled, then
# runs, in this order and within about 8 minutes after the build:
#   1. driver and library probe: stops with a clear message (exit 3) when there is no device, or when the
#      driver is too old for the toolkit the binary was built with;
#   2. `xdnn --version`;
#   3. the CUDA test cases (doctest "cuda*" and "conv route*"), failures rerun under CUDA_LAUNCH_BLOCKING=1
#      and XDNN_CUDA_SYNC=1 (names the kernel that faulted);
#   4. every golden case with `--device cuda` appended, checked against its reference (golden_runner);
#   5. the fashion-cnn forward (golden models/cnn.onnx) on the CPU and on CUDA through each conv route
#      (cuDNN, im2col): byte comparison and relative L2 error, with the routes XDNN_LOG=conv reports;
#   6. compute-sanitizer memcheck and racecheck, where the toolkit has it;
#   7. GPU benchmarks: what exists is timed, what does not yet is named on a "skipped:" line.
# Everything goes to OUT_DIR (default $OUT when set, as on the device tool, else ./gpu-check-out): logs and
# gpu_check.md, the summary to paste into bench/RESULTS.md.
#
# Usage: bench/gpu_check.sh [--build-dir DIR] [--no-build | --build-only] [--out DIR] [--jobs N]
# Where one command may run at most 10 minutes (the device tool), build and check in two calls on the same
# warm machine: `bench/gpu_check.sh --build-only`, then `bench/gpu_check.sh --no-build` (ignored build
# folders stay between calls).
# Exit status: 0 all checks passed, 1 some check failed, 2 build failed, 3 no usable device.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/build-gpu"
OUT_DIR="${OUT:-$ROOT/gpu-check-out}"
JOBS=$(nproc 2>/dev/null || echo 4)
DO_BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD=$(cd "$ROOT" && realpath -m "$2"); shift 2 ;;
    --no-build) DO_BUILD=0; shift ;;
    --build-only) DO_BUILD=2; shift ;;
    --out) OUT_DIR=$(realpath -m "$2"); shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    *) echo "gpu_check.sh: unknown argument '$1' (expected --build-dir DIR, --no-build, --build-only, --out DIR, --jobs N)" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT_DIR" || { echo "gpu_check.sh: cannot create $OUT_DIR" >&2; exit 2; }
SUMMARY="$OUT_DIR/gpu_check.md"
XDNN="$BUILD/xdnn"
TESTS="$BUILD/tests/xdnn_tests"
GOLDEN="$BUILD/tests/golden_runner"
FAILED=0
START=$(date +%s)

say() { echo "$*"; echo "$*" >>"$SUMMARY"; }
fail() { FAILED=1; say "- **FAIL** $*"; }
pass() { say "- pass: $*"; }
elapsed() { echo $(($(date +%s) - START)); }
# budget N: seconds a step may take, N at most, within the 8 minutes (480 s) of the whole check.
budget() {
  local left=$((470 - $(elapsed)))
  [ "$left" -lt 1 ] && left=1 # never 0: `timeout 0` would mean no limit
  [ "$left" -lt "$1" ] && echo "$left" || echo "$1"
}
# now in seconds with nanoseconds, for timings
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

: >"$SUMMARY"
say "# GPU check ($(date -u '+%Y-%m-%d %H:%M UTC'))"
say ""
say "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
say "- commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"

# ---- 0. build -----------------------------------------------------------------------------------------------
if [ "$DO_BUILD" != 0 ]; then
  say "- build: $BUILD (release, -Dcuda=enabled, -j$JOBS)"
  if [ ! -f "$BUILD/build.ninja" ]; then
    if ! meson setup "$BUILD" "$ROOT" --buildtype=release -Dcuda=enabled >"$OUT_DIR/build.log" 2>&1; then
      say "- **build failed**: meson setup (is the CUDA toolkit in /usr/local/cuda?): $(tail -n 3 "$OUT_DIR/build.log" | tr '\n' ' ')"
      exit 2
    fi
  fi
  B0=$(now)
  if ! ninja -C "$BUILD" -j "$JOBS" xdnn tests/xdnn_tests tests/golden_runner >>"$OUT_DIR/build.log" 2>&1; then
    say "- **build failed**: $(grep -m3 -E 'error|FAILED' "$OUT_DIR/build.log" | tr '\n' ' ')"
    exit 2
  fi
  say "- build time: $(secs "$B0" "$(now)") s"
  [ "$DO_BUILD" = 2 ] && exit 0
fi
for f in "$XDNN" "$TESTS" "$GOLDEN"; do
  [ -x "$f" ] || { say "- **build incomplete**: $f is missing"; exit 2; }
done
START=$(date +%s)  # the 8-minute budget counts from here

# ---- 1. driver and library probe ----------------------------------------------------------------------------
say ""
say "## 1. Driver and libraries"
TOOLKIT=$( (nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version 2>/dev/null) | sed -n 's/.*release \([0-9.]*\).*/\1/p')
say "- toolkit (nvcc): ${TOOLKIT:-not found}"
if command -v nvidia-smi >/dev/null 2>&1; then
  SMI=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 4)
  DRIVER_CUDA=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -n 1)
  say "- nvidia-smi: ${SMI//$'\n'/; } (driver supports CUDA ${DRIVER_CUDA:-?})"
else
  DRIVER_CUDA=""
  say "- nvidia-smi: not found"
fi
VERSION=$("$XDNN" --version 2>&1)
echo "$VERSION" >"$OUT_DIR/version.txt"
if ! echo "$VERSION" | grep -q '^backends:.*cuda ('; then
  say "- **stop**: this xdnn was built without the CUDA backend (configure with -Dcuda=enabled)"
  exit 3
fi
if echo "$VERSION" | grep -q '^no CUDA device'; then
  WHY=$(echo "$VERSION" | grep '^no CUDA device')
  if echo "$WHY" | grep -q 'insufficient' && [ -n "$DRIVER_CUDA" ]; then
    say "- **stop**: the driver is too old for the toolkit: it supports CUDA $DRIVER_CUDA, xdnn was built with CUDA ${TOOLKIT:-?} ($WHY). Update the driver or build with an older toolkit."
  elif echo "$WHY" | grep -q 'insufficient'; then
    say "- **stop**: $WHY -- no NVIDIA driver here (no nvidia-smi; libcuda.so.1 is missing or older than CUDA ${TOOLKIT:-?})"
  else
    say "- **stop**: $WHY"
  fi
  exit 3
fi
for lib in cuBLAS cuDNN; do
  if echo "$VERSION" | grep -q "$lib is not available"; then
    fail "$lib cannot be loaded: $(echo "$VERSION" | grep -o "$lib is not available[^,]*")"
  else
    pass "$lib $(echo "$VERSION" | grep -o "$lib [0-9.]*" | head -n 1 | cut -d' ' -f2) loads"
  fi
done

# ---- 2. xdnn --version ----------------------------------------------------------------------------------------
say ""
say "## 2. xdnn --version"
say '```'
say "$VERSION"
say '```'

# ---- 3. CUDA test cases ---------------------------------------------------------------------------------------
say ""
say "## 3. CUDA test cases"
CASES='cuda*,conv route*'
timeout "$(budget 150)" "$TESTS" -tc="$CASES" >"$OUT_DIR/cuda_tests.log" 2>&1
RC=$?
LINE=$(grep -E '^\[doctest\] test cases:' "$OUT_DIR/cuda_tests.log" | tail -n 1)
say "- $LINE (exit $RC)"
SKIPPED=$(echo "$LINE" | sed -n 's/.*| *\([0-9]*\) skipped.*/\1/p')
if [ "$RC" != 0 ]; then
  fail "CUDA test cases; rerun under CUDA_LAUNCH_BLOCKING=1 XDNN_CUDA_SYNC=1 (cuda_tests_blocking.log):"
  CUDA_LAUNCH_BLOCKING=1 XDNN_CUDA_SYNC=1 timeout "$(budget 120)" "$TESTS" -tc="$CASES" >"$OUT_DIR/cuda_tests_blocking.log" 2>&1
  grep -E 'ERROR|FATAL|faulted|failed' "$OUT_DIR/cuda_tests_blocking.log" | head -n 20 | sed 's/^/    /' | tee -a "$SUMMARY"
elif [ "${SKIPPED:-0}" != 0 ]; then
  fail "$SKIPPED CUDA test cases were skipped on a machine with a device"
else
  pass "every CUDA test case ran and passed"
fi

# ---- 4. golden cases on the device ----------------------------------------------------------------------------
say ""
say "## 4. Golden cases with --device cuda"
timeout "$(budget 150)" "$GOLDEN" --bin "$XDNN" --cases "$ROOT/tests/golden" --timeout 60 --append --device --append cuda \
  >"$OUT_DIR/golden_cuda.log" 2>&1
RC=$?
say "- $(tail -n 1 "$OUT_DIR/golden_cuda.log") (exit $RC)"
if [ "$RC" = 0 ]; then
  pass "every golden case on cuda"
else
  fail "golden cases on cuda (golden_cuda.log); the failing ones:"
  grep ' FAIL ' "$OUT_DIR/golden_cuda.log" | head -n 40 | sed 's/^/    /' | tee -a "$SUMMARY"
fi

# ---- 5. fashion-cnn forward: CPU vs CUDA on both conv routes --------------------------------------------------
say ""
say "## 5. fashion-cnn forward, CPU vs CUDA"
MODEL="$ROOT/tests/golden/models/cnn.onnx"
INPUT="$ROOT/tests/golden/data/tracin-train-x.npy"
"$XDNN" run --model "$MODEL" --input "$INPUT" --out "$OUT_DIR/cnn_cpu.npy" --device cpu 2>"$OUT_DIR/cnn_cpu.err"
# rel L2 of two float32 .npy files (header skipped), in Python without numpy; empty when Python is absent.
rel_l2() {
  command -v python3 >/dev/null 2>&1 || return 0
  python3 - "$1" "$2" <<'PY'
import struct, sys, math
def load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<H', b[8:10])[0] if b[6] == 1 else struct.unpack('<I', b[8:12])[0]
    off = (10 if b[6] == 1 else 12) + n
    return struct.unpack('<%df' % ((len(b) - off) // 4), b[off:])
a, r = load(sys.argv[1]), load(sys.argv[2])
num = sum((x - y) ** 2 for x, y in zip(a, r)); den = sum(y * y for y in r)
print('%.3e' % (math.sqrt(num / den) if den > 0 else math.sqrt(num)) if len(a) == len(r) else 'size mismatch')
PY
}
for route in cudnn im2col; do
  if XDNN_CUDA_CONV=$route XDNN_LOG=conv "$XDNN" run --model "$MODEL" --input "$INPUT" --out "$OUT_DIR/cnn_$route.npy" \
    --device cuda 2>"$OUT_DIR/cnn_$route.err"; then
    ERR=$(rel_l2 "$OUT_DIR/cnn_$route.npy" "$OUT_DIR/cnn_cpu.npy")
    SAME=$(cmp -s "$OUT_DIR/cnn_$route.npy" "$OUT_DIR/cnn_cpu.npy" && echo "byte-identical" || echo "bytes differ")
    ROUTES=$(grep -o -- '-> [a-z0-9]* ([^)]*)' "$OUT_DIR/cnn_$route.err" | sort | uniq -c | tr -s ' ' | tr '\n' ';')
    if [ -n "$ERR" ] && awk -v e="$ERR" 'BEGIN { exit !(e + 0 <= 1e-4) }'; then
      pass "XDNN_CUDA_CONV=$route: $SAME, rel L2 $ERR vs the CPU; routes: $ROUTES"
    elif [ -z "$ERR" ]; then
      say "- XDNN_CUDA_CONV=$route: $SAME (no python3 for the rel L2); routes: $ROUTES"
    else
      fail "XDNN_CUDA_CONV=$route: $SAME, rel L2 $ERR vs the CPU (> 1e-4); routes: $ROUTES"
    fi
  else
    fail "XDNN_CUDA_CONV=$route xdnn run --device cuda: $(tail -n 1 "$OUT_DIR/cnn_$route.err")"
  fi
done

# ---- 6. compute-sanitizer ---------------------------------------------------------------------------------------
say ""
say "## 6. compute-sanitizer"
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
if [ -z "$SAN" ]; then
  say "- skipped: compute-sanitizer is not installed"
else
  for tool in memcheck racecheck; do
    T=$(budget 60)
    if [ "$T" -lt 10 ]; then say "- skipped: $tool (out of the 8-minute budget)"; continue; fi
    timeout "$T" "$SAN" --tool "$tool" --error-exitcode 99 "$XDNN" run --model "$MODEL" --input "$INPUT" \
      --out "$OUT_DIR/cnn_san.npy" --device cuda >"$OUT_DIR/sanitizer_$tool.log" 2>&1
    RC=$?
    if [ "$RC" = 0 ]; then pass "$tool on xdnn run (fashion-cnn)"
    elif [ "$RC" = 124 ]; then say "- $tool: timed out after $T s (no verdict; see the log)"
    else fail "$tool (exit $RC): $(grep -m1 -E '=========.*(Invalid|Race|error)' "$OUT_DIR/sanitizer_$tool.log")"; fi
  done
fi

# ---- 7. benchmarks ----------------------------------------------------------------------------------------------
say ""
say "## 7. Benchmarks (device: $(echo "${SMI:-?}" | head -n 1 | cut -d, -f1))"
# IG-50 on fashion-cnn through the CLI, CPU against CUDA: the end-to-end figure available today.
time_cmd() {  # label, log, command...: prints the wall time or the error
  local label=$1 log=$2; shift 2
  local t0 t; t0=$(now); t=$(budget 60)
  [ "$t" -lt 5 ] && { echo "skipped (out of the 8-minute budget)"; return; }
  if timeout "$t" "$@" >"$log" 2>&1; then echo "$(secs "$t0" "$(now)") s"; else echo "failed: $(tail -n 1 "$log")"; fi
}
for dev in cpu cuda; do
  say "- explain integrated-gradients (50 steps), fashion-cnn ONNX, $(basename "$INPUT"), --device $dev:" \
    "$(time_cmd ig "$OUT_DIR/ig_$dev.log" "$XDNN" explain --model "$MODEL" --input "$INPUT" --method integrated-gradients \
      --out "$OUT_DIR/ig_$dev.npy" --device $dev)"
done
say "- skipped: IG-50 on a ResNet-18-sized CNN at batch 64 against 50 x one cuDNN forward+backward (no GPU benchmark binary yet)"
if [ -d /usr/share/datasets/fashion-mnist ]; then
  for dev in cpu cuda; do
    say "- train fashion-cnn, 1 epoch on 10,000 images, --device $dev:" \
      "$(time_cmd train "$OUT_DIR/train_$dev.log" "$XDNN" train --model fashion-cnn --epochs 1 --train-limit 10000 \
        --test-limit 1000 --out "$OUT_DIR/train_$dev" --device $dev)"
  done
else
  say "- skipped: fashion-cnn training s/epoch (no Fashion-MNIST in /usr/share/datasets/fashion-mnist)"
fi
say "- skipped: TracIn 60k x 1k on the device (no GPU benchmark for it yet)"

say ""
say "Checks took $(elapsed) s after the build."
[ "$FAILED" = 0 ] && say "Result: all checks passed." || say "Result: some checks FAILED (see above and the logs in $OUT_DIR)."
exit "$FAILED"
