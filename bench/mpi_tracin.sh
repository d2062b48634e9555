#!/usr/bin/env bash
# TracInCP through the command line: 1 process with R threads vs `mpirun -np R` ranks of 1 thread each,
# interleaved (A B A B ...) so that both sides see the same machine load. Prints wall and CPU seconds (user +
# sys of the process and its children: /usr/bin/time around mpirun counts the ranks and mpirun itself) and
# checks that the two outputs are byte for byte the same. Run as root on a shared machine, each command is put
# in its own autogroup at nice -15 (`setsid`, /proc/self/autogroup), ahead of builds at nice 0..19, so that the
# wall times are close to quiet-machine ones; otherwise it runs at normal priority and says so.
#
#   bench/mpi_tracin.sh XDNN DATA_DIR PARAMS REPEATS [RANKS [MPIRUN_OPTIONS...]]
#
# DATA_DIR holds train-x.npy (n_train, 1, 28, 28) float32, train-y.npy int64, test-x.npy, test-y.npy and
# run/epoch-{1,2,3}.safetensors (`xdnn train --model fashion-cnn --epochs 3 --out DATA_DIR/run`).
set -eu
xdnn="$1"
dir="$2"
params="$3"
repeats="$4"
ranks="${5:-2}"
shift $(($# < 5 ? $# : 5))
args=(influence --method tracin --params "$params" --train-x "$dir/train-x.npy" --train-y "$dir/train-y.npy"
  --test-x "$dir/test-x.npy" --test-y "$dir/test-y.npy"
  --checkpoints "$dir/run/epoch-1.safetensors,$dir/run/epoch-2.safetensors,$dir/run/epoch-3.safetensors")
ahead() {  # runs "$@" at autogroup nice -15 when allowed, else as it is
  if [ "$(id -u)" = 0 ] && [ -w /proc/self/autogroup ]; then
    setsid sh -c 'echo -15 > /proc/self/autogroup && exec "$@"' sh "$@"
  else
    "$@"
  fi
}
[ "$(id -u)" = 0 ] || echo "not root: normal priority (wall times follow the machine's load)"
for r in $(seq "$repeats"); do
  ahead /usr/bin/time -f "1 process x $ranks threads: wall %e s, CPU %U + %S s" \
    "$xdnn" "${args[@]}" --threads "$ranks" --out "$dir/one.npy" >/dev/null
  ahead /usr/bin/time -f "mpirun -np $ranks x 1 thread: wall %e s, CPU %U + %S s" \
    mpirun --oversubscribe --allow-run-as-root --quiet "$@" -np "$ranks" "$xdnn" "${args[@]}" --threads 1 \
    --out "$dir/mpi.npy" >/dev/null
  cmp "$dir/one.npy" "$dir/mpi.npy" && echo "round $r ($params): outputs identical"
done
