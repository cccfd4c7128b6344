// Order and search of lattice vertex keys (permutohedral.cu), host and
// device, so tests/cuda/test_cuda_host.cu checks them without a GPU. A key is
// d int32 coordinates compared as unsigned 32-bit words, word 0 most
// significant: the order CUB's radix sort leaves when the entries are
// sorted one word at a time from the last word to the first.
#pragma once

#include <stdint.h>

// -1, 0 or 1 as key a sorts before, with or after key b.
__host__ __device__ __forceinline__ int key_compare(const int32_t *a, const int32_t *b, int d) {
    for (int i = 0; i < d; i++) {
        const uint32_t x = (uint32_t)a[i], y = (uint32_t)b[i];
        if (x != y) return x < y ? -1 : 1;
    }
    return 0;
}

// The slot (1..m) of `key` among the m sorted distinct keys (m, d), or 0 when absent.
__host__ __device__ __forceinline__ int64_t find_key(const int32_t *keys, int64_t m, int d, const int32_t *key) {
    int64_t lo = 0, hi = m; // the key, if present, is in [lo, hi)
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        const int c = key_compare(keys + mid * d, key, d);
        if (c == 0) return mid + 1;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}
