/* Image resizing for the image readers (ck_resize_bilinear_u8, kernels.h). */
#include "kernels.h"

#include <math.h>

/* Axis taps of TensorFlow's half-pixel bilinear resize: lo/hi source indices and the weight of hi. */
static void taps(int64_t o, int64_t in, int64_t out, int64_t *lo, int64_t *hi, float *lerp)
{
    float scale = (float)in / (float)out;
    float c = ((float)o + 0.5f) * scale - 0.5f;
    float f = floorf(c);
    int64_t l = (int64_t)f, u = (int64_t)ceilf(c);
    *lo = l < 0 ? 0 : l;
    *hi = u > in - 1 ? in - 1 : u;
    *lerp = c - f;
}

void ck_resize_bilinear_u8(const uint8_t *src, int64_t h, int64_t w, int64_t c, float *dst, int64_t oh, int64_t ow)
{
    for (int64_t i = 0; i < oh; i++) {
        int64_t y0, y1;
        float ly;
        taps(i, h, oh, &y0, &y1, &ly);
        for (int64_t j = 0; j < ow; j++) {
            int64_t x0, x1;
            float lx;
            taps(j, w, ow, &x0, &x1, &lx);
            const uint8_t *tl = src + (y0 * w + x0) * c, *tr = src + (y0 * w + x1) * c;
            const uint8_t *bl = src + (y1 * w + x0) * c, *br = src + (y1 * w + x1) * c;
            float *o = dst + (i * ow + j) * c;
            for (int64_t k = 0; k < c; k++) {
                float top = (float)tl[k] + ((float)tr[k] - (float)tl[k]) * lx;
                float bot = (float)bl[k] + ((float)br[k] - (float)bl[k]) * lx;
                o[k] = top + (bot - top) * ly;
            }
        }
    }
}
