#!/bin/sh
# vdbench runs every built-in workload end to end and each frame decodes bit-exact
# (vdbench exits 1 on a mismatch); its JSON output is well-formed; --repeatable repeats.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
: "${top_builddir:=.}"
out=$("$top_builddir/bench/vdbench" --quiet --json --frames 12 --size 640x400) || {
    echo "FAIL: vdbench exited $?"; exit 1; }
echo "$out" | python3 -c 'import json, sys
d = json.load(sys.stdin)
names = [w["name"] for w in d["workloads"]]
assert len(names) >= 5, names
assert all(w["bit_exact"] and w["frames"] == 12 for w in d["workloads"]), d
print("vdbench-smoke:", " ".join(names), "bit-exact")' || exit 1
# --repeatable: three runs of the same frames send the same bytes (without it, libx264's two
# sliced threads make the video workload's differ between runs about half the time).
for run in 1 2 3; do
    "$top_builddir/bench/vdbench" --quiet --json --repeatable --workload video --frames 40 \
        --size 640x400 2>/dev/null || { echo "FAIL: vdbench --repeatable exited $?"; exit 1; }
done | python3 -c 'import json, sys
runs = [json.loads(line)["workloads"][0] for line in sys.stdin if line.strip()]
sent = [(w["bytes"], w["video_bytes"]) for w in runs]
assert len(sent) == 3 and sent[0][1] > 0 and len(set(sent)) == 1, sent
print("vdbench-smoke: --repeatable sent", sent[0][0], "bytes on each of 3 runs")' || exit 1
