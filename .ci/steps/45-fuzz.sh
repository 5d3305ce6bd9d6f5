#!/usr/bin/env bash
# CI step: the libFuzzer targets of tests/fuzz/ (the public C ABI on GGUF files, Hugging Face
# directories, tokenizer round trips, chat templates and sampling parameters), built with clang
# and -fsanitize=fuzzer,address,undefined, each run for EDGELLM_FUZZ_SECONDS (default 35) from the
# committed seeds. Any crash, sanitizer report, leak, timeout or memory blow-up fails the step and
# prints the reproducer's path. The same build first runs the untrusted-input regression tests
# (tests/unit/test_hardening.cpp) and the concurrency test (tests/api/test_concurrency.cpp) under
# LeakSanitizer. Installs clang and libFuzzer when missing. Budget: about 4 minutes
# of building and 3 of fuzzing on 2 cores. A long campaign: tests/fuzz/campaign.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v clang++ >/dev/null 2>&1 || ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a \
     >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq clang-14 libclang-rt-14-dev >/dev/null
fi

BUILD=${EDGELLM_FUZZ_BUILD_DIR:-build-fuzz}
CC=clang-14 CXX=clang++-14 cmake -S tests/fuzz -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target fuzz_all
echo "--- untrusted-input regression tests under clang ASan + UBSan (float-cast-overflow included)"
EDGELLM_TEST_DATA="$PWD/tests/data" ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$BUILD/edgellm_hardening_check"
echo "--- LeakSanitizer: 1,000 model opens and closes, sessions, cancellation (CPU backend)"
EDGELLM_TEST_DATA="$PWD/tests/data" ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  "$BUILD/edgellm_leak_check"
rm -f "$BUILD/fuzz_stats.txt"
bash tests/fuzz/run.sh "$BUILD" "${EDGELLM_FUZZ_SECONDS:-35}"
