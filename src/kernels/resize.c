/* Resizing: the taps of an axis (the Resizing layer's and the image readers') and bilinear
 * resizing of 8-bit images (kernels.h). */
#include "kernels.h"

#include <math.h>

void ck_resize_taps(ck_tap *t, int64_t out, int64_t in, int64_t start, bool nearest)
{
    float scale = (float)in / (float)out;
    for (int64_t o = 0; o < out; o++) {
        if (nearest) {
            int64_t k = (int64_t)floorf(((float)o + 0.5f) * scale);
            k = k > in - 1 ? in - 1 : k < 0 ? 0 : k;
            t[o].lo = t[o].hi = start + k;
            t[o].lerp = 0.0f;
            continue;
        }
        float c = ((float)o + 0.5f) * scale - 0.5f;
        float f = floorf(c);
        int64_t lo = (int64_t)f, hi = (int64_t)ceilf(c);
        t[o].lo = start + (lo < 0 ? 0 : lo);
        t[o].hi = start + (hi > in - 1 ? in - 1 : hi);
        t[o].lerp = c - f;
    }
}

void ck_resize_bilinear_u8(const uint8_t *src, int64_t h, int64_t w, int64_t c, float *dst, int64_t oh, int64_t ow,
                           ck_tap *taps)
{
    ck_tap *ys = taps, *xs = taps + oh;
    ck_resize_taps(ys, oh, h, 0, false);
    ck_resize_taps(xs, ow, w, 0, false);
    for (int64_t i = 0; i < oh; i++) {
        const float ly = ys[i].lerp;
        for (int64_t j = 0; j < ow; j++) {
            const float lx = xs[j].lerp;
            const uint8_t *tl = src + (ys[i].lo * w + xs[j].lo) * c, *tr = src + (ys[i].lo * w + xs[j].hi) * c;
            const uint8_t *bl = src + (ys[i].hi * w + xs[j].lo) * c, *br = src + (ys[i].hi * w + xs[j].hi) * c;
            float *o = dst + (i * ow + j) * c;
            for (int64_t k = 0; k < c; k++) {
                float top = (float)tl[k] + ((float)tr[k] - (float)tl[k]) * lx;
                float bot = (float)bl[k] + ((float)br[k] - (float)bl[k]) * lx;
                o[k] = top + (bot - top) * ly;
            }
        }
    }
}
