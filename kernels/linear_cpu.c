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
// per call into X^T (16 x 16 in-register transposes), each strip of 48
// tokens one stream of 48 floats per k. A finished tile is transposed in
// registers (8 x 16 -> 16 rows of 8 features) and stored with masks for a
// feature edge: no padding of W or Y. A feature tail (N % 8) and a short
// last strip (16 or 32 tokens) run the same code with fewer features or
// vectors (one specialisation per shape, 24 in all). The last M % 16 tokens
// would fill a vector mostly with padding: they are dot products along k
// instead (tail_chunk).
//
// Blocking. Tokens go by blocks of MC whose X^T (MC x K) stays in L2;
// features by tiles of 8, and within a tile k goes by chunks of KC, so the
// tile's weight chunk (8 x KC, 16 KB) stays in L1 while every 48-token
// strip of the block, and the token tail, passes over it. Accumulators go
// to a small per-thread buffer between chunks and come back for the next
// one, so the order of the sums depends on M and K alone: a tile's output
// is one chain, bias, then x_0 w_0, x_1 w_1, ... in k order; a tail output
// is 16 such chains (k mod 16) summed, then added to the bias. While a
// tile's first strip runs, the next tile's weights are prefetched into L1
// (8 lines every 16 steps): in a model each layer brings its own weights
// from memory, and without the prefetch the kernel ran ~10% slower at 197
// tokens once W was not in cache (bench_linear cycles through copies of W).
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
// Measured (benchmarks/gemm/bench_linear.c on this shared 2-core AVX-512
// Xeon, load ~3: another job held about one core, so 2 threads barely beat
// one for either path; each call takes the next of 64 MB of copies of W, as
// a model's layers do; GFLOP/s of medians of interleaved samples; OpenBLAS =
// the bias copied into Y + one SkylakeX sgemm, what useg_linear ran before):
//   M x K -> N                1 thread           2 threads
//                          kernel OpenBLAS     kernel OpenBLAS
//   197 x  384 -> 1152       142    129          141    127   ViT-S/16 224: qkv
//   197 x  384 ->  384       156    126          149    123                 proj
//   197 x  384 -> 1536       149    139          147    132                 fc1
//   197 x 1536 ->  384       153    135          145    127                 fc2
//   3601 x  768 -> 2304      146    162          144    159   ViT-B/8 480: qkv
//   3601 x  768 ->  768      152    157          143    148                 proj
//   3601 x  768 -> 3072      144    160          143    163                 fc1
//   3601 x 3072 ->  768      155    160          148    158                 fc2
// Hence USEG_LINEAR_CPU_MAX_ROWS: with thousands of tokens OpenBLAS's packing
// is amortised and its blocking rereads W less often. The ViT-S/16 forward
// at 224 (bench_vit, batch 1) took 0.91x the CPU time of the OpenBLAS path on
// one thread and 0.90x on two (medians of 6-10 alternating runs). Token
// blocks: X^T blocks of 2^17, 2^18 and 2^19 floats ran 3601 x 768 -> 2304
// at 128, 110 and 88 GFLOP/s (KC = 512; KC = 256 or 768 within noise).
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
    TAIL_PARKED = (LANES - 1) * TILE_F * LANES, // partial sums of the token tail (see tail_chunk)
};
// A token block's X^T holds at most this many floats (512 KB, a quarter of
// an L2; larger blocks measured slower, see above).
#define XT_BLOCK_FLOATS ((int64_t)1 << 17)
// Threads start only for at least this many multiply-adds (~0.2 ms of a
// core; not tuned: every ViT layer at 197 tokens is above it).
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

