/* Fast paths against the plain ones: the fused Dense epilogues give exactly the floats of the
 * separate calls, and the optimizer gives the same floats on 1 and 2 threads. */
#include "kernels/kernels.h"
#include "optimizers/optimizers.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static void fill(float *v, int64_t n, ck_rng *r, double scale)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(ck_rng_normal(r) * scale);
}

START_TEST(fused_dense_epilogues_equal_separate_calls)
{
    static const int64_t shapes[][2] = {{32, 100}, {32, 1}, {7, 13}, {128, 10}, {1, 1}};
    static const char *acts[] = {"linear", "relu", "sigmoid", "softmax", "tanh"};
    ck_rng r;
    ck_rng_seed(&r, 12);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
            for (int with_bias = 0; with_bias <= 1; with_bias++) {
                ck_act act;
                ck_assert_int_eq(ck_act_parse(acts[a], &act), CKERAS_OK);
                float *z = malloc((size_t)n * sizeof(float)), *y1 = malloc((size_t)n * sizeof(float));
                float *y2 = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)cols * sizeof(float));
                fill(z, n, &r, 2.0);
                fill(b, cols, &r, 1.0);
                memcpy(y1, z, (size_t)n * sizeof(float));
                memcpy(y2, z, (size_t)n * sizeof(float));
                bool fused = ck_bias_act_forward(&act, y1, with_bias ? b : NULL, rows, cols);
                if (with_bias)
                    ck_add_bias(y2, b, rows, cols);
                ck_act_forward(&act, y2, y2, rows, cols);
                if (fused)
                    ck_assert_msg(memcmp(y1, y2, (size_t)n * sizeof(float)) == 0, "%s %lldx%lld bias %d: forward",
                                  acts[a], (long long)rows, (long long)cols, with_bias);
                /* backward from y: dz = dy * f'(.), db = column sums */
                float *dy1 = malloc((size_t)n * sizeof(float)), *dy2 = malloc((size_t)n * sizeof(float));
                float *db1 = malloc((size_t)cols * sizeof(float)), *db2 = malloc((size_t)cols * sizeof(float));
                fill(dy1, n, &r, 1.0);
                memcpy(dy2, dy1, (size_t)n * sizeof(float));
                fused = ck_act_backward_bias_grad(&act, y2, dy1, db1, rows, cols);
                ck_act_backward(&act, z, y2, dy2, dy2, rows, cols);
                ck_bias_grad(dy2, db2, rows, cols);
                if (fused) {
                    ck_assert_msg(memcmp(dy1, dy2, (size_t)n * sizeof(float)) == 0, "%s: backward", acts[a]);
                    ck_assert_msg(memcmp(db1, db2, (size_t)cols * sizeof(float)) == 0, "%s: bias grad", acts[a]);
                }
                free(z), free(y1), free(y2), free(b), free(dy1), free(dy2), free(db1), free(db2);
            }
        }
    }
}
END_TEST

START_TEST(optimizer_threads_give_the_same_floats)
{
    const size_t n = 300000;
    const size_t off[4] = {0, 1000, 200000, n};
    ck_rng r;
    ck_rng_seed(&r, 3);
    for (int kind = 0; kind < CK_OPT_COUNT; kind++) {
        float *p1 = malloc(n * sizeof(float)), *g1 = malloc(n * sizeof(float));
        float *p2 = malloc(n * sizeof(float)), *g2 = malloc(n * sizeof(float));
        ckeras_optimizer *o1 = ck_optimizer_new((ck_opt_kind)kind), *o2 = ck_optimizer_new((ck_opt_kind)kind);
        ck_assert_ptr_nonnull(o1);
        ck_assert_int_eq(ck_optimizer_build(o1, n), CKERAS_OK);
        ck_assert_int_eq(ck_optimizer_build(o2, n), CKERAS_OK);
        fill(p1, (int64_t)n, &r, 1.0);
        memcpy(p2, p1, n * sizeof(float));
        for (int step = 0; step < 3; step++) {
            fill(g1, (int64_t)n, &r, step == 2 ? 1e-20 : 1.0); /* the last step drives moments tiny */
            memcpy(g2, g1, n * sizeof(float));
            ckeras_set_num_threads(1);
            ck_optimizer_apply(o1, p1, g1, off, 3);
            ckeras_set_num_threads(2);
            ck_optimizer_apply(o2, p2, g2, off, 3);
        }
        ckeras_set_num_threads(0);
        ck_assert_msg(memcmp(p1, p2, n * sizeof(float)) == 0, "%s: 1 and 2 threads differ", ck_optimizer_class(o1));
        ck_optimizer_free(o1);
        ck_optimizer_free(o2);
        free(p1), free(g1), free(p2), free(g2);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fused");
    TCase *tc = tcase_create("fused");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fused_dense_epilogues_equal_separate_calls);
    tcase_add_test(tc, optimizer_threads_give_the_same_floats);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
