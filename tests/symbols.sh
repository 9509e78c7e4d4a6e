#!/bin/sh
# The shared library exports the public API and nothing else.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}" "${NM:=nm}"
lib="$top_builddir/.libs/libvd.so"
[ -f "$lib" ] || { echo "SKIP: no shared library was built"; exit 77; }
exported=$($NM -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sort)
[ -n "$exported" ] || { echo "FAIL: $lib exports nothing"; exit 1; }
status=0
for sym in $exported; do
    case $sym in
        vd_*) ;;
        *) echo "FAIL: $lib exports non-API symbol $sym"; status=1 ;;
    esac
done
# Every exported function is declared in a public header, and vice versa.
declared=$(grep -hv "^#" "$top_srcdir"/include/vd/*.h | tr -s ' \t\n' ' ' |
    grep -o 'VD_API [^;(]*(' | sed 's/($//; s/.*[ *]//' | sort -u)
for sym in $declared; do
    echo "$exported" | grep -qx "$sym" || { echo "FAIL: $sym is declared but not exported"; status=1; }
done
for sym in $exported; do
    echo "$declared" | grep -qx "$sym" || { echo "FAIL: $sym is exported but not declared with VD_API"; status=1; }
done
[ $status = 0 ] && echo "symbols: $(echo "$exported" | wc -l) exported, all public API"
exit $status
