/* vdserver: a libvd host on the public API.  It streams one of vdbench's workloads to one
 * authenticated viewer at a time over the secure session, paced at a frame rate, acts on
 * the viewer's feedback (refresh, key frame and loss reports) and on back-pressure, and keeps
 * a viewer's stream for a while after its connection drops, so that the viewer can resume it
 * and get only what changed.
 * The workload sources (bench/workload*.c) are the benchmark's, not libvd API; everything
 * else is <vd/vd.h> and <vd/session.h>.  README.md ("The API in one page") shows a run.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <vd/session.h>
#include <vd/vd.h>

#include "bench/workload.h"

/* RTT samples for the encoder's flow control. */
#define PING_MS 1000
/* Frames whose send-to-ACK delay is kept, for the latency report. */
#define DELAY_RING 4096
#define STEADY_AFTER_MS 2000
/* How long a dropped viewer's stream waits for it to resume. */
#define RESUME_GRACE_MS 30000

typedef struct options {
    const char *key, *clients, *token, *listen, *workload, *input;
    int frames, width, height, fps, once, drop_after, fingerprint, no_flow_control;
    int link_kbit; /* --link-rate, 0 = not known */
} options;

/* Authorised client keys: the --clients file, plus clients paired with the token. */
typedef struct keylist {
    uint8_t (*keys)[VD_KEY_BYTES];
    size_t n;
} keylist;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int usage(FILE *f)
{
    fputs("usage: vdserver --key FILE (--clients FILE | --token TOKEN)\n"
          "                --listen HOST:PORT|unix:PATH [--workload NAME | --input FILE]\n"
          "                [--frames N] [--size WxH] [--fps N] [--once] [--drop-after N]\n"
          "                [--fingerprint] [--link-rate KBIT]\n"
          "  --key FILE       the server's key pair (transport/vdkey generate FILE)\n"
          "  --clients FILE   authorised client public keys, one per line\n"
          "  --token TOKEN    a one-time pairing token (vdkey token); the first client that\n"
          "                   presents it is authorised for the rest of this run\n"
          "  --listen ADDR    where to listen; port 0 picks a free one (printed on stdout)\n"
          "  --workload NAME  built-in vdbench workload (default: the first listed below)\n"
          "  --input FILE     stream a video file instead (anything FFmpeg decodes)\n"
          "  --frames N       frames to send to each client, then say goodbye; 0 (default)\n"
          "                   loops the workload until the client leaves\n"
          "  --size WxH       workload size (default 1280x720)\n"
          "  --fps N          frame rate (default 30)\n"
          "  --once           exit after the first client instead of waiting for the next\n"
          "                   (a client that resumes after a drop is the same client)\n"
          "  --drop-after N   drop the first connection after N frames, as a failing network\n"
          "                   would (to try resuming)\n"
          "  --fingerprint    print a hash of the last frame's colour bytes at the end\n"
          "  --no-flow-control  do not tell the encoder about ACKs and the queue (to compare:\n"
          "                   frames then queue up behind a slow link)\n"
          "  --link-rate KBIT the link's rate in kbit/s, if known (link_bitrate): the video\n"
          "                   streams together keep near three quarters of it (90 % less\n"
          "                   the lossless tiles' rate while that is higher), and frames\n"
          "                   wait once a quarter second of it is queued\n"
          "Workloads:",
          f);
    for (const char *const *n = bench_synthetic_names(); *n; n++)
        fprintf(f, " %s", *n);
    fputc('\n', f);
    return f == stdout ? 0 : 2;
}

