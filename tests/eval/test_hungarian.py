"""useg_linear_assignment against scipy.optimize.linear_sum_assignment.

Random square and rectangular (both orientations) matrices of real costs,
small-integer costs with many ties, constant matrices, 1 x n and n x 1,
minimising and maximising. The optimal total must equal SciPy's (1e-9
relative); the assignment must be a valid matching whose costs add up to
the reported total. A non-finite cost must give an error, not a result.

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
sys.exit(1 if fails else 0)
