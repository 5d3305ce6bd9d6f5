#!/usr/bin/env bash
# CI step: the OpenCL kernel tests (tests/unit/test_opencl_*.cpp) under oclgrind's simulated
# device with API checks and data-race detection, small sizes (EDGELLM_TEST_SMALL=1). Fails on any
# out-of-bounds access, data race, API error or test failure. Runs after the main suite (.ci/run),
# as root on Debian 12; installs oclgrind when missing. Budget: under ~10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v oclgrind >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq oclgrind >/dev/null
fi

BUILD=${EDGELLM_BUILD_DIR:-build}
if [ ! -x "$BUILD/tests/edgellm_unit_tests" ]; then
  cmake -S . -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j2 --target edgellm_unit_tests
fi

LOG=$(mktemp)
CACHE=$(mktemp -d)
trap 'rm -rf "$LOG" "$CACHE"' EXIT
export EDGELLM_TEST_SMALL=1
export EDGELLM_CACHE_DIR="$CACHE"
status=0
# oclgrind <cmd> preloads its runtime: the simulated device is the only OpenCL device.
# The device test (binary cache, build errors, selection), the op tests and the argmax test, one
# process each.
# --uninitialized is left out: CLBlast's XgemmDirect stages padding values it never uses.
# The device test provokes API errors on purpose (a broken kernel, a corrupt cache binary), so
# --check-api applies to the op tests only; memory errors and races count everywhere.
MEM_PAT='invalid (read|write)|data race'
for t in test_opencl_device test_opencl_ops test_opencl_sample; do
  echo "--- oclgrind: $t"
  opts="--data-races"
  pat="$MEM_PAT"
  if [ "$t" != test_opencl_device ]; then
    opts="$opts --check-api"
    pat="$MEM_PAT|runtime error detected"
  fi
  rc=0
  timeout 900 oclgrind $opts "$BUILD/tests/edgellm_unit_tests" --source-file="*${t}.cpp" >"$LOG" 2>&1 || rc=$?
  tail -n 4 "$LOG"
  # oclgrind reports problems on stderr but keeps the exit status: scan its messages.
  if grep -E -i -q "$pat" "$LOG"; then
    echo "oclgrind found problems in $t:"
    grep -E -i -A8 "$pat" "$LOG" | head -n 80 || true
    status=1
  fi
  if [ "$rc" -ne 0 ] || ! grep -q "Status: SUCCESS" "$LOG"; then
    echo "$t failed under oclgrind (exit $rc)"
    status=1
  fi
done
exit $status