// Floats of X^T for a block of mc tokens (whole groups of 16), of one
// thread's parked accumulators between chunks of k (none when K fits one),
// and of one thread's whole workspace: those and the tail's parked sums.
static int64_t xt_floats(int64_t mc, int64_t K) { return CEIL_DIV(mc, LANES) * LANES * K; }
static int64_t parked_floats(int64_t mc, int64_t K) {
    return K > KC ? CEIL_DIV(mc, TILE_TOKENS) * TILE_ACC * LANES : 0;
}
static int64_t thread_floats(int64_t mc, int64_t K) {
    return xt_floats(mc, K) + parked_floats(mc, K) + (K > KC ? TAIL_PARKED : 0);
}

size_t useg_linear_f32_cpu_workspace_size(int64_t M, int64_t K) {
    const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    return (size_t)(threads * thread_floats(block_tokens(M / LANES * LANES, K), K)) * sizeof(float);
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

// 16 tokens (rows of X from x0) as xt[k * ks + i], k < K: vector v of a
// strip of nv is packed at xt = strip + 16 v with ks = 16 nv, so the strip's
// X^T is one stream, 16 nv tokens for each k.
AVX512 static void pack_group(const float *x0, int64_t ldx, int64_t K, float *xt, int64_t ks) {
    for (int64_t k0 = 0; k0 < K; k0 += LANES) {
        const int kn = K - k0 < LANES ? (int)(K - k0) : LANES;
        const __mmask16 mask = (__mmask16)((1u << kn) - 1);
        __m512 r[16];
        for (int i = 0; i < 16; i++) r[i] = _mm512_maskz_loadu_ps(mask, x0 + i * ldx + k0);
        transpose16(r);
        for (int j = 0; j < kn; j++) _mm512_store_ps(xt + (k0 + j) * ks, r[j]);
    }
}

// --- Tiles ---------------------------------------------------------------------------

// Rows of a finished accumulator vector set: a[f] holds feature f of 16
// tokens; stores features [0, nf) of the 16 tokens to y (row stride ldy).
AVX512 static inline void store_rows(const __m512 a[TILE_F], float *y, int64_t ldy, __mmask8 fmask) {
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
        for (int i = 0; i < 4; i++) _mm256_mask_storeu_ps(y + tok[i] * ldy, fmask, row[i]);
    }
}

// One tile over one chunk of k: nv token vectors (the strip's X^T from xt,
// 16 nv floats a step) by nf features (rows of w, stride ldw), kc steps.
// The chain starts from the bias (or 0) when `first`, else from the parked
// accumulators; it ends in y (16 nv rows) when `last`, else parks. pf: the
// next tile's 8 weight rows at this chunk, to prefetch, or NULL. nv and nf
// are constants at every call site (tile_dispatch), so the loops unroll and
// acc lives in registers.
AVX512 static inline __attribute__((always_inline)) void
tile(const int nv, const int nf, int64_t kc, const float *xt, const float *w, int64_t ldw,
     const float *bias, bool first, bool last, float *parked, float *y, int64_t ldy, const float *pf) {
    __m512 acc[TILE_V][TILE_F];
    for (int v = 0; v < nv; v++)
        for (int f = 0; f < nf; f++)
            acc[v][f] = !first ? _mm512_load_ps(parked + (v * TILE_F + f) * LANES)
                        : bias ? _mm512_set1_ps(bias[f])
                               : _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        if (pf && (k & 15) == 0)
            for (int f = 0; f < TILE_F; f++) _mm_prefetch((const char *)(pf + f * ldw + k), _MM_HINT_T0);
        __m512 x[TILE_V];
        for (int v = 0; v < nv; v++) x[v] = _mm512_load_ps(xt + (k * nv + v) * LANES);
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
        store_rows(a, y + v * LANES * ldy, ldy, fmask);
    }
}

// Arguments of tile() besides its shape.
typedef struct tile_args {
    int64_t kc, ldw, ldy;
    const float *xt, *w, *bias;
    bool first, last;
    float *parked, *y;
    const float *pf;
} tile_args;

#define TILE_CASE(NV, NF)                                                                                          \
    case (NV) * 16 + (NF):                                                                                         \
        tile(NV, NF, a->kc, a->xt, a->w, a->ldw, a->bias, a->first, a->last, a->parked, a->y, a->ldy, a->pf);  \
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

