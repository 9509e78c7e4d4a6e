/* vdsession_bench: what the secure session costs.  Everything runs in one thread, so one
 * core does the encryption, the decryption and both ends' socket copies.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   handshake   TCP connect on 127.0.0.1 to both sides connected (median of -h runs)
 *   throughput  256 KiB packets server -> client over TCP loopback, encrypted, authenticated,
 *               reassembled (median Gbit/s of 5 runs of -m MiB)
 *   mixed       vdbench's "mixed" 1920x1080 workload: encoder time against the time
 *               vd_session_send_packet() takes to encrypt its packets (-n frames)
 *
 *   vdsession_bench [-h HANDSHAKES] [-m MIB] [-n FRAMES] */
#define _GNU_SOURCE

#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vd/vd.h>
#include <vd/session.h>

#include "bench/workload.h"
#include "lib/clock.h"

static vd_keypair server_id, client_id;

static void die(const char *what, int err)
{
    fprintf(stderr, "vdsession_bench: %s: %s\n", what, vd_strerror(err));
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void configs(vd_session_config *s, vd_session_config *c)
{
    vd_session_config_default(s, VD_SESSION_SERVER);
    s->identity = server_id;
    s->authorized_keys = (const uint8_t(*)[VD_KEY_BYTES])client_id.public_key;
    s->n_authorized_keys = 1;
    s->max_queued_bytes = (size_t)256 << 20;
    vd_session_config_default(c, VD_SESSION_CLIENT);
    c->identity = client_id;
    c->server_key = server_id.public_key;
}

/* One poll and dispatch over both; returns events received by the client in *packets and
 * bytes of packets in *bytes. */
static void pump(vd_session *srv, vd_session *cli, int timeout, int *connected, size_t *packets,
                 uint64_t *bytes)
{
    struct pollfd fds[2] = {{vd_session_fd(srv), vd_session_events(srv), 0},
                            {vd_session_fd(cli), vd_session_events(cli), 0}};
    poll(fds, 2, timeout);
    int ret;
    if ((ret = vd_session_dispatch(srv, fds[0].revents)) < 0)
        die("server", ret);
    if ((ret = vd_session_dispatch(cli, fds[1].revents)) < 0)
        die("client", ret);
    vd_session_event ev;
    while ((ret = vd_session_receive(srv, &ev)) == 0)
        if (ev.type == VD_SESSION_EVENT_CONNECTED && connected)
            (*connected)++;
    if (ret != VD_ERR(EAGAIN))
        die("server receive", ret);
    while ((ret = vd_session_receive(cli, &ev)) == 0) {
        if (ev.type == VD_SESSION_EVENT_CONNECTED && connected)
            (*connected)++;
        if (ev.type == VD_SESSION_EVENT_PACKET && packets) {
            (*packets)++;
            *bytes += ev.u.packet.size;
        }
    }
    if (ret != VD_ERR(EAGAIN))
        die("client receive", ret);
}

/* Connects a pair over TCP loopback and runs the handshake; returns its wall time in ns. */
static uint64_t connect_pair(int lfd, const char *addr, vd_session **srv, vd_session **cli)
{
    vd_session_config scfg, ccfg;
    configs(&scfg, &ccfg);
    uint64_t t0 = vd_now_ns();
    int ret = vd_session_connect(&ccfg, addr, cli);
    if (ret < 0)
        die("connect", ret);
    *srv = NULL;
    while (!*srv) {
        struct pollfd p[2] = {{lfd, POLLIN, 0}, {vd_session_fd(*cli), vd_session_events(*cli), 0}};
        poll(p, 2, 100);
        if ((ret = vd_session_dispatch(*cli, p[1].revents)) < 0)
            die("client", ret);
        ret = vd_session_accept(&scfg, lfd, srv);
        if (ret < 0 && ret != VD_ERR(EAGAIN))
            die("accept", ret);
    }
    int connected = 0;
    while (connected < 2)
        pump(*srv, *cli, 100, &connected, NULL, NULL);
    return vd_now_ns() - t0;
}

int main(int argc, char **argv)
{
    int handshakes = 200, mib = 1024, frames = 300;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-h"))
            handshakes = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-m"))
            mib = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-n"))
            frames = atoi(argv[i + 1]);
    }
    if (vd_keypair_generate(&server_id) < 0 || vd_keypair_generate(&client_id) < 0)
        die("keys", VD_ERR(EIO));
    int lfd, ret;
    if ((ret = vd_session_listen("127.0.0.1:0", &lfd)) < 0)
        die("listen", ret);
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    getsockname(lfd, (struct sockaddr *)&sin, &sl);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sin.sin_port));

    /* Handshakes. */
    double *hs = calloc((size_t)handshakes, sizeof(double));
    double *hs_server = calloc((size_t)handshakes, sizeof(double));
    for (int i = 0; i < handshakes; i++) {
        vd_session *srv, *cli;
        hs[i] = (double)connect_pair(lfd, addr, &srv, &cli) / 1e6;
        vd_session_stats st;
        vd_session_get_stats(srv, &st);
        hs_server[i] = (double)st.handshake_ns / 1e6;
        vd_session_free(&srv);
        vd_session_free(&cli);
    }
    printf("handshake, TCP loopback, connect to both connected: median %.3f ms "
           "(server side %.3f ms), %d runs\n",
           median(hs, (size_t)handshakes), median(hs_server, (size_t)handshakes), handshakes);
    free(hs);
    free(hs_server);

    /* Throughput. */
    size_t pkt_size = 256 << 10;
    uint8_t *buf = malloc(pkt_size);
    for (size_t i = 0; i < pkt_size; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    double gbps[5];
    for (int run = 0; run < 5; run++) {
        vd_session *srv, *cli;
        connect_pair(lfd, addr, &srv, &cli);
        uint64_t total = (uint64_t)mib << 20, queued = 0, got = 0;
        size_t packets = 0;
        uint64_t seq = 0;
        uint64_t t0 = vd_now_ns();
        while (got < total) {
            /* Keep a few MiB in flight, as a host under back-pressure would. */
            while (queued < total && vd_session_queued_bytes(srv) < (4u << 20)) {
                vd_packet p = {.data = buf, .size = pkt_size, .frame_seq = ++seq};
                if ((ret = vd_session_send_packet(srv, &p)) < 0)
                    die("send", ret);
                queued += pkt_size;
            }
            pump(srv, cli, 100, NULL, &packets, &got);
        }
        double s = (double)(vd_now_ns() - t0) / 1e9;
        gbps[run] = (double)total * 8 / s / 1e9;
        vd_session_free(&srv);
        vd_session_free(&cli);
    }
    printf("throughput, TCP loopback, one thread (encrypt + decrypt + both ends): median %.2f "
           "Gbit/s of payload, 5 runs of %d MiB\n",
           median(gbps, 5), mib);

    /* Encryption against the encoder on the mixed workload. */
    bench_workload *wl;
    if ((ret = bench_workload_open_synthetic("mixed", 1920, 1080, frames, &wl)) < 0)
        die("workload", ret);
    vd_encoder *enc;
    if ((ret = vd_encoder_new(NULL, &enc)) < 0)
        die("encoder", ret);
    vd_session *srv, *cli;
    connect_pair(lfd, addr, &srv, &cli);
    double *enc_ms = calloc((size_t)frames, sizeof(double));
    double *send_ms = calloc((size_t)frames, sizeof(double));
    double enc_total = 0, send_total = 0;
    uint64_t wire = 0, got = 0;
    size_t packets = 0, n = 0;
    bench_frame bf;
    while (n < (size_t)frames && bench_workload_next(wl, &bf) == 1) {
        vd_frame f = {.surface_id = 0, .format = VD_FORMAT_BGRX8888, .width = bf.width,
                      .height = bf.height, .stride = (int32_t)bf.stride, .data = bf.data,
                      .pts_us = bf.pts_us};
        uint64_t t0 = vd_now_ns();
        if ((ret = vd_encoder_send_frame(enc, &f)) < 0)
            die("send_frame", ret);
        uint64_t t_enc = vd_now_ns() - t0, t_send = 0;
        vd_packet p;
        for (;;) {
            t0 = vd_now_ns();
            ret = vd_encoder_receive_packet(enc, &p);
            uint64_t t1 = vd_now_ns();
            t_enc += t1 - t0;
            if (ret < 0)
                break;
            wire += p.size;
            if ((ret = vd_session_send_packet(srv, &p)) < 0)
                die("send_packet", ret);
            t_send += vd_now_ns() - t1;
        }
        while (vd_session_queued_bytes(srv) || got < wire)
            pump(srv, cli, 100, NULL, &packets, &got);
        enc_ms[n] = (double)t_enc / 1e6;
        send_ms[n] = (double)t_send / 1e6;
        enc_total += enc_ms[n];
        send_total += send_ms[n];
        n++;
    }
    printf("mixed 1920x1080, %zu frames, %.0f bytes/frame: encoder median %.3f ms/frame, "
           "session encryption median %.3f ms/frame; encryption = %.2f%% of encoder + "
           "encryption CPU (totals)\n",
           n, (double)wire / (double)n, median(enc_ms, n), median(send_ms, n),
           100.0 * send_total / (enc_total + send_total));
    free(enc_ms);
    free(send_ms);
    free(buf);
    vd_session_free(&srv);
    vd_session_free(&cli);
    vd_encoder_free(&enc);
    bench_workload_free(&wl);
    close(lfd);
    return 0;
}
