#!/bin/bash
# Python tooling environment for reference scripts, benchmarks and tests/zoo/make_zoo.py.
# xdnn itself (engine, tests, CLI) never needs Python; this is for producing peer numbers only.
#
#   bash bench/make_venv.sh [DIR]      # DIR defaults to .venv in the repository root
#
# Official PyPI wheels: torch, torchvision, onnx, onnxscript (torch.onnx.export's default dynamo
# path needs it), captum, zennit, numpy, scikit-learn, quantus 0.6.0 (bench/quantus_table.py,
# bench/quantus_localisation.py). On Linux x86_64 the PyPI torch wheel pulls
# the CUDA runtime libraries too (a few GB).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$repo/.venv}"
python="${PYTHON:-python3}"
"$python" -m venv "$dir"
"$dir/bin/python" -m pip install --upgrade pip
"$dir/bin/python" -m pip install torch torchvision onnx onnxscript captum zennit numpy scikit-learn quantus==0.6.0
"$dir/bin/python" -m pip install torch-lucent  # bench/visualize_reference.py (activation maximisation peer)
"$dir/bin/python" - <<'PY'
import torch, torchvision, onnx, onnxscript, captum, zennit, numpy, sklearn, quantus
for m in (torch, torchvision, onnx, onnxscript, captum, numpy, sklearn, quantus):
    print(f"{m.__name__:12s} {m.__version__}")
PY
echo "venv ready: $dir"
