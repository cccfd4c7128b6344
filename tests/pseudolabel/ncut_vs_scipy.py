#!/usr/bin/env python3
"""The normalized cut and the MaskCut chain against SciPy, on the same features.

usage: ncut_vs_scipy.py TEST_NCUT SHARED_DATA_DIR

Cases: synthetic feature maps with known objects (seeded), and photo
features (maskcut_reference.photo_features, 30 x 30 patches of 768 values)
of the first PHOTOS BSDS500 validation images under SHARED_DATA_DIR. Each
case's features go to NAME.feats.npy; TEST_NCUT CASE_DIR builds the graph,
solves it (and checks that against LAPACK's dsygvd), runs the chain with both
sign conventions and with early stop, and writes the results beside them.
Then, per case:
  - graph: the link matrix equals S > tau from maskcut_reference.affinity,
    except pairs within 1e-6 of tau (f32 GEMMs may round those either way);
  - eigenvector: against scipy.linalg.eigh(D - W, D, subset_by_index=[1, 2])
    on useg's own W: |cos| >= 0.999 and the same side of the mean for >= 99%
    of the nodes; the eigenvalue to 1e-8;
  - chain: against maskcut_reference.maskcut fed the same features, with the
    same sign convention: the same number of masks and per-mask IoU >= 0.99
    (two empty masks count as IoU 1);
  - early stop: the masks are the reference's first masks, and the
    reference's next cut meets the documented stop rule.
It also reports which convention LAPACK's own sign matched, cut by cut.
Exits 1 on a failure, 77 (after the synthetic cases) when the photos are absent.
"""
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import scipy.linalg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import maskcut_reference as ref  # noqa: E402

TAU, EPS, N_MASKS, PHOTOS = 0.15, 1e-5, 3, 6
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


def synthetic(h, w, c, objects, noise, seed, zero_rows=None):
    """Features (h, w, c): a random centre per region (0 = background), noise added."""
    rng = np.random.default_rng(seed)
    label = np.zeros((h, w), int)
    for k, (r0, r1, c0, c1) in enumerate(objects, 1):
        label[r0:r1, c0:c1] = k
    centres = rng.standard_normal((len(objects) + 1, c))
    f = centres[label] + noise * rng.standard_normal((h, w, c))
    if zero_rows is not None:
        f[zero_rows] = 0  # patches masked before the chain starts
    return f.astype(np.float32)


def iou(a, b):
    union = np.sum(a | b)
    return 1.0 if union == 0 else np.sum(a & b) / union


def check_graph_and_vector(name, feats, adj, y):
    n = adj.shape[0]
    rows = feats.reshape(n, -1)
    norm = np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), np.float32(1e-12))
    unit = (rows / norm).astype(np.float32)
    s = unit @ unit.T
    expect = ref.affinity(rows, TAU, EPS) == 1.0
    near = np.abs(s - np.float32(TAU)) < 1e-6
    wrong = np.sum(((adj == 1) != expect) & ~near)
    check(wrong == 0, f"{name}: {wrong} links differ from S > tau")
    w = np.where(adj == 1, 1.0, EPS)
    d = np.diag(w.sum(axis=1))
    vals, vecs = scipy.linalg.eigh(d - w, d, subset_by_index=[1, 2])
    r = vecs[:, 0]
    cos = abs(y @ r) / np.linalg.norm(y) / np.linalg.norm(r)
    r = r if y @ r > 0 else -r
    same = np.mean((y > y.mean()) == (r > r.mean()))
    lam = float(y @ (d - w) @ y)  # y' (D - W) y = lambda when y' D y = 1
    check(cos >= 0.999, f"{name}: |cos| with scipy {cos:.9f}")
    check(same >= 0.99, f"{name}: same side of the mean for {same:.4f} of the nodes")
    check(abs(lam - vals[0]) <= 1e-8, f"{name}: lambda {lam:.12g}, scipy {vals[0]:.12g}")
    print(f"  eigenvector vs scipy: |cos| {cos:.12f}, same side {same:.4f}, lambda {vals[0]:.8f} "
          f"(next {vals[1]:.8f}), d lambda {abs(lam - vals[0]):.1e}, near-tau pairs {np.sum(near) // 2}")


