/* Every threshold of the content classifier, with its unit, in one place.  The encoder config
 * (vd_classifier_config) can override the ones it names; the rest are fixed here.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_CLASSIFY_PARAMS_H
#define VD_CLASSIFY_PARAMS_H

/* ---- tunable through vd_classifier_config (defaults) ---- */

/* Changes per second over the rate window for a tile to enter video/3D, and below which it
 * leaves (hysteresis: between the two the tile keeps its class). */
#define VD_CLS_ENTER_RATE 8     /* changes/s */
#define VD_CLS_EXIT_RATE 3      /* changes/s */
/* Median fraction of a tile's pixels that its recent changes touch. */
#define VD_CLS_MIN_CHANGED 96   /* 1/256 of the tile's pixels */
/* Natural content: distinct colours (counted up to VD_CLS_COLOUR_CAP) and the fraction of
 * neighbouring pixel pairs that differ by a little (smooth gradients, texture, noise). */
#define VD_CLS_MIN_COLOURS 24   /* colours */
#define VD_CLS_MIN_SMOOTH 64    /* 1/256 of sampled neighbour pairs */
/* Video against 3D: mean of the noise-sized share of changes and the smooth-pair share. */
#define VD_CLS_VIDEO_SCORE 170  /* 1/256 */
/* Rendered against video: a region whose tiles' smooth runs of three neighbours across
 * have, on average, at least this share with every channel's second difference within 1 is
 * 3D whatever the video score says.  Per component on the recordings: decoded video 9-130
 * (a generated Mandelbrot clip included), glmark2's shaded model 198-238, synthetic 3D
 * 237-250. */
#define VD_CLS_RENDERED_REGULAR 176 /* 1/256 of smooth triples */
/* Flat-shaded 3D: a tile that changed VD_CLS_FLAT_CHANGES times over VD_CLS_FLAT_WINDOW_MS
 * (with at most VD_CLS_FLAT_MAX_COLOURS colours and VD_CLS_FLAT_MAX_SMOOTH smooth neighbour
 * pairs, below), and does not scroll, is animated. */
#define VD_CLS_FLAT_CHANGES 8      /* changes (a view at 16 fps or more) */
#define VD_CLS_FLAT_WINDOW_MS 500  /* ms */
/* Fast start: a tile also enters on its second change in a row (at most VD_CLS_FAST_START_MS
 * after the first) when its changes cover at least this fraction of its pixels; 0 = off. */
#define VD_CLS_FAST_START_CHANGED 192 /* 1/256 of the tile's pixels */
/* A region ends after this long without damage. */
#define VD_CLS_REGION_IDLE_MS 1000 /* ms */

/* ---- fixed ---- */

/* Window over which change rates are counted. */
#define VD_CLS_RATE_WINDOW_MS 500 /* ms */
/* Longest gap between the two changes of a fast start (a frame at 10 fps). */
#define VD_CLS_FAST_START_MS 100 /* ms */
/* A fast start on the first change (natural content repainted in place) needs at least this
 * share of its changed pixels to change by noise only (VD_CLS_NOISE_MAX): the next frame of
 * moving content, not another picture.  Videos and 3D views: medians 81-187, 5th percentiles
 * 23-101; scene cuts and unrelated photos: under 32. */
#define VD_CLS_REPAINT_MIN_NOISE 32 /* 1/256 of the changed pixels */
/* A tile whose changes went beside copies this often (running average), or whose change
 * did in this frame, scrolls or moves: it is not video or 3D. */
#define VD_CLS_MAX_MOVED 64        /* 1/256 of its changes */
/* What a flat-shaded tile (VD_CLS_FLAT_CHANGES) may have at most. */
#define VD_CLS_FLAT_MAX_COLOURS 8  /* colours */
#define VD_CLS_FLAT_MAX_SMOOTH 16  /* 1/256 of sampled neighbour pairs */
/* Recent changes remembered per tile (must cover the rate window at 60 changes/s). */
#define VD_CLS_HISTORY 32       /* changes */
/* Fewest smooth triples (of up to 16 x 62 sampled) for a tile's regular share to count. */
#define VD_CLS_MIN_TRIPLES 32   /* triples */
/* Distinct colours counted per tile before giving up (natural content reaches it fast). */
#define VD_CLS_COLOUR_CAP 64    /* colours */
/* Largest per-channel difference of a "smooth" neighbour pair. */
#define VD_CLS_SMOOTH_MAX 24    /* levels of 255 */
/* Largest per-channel change of a pixel that counts as noise. */
#define VD_CLS_NOISE_MAX 6      /* levels of 255 */
/* Weight of the newest change in the tile's running averages. */
#define VD_CLS_EWMA_SHIFT 2     /* new = old + (x - old) / 2^shift */
/* A 16 x 16 block shapes its region's rectangle once its running share of the tile's changes
 * (weighted like the other averages) reaches this: about three of the last four changes. */
#define VD_CLS_BLOCK_LIVE 128   /* 1/256 */
/* A region switches between video and 3D only after the other class held this long. */
#define VD_CLS_REGION_SWITCH_MS 1000 /* ms */
/* A detected region's rectangle covers what changed over the last one or two such windows. */
#define VD_CLS_RECT_HOLD_MS 500 /* ms */
/* The same for 3D: an object turning or moving in a static view reaches the edges of the area
 * it sweeps only now and then, and each time the region would have to grow again. */
#define VD_CLS_RECT_HOLD_3D_MS 3000 /* ms */
/* Age from which a region is established: its changing tiles keep it alive on their own, and
 * it outlives a pause of up to region_idle_ms (region hysteresis). */
#define VD_CLS_REGION_ESTABLISHED_MS 500 /* ms */
/* A 16 x 16 block that changed beside a 3D region joins it when it looks rendered: at least
 * this many colours (a shaded floor's block has 5-10; text's hard edges are what tell it
 * apart), and this many colour steps between neighbours each way (across and down), most of
 * them small. */
#define VD_CLS_RENDERED_MIN_COLOURS 8 /* colours */
#define VD_CLS_RENDERED_MIN_STEPS 8   /* neighbour pairs */
/* Blocks that join reach at most this many blocks beyond the region in a frame; beyond the
 * first, only those whose change rate (VD_CLS_BLOCK_LIVE's scale: one change from rest gives
 * 63, two in a row 111, two one frame apart 99) is at least VD_CLS_SWEEP_MIN_RATE. */
#define VD_CLS_SWEEP_STEPS 4       /* 16 x 16 blocks */
#define VD_CLS_SWEEP_MIN_RATE 96   /* 1/256 */
/* Fewer detected tiles than this make no region: small changing photo-like patches are the
 * edges of windows dragged over a wallpaper far more often than video (the drag workload's
 * last false regions had 4 and 5 tiles); a smaller video stays lossless. */
#define VD_CLS_MIN_REGION_TILES 6 /* tiles */
/* A video's rectangle takes in single-coloured bars beside it up to this share of its size on
 * each side (a 4:3 picture in a 16:9 window has bars of 1/6 of the picture's width). */
#define VD_CLS_BARS_MAX 64 /* 1/256 */
/* Region rectangles are aligned to this many pixels (the video codecs' macroblock). */
#define VD_CLS_ALIGN 16         /* pixels */

#endif
