#include "rng.h"

#include <math.h>

void useg_rng_seed(useg_rng *r, uint64_t seed, uint64_t stream) {
    r->state = 0;
    r->inc = (stream << 1u) | 1u;
    r->has_spare = 0;
    useg_rng_u32(r);
    r->state += seed;
    useg_rng_u32(r);
}

uint32_t useg_rng_u32(useg_rng *r) {
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

uint32_t useg_rng_below(useg_rng *r, uint32_t n) {
    uint32_t threshold = (uint32_t)(-n) % n;
    for (;;) {
        uint32_t x = useg_rng_u32(r);
        if (x >= threshold) return x % n;
    }
}

float useg_rng_uniform(useg_rng *r) { return (float)(useg_rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

double useg_rng_normal(useg_rng *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare_normal;
    }
    // u1 in (0, 1] so log never sees zero.
    double u1 = ((double)(useg_rng_u32(r) >> 8) + 1.0) / 16777216.0;
    double u2 = (double)(useg_rng_u32(r) >> 8) / 16777216.0;
    double radius = sqrt(-2.0 * log(u1));
    double angle = 2.0 * M_PI * u2;
    r->spare_normal = radius * sin(angle);
    r->has_spare = 1;
    return radius * cos(angle);
}
