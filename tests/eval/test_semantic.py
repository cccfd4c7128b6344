"""useg eval semantic against a NumPy/SciPy reference on CamVid labels.

Ground truth: the shared CamVid label PNGs (11 classes, 11 = void). The test
writes predictions that relabel the classes through a random cluster
permutation, corrupt a share of pixels, split some classes over extra
clusters, and put some pixels outside the cluster range. The reference
builds the confusion matrix with NumPy, maps clusters with
scipy.optimize.linear_sum_assignment(maximize=True) or a majority vote
(argmax per cluster), and computes IoU / mIoU / accuracy; every number must
match within 1e-12. Bad inputs (a size mismatch, a missing prediction, an
RGB label image, an empty directory) must exit 1 with a message.

usage: test_semantic.py USEG SHARED_DIR WORK_DIR
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refenv  # noqa: E402

USEG, SHARED, WORK = sys.argv[1:4]
GT = os.path.join(SHARED, "data", "camvid", "labels")
if not os.path.isdir(GT):
    refenv.skip("shared CamVid labels not found at " + GT)
try:
    import numpy as np
    from PIL import Image
    from scipy.optimize import linear_sum_assignment
except ImportError as e:
    refenv.skip("reference needs numpy, scipy and PIL (python3-numpy python3-scipy python3-pil): %s" % e)

K = 11


def reference(gts, preds, n_clusters, matching):
    conf = np.zeros((n_clusters, K), np.int64)
    for g, p in zip(gts, preds):
        ok = (g >= 0) & (g < K) & (p >= 0) & (p < n_clusters)
        conf += np.bincount(p[ok].astype(np.int64) * K + g[ok], minlength=n_clusters * K).reshape(n_clusters, K)
    if matching == "hungarian":
        r, c = linear_sum_assignment(conf, maximize=True)
        mapping = np.full(n_clusters, -1)
        mapping[r] = c
    else:
        mapping = np.where(conf.sum(1) > 0, conf.argmax(1), -1)
    merged = np.zeros((K, K), np.int64)
    for k in range(n_clusters):
        if mapping[k] >= 0:
            merged[mapping[k]] += conf[k]
    tp = np.diag(merged).astype(float)
    fp = merged.sum(1) - tp
    fn = conf.sum(0) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = tp / (tp + fp + fn)
    return {"iou": iou, "miou": np.nanmean(iou), "accuracy": tp.sum() / conf.sum()}


def run(args, expect=0):
    r = subprocess.run([USEG, "eval", "semantic"] + args, capture_output=True, text=True)
    if r.returncode != expect:
        raise SystemExit("FAIL: %s exited %d (wanted %d): %s" % (args, r.returncode, expect, r.stderr))
    return r


def main():
    rng = np.random.default_rng(3)
    names = sorted(f for f in os.listdir(GT) if f.endswith(".png"))
    gts = [np.array(Image.open(os.path.join(GT, f))).astype(np.int64) for f in names]
    worst, checked = 0.0, 0
    for n_clusters, noise, split in [(11, 0.1, False), (15, 0.2, True), (8, 0.3, False), (30, 0.5, True)]:
        perm = rng.permutation(max(n_clusters, K))
        pdir = os.path.join(WORK, "pred_%d" % n_clusters)
        os.makedirs(pdir, exist_ok=True)
        preds = []
        for f, g in zip(names, gts):
            p = perm[np.minimum(g, K - 1)] % n_clusters
            if split:  # spread class 0 and 3 over the extra clusters
                extra = rng.integers(K, n_clusters, g.shape) if n_clusters > K else p
                p = np.where(((g == 0) | (g == 3)) & (rng.random(g.shape) < 0.5), extra, p)
            noisy = rng.random(g.shape) < noise
            p = np.where(noisy, rng.integers(0, n_clusters + 2, g.shape), p)  # a few out of range
            p = p.astype(np.uint8)
            Image.fromarray(p).save(os.path.join(pdir, f))
            preds.append(p.astype(np.int64))
        for matching in ["hungarian", "majority"]:
            out = os.path.join(WORK, "sem.json")
            run(["--gt", GT, "--pred", pdir, "--n-classes", str(K), "--n-clusters", str(n_clusters),
                 "--matching", matching, "--json", out])
            got = json.load(open(out))
            ref = reference(gts, preds, n_clusters, matching)
            got_iou = np.array([np.nan if v is None else v for v in got["iou"]])
            d = max(abs(got["miou"] - ref["miou"]), abs(got["accuracy"] - ref["accuracy"]),
                    np.nanmax(np.abs(got_iou - ref["iou"])))
            same_nan = np.array_equal(np.isnan(got_iou), np.isnan(ref["iou"]))
            worst = max(worst, d)
            checked += 1
            print("clusters %2d %-9s mIoU %.6f acc %.6f  max|diff| %.2e" % (n_clusters, matching, got["miou"],
                                                                       got["accuracy"], d))
            if d > 1e-12 or not same_nan:
                raise SystemExit("FAIL: differs from the reference: %s vs %s" % (got, ref))
    # Bad inputs.
    bad = os.path.join(WORK, "bad")
    os.makedirs(bad, exist_ok=True)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(os.path.join(bad, names[0]))
    r = run(["--gt", GT, "--pred", bad, "--n-classes", str(K)], expect=1)
    assert "cannot open" in r.stderr or "is 10x10" in r.stderr, r.stderr
    rgb = os.path.join(WORK, "rgb")
    os.makedirs(rgb, exist_ok=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(os.path.join(rgb, "a.png"))
    r = run(["--gt", rgb, "--pred", rgb, "--n-classes", str(K)], expect=1)
    assert "must be a grey PNG" in r.stderr, r.stderr
    empty = os.path.join(WORK, "empty")
    os.makedirs(empty, exist_ok=True)
    run(["--gt", empty, "--pred", empty, "--n-classes", str(K)], expect=1)
    run(["--gt", GT, "--pred", GT], expect=2)
    print("%d evaluations compared, worst difference %.3g; bad inputs rejected" % (checked, worst))


main()
