/* A dropped TCP connection, end to end: a host streams a changing desktop over the secure
 * session, the connection dies mid-stream (frames in flight are lost) while the desktop goes
 * on changing, the viewer reconnects with its resume ticket and its decoder's state, the host
 * finds its encoder by ticket and client key and resumes.  Checks that the viewer's image is
 * bit-exact, that only the changed tiles went again, and that the bytes sent on resume are no
 * more than sending those tiles again whole costs (a client that missed them has nothing of
 * theirs to take differences to).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vd/session.h>

#include "testutil.h"

typedef struct host {
    int lfd;
    vd_session *s; /* NULL while no client is connected: pump() accepts one */
    int connected;
    vd_encoder *enc;
    uint8_t ticket[VD_TICKET_BYTES]; /* issued to the client */
    uint8_t client_key[VD_KEY_BYTES];
    int resumed;
    vd_resume_state resume;
    uint64_t sent_seq; /* the last frame queued */
} host;

typedef struct viewer {
    vd_session *s;
    int connected, err;
    vd_decoder *dec;
    tu_canvas img;
    int has_img;
    uint64_t shown; /* frame_seq of the image */
    int tiles_updated;
} viewer;

static vd_keypair server_id, client_id;

static vd_session_config server_config(void)
{
    vd_session_config cfg;
    vd_session_config_default(&cfg, VD_SESSION_SERVER);
    cfg.identity = server_id;
    cfg.authorized_keys = (const uint8_t(*)[VD_KEY_BYTES])client_id.public_key;
    cfg.n_authorized_keys = 1;
    return cfg;
}

static void viewer_take(viewer *v)
{
    vd_image img;
    int ret;
    while ((ret = vd_decoder_receive_image(v->dec, &img)) == 0) {
        CHECK(!(img.flags & VD_IMAGE_DESTROYED), "surface destroyed");
        if (!v->has_img) {
            v->img = tu_canvas_new(img.format, img.width, img.height, 0);
            v->has_img = 1;
        }
        CHECK(img.width == v->img.width && img.height == v->img.height, "geometry");
        for (int y = 0; y < img.height; y++)
            memcpy(v->img.data + (size_t)y * (size_t)v->img.stride, img.data + (size_t)y * (size_t)img.stride,
                   (size_t)img.width * 4);
        for (size_t i = 0; i < img.n_damage; i++)
            v->tiles_updated += ((img.damage[i].width + 63) / 64) * ((img.damage[i].height + 63) / 64);
        v->shown = img.frame_seq;
    }
    CHECK(ret == VD_ERR(EAGAIN), "receive_image: %s", vd_strerror(ret));
}

static void host_events(host *h)
{
    vd_session_event ev;
    while (vd_session_receive(h->s, &ev) == 0) {
        if (ev.type != VD_SESSION_EVENT_CONNECTED)
            continue;
        const vd_session_connected *c = &ev.u.connected;
        h->connected = 1;
        /* A resume counts only for the ticket issued to this same client key. */
        h->resumed = c->resume && h->enc && vd_session_ticket_equal(c->resume_ticket, h->ticket) &&
                     !memcmp(c->peer_key, h->client_key, VD_KEY_BYTES);
        if (h->resumed)
            h->resume = *c->resume;
        memcpy(h->client_key, c->peer_key, VD_KEY_BYTES);
        CHECK(vd_session_resume_ticket(h->s, h->ticket) == 0, "the server's ticket");
    }
}

static void viewer_events(viewer *v)
{
    vd_session_event ev;
    int ret;
    while ((ret = vd_session_receive(v->s, &ev)) == 0) {
        if (ev.type == VD_SESSION_EVENT_CONNECTED) {
            v->connected = 1;
        } else if (ev.type == VD_SESSION_EVENT_PACKET) {
            int r = vd_decoder_send_packet(v->dec, ev.u.packet.data, ev.u.packet.size);
            CHECK(r == 0, "decoder: %s", vd_strerror(r));
            viewer_take(v);
        }
    }
    if (ret != VD_ERR(EAGAIN))
        v->err = ret;
}

enum until { CONNECTED, SHOWN, BOTH_FAILED };

static int reached(const host *h, const viewer *v, enum until u)
{
    switch (u) {
    case CONNECTED:
        return h->connected && v->connected;
    case SHOWN:
        return v->shown == h->sent_seq;
    default:
        return v->err < 0 && (!h->s || !vd_session_events(h->s));
    }
}

