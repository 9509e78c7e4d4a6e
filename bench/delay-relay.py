#!/usr/bin/env python3
# A TCP relay that holds every byte for a fixed time in each direction: a WAN's round trip
# where the kernel has no netem (bench/shaped-link.sh, DELAY_MS).  Order and TCP's back-
# pressure are kept: a direction reads on only while what it holds is under a bound.
#   delay-relay.py LISTEN_HOST:PORT UPSTREAM_HOST:PORT ONE_WAY_MS
# Prints "delay-relay: listening on HOST:PORT" once it accepts connections.
# SPDX-License-Identifier: LGPL-2.1-or-later
import asyncio
import collections
import socket
import sys

HELD_BOUND = 4 << 20  # bytes a direction holds before it stops reading


async def pipe(reader, writer, one_way_s):
    loop = asyncio.get_running_loop()
    held = collections.deque()  # (due time, bytes)
    held_bytes = 0
    more = asyncio.Event()
    room = asyncio.Event()
    room.set()
    done = False

    async def read_side():
        nonlocal held_bytes, done
        while True:
            await room.wait()
            data = await reader.read(65536)
            if not data:
                break
            held.append((loop.time() + one_way_s, data))
            held_bytes += len(data)
            if held_bytes >= HELD_BOUND:
                room.clear()
            more.set()
        done = True
        more.set()

    async def write_side():
        nonlocal held_bytes
        while True:
            if not held:
                if done:
                    break
                more.clear()
                await more.wait()
                continue
            due, data = held[0]
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            held.popleft()
            held_bytes -= len(data)
            if held_bytes < HELD_BOUND:
                room.set()
            writer.write(data)
            await writer.drain()
        writer.close()

    await asyncio.gather(read_side(), write_side(), return_exceptions=True)


async def main():
    listen, upstream, one_way_ms = sys.argv[1], sys.argv[2], float(sys.argv[3])
    lhost, lport = listen.rsplit(":", 1)
    uhost, uport = upstream.rsplit(":", 1)
    one_way_s = one_way_ms / 1000

    async def accepted(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection(uhost, int(uport))
        except OSError as e:
            print(f"delay-relay: {upstream}: {e}", file=sys.stderr)
            client_w.close()
            return
        for sock in (client_w, server_w):
            s = sock.get_extra_info("socket")
            if s is not None:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(pipe(client_r, server_w, one_way_s),
                             pipe(server_r, client_w, one_way_s))

    server = await asyncio.start_server(accepted, lhost, int(lport))
    host, port = server.sockets[0].getsockname()[:2]
    print(f"delay-relay: listening on {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
