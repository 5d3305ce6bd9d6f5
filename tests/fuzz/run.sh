#!/usr/bin/env bash
# Runs every fuzz target of a build for a bounded time and prints its exec count.
#   bash tests/fuzz/run.sh BUILD_DIR SECONDS_PER_TARGET [TARGET...]
# Each target grows its own corpus in BUILD_DIR/corpus/<target>, seeded from tests/fuzz/corpus/<target>
# (and tests/data/tiny/*.gguf for gguf), with its dictionary from tests/fuzz/dict/. A crash, leak,
# sanitizer report, timeout (-timeout) or memory blow-up (-rss_limit_mb) leaves a reproducer in
# BUILD_DIR/artifacts/ and makes the script exit non-zero; each target's exec count goes to
# BUILD_DIR/fuzz_stats.txt (appended). EDGELLM_FUZZ_JOBS > 1 runs that many processes per target (fork mode).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="$(cd "$1" && pwd)"
SECS="$2"
shift 2
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(gguf hf_dir tokenize chat_template sampling)
JOBS=${EDGELLM_FUZZ_JOBS:-1}
mkdir -p "$BUILD/artifacts"

export TMPDIR="${TMPDIR:-/tmp}"
# A finding (including a leak at exit) must fail the run: ASan aborts, UBSan aborts (built with
# -fno-sanitize-recover), LeakSanitizer runs after each input that leaked (-detect_leaks=1).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for t in "${TARGETS[@]}"; do
  bin="$BUILD/fuzz_$t"
  corpus="$BUILD/corpus/$t"
  seeds="$BUILD/seeds/$t"
  mkdir -p "$corpus" "$seeds"
  [ -d "$ROOT/tests/fuzz/corpus/$t" ] && cp -n "$ROOT/tests/fuzz/corpus/$t"/* "$seeds"/ 2>/dev/null || true
  [ "$t" = gguf ] && cp -n "$ROOT"/tests/data/tiny/*.gguf "$seeds"/
  dict=()
  [ -f "$ROOT/tests/fuzz/dict/$t.dict" ] && dict=(-dict="$ROOT/tests/fuzz/dict/$t.dict")
  maxlen=4096
  case "$t" in gguf) maxlen=600000 ;; hf_dir) maxlen=65536 ;; esac
  log="$BUILD/fuzz_$t.log"
  args=(-max_total_time="$SECS" -timeout=60 -rss_limit_mb=3072 -max_len="$maxlen" -print_final_stats=1
        -artifact_prefix="$BUILD/artifacts/$t-" "${dict[@]}")
  [ "$JOBS" -gt 1 ] && args+=(-fork="$JOBS" -ignore_crashes=0)
  echo "--- fuzz_$t: ${SECS}s"
  rc=0
  "$bin" "${args[@]}" "$corpus" "$seeds" > "$log" 2>&1 || rc=$?
  # Exec count: the final stats line in one-process mode, the last status line in fork mode.
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true)
  echo "fuzz_$t execs=${execs:-?} seconds=$SECS rc=$rc corpus=$(ls "$corpus" | wc -l)" | tee -a "$BUILD/fuzz_stats.txt"
  if [ "$rc" -ne 0 ]; then
    echo "fuzz_$t FAILED (exit $rc); the end of its log:"
    tail -60 "$log"
    ls -1 "$BUILD/artifacts" | sed 's/^/  artifact: /'
    status=1
  fi
done
exit $status
