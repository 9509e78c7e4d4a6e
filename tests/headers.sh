#!/bin/sh
# Every public header compiles on its own, as C11 and as C++11, with strict warnings.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}" "${CC:=cc}" "${CXX:=c++}"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
status=0
for h in "$top_srcdir"/include/vd/*.h; do
    name=$(basename "$h")
    printf '#include <vd/%s>\ntypedef int vd_header_test_nonempty;\n' "$name" > "$tmp/t.c"
    cp "$tmp/t.c" "$tmp/t.cpp"
    if ! $CC -std=c11 -Wall -Wextra -Werror -pedantic -I"$top_srcdir/include" -I"$top_builddir/include" \
            -c "$tmp/t.c" -o "$tmp/t.o"; then
        echo "FAIL: $name does not compile alone as C"; status=1
    fi
    if ! $CXX -std=c++11 -Wall -Wextra -Werror -pedantic -I"$top_srcdir/include" -I"$top_builddir/include" \
            -c "$tmp/t.cpp" -o "$tmp/t.o"; then
        echo "FAIL: $name does not compile alone as C++"; status=1
    fi
done
[ $status = 0 ] && echo "headers: every public header compiles alone in C and C++"
exit $status
