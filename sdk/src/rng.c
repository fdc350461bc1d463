/*
 * xoshiro256** (Blackman and Vigna, 2018), seeded through splitmix64 so that
 * any (seed, stream) pair gives a well-mixed, non-zero state.
 */
#include "mtl/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void mtl_rng_seed(mtl_rng *rng, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ splitmix64(&stream);

    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
}

uint64_t mtl_rng_u64(mtl_rng *rng)
{
    uint64_t *s = rng->s;
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

double mtl_rng_uniform(mtl_rng *rng)
{
    return (double)(mtl_rng_u64(rng) >> 11) * 0x1.0p-53;
}

double mtl_rng_normal(mtl_rng *rng)
{
    /* 1 - u lies in (0, 1], so the logarithm is finite. */
    double u1 = 1.0 - mtl_rng_uniform(rng);
    double u2 = mtl_rng_uniform(rng);

    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t mtl_rng_below(mtl_rng *rng, uint64_t n)
{
    /* Lemire's rejection: draw again from the biased low end. */
    uint64_t threshold = (0 - n) % n;

    for (;;) {
        uint64_t r = mtl_rng_u64(rng);
        if (r >= threshold)
            return r % n;
    }
}

void mtl_rng_shuffle(mtl_rng *rng, int64_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)mtl_rng_below(rng, i);
        int64_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