static int parse_int(const char *s, int min, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.frames = 0, .width = 1280, .height = 720, .fps = 30};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            exit(usage(stdout));
        if (!strcmp(a, "--once")) {
            o->once = 1;
            continue;
        }
        if (!strcmp(a, "--fingerprint")) {
            o->fingerprint = 1;
            continue;
        }
        if (!strcmp(a, "--no-flow-control")) {
            o->no_flow_control = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "vdserver: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--key"))
            o->key = v;
        else if (!strcmp(a, "--clients"))
            o->clients = v;
        else if (!strcmp(a, "--token"))
            o->token = v;
        else if (!strcmp(a, "--listen"))
            o->listen = v;
        else if (!strcmp(a, "--workload"))
            o->workload = v;
        else if (!strcmp(a, "--input"))
            o->input = v;
        else if (!strcmp(a, "--frames")       ? parse_int(v, 0, &o->frames) < 0
                 : !strcmp(a, "--drop-after") ? parse_int(v, 1, &o->drop_after) < 0
                 : !strcmp(a, "--fps")  ? parse_int(v, 1, &o->fps) < 0 || o->fps > 1000
                 : !strcmp(a, "--link-rate") ? parse_int(v, 0, &o->link_kbit) < 0 ||
                                                   o->link_kbit > 4000000
                 : !strcmp(a, "--size")
                     ? sscanf(v, "%dx%d", &o->width, &o->height) != 2 || o->width < 1 ||
                           o->height < 1 || o->width > VD_MAX_DIMENSION ||
                           o->height > VD_MAX_DIMENSION
                     : (fprintf(stderr, "vdserver: unknown option %s\n", a), 1)) {
            fprintf(stderr, "vdserver: bad value for %s: %s\n", a, v);
            return -1;
        }
    }
    if (!o->key || !o->listen || (!o->clients && !o->token)) {
        fputs("vdserver: --key, --listen and --clients or --token are required\n", stderr);
        return -1;
    }
    return 0;
}

static int open_workload(const options *o, bench_workload **wl)
{
    int ret = o->input ? bench_workload_open_file(o->input, 0, wl)
                       : bench_workload_open_synthetic(o->workload, o->width, o->height, 0, wl);
    if (ret < 0)
        fprintf(stderr, "vdserver: workload %s: %s\n", o->input ? o->input : o->workload,
                vd_strerror(ret));
    return ret;
}

/* The state of one client's stream. */
typedef struct stream {
    vd_session *s;
    vd_encoder *enc;
    bench_workload *wl;
    const uint8_t *registered;       /* the workload's framebuffer, registered with enc */
    uint8_t ticket[VD_TICKET_BYTES]; /* the client's, to resume with */
    uint8_t client_key[VD_KEY_BYTES];
    int64_t detached_ms;             /* when its connection dropped */
    int dropped;                     /* --drop-after has dropped it once */
    uint64_t fingerprint, last_seq;  /* of the last frame sent */
    int connected, eof, closing;
    int64_t pts_offset, last_pts;  /* the workload restarts; time must not */
    int64_t t0_ms, next_frame_ms; /* the schedule: t0 + ticks / fps */
    int64_t next_ping_ms;
    int64_t ticks;
    int sent, skipped, acked;
    uint64_t decode_us_sum;
    /* Latency: when each frame went out, and each frame's send-to-ACK delay. */
    int64_t sent_ms[DELAY_RING];
    uint64_t sent_seq[DELAY_RING];
    int32_t delays_ms[DELAY_RING];
    int n_delays;
    /* The same for frames sent STEADY_AFTER_MS or more after the first: without the first
     * picture's burst (the whole desktop, losslessly). */
    int64_t first_sent_ms;
    int32_t first_delay_ms; /* the first frame's (the whole screen), once has_first_delay */
    int has_first_delay;
    int32_t steady_delays_ms[DELAY_RING];
    int n_steady_delays;
    int flow_control;
} stream;

