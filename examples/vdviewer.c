/* vdviewer: a headless libvd viewer on the public API.  It connects to a vdserver over the
 * secure session, decodes the stream, acknowledges every frame with its decode time, asks for
 * a refresh or key frames when decoding fails, resumes after a dropped connection (its
 * ticket and its decoder's state: the server sends only what changed), and writes every
 * N-th frame as a PNG (through libavcodec's PNG encoder).  It opens no window.  README.md ("The API in one page") shows
 * a run.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>

#include <vd/session.h>
#include <vd/vd.h>

/* Nothing from the server for this long: give up (the session pings it before, so a quiet
 * but live server is not dropped).  The handshake (10 s) and the goodbye (3 s) are timed by
 * the session's defaults. */
#define IDLE_MS 10000
#define REFRESH_GAP_MS 200 /* packets of a broken frame keep failing: ask once for them */
#define MAX_KNOWN_HOSTS 64
#define MAX_ACKS 8

typedef struct options {
    const char *key, *server_key, *known_hosts, *connect, *token, *snapshot;
    int every, frames, reconnect, fingerprint;
} options;

typedef struct known_hosts {
    uint8_t keys[MAX_KNOWN_HOSTS][VD_KEY_BYTES];
    size_t n;
} known_hosts;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int usage(FILE *f)
{
    fputs("usage: vdviewer --key FILE (--server-key PUBKEY | --known-hosts FILE)\n"
          "                --connect HOST:PORT|unix:PATH [--token TOKEN]\n"
          "                [--snapshot DIR] [--every N] [--frames N]\n"
          "  --key FILE          the viewer's key pair (transport/vdkey generate FILE)\n"
          "  --server-key KEY    the server's public key (\"vd-key-1 ...\", vdkey show)\n"
          "  --known-hosts FILE  accept a server whose key is listed in FILE\n"
          "  --connect ADDR      the server's address\n"
          "  --token TOKEN       a pairing token from the server's operator (first contact)\n"
          "  --snapshot DIR      write frames as DIR/frame-SEQ.png\n"
          "  --every N           ... every N-th frame shown (default 10)\n"
          "  --frames N          leave after N frames; 0 (default) until the server ends\n"
          "  --fingerprint       print a hash of the last image's colour bytes at the end\n"
          "  --reconnect N       after a dropped connection, reconnect and resume up to N\n"
          "                      times (default 3; 0: give up at once)\n"
          "Headless only: there is no window; frames are seen through --snapshot.\n",
          f);
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
    *o = (options){.every = 10, .reconnect = 3};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            exit(usage(stdout));
        if (!strcmp(a, "--fingerprint")) {
            o->fingerprint = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "vdviewer: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--key"))
            o->key = v;
        else if (!strcmp(a, "--server-key"))
            o->server_key = v;
        else if (!strcmp(a, "--known-hosts"))
            o->known_hosts = v;
        else if (!strcmp(a, "--connect"))
            o->connect = v;
        else if (!strcmp(a, "--token"))
            o->token = v;
        else if (!strcmp(a, "--snapshot"))
            o->snapshot = v;
        else if (!strcmp(a, "--every") ? parse_int(v, 1, &o->every) < 0
                 : !strcmp(a, "--frames")    ? parse_int(v, 0, &o->frames) < 0
                 : !strcmp(a, "--reconnect") ? parse_int(v, 0, &o->reconnect) < 0
                     : (fprintf(stderr, "vdviewer: unknown option %s\n", a), 1)) {
            fprintf(stderr, "vdviewer: bad value for %s: %s\n", a, v);
            return -1;
        }
    }
    if (!o->key || !o->connect || !o->server_key == !o->known_hosts) {
        fputs("vdviewer: --key, --connect and one of --server-key, --known-hosts are required\n",
              stderr);
        return -1;
    }
    return 0;
}

static int verify_known_host(void *opaque, const uint8_t key[VD_KEY_BYTES])
{
    const known_hosts *kh = opaque;
    for (size_t i = 0; i < kh->n; i++)
        if (!memcmp(kh->keys[i], key, VD_KEY_BYTES))
            return 1;
    fputs("vdviewer: the server's key is not in the known-hosts file\n", stderr);
    return 0;
}

/* Writes the composed surface as an RGB PNG.  libavcodec's PNG encoder takes RGB24 (not
 * BGRA), so the pixels are reordered here; alpha is dropped. */
