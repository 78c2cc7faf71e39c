#!/usr/bin/env bash
# `resnetc --emit=cuda` prints one self-contained translation unit that nvcc accepts for sm_90 as
# well as NVRTC (whose side test_cuda_codegen_nvrtc covers): the seed's ResNet-18, its training
# step and its forward pass, compiled to cubins with every warning an error.
#
# Usage: nvcc_accepts_emit.sh RESNETC NVCC
set -euo pipefail
resnetc=$1
nvcc=$2
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for step in training forward; do
  flags=(--emit=cuda --batch 2)
  if [ "$step" = training ]; then flags+=(--train); fi
  "$resnetc" examples/d2l-resnet18.net "${flags[@]}" > "$tmp/$step.cu"
  "$nvcc" -arch=sm_90 -cubin -Werror all-warnings -o "$tmp/$step.cubin" "$tmp/$step.cu"
  test -s "$tmp/$step.cubin"
  echo "nvcc compiled the $step step: $(grep -c '__global__' "$tmp/$step.cu") kernels"
done
# The recipes' kernels: AdamW groups with and without weight decay, the label-smoothed loss.
"$resnetc" tests/lit/Inputs/adamw.net --emit=cuda --train --batch 2 > "$tmp/adamw.cu"
"$nvcc" -arch=sm_90 -cubin -Werror all-warnings -o "$tmp/adamw.cubin" "$tmp/adamw.cu"
test -s "$tmp/adamw.cubin"
echo "nvcc compiled the AdamW training step: $(grep -c '__global__' "$tmp/adamw.cu") kernels"
