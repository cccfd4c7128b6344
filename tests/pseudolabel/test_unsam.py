#!/usr/bin/env python3
"""The UnSAM pipeline's wiring (pseudolabel/unsam.c) against independent references.

Usage: test_unsam.py TEST_UNSAM SHARED_DATA

On two BSDS500 photos (or, when SHARED_DATA has none, a synthetic scene)
TEST_UNSAM dump runs useg_unsam_image (weights-free backbone, refinement off,
the whole-image region on) and writes its masks, levels and parents, and per
region the crop box, the crop and the keys it fed the merge. Checked here:
  * each crop equals PIL's bicubic resize of image[y0:y1, x0:x1][..., ::-1]
    to 256 x 256 (the reference's BGR quirk), byte for byte;
  * each box is merge_reference.crop_box of the region (the divide mask, or
    the whole image);
  * the pipeline's conquer masks of each region equal merge_reference.py's
    NumPy merge and conquer run on the dumped keys (masks pasted into the
    box, levels, parents: -1 becomes the divide mask, or a root for the
    whole-image region), in the output order (divide masks first);
  * two dumps are byte-identical.
The keys themselves come from the backbone, tested on its own.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import numpy as np
    from PIL import Image
    import merge_reference as ref
except ImportError as e:
    print(f"skipped: numpy/PIL unavailable ({e})")
    sys.exit(77)

failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    failures += 0 if cond else 1


def images(shared):
    val = os.path.join(shared, "bsds500", "images", "val")
    if os.path.isdir(val):
        names = sorted(f for f in os.listdir(val) if f.endswith(".jpg"))[:2]
        return [(n, np.asarray(Image.open(os.path.join(val, n)).convert("RGB"))) for n in names]
    print(f"note: no BSDS500 photos at {val}; a synthetic scene instead")
    rng = np.random.default_rng(3)
    img = np.full((160, 200, 3), 128.0) + rng.normal(0, 4, (160, 200, 3))
    img[40:120, 50:170] = (210, 40, 40)
    img[40:120, 90:130, 2] = 200
    return [("synthetic", np.clip(img, 0, 255).astype(np.uint8))]


def dump(binary, img, d):
    np.save(os.path.join(d, "image.npy"), img)
    out = os.path.join(d, "out")
    os.makedirs(out)
    r = subprocess.run([binary, "dump", os.path.join(d, "image.npy"), out], capture_output=True, text=True)
    print(r.stdout.strip())
    if r.returncode != 0:
        print(r.stderr)
        return None
    return out


def compare(name, img, out):
    H, W = img.shape[:2]
    masks, meta = np.load(os.path.join(out, "masks.npy")), np.load(os.path.join(out, "meta.npy"))
    regions = np.load(os.path.join(out, "regions.npy"))
    R = len(regions)
    n_divide = int((meta[:, 0] == 0).sum())
    check(R == n_divide + 1, f"{name}: {n_divide} divide masks + the whole image = {R} regions")
    k = n_divide
    for r in range(R):
        region = masks[r] if r < n_divide else np.ones((H, W), np.uint8)
        y0, y1, x0, x1 = ref.crop_box(region)
        check(regions[r].tolist() == [y0, y1, x0, x1], f"{name}: region {r} box {regions[r].tolist()}")
        if y1 <= y0 or x1 <= x0:
            continue
        want_crop = np.asarray(Image.fromarray(np.ascontiguousarray(img[y0:y1, x0:x1][..., ::-1])).resize((256, 256)))
        got_crop = np.load(os.path.join(out, f"crop{r}.npy"))
        check(np.array_equal(got_crop, want_crop), f"{name}: region {r} crop == PIL bicubic of the BGR crop")
        keys = np.load(os.path.join(out, f"keys{r}.npy"))
        _, levels = ref.iterative_merge(keys, ref.THETAS)
        _, cmasks, cmeta, _ = ref.conquer(region, levels, keys.shape[0], keys.shape[1])
        n = len(cmasks)
        got = masks[k:k + n]
        want = np.zeros((n, H, W), np.uint8)
        want[:, y0:y1, x0:x1] = cmasks
        parents = [(r if r < n_divide else -1) if p < 0 else k + p for p in cmeta[:, 2]]
        ok = (len(got) == n and np.array_equal(got, want) and meta[k:k + n, 0].tolist() == cmeta[:, 0].tolist()
              and meta[k:k + n, 1].tolist() == parents and meta[k:k + n, 2].tolist() == cmeta[:, 3].tolist())
        check(ok, f"{name}: region {r}: {n} conquer masks == NumPy merge + conquer on its keys")
        k += n
    check(k == len(masks), f"{name}: {len(masks)} masks = divide + conquer masks ({k})")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    binary, shared = sys.argv[1], sys.argv[2]
    for name, img in images(shared):
        with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2:
            out1, out2 = dump(binary, img, d1), dump(binary, img, d2)
            check(out1 is not None and out2 is not None, f"{name}: test_unsam dump ran")
            if out1 is None or out2 is None:
                continue
            same = all(open(os.path.join(out1, f), "rb").read() == open(os.path.join(out2, f), "rb").read()
                       for f in sorted(os.listdir(out1)))
            check(same and sorted(os.listdir(out1)) == sorted(os.listdir(out2)), f"{name}: two dumps are identical")
            compare(name, img, out1)
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
