#!/usr/bin/env bash
# The layers (docs/architecture.md): runtime/ sits below the compiler and includes nothing from
# compiler/, train/ or backends/; the compiler generates code for the CPU runtime without
# reading it (no runtime/cpu/: what the kernels are specialized for, such as the thread pool's
# size, comes in as EmitOptions from backends/cpu, which also links them to the runtime).
# export/ sits beside train/ (only tools/ includes it). Prints each offending include and fails if there is one.
set -u
root=${1:?usage: check_layering.sh SOURCE_DIR}
status=0
if grep -rnE '#include "(compiler|train|backends|dsl)/' "$root/runtime"; then
  echo "runtime/ must not include the layers above it (see docs/architecture.md)" >&2
  status=1
fi
# export/ (the ONNX exporter) sits beside train/: nothing below it or beside it includes it, and it
# reads a forward graph and weights, never a backend or the trainer.
if grep -rnE '#include "export/' "$root/runtime" "$root/compiler" "$root/dsl" "$root/train" "$root/backends"; then
  echo "only tools/ may include export/ (see docs/architecture.md)" >&2
  status=1
fi
if grep -rnE '#include "(train|backends)/' "$root/export"; then
  echo "export/ must not include train/ or backends/: it exports a graph and its weights (see docs/architecture.md)" >&2
  status=1
fi
if grep -rnE '#include "runtime/cpu/' "$root/compiler"; then
  echo "compiler/ must not include runtime/cpu/: backends/cpu passes what code generation needs (see docs/architecture.md)" >&2
  status=1
fi
exit $status
