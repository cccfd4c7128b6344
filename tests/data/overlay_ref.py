#!/usr/bin/env python3
"""useg_overlay_render against NumPy's computation of the same formula.

Usage: overlay_ref.py TEST_OVERLAY

Random photos and masks (odd and prime sizes, 1 to 40 masks, overlapping and
nested blobs, empty masks, equal areas, one-pixel images) go through
`TEST_OVERLAY render` (tests/data/test_overlay.c); the result must equal,
byte for byte, the reference here: colours from colorsys.hsv_to_rgb of the
golden-ratio hues, masks painted from the largest to the smallest (ties by
index), each painted pixel (photo + colour + 1) // 2, or the colour itself on
a contour (a 4-neighbour inside the image is outside the mask).
Exits 77 when numpy is missing.
"""
import colorsys
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError as e:
    print(f"skipped: numpy unavailable ({e})")
    sys.exit(77)

EXE = sys.argv[1]


def color(k):
    rgb = colorsys.hsv_to_rgb((k * 0.618033988749895) % 1.0, 0.75, 0.95)
    return np.floor(np.array(rgb) * 255.0 + 0.5).astype(np.int64)


def reference(img, masks):
    out = img.astype(np.int64).copy()
    photo = img.astype(np.int64)
    areas = (masks != 0).sum(axis=(1, 2))
    for k in sorted(range(len(masks)), key=lambda k: (-areas[k], k)):
        m = masks[k] != 0
        padded = np.pad(m, 1, mode="edge")   # beyond the border counts as inside
        inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
        c = color(k)
        out[m & inner] = (photo[m & inner] + c + 1) // 2
        out[m & ~inner] = c
    return out.astype(np.uint8)


def case(rng, h, w, k):
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    y, x = np.mgrid[0:h, 0:w]
    masks = np.zeros((k, h, w), np.uint8)
    for i in range(k):
        kind = rng.integers(0, 4)
        if kind == 0:      # a disc
            cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.5, max(h, w) / 2)
            masks[i] = (y - cy) ** 2 + (x - cx) ** 2 <= r * r
        elif kind == 1:    # noise: many one-pixel islands and holes
            masks[i] = rng.random((h, w)) < 0.4
        elif kind == 2:    # a copy of an earlier mask (equal areas), or empty
            masks[i] = masks[rng.integers(0, i)] if i else 0
        else:              # values other than 1 count as inside too
            masks[i] = np.where(rng.random((h, w)) < 0.7, rng.integers(1, 256), 0)
    return img, masks


def main():
    rng = np.random.default_rng(7)
    shapes = [(1, 1, 1), (1, 7, 2), (5, 1, 3), (13, 17, 5), (31, 29, 12), (64, 47, 40), (97, 101, 7), (3, 3, 0)]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for h, w, k in shapes:
            img, masks = case(rng, h, w, k)
            paths = [os.path.join(tmp, n) for n in ("img.npy", "masks.npy", "out.npy")]
            np.save(paths[0], img)
            np.save(paths[1], masks)
            r = subprocess.run([EXE, "render"] + paths, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL ({h}, {w}) with {k} masks: exit {r.returncode}: {r.stderr.strip()}")
                failures += 1
                continue
            got, want = np.load(paths[2]), reference(img, masks)
            bad = int((got != want).any(axis=-1).sum()) if got.shape == want.shape else -1
            print(("ok   " if bad == 0 else "FAIL ") + f"({h}, {w}) with {k} masks: {bad} pixels differ")
            failures += bad != 0
    print(f"overlay vs numpy: {len(shapes)} cases, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
