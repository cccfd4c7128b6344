// The pieces of the normalized-cut Lanczos solver (spectral.h) that its CPU
// and CUDA paths share, written once (host_device.h) so both take the same
// decisions in the same arithmetic: the fixed-order dot product of small
// vectors, the top eigenpair of the Lanczos tridiagonal matrix T, and the
// hash that groups twin rows of the link matrix.
//
// Top eigenpair of T (order m, diagonal a, off-diagonal b): the largest
// eigenvalue by bisection on Sturm counts inside the Gershgorin interval,
// down to two ulps, then its eigenvector by inverse iteration on the LU
// factors of T - theta I with partial pivoting (LAPACK dgttrf's layout). The
// CPU runs it after every Lanczos step; the GPU runs it on one thread of the
// graph's block (m is at most a few hundred).
#pragma once

#include <float.h>
#include <math.h>
#include <stdint.h>

#include "host_device.h"

// Inverse-iteration sweeps for the eigenvector of T; the eigenvalue is exact
// to rounding, so two sweeps converge and the third polishes.
enum { USEG_TRIDIAG_SWEEPS = 3 };

// a . b over n entries, in four interleaved partial sums combined pairwise.
USEG_HD double useg_spectral_dot(const double *a, const double *b, int64_t n) {
    double s[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int l = 0; l < 4; l++) s[l] += a[i + l] * b[i + l];
    for (; i < n; i++) s[0] += a[i] * b[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

USEG_HD void useg_spectral_scale(double alpha, double *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] *= alpha;
}

// Eigenvalues of T (diagonal a, off-diagonal b, order m) below x (Sturm count).
USEG_HD int64_t useg_sturm_below(const double *a, const double *b, int64_t m, double x, double pivmin) {
    int64_t count = 0;
    double q = a[0] - x;
    for (int64_t i = 0;; i++) {
        if (fabs(q) < pivmin) q = -pivmin;
        count += q < 0;
        if (i + 1 == m) return count;
        q = a[i + 1] - x - b[i] * b[i] / q;
    }
}

// Workspace of useg_tridiag_top for order up to m: 4 m doubles and m bytes.
typedef struct useg_tridiag_work {
    double *d, *du, *du2, *dl; // LU factors of T - theta I (LAPACK dgttrf layout)
    uint8_t *swapped;
} useg_tridiag_work;

// s = the unit eigenvector of the largest eigenvalue of T (order m).
USEG_HD void useg_tridiag_top(const double *a, const double *b, int64_t m, const useg_tridiag_work *wk, double *s) {
    double lo = a[0], hi = a[0], bmax = 0;
    for (int64_t i = 0; i < m; i++) { // Gershgorin discs
        const double r = (i > 0 ? fabs(b[i - 1]) : 0) + (i + 1 < m ? fabs(b[i]) : 0);
        lo = fmin(lo, a[i] - r);
        hi = fmax(hi, a[i] + r);
        if (i + 1 < m) bmax = fmax(bmax, fabs(b[i]));
    }
    const double pivmin = DBL_MIN * fmax(1.0, bmax * bmax);
    while (hi - lo > 2 * DBL_EPSILON * fmax(fabs(lo), fabs(hi)) + pivmin) {
        const double mid = 0.5 * (lo + hi);
        if (mid <= lo || mid >= hi) break;
        if (useg_sturm_below(a, b, m, mid, pivmin) == m) hi = mid;
        else lo = mid;
    }
    const double theta = 0.5 * (lo + hi);

    // Inverse iteration: factor T - theta I with partial pivoting (dgttrf),
    // replacing a zero pivot by a tiny one, as the matrix is singular to rounding.
    // |M| <= 1 sets the scale: a zero T (constant W) must not divide by DBL_MIN.
    const double tiny = DBL_EPSILON * fmax(fmax(fabs(lo), fabs(hi)), fmax(bmax, 1.0));
    double *d = wk->d, *du = wk->du, *du2 = wk->du2, *dl = wk->dl;
    for (int64_t i = 0; i < m; i++) d[i] = a[i] - theta;
    for (int64_t i = 0; i + 1 < m; i++) du[i] = dl[i] = b[i];
    for (int64_t i = 0; i + 1 < m; i++) {
        du2[i] = 0;
        if (fabs(d[i]) >= fabs(dl[i])) {
            if (d[i] == 0) d[i] = tiny;
            const double l = dl[i] / d[i];
            dl[i] = l;
            d[i + 1] -= l * du[i];
            wk->swapped[i] = 0;
        } else {
            const double l = d[i] / dl[i];
            d[i] = dl[i];
            dl[i] = l;
            const double t = du[i];
            du[i] = d[i + 1];
            d[i + 1] = t - l * d[i + 1];
            if (i + 2 < m) {
                du2[i] = du[i + 1];
                du[i + 1] = -l * du[i + 1];
            }
            wk->swapped[i] = 1;
        }
    }
    if (fabs(d[m - 1]) < tiny) d[m - 1] = tiny;
    // A start with no special structure, so it is not orthogonal to the eigenvector.
    for (int64_t i = 0; i < m; i++) s[i] = 1.0 + 0.5 * sin((double)i + 0.5);
    for (int sweep = 0; sweep < USEG_TRIDIAG_SWEEPS; sweep++) {
        for (int64_t i = 0; i + 1 < m; i++) {
            if (wk->swapped[i]) {
                const double t = s[i];
                s[i] = s[i + 1];
                s[i + 1] = t - dl[i] * s[i];
            } else {
                s[i + 1] -= dl[i] * s[i];
            }
        }
        for (int64_t i = m - 1; i >= 0; i--) {
            double v = s[i];
            if (i + 1 < m) v -= du[i] * s[i + 1];
            if (i + 2 < m) v -= du2[i] * s[i + 2];
            s[i] = v / d[i];
        }
        useg_spectral_scale(1.0 / sqrt(useg_spectral_dot(s, s, m)), s, m);
    }
}

// Hash of one row of the link matrix (words 64-bit words): equal rows hash
// equally, so twin detection compares rows only within a hash.
USEG_HD uint64_t useg_spectral_row_hash(const uint64_t *row, int64_t words) {
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (int64_t k = 0; k < words; k++) {
        h = (h ^ row[k]) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
    }
    return h;
}