// --- The last M % 16 tokens ---------------------------------------------------------

// In X^T they would fill a vector of 16 mostly with padding (197 tokens are
// 12 vectors and 5), so they are dot products along k instead, read from
// X's rows, while the feature tile's weight chunk is in L1 (a pass of its
// own over W costs a GEMV's memory traffic: it took 7% of a ViT-S/16
// forward). Each output keeps 16 lanes of partial sums (lane j sums the k =
// j mod 16 in k order), parked between chunks like the tiles'; the last
// chunk adds the bias to their sum (_mm512_reduce_add_ps's fixed tree).

// nt tokens (<= 4, rows of x) by nf features (<= 4, rows of w) over kc
// steps of k; parked partial sums of token i, feature j at parked[(i 8 + j)
// 16]. nt and nf are constants at every call site (tail_chunk), so acc
// lives in registers.
AVX512 static inline __attribute__((always_inline)) void
dot_tile(const int nt, const int nf, int64_t kc, const float *x, int64_t ldx, const float *w, int64_t ldw,
         const float *bias, bool first, bool last, float *parked, float *y, int64_t ldy) {
    __m512 acc[4][4];
    for (int i = 0; i < nt; i++)
        for (int j = 0; j < nf; j++)
            acc[i][j] = first ? _mm512_setzero_ps() : _mm512_load_ps(parked + (i * TILE_F + j) * LANES);
    for (int64_t k0 = 0; k0 < kc; k0 += LANES) {
        const __mmask16 mask = kc - k0 >= LANES ? 0xFFFF : (__mmask16)((1u << (kc - k0)) - 1);
        __m512 xv[4];
        for (int i = 0; i < nt; i++) xv[i] = _mm512_maskz_loadu_ps(mask, x + i * ldx + k0);
        for (int j = 0; j < nf; j++) {
            const __m512 wv = _mm512_maskz_loadu_ps(mask, w + j * ldw + k0);
            for (int i = 0; i < nt; i++) acc[i][j] = _mm512_fmadd_ps(xv[i], wv, acc[i][j]);
        }
    }
    for (int i = 0; i < nt; i++)
        for (int j = 0; j < nf; j++) {
            if (last) y[i * ldy + j] = (bias ? bias[j] : 0.0f) + _mm512_reduce_add_ps(acc[i][j]);
            else _mm512_store_ps(parked + (i * TILE_F + j) * LANES, acc[i][j]);
        }
}

// The r tail tokens (rows of x) by the nf features of a tile over one chunk.
AVX512 static void tail_chunk(int64_t r, int nf, int64_t kc, const float *x, int64_t ldx, const tile_args *a,
                              float *parked) {
    for (int j = 0; j < nf; j += 4) {
        const int nj = nf - j < 4 ? nf - j : 4;
        const float *w = a->w + j * a->ldw, *b = a->bias ? a->bias + j : NULL;
        for (int64_t i = 0; i < r; i += 4) {
            const float *xi = x + i * ldx;
            float *y = a->y + i * a->ldy + j, *p = parked + (i * TILE_F + j) * LANES;
            const int nt = r - i < 4 ? (int)(r - i) : 4;
#define DOT(NT, NF)                                                                                                \
    case (NT) * 4 + (NF) - 5: dot_tile(NT, NF, kc, xi, ldx, w, a->ldw, b, a->first, a->last, p, y, a->ldy); break;
#define DOTS(NT) DOT(NT, 1) DOT(NT, 2) DOT(NT, 3) DOT(NT, 4)
            switch (nt * 4 + nj - 5) {
                DOTS(1)
                DOTS(2)
                DOTS(3)
                DOTS(4)
            }
#undef DOTS
#undef DOT
        }
    }
}

// --- Driver ----------------------------------------------------------------------------

