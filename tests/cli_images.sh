#!/usr/bin/env bash
# Images, text and per-sample targets through the command line (explain/cli/cli_input.cpp):
#  - --target labels.npy gives each sample exactly what --target K gives it alone (explain and evaluate);
#  - --text and a .txt file tokenise with --vocab into the ids an .npy of those ids holds (same attributions);
#  - a PNG (written by xdnn's own --png) read with --grayscale --resize by run, explain, attack, report
#    (which records the normalisation), and the one-line errors for RGB-vs-grey, mixed sizes, a corrupt file.
set -euo pipefail
xdnn=$1
golden=$2
cnn=$golden/models/cnn.onnx
lstm=$golden/models/lstm.onnx
x=$golden/explain-cnn-saliency/input.npy  # float32 (4, 1, 28, 28)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# A NumPy v1 file written by hand (the tests need no Python): magic, version, header length, the header
# padded to a 64-byte boundary, then the little-endian values (`bytes` per value).
npy() {  # npy FILE DESCR SHAPE BYTES VALUES...
  local file=$1 descr=$2 shape=$3 bytes=$4
  shift 4
  local header="{'descr': '$descr', 'fortran_order': False, 'shape': $shape, }"
  local pad=$(((64 - (10 + ${#header} + 1) % 64) % 64))
  local len=$((${#header} + pad + 1))
  {
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((len % 256)))\\x$(printf %02x $((len / 256)))"
    printf '%s%*s\n' "$header" "$pad" ''
    for v in "$@"; do
      printf "\\x$(printf %02x "$v")"
      for ((i = 1; i < bytes; ++i)); do printf '\x00'; done
    done
  } >"$file"
}
fail() { echo "FAIL: $*"; exit 1; }
# Bytes [from, from + count) of a file.
part() { tail -c +$(($2 + 1)) "$1" | head -c "$3"; }
# expect_error WANT COMMAND...: the command fails with one line on stderr containing WANT.
expect_error() {
  local want=$1
  shift
  if "$@" >"$dir/out" 2>"$dir/err"; then fail "succeeded: $*"; fi
  grep -q -- "$want" "$dir/err" || { cat "$dir/err"; fail "error lacks '$want': $*"; }
  [ "$(grep -c '^xdnn: error' "$dir/err")" = 1 ] || fail "not one error line: $*"
}

# 1. Per-sample targets: sample n with labels[n] == the batch run with --target labels[n], row n.
npy "$dir/labels.npy" '<i4' '(4,)' 4 3 7 0 9  # int32, as NumPy writes np.array([...], np.int32)
"$xdnn" explain --model "$cnn" --input "$x" --method saliency --target "$dir/labels.npy" --out "$dir/per.npy" >/dev/null
row=$((28 * 28 * 4))
head=$(($(stat -c %s "$dir/per.npy") - 4 * row))
i=0
for k in 3 7 0 9; do
  "$xdnn" explain --model "$cnn" --input "$x" --method saliency --target $k --out "$dir/t$k.npy" >/dev/null
  cmp <(part "$dir/per.npy" $((head + i * row)) $row) <(part "$dir/t$k.npy" $((head + i * row)) $row) ||
    fail "explain: sample $i with --target labels.npy differs from --target $k"
  i=$((i + 1))
done
cmp -s "$dir/t3.npy" "$dir/t7.npy" && fail "targets 3 and 7 give the same saliency: the check above cannot fail"
for k in 3 9; do
  "$xdnn" evaluate --metric deletion --methods saliency --score logit --steps 4 --model "$cnn" --input "$x" \
    --target $k --out "$dir/e$k.npy" >/dev/null
done
"$xdnn" evaluate --metric deletion --methods saliency --score logit --steps 4 --model "$cnn" --input "$x" \
  --target "$dir/labels.npy" --out "$dir/eper.npy" >/dev/null
erow=$((5 * 4))
ehead=$(($(stat -c %s "$dir/eper.npy") - 4 * erow))
cmp <(part "$dir/eper.npy" $ehead $erow) <(part "$dir/e3.npy" $ehead $erow) || fail "evaluate: sample 0 differs"
cmp <(part "$dir/eper.npy" $((ehead + 3 * erow)) $erow) <(part "$dir/e9.npy" $((ehead + 3 * erow)) $erow) ||
  fail "evaluate: sample 3 differs"
npy "$dir/short.npy" '<i8' '(3,)' 8 1 2 3
npy "$dir/big.npy" '<i8' '(4,)' 8 1 2 10 3
npy "$dir/float.npy" '<f4' '(4,)' 4 0 0 0 0
expect_error "expected int64 or int32 (4,)" "$xdnn" explain --model "$cnn" --input "$x" --method saliency \
  --target "$dir/short.npy" --out "$dir/a.npy"
expect_error "element 2 is 10, out of range" "$xdnn" explain --model "$cnn" --input "$x" --method saliency \
  --target "$dir/big.npy" --out "$dir/a.npy"
"$xdnn" report --model "$cnn" --input "$x" --methods saliency --target "$dir/labels.npy" --out "$dir/r.html" >/dev/null
grep -q "explained: class 7" "$dir/r.html" || fail "report: per-sample targets not shown"
expect_error "float32 ('<f4') (4,), expected int64 or int32" "$xdnn" report --model "$cnn" --input "$x" \
  --methods saliency --target "$dir/float.npy" --out "$dir/r.html"

# 2. Text: "the cat sat" through vocab.json is ids 2 3 4 then <pad> to the model's 12 tokens.
printf '%s\n' '{"format": "xdnn-vocabulary-1", "level": "word", "pad": 0, "unk": 1,' \
  '"tokens": ["<pad>", "<unk>", "the", "cat", "sat", "on", "mat"]}' >"$dir/vocab.json"
npy "$dir/ids.npy" '<i8' '(2, 12)' 8 2 3 4 0 0 0 0 0 0 0 0 0 5 2 6 1 0 0 0 0 0 0 0 0
printf 'The cat sat\non the mat, dog\n' >"$dir/texts.txt"
"$xdnn" explain --model "$lstm" --input "$dir/ids.npy" --method gradient-x-input --out "$dir/ids_attr.npy" >/dev/null
"$xdnn" explain --model "$lstm" --input "$dir/texts.txt" --vocab "$dir/vocab.json" --method gradient-x-input \
  --out "$dir/txt_attr.npy" >/dev/null
cmp "$dir/ids_attr.npy" "$dir/txt_attr.npy" || fail "a .txt input differs from its token ids"
"$xdnn" explain --model "$lstm" --input "$dir/texts.txt" --vocab "$dir/vocab.json" --method saliency \
  --out "$dir/a.npy" --png "$dir/tokens.png" | grep -q "wrote $dir/tokens.png" || fail "token --png"
"$xdnn" run --model "$lstm" --text "the cat sat" --vocab "$dir/vocab.json" --out "$dir/y_text.npy" >/dev/null
npy "$dir/ids1.npy" '<i8' '(1, 12)' 8 2 3 4 0 0 0 0 0 0 0 0 0
"$xdnn" run --model "$lstm" --input "$dir/ids1.npy" --out "$dir/y_ids.npy" >/dev/null
cmp "$dir/y_text.npy" "$dir/y_ids.npy" || fail "--text differs from its token ids"
expect_error "13 tokens, but the model takes 12" "$xdnn" run --model "$lstm" --vocab "$dir/vocab.json" \
  --text "a b c d e f g h i j k l m" --out "$dir/y.npy"
expect_error "give --vocab" "$xdnn" run --model "$lstm" --text "the cat" --out "$dir/y.npy"
expect_error "text is for token models" "$xdnn" run --model "$cnn" --text "the cat" --vocab "$dir/vocab.json" \
  --out "$dir/y.npy"

# 3. Images: xdnn's own --png (RGB, wider than tall) as an input picture.
"$xdnn" explain --model "$cnn" --input "$x" --method saliency --png "$dir/four.png" --out "$dir/a.npy" >/dev/null
"$xdnn" explain --model "$cnn" --input "$dir/ids1.npy" --method saliency --out "$dir/a.npy" 2>/dev/null &&
  fail "int64 ids accepted by an image model"
mkdir "$dir/pics"
cp "$dir/four.png" "$dir/pics/b.png"
"$xdnn" run --model "$cnn" --input "$dir/pics" --grayscale --resize 28x28 --out "$dir/y.npy" | grep -q "(1, 10)" ||
  fail "run on a folder of one picture"
expect_error "--grayscale reads one channel" "$xdnn" run --model "$cnn" --input "$dir/pics/b.png" --out "$dir/y.npy"
"$xdnn" explain --model "$cnn" --input "$dir/pics" --grayscale --resize 28x28 --method saliency --png "$dir/p.png" \
  --out "$dir/a.npy" >/dev/null
[ "$(head -c 4 "$dir/p.png" | tail -c 3)" = PNG ] || fail "explain --png on an image input"
npy "$dir/label1.npy" '<i8' '(1,)' 8 3
"$xdnn" attack --method fgsm --model "$cnn" --input "$dir/pics" --grayscale --resize 28x28 \
  --labels "$dir/label1.npy" --radius 0.1 --out "$dir/adv.npy" >/dev/null
"$xdnn" report --model "$cnn" --input "$dir/pics" --grayscale --resize 28x28 --mean 0.5 --std 0.25 \
  --methods saliency --out "$dir/r.html" >/dev/null
grep -q "resized to 28x28 (bilinear, half-pixel centres), grayscale, values / 255, mean (0.5), std (0.25)" \
  "$dir/r.html" || fail "report lacks the input's normalisation"
cp "$dir/p.png" "$dir/pics/a.png"  # a different size, first in name order
expect_error "'$dir/pics/a.png' is" "$xdnn" run --model "$cnn" --input "$dir/pics" --grayscale --out "$dir/y.npy"
printf 'not a picture' >"$dir/pics/c.png"
expect_error "'$dir/pics/c.png': cannot decode image" "$xdnn" run --model "$cnn" --input "$dir/pics" --grayscale \
  --resize 28x28 --out "$dir/y.npy"
expect_error "apply to image inputs" "$xdnn" run --model "$cnn" --input "$x" --resize 28x28 --out "$dir/y.npy"
echo "images, texts and per-sample targets: ok"