/* Runs both ends' I/O until u holds (checked: at most 10 s). */
static void pump(host *h, viewer *v, enum until u)
{
    vd_session_config scfg = server_config();
    for (int t = 0; !reached(h, v, u); t++) {
        CHECK(t < 10000, "stuck waiting for %d (viewer error %s)", (int)u, vd_strerror(v->err));
        struct pollfd p[2];
        nfds_t n = 0;
        if (h->s)
            p[n++] = (struct pollfd){vd_session_fd(h->s), vd_session_events(h->s), 0};
        else
            p[n++] = (struct pollfd){h->lfd, POLLIN, 0};
        if (v->s && !v->err)
            p[n++] = (struct pollfd){vd_session_fd(v->s), vd_session_events(v->s), 0};
        poll(p, n, 1);
        if (!h->s) {
            int ret = vd_session_accept(&scfg, h->lfd, &h->s);
            CHECK(ret == 0 || ret == VD_ERR(EAGAIN), "accept: %s", vd_strerror(ret));
        }
        if (h->s && vd_session_events(h->s) && vd_session_dispatch(h->s, 0) == 0)
            host_events(h);
        if (v->s && !v->err) {
            int ret = vd_session_dispatch(v->s, 0);
            if (ret < 0)
                v->err = ret;
            else
                viewer_events(v);
        }
    }
}

static void viewer_connect(viewer *v, const char *addr, const uint8_t *ticket, const vd_resume_state *st)
{
    vd_session_config cfg;
    vd_session_config_default(&cfg, VD_SESSION_CLIENT);
    cfg.identity = client_id;
    cfg.server_key = server_id.public_key;
    cfg.resume_ticket = ticket;
    cfg.resume = st;
    int ret = vd_session_connect(&cfg, addr, &v->s);
    CHECK(ret == 0, "connect: %s", vd_strerror(ret));
    v->connected = 0;
    v->err = 0;
}

/* Encodes the canvas as the next frame of surface 1. */
static void host_frame(host *h, const tu_canvas *c, const vd_rect *damage, size_t n_damage)
{
    vd_frame f = tu_frame(c, 1, damage, n_damage);
    int ret = vd_encoder_send_frame(h->enc, &f);
    CHECK(ret == 0, "send_frame: %s", vd_strerror(ret));
}

/* Queues whatever the encoder has for the client (dropped while it is away). */
static size_t host_send(host *h)
{
    vd_packet pkt;
    size_t bytes = 0;
    while (vd_encoder_receive_packet(h->enc, &pkt) == 0) {
        bytes += pkt.size;
        h->sent_seq = pkt.frame_seq;
        if (h->s && h->connected)
            CHECK(vd_session_send_packet(h->s, &pkt) == 0, "send_packet");
    }
    return bytes;
}

static void check_exact(const viewer *v, const tu_canvas *c, const char *what)
{
    long bad = tu_canvas_diff(&v->img, c);
    CHECK(bad < 0, "%s: the viewer's image differs at pixel %ld", what, bad);
}

