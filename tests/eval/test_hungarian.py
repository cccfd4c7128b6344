"""useg_linear_assignment against scipy.optimize.linear_sum_assignment, and
useg_sparse_assignment against scipy.sparse.csgraph.min_weight_full_bipartite_matching.

Dense: random square and rectangular (both orientations) matrices of real
costs, small-integer costs with many ties, constant matrices, 1 x n and
n x 1, minimising and maximising. Sparse: random graphs (rows <= cols) of
small-integer costs, zeros and ties included, from 1 x 1 to 3000 x 3500
with 1 to 30 arcs a row, plus the BSDS shape (rows with a private costly
fallback column). The optimal total must equal SciPy's (1e-9 relative for
dense, exactly for sparse); the assignment must be a valid matching along
existing arcs whose costs add up to the reported total. A non-finite cost,
a row without arcs and two rows sharing one column must give errors.

usage: test_hungarian.py ASSIGN_TOOL
"""
import subprocess
import sys

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
import refenv  # noqa: E402

try:
    import numpy as np
    from scipy.optimize import linear_sum_assignment
except ImportError:
    refenv.skip("numpy/scipy not available (apt-get install python3-numpy python3-scipy)")

rng = np.random.default_rng(7)
problems = []
for n, m in [(1, 1), (1, 7), (7, 1), (2, 2), (3, 5), (5, 3), (10, 10), (17, 29), (29, 17), (40, 40), (27, 300),
             (64, 27), (100, 100)]:
    problems.append(rng.random((n, m)))
    problems.append(rng.integers(0, 4, (n, m)).astype(float))      # ties
    problems.append(rng.normal(0, 1e3, (n, m)).round(2))
problems.append(np.full((6, 9), 3.0))
problems.append(np.full((9, 6), -2.0))
lines, cases = [], []
for c in problems:
    for maximize in (0, 1):
        lines.append("%d %d %d\n%s\n" % (c.shape[0], c.shape[1], maximize, " ".join(repr(float(v)) for v in c.flat)))
        cases.append((c, maximize))
lines.append("2 2 0\n1 inf 2 3\n")
out = subprocess.run([sys.argv[1]], input="".join(lines), capture_output=True, text=True, check=True).stdout
rows = out.strip().split("\n")
assert len(rows) == len(cases) + 1, "expected %d answers, got %d" % (len(cases) + 1, len(rows))
fails = 0
worst = 0.0
for (c, maximize), row in zip(cases, rows):
    f = row.split()
    total, cols = float(f[0]), [int(x) for x in f[1:]]
    r, k = linear_sum_assignment(c, maximize=bool(maximize))
    ref = c[r, k].sum()
    used = [x for x in cols if x >= 0]
    valid = len(used) == len(set(used)) == min(c.shape) and len(cols) == c.shape[0]
    mine = sum(c[i, j] for i, j in enumerate(cols) if j >= 0)
    err = abs(total - ref) / max(1.0, abs(ref))
    worst = max(worst, err)
    if not valid or err > 1e-9 or abs(mine - total) > 1e-9 * max(1.0, abs(ref)):
        fails += 1
        print("FAIL %s max=%d: useg %r scipy %r valid=%s" % (c.shape, maximize, total, ref, valid))
if not rows[-1].startswith("error"):
    fails += 1
    print("FAIL: a non-finite cost was accepted: " + rows[-1])
print("%d assignments compared with scipy, worst relative difference %.3g, %d failures" % (len(cases), worst, fails))

# ---- sparse -----------------------------------------------------------------
from scipy.sparse import csr_matrix  # noqa: E402
from scipy.sparse.csgraph import min_weight_full_bipartite_matching  # noqa: E402


def random_sparse(n, m, deg, hi):
    """Arcs (r, c, w) with a hidden complete assignment so one exists."""
    arcs = {}
    perm = rng.permutation(m)[:n]
    for r in range(n):
        arcs[(r, int(perm[r]))] = int(rng.integers(0, hi))
        for c in rng.choice(m, size=min(deg, m), replace=False):
            arcs[(r, int(c))] = int(rng.integers(0, hi))
    return n, m, [(r, c, w) for (r, c), w in arcs.items()]


def fallback_shape(n, k, deg, big):
    """BSDS-like: n rows, k shared columns at small costs, one private column per row at `big`."""
    arcs = [(r, k + r, big) for r in range(n)]
    for r in range(n):
        for c in rng.choice(k, size=min(deg, k), replace=False):
            arcs.append((r, int(c), int(rng.integers(0, 450))))
    return n, k + n, arcs


sparse = [(1, 1, [(0, 0, 0)]), (1, 4, [(0, 3, 2), (0, 1, 2)]), (3, 3, [(0, 0, 0), (1, 1, 0), (2, 2, 0)])]
for n, m, deg, hi in [(2, 2, 1, 3), (5, 5, 2, 3), (7, 11, 3, 5), (40, 40, 4, 4), (50, 80, 6, 1000),
                      (200, 200, 8, 3), (500, 700, 10, 100), (3000, 3500, 6, 500), (1000, 1000, 30, 2)]:
    sparse.append(random_sparse(n, m, deg, hi))
sparse.append(fallback_shape(600, 500, 8, 43371))
sparse.append(fallback_shape(2000, 1200, 12, 43371))
bad = ["2 3 1\n0 0 1\n",                 # row 1 has no arc
       "2 2 2\n0 0 1\n1 0 1\n",          # both rows need column 0
       "1 2 1\n0 5 1\n"]                  # arc to a missing column
text = "".join("%d %d %d\n%s\n" % (n, m, len(a), "\n".join("%d %d %d" % x for x in a)) for n, m, a in sparse)
out = subprocess.run([sys.argv[1], "--sparse"], input=text + "".join(bad), capture_output=True, text=True,
                     check=True).stdout.strip().split("\n")
assert len(out) == len(sparse) + len(bad), "expected %d sparse answers, got %d" % (len(sparse) + len(bad), len(out))
for (n, m, arcs), row in zip(sparse, out):
    f = row.split()
    if f[0] == "error":
        fails += 1
        print("FAIL sparse %dx%d: %s" % (n, m, row))
        continue
    total, cols = int(float(f[0])), [int(x) for x in f[1:]]
    r, c, w = (np.array(x) for x in zip(*arcs))
    # SciPy drops explicit zeros: shift every cost by 1, which adds n to any complete assignment.
    g = csr_matrix((w + 1.0, (r, c)), shape=(n, m))
    rr, cc = min_weight_full_bipartite_matching(g)
    ref = int(round(sum(g[i, j] for i, j in zip(rr, cc)))) - n
    cost = {(a, b): x for a, b, x in arcs}
    valid = len(cols) == n and len(set(cols)) == n and all((i, j) in cost for i, j in enumerate(cols))
    mine = sum(cost.get((i, j), 0) for i, j in enumerate(cols))
    if not valid or total != ref or mine != total:
        fails += 1
        print("FAIL sparse %dx%d: useg %d (arcs sum %d, valid %s) scipy %d" % (n, m, total, mine, valid, ref))
for b, row in zip(bad, out[len(sparse):]):
    if not row.startswith("error"):
        fails += 1
        print("FAIL: infeasible sparse problem %r answered %s" % (b, row))
print("%d sparse assignments compared with scipy (largest %d arcs), %d failures" % (
    len(sparse), max(len(a) for _, _, a in sparse), fails))
sys.exit(1 if fails else 0)
