#!/usr/bin/env bash
# Training and explaining on Device::Strict (issue 17, items 3 and 4): memory host code may not read, its
# ops the CPU's kernels. `xdnn train --device strict` for fashion-mlp and fashion-cnn (two epochs on 256
# images, then a resumed third) must write the CPU run's checkpoints and optimizer states byte for byte, and
# `xdnn explain --device strict` with saliency, integrated gradients, LRP (two composites), Grad-CAM and RISE on
# the trained fashion-cnn must write the CPU's attributions byte for byte; the same for adversarial training
# (PGD) of fashion-mlp, FGSM / PGD / CW-L2 attacks, every `xdnn evaluate` metric, SVCCA (two models and
# --checkpoints), `xdnn eval`, probes, TCAV, visualize (and its VAE generator's training), exemplars, project and report on fashion-cnn, and every
# influence method and solver
# over the golden CNN's checkpoints. Any host read of strict memory
# fails the run, naming the file and line that read it.
# Usage: cli_strict.sh path/to/xdnn input.npy   (input: a (N, 1, 28, 28) float32 array, labels.npy beside it)
set -u
xdnn="$1"
input="$2"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
run() {  # run NAME ARGS...: the command must succeed
  local name=$1
  shift
  if ! timeout 120 "$xdnn" "$@" >"$tmp/out" 2>"$tmp/err"; then
    echo "FAIL: $name: $(tail -n 3 "$tmp/err")"
    status=1
  fi
}
same() {  # same NAME FILE_CPU FILE_STRICT
  if cmp -s "$2" "$3"; then echo "ok: $1: the same bytes on cpu and strict"; else
    echo "FAIL: $1: $2 and $3 differ (or one is missing)"
    status=1
  fi
}

for model in fashion-mlp fashion-cnn; do
  for device in cpu strict; do
    run "train $model --device $device" train --model "$model" --epochs 2 --train-limit 256 --test-limit 128 \
      --no-progress --device "$device" --out "$tmp/$model-$device"
    run "resume $model --device $device" train --epochs 3 --resume "$tmp/$model-$device/epoch-2.safetensors" \
      --train-limit 256 --test-limit 128 --no-progress --device "$device" --out "$tmp/$model-$device"
  done
  for f in epoch-1.safetensors epoch-2.safetensors epoch-3.safetensors epoch-3.optim.safetensors; do
    same "$model $f" "$tmp/$model-cpu/$f" "$tmp/$model-strict/$f"
  done
done

# Adversarial training (PGD examples per batch, robust test accuracy) on fashion-mlp.
for device in cpu strict; do
  run "train --adversarial pgd --device $device" train --model fashion-mlp --epochs 1 --train-limit 128 \
    --test-limit 64 --adversarial pgd --radius 0.1 --pgd-steps 3 --no-progress --device "$device" --out "$tmp/adv-$device"
done
same "adversarial training" "$tmp/adv-cpu/epoch-1.safetensors" "$tmp/adv-strict/epoch-1.safetensors"

weights="$tmp/fashion-cnn-cpu/epoch-3.safetensors"
i=0
for method in "saliency" "integrated-gradients" "lrp --composite epsilon-plus" "lrp --composite epsilon-gamma-box" \
  "grad-cam --layer conv2" "grad-cam" "rise --masks 50"; do
  i=$((i + 1))
  for device in cpu strict; do
    # shellcheck disable=SC2086 # the method's options are split on purpose
    run "explain $method --device $device" explain --model "$weights" --input "$input" --method $method \
      --device "$device" --out "$tmp/a$i-$device.npy"
  done
  same "explain $method" "$tmp/a$i-cpu.npy" "$tmp/a$i-strict.npy"
done
# FGSM, PGD (random start) and Carlini-Wagner L2 against the trained fashion-cnn.
labels="$(dirname "$input")/labels.npy"
for method in "fgsm --radius 0.1" "pgd --radius 0.1 --steps 3" "cw-l2 --steps 20 --search-steps 2"; do
  i=$((i + 1))
  for device in cpu strict; do
    # shellcheck disable=SC2086 # the method's options are split on purpose
    run "attack $method --device $device" attack --model "$weights" --input "$input" --labels "$labels" \
      --method $method --device "$device" --out "$tmp/a$i-$device.npy"
  done
  same "attack $method" "$tmp/a$i-cpu.npy" "$tmp/a$i-strict.npy"
done
# Deletion and insertion curves of saliency and LRP (the methods and the perturbed rows' forward on the device).
for device in cpu strict; do
  run "evaluate --device $device" evaluate --model "$weights" --input "$input" --methods saliency,lrp \
    --option composite=epsilon-plus --metric deletion,insertion --score prob --steps 8 --device "$device" \
    --out "$tmp/evaluate-$device"