int main(void)
{
    CHECK(vd_keypair_generate(&server_id) == 0 && vd_keypair_generate(&client_id) == 0, "keys");
    host h = {0};
    viewer v = {0};
    CHECK(vd_session_listen("127.0.0.1:0", &h.lfd) == 0, "listen");
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    CHECK(getsockname(h.lfd, (struct sockaddr *)&sin, &sl) == 0, "getsockname");
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
    CHECK(vd_encoder_new(NULL, &h.enc) == 0, "encoder");
    CHECK(vd_decoder_new(NULL, &v.dec) == 0, "decoder");

    tu_rng rng = tu_rng_init(11);
    tu_canvas c = tu_canvas_new(VD_FORMAT_BGRX8888, 1280, 720, 0);
    tu_canvas at_drop = tu_canvas_new(VD_FORMAT_BGRX8888, 1280, 720, 0);
    tu_fill_desktop(&rng, &c);
    vd_rect d[8];

    viewer_connect(&v, addr, NULL, NULL);
    pump(&h, &v, CONNECTED);
    CHECK(!h.resumed, "a new client resumed");
    uint8_t ticket[VD_TICKET_BYTES];
    CHECK(vd_session_resume_ticket(v.s, ticket) == 0 && vd_session_ticket_equal(ticket, h.ticket),
          "the viewer holds the ticket the host issued");

    /* Streaming, every frame shown. */
    for (int frame = 0; frame < 10; frame++) {
        size_t n = frame ? tu_scribble(&rng, &c, d, 6) : 0;
        host_frame(&h, &c, frame ? d : NULL, n);
        host_send(&h);
        pump(&h, &v, SHOWN);
    }
    check_exact(&v, &c, "before the drop");
    uint64_t last_shown = v.shown;

    /* The drop: two frames are queued, then the viewer's connection dies under them. */
    for (int frame = 0; frame < 2; frame++) {
        size_t n = tu_scribble(&rng, &c, d, 6);
        host_frame(&h, &c, d, n);
        host_send(&h);
    }
    CHECK(shutdown(vd_session_fd(v.s), SHUT_RDWR) == 0, "shutdown");
    pump(&h, &v, BOTH_FAILED);
    CHECK(v.err == VD_ERR(ECONNRESET), "the viewer saw %s, not a reset", vd_strerror(v.err));
    CHECK(v.shown == last_shown, "the viewer showed frame %llu after the drop",
          (unsigned long long)v.shown);
    vd_session_free(&h.s);
    h.connected = 0;

    /* The desktop goes on changing while nobody watches. */
    for (int frame = 0; frame < 3; frame++) {
        size_t n = tu_scribble(&rng, &c, d, 6);
        host_frame(&h, &c, d, n);
        host_send(&h);
    }

    /* The viewer comes back with its ticket and where its decoder stands. */
    CHECK(vd_session_resume_ticket(v.s, ticket) == 0, "ticket after the failure");
    vd_resume_state state;
    CHECK(vd_decoder_get_resume_state(v.dec, &state) == 0 && state.frame_seq == last_shown &&
              state.n_surfaces == 1 && state.surface_ids[0] == 1,
          "resume state: frame %llu, %u surfaces", (unsigned long long)state.frame_seq, state.n_surfaces);
    vd_session_free(&v.s);
    memcpy(at_drop.data, v.img.data, (size_t)at_drop.stride * (size_t)at_drop.height);
    viewer_connect(&v, addr, ticket, &state);
    pump(&h, &v, CONNECTED);
    CHECK(h.resumed && h.resume.frame_seq == last_shown, "the host did not take the resume");
    CHECK(!vd_session_ticket_equal(ticket, h.ticket), "the new session reuses the old ticket");

    vd_session_stats before, after;
    vd_session_get_stats(h.s, &before);
    v.tiles_updated = 0;
    CHECK(vd_encoder_resume(h.enc, &h.resume) == 0, "vd_encoder_resume");
    size_t resume_bytes = host_send(&h);
    pump(&h, &v, SHOWN);
    vd_session_get_stats(h.s, &after);
    check_exact(&v, &c, "after the resume");

    int changed = tu_tiles_differing(&at_drop, &c);
    size_t best = tu_resend_bytes(&at_drop, &c);
    uint64_t wire = after.bytes_sent - before.bytes_sent;
    printf("resume over TCP: handshake %llu bytes from the server; then %zu bytes of packets (%llu "
           "on the wire, encrypted) for %d changed tiles of %d; sending them again whole costs %zu\n",
           (unsigned long long)before.bytes_sent, resume_bytes, (unsigned long long)wire, changed, ((c.width + 63) / 64) * ((c.height + 63) / 64), best);
    CHECK(v.tiles_updated == changed, "%d tiles resent, %d changed", v.tiles_updated, changed);
    CHECK(resume_bytes <= best + best / 20 + 256, "resume sent %zu bytes, sending those tiles again whole costs %zu",
          resume_bytes, best);
    CHECK(wire <= resume_bytes + resume_bytes / 100 + 1024, "%llu wire bytes for %zu bytes of packets",
          (unsigned long long)wire, resume_bytes);

    /* And the stream goes on. */
    for (int frame = 0; frame < 5; frame++) {
        size_t n = tu_scribble(&rng, &c, d, 6);
        host_frame(&h, &c, d, n);
        host_send(&h);
        pump(&h, &v, SHOWN);
    }
    check_exact(&v, &c, "after the resume, going on");

    vd_session_free(&v.s);
    vd_session_free(&h.s);
    close(h.lfd);
    vd_encoder_free(&h.enc);
    vd_decoder_free(&v.dec);
    tu_canvas_free(&c);
    tu_canvas_free(&at_drop);
    if (v.has_img)
        tu_canvas_free(&v.img);
    printf("session resume: a dropped TCP connection resumed bit-exact with only the changes\n");
    return 0;
}
