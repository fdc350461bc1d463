#!/bin/sh
# Keeps README.md true: builds the method plugin of its "Writing a method
# plugin" section as a plugin author would, and runs it on the toy.
# usage: readme_plugin.sh SOURCE_DIR MTLHOST LIBMTL_DIR WORK_DIR
set -eu
src=$1 host=$2 libdir=$3 work=$4
[ -x "$host" ] || { echo "skip: $host is not built"; exit 77; }
[ -f "$(dirname "$host")/plugins/toy.so" ] || { echo "skip: toy.so is not built"; exit 77; }
rm -rf "$work" && mkdir -p "$work"

# The example runs from its #include line to its entry function, indented by 4.
sed -n '/^    #include <mtl\/mtl.h>$/,/mtl_method_entry(void)/p' "$src/README.md" |
    sed 's/^    //' >"$work/half.c"
grep -q 'mtl_method_entry' "$work/half.c" || { echo "README.md: no plugin example found"; exit 1; }

cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -I"$src/sdk/include" \
    "$work/half.c" -o "$work/half.so" -L"$libdir" -lmtl
"$host" --method "$work/half.so" --task toy --set task.steps=200 --set output.figures=false \
    --out "$work/run" >"$work/log" 2>&1 || { cat "$work/log"; exit 1; }
grep -q '^trial,epoch' "$work/run/metrics.csv"
# The example's weights (0.5) reach the metrics.
grep -q ',0.5,0.5,' "$work/run/metrics.csv" || { cat "$work/run/metrics.csv"; exit 1; }
echo "README plugin example: built and ran"
