#!/usr/bin/env bash
# Regenerates the committed ABI baseline cmake/abi/libedgellm.abi from the current library.
# Run it (and commit the result) when the ABI is first complete, after adding functions or growing
# structs, and after a deliberate major-version bump:
#     cmake/abi/update_baseline.sh [BUILD_DIR]      # default ./build
# It uses BUILD_DIR's libedgellm.so if that has debug info, else builds BUILD_DIR-abi
# (RelWithDebInfo). Needs abigail-tools (apt-get install abigail-tools).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
lib="$(bash "$HERE/abi_lib.sh" "${1:-$HERE/../../build}")"
bash "$HERE/dump.sh" "$lib" "$HERE/libedgellm.abi"
echo "wrote $HERE/libedgellm.abi from $lib ($(grep -c '<elf-symbol ' "$HERE/libedgellm.abi") symbols)"
