/* xoshiro256** seeded through splitmix64: one generator per model, no shared state. */
#include "core.h"

#include <math.h>
#include <string.h>
#include <stdatomic.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void ck_rng_seed(ck_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t next(uint64_t *s)
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t ck_rng_u64(ck_rng *r)
{
    return next(r->s);
}

void ck_rng_keep_mask(ck_rng *r, float *mask, int64_t n, double rate, float keep)
{
    /* A draw is k 2^-53 with k = next >> 11 an integer below 2^53, and k 2^-53 >= rate exactly
     * when k >= ceil(rate 2^53) (both sides exact: scaling by 2^53 rounds nothing). An integer
     * compare turned into an all-ones or zero mask: a branch here is mispredicted at random. */
    /* (a NaN rate keeps none, as u >= NaN is false) */
    uint64_t thr = rate <= 0.0 ? 0 : !(rate < 1.0) ? (uint64_t)1 << 53 : (uint64_t)ceil(rate * 0x1.0p53);
    uint32_t kb;
    memcpy(&kb, &keep, sizeof kb);
    uint64_t s[4] = {r->s[0], r->s[1], r->s[2], r->s[3]}; /* in registers through the loop */
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits = kb & (uint32_t)-(uint32_t)((next(s) >> 11) >= thr);
        memcpy(&mask[i], &bits, sizeof bits);
    }
    memcpy(r->s, s, sizeof s);
}

double ck_rng_uniform(ck_rng *r)
{
    return (double)(ck_rng_u64(r) >> 11) * 0x1.0p-53;
}

double ck_rng_normal(ck_rng *r)
{
    double u1, u2;
    do {
        u1 = ck_rng_uniform(r);
    } while (u1 <= 0.0);
    u2 = ck_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t ck_rng_below(ck_rng *r, uint64_t n)
{
    if (n <= 1)
        return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = ck_rng_u64(r);
    } while (x >= limit);
    return x % n;
}

void ck_rng_shuffle(ck_rng *r, int64_t *idx, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ck_rng_below(r, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

static _Atomic uint64_t seed_stream = 0x5eed5eed12345678ULL;

uint64_t ck_next_model_seed(void)
{
    uint64_t x = atomic_fetch_add(&seed_stream, 0x9e3779b97f4a7c15ULL);
    return splitmix64(&x);
}

CKERAS_API void ckeras_set_random_seed(uint64_t seed)
{
    uint64_t x = seed;
    atomic_store(&seed_stream, splitmix64(&x));
}
