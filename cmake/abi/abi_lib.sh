#!/usr/bin/env bash
# Prints the path of a libedgellm.so that carries DWARF (what abidw needs for types): the one in
# build dir $1 when it has debug info, else one built into $1-abi (RelWithDebInfo, library target
# only, the same EDGELLM_OPENCL setting as $1). Used by update_baseline.sh and .ci/steps/70-abi.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
lib="$BUILD/libedgellm.so"
if [ -f "$lib" ] && readelf -S "$lib" | grep -q '\.debug_info'; then
  readlink -f "$lib"; exit 0
fi
opencl=ON
if [ -f "$BUILD/CMakeCache.txt" ]; then
  opencl="$(sed -n 's/^EDGELLM_OPENCL:BOOL=//p' "$BUILD/CMakeCache.txt")"
  opencl="${opencl:-ON}"
fi
ABI_BUILD="${BUILD%/}-abi"
echo "building a RelWithDebInfo libedgellm in $ABI_BUILD for the ABI dump (EDGELLM_OPENCL=$opencl)" >&2
cmake -S "$ROOT" -B "$ABI_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGELLM_OPENCL="$opencl" \
      -DEDGELLM_BUILD_TESTS=OFF -DEDGELLM_BUILD_EXAMPLES=OFF >&2
cmake --build "$ABI_BUILD" --target edgellm -j"${EDGELLM_ABI_JOBS:-$(nproc)}" >&2
readlink -f "$ABI_BUILD/libedgellm.so"
