/*
 * mtl/rng.h - the seeded random number generator every part of a run uses.
 *
 * xoshiro256** seeded through splitmix64.  The state is a plain struct so
 * the host can checkpoint and restore it by value; a run derives one stream
 * per consumer (data order, each plugin, initialisation) from its seed, so
 * adding draws in one place never changes the numbers seen in another.
 */
#ifndef MTL_RNG_H
#define MTL_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mtl_rng {
    uint64_t s[4];
} mtl_rng;

/* Seeds `rng` from (seed, stream); different streams are independent. */
void mtl_rng_seed(mtl_rng *rng, uint64_t seed, uint64_t stream);

/* 64 random bits. */
uint64_t mtl_rng_u64(mtl_rng *rng);

/* Uniform double in [0, 1), 53 random bits. */
double mtl_rng_uniform(mtl_rng *rng);

/* Standard normal double (Box-Muller; two uniforms per draw, no cache). */
double mtl_rng_normal(mtl_rng *rng);

/* Uniform integer in [0, n), without modulo bias; n > 0. */
uint64_t mtl_rng_below(mtl_rng *rng, uint64_t n);

/* Fisher-Yates shuffle of idx[0..n). */
void mtl_rng_shuffle(mtl_rng *rng, int64_t *idx, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* MTL_RNG_H */