static int on_connected(const options *o, stream *st, const vd_session_connected *c,
                        keylist *kl, const char **token)
{
    char key[VD_KEY_STRING_SIZE];
    if (vd_key_to_string(c->peer_key, key, sizeof(key)) < 0)
        key[0] = 0;
    printf("vdserver: client %s connected%s\n", key, c->paired ? " (paired with the token)" : "");
    if (c->paired) {
        /* The token is one-time: from now on this client is known by its key. */
        void *p = realloc(kl->keys, (kl->n + 1) * sizeof(*kl->keys));
        if (!p)
            return VD_ERR(ENOMEM);
        kl->keys = p;
        memcpy(kl->keys[kl->n++], c->peer_key, VD_KEY_BYTES);
        *token = NULL;
        printf("vdserver: add this line to the clients file to keep it: %s\n", key);
    }
    int ret = open_workload(o, &st->wl);
    if (ret < 0)
        return ret;
    const vd_session_caps *caps = &c->caps;
    uint32_t max_w = caps->max_width ? caps->max_width : VD_MAX_DIMENSION;
    uint32_t max_h = caps->max_height ? caps->max_height : VD_MAX_DIMENSION;
    if (!o->input && ((uint32_t)o->width > max_w || (uint32_t)o->height > max_h)) {
        fprintf(stderr, "vdserver: the client shows at most %" PRIu32 "x%" PRIu32 "\n", max_w,
                max_h);
        return VD_ERR(EMSGSIZE);
    }
    vd_encoder_config cfg;
    vd_encoder_config_default(&cfg);
    /* Video streams only in codecs the viewer said it decodes. */
    cfg.video_codecs = (caps->codecs & VD_SESSION_CODEC_H264 ? VD_CODEC_H264 : 0u) |
                       (caps->codecs & VD_SESSION_CODEC_AV1 ? VD_CODEC_AV1 : 0u);
    /* The tile cache: no more than the viewer grants (0, an older viewer, means none). */
    if (caps->cache_bytes < cfg.cache_size)
        cfg.cache_size = caps->cache_bytes;
    if (caps->max_packet_size && caps->max_packet_size < 4u << 20)
        cfg.max_packet_size = caps->max_packet_size / 4 < 4096 ? 4096 : caps->max_packet_size / 4;
    cfg.link_bitrate = (uint32_t)o->link_kbit * 1000;
    if ((ret = vd_encoder_new(&cfg, &st->enc)) < 0) {
        fprintf(stderr, "vdserver: encoder: %s\n", vd_strerror(ret));
        return ret;
    }
    st->connected = 1;
    st->flow_control = !o->no_flow_control;
    st->t0_ms = st->next_frame_ms = now_ms();
    return 0;
}

static void stream_free(stream *st)
{
    vd_encoder_free(&st->enc);
    bench_workload_free(&st->wl);
    *st = (stream){0};
}

/* Sends packets the encoder has waiting; returns their bytes or an error. */
static int64_t send_packets(stream *st)
{
    vd_packet pkt;
    int64_t bytes = 0;
    int ret;
    while ((ret = vd_encoder_receive_packet(st->enc, &pkt)) == 0) {
        if ((ret = vd_session_send_packet(st->s, &pkt)) < 0) {
            fprintf(stderr, "vdserver: send_packet: %s\n", vd_strerror(ret));
            return ret;
        }
        bytes += (int64_t)pkt.size;
        st->last_seq = pkt.frame_seq;
        if (pkt.flags & VD_PACKET_FRAME_END) {
            if (!st->first_sent_ms)
                st->first_sent_ms = now_ms();
            st->sent_ms[pkt.frame_seq % DELAY_RING] = now_ms();
            st->sent_seq[pkt.frame_seq % DELAY_RING] = pkt.frame_seq;
        }
    }
    return ret == VD_ERR(EAGAIN) ? bytes : ret;
}

/* The client came back with its ticket: it gets only what changed since its last frame. */
static int resume_stream(stream *st, const vd_resume_state *state)
{
    int ret = vd_encoder_resume(st->enc, state);
    if (ret < 0) {
        fprintf(stderr, "vdserver: resume: %s\n", vd_strerror(ret));
        return ret;
    }
    int64_t bytes = send_packets(st);
    if (bytes < 0)
        return (int)bytes;
    printf("vdserver: client resumed from frame %" PRIu64 " after %" PRId64 " ms: %" PRId64
           " bytes for what changed\n",
           state->frame_seq, now_ms() - st->detached_ms, bytes);
    st->connected = 1;
    st->t0_ms = st->next_frame_ms = now_ms();
    st->ticks = 0;
    return 0;
}

