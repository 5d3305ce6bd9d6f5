#!/usr/bin/env bash
# CI step: ABI discipline. Dumps the ABI of the freshly built libedgellm (public-header types, from
# DWARF) and compares it with the committed baseline cmake/abi/libedgellm.abi using libabigail's
# abidiff and the allowances in cmake/abi/abi.suppr (new functions, structs growing at the end,
# new enumerators). Any other change fails unless EDGELLM_VERSION_MAJOR was bumped past the
# baseline's SONAME major. Regenerate the baseline with cmake/abi/update_baseline.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
BUILD="${EDGELLM_BUILD_DIR:-build}"
fail() { echo "70-abi: FAIL: $*" >&2; exit 1; }
if ! command -v abidiff >/dev/null || ! command -v abidw >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends abigail-tools
fi

BASE="$ROOT/cmake/abi/libedgellm.abi"
[ -f "$BASE" ] || fail "no baseline $BASE (create it with cmake/abi/update_baseline.sh)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
lib="$(bash "$ROOT/cmake/abi/abi_lib.sh" "$BUILD")"
bash "$ROOT/cmake/abi/dump.sh" "$lib" "$WORK/current.abi"

major="$(sed -n 's/^#define EDGELLM_VERSION_MAJOR \([0-9]*\).*/\1/p' include/edgellm/edgellm.h)"
base_major="$(grep -o "soname='libedgellm\.so\.[0-9]*'" "$BASE" | head -n1 | grep -o '[0-9]*' | tail -n1)"
cur_soname="$(grep -o "soname='[^']*'" "$WORK/current.abi" | head -n1)"
[ "$cur_soname" = "soname='libedgellm.so.$major'" ] \
  || fail "library $cur_soname does not match EDGELLM_VERSION_MAJOR $major (SOVERSION = ABI major)"
[ -n "$base_major" ] || fail "baseline has no libedgellm SONAME"

set +e
abidiff --suppressions "$ROOT/cmake/abi/abi.suppr" "$BASE" "$WORK/current.abi" > "$WORK/report"
rc=$?
set -e
cat "$WORK/report"
if [ $((rc & 3)) -ne 0 ]; then
  fail "abidiff could not compare (exit $rc)"
fi
if [ "$rc" -eq 0 ]; then
  echo "70-abi: OK, ABI compatible with the baseline (major $base_major)"
  exit 0
fi
if [ "$major" -gt "$base_major" ]; then
  echo "70-abi: ABI changed, allowed by the major bump $base_major -> $major;"
  echo "        regenerate the baseline: cmake/abi/update_baseline.sh"
  exit 0
fi
kind="changed"
[ $((rc & 8)) -ne 0 ] && kind="changed incompatibly"
fail "the ABI $kind (abidiff exit $rc) without an EDGELLM_VERSION_MAJOR bump; see the report above"
