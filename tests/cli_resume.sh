#!/usr/bin/env bash
# A killed `xdnn explain` resumes where it stopped and writes, bit for bit, the file of an uninterrupted run
# (explain/cli/resumable.h); a progress record of another run, a corrupt record or a damaged partial file is
# one error line, never a mix of two runs. The kill is simulated at a known point (XDNN_STOP_AFTER_CHUNKS);
# a torn append is simulated by garbage after the recorded rows.
# Usage: cli_resume.sh path/to/xdnn path/to/tests/golden
set -u
xdnn="$1"
golden="$2"
model="$golden/models/cnn-tracin-ckpt3.onnx"
x="$golden/data/tracin-train-x.npy"        # 64 images (1, 28, 28)
x_other="$golden/explain-cnn-saliency/input.npy"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDNN_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }
# smoothgrad draws noise per sample (first_sample): a resumed run must draw the same numbers.
explain() { "$xdnn" explain --model "$model" --method smoothgrad --samples 4 "$@"; }
# expect_error PATTERN CMD...: the command fails with exactly one "xdnn: error:" line that matches PATTERN.
expect_error() {
  local pattern="$1"
  shift
  if "$@" >"$work/out.txt" 2>"$work/err.txt"; then fail "succeeded, expected an error matching '$pattern': $*"; fi
  [ "$(grep -c '^xdnn: error:' "$work/err.txt")" = 1 ] || fail "expected one error line: $(cat "$work/err.txt")"
  grep -q -- "$pattern" "$work/err.txt" || fail "expected '$pattern', got: $(cat "$work/err.txt")"
  echo "ok: error: $(head -1 "$work/err.txt")"
}

explain --input "$x" --out "$work/full.npy" >/dev/null || fail "uninterrupted run"

# Killed after 3 chunks of 5 rows: no output yet, a record of 15 rows.
out="$work/a.npy"
expect_error "stopped after 3 chunk" env XDNN_STOP_AFTER_CHUNKS=3 "$xdnn" explain --model "$model" --method smoothgrad \
  --samples 4 --input "$x" --chunk 5 --out "$out"
[ -e "$out" ] && fail "an interrupted run left $out"
grep -q '"rows_done": 15' "$out.progress.json" || fail "record: $(cat "$out.progress.json")"
# A torn append: bytes after the recorded rows are cut off on resume. Resume with another chunk size (the
# output does not depend on it), killed again, then to the end.
printf 'torn tail of an interrupted append' >>"$out.partial"
XDNN_STOP_AFTER_CHUNKS=2 explain --input "$x" --chunk 7 --out "$out" 2>"$work/err.txt" >/dev/null &&
  fail "the second run was not stopped"
grep -q "resuming .*15 of 64 rows" "$work/err.txt" || fail "no resume message: $(cat "$work/err.txt")"
grep -q '"rows_done": 29' "$out.progress.json" || fail "record after the second run: $(cat "$out.progress.json")"
explain --input "$x" --chunk 7 --out "$out" >/dev/null 2>&1 || fail "the final resumed run"
cmp "$work/full.npy" "$out" || fail "resumed output differs from the uninterrupted run"
[ -e "$out.progress.json" ] || [ -e "$out.partial" ] && fail "record or partial file left after the end"
echo "ok: killed twice (one torn append) and resumed: bit-identical to the uninterrupted run"

# --resume without a record starts from row 0.
explain --input "$x" --chunk 16 --resume --out "$work/b.npy" >/dev/null 2>"$work/err.txt" || fail "--resume, no record"
grep -q "no progress record" "$work/err.txt" || fail "--resume without a record said: $(cat "$work/err.txt")"
cmp "$work/full.npy" "$work/b.npy" || fail "--resume without a record: output differs"
echo "ok: --resume without a record runs from the start"

# A record of another run: other options, another input, another model.
stop_at_one() { XDNN_STOP_AFTER_CHUNKS=1 explain --input "$x" --chunk 8 --out "$work/c.npy" >/dev/null 2>&1; }
stop_at_one
expect_error "run.s options is .*refusing to mix two runs" explain --seed 1 --input "$x" --chunk 8 --out "$work/c.npy"
expect_error "run.s input is" explain --input "$x_other" --out "$work/c.npy"
# An .npy rewritten between the kill and the resume (here only its time changes) is refused: the record
# keeps its size and modification time beside the sampled hash.
cp "$x" "$work/x2.npy"
XDNN_STOP_AFTER_CHUNKS=1 explain --input "$work/x2.npy" --chunk 8 --out "$work/e.npy" >/dev/null 2>&1
touch -d "+1 minute" "$work/x2.npy"
expect_error "run.s input file is .* bytes, modified" explain --input "$work/x2.npy" --chunk 8 --out "$work/e.npy"
expect_error "run.s model is" "$xdnn" explain --model "$golden/models/cnn-tracin-ckpt2.onnx" --method smoothgrad \
  --samples 4 --input "$x" --out "$work/c.npy"
grep -q "delete .*c.npy.progress.json" "$work/err.txt" || fail "no hint to start over: $(cat "$work/err.txt")"
# Damaged files: a corrupt record, a partial file shorter than its record, a partial file that is gone.
cp "$work/c.npy.progress.json" "$work/record.json"
printf '{"xdnn_progress": 1, "key": ' >"$work/c.npy.progress.json"
expect_error "malformed progress record" explain --input "$x" --out "$work/c.npy"
cp "$work/record.json" "$work/c.npy.progress.json"
truncate -s 1000 "$work/c.npy.partial"
expect_error "holds fewer bytes than the 8 recorded rows" explain --input "$x" --out "$work/c.npy"
rm "$work/c.npy.partial"
expect_error "partial output .* is missing" explain --input "$x" --out "$work/c.npy"
expect_error "XDNN_STOP_AFTER_CHUNKS: expected a chunk count" env XDNN_STOP_AFTER_CHUNKS=x "$xdnn" explain \
  --model "$model" --method saliency --input "$x" --out "$work/d.npy"

# xdnn report: passes of 32 rows; killed after the first, resumed: the page equals an uninterrupted run's
# but for the methods' timings in its header.
report() { "$xdnn" report --model "$model" --input "$x" --methods saliency,smoothgrad "$@"; }
untimed() { sed 's#<small>[0-9.e+-]* s</small>#<small>T</small>#g' "$1"; }
report --out "$work/full.html" >/dev/null || fail "uninterrupted report"
expect_error "stopped after 1 chunk" env XDNN_STOP_AFTER_CHUNKS=1 "$xdnn" report --model "$model" --input "$x" \
  --methods saliency,smoothgrad --out "$work/r.html"
grep -q '"rows_done": 32' "$work/r.html.progress.json" || fail "report record: $(cat "$work/r.html.progress.json")"
expect_error "run.s options is .*refusing to mix" report --option seed=1 --out "$work/r.html"
report --out "$work/r.html" >/dev/null 2>"$work/err.txt" || fail "resumed report: $(cat "$work/err.txt")"
grep -q "resuming .*32 of 64 rows" "$work/err.txt" || fail "no resume message: $(cat "$work/err.txt")"
cmp <(untimed "$work/full.html") <(untimed "$work/r.html") || fail "resumed report differs from the uninterrupted one"
[ -e "$work/r.html.progress.json" ] || [ -e "$work/r.html.partial" ] && fail "report record or partial file left"
echo "ok: report killed and resumed: the same page"
echo "ok: every resume"