static int cmp_int32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Median, p95 and max of n delays (sorted in place), if any. */
static void print_delays(const char *what, int32_t *ms, int n)
{
    if (!n)
        return;
    qsort(ms, (size_t)n, sizeof(*ms), cmp_int32);
    printf("vdserver: %s: median %" PRId32 " ms, p95 %" PRId32 " ms, max %" PRId32 " ms\n", what,
           ms[n / 2], ms[n * 95 / 100], ms[n - 1]);
}

/* Client feedback.  A key-frame request restarts the named video stream from a key frame;
 * an older viewer's REFRESH with the key-frame flag names only a surface, so it restarts every
 * stream of the surface; a plain refresh or a loss report resends the whole surface. */
static void on_feedback(stream *st, const vd_session_event *ev)
{
    switch (ev->type) {
    case VD_SESSION_EVENT_ACK: {
        st->acked++;
        st->decode_us_sum += ev->u.ack.decode_us;
        uint64_t seq = ev->u.ack.frame_seq;
        if (st->sent_seq[seq % DELAY_RING] == seq && st->n_delays < DELAY_RING) {
            int64_t sent = st->sent_ms[seq % DELAY_RING];
            int32_t delay = (int32_t)(now_ms() - sent);
            st->delays_ms[st->n_delays++] = delay;
            if (sent == st->first_sent_ms && !st->has_first_delay) {
                st->first_delay_ms = delay;
                st->has_first_delay = 1;
            }
            if (sent - st->first_sent_ms >= STEADY_AFTER_MS)
                st->steady_delays_ms[st->n_steady_delays++] = delay;
        }
        vd_encoder_feedback fb = {.flags = VD_FEEDBACK_ACK, .acked_frame_seq = seq};
        if (st->flow_control) /* EINVAL: a frame of an old connection */
            (void)vd_encoder_send_feedback(st->enc, &fb);
        break;
    }
    case VD_SESSION_EVENT_RTT: {
        vd_encoder_feedback fb = {.flags = VD_FEEDBACK_RTT, .rtt_us = ev->u.rtt.rtt_us};
        if (st->flow_control)
            (void)vd_encoder_send_feedback(st->enc, &fb);
        break;
    }
    case VD_SESSION_EVENT_REFRESH:
        if (ev->u.refresh.flags & VD_REFRESH_KEYFRAME) {
            vd_region r[64];
            uint32_t sid = ev->u.refresh.surface_id == VD_ALL_SURFACES ? 0
                                                                       : ev->u.refresh.surface_id;
            int n = vd_encoder_get_regions(st->enc, sid, r, 64);
            for (int i = 0; i < n && i < 64; i++)
                (void)vd_encoder_request_keyframe(st->enc, r[i].id); /* ENOENT: lossless */
            printf("vdserver: key frames requested (%d region(s))\n", n > 0 ? n : 0);
        } else {
            (void)vd_encoder_request_refresh(st->enc, ev->u.refresh.surface_id);
            printf("vdserver: refresh requested\n");
        }
        break;
    case VD_SESSION_EVENT_KEYFRAME:
        /* ENOENT: the stream has ended since; its region is sent as tiles now. */
        if (vd_encoder_request_keyframe(st->enc, ev->u.keyframe.stream_id) == 0)
            printf("vdserver: key frame requested for stream %" PRIu32 "\n",
                   ev->u.keyframe.stream_id);
        break;
    case VD_SESSION_EVENT_LOSS:
        printf("vdserver: client lost frames %" PRIu64 "..%" PRIu64 ", refreshing\n",
               ev->u.loss.first_seq, ev->u.loss.last_seq);
        (void)vd_encoder_request_refresh(st->enc, ev->u.loss.surface_id);
        break;
    default: /* input: a real host would forward it to the guest */
        break;
    }
}

/* One frame interval: the next workload frame, encoded and queued; while the link or the
 * viewer is behind, the encoder holds frames back (flow control) and sends their changes
 * later.  Returns 0, 1 when the stream is done, or an error. */
