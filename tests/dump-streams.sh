#!/bin/sh
# The video streams are standard bitstreams: vdbench writes them out (--dump-streams) and the
# ffmpeg command-line tool decodes every one without an error.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
: "${top_builddir:=.}"
command -v ffmpeg >/dev/null 2>&1 || { echo "SKIP: no ffmpeg command"; exit 77; }
dir=$(mktemp -d) || exit 99
trap 'rm -rf "$dir"' EXIT
"$top_builddir/bench/vdbench" --quiet --workload video --frames 40 --size 960x540 \
    --dump-streams "$dir" >/dev/null 2>&1 || { echo "FAIL: vdbench"; exit 1; }
checked=0
for f in "$dir"/*.h264 "$dir"/*.ivf; do
    [ -s "$f" ] || continue
    frames=$(ffmpeg -v error -xerror -i "$f" -f framecrc - 2>"$dir/err" | grep -vc '^#')
    if [ -s "$dir/err" ] || [ "$frames" -lt 1 ]; then
        echo "FAIL: ffmpeg could not decode $(basename "$f"):"; cat "$dir/err"; exit 1
    fi
    echo "dump-streams: $(basename "$f"): $frames frames decode with ffmpeg"
    checked=$((checked + 1))
done
[ "$checked" -ge 1 ] || { echo "FAIL: no stream was written"; exit 1; }
