#!/bin/sh
# Every public header of the SDK compiles alone, as C11 with strict warnings
# and, when a C++ compiler is given, as C++11.
#
#   headers_compile.sh INCLUDE_DIR WORK_DIR C_COMPILER [CXX_COMPILER]
set -u
inc=$1 work=$2 cc=$3 cxx=${4:-}
fail=0
mkdir -p "$work"

for h in "$inc"/mtl/*.h; do
    name=$(basename "$h" .h)
    bad=0
    src=$work/alone_$name.c
    printf '#include "mtl/%s.h"\n#include "mtl/%s.h" /* include guard */\nint mtl_header_test_%s;\n' \
        "$name" "$name" "$name" > "$src"
    if ! "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror -I"$inc" -c "$src" -o "$work/$name.o"; then
        echo "FAIL: mtl/$name.h does not compile alone as C11"
        bad=1
    fi
    if [ -n "$cxx" ]; then
        if ! "$cxx" -x c++ -std=c++11 -Wall -Wextra -Wpedantic -Werror -I"$inc" -c "$src" \
            -o "$work/$name.cxx.o"; then
            echo "FAIL: mtl/$name.h does not compile alone as C++11"
            bad=1
        fi
    fi
    if [ $bad -eq 0 ]; then echo "ok: mtl/$name.h"; else fail=1; fi
done
exit $fail
