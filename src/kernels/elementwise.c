/* Elementwise loops and reductions on plain buffers (written for the auto-vectoriser: unit
 * stride inner loops over restrict pointers).
 *
 * Sizes: the lengths multiplied here (batch, axes, windows, channels, offsets) are those of
 * buffers whose element counts passed ck_size_check (core.h, checked size arithmetic): at most
 * 2^48 each, so no index or product of them wraps. */
#include "kernels.h"

#include <string.h>

/* out (rows x cols) += bias (cols) broadcast over the rows */
void ck_add_bias(float *out, const float *bias, int64_t rows, int64_t cols)
{
    const float *restrict bv = bias;
    for (int64_t r = 0; r < rows; r++) {
        float *restrict o = out + r * cols;
        for (int64_t c = 0; c < cols; c++)
            o[c] += bv[c];
    }
}

/* db (cols) = column sums of dy (rows x cols) */
void ck_bias_grad(const float *dy, float *db, int64_t rows, int64_t cols)
{
    float *restrict d = db;
    if (cols <= 0)
        return;
    memset(d, 0, (size_t)cols * sizeof *d);
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict g = dy + r * cols;
        for (int64_t c = 0; c < cols; c++)
            d[c] += g[c];
    }
}
