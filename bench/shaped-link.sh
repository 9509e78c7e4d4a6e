#!/bin/sh
# vdserver -> vdviewer over a rate-limited link (a veth pair into a network namespace, shaped
# with tc tbf), once with the encoder's flow control and once without, and prints what the
# server saw: frames sent and held back, and the delay from sending a frame to its ACK (the
# first frame's, the whole screen, on its own).
# DELAY_MS adds that round trip (bench/delay-relay.py in the namespace holds each direction
# half of it: this kernel has no netem).  Needs root (ip netns, tc), python3 for DELAY_MS,
# and a built tree.  Not part of `make check`.
#   RATE=10mbit DELAY_MS=80 WL=mixed SIZE=1280x720 FRAMES=300 [LINK_KBIT=0] bench/shaped-link.sh
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
b=$(cd "$(dirname "$0")/.." && pwd)
ns=vdlink$$
tmp=$(mktemp -d) || exit 1
cleanup() { ip netns del "$ns" 2>/dev/null; ip link del vdl$$a 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
ip netns add "$ns" &&
ip link add vdl$$a type veth peer name vdl$$b &&
ip link set vdl$$b netns "$ns" &&
ip addr add 10.77.0.1/24 dev vdl$$a && ip link set vdl$$a up &&
ip netns exec "$ns" ip addr add 10.77.0.2/24 dev vdl$$b &&
ip netns exec "$ns" ip link set vdl$$b up &&
ip netns exec "$ns" ip link set lo up &&
tc qdisc add dev vdl$$a root tbf rate "${RATE:-10mbit}" burst 32kbit latency 2000ms ||
    { echo "shaped-link: needs root, ip netns and tc"; exit 1; }
"$b/transport/vdkey" generate "$tmp/server.key" >"$tmp/server.pub" &&
"$b/transport/vdkey" generate "$tmp/client.key" >"$tmp/clients.txt" || exit 1
# The server is told the link's rate (tc's kbit or mbit; else, or LINK_KBIT=0, not known).
link_kbit=${LINK_KBIT:-$(echo "${RATE:-10mbit}" | awk '{ r = tolower($0) }
    r ~ /^[0-9]+(\.[0-9]+)?[km]bit$/ { v = r + 0; if (r ~ /mbit$/) v *= 1000
                                       printf "%d\n", (v > 4000000 ? 4000000 : v); next }
    { print 0 }')}
# The address that program says in log "PROGRAM: listening on ADDR", waiting up to 5 s.
listening_on() {
    i=0
    while ! a=$(sed -n "s/^$2: listening on //p" "$1" 2>/dev/null) || [ -z "$a" ]; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "shaped-link: $2 did not start" >&2; return 1; }
        sleep 0.1
    done
    echo "$a"
}
for mode in "" --no-flow-control; do
    rm -f "$tmp/server.log" # the previous run's address must not be read
    timeout 120 "$b/examples/vdserver" --key "$tmp/server.key" --once --frames "${FRAMES:-300}" \
        --size "${SIZE:-1280x720}" --fps 30 --clients "$tmp/clients.txt" --listen 10.77.0.1:0 \
        --workload "${WL:-mixed}" --link-rate "$link_kbit" $mode >"$tmp/server.log" 2>&1 &
    addr=$(listening_on "$tmp/server.log" "vdserver") || exit 1
    if [ "${DELAY_MS:-0}" -gt 0 ]; then
        rm -f "$tmp/relay.log"
        ip netns exec "$ns" timeout 130 python3 "$b/bench/delay-relay.py" 127.0.0.1:0 "$addr" \
            "$((DELAY_MS / 2))" >"$tmp/relay.log" 2>&1 &
        relay_pid=$!
        addr=$(listening_on "$tmp/relay.log" "delay-relay") || exit 1
    fi
    ip netns exec "$ns" timeout 120 "$b/examples/vdviewer" --key "$tmp/client.key" \
        --server-key "$(cat "$tmp/server.pub")" --connect "$addr" >"$tmp/viewer.log" 2>&1
    [ "${DELAY_MS:-0}" -gt 0 ] && kill "$relay_pid" 2>/dev/null
    wait
    echo "== ${WL:-mixed} at ${RATE:-10mbit}, ${DELAY_MS:-0} ms round trip, ${mode:-with flow control}"
    grep -E "^vdserver: .*(sent|acknowledged)" "$tmp/server.log"
    grep "shown" "$tmp/viewer.log"
done
