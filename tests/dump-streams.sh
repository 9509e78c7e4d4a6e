#!/bin/sh
# The video streams are standard bitstreams: vdbench writes them out (--dump-streams), in
# H.264 and in AV1, also a stream whose picture grew, and the ffmpeg command-line tool decodes
# every one without an error.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
: "${top_builddir:=.}"
command -v ffmpeg >/dev/null 2>&1 || { echo "SKIP: no ffmpeg command"; exit 77; }
dir=$(mktemp -d) || exit 99
trap 'rm -rf "$dir"' EXIT
for codec in h264 av1; do
    mkdir "$dir/$codec"
    "$top_builddir/bench/vdbench" --quiet --workload video --frames 40 --size 960x540 \
        --codec $codec --dump-streams "$dir/$codec" >/dev/null 2>&1 || { echo "FAIL: vdbench ($codec)"; exit 1; }
done
# A 3D view that outgrows its picture: its stream is created again, larger, with the same id.
"$top_builddir/bench/vdbench" --quiet --workload 3d --frames 120 --size 960x540 \
    --dump-streams "$dir/h264" >/dev/null 2>&1 || { echo "FAIL: vdbench (3d)"; exit 1; }
checked=0
for f in "$dir"/h264/*.h264 "$dir"/av1/*.ivf; do
    [ -s "$f" ] || continue
    frames=$(ffmpeg -v error -xerror -i "$f" -f framecrc - 2>"$dir/err" | grep -vc '^#')
    if [ -s "$dir/err" ] || [ "$frames" -lt 1 ]; then
        echo "FAIL: ffmpeg could not decode $(basename "$f"):"; cat "$dir/err"; exit 1
    fi
    echo "dump-streams: $(basename "$f"): $frames frames decode with ffmpeg"
    checked=$((checked + 1))
done
[ "$checked" -ge 2 ] || { echo "FAIL: $checked stream(s) written, expected an H.264 and an AV1 one"; exit 1; }
