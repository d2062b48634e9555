#!/usr/bin/env bash
# xdnn must start where no CUDA library is installed and without paying for them: the CUDA runtime is
# linked statically and cuBLAS/cuDNN are opened on first use (kernels/cuda_libs.h), so none of them may be
# a DT_NEEDED entry of the binary. Then `xdnn --help` must work.
# Usage: cli_no_cuda_needed.sh path/to/xdnn
set -u
xdnn="$1"
needed=$(readelf -d "$xdnn" | grep '(NEEDED)') || { echo "FAIL: readelf -d $xdnn found no NEEDED entries"; exit 1; }
echo "$needed"
if grep -E 'libcu(da|dart|blas|blasLt|dnn[a-z_]*)\.so' <<<"$needed"; then
  echo "FAIL: a CUDA library is a load-time dependency"
  exit 1
fi
timeout 60 "$xdnn" --help >/dev/null || { echo "FAIL: xdnn --help"; exit 1; }
echo "ok: no CUDA library among the NEEDED entries; --help runs"
