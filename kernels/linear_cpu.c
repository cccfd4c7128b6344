// f32 linear layer on AVX-512 (see linear_cpu.h): Y = X W^T + bias.
//
// Why not OpenBLAS. A ViT's linear layers multiply a few hundred tokens by
// a weight matrix that never changes, and OpenBLAS repacks that matrix on
// every call: at 197 tokens (ViT-S/16 at 224) the packing was 17% of a
// forward's time. Packing the weights once and keeping the copy would cost a
// second copy of them (350 MB for a ViT-B). This kernel needs neither: it
// reads W where it lies and packs X instead, which is small next to W at
// these token counts and cheap next to the product at any (M K floats moved
// against 2 M N K flops).
//
// Layout. The product is computed transposed, Y^T = W X^T, in register tiles
// of 48 tokens (3 vectors of 16) by 8 output features: 24 accumulators; each
// step over k loads 3 vectors of X^T and broadcasts 8 weights, W[f][k], from
// 8 rows of W read along k (their natural order), for 24 FMAs. X is packed
// per call into X^T by groups of 16 tokens (16 x 16 in-register
// transposes), zero past the last token. A finished tile is added the bias
// (when it starts its chain, see below), transposed in registers (8 x 16 ->
// 16 rows of 8 features) and stored with masks for the edges: no padding of
// W or Y. A feature tail (N % 8) and a token tail (M % 48) run the same code
// with fewer features or vectors (one specialisation per shape, 24 in all).
//
// Blocking. Tokens go by blocks of MC whose X^T (MC x K) stays in L2;
// features by tiles of 8, and within a tile k goes by chunks of KC, so the
// tile's weight chunk (8 x KC, 16 KB) stays in L1 while every 48-token
// strip of the block passes over it. A strip's accumulators go to a small
// per-thread buffer between chunks and come back for the next one, so each
// output is still one chain: bias, then x_0 w_0, x_1 w_1, ... in k order,
// whatever the blocking and the thread count.
//
// Threads split the feature tiles (contiguous ranges); each packs the
// X^T it reads itself. Packing once, shared, would need a barrier between
// the packing and the tiles: on this shared machine a thread that waits for
// a descheduled peer loses a time slice (~4 ms), and the first version
// (shared packing, two barriers a call) ran at half OpenBLAS's speed on 2
// loaded cores (one barrier a call there); packing twice costs
// 8 P / N of the time (P threads, N features: 4% at N = 384 on 2 threads).
// The result is bit-identical for any thread count. Inside a parallel
// region the call runs on the calling thread.
//
// Measured (benchmarks/gemm/bench_linear.c, 1 thread of this shared 2-core
// AVX-512 Xeon, load 3-5 with another job on both cores; GFLOP/s of medians
// of interleaved samples; OpenBLAS = the bias copied into Y + one SkylakeX
// sgemm, what useg_linear ran before):
//   M x K -> N          kernel  OpenBLAS
//   197 x  384 -> 1152    138     129     ViT-S/16 at 224: qkv
//   197 x  384 ->  384    145     121                      proj
//   197 x  384 -> 1536    133     128                      fc1
//   197 x 1536 ->  384    136     118                      fc2
//   3601 x  768 -> 2304   133     134     ViT-B/8 at 480: qkv
//   3601 x  768 ->  768   135     130                      proj
//   3601 x  768 -> 3072   125     129                      fc1
//   3601 x 3072 ->  768   140     135                      fc2
// Full tiles run at ~146 (192 or 208 tokens), above OpenBLAS's 1024^3 (130
// in the same minutes); 197 tokens fill 13 vectors of 16, 208 lanes, so 5%
// of the FMAs there are spent on padding. On 2 loaded cores both paths wait
// on the scheduler alike. The token blocks: X^T blocks of 2^17, 2^18 and
// 2^19 floats ran 3601 x 768 -> 2304 at 128, 110 and 88 GFLOP/s (KC = 512;
// KC = 256 or 768 within noise of 512).
#include "linear_cpu.h"

#include <immintrin.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>

#include "status.h"

#define CEIL_DIV(a, b) (((a) + (b) - 1) / (b))
#define AVX512 __attribute__((target("avx512f,avx512dq,avx512vl")))