static int write_png(const vd_image *img, const char *path)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
    if (!codec)
        return VD_ERR(ENOSYS);
    AVCodecContext *c = avcodec_alloc_context3(codec);
    AVFrame *f = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    FILE *out = NULL;
    int ret = VD_ERR(ENOMEM);
    if (!c || !f || !pkt)
        goto done;
    c->width = f->width = img->width;
    c->height = f->height = img->height;
    c->pix_fmt = AV_PIX_FMT_RGB24;
    f->format = AV_PIX_FMT_RGB24;
    c->time_base = (AVRational){1, 25};
    if ((ret = avcodec_open2(c, codec, NULL)) < 0 || (ret = av_frame_get_buffer(f, 0)) < 0)
        goto done;
    int r = 2, g = 1, b = 0, bpp = vd_format_bytes_per_pixel(img->format);
    if (img->format == VD_FORMAT_RGBX8888 || img->format == VD_FORMAT_RGBA8888)
        r = 0, b = 2;
    for (int y = 0; y < img->height; y++) {
        const uint8_t *s = img->data + (size_t)y * (size_t)img->stride;
        uint8_t *d = f->data[0] + (size_t)y * (size_t)f->linesize[0];
        for (int x = 0; x < img->width; x++, s += bpp, d += 3) {
            if (bpp == 2) { /* RGB565, little-endian */
                unsigned v = s[0] | s[1] << 8;
                d[0] = (uint8_t)((v >> 11) * 255 / 31);
                d[1] = (uint8_t)((v >> 5 & 63) * 255 / 63);
                d[2] = (uint8_t)((v & 31) * 255 / 31);
            } else {
                d[0] = s[r], d[1] = s[g], d[2] = s[b];
            }
        }
    }
    if ((ret = avcodec_send_frame(c, f)) < 0 || (ret = avcodec_receive_packet(c, pkt)) < 0)
        goto done;
    if (!(out = fopen(path, "wb")) || fwrite(pkt->data, 1, (size_t)pkt->size, out) !=
                                          (size_t)pkt->size) {
        ret = VD_ERR(errno ? errno : EIO);
        goto done;
    }
    ret = 0;
done:
    if (out && fclose(out) && !ret)
        ret = VD_ERR(errno);
    av_packet_free(&pkt);
    av_frame_free(&f);
    avcodec_free_context(&c);
    return ret;
}

typedef struct viewer {
    const options *o;
    vd_session *s;
    vd_decoder *dec;
    int connected, closing, eof;
    int shown, snapshots, refreshes, key_requests, errors, resumes;
    uint64_t last_hash;     /* of the last image: the B, G and R bytes, FNV-1a */
    uint64_t last_seq;
    int64_t decode_us;      /* decoder time since the last image: one frame's cost */
    int64_t last_refresh_us;
    vd_session_ack acks[MAX_ACKS]; /* of the packet being decoded */
    size_t n_acks;
} viewer;

static int send_event(viewer *v, const vd_session_event *ev)
{
    int ret = vd_session_send(v->s, ev);
    if (ret < 0)
        fprintf(stderr, "vdviewer: send: %s\n", vd_strerror(ret));
    return ret;
}

/* Counts the image, writes its snapshot and queues its ack (sent by on_packet once the
 * decoder is done with the packet: packet data is only valid until the next session call). */
static int on_image(viewer *v, const vd_image *img)
{
    if (img->flags & VD_IMAGE_DESTROYED)
        return 0;
    v->shown++;
    v->last_seq = img->frame_seq;
    if (v->o->fingerprint) {
        /* FNV-1a over the colour bytes (not X), to compare with vdserver --fingerprint. */
        int bpp = vd_format_bytes_per_pixel(img->format);
        int has_x = img->format == VD_FORMAT_BGRX8888 || img->format == VD_FORMAT_RGBX8888;
        uint64_t h = 0xcbf29ce484222325u;
        for (int y = 0; y < img->height; y++)
            for (int x = 0; x < img->width; x++)
                for (int k = 0; k < bpp - has_x; k++)
                    h = (h ^ img->data[(size_t)y * (size_t)img->stride + (size_t)(x * bpp + k)]) *
                        0x100000001b3u;
        v->last_hash = h;
    }
    /* The ack tells the host how long decoding took; every packet is decoded as it arrives,
     * so nothing waits behind it (queue_depth 0). */
    vd_session_ack *a = &v->acks[v->n_acks < MAX_ACKS ? v->n_acks++ : MAX_ACKS - 1];
    *a = (vd_session_ack){.frame_seq = img->frame_seq, .surface_id = img->surface_id};
    a->decode_us = v->decode_us > UINT32_MAX ? UINT32_MAX : (uint32_t)v->decode_us;
    v->decode_us = 0;
    if (v->o->snapshot && (v->shown - 1) % v->o->every == 0) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/frame-%06" PRIu64 ".png", v->o->snapshot,
                 img->frame_seq);
        int ret = write_png(img, path);
        if (ret < 0) {
            char msg[128];
            av_strerror(ret, msg, sizeof(msg)); /* libavcodec's codes, and -errno */
            fprintf(stderr, "vdviewer: %s: %s\n", path, msg);
            return VD_ERR(EIO);
        }
        v->snapshots++;
    }
    return 0;
}