static int send_frame(const options *o, stream *st)
{
    bench_frame bf;
    int ret = bench_workload_next(st->wl, &bf);
    if (ret == 0) { /* loop the workload */
        if (st->registered) /* before its memory goes */
            (void)vd_encoder_unregister_buffer(st->enc, st->registered);
        st->registered = NULL;
        bench_workload_free(&st->wl);
        st->pts_offset = st->last_pts + 1000000 / o->fps;
        if ((ret = open_workload(o, &st->wl)) < 0)
            return ret;
        ret = bench_workload_next(st->wl, &bf);
    }
    if (ret <= 0) {
        fprintf(stderr, "vdserver: workload: %s\n", ret ? vd_strerror(ret) : "empty");
        return ret ? ret : VD_ERR(EIO);
    }
    st->last_pts = st->pts_offset + bf.pts_us;
    /* A synthetic workload draws every frame into one framebuffer, as a guest does: what a
     * hypervisor registers, so that GPU offload reads it in place (a no-op without a GPU). */
    if (!st->registered && bench_workload_one_buffer(st->wl) &&
        vd_encoder_register_buffer(st->enc, bf.data,
                                   bf.stride * (size_t)(bf.height - 1) + (size_t)bf.width * 4) == 0)
        st->registered = bf.data;
    vd_encoder_feedback fb = {.flags = VD_FEEDBACK_QUEUED, .queued_bytes = vd_session_queued_bytes(st->s)};
    if (st->flow_control)
        (void)vd_encoder_send_feedback(st->enc, &fb);
    vd_frame f = {
        .surface_id = 0,
        .format = VD_FORMAT_BGRX8888,
        .width = bf.width,
        .height = bf.height,
        .stride = (int32_t)bf.stride,
        .data = bf.data,
        .damage = NULL, /* the workload does not say: libvd scans */
        .pts_us = st->last_pts,
    };
    if ((ret = vd_encoder_send_frame(st->enc, &f)) < 0) {
        fprintf(stderr, "vdserver: send_frame: %s\n", vd_strerror(ret));
        return ret;
    }
    vd_encoder_stats stats;
    vd_encoder_get_stats(st->enc, &stats);
    if (stats.held_back) {
        st->skipped++;
        return 0;
    }
    int64_t bytes = send_packets(st);
    if (bytes < 0)
        return (int)bytes;
    st->sent++;
    if (o->fingerprint) { /* FNV-1a over B, G, R: what vdviewer --fingerprint hashes */
        uint64_t h = 0xcbf29ce484222325u;
        for (int y = 0; y < bf.height; y++)
            for (int x = 0; x < bf.width; x++)
                for (int k = 0; k < 3; k++)
                    h = (h ^ bf.data[(size_t)y * bf.stride + (size_t)x * 4 + (size_t)k]) * 0x100000001b3u;
        st->fingerprint = h;
    }
    return o->frames && st->sent >= o->frames;
}

/* Serves one accepted client until it leaves, the stream ends or a signal arrives.
 * Returns 0 for a clean end or the session's error. */
