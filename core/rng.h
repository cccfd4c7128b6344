// The one seeded random number generator.
//
// PCG32 (O'Neill 2014, "XSH RR" output on a 64-bit LCG): small state, good
// statistics, and a stream that is the same on every run and platform for a
// given seed. Normals come from Box-Muller on two uniforms, both outputs used
// in order. Uniform floats take the top 24 bits, so they lie in [0, 1) exactly.
#pragma once

#include <stdint.h>

typedef struct useg_rng {
    uint64_t state;
    uint64_t inc;         // stream selector, always odd
    double spare_normal;  // second Box-Muller output, valid when has_spare
    int has_spare;
} useg_rng;

void useg_rng_seed(useg_rng *r, uint64_t seed, uint64_t stream);
uint32_t useg_rng_u32(useg_rng *r);
// Uniform in [0, n); n > 0. Unbiased (rejection sampling).
uint32_t useg_rng_below(useg_rng *r, uint32_t n);
// Uniform in [0, 1).
float useg_rng_uniform(useg_rng *r);
// Standard normal N(0, 1).
double useg_rng_normal(useg_rng *r);