static int on_packet(viewer *v, const vd_packet *pkt)
{
    int64_t t = now_us();
    int ret;
    vd_image img;
    v->n_acks = 0;
    /* EAGAIN (images wait) does not happen while every packet's images are taken at once,
     * but the rule is FFmpeg's: take them and feed the packet again. */
    while ((ret = vd_decoder_send_packet(v->dec, pkt->data, pkt->size)) == VD_ERR(EAGAIN))
        while (vd_decoder_receive_image(v->dec, &img) == 0)
            if ((ret = on_image(v, &img)) < 0)
                return ret;
    v->decode_us += now_us() - t;
    if (ret < 0) {
        v->errors++;
        fprintf(stderr, "vdviewer: frame %" PRIu64 ": %s\n", pkt->frame_seq, vd_strerror(ret));
        if (ret == VD_ERR(ENOMEM))
            return ret;
        /* The stream goes on, but tiles are missing until the host resends the surface.
         * The rest of a broken frame fails too: one request covers it. */
        if (t - v->last_refresh_us > REFRESH_GAP_MS * 1000) {
            v->last_refresh_us = t;
            v->refreshes++;
            vd_session_event ev = {.type = VD_SESSION_EVENT_REFRESH};
            ev.u.refresh.surface_id = pkt->surface_id;
            if ((ret = send_event(v, &ev)) < 0)
                return ret;
        }
    }
    for (;;) {
        t = now_us();
        if (vd_decoder_receive_image(v->dec, &img) < 0)
            break;
        v->decode_us += now_us() - t;
        if ((ret = on_image(v, &img)) < 0)
            return ret;
    }
    for (size_t i = 0; i < v->n_acks; i++) {
        vd_session_event ev = {.type = VD_SESSION_EVENT_ACK, .u.ack = v->acks[i]};
        if ((ret = send_event(v, &ev)) < 0)
            return ret;
    }
    /* Video streams the decoder gave up on: the host restarts each from a key frame. */
    uint32_t ids[16];
    size_t n = vd_decoder_get_key_requests(v->dec, ids, 16);
    for (size_t i = 0; i < n; i++) {
        v->key_requests++;
        vd_session_event ev = {.type = VD_SESSION_EVENT_KEYFRAME};
        ev.u.keyframe.stream_id = ids[i];
        if ((ret = send_event(v, &ev)) < 0)
            return ret;
    }
    return 0;
}

/* Runs one connection until it ends.  Returns 0 after the goodbyes, or the error
 * (VD_ERR(ETIMEDOUT) from the session's timeouts). */
static int run_connection(viewer *v)
{
    int ret = 0;
    for (;;) {
        if (!v->closing && (stop || (v->o->frames && v->shown >= v->o->frames))) {
            /* Our goodbye; the server answers with its own. */
            v->closing = 1;
            if ((ret = vd_session_close(v->s)) < 0)
                break;
        }
        short events = vd_session_events(v->s);
        if (!events)
            break;
        struct pollfd p = {vd_session_fd(v->s), events, 0};
        if (poll(&p, 1, vd_session_timeout(v->s)) < 0 && errno != EINTR) {
            ret = VD_ERR(errno);
            break;
        }
        if ((ret = vd_session_dispatch(v->s, p.revents)) < 0) {
            if (ret == VD_ERR(ETIMEDOUT))
                fprintf(stderr, "vdviewer: timed out %s\n",
                        v->closing ? "waiting for the goodbye"
                        : v->connected ? "waiting for the server" : "in the handshake");
            break;
        }
        vd_session_event ev;
        while ((ret = vd_session_receive(v->s, &ev)) == 0) {
            if (ev.type == VD_SESSION_EVENT_CONNECTED) {
                v->connected = 1;
                printf("vdviewer: connected to %s\n", v->o->connect);
            } else if (ev.type == VD_SESSION_EVENT_PACKET && !v->closing) {
                if ((ret = on_packet(v, &ev.u.packet)) < 0)
                    break;
            } /* cursor messages: a window would draw them */
        }
        if (ret == VD_EOF) {
            if (!v->eof && !v->closing)
                printf("vdviewer: the server ended the stream\n");
            v->eof = 1;
            if (!v->closing) {
                v->closing = 1;
                if ((ret = vd_session_close(v->s)) < 0)
                    break;
            }
        } else if (ret != VD_ERR(EAGAIN)) {
            break;
        }
        ret = 0;
    }
    return ret;
}

