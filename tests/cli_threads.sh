#!/usr/bin/env bash
# Thread settings through the CLI (engine/parallel.cpp): a bad $XDNN_NUM_THREADS is one error line naming it
# and a non-zero exit; when the system refuses threads (RLIMIT_NPROC), XDNN_NUM_THREADS=1000 runs with the
# threads it got and says so on one warning line: never a hang or an abort (it aborted in the pool's static
# constructor before).
# Usage: cli_threads.sh path/to/xdnn input.npy   (input: a (N, 1, 28, 28) float32 array for fashion-cnn)
set -u
xdnn="$1"
input="$2"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 777 "$tmp"  # written by the unprivileged user below
status=0
fail() {
  echo "FAIL: $1 (exit $2), stderr:"
  cat "$tmp/err"
  status=1
}

for bad in abc 0 -1 2.5 100000; do
  XDNN_NUM_THREADS=$bad timeout 60 "$xdnn" run --model fashion-cnn --input "$input" --out "$tmp/y.npy" \
    >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$rc" -gt 128 ] || [ "$(wc -l <"$tmp/err")" -ne 1 ] ||
    ! grep -q -- "XDNN_NUM_THREADS=$bad: expected a whole number" "$tmp/err"; then
    fail "XDNN_NUM_THREADS=$bad" "$rc"
  else
    echo "ok: XDNN_NUM_THREADS=$bad: $(cat "$tmp/err")"
  fi
done

# A thread limit. RLIMIT_NPROC counts the threads of the real user and does not bind root, so as root the
# command runs as nobody (who has no other processes: a limit of 8 leaves room for about 7 threads);
# otherwise the limit is this user's current thread count + 8. LeakSanitizer needs a thread of its own at
# exit, which the limit would refuse: leak checking is off for this run only.
if [ "$(id -u)" -eq 0 ]; then
  limit=(setpriv --reuid=65534 --regid=65534 --clear-groups prlimit --nproc=8)
else
  current=$(ps -eLo uid= | awk -v u="$(id -u)" '$1 == u' | wc -l)
  limit=(prlimit --nproc=$((current + 8)))
fi
XDNN_NUM_THREADS=1000 ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" timeout 60 "${limit[@]}" "$xdnn" run \
  --model fashion-cnn --input "$input" --out "$tmp/y.npy" >"$tmp/out" 2>"$tmp/err"
rc=$?
# (fashion-cnn without weights also warns that it is untrained: that line is not counted.)
if [ "$rc" -ne 0 ] || [ "$(grep -vc 'is the untrained architecture' "$tmp/err")" -ne 1 ] || ! grep -q 'warning: started [0-9]* of 1000 threads' "$tmp/err" ||
  [ ! -s "$tmp/y.npy" ]; then
  fail "XDNN_NUM_THREADS=1000 under ${limit[*]}" "$rc"
else
  echo "ok: XDNN_NUM_THREADS=1000 under a thread limit: $(cat "$tmp/err")"
fi
exit $status