enum {
    LANES = 16,                  // f32 per zmm register
    TILE_V = 3,                  // token vectors per tile
    TILE_TOKENS = TILE_V * LANES,
    TILE_F = 8,                  // output features per tile
    TILE_ACC = TILE_V * TILE_F,  // accumulators
    KC = 512,                    // k per chunk: a tile's weights, 8 x KC f32, are 16 KB of L1
};
// A token block's X^T holds at most this many floats (512 KB, a quarter of
// an L2; larger blocks measured slower, see above).
#define XT_BLOCK_FLOATS ((int64_t)1 << 17)
// Threads start only for at least this many multiply-adds (~0.2 ms of a core).
#define PARALLEL_MIN_MADDS ((double)(1 << 24))
_Static_assert(TILE_ACC + TILE_V + 1 <= 32, "the tile's accumulators and operands fit the 32 zmm registers");

static struct {
    pthread_once_t once;
    bool available;
} cpu = {.once = PTHREAD_ONCE_INIT};

static void detect(void) {
    cpu.available = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                    __builtin_cpu_supports("avx512vl") && !getenv("USEG_NO_AVX512");
}

bool useg_linear_f32_cpu_available(void) {
    pthread_once(&cpu.once, detect);
    return cpu.available;
}

// Tokens per block: X^T of the block within XT_BLOCK_FLOATS, a whole number
// of tile strips (so tiles lie where they would without blocks), at most M.
static int64_t block_tokens(int64_t M, int64_t K) {
    int64_t mc = XT_BLOCK_FLOATS / (K > 0 ? K : 1) / TILE_TOKENS * TILE_TOKENS;
    if (mc < TILE_TOKENS) mc = TILE_TOKENS;
    return mc < M ? mc : M;
}

static int threads_for(int64_t M, int64_t N, int64_t K) {
    if (omp_in_parallel() || (double)M * (double)N * (double)K < PARALLEL_MIN_MADDS) return 1;
    const int64_t tiles = CEIL_DIV(N, TILE_F);
    const int max = omp_get_max_threads();
    return tiles < max ? (int)tiles : max;
}

// Floats of X^T for a block of mc tokens (whole groups of 16), and of one
// thread's whole workspace: its own X^T and parked accumulators (none when
// K fits one chunk).
static int64_t xt_floats(int64_t mc, int64_t K) { return CEIL_DIV(mc, LANES) * LANES * K; }
static int64_t thread_floats(int64_t mc, int64_t K) {
    return xt_floats(mc, K) + (K > KC ? CEIL_DIV(mc, TILE_TOKENS) * TILE_ACC * LANES : 0);
}

size_t useg_linear_f32_cpu_workspace_size(int64_t M, int64_t K) {
    const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    return (size_t)(threads * thread_floats(block_tokens(M, K), K)) * sizeof(float);
}

// --- Packing X^T -----------------------------------------------------------------------

// The first two rounds of both transposes below: rows r[0 .. n) (n a
// multiple of 4) become u[4q + c], whose lane L holds element 4L + c of rows
// 4q .. 4q + 3.
AVX512 static inline void transpose_quads(const __m512 *r, int n, __m512 *u) {
    for (int q = 0; q < n / 4; q++) {
        const __m512 *s = r + 4 * q;
        const __m512 lo01 = _mm512_unpacklo_ps(s[0], s[1]), hi01 = _mm512_unpackhi_ps(s[0], s[1]);
        const __m512 lo23 = _mm512_unpacklo_ps(s[2], s[3]), hi23 = _mm512_unpackhi_ps(s[2], s[3]);
        u[4 * q + 0] = _mm512_shuffle_ps(lo01, lo23, 0x44);
        u[4 * q + 1] = _mm512_shuffle_ps(lo01, lo23, 0xEE);
        u[4 * q + 2] = _mm512_shuffle_ps(hi01, hi23, 0x44);
        u[4 * q + 3] = _mm512_shuffle_ps(hi01, hi23, 0xEE);
    }
}

// r[i] (row i of a 16 x 16 block) becomes column i.
AVX512 static inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    transpose_quads(r, 16, u);
    // t[8h + c] lanes: columns c, c + 8 of rows 8h .. 8h + 7 (halves of 4 rows);
    // t[8h + 4 + c]: columns c + 4, c + 12.
    for (int h = 0; h < 2; h++)
        for (int c = 0; c < 4; c++) {
            t[8 * h + c] = _mm512_shuffle_f32x4(u[8 * h + c], u[8 * h + 4 + c], 0x88);
            t[8 * h + 4 + c] = _mm512_shuffle_f32x4(u[8 * h + c], u[8 * h + 4 + c], 0xDD);
        }
    for (int c = 0; c < 8; c++) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xDD);
    }
}

