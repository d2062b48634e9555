#!/usr/bin/env bash
# The examples as a user builds them: `meson install` into a DESTDIR inside the build directory, then each
# example compiled with nothing but `pkg-config --cflags --libs xdnn` (shared library; the explain example
# also against xdnn-static, the static library) and run.
#   run_examples.sh BUILD_DIR PREFIX LIBDIR SANITIZE EXAMPLES_DIR GOLDEN_DIR
set -euo pipefail
build=$1 prefix=$2 libdir=$3 sanitize=$4 src=$5 golden=$6
work=$build/examples
dest=$work/destdir
rm -rf "$work" && mkdir -p "$work"
meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; exit 1; }
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
# The .pc files name the configured prefix; the sysroot variable points their -I/-L paths into DESTDIR.
export PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$dest$libdir/pkgconfig
export LD_LIBRARY_PATH=$dest$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
extra=()
# A sanitized build's library needs its runtime in the program too.
[ "$sanitize" != none ] && extra+=("-fsanitize=$sanitize")
cxx=${CXX:-c++}
build_example() {  # NAME PC-PACKAGE
  echo "== $cxx $1.cpp \$(pkg-config --cflags --libs $2)"
  # shellcheck disable=SC2046
  "$cxx" -std=c++20 -Wall -Wextra -Werror "${extra[@]}" "$src/$1.cpp" $(pkg-config --cflags --libs "$2") \
    -o "$work/$1-$2"
}
build_example explain_onnx xdnn
build_example explain_onnx xdnn-static
build_example train_tracin xdnn
build_example custom_layer xdnn
# libxdnn.so exports the public API only (explain/api/libxdnn.map).
internal=$(nm -D --defined-only "$dest$libdir/libxdnn.so" | awk '{print $3}' | c++filt | grep -v 'xdnn::api::' |
  grep -v '^XDNN_0$' || true)
if [ -n "$internal" ]; then echo "libxdnn.so exports more than xdnn::api:"; echo "$internal" | head; exit 1; fi
# The static program must not depend on libxdnn.so.
if ldd "$work/explain_onnx-xdnn-static" | grep -q libxdnn; then echo "explain_onnx-xdnn-static links libxdnn.so"; exit 1; fi

input=$golden/explain-cnn-saliency/input.npy
"$work/explain_onnx-xdnn" "$golden/models/cnn.onnx" "$input" "$work/ig.npy"
"$work/explain_onnx-xdnn-static" "$golden/models/cnn.onnx" "$input" "$work/ig-static.npy"
cmp "$work/ig.npy" "$work/ig-static.npy"
"$work/train_tracin-xdnn" "$work/run" 256
"$work/custom_layer-xdnn"
echo "examples: all passed"
