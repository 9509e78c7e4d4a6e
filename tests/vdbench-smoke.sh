#!/bin/sh
# vdbench runs every built-in workload end to end and each frame decodes bit-exact
# (vdbench exits 1 on a mismatch); its JSON output is well-formed.
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
