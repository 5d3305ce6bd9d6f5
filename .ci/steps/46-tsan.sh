#!/usr/bin/env bash
# CI step: ThreadSanitizer over the multi-session test (tests/api/test_concurrency.cpp: several
# threads with several sessions on one model, the CPU backend's thread pool, edgellm_session_cancel
# from another thread, 1,000 model opens and closes). Builds only the library and that test with
# -fsanitize=thread (tests/tsan/CMakeLists.txt), CPU backend: PoCL and the OpenCL ICD loader are
# not instrumented, so TSan cannot see their synchronisation. Fails on any data race report.
# Budget: about 3 minutes of building and 1 of running on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${EDGELLM_TSAN_BUILD_DIR:-build-tsan}
cmake -S tests/tsan -B "$BUILD" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target edgellm_tsan_check
EDGELLM_TEST_DATA="$PWD/tests/data" TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" \
  "$BUILD/edgellm_tsan_check"
