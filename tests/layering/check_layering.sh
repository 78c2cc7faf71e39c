#!/usr/bin/env bash
# The layers (docs/architecture.md): runtime/ sits below the compiler and includes nothing from
# compiler/, train/ or backends/. Prints each offending include and fails if there is one.
set -u
root=${1:?usage: check_layering.sh SOURCE_DIR}
if grep -rnE '#include "(compiler|train|backends|dsl)/' "$root/runtime"; then
  echo "runtime/ must not include the layers above it (see docs/architecture.md)" >&2
  exit 1
fi
