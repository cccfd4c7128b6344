// IEEE binary16 and bfloat16 conversions (round to nearest even), for the
// storage dtypes. NaN stays NaN; overflow goes to infinity.
#pragma once

#include <stdint.h>
#include <string.h>

static inline uint32_t useg_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float useg_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static inline float useg_bf16_to_f32(uint16_t h) { return useg_bits_f32((uint32_t)h << 16); }

static inline uint16_t useg_f32_to_bf16(float f) {
    uint32_t u = useg_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float useg_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0x1f) return useg_bits_f32(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) { // zero or subnormal: mant * 2^-24
        float v = (float)mant * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return useg_bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

static inline uint16_t useg_f32_to_f16(float f) {
    uint32_t u = useg_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t absu = u & 0x7fffffffu;
    if (absu > 0x7f800000u) return sign | 0x7e00u;            // NaN
    if (absu >= 0x477ff000u) return sign | 0x7c00u;           // rounds to >= 65536: inf
    if (absu < 0x38800000u) {                                 // below 2^-14: subnormal or zero
        // Scale so the f16 subnormal unit (2^-24) becomes 1, and round to even.
        float a = useg_bits_f32(absu) * 16777216.0f;
        uint32_t m = (uint32_t)a;
        float rem = a - (float)m;
        if (rem > 0.5f || (rem == 0.5f && (m & 1u))) m++;
        return sign | (uint16_t)m;
    }
    uint32_t mant = absu & 0x7fffffu, exp = (absu >> 23) - 112u;
    uint32_t h = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return sign | (uint16_t)h;
}
