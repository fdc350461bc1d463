#!/bin/sh
# The out-of-tree test: install the SDK into a temporary prefix, build the
# plugin in oot/ against it in two ways (CMake find_package(mtl) with
# mtl_add_plugin, and plain cc with pkg-config), and load each build with the
# installed mtlhost.  Exits 77 (skipped) while mtlhost or the toy task is not
# built yet.
#
#   oot_plugin.sh BUILD_DIR SOURCE_DIR C_COMPILER
set -u
build=$1 src=$2 cc=$3
skip=77

if [ ! -x "$build/mtlhost" ]; then
    echo "SKIP: $build/mtlhost is not built yet"
    exit $skip
fi
if [ ! -f "$build/plugins/toy.so" ]; then
    echo "SKIP: $build/plugins/toy.so (the toy task) is not built yet"
    exit $skip
fi
if ! command -v pkg-config > /dev/null; then
    echo "SKIP: pkg-config is not installed"
    exit $skip
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mtl-oot.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

fail() {
    echo "FAIL: $*"
    exit 1
}

# Step 1: install the SDK, the host and the plugins.
cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "cmake --install into $prefix"; }
for f in bin/mtlhost include/mtl/mtl.h lib/pkgconfig/mtl.pc lib/cmake/mtl/mtlConfig.cmake \
    lib/mtl/plugins/toy.so; do
    [ -e "$prefix/$f" ] || fail "the install has no $f"
done
ls "$prefix"/lib/libmtl.so* > /dev/null 2>&1 || fail "the install has no lib/libmtl.so"

# Step 2a: CMake, find_package(mtl) and mtl_add_plugin().
cmake -S "$src/tests/sdk/oot" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" > "$tmp/cmake.log" 2>&1 &&
    cmake --build "$tmp/cmake" >> "$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log"; fail "building oot/ with find_package(mtl)"; }
[ -f "$tmp/cmake/constw.so" ] || fail "find_package build made no constw.so in its build folder"

# Step 2b: plain cc with pkg-config.
mkdir -p "$tmp/pc"
flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs mtl) ||
    fail "pkg-config --cflags --libs mtl"
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden \
    "$src/tests/sdk/oot/constw.c" $flags -o "$tmp/pc/constw.so" ||
    fail "building constw.c with cc \$(pkg-config --cflags --libs mtl)"

# Step 3: the installed host lists and runs each build.
for way in cmake pc; do
    dir=$tmp/$way
    if ! MTL_PLUGIN_PATH=$dir "$prefix/bin/mtlhost" --list-methods > "$tmp/list.log" 2>&1; then
        cat "$tmp/list.log"
        fail "mtlhost --list-methods with MTL_PLUGIN_PATH=$dir ($way build)"
    fi
    grep -q constw "$tmp/list.log" ||
        { cat "$tmp/list.log"; fail "mtlhost --list-methods does not list constw ($way build)"; }
    if ! "$prefix/bin/mtlhost" --method "$dir/constw.so" --task toy --set task.steps=50 \
        --out "$tmp/run-$way" > "$tmp/run.log" 2>&1; then
        cat "$tmp/run.log"
        fail "mtlhost --method $dir/constw.so --task toy ($way build)"
    fi
    echo "ok: $way build listed and ran"
done