/* Errors after which reconnecting may help (the link, not the peer's verdict). */
static int connection_lost(int err)
{
    return err == VD_ERR(ECONNRESET) || err == VD_ERR(EPIPE) || err == VD_ERR(ETIMEDOUT) ||
           err == VD_ERR(ECONNREFUSED) || err == VD_ERR(ECONNABORTED) || err == VD_ERR(ENETUNREACH) ||
           err == VD_ERR(EHOSTUNREACH) || err == VD_ERR(ENETDOWN);
}

int main(int argc, char **argv)
{
    options o;
    if (parse_args(argc, argv, &o) < 0)
        return usage(stderr);
    setvbuf(stdout, NULL, _IOLBF, 0);

    vd_session_config cfg;
    vd_session_config_default(&cfg, VD_SESSION_CLIENT);
    int ret = vd_keypair_load(&cfg.identity, o.key);
    if (ret < 0) {
        fprintf(stderr, "vdviewer: %s: %s\n", o.key, vd_strerror(ret));
        return 1;
    }
    uint8_t server_key[VD_KEY_BYTES];
    static known_hosts kh;
    if (o.server_key) {
        if ((ret = vd_key_from_string(server_key, o.server_key)) < 0) {
            fprintf(stderr, "vdviewer: --server-key: %s\n", vd_strerror(ret));
            return 1;
        }
        cfg.server_key = server_key;
    } else {
        if ((ret = vd_keys_load(o.known_hosts, kh.keys, MAX_KNOWN_HOSTS)) < 0) {
            fprintf(stderr, "vdviewer: %s: %s\n", o.known_hosts, vd_strerror(ret));
            return 1;
        }
        kh.n = (size_t)ret < MAX_KNOWN_HOSTS ? (size_t)ret : MAX_KNOWN_HOSTS;
        cfg.verify_server = verify_known_host;
        cfg.opaque = &kh;
    }
    cfg.pairing_token = o.token;
    cfg.caps.codecs = VD_SESSION_CODEC_TILES | VD_SESSION_CODEC_H264;
    vd_decoder_config dcfg;
    vd_decoder_config_default(&dcfg);
    cfg.caps.cache_bytes = dcfg.cache_size; /* the tile cache the decoder below grants */
    cfg.idle_timeout_ms = IDLE_MS;

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    viewer v = {.o = &o};
    if ((ret = vd_decoder_new(&dcfg, &v.dec)) < 0) {
        fprintf(stderr, "vdviewer: decoder: %s\n", vd_strerror(ret));
        return 1;
    }
    /* A dropped connection is resumed with the last ticket and the decoder's state. */
    uint8_t ticket[VD_TICKET_BYTES];
    vd_resume_state state;
    int has_ticket = 0;
    for (int attempt = 0;; attempt++) {
        if ((ret = vd_session_connect(&cfg, o.connect, &v.s)) >= 0)
            ret = run_connection(&v);
        if (ret >= 0 || v.closing || v.eof || !connection_lost(ret) || attempt >= o.reconnect)
            break;
        if (vd_session_resume_ticket(v.s, ticket) == 0)
            has_ticket = 1;
        if (!has_ticket) /* never connected: nothing to resume */
            break;
        (void)vd_decoder_get_resume_state(v.dec, &state);
        printf("vdviewer: connection lost (%s); resuming from frame %" PRIu64 "\n",
               vd_strerror(ret), state.frame_seq);
        vd_session_free(&v.s);
        v.connected = 0;
        v.resumes++;
        cfg.resume_ticket = ticket;
        cfg.resume = &state;
        struct timespec pause = {0, 100000000L * (attempt < 9 ? attempt + 1 : 9)}; /* back off */
        nanosleep(&pause, NULL);
    }
    if (ret < 0)
        fprintf(stderr, "vdviewer: %s\n", vd_strerror(ret));
    printf("vdviewer: %d frame(s) shown, %d snapshot(s), %d decode error(s), %d refresh(es), "
           "%d key-frame request(s), %d resume(s)\n",
           v.shown, v.snapshots, v.errors, v.refreshes, v.key_requests, v.resumes);
    if (o.fingerprint && v.shown)
        printf("vdviewer: fingerprint of frame %" PRIu64 ": %016" PRIx64 "\n", v.last_seq, v.last_hash);
    vd_session_free(&v.s);
    vd_decoder_free(&v.dec);
    return ret < 0 ? 1 : 0;
}