done
for f in saliency.deletion.npy saliency.insertion.npy lrp.deletion.npy lrp.insertion.npy; do
  same "evaluate $f" "$tmp/evaluate-cpu/$f" "$tmp/evaluate-strict/$f"
done

# Every other metric of `xdnn evaluate` (AOPC, faithfulness correlation, infidelity, max-sensitivity, the three
# sanity checks) with its perturbed rows, randomised models and re-run methods on the device, and the
# ground-truth metrics of a small trigger-task LSTM (token inputs on the device).
metrics="aopc,faithfulness-correlation,infidelity,max-sensitivity,cascading-randomisation,independent-randomisation"
metrics="$metrics,data-randomisation"
for device in cpu strict; do
  run "evaluate $metrics --device $device" evaluate --model "$weights" --input "$input" --methods saliency,grad-cam \
    --option layer=conv2 --option upsample=true --metric "$metrics" --score prob --steps 4 --samples 4 \
    --subset-size 50 --random-model "$tmp/fashion-cnn-cpu/epoch-1.safetensors" --save-attributions --device "$device" \
    --out "$tmp/metrics-$device"
done
run "train text-lstm --data trigger" train --model text-lstm --data trigger --epochs 1 --train-limit 64 --test-limit 16 \
  --no-progress --out "$tmp/trigger"
for device in cpu strict; do
  run "evaluate ground truth --device $device" evaluate --model "$tmp/trigger/epoch-1.safetensors" --trigger-test 6 \
    --methods saliency,integrated-gradients --metric pointing-game,relevance-mass,relevance-rank,rationale-f1 \
    --device "$device" --out "$tmp/truth-$device"