def check_chain(name, feats, tmp, sign):
    ours = np.load(os.path.join(tmp, f"{name}.masks_{sign}.npy")).astype(bool)
    info = np.load(os.path.join(tmp, f"{name}.info_{sign}.npy"))
    theirs, records = ref.maskcut(feats, TAU, N_MASKS, EPS, sign=sign)
    check(len(ours) == len(theirs), f"{name} {sign}: {len(ours)} masks, reference {len(theirs)}")
    ious = [iou(a, b) for a, b in zip(ours, theirs)]
    for t, v in enumerate(ious):
        check(v >= 0.99, f"{name} {sign}: mask {t} IoU {v:.4f}")
        rec = records[t]
        check(bool(info[t, 3]) == rec["rejected"], f"{name} {sign}: mask {t} rejected {bool(info[t, 3])}, "
              f"reference {rec['rejected']}")
        check(bool(info[t, 5]), f"{name} {sign}: cut {t} did not converge")
    print(f"  chain {sign:<13}: IoU " + " ".join(f"{v:.4f}" for v in ious) + "  areas "
          + " ".join(f"{int(m.sum())}" for m in ours) + "  rejected "
          + "".join("x" if r["rejected"] else "." for r in records)
          + "  lambda " + " ".join(f"{r['eigenvalue']:.4f}" for r in records))
    return theirs, records


def check_early(name, tmp, theirs, records, h, w):
    ours = np.load(os.path.join(tmp, f"{name}.masks_early.npy")).astype(bool)
    k = len(ours)
    check(k >= 1, f"{name} early: no mask")
    for t in range(k):
        check(iou(ours[t], theirs[t]) >= 0.99, f"{name} early: mask {t} differs from the reference")
    if k < N_MASKS:  # the reference's cut k meets the stop rule
        stop = records[k]["rejected"] or theirs[k].sum() / h / w <= 0.01
        check(stop, f"{name} early: stopped before cut {k}, which the rule does not stop")
    else:  # no cut before N met it
        for t in range(1, N_MASKS):
            check(not (records[t]["rejected"] or theirs[t].sum() / h / w <= 0.01),
                  f"{name} early: cut {t} meets the stop rule but the chain went on")
    print(f"  early stop       : {k} mask(s)")


def lapack_sign_report(name, feats, ours):
    """The released algorithm (LAPACK's sign): which convention each cut's
    sign matched, and whether its masks equal the default chain's."""
    masks, recs = ref.maskcut(feats, TAU, N_MASKS, EPS, sign="lapack")
    same = len(masks) == len(ours) and all(iou(a, b) >= 0.99 for a, b in zip(masks, ours))
    print(f"  LAPACK's sign per cut (+: peak positive): {''.join(r['lapack_sign'] for r in recs)}; "
          f"its masks {'equal' if same else 'differ from'} the peak-positive chain's")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    binary, shared = sys.argv[1], sys.argv[2]
    cases = {
        "synth_two_objects": synthetic(30, 30, 16, [(4, 14, 5, 17), (17, 27, 15, 26)], 0.5, 1),
        "synth_three_objects": synthetic(28, 34, 16, [(3, 10, 3, 12), (14, 25, 5, 15), (8, 20, 20, 31)], 0.6, 2),
        "synth_one_object": synthetic(24, 24, 12, [(6, 17, 7, 18)], 0.4, 3),
        "synth_halves": synthetic(20, 24, 8, [(0, 10, 0, 24)], 0.3, 5),
        "synth_masked_band": synthetic(26, 22, 16, [(5, 15, 4, 12), (16, 24, 12, 20)], 0.5, 4,
                                       zero_rows=(slice(0, 26), slice(0, 2))),
    }
    photos = sorted(glob.glob(os.path.join(shared, "bsds500", "images", "val", "*.jpg")))[:PHOTOS]
    for p in photos:
        cases["photo_" + os.path.splitext(os.path.basename(p))[0]] = ref.photo_features(p, 30)
    with tempfile.TemporaryDirectory() as tmp:
        for name, f in cases.items():
            np.save(os.path.join(tmp, f"{name}.feats.npy"), f)
        with open(os.path.join(tmp, "cases.txt"), "w") as fh:
            fh.write("\n".join(cases) + "\n")
        r = subprocess.run([binary, tmp], capture_output=True, text=True)
        print(r.stdout, end="")
        print(r.stderr, end="", file=sys.stderr)
        check(r.returncode == 0, f"{binary} exited with {r.returncode}")
        if r.returncode != 0:
            return 1
        for name, f in cases.items():
            h, w, _ = f.shape
            print(f"{name} ({h} x {w} x {f.shape[2]}):")
            check_graph_and_vector(name, f, np.load(os.path.join(tmp, f"{name}.adj.npy")),
                                   np.load(os.path.join(tmp, f"{name}.y.npy")))
            theirs, records = check_chain(name, f, tmp, "peak_positive")
            check_chain(name, f, tmp, "peak_negative")
            check_early(name, tmp, theirs, records, h, w)
            lapack_sign_report(name, f, theirs)
    print(f"{len(failures)} failure(s)")
    if failures:
        return 1
    if not photos:
        print(f"skipped the photo cases: no BSDS500 photos under {shared}")
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
