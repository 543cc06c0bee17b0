/* rng.h — the seeded random number generator behind sampling and random
 * model generation: xoshiro256** (Blackman & Vigna, 2018) seeded through
 * splitmix64, so every 64-bit seed (0 included) gives a valid, well-mixed
 * state. Deterministic across platforms: same seed, same sequence.
 * Not thread safe: one state per user.
 */
#ifndef SLM_SAMPLE_RNG_H
#define SLM_SAMPLE_RNG_H

#include <stdint.h>

typedef struct slm_rng {
    uint64_t s[4]; /* xoshiro256** state; never all zero */
} slm_rng;

void slm_rng_seed(slm_rng *r, uint64_t seed);
uint64_t slm_rng_next(slm_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double slm_rng_uniform(slm_rng *r);
/* Standard normal N(0, 1) (Box-Muller; uses two uniforms per call). */
double slm_rng_normal(slm_rng *r);

#endif