done
for dir in metrics truth; do
  for f in "$tmp/$dir-cpu"/*.npy; do same "evaluate $(basename "$f")" "$f" "$tmp/$dir-strict/$(basename "$f")"; done
done

# SVCCA of a layer of the trained fashion-cnn against one of the resumed run's earlier checkpoint.
for device in cpu strict; do
  run "svcca --device $device" svcca --model "$weights" --model-b "$tmp/fashion-cnn-cpu/epoch-1.safetensors" \
    --layer relu2 --layer-b relu2 --input "$input" --keep 0.95 --device "$device" --out "$tmp/svcca-$device.npy"
done
same "svcca" "$tmp/svcca-cpu.npy" "$tmp/svcca-strict.npy"
# SVCCA convergence over the resumed run's three checkpoints, and `xdnn eval`'s printed accuracy and loss.
ckpts="$tmp/fashion-cnn-cpu/epoch-1.safetensors,$tmp/fashion-cnn-cpu/epoch-2.safetensors,$weights"
for device in cpu strict; do
  run "svcca --checkpoints --device $device" svcca --checkpoints "$ckpts" --input "$input" --keep 0.95 \
    --device "$device" --out "$tmp/convergence-$device.npy"
  run "eval --device $device" eval --model "$weights" --limit 200 --batch-size 64 --device "$device"
  cp "$tmp/out" "$tmp/eval-$device.txt"
done
same "svcca --checkpoints" "$tmp/convergence-cpu.npy" "$tmp/convergence-strict.npy"
same "eval" "$tmp/eval-cpu.txt" "$tmp/eval-strict.txt"

# Training-data influence over the golden CNN's three checkpoints (64 training, 6 test images): every method and
# solver on the device with the CPU's bytes, the last layer's factored route (TracIn, Grad-Cos, self-influence:
# engine/ops_influence.h) included.
golden="$(dirname "$(dirname "$input")")"
data="--checkpoints $golden/models/cnn-tracin-ckpt1.onnx,$golden/models/cnn-tracin-ckpt2.onnx,$golden/models/cnn-tracin-ckpt3.onnx \
  --lr 0.1,0.1,0.1 --train-x $golden/data/tracin-train-x.npy --train-y $golden/data/tracin-train-y.npy \
  --test-x $golden/influence-cnn-tracin-last-layer/input.npy --test-y $golden/influence-cnn-tracin-last-layer/labels.npy"
for method in "tracin" "tracin --projection 16 --seed 3" "grad-dot" "grad-cos" "self-influence" \
  "influence-function --params last-layer" "influence-function --damping 5" \
  "influence-function --params last-layer --solver lissa --lissa-depth 20 --lissa-batch 16" \
  "influence-function --damping 5 --solver lissa --lissa-depth 5 --lissa-batch 16"; do
  i=$((i + 1))
  for device in cpu strict; do
    # shellcheck disable=SC2086 # the method's options and the data are split on purpose
    run "influence $method --device $device" influence --method $method $data --device "$device" \
      --out "$tmp/a$i-$device.npy"
  done
  same "influence $method" "$tmp/a$i-cpu.npy" "$tmp/a$i-strict.npy"
done
# --top: the strongest proponents and opponents printed from the scores copied back (the same ranking).
for device in cpu strict; do
  # shellcheck disable=SC2086 # the data are split on purpose
  timeout 120 "$xdnn" influence --method tracin $data --top 2 --device "$device" --out "$tmp/top-$device.npy" \
    >"$tmp/top-$device.txt" 2>"$tmp/err" || { echo "FAIL: influence --top --device $device: $(tail -n 3 "$tmp/err")"; status=1; }
done
if cmp -s <(tail -n +2 "$tmp/top-cpu.txt") <(tail -n +2 "$tmp/top-strict.txt") && [ -s "$tmp/top-cpu.txt" ]; then
  echo "ok: influence --top 2: the same ranking on cpu and strict"
else
  echo "FAIL: influence --top 2: the rankings differ"
  status=1
fi
for method in "tracin --params last-layer" "grad-cos --params last-layer" "self-influence --params last-layer"; do
  i=$((i + 1))
  for device in cpu strict; do
    # shellcheck disable=SC2086 # the method's options and the data are split on purpose
    run "influence $method --device $device" influence --method $method $data --device "$device" \
      --out "$tmp/a$i-$device.npy"
  done
  same "influence $method" "$tmp/a$i-cpu.npy" "$tmp/a$i-strict.npy"
done

# Global views: linear probes of every layer, activation maximisation, the exemplar views (top activations, class
# exemplars).
for device in cpu strict; do
  run "probe --device $device" probe --model "$weights" --input "$input" --labels "$labels" --device "$device" \
    --out "$tmp/probe-$device.csv"
  run "visualize --device $device" visualize --model "$weights" --layer relu2 --units 0,3 --steps 8 --input "$input" \
    --device "$device" --out "$tmp/visualize-$device"
  run "exemplars --device $device" exemplars --model "$weights" --input "$input" --labels "$labels" --layer relu2 \
    --top 2 --device "$device" --out "$tmp/exemplars-$device"
done
same "probe" "$tmp/probe-cpu.csv" "$tmp/probe-strict.csv"
# TCAV: the input's 3 images as the concept against random sets drawn from the 64 TracIn training images.
for device in cpu strict; do
  run "tcav --device $device" tcav --model "$weights" --layer relu2 --class 3 --input "$input" \
    --concept "$input" --min-examples 2 --random "$golden/data/tracin-train-x.npy" --runs 3 --device "$device" \
    --out "$tmp/tcav-$device.json"
done
same "tcav" "$tmp/tcav-cpu.json" "$tmp/tcav-strict.json"
same "visualize" "$tmp/visualize-cpu/images.npy" "$tmp/visualize-strict/images.npy"
# The VAE generator's training (Kingma & Welling 2014) on 64 Fashion-MNIST images: the same decoder file.
for device in cpu strict; do
  run "visualize --train-generator --device $device" visualize --train-generator --epochs 1 --limit 64 --latent 4 \
    --hidden 32 --device "$device" --out "$tmp/generator-$device.safetensors"
done
same "visualize --train-generator" "$tmp/generator-cpu.safetensors" "$tmp/generator-strict.safetensors"
# The HTML report (methods and the evaluation section on the device, pictures from host copies): the CPU's page
# apart from the per-method seconds in the column heads.
for device in cpu strict; do
  run "report --device $device" report --model "$weights" --input "$input" --labels "$labels" \
    --methods saliency,integrated-gradients,lrp,rise --option masks=50 --metrics deletion,insertion \
    --metric-option score=prob --metric-option steps=8 --device "$device" --out "$tmp/report-$device.html"
  sed 's|<small>[0-9.]* s</small>||g' "$tmp/report-$device.html" >"$tmp/report-$device.untimed.html"
done
same "report" "$tmp/report-cpu.untimed.html" "$tmp/report-strict.untimed.html"
# Projections of a layer's activations (forward passes on the device, PCA and t-SNE on the host).
for method in pca tsne; do
  for device in cpu strict; do
    run "project --method $method --device $device" project --model "$weights" --input "$input" --labels "$labels" \
      --layer relu2 --method "$method" --perplexity 1 --iterations 50 --device "$device" \
      --out "$tmp/project-$method-$device.npy"
  done
  same "project --method $method" "$tmp/project-$method-cpu.npy" "$tmp/project-$method-strict.npy"
done
for f in filters.png top-activations.json top-activations.png class-exemplars.json class-exemplars.png; do
  same "exemplars $f" "$tmp/exemplars-cpu/$f" "$tmp/exemplars-strict/$f"
done
exit $status