// One call's operands and its split of the tokens: vectors of 16 in blocks,
// then the tail.
typedef struct linear_job {
    int64_t N, K, Mv, tail, ldx, ldw, ldy;
    const float *X, *W, *bias;
    float *Y;
} linear_job;

// Feature tile ft (features 8 ft ...) over a block of mb tokens (a multiple
// of 16) starting at row m0, and over the tail tokens when `with_tail`, all k.
static void feature_tile(const linear_job *j, int64_t ft, int64_t m0, int64_t mb, bool with_tail, bool prefetch_next,
                         const float *xt, float *parked, float *tail_parked) {
    const int64_t f0 = ft * TILE_F, K = j->K;
    const int nf = j->N - f0 < TILE_F ? (int)(j->N - f0) : TILE_F;
    tile_args a = {.ldw = j->ldw, .ldy = j->ldy, .bias = j->bias ? j->bias + f0 : NULL};
    int64_t k0 = 0;
    do { // once when K = 0: Y = bias
        a.kc = K - k0 < KC ? K - k0 : KC;
        a.first = k0 == 0;
        a.last = k0 + a.kc == K;
        a.w = j->W + f0 * j->ldw + k0;
        for (int64_t t = 0; t < mb; t += TILE_TOKENS) {
            const int64_t rows = mb - t < TILE_TOKENS ? mb - t : TILE_TOKENS;
            a.xt = xt + t * K + k0 * rows;
            a.parked = parked + t / TILE_TOKENS * TILE_ACC * LANES;
            a.y = j->Y + (m0 + t) * j->ldy + f0;
            a.pf = t == 0 && prefetch_next && f0 + 2 * TILE_F <= j->N ? a.w + TILE_F * j->ldw : NULL;
            tile_dispatch((int)(rows / LANES), nf, &a);
        }
        if (with_tail && j->tail) {
            a.y = j->Y + j->Mv * j->ldy + f0;
            tail_chunk(j->tail, nf, a.kc, j->X + j->Mv * j->ldx + k0, j->ldx, &a, tail_parked);
        }
        k0 += a.kc;
    } while (k0 < K);
}

void useg_linear_f32_cpu(int64_t M, int64_t N, int64_t K, const float *X, int64_t ldx, const float *W, int64_t ldw,
                         const float *bias, float *Y, int64_t ldy, void *workspace) {
    USEG_ASSERT(useg_linear_f32_cpu_available(), "useg_linear_f32_cpu called without AVX-512");
    if (M == 0 || N == 0) return;
    const int64_t Mv = M / LANES * LANES, mc = block_tokens(Mv, K), tiles = CEIL_DIV(N, TILE_F);
    const linear_job job = {N, K, Mv, M - Mv, ldx, ldw, ldy, X, W, bias, Y};
    const int threads = threads_for(M, N, K);
    _Pragma("omp parallel num_threads(threads)")
    {
        const int t = omp_get_thread_num();
        const int64_t ft0 = tiles * t / threads, ft1 = tiles * (t + 1) / threads;
        float *xt = (float *)workspace + t * thread_floats(mc, K), *parked = xt + xt_floats(mc, K);
        float *tail_parked = parked + parked_floats(mc, K);
        int64_t m0 = 0;
        do { // once when there are only tail tokens
            const int64_t mb = Mv - m0 < mc ? Mv - m0 : mc;
            for (int64_t g = 0; g < mb / LANES; g++) {
                const int64_t t0 = g / TILE_V * TILE_TOKENS, strip = mb - t0 < TILE_TOKENS ? mb - t0 : TILE_TOKENS;
                pack_group(X + (m0 + g * LANES) * ldx, ldx, K, xt + t0 * K + g % TILE_V * LANES, strip);
            }
            for (int64_t ft = ft0; ft < ft1; ft++)
                feature_tile(&job, ft, m0, mb, m0 + mb == Mv, ft + 1 < ft1, xt, parked, tail_parked);
            m0 += mb;
        } while (m0 < Mv);
    }
}