static int serve(const options *o, vd_session *s, keylist *kl, const char **token, stream *kept)
{
    stream st = {.s = s};
    int ret = 0;
    for (;;) {
        int64_t t = now_ms();
        if (stop && !st.closing) {
            st.closing = 1;
            if (vd_session_close(s) < 0)
                break; /* nothing authenticated yet: the session just ends */
        }
        short events = vd_session_events(s);
        if (!events) /* goodbyes exchanged and everything written */
            break;
        /* The session times the handshake and the goodbye; we time the frames. */
        int wait = vd_session_timeout(s);
        if (st.connected && !st.closing) {
            int64_t w = st.next_frame_ms > t ? st.next_frame_ms - t : 0;
            if (wait < 0 || w < wait)
                wait = (int)w;
        }
        struct pollfd p = {vd_session_fd(s), events, 0};
        if (poll(&p, 1, wait) < 0 && errno != EINTR) {
            ret = VD_ERR(errno);
            break;
        }
        if ((ret = vd_session_dispatch(s, p.revents)) < 0) {
            if (ret == VD_ERR(ETIMEDOUT))
                fprintf(stderr, "vdserver: the client %s\n",
                        st.closing ? "did not answer the goodbye" : "did not finish the handshake");
            break;
        }
        vd_session_event ev;
        while ((ret = vd_session_receive(s, &ev)) == 0) {
            if (ev.type == VD_SESSION_EVENT_CONNECTED) {
                const vd_session_connected *c = &ev.u.connected;
                /* A resume needs the ticket we gave this very client key. */
                if (c->resume && kept->enc && vd_session_ticket_equal(c->resume_ticket, kept->ticket) &&
                    !memcmp(c->peer_key, kept->client_key, VD_KEY_BYTES)) {
                    st = *kept;
                    st.s = s;
                    *kept = (stream){0};
                    ret = resume_stream(&st, c->resume);
                } else {
                    if (c->resume)
                        printf("vdserver: a resume with an unknown ticket: starting afresh\n");
                    stream_free(kept);
                    ret = on_connected(o, &st, c, kl, token);
                }
                if (ret < 0)
                    break;
                memcpy(st.client_key, c->peer_key, VD_KEY_BYTES);
                (void)vd_session_resume_ticket(s, st.ticket);
            } else if (st.connected) {
                on_feedback(&st, &ev);
            }
        }
        if (ret == VD_EOF) { /* the client said goodbye: say it back */
            st.eof = 1;
            if (!st.closing) {
                st.closing = 1;
                if ((ret = vd_session_close(s)) < 0)
                    break;
            }
        } else if (ret != VD_ERR(EAGAIN)) {
            break;
        }
        ret = 0;
        if (st.connected && !st.closing && now_ms() >= st.next_ping_ms) {
            st.next_ping_ms = now_ms() + PING_MS;
            if ((ret = vd_session_ping(s)) < 0)
                break;
        }
        if (st.connected && !st.closing && now_ms() >= st.next_frame_ms) {
            /* Keep to the schedule; after a stall, restart it rather than burst. */
            st.next_frame_ms = st.t0_ms + ++st.ticks * 1000 / o->fps;
            if (st.next_frame_ms < now_ms() - 1000) {
                st.t0_ms = st.next_frame_ms = now_ms();
                st.ticks = 0;
            }
            if ((ret = send_frame(o, &st)) < 0)
                break;
            if (o->drop_after && !st.dropped && st.sent == o->drop_after) {
                printf("vdserver: dropping the connection after %d frames (--drop-after)\n", st.sent);
                st.dropped = 1;
                shutdown(vd_session_fd(s), SHUT_RDWR);
            }
            if (ret == 1) {
                st.closing = 1;
                if ((ret = vd_session_close(s)) < 0)
                    break;
            }
            ret = 0;
        }
    }
    if (st.connected && !st.closing && !st.eof &&
        (ret == VD_ERR(ECONNRESET) || ret == VD_ERR(EPIPE) || ret == VD_ERR(ETIMEDOUT))) {
        printf("vdserver: connection lost (%s) after %d frame(s); the stream waits %d s for a "
               "resume\n",
               vd_strerror(ret), st.sent, RESUME_GRACE_MS / 1000);
        st.s = NULL;
        st.detached_ms = now_ms();
        *kept = st;
        return 1;
    }
    if (st.connected)
        printf("vdserver: %d frame(s) sent, %d held back by flow control, %d acknowledged "
               "(mean decode %.0f us)\n",
               st.sent, st.skipped, st.acked,
               st.acked ? (double)st.decode_us_sum / st.acked : 0.0);
    if (st.has_first_delay)
        printf("vdserver: first frame (the whole screen) sent to acknowledged: %d ms\n",
               st.first_delay_ms);
    print_delays("frame sent to acknowledged", st.delays_ms, st.n_delays);
    char steady[64];
    snprintf(steady, sizeof(steady), "frame sent to acknowledged, from %d s on",
             STEADY_AFTER_MS / 1000);
    print_delays(steady, st.steady_delays_ms, st.n_steady_delays);
    if (o->fingerprint && st.last_seq)
        printf("vdserver: fingerprint of frame %" PRIu64 ": %016" PRIx64 "\n", st.last_seq,
               st.fingerprint);
    stream_free(&st);
    return ret;
}

