#!/usr/bin/env bash
# A long fuzzing campaign: builds the targets (as .ci/steps/45-fuzz.sh does) and runs every target
# for SECONDS each, all targets at once, each with JOBS processes (libFuzzer fork mode), keeping the
# grown corpora in BUILD/corpus between campaigns. Prints exec counts per target at the end.
#   bash tests/fuzz/campaign.sh [SECONDS=3600] [JOBS=1] [BUILD=build-fuzz]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-3600}
JOBS=${2:-1}
BUILD=${3:-build-fuzz}
CC=clang-14 CXX=clang++-14 cmake -S tests/fuzz -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target fuzz_all
pids=()
for t in gguf hf_dir tokenize chat_template sampling; do
  mkdir -p "$BUILD/campaign-$t"
  EDGELLM_FUZZ_JOBS=$JOBS bash tests/fuzz/run.sh "$BUILD" "$SECS" "$t" > "$BUILD/campaign-$t.out" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
cat "$BUILD"/campaign-*.out | grep -E '^fuzz_|FAILED|artifact' || true
exit $status