// Group g of a block: tokens x0 .. x0 + n - 1 (n <= 16, rows of X) as
// xt[k * 16 + i] for k < K, zeros for i >= n.
AVX512 static void pack_group(const float *x0, int64_t ldx, int n, int64_t K, float *xt) {
    for (int64_t k0 = 0; k0 < K; k0 += LANES) {
        const int kn = K - k0 < LANES ? (int)(K - k0) : LANES;
        const __mmask16 mask = (__mmask16)((1u << kn) - 1);
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = i < n ? _mm512_maskz_loadu_ps(mask, x0 + i * ldx + k0) : _mm512_setzero_ps();
        transpose16(r);
        for (int j = 0; j < kn; j++) _mm512_store_ps(xt + (k0 + j) * LANES, r[j]);
    }
}

// --- Tiles ---------------------------------------------------------------------------

// Rows of a finished accumulator vector set: a[f] holds feature f of 16
// tokens; stores features [0, nf) of tokens [0, rows) to y (row stride ldy).
AVX512 static inline void store_rows(const __m512 a[TILE_F], float *y, int64_t ldy, int rows, __mmask8 fmask) {
    __m512 u[8]; // u[c], lane L: features 0-3 of token 4L + c; u[4 + c]: features 4-7
    transpose_quads(a, 8, u);
    // Lanes (0, 2) of u[c] and u[4 + c] interleaved: tokens c and c + 8;
    // lanes (1, 3): tokens c + 4 and c + 12. Each half a row of 8 features.
    const __m512i even = _mm512_set_epi32(27, 26, 25, 24, 11, 10, 9, 8, 19, 18, 17, 16, 3, 2, 1, 0);
    const __m512i odd = _mm512_set_epi32(31, 30, 29, 28, 15, 14, 13, 12, 23, 22, 21, 20, 7, 6, 5, 4);
    for (int c = 0; c < 4; c++) {
        const __m512 lo = _mm512_permutex2var_ps(u[c], even, u[4 + c]);
        const __m512 hi = _mm512_permutex2var_ps(u[c], odd, u[4 + c]);
        const int tok[4] = {c, c + 8, c + 4, c + 12};
        const __m256 row[4] = {_mm512_castps512_ps256(lo), _mm512_extractf32x8_ps(lo, 1),
                               _mm512_castps512_ps256(hi), _mm512_extractf32x8_ps(hi, 1)};
        for (int i = 0; i < 4; i++)
            if (tok[i] < rows) _mm256_mask_storeu_ps(y + tok[i] * ldy, fmask, row[i]);
    }
}

// One tile over one chunk of k: nv token vectors (of the strip's packed
// groups, xt, group stride gs) by nf features (rows of w, stride ldw), kc
// steps. The chain starts from the bias (or 0) when `first`, else from the
// parked accumulators; it ends in y (rows tokens) when `last`, else parks.
// nv and nf are constants at every call site (tile_dispatch), so the loops
// unroll and acc lives in registers.
AVX512 static inline __attribute__((always_inline)) void
tile(const int nv, const int nf, int64_t kc, const float *xt, int64_t gs, const float *w, int64_t ldw,
     const float *bias, bool first, bool last, float *parked, float *y, int64_t ldy, int rows) {
    __m512 acc[TILE_V][TILE_F];
    for (int v = 0; v < nv; v++)
        for (int f = 0; f < nf; f++)
            acc[v][f] = !first ? _mm512_load_ps(parked + (v * TILE_F + f) * LANES)
                        : bias ? _mm512_set1_ps(bias[f])
                               : _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        __m512 x[TILE_V];
        for (int v = 0; v < nv; v++) x[v] = _mm512_load_ps(xt + v * gs + k * LANES);
        for (int f = 0; f < nf; f++) {
            const __m512 b = _mm512_set1_ps(w[f * ldw + k]);
            for (int v = 0; v < nv; v++) acc[v][f] = _mm512_fmadd_ps(x[v], b, acc[v][f]);
        }
    }
    if (!last) {
        for (int v = 0; v < nv; v++)
            for (int f = 0; f < nf; f++) _mm512_store_ps(parked + (v * TILE_F + f) * LANES, acc[v][f]);
        return;
    }
    const __mmask8 fmask = (__mmask8)((1u << nf) - 1);
    for (int v = 0; v < nv; v++) {
        __m512 a[TILE_F];
        for (int f = 0; f < TILE_F; f++) a[f] = f < nf ? acc[v][f] : _mm512_setzero_ps();
        store_rows(a, y + v * LANES * ldy, ldy, rows - v * LANES, fmask);
    }
}