int main(int argc, char **argv)
{
    options o;
    if (parse_args(argc, argv, &o) < 0)
        return usage(stderr);
    if (!o.workload)
        o.workload = bench_synthetic_names()[0];
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines reach a log file as they happen */
    bench_workload *probe; /* a bad name, size or file should fail now, not per client */
    if (open_workload(&o, &probe) < 0)
        return 1;
    bench_workload_free(&probe);

    vd_session_config cfg;
    vd_session_config_default(&cfg, VD_SESSION_SERVER);
    /* A viewer whose network died (no reset ever comes) is dropped, and may resume. */
    cfg.idle_timeout_ms = 15000;
    int ret = vd_keypair_load(&cfg.identity, o.key);
    if (ret < 0) {
        fprintf(stderr, "vdserver: %s: %s\n", o.key, vd_strerror(ret));
        return 1;
    }
    keylist kl = {0};
    if (o.clients) {
        if ((ret = vd_keys_load(o.clients, NULL, 0)) >= 0 && ret > 0) {
            kl.n = (size_t)ret;
            if (!(kl.keys = calloc(kl.n, sizeof(*kl.keys))))
                ret = VD_ERR(ENOMEM);
            else
                ret = vd_keys_load(o.clients, kl.keys, kl.n);
        }
        if (ret < 0) {
            fprintf(stderr, "vdserver: %s: %s\n", o.clients, vd_strerror(ret));
            return 1;
        }
    }
    const char *token = o.token;

    struct sigaction sa = {0};
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns and the loop says goodbye */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd;
    if ((ret = vd_session_listen(o.listen, &lfd)) < 0) {
        fprintf(stderr, "vdserver: listen %s: %s\n", o.listen, vd_strerror(ret));
        return 1;
    }
    /* Say where we are: with port 0 this is the only way to learn the port. */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char where[300];
    snprintf(where, sizeof(where), "%s", o.listen);
    if (strncmp(o.listen, "unix:", 5) && getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0) {
        char host[256], port[16];
        if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
                        NI_NUMERICHOST | NI_NUMERICSERV) == 0)
            snprintf(where, sizeof(where), ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host,
                     port);
    }
    printf("vdserver: listening on %s\n", where);

    int status = 0;
    stream kept = {0}; /* a dropped client's stream, waiting for it to resume */
    while (!stop) {
        int64_t wait = -1;
        if (kept.enc) {
            wait = kept.detached_ms + RESUME_GRACE_MS - now_ms();
            if (wait <= 0) {
                printf("vdserver: the dropped client did not resume\n");
                stream_free(&kept);
                status = 1;
                if (o.once)
                    break;
                continue;
            }
        }
        struct pollfd p = {lfd, POLLIN, 0};
        if (poll(&p, 1, (int)wait) < 0) {
            if (errno == EINTR)
                continue;
            perror("vdserver: poll");
            status = 1;
            break;
        }
        cfg.authorized_keys = (const uint8_t(*)[VD_KEY_BYTES])kl.keys;
        cfg.n_authorized_keys = kl.n;
        cfg.pairing_token = token;
        vd_session *s = NULL;
        if ((ret = vd_session_accept(&cfg, lfd, &s)) == VD_ERR(EAGAIN))
            continue;
        if (ret < 0) {
            fprintf(stderr, "vdserver: accept: %s\n", vd_strerror(ret));
            continue;
        }
        ret = serve(&o, s, &kl, &token, &kept);
        vd_session_free(&s);
        if (ret == 1) /* dropped: waits for a resume */
            continue;
        status = ret < 0; /* the exit status reports the last client */
        if (ret < 0)
            fprintf(stderr, "vdserver: client: %s\n", vd_strerror(ret));
        else
            printf("vdserver: client done\n");
        if (o.once && !kept.enc)
            break;
    }
    stream_free(&kept);
    close(lfd);
    free(kl.keys);
    return status;
}
