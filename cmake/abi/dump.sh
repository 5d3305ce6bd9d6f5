#!/usr/bin/env bash
# Writes the ABI (abixml) of libedgellm.so $1 restricted to the public header's types to $2, in a
# form that does not depend on the build machine (no paths, no source locations).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
abidw --headers-dir "$ROOT/include/edgellm" --drop-private-types --exported-interfaces-only \
      --drop-undefined-syms \
      --no-corpus-path --no-comp-dir-path --no-show-locs --no-elf-needed \
      --out-file "$2" "$1"