// Arguments of tile() besides its shape.
typedef struct tile_args {
    int64_t kc, gs, ldw, ldy;
    const float *xt, *w, *bias;
    bool first, last;
    float *parked, *y;
    int rows;
} tile_args;

#define TILE_CASE(NV, NF)                                                                                          \
    case (NV) * 16 + (NF):                                                                                         \
        tile(NV, NF, a->kc, a->xt, a->gs, a->w, a->ldw, a->bias, a->first, a->last, a->parked, a->y, a->ldy,     \
             a->rows);                                                                                             \
        return;
#define TILE_CASES(NV)                                                                                             \
    TILE_CASE(NV, 1) TILE_CASE(NV, 2) TILE_CASE(NV, 3) TILE_CASE(NV, 4) TILE_CASE(NV, 5) TILE_CASE(NV, 6)          \
    TILE_CASE(NV, 7) TILE_CASE(NV, 8)
_Static_assert(TILE_V == 3 && TILE_F == 8, "tile_dispatch lists every tile shape");

AVX512 static void tile_dispatch(int nv, int nf, const tile_args *a) {
    switch (nv * 16 + nf) {
        TILE_CASES(1)
        TILE_CASES(2)
        TILE_CASES(3)
    }
    USEG_ASSERT(false, "linear tile %d x %d", nv, nf);
}
#undef TILE_CASES
#undef TILE_CASE

// Feature tile ft (features 8 ft ...) over a block of mb tokens starting at
// row m0, all k.
static void feature_tile(int64_t ft, int64_t m0, int64_t mb, int64_t N, int64_t K, const float *xt,
                         const float *W, int64_t ldw, const float *bias, float *Y, int64_t ldy, float *parked) {
    const int64_t f0 = ft * TILE_F;
    const int nf = N - f0 < TILE_F ? (int)(N - f0) : TILE_F;
    tile_args a = {.gs = K * LANES, .ldw = ldw, .ldy = ldy, .bias = bias ? bias + f0 : NULL};
    int64_t k0 = 0;
    do { // once when K = 0: Y = bias
        a.kc = K - k0 < KC ? K - k0 : KC;
        a.first = k0 == 0;
        a.last = k0 + a.kc == K;
        a.w = W + f0 * ldw + k0;
        for (int64_t t = 0; t < mb; t += TILE_TOKENS) {
            const int64_t rows = mb - t < TILE_TOKENS ? mb - t : TILE_TOKENS;
            a.xt = xt + t * K + k0 * LANES;
            a.parked = parked + t / TILE_TOKENS * TILE_ACC * LANES;
            a.y = Y + (m0 + t) * ldy + f0;
            a.rows = (int)rows;
            tile_dispatch((int)CEIL_DIV(rows, LANES), nf, &a);
        }
        k0 += a.kc;
    } while (k0 < K);
}

void useg_linear_f32_cpu(int64_t M, int64_t N, int64_t K, const float *X, int64_t ldx, const float *W, int64_t ldw,
                         const float *bias, float *Y, int64_t ldy, void *workspace) {
    USEG_ASSERT(useg_linear_f32_cpu_available(), "useg_linear_f32_cpu called without AVX-512");
    if (M == 0 || N == 0) return;
    const int64_t mc = block_tokens(M, K), tiles = CEIL_DIV(N, TILE_F);
    const int threads = threads_for(M, N, K);
    _Pragma("omp parallel num_threads(threads)")
    {
        const int t = omp_get_thread_num();
        const int64_t ft0 = tiles * t / threads, ft1 = tiles * (t + 1) / threads;
        float *xt = (float *)workspace + t * thread_floats(mc, K), *parked = xt + xt_floats(mc, K);
        for (int64_t m0 = 0; m0 < M; m0 += mc) {
            const int64_t mb = M - m0 < mc ? M - m0 : mc;
            for (int64_t g = 0; g < CEIL_DIV(mb, LANES); g++) {
                const int64_t n = mb - g * LANES < LANES ? mb - g * LANES : LANES;
                pack_group(X + (m0 + g * LANES) * ldx, ldx, (int)n, K, xt + g * LANES * K);
            }
            for (int64_t ft = ft0; ft < ft1; ft++) feature_tile(ft, m0, mb, N, K, xt, W, ldw, bias, Y, ldy, parked);
        }
    }
}
